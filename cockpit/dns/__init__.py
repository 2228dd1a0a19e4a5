"""The DNS layer: ask one resolver directly and record what it said.

    query(server, qname, rdtype, timeout=...)  -> Observation     (cockpit.dns.query)
    query_many([QueryJob, ...], limit=...)     -> [Observation]   (bounded concurrency)
    normalize_rdata(rdtype, rdata)             -> comparable text (cockpit.dns.normalize)

Sweeping many resolvers, classification and ETAs build on these.
"""

from cockpit.dns.normalize import normalize_rdata
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.query import QueryJob, query, query_many

__all__ = [
    "Observation",
    "Outcome",
    "QueryJob",
    "ServerSpec",
    "normalize_rdata",
    "query",
    "query_many",
]
