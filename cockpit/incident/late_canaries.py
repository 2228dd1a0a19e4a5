"""Canary messages that arrived after their runs gave up, as the log records them: evidence
that mail flowed during the incident, only slower than the canary waited. The export lists
them beside the canary round trips.

    late = late_canaries(entries)        # LateCanary per message, in log order

Each comes from a canary probe entry (area "canary") whose evidence is a `late` finding
(cockpit.canary.findings: check "late", subject the message's token, data with its Date and
the server's arrival time). A message is listed once, at its first entry. Pure; an entry
whose data cannot be read is skipped, never guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.incident.entry import Entry, format_ts, parse_ts

__all__ = ["LateCanary", "late_canaries"]


@dataclass(frozen=True, slots=True)
class LateCanary:
    canary: str
    token: str
    sent_at: datetime
    """Its Date header (the sending cockpit's clock)."""
    arrived_at: datetime
    """Its INTERNALDATE (the mail server's clock)."""
    late_s: float
    timeout_s: float | None
    seq: int

    def record(self) -> dict[str, Any]:
        """For the JSON export."""
        return {
            "canary": self.canary,
            "token": self.token,
            "sent_at": format_ts(self.sent_at),
            "arrived_at": format_ts(self.arrived_at),
            "late_seconds": self.late_s,
            "timeout_seconds": self.timeout_s,
            "seq": self.seq,
        }


def late_canaries(entries: Sequence[Entry]) -> list[LateCanary]:
    found: dict[str, LateCanary] = {}
    for entry in entries:
        if entry.kind != "probe" or entry.data.get("area") != "canary":
            continue
        late = _late(entry)
        if late is not None and late.token not in found:
            found[late.token] = late
    return list(found.values())


def _late(entry: Entry) -> LateCanary | None:
    evidence = entry.data.get("evidence")
    if not isinstance(evidence, Mapping) or evidence.get("check") != "late":
        return None
    data = evidence.get("data")
    if not isinstance(data, Mapping):
        return None
    canary, token = data.get("canary"), data.get("token")
    sent, arrived = _time(data.get("sent_at")), _time(data.get("arrived_at"))
    late_s, timeout_s = _number(data.get("late_s")), _number(data.get("timeout_s"))
    if not (isinstance(canary, str) and isinstance(token, str)) or late_s is None:
        return None
    if sent is None or arrived is None:
        return None
    return LateCanary(canary, token, sent, arrived, late_s, timeout_s, entry.seq)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value)
    except (TypeError, ValueError):
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
