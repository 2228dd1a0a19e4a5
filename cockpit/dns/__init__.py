"""The DNS layer: ask one resolver directly and record what it said.

    query(server, qname, rdtype, timeout=...)  -> Observation     (from cockpit.dns.query: the
                                               package's `query` attribute is that module)
    query_many([QueryJob, ...], limit=...)     -> [Observation]   (bounded concurrency)
    normalize_rdata(rdtype, rdata)             -> comparable text (cockpit.dns.normalize)

Sweeping many resolvers, classification and ETAs build on these.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cockpit.dns.normalize import normalize_rdata
    from cockpit.dns.observation import Observation, Outcome, ServerSpec
    from cockpit.dns.query import QueryJob, query_many

# Imported on first use: importing any cockpit.dns module must not load dnspython's query
# machinery (the cockpit's first frame does not need it).
_HOMES = {
    "normalize_rdata": "cockpit.dns.normalize",
    "Observation": "cockpit.dns.observation",
    "Outcome": "cockpit.dns.observation",
    "ServerSpec": "cockpit.dns.observation",
    "QueryJob": "cockpit.dns.query",
    "query_many": "cockpit.dns.query",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cockpit.dns' has no attribute {name!r}")
    return getattr(import_module(home), name)


__all__ = [
    "Observation",
    "Outcome",
    "QueryJob",
    "ServerSpec",
    "normalize_rdata",
    "query_many",
]
