"""The authority area of `cockpit check`: read every role source at once, then judge.

    authority_findings(config, entries) -> list[Finding]

The incident log gives the judge its context (`decision_context`): the target is the region
the latest failover decision names (`phases.latest_failover_decision`, the same decision
`current_target_region` reads); the decision time is the time the decision says it was taken
(data.at, written by `cockpit log --decision --at ...`), else when it was logged; the routed
time is the routed phase in effect (`phases.effective_phases`). The live cockpit reads each
source on its own interval (`sources.read_role`) and judges (`judge.judge_authority`) itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from cockpit.authority.judge import judge_authority
from cockpit.authority.sources import RoleReading, read_role
from cockpit.config.model import Config
from cockpit.incident.entry import Entry, data_time, utc_now
from cockpit.incident.phases import effective_phases, latest_failover_decision
from cockpit.model import Finding

__all__ = [
    "DecisionContext",
    "authority_findings",
    "decision_context",
    "judge_authority",
    "read_role",
]


class DecisionContext(NamedTuple):
    """What the log says about the failover, for `judge_authority`."""

    target: str | None
    """The region the latest failover decision names; None before any."""
    decided_at: datetime | None
    routed_at: datetime | None


def decision_context(entries: Sequence[Entry]) -> DecisionContext:
    """The target, decision time and routed time the log's entries give (see the module
    docstring); all None for an empty log."""
    decision = latest_failover_decision(entries)
    routed_at = effective_phases(entries).at("routed")
    if decision is None:
        return DecisionContext(None, None, routed_at)
    target = decision.data.get("target_region")
    decided_at = data_time(decision.data, "at") or decision.ts
    return DecisionContext(
        target.strip() if isinstance(target, str) else None, decided_at, routed_at
    )


async def authority_findings(config: Config, entries: Sequence[Entry]) -> list[Finding]:
    """Read every role source of every region concurrently and judge them against the log's
    failover decision. No role sources: no findings (nothing is read)."""
    sources = [source for region in config.regions for source in region.roles]
    if not sources:
        return []
    read: list[RoleReading] = await asyncio.gather(*(read_role(source) for source in sources))
    context = decision_context(entries)
    return judge_authority(
        config,
        {reading.source: reading for reading in read},
        target=context.target,
        decided_at=context.decided_at,
        routed_at=context.routed_at,
        now=utc_now(),
    )
