"""Playing a finished incident back: a clock over the log's own time, and the probe board.

`ReplayClock` maps wall time onto incident time: it starts at the first entry, runs at
`speed` times real time, can pause, change speed and jump to the next entry, and stops at the
last entry. `entries_until(entries, t)` is the log as it stood at incident time `t`.

`probe_board(entries, area)` is what the probes had said by then, from the `probe` entries
alone: for each subject (the entry's dedupe_key, else its area, subject, region and event),
the latest status, text and time. A replay shows these boards where the live cockpit shows
its queue, DNS and auth panes: the log keeps changes and their evidence, not every sample,
so the board is the honest picture it allows.

Pure: no textual, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cockpit.incident.entry import Entry
from cockpit.model import Status

__all__ = ["BoardRow", "ReplayClock", "entries_until", "probe_board", "times_in_order"]

SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""The speeds `faster` and `slower` step through (times real time)."""


class ReplayClock:
    """Incident time for a replay, driven by a monotonic wall clock (seconds)."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        speed: float = 60.0,
        wall: Callable[[], float],
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.end = max(start, end)
        self.speed = speed
        self._wall = wall
        self._anchor_wall = wall()
        self._anchor_at = start
        self.paused = False

    def now(self) -> datetime:
        """Incident time now: never before the start, never past the end."""
        if self.paused:
            return self._anchor_at
        elapsed = (self._wall() - self._anchor_wall) * self.speed
        moment = self._anchor_at + timedelta(seconds=elapsed)
        return min(moment, self.end)

    @property
    def finished(self) -> bool:
        return self.now() >= self.end

    def _rebase(self, at: datetime) -> None:
        self._anchor_at = min(max(at, self.start), self.end)
        self._anchor_wall = self._wall()

    def toggle_pause(self) -> None:
        self._rebase(self.now())
        self.paused = not self.paused

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._rebase(self.now())
        self.speed = speed

    def faster(self) -> float:
        self.set_speed(next((s for s in SPEEDS if s > self.speed), SPEEDS[-1]))
        return self.speed

    def slower(self) -> float:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0]))
        return self.speed

    def jump_to(self, at: datetime) -> None:
        self._rebase(at)


def times_in_order(entries: Sequence[Entry]) -> list[datetime] | None:
    """The entries' times when they never go back (the usual log), else None: what
    `entries_until` bisects, worked out once for a replay rather than at every tick."""
    times = [entry.ts for entry in entries]
    return times if times == sorted(times) else None


def entries_until(
    entries: Sequence[Entry],
    at: datetime,
    *,
    in_order_times: Sequence[datetime] | None = None,
) -> list[Entry]:
    """The entries written at or before `at` (`entries` in seq order, as the log keeps them).

    `in_order_times` is `times_in_order(entries)` when the caller kept it; without it, the
    times are gathered here."""
    times = in_order_times if in_order_times is not None else times_in_order(entries)
    if times is not None:
        return list(entries[: bisect.bisect_right(times, at)])
    return [entry for entry in entries if entry.ts <= at]


def next_entry_time(entries: Sequence[Entry], after: datetime) -> datetime | None:
    later = [entry.ts for entry in entries if entry.ts > after]
    return min(later) if later else None


@dataclass(frozen=True, slots=True)
class BoardRow:
    key: str
    subject: str
    region: str | None
    status: Status
    text: str
    at: datetime
    seq: int
    server: str | None = None
    """The resolver or server that answered (DNS), named so rows of one record differ."""
    why: str = ""
    """How a status the entry did not carry was judged ("answers the target secondary")."""
    logged: bool = True
    """The status is the one the entry carried (False: it carried none)."""

    @property
    def name(self) -> str:
        """The subject, "via" the resolver or server that answered when there is one."""
        return f"{self.subject} via {self.server}" if self.server else self.subject


def _status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        return Status.UNKNOWN


def _key(entry: Entry) -> str:
    data = entry.data
    dedupe = data.get("dedupe_key")
    if isinstance(dedupe, str) and dedupe:
        return dedupe
    parts = (data.get("area"), data.get("subject"), data.get("region"), data.get("event"))
    return "|".join(str(part) for part in parts)


def _answered_region(data: Mapping[str, Any]) -> str | None:
    """The region a resolver's answer pointed at, from a DNS entry's evidence."""
    evidence = data.get("evidence")
    after = evidence.get("after") if isinstance(evidence, Mapping) else None
    if not isinstance(after, Mapping) or after.get("verdict") != "region":
        return None
    region = after.get("region")
    return region if isinstance(region, str) and region else None


def _judged(data: Mapping[str, Any], target: str | None) -> tuple[Status, str]:
    """The entry's status as logged; a DNS region answer logged without one (it is good or
    bad only against the failover target) is judged against the target in force then."""
    logged = data.get("status")
    if logged is not None:
        return _status(logged), ""
    region = _answered_region(data)
    if region is None or target is None:
        return Status.UNKNOWN, ""
    if region == target:
        return Status.OK, f"answers the target {target}"
    return Status.WARN, f"answers {region}, not the target {target}"


def probe_board(entries: Sequence[Entry], area: str) -> list[BoardRow]:
    """The latest probe entry per subject of `area` (dns, auth or queue), worst first and,
    within a status, newest first (the last converged state is at the top of its status).

    An entry without a status (a baseline, a note) shows as unknown: the board never turns a
    missing verdict into ok. Two exceptions, both from the log itself: a resolver's region
    answer is judged against the failover target decided by then; and a DNS change without a
    status is ok once its record was logged as converged after it (every resolver then gave
    the target answer).
    """
    latest: dict[str, BoardRow] = {}
    target: str | None = None
    for entry in entries:
        data = entry.data
        decided = data.get("target_region") if entry.kind == "decision" else None
        if isinstance(decided, str) and decided:
            target = decided
        if entry.kind != "probe" or data.get("area") != area:
            continue
        region = data.get("region")
        server = data.get("server")
        key = _key(entry)
        status, why = _judged(data, target)
        logged = data.get("status") is not None
        latest[key] = BoardRow(
            key=key,
            subject=str(data.get("subject") or area),
            region=region if isinstance(region, str) else None,
            status=status,
            text=entry.text,
            at=entry.ts,
            seq=entry.seq,
            server=server if isinstance(server, str) and server else None,
            why=why,
            logged=logged,
        )
    rows = [_converged_since(row, latest.values()) for row in latest.values()]
    return sorted(rows, key=lambda row: (-row.status.severity, -row.seq))


def _converged_since(row: BoardRow, rows: Iterable[BoardRow]) -> BoardRow:
    if row.logged or row.status is not Status.UNKNOWN or row.server is None:
        return row
    for other in rows:
        if (
            other.server is None
            and other.subject == row.subject
            and other.status is Status.OK
            and other.seq > row.seq
            and other.key.startswith("dns|record|")
        ):
            return replace(row, status=Status.OK, why=f"{row.subject} converged after it")
    return row
