"""One row per region: does it take mail, how far behind is it, which role does it hold.

    rows = region_rows(("primary", "secondary"), findings, previous=rows, now=now)

Built from the service, replication, authority and canary findings (pure; the screen's region strip
draws the rows). A region's state comes from its service probes:

    waiting   no service probe has answered yet (nothing was seen: never "up")
    up        every service probe of the region is ok
    down      every MX probe fails (or, with no MX probe, every probe fails)
    degraded  anything in between: some probes fail or warn
    unknown   the probes could not tell (the host lookup failed, ...), none failed

`since` is when the row entered its state: the observation time of the run that changed it,
carried over from `previous` while the state stays the same. The reason is the summary of the
worst probe. Replication lag and role come from the region's sources (the worst lag; the roles
read, "?" when a source could not be read); the authority verdict (split brain, a primary that
is not the target) is attached to the region it names, else to every region. The worst latest
canary run through the region (cockpit.canary) counts in its status, so a message that did not
arrive is never hidden behind an "up" line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cockpit.model import Finding, Status, worst

__all__ = ["RegionRow", "region_rows"]

_STATE_STATUS = {
    "up": Status.OK,
    "degraded": Status.WARN,
    "down": Status.FAIL,
    "unknown": Status.UNKNOWN,
    "waiting": Status.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class RegionRow:
    region: str
    state: str
    """waiting, up, degraded, down or unknown (module docstring)."""
    since: datetime | None
    reason: str
    """The worst service probe's summary ("" when up or waiting)."""
    probes: int
    """How many service probes the state rests on."""
    lag: Finding | None = None
    """The worst replication lag finding of the region."""
    roles: tuple[str, ...] = ()
    """The roles its sources report ("?" for one that could not be read)."""
    role_status: Status | None = None
    authority: Finding | None = None
    """The authority verdict, when it is not ok and concerns this region."""
    canary: Finding | None = None
    """The worst latest canary run (check inbound/outbound) through this region."""

    @property
    def status(self) -> Status:
        """The worst of the service state, the lag and the authority verdict."""
        statuses = [_STATE_STATUS[self.state]]
        if self.lag is not None:
            statuses.append(self.lag.status)
        if self.authority is not None:
            statuses.append(self.authority.status)
        if self.role_status is not None:
            statuses.append(self.role_status)
        if self.canary is not None:
            statuses.append(self.canary.status)
        return worst(statuses)


def _service_state(findings: Sequence[Finding]) -> tuple[str, str]:
    if not findings:
        return "waiting", ""
    statuses = [finding.status for finding in findings]
    worst_status = worst(statuses)
    worst_finding = next(f for f in findings if f.status is worst_status)
    if worst_status is Status.OK:
        return "up", ""
    mx = [f for f in findings if f.data.get("mx")] or list(findings)
    if all(f.status is Status.FAIL for f in mx):
        return "down", worst_finding.summary
    if worst_status is Status.UNKNOWN:
        return "unknown", worst_finding.summary
    return "degraded", worst_finding.summary


def _observed(findings: Iterable[Finding]) -> datetime | None:
    times = [f.observed_at for f in findings if f.observed_at is not None]
    return max(times) if times else None


def region_rows(
    regions: Sequence[str],
    findings: Iterable[Finding],
    *,
    previous: Sequence[RegionRow] = (),
    now: datetime,
) -> list[RegionRow]:
    """One row per region, in the order given (see the module docstring)."""
    every = list(findings)
    before = {row.region: row for row in previous}
    overall = [f for f in every if f.area == "authority" and f.check == "primary"]
    rows: list[RegionRow] = []
    for region in regions:
        mine = [f for f in every if f.region == region]
        service = [f for f in mine if f.area == "service"]
        state, reason = _service_state(service)
        old = before.get(region)
        if old is not None and old.state == state:
            since = old.since
        else:
            since = _observed(service) or (now if service else None)
        lags = [f for f in mine if f.area == "replication"]
        lag = max(lags, key=lambda f: f.status.severity, default=None)
        role_findings = [f for f in mine if f.area == "authority" and f.check == "role"]
        roles = tuple(
            str(f.data.get("role")) if f.data.get("role") else "?" for f in role_findings
        )
        runs = [f for f in mine if f.area == "canary" and f.check in ("inbound", "outbound")]
        canary = max(runs, key=lambda f: f.status.severity, default=None)
        verdict = next(
            (
                f
                for f in overall
                if f.status is not Status.OK and (f.region in (None, region))
            ),
            None,
        )
        rows.append(
            RegionRow(
                region=region,
                state=state,
                since=since,
                reason=reason,
                probes=len(service),
                lag=lag,
                roles=roles,
                role_status=worst([f.status for f in role_findings]) if role_findings else None,
                authority=verdict,
                canary=canary,
            )
        )
    return rows
