"""The incident's severity: SEV1 (most severe) to SEV4, set with an entry of its own.

Convention: a `system` entry with data {"event": "severity", "severity": "SEV2"} sets it; the
latest such entry (in seq order) is the current severity. Only entries of that exact shape
count: a probe's or a note's data carrying a "severity" key never changes it. Written by
`cockpit log INCIDENT --severity SEV2` and by the cockpit's `v` key; shown in the header and
in the export's summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cockpit.incident.entry import Entry

__all__ = ["SEVERITIES", "SeverityError", "current_severity", "parse_severity", "severity_entry"]

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
EVENT = "severity"


class SeverityError(ValueError):
    """A severity that is not one of SEVERITIES."""


def parse_severity(typed: str) -> str:
    """"SEV2", "sev2", "2" or " Sev 2 " as "SEV2"; SeverityError otherwise."""
    compact = "".join(typed.split()).upper()
    if compact.isdigit():
        compact = f"SEV{compact}"
    if compact not in SEVERITIES:
        shown = typed.strip()[:40]
        raise SeverityError(
            f"unknown severity {shown!r}: expected one of {', '.join(SEVERITIES)}"
            " (SEV1 is the most severe)"
        )
    return compact


def severity_entry(severity: str) -> tuple[str, str, dict[str, Any]]:
    """(kind, text, data) of the entry that sets `severity` (already parsed)."""
    return "system", f"severity set to {severity}", {"event": EVENT, "severity": severity}


def current_severity(entries: Iterable[Entry]) -> str | None:
    """The severity of the latest severity entry (in seq order), or None when none was set."""
    found: tuple[int, str] | None = None
    for entry in entries:
        data = entry.data
        if entry.kind != "system" or data.get("event") != EVENT:
            continue
        value = data.get("severity")
        if value in SEVERITIES and (found is None or entry.seq > found[0]):
            found = (entry.seq, str(value))
    return None if found is None else found[1]
