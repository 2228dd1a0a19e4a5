"""Plain values shared by every part of cockpit: statuses and findings.

A Finding is one conclusion a probe reached, in the shape `cockpit check --json` prints:
area (dns, auth, queue, service, replication, authority, checklist), check, subject, region,
status, summary, resolver, data, and `observed_at`: when the observation behind it was made
(None where the probe does not say). Automation that must only trust observations made after
an event (a checklist condition "after=routed") compares against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.compat import StrEnum


class Status(StrEnum):
    """How a check came out. UNKNOWN means the probe could not tell, never "fine"."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Order for "worst of": ok < unknown < warn < fail."""
        return _SEVERITY[self]


_SEVERITY = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.FAIL: 3}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    return max(statuses, key=lambda status: status.severity, default=Status.OK)


@dataclass(frozen=True, slots=True)
class Finding:
    area: str
    check: str
    subject: str
    status: Status
    summary: str
    region: str | None = None
    resolver: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    observed_at: datetime | None = None
    """When the observation behind this finding was made (timezone-aware UTC), if known."""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "area": self.area,
            "check": self.check,
            "subject": self.subject,
            "region": self.region,
            "status": self.status.value,
            "summary": self.summary,
            "data": dict(self.data),
        }
        if self.resolver is not None:
            record["resolver"] = self.resolver
        if self.observed_at is not None:
            record["observed_at"] = self.observed_at.isoformat()
        return record
