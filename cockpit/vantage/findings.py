"""The vantages as findings: whether each could be used, and the service probes seen from there.

    vantage_findings(looks)          area "dns", check "vantage", subject the vantage name:
                                     ok (every row answered the look), warn (some resolver
                                     could not be asked: its row says why), unknown (the
                                     vantage could not be used at all: the reason)
    vantage_service_findings(looks)  area "service": what each look's probes saw (a blackbox
                                     SMTP banner per MX host and site), as the look made them

The rows themselves are judged with the local resolvers (cockpit.dns.findings_pure) once
merged (merge.py); these findings only say what the vantage itself did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

from cockpit.config import Config
from cockpit.model import Finding, Status
from cockpit.vantage.model import VantageLook

AREA = "dns"
CHECK = "vantage"
_NOTES_SHOWN = 2


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _place(look: VantageLook) -> str:
    """Berlin office, or "the vantage office" where no location was given."""
    return look.location if look.location != "unknown" else f"the vantage {look.vantage}"


def vantage_finding(look: VantageLook) -> Finding:
    data: dict[str, object] = {
        "kind": look.kind,
        "location": look.location,
        "rows": [row.spec.name for row in look.rows],
        "started_at": look.started_at.isoformat(),
        "seconds": round((look.finished_at - look.started_at).total_seconds(), 3),
    }
    if look.error is not None:
        data["error"] = look.error
        return Finding(
            AREA,
            CHECK,
            look.vantage,
            Status.UNKNOWN,
            f"nothing seen from {_place(look)}: {look.error}",
            data=data,
            observed_at=look.finished_at,
        )
    seen = f"{_plural(len(look.rows), 'resolver')} seen from {_place(look)}"
    if not look.notes:
        return Finding(
            AREA, CHECK, look.vantage, Status.OK, seen, data=data, observed_at=look.finished_at
        )
    data["notes"] = list(look.notes)
    shown = "; ".join(look.notes[:_NOTES_SHOWN])
    more = f" and {len(look.notes) - _NOTES_SHOWN} more" if len(look.notes) > _NOTES_SHOWN else ""
    return Finding(
        AREA,
        CHECK,
        look.vantage,
        Status.WARN,
        f"{seen}, with trouble: {shown}{more}",
        data=data,
        observed_at=look.finished_at,
    )


def vantage_findings(looks: Iterable[VantageLook]) -> list[Finding]:
    return [vantage_finding(look) for look in looks]


def vantage_service_findings(looks: Iterable[VantageLook]) -> list[Finding]:
    return [finding for look in looks for finding in look.services]


async def dns_and_vantage_findings(
    config: Config, target: str, looks: Awaitable[tuple[VantageLook, ...]]
) -> list[Finding]:
    """`cockpit check`'s DNS area with vantages: the local sweep and the looks run at once
    (a slow vantage never delays the sweep's own questions, only this area's answer), the
    rows are judged together, then each vantage's own finding follows."""
    from cockpit.dns.findings_pure import findings_from_sweep
    from cockpit.dns.sweep import sweep
    from cockpit.vantage.merge import merge_looks

    local, seen = await asyncio.gather(sweep(config), looks)
    return [*findings_from_sweep(merge_looks(local, seen), target), *vantage_findings(seen)]


async def service_and_vantage_findings(
    config: Config, looks: Awaitable[tuple[VantageLook, ...]]
) -> list[Finding]:
    """`cockpit check`'s service area with vantages: the local probes, then what the
    vantages' probes saw."""
    from cockpit.service.findings import service_findings

    local, seen = await asyncio.gather(service_findings(config), looks)
    return [*local, *vantage_service_findings(seen)]
