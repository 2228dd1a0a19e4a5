"""The result of one sweep: every watched question asked of every resolver and of the
authoritative servers, at one moment. Plain data; the sweep (I/O) builds it, classify and
propagation (pure) read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cockpit.dns.observation import Observation, ServerSpec
from cockpit.dns.watch import WatchedName


def _empty() -> Mapping[tuple[str, str], Observation]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SweepResult:
    started_at: datetime
    finished_at: datetime
    watched: tuple[WatchedName, ...]
    resolvers: tuple[ServerSpec, ...]
    """The recursive resolvers asked, in config order."""
    authoritative: tuple[ServerSpec, ...]
    """The authoritative servers asked (configured, or the domain's NS set resolved)."""
    authoritative_source: str
    """"configured", "NS set" or "none" (when the NS set could not be found)."""
    authoritative_error: str | None = None
    """Why there is no authoritative view, when there is none."""
    observations: Mapping[tuple[str, str], Observation] = field(default_factory=_empty)
    """(resolver name, WatchedName.key) -> what that resolver answered."""
    authoritative_observations: Mapping[tuple[str, str], Observation] = field(
        default_factory=_empty
    )
    """(authoritative server name, WatchedName.key) -> what it answered (RD off)."""
    serials: Mapping[str, Observation] = field(default_factory=lambda: MappingProxyType({}))
    """authoritative server name -> its SOA answer for the domain."""
    authoritative_unresolved: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """NS host -> why it was not asked: its addresses could not be found ("no address found
    (A timeout from r1, r2; AAAA NXDOMAIN from r1)"). Only for the NS-set path, and only while
    other NS hosts were found: the authoritative view leaves these servers out."""
    not_asked: frozenset[tuple[str, str]] = frozenset()
    """(resolver name, WatchedName.key) pairs that resolver is not asked by design (a vantage
    whose probes cover only some records: cockpit.vantage.merge). They are neither an answer
    nor unknown: readers leave them out. Any other missing observation is unknown."""

    def resolvers_asked(self, key: str) -> tuple[ServerSpec, ...]:
        """The resolvers asked the question `key` (all but the not_asked pairs), in order."""
        if not self.not_asked:
            return self.resolvers
        return tuple(spec for spec in self.resolvers if (spec.name, key) not in self.not_asked)
