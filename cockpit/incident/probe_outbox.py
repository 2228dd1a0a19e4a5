"""Probe entries on their way to the log: queued, checked against what the log holds, written once.

Every cockpit on an incident probes and observes the same changes. The one holding the
probe-writer lock (probe_writer.py) writes its changes at once; the others queue theirs here.

Identity. Each change carries `probe_id` (its dedupe key and the state it reached, hashed) and
`observed_at` (probe_log.py). A queued change is *in the log* when the log holds a probe entry
with the same probe_id observed within `window_s` of it (each change a summary folded, listed in
its `covers`, counts as such an entry). One logged change vouches for one queued change only,
the nearest in time, so a subject that went B, A, B is not taken as written after its first B.

Who writes what:
- the writer (lock holder) writes every queued change the log does not hold yet;
- another cockpit writes a change itself only when the log still lacks it `grace_s` after it
  was queued (the writer never saw it, or died before writing it). It also tries the lock
  every TAKEOVER_S, so it becomes the writer within a second of the writer's death, and then
  writes everything it holds that the log lacks.
Nothing leaves the queue until the log shows it, so a change reaches the log once: across a
takeover (the survivor's queue holds what the dead writer had not written yet) and across a
time in which writing fails (a full disk: the changes wait, with their observation times).

Bound: at most `limit` queued changes. The oldest are kept; later ones are counted, and once
writing works again one entry says how many were not kept, and between which times.

Batches: the changes offered together (one sweep's) are written together, folded as one burst
(probe_log.fold_burst). One written more than LATE_S after it was observed also gets `data.at`,
so the timeline and the export say when it was seen, not only when it was written.

Thread-safe: `put` runs on the screen's thread, `build` and `written` in a writing worker.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cockpit.compat import fromisoformat
from cockpit.config.model import Config
from cockpit.incident.entry import Entry
from cockpit.incident.probe_log import ProbeEntry, fold_burst, probe_id

__all__ = ["LATE_S", "NOT_KEPT_EVENT", "WAITING_LIMIT", "ProbeOutbox", "agreement_window"]

WAITING_LIMIT = 1000
"""The most probe changes one cockpit keeps waiting for the log."""
LATE_S = 5.0
"""A change written this many seconds after it was observed gets data.at."""
NOT_KEPT_EVENT = "probe_changes_not_kept"
"""data.event of the entry that counts the changes a full queue could not keep."""

EntryParts = tuple[str, str, dict[str, Any]]
_Token = tuple[int, int]
"""Which logged change: (seq of its entry, 0 for the entry itself or 1+ for a summary's)."""


@dataclass(slots=True)
class _Queued:
    entry: ProbeEntry
    observed: datetime
    queued: datetime
    batch: int


def agreement_window(config: Config) -> float:
    """Seconds within which two cockpits observe one change: twice the longest probe interval
    (their runs are not in step), plus 10 s for a slow run."""
    intervals = [config.dns.interval, config.auth.interval, config.service.interval]
    for region in config.regions:
        for sources in (region.queues, region.replication, region.roles):
            intervals.extend(source.interval for source in sources)
    return 2 * max(intervals) + 10.0


def _moment(value: object) -> datetime | None:
    """An aware datetime from ISO text, or None (data from the log is not trusted)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _identified(entry: ProbeEntry, now: datetime) -> tuple[ProbeEntry, datetime]:
    """`entry` with an identity and an observation time (a ProbeLogger's entries have both;
    another gets them here, from its text and data, and now)."""
    observed = _moment(entry.data.get("observed_at"))
    if entry.probe_id is not None and observed is not None:
        return entry, observed
    observed = observed or now
    identity = probe_id("entry", json.dumps([entry.text, entry.data], sort_keys=True, default=str))
    data = entry.data | {"probe_id": identity, "observed_at": observed.isoformat()}
    return ProbeEntry(entry.text, data, entry.noun, entry.phrase), observed


class ProbeOutbox:
    """Probe changes waiting for the log; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        window_s: float,
        grace_s: float,
        limit: int = WAITING_LIMIT,
        burst: int | None = 10,
    ) -> None:
        if window_s < 0 or grace_s < 0 or limit < 1:
            raise ValueError("window_s and grace_s must not be negative, limit at least 1")
        self._clock = clock
        self.window = timedelta(seconds=window_s)
        self.grace = timedelta(seconds=grace_s)
        self.limit = limit
        self.burst = burst
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._batch = 0
        self._not_kept = 0
        self._not_kept_since: datetime | None = None
        self._not_kept_until: datetime | None = None
        self._logged: dict[str, list[tuple[datetime, _Token]]] = {}
        self._used: set[_Token] = set()
        self._indexed_seq = 0

    # ---- the screen's side ---------------------------------------------------------------------

    def put(self, entries: Iterable[ProbeEntry]) -> None:
        """Queue the changes of one offer (they are written together)."""
        now = self._clock()
        with self._lock:
            self._batch += 1
            for entry in entries:
                if len(self._queue) >= self.limit:
                    self._not_kept += 1
                    self._not_kept_since = self._not_kept_since or now
                    self._not_kept_until = now
                    continue
                self._queue.append(_Queued(*_identified(entry, now), now, self._batch))

    @property
    def waiting(self) -> int:
        """Changes queued (not yet shown by the log), and changes counted as not kept."""
        with self._lock:
            return len(self._queue) + self._not_kept

    def due(self, *, writer: bool) -> bool:
        """Something to write now: anything (the writer), or a change the log still lacks
        `grace_s` after it was queued (another cockpit), or a count of changes not kept."""
        now = self._clock()
        with self._lock:
            if writer:
                return bool(self._queue) or self._not_kept > 0
            return any(now - item.queued >= self.grace for item in self._queue)

    def overdue(self) -> int:
        """Queued changes older than `grace_s`: what a writer that works would have written."""
        now = self._clock()
        with self._lock:
            return sum(now - item.queued >= self.grace for item in self._queue)

    # ---- the writing worker's side ------------------------------------------------------------

    def build(self, entries: Sequence[Entry], *, writer: bool) -> list[EntryParts]:
        """The (kind, text, data) to append now, given every entry of the log (call it under
        the log's lock: IncidentLog.append_built). Changes the log already holds leave the
        queue; nothing else does until the log shows it (see `written`)."""
        now = self._clock()
        with self._lock:
            self._index(entries)
            self._reconcile()
            chosen = [item for item in self._queue if writer or now - item.queued >= self.grace]
            parts: list[EntryParts] = []
            batch: list[_Queued] = []
            for item in chosen:
                if batch and item.batch != batch[0].batch:
                    parts.extend(self._parts(batch, now))
                    batch = []
                batch.append(item)
            if batch:
                parts.extend(self._parts(batch, now))
            if writer and self._not_kept:
                parts.append(self._not_kept_parts())
            return parts

    def written(self, entries: Sequence[Entry]) -> None:
        """After an append: what it wrote leaves the queue now (not only at the next read)."""
        with self._lock:
            self._index(entries)
            self._reconcile()
            for entry in entries:
                if entry.kind == "probe" and entry.data.get("event") == NOT_KEPT_EVENT:
                    counted = entry.data.get("count")
                    if isinstance(counted, int):
                        self._not_kept = max(0, self._not_kept - counted)
                    if not self._not_kept:
                        self._not_kept_since = self._not_kept_until = None

    # ---- inside ---------------------------------------------------------------------------------

    def _parts(self, batch: list[_Queued], now: datetime) -> list[EntryParts]:
        dated = []
        for item in batch:
            data = dict(item.entry.data)
            if "at" not in data and (now - item.observed).total_seconds() > LATE_S:
                data["at"] = item.observed.isoformat()
            dated.append(ProbeEntry(item.entry.text, data, item.entry.noun, item.entry.phrase))
        return [("probe", entry.text, entry.data) for entry in fold_burst(dated, self.burst)]

    def _not_kept_parts(self) -> EntryParts:
        since = self._not_kept_since.isoformat() if self._not_kept_since else None
        until = self._not_kept_until.isoformat() if self._not_kept_until else None
        text = (
            f"{self._not_kept} probe changes seen here were not kept while the log could not "
            f"be written (the oldest {self.limit} waiting were kept and written); the log may "
            "lack them"
        )
        data = {
            "area": "probe",
            "event": NOT_KEPT_EVENT,
            "status": "unknown",
            "subject": "probe entries",
            "count": self._not_kept,
            "since": since,
            "until": until,
            "dedupe_key": None,
        }
        return ("probe", text, data)

    def _index(self, entries: Sequence[Entry]) -> None:
        """Take the log's probe changes newer than those already taken."""
        if entries and entries[-1].seq < self._indexed_seq:
            # The log restarted (replaced): what was taken from the old one means nothing.
            self._logged.clear()
            self._used.clear()
            self._indexed_seq = 0
        start = bisect.bisect_right(entries, self._indexed_seq, key=lambda entry: entry.seq)
        for entry in entries[start:]:
            self._indexed_seq = max(self._indexed_seq, entry.seq)
            if entry.kind != "probe":
                continue
            data = entry.data
            pid, observed = data.get("probe_id"), _moment(data.get("observed_at"))
            if isinstance(pid, str) and observed is not None:
                self._logged.setdefault(pid, []).append((observed, (entry.seq, 0)))
            covers = data.get("covers")
            if isinstance(covers, list):
                for number, item in enumerate(covers[: self.limit * 2], start=1):
                    if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                        moment = _moment(item[1])
                        if moment is not None:
                            self._logged.setdefault(item[0], []).append(
                                (moment, (entry.seq, number))
                            )
        self._forget_old()

    def _forget_old(self) -> None:
        """Logged changes too old to vouch for any queued (or future) change are let go."""
        horizon = self._clock() - (self.window + self.grace) * 2
        oldest_queued = min((item.observed for item in self._queue), default=None)
        if oldest_queued is not None:
            horizon = min(horizon, oldest_queued - self.window)
        for pid in list(self._logged):
            kept = [seen for seen in self._logged[pid] if seen[0] >= horizon]
            if kept:
                self._logged[pid] = kept
            else:
                del self._logged[pid]

    def _reconcile(self) -> None:
        """Queued changes the log holds leave the queue, each matched to its nearest logged
        change of the same identity within the window, one to one."""
        kept: list[_Queued] = []
        for item in self._queue:
            pid = item.entry.probe_id
            match: tuple[timedelta, _Token] | None = None
            for observed, token in self._logged.get(pid or "", ()):
                distance = abs(observed - item.observed)
                if token in self._used or distance > self.window:
                    continue
                if match is None or distance < match[0]:
                    match = (distance, token)
            if match is None:
                kept.append(item)
            else:
                self._used.add(match[1])
        self._queue = kept
