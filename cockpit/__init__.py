"""cockpit: a terminal incident cockpit for business email failover."""

__version__ = "0.1.0"
