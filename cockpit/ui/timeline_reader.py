"""What the timeline's worker thread does: read the log and say what it found, in messages.

Opening (`load`), in this order, each step posting its message as soon as it is done:

1. `TailRead`: the last TAIL_ENTRIES entries, read from the end of the file (tens of ms);
2. `StateRead`: every entry but the probe entries (log_glance.read_state_entries): enough
   for the true header and checklist, well within a second on a 100,000-entry log;
3. the full read into the process's shared list (IncidentLog.read_so_far), LOAD_CHUNK_BYTES
   at a time, with `ReadProgress` now and then, and `LogPolled` once it reaches the end. When
   the file no longer holds every entry the first two steps found (it was replaced, cut or
   removed while it was opened), `LogPolled` says which (`opened`, `opened_loss`).

Following (`poll`): one `LogPolled` per look, with the shared list as it is. When the file was
replaced, truncated or removed (the generation changed), or while the screen holds entries the
file lost, it also says how many of the screen's entries the file still holds from the first
(`common`): the comparison runs here, not on the screen's thread. A read error becomes a
`LogPolled` with `error`: the pane says so and tries again.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textual.message import Message

from cockpit.errors import CockpitError
from cockpit.incident.entry import Entry, LogProblem
from cockpit.incident.log import IncidentLog
from cockpit.incident.log_glance import read_state_entries, read_tail
from cockpit.incident.log_loss import Loss, common_prefix, loss_among, missing_from, union
from cockpit.incident.log_read import error_reason, lost_entries_problem
from cockpit.incident.log_so_far import SoFar

__all__ = [
    "LOAD_CHUNK_BYTES",
    "TAIL_ENTRIES",
    "LogPolled",
    "ReadProgress",
    "StateRead",
    "TailRead",
    "load",
    "poll",
]

TAIL_ENTRIES = 2000
"""Entries read from the end first: more than the timeline keeps lines of (MAX_LINES)."""
LOAD_CHUNK_BYTES = 256 * 1024
"""How much of a big log one step of the full read takes (about 300 entries, 10 ms): between
steps the reader gives way to the screen when it is busy (`pause`)."""
PROGRESS_SECONDS = 0.25

Post = Callable[[Message], object]
Stopped = Callable[[], bool]
"""True once the worker was cancelled (the app is quitting): a long read ends early."""
Pause = Callable[[], None]
"""Called between steps of a long read; returns once the screen's thread is not busy."""


class _Stopped(Exception):
    pass


@dataclass
class TailRead(Message):
    entries: list[Entry]


@dataclass
class StateRead(Message):
    entries: list[Entry]
    lines: int


@dataclass
class ReadProgress(Message):
    entries: int


@dataclass
class LogPolled(Message):
    """One complete read of the log (to its end), or why it could not be read."""

    so_far: SoFar | None
    error: str | None = None
    common: int | None = None
    """How many of the screen's entries (passed as `kept`) the file holds from the first."""
    lost_marked: list[LogProblem] = field(default_factory=list)
    """The log ends before what a writer acknowledged (log_mark): an error to show."""
    opened: list[Entry] | None = None
    """At open, when the file lost some of them: every entry read before the full read (the
    tail, the state entries, and those the screen had from an earlier attempt), in seq order."""
    opened_loss: Loss | None = None
    """Those of `opened` the file no longer holds."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read the incident log: {error_reason(exc)}"
    return str(exc)


def _read_to_end(log: IncidentLog, post: Post, stopped: Stopped, pause: Pause) -> SoFar:
    said = time.monotonic()
    while True:
        if stopped():
            raise _Stopped
        pause()
        so_far = log.read_so_far(LOAD_CHUNK_BYTES)
        # The entries live as long as the screen and hold no reference cycles: moved out of
        # the collector's sight, a full collection (70 ms with 100,000 entries, on whichever
        # thread allocates, often the screen's) never walks them again.
        gc.freeze()
        if so_far.at_end:
            return so_far
        if time.monotonic() - said >= PROGRESS_SECONDS:
            post(ReadProgress(so_far.count))
            said = time.monotonic()


def _marked_loss(log: IncidentLog, so_far: SoFar) -> tuple[SoFar, list[LogProblem]]:
    """The mark's complaint, if any, after reading once more: a writer records the mark
    after its line is on disk, so a mark ahead of what was read may only mean a new line."""
    last = so_far.entries[so_far.count - 1].seq if so_far.count else 0
    problems = lost_entries_problem(Path(log.path), last)
    if problems:
        so_far = log.read_so_far()
        last = so_far.entries[so_far.count - 1].seq if so_far.count else 0
        problems = lost_entries_problem(Path(log.path), last)
    return so_far, problems


def load(
    log: IncidentLog, post: Post, stopped: Stopped, pause: Pause, shown: Sequence[Entry] = ()
) -> None:
    """Open the log: TailRead, StateRead, then the full read (see the module docstring).
    `shown`: entries the screen took from an earlier attempt that failed part way."""
    try:
        tail = read_tail(log.path, TAIL_ENTRIES)
        post(TailRead(tail))
        glance = read_state_entries(log.path, pause)
        post(StateRead(glance.entries, glance.lines))
        so_far, lost = _marked_loss(log, _read_to_end(log, post, stopped, pause))
        # Did the file keep what the screen took from it? (about 20 ms on 100,000 entries)
        pause()
        opened = union(shown, tail, glance.entries)
        pause()
        missing, _reach = missing_from(opened, so_far.entries[: so_far.count])
    except _Stopped:
        return
    except (CockpitError, OSError) as exc:
        post(LogPolled(None, error=_reason(exc)))
        return
    if missing:
        post(LogPolled(so_far, lost_marked=lost, opened=opened, opened_loss=loss_among(missing)))
    else:
        post(LogPolled(so_far, lost_marked=lost))


def poll(
    log: IncidentLog,
    post: Post,
    generation: int,
    kept: Sequence[Entry] | None,
    stopped: Stopped,
    pause: Pause,
    partial: bool = False,
) -> None:
    """Read what is new; with `kept` (the screen's entries), compare them with the file when
    it started over since `generation`, or always when `kept` is given with generation -1.
    `partial`: `kept` is what a screen had when the file changed while it was opened (some
    of the log's entries, with gaps): `common` is then how far into the file the last of
    them is when it holds them all, else 0."""
    try:
        so_far, lost = _marked_loss(log, _read_to_end(log, post, stopped, pause))
        common = None
        if kept is not None and (generation < 0 or so_far.generation != generation):
            now = so_far.entries[: so_far.count]
            if partial:
                missing, reach = missing_from(kept, now)
                common = 0 if missing else reach
            else:
                common = common_prefix(kept, now)
    except _Stopped:
        return
    except (CockpitError, OSError) as exc:
        post(LogPolled(None, error=_reason(exc)))
        return
    post(LogPolled(so_far, common=common, lost_marked=lost))
