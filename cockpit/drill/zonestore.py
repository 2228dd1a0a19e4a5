"""The drill's authoritative data: zones parsed by dnspython, with a short history.

    store = ZoneStore(clock)
    store.publish({"drill.example": zone_text, ...})     # a new version, from now on
    answer = store.lookup(qname, rdtype)                  # what is published now
    answer = store.lookup(qname, rdtype, at=clock() - 12) # what was published 12 s ago

The authoritative server asks for "now"; the drill resolvers fetch from here in-process (no
upstream packets), and a cold resolver cache may ask for an earlier moment, as if it had
fetched before the drill began. Publishing swaps one immutable tuple, so lookups from another
thread never see half a version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
from dns.rdtypes.ANY.SOA import SOA

Clock = Callable[[], float]
"""Seconds on a monotonic scale (time.monotonic by default)."""

MAX_VERSIONS = 32
"""Versions kept for lookups in the past; older ones are dropped."""
MAX_CNAME_LINKS = 8


@dataclass(frozen=True, slots=True)
class ZoneAnswer:
    """What an authoritative server says to one question."""

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    in_zone: bool = True
    """False when no zone of the store holds the name (the server then REFUSES)."""

    @property
    def is_negative(self) -> bool:
        return self.rcode == dns.rcode.NXDOMAIN or not self.answer

    def cache_ttl(self) -> int:
        """How long a resolver may keep this answer: the smallest answer TTL, or for a
        negative answer min(SOA TTL, SOA minimum) (RFC 2308)."""
        if not self.is_negative:
            return min(rrset.ttl for rrset in self.answer)
        for rrset in self.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                soa = rrset[0]
                assert isinstance(soa, SOA)
                return min(rrset.ttl, soa.minimum)
        return 0


_REFUSED = ZoneAnswer(dns.rcode.REFUSED, in_zone=False)


@dataclass(frozen=True, slots=True)
class _Version:
    since: float
    zones: tuple[dns.zone.Zone, ...]


class ZoneStore:
    """Zones by origin, versioned by the clock. Thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._versions: tuple[_Version, ...] = ()
        self._publish_lock = threading.Lock()

    def publish(self, zone_texts: Mapping[str, str]) -> None:
        """Make these zones (origin -> master-file text) the published data from now on.
        Raises dns.exception.DNSException when a text does not parse."""
        zones = tuple(
            dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)
            for origin, text in zone_texts.items()
        )
        with self._publish_lock:
            version = _Version(self._clock(), zones)
            self._versions = (*self._versions, version)[-MAX_VERSIONS:]

    def lookup(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, at: float | None = None
    ) -> ZoneAnswer:
        """The authoritative answer at moment `at` (default now). CNAMEs inside the store are
        followed; a name outside every zone is refused."""
        version = self._current() if at is None else self._at(at)
        if version is None:
            return _REFUSED
        zone = self._zone_for(qname, version)
        if zone is None:
            return _REFUSED
        chain: list[dns.rrset.RRset] = []
        name = qname
        for _ in range(MAX_CNAME_LINKS):
            node = zone.get_node(name)
            if node is None:
                rcode = dns.rcode.NOERROR if _has_children(zone, name) else dns.rcode.NXDOMAIN
                return ZoneAnswer(rcode, tuple(chain), (_soa_rrset(zone),))
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if found is not None:
                return ZoneAnswer(dns.rcode.NOERROR, (*chain, _as_rrset(name, found)))
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                return ZoneAnswer(dns.rcode.NOERROR, tuple(chain), (_soa_rrset(zone),))
            chain.append(_as_rrset(name, cname))
            name = cname[0].target
            next_zone = self._zone_for(name, version)
            if next_zone is None:
                return ZoneAnswer(dns.rcode.NOERROR, tuple(chain))
            zone = next_zone
        return ZoneAnswer(dns.rcode.SERVFAIL, tuple(chain))

    def _current(self) -> _Version | None:
        versions = self._versions
        return versions[-1] if versions else None

    def _at(self, moment: float) -> _Version | None:
        versions = self._versions
        for version in reversed(versions):
            if version.since <= moment:
                return version
        return versions[0] if versions else None

    @staticmethod
    def _zone_for(qname: dns.name.Name, version: _Version) -> dns.zone.Zone | None:
        best: dns.zone.Zone | None = None
        for zone in version.zones:
            origin = zone.origin
            assert origin is not None
            if qname.is_subdomain(origin) and (
                best is None or len(origin) > len(best.origin or ())
            ):
                best = zone
        return best


def _has_children(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """An empty non-terminal (a name with names below it) exists: NODATA, not NXDOMAIN."""
    return any(owner != name and owner.is_subdomain(name) for owner in zone.nodes)


def _as_rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))


def _soa_rrset(zone: dns.zone.Zone) -> dns.rrset.RRset:
    """The SOA for a negative answer, its TTL lowered to the SOA minimum (RFC 2308 3)."""
    origin = zone.origin
    assert origin is not None
    rdataset = zone.find_rdataset(origin, dns.rdatatype.SOA)
    soa = rdataset[0]
    return dns.rrset.from_rdata_list(origin, min(rdataset.ttl, soa.minimum), [soa])
