"""What one look from one vantage gave, as plain frozen values (no I/O here).

A look from a vantage gives rows: one per resolver asked from there (ssh) or per probed
resolver and site (prometheus), named "<resolver> @ <vantage or site>", each with an
Observation per watched question, exactly as the local sweep has them. A vantage that could
not be used at all (ssh refused, Prometheus down) gives one row, "@ <vantage>", whose every
observation is a failure carrying the reason: it shows as `unknown`, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cockpit.dns.observation import Observation, Outcome, ServerSpec, no_answer
from cockpit.dns.watch import WatchedName
from cockpit.model import Finding

UNREACHABLE_IP = "0.0.0.0"
"""The address of an unreachable vantage's one row (it is never asked: rows are shown only)."""


def row_name(resolver: str, vantage: str) -> str:
    """ "10.1.0.53 @ office": a resolver as seen from a vantage."""
    return f"{resolver} @ {vantage}"


def unreachable_row_name(vantage: str) -> str:
    """ "@ office": the one row of a vantage that could not be used."""
    return f"@ {vantage}"


@dataclass(frozen=True, slots=True)
class VantageRow:
    """One resolver as seen from one vantage."""

    spec: ServerSpec
    """name: row_name(...); ip and port: the resolver's address as asked from there."""
    observations: Mapping[str, Observation]
    """WatchedName.key -> what it answered (each Observation's server_name is spec.name)."""


def _no_rows() -> tuple[VantageRow, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class VantageLook:
    """One look from one vantage: every row it gave, or why it gave none."""

    vantage: str
    """The [[vantage]] name."""
    kind: str
    location: str
    started_at: datetime
    finished_at: datetime
    rows: tuple[VantageRow, ...] = field(default_factory=_no_rows)
    error: str | None = None
    """Why the vantage could not be used at all (then `rows` is its one unreachable row)."""
    services: tuple[Finding, ...] = ()
    """Service probes seen from there (a blackbox SMTP banner per MX host and site)."""
    notes: tuple[str, ...] = ()
    """Partial trouble that did not stop the look ("resolver 10.1.0.53: dig exit 9: ...")."""


def failed_observation(
    name: str, server: str, watched: WatchedName, outcome: Outcome, reason: str, at: datetime
) -> Observation:
    """An observation that says why nothing was seen (outcome: a failure, never an answer)."""
    return no_answer(name, server, watched.name, watched.rdtype, outcome, reason, at)


def unreachable_look(
    vantage: str,
    kind: str,
    location: str,
    where: str,
    watched: Sequence[WatchedName],
    reason: str,
    started_at: datetime,
    finished_at: datetime,
    *,
    outcome: Outcome = Outcome.NETWORK_ERROR,
) -> VantageLook:
    """The look of a vantage that could not be used: one row, every question failed with
    `reason` (`where`: the ssh destination or the Prometheus URL, shown as the server)."""
    name = unreachable_row_name(vantage)
    spec = ServerSpec(name, UNREACHABLE_IP, 53)
    observations = {
        item.key: failed_observation(name, where, item, outcome, reason, finished_at)
        for item in watched
    }
    row = VantageRow(spec, MappingProxyType(observations))
    return VantageLook(vantage, kind, location, started_at, finished_at, (row,), reason)
