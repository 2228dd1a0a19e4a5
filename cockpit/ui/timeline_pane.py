"""The timeline: the incident log, newest at the bottom, following the file as it grows.

Opening a log (cockpit.ui.timeline_reader runs in a thread worker and posts what it finds):
the last entries are read from the end of the file and shown first, newest first, filling the
pane backwards in small slices (timeline_view.py: keys and the clock never wait behind it); the
first screen is drawn at once, the rest once the state is known. The entries that make the
header and checklist come next (`state_known`, then IncidentChanged(complete=False)); the full
read into the process's one shared list of entries (IncidentLog.read_so_far) ends with
IncidentChanged(complete=True). Only the newest MAX_LINES screen lines are ever drawn; older
entries stay in the log, the export and the shared list. The reading thread gives way whenever
the screen's thread is busy (`_give_way`), which a 10 ms pulse on the screen's thread tells;
the pulse runs only while a reading worker does, so an idle screen does not wake 100 times a
second (1.6 % of a core, measured on a Textual app doing nothing else).

Following: every POLL_SECONDS the file is stat'ed; when it changed, the worker reads what is
new. Entries written by another cockpit or by `cockpit log` appear within about POLL_SECONDS.

When the file is replaced, truncated or removed, the screen keeps what it showed: it compares
the file with its entries (cockpit.incident.log_loss), names the entries the file lost in an
error line (and a toast, once), keeps the header and checklist as they were, lists under it
no more than FILE_ENTRIES_UNDER_LOSS of what the file holds now (the kept lines stay in
sight), and offers `w` (and the palette's "Write a recovery file") to write them to a new 0600
file beside the log (cockpit.incident.log_recovery). When the file holds them all again, it
says so and follows it. The same holds while a log is being opened: what the screen took from
it before the full read (its last entries, the state entries) is checked against what the
full read found.

A read error (permissions, an unreadable file) is said once, retried on its own with a growing
pause (RETRY_FIRST_SECONDS up to RETRY_MAX_SECONDS), and its end is said once.

Every string from an entry passes through `clean` and is shown as a `Text`, never as markup.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from cockpit.errors import CockpitError
from cockpit.incident.entry import Entry, LogProblem
from cockpit.incident.log import IncidentLog
from cockpit.incident.log_loss import Loss, loss_of
from cockpit.incident.log_recovery import write_recovery
from cockpit.incident.log_so_far import SoFar, starts_over
from cockpit.safe_text import clean
from cockpit.ui.messages import IncidentChanged, LogReadStatus
from cockpit.ui.timeline_reader import LogPolled, ReadProgress, StateRead, TailRead, load, poll
from cockpit.ui.timeline_view import MAX_LINES, TimelineView, entry_line, problem_line

__all__ = ["MAX_LINES", "TimelinePane", "entry_line", "problem_line", "refuse_while_loading"]

POLL_SECONDS = 0.5
PULSE_SECONDS = 0.01
BUSY_AFTER_SECONDS = 0.03
GIVE_WAY_SECONDS = 0.25
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
FILE_ENTRIES_UNDER_LOSS = 200
"""The newest entries of the file as it is now shown under a loss (the rest stay in the file)."""
READ_ONLY_RECOVERY = (
    "Read-only viewer (--read-only): no recovery file is written; a cockpit opened without"
    " --read-only can write one"
)


def refuse_while_loading(node: DOMNode, what: str) -> bool:
    """True (after telling the user why) while the timeline has not yet read the entries that
    make the incident's state: a write that depends on it (a decision, a phase, a tick, the
    severity, a role, the impact) must not be made against a screen that cannot show it."""
    for pane in node.app.query(TimelinePane):
        if pane.state_known:
            continue
        if pane.read_error is not None:
            why = f"the incident log cannot be read ({pane.read_error})"
        else:
            why = f"still reading the incident log ({pane.entries_read:,} entries so far)"
        node.notify(
            clean(f"Not yet: {why}; {what} once it is read"), severity="warning", markup=False
        )
        return True
    return False


@dataclass
class RecoveryWritten(Message):
    path: Path | None
    entries: int
    error: str | None = None


@dataclass(slots=True)
class _Lost:
    """The screen's entries, which the log file no longer holds from `loss` on."""

    kept: list[Entry]
    count: int
    loss: Loss
    generation: int
    file_shown: int
    """Entries of the file's current list already shown under the loss line."""
    partial: bool = False
    """`kept` is what the screen had of a log that changed while it was opened: some of its
    entries, with gaps (timeline_reader.poll compares it entry by entry)."""


class TimelinePane(TimelineView):
    """The incident log, newest at the bottom; follows the file."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "w",
            "write_recovery",
            "Recovery file",
            tooltip="Write the entries the log lost, as this screen showed them, beside the log",
        ),
    ]

    def __init__(
        self,
        log_path: Path,
        *,
        log: IncidentLog | None = None,
        read_only: bool = False,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(id=id)
        self.log_path = log_path
        self.incident_log = log if log is not None else IncidentLog(log_path)
        """Its shared list of entries is the one the whole screen works from."""
        self.read_only = read_only
        self.state_known = False
        """The entries that make the header and checklist have been read."""
        self.entries_read = 0
        self.read_error: str | None = None
        """Why the log cannot be read now (said once; retried until it can)."""
        self._list: list[Entry] = []
        self._count = 0
        self._generation = 0
        self._problems_seen = 0
        self._loaded = False
        self._tail_last_seq = 0
        self._opened: list[Entry] = []
        """What the screen took before the full read (the tail, the state entries)."""
        self._lost: _Lost | None = None
        self._start_over_reason = "the file changed"
        self._marks_said: set[str] = set()
        self._failures = 0
        self._last_stat: tuple[int, ...] | None = None
        self._pulse = time.monotonic()
        """When the screen's thread last had a moment (see _give_way)."""
        self._pulse_timer: Timer | None = None
        self.pulsing = False
        """The pulse runs (a reading worker may be waiting on it)."""

    @property
    def entries(self) -> list[Entry]:
        """The entries this screen holds: the log as read, or what it showed before a loss."""
        if self._lost is not None:
            return self._lost.kept[: self._lost.count]
        return self._list[: self._count]

    @property
    def drawn(self) -> bool:
        """The whole log has been read and everything there is to show of it is drawn."""
        return self._loaded and not self.drawing

    @property
    def recovery_offered(self) -> bool:
        return self._lost is not None

    def on_mount(self) -> None:
        self._pulse_timer = self.set_interval(
            PULSE_SECONDS, self._beat, name="timeline-pulse", pause=True
        )
        # After the first frame: the screen comes up at once, and the reading (a thread that
        # shares the interpreter with this one) does not slow the start down.
        self.call_after_refresh(self._load_first)

    # ---- reading (thread workers) ------------------------------------------------------------

    def _stopped(self) -> bool:
        return get_current_worker().is_cancelled

    def _beat(self) -> None:
        self._pulse = time.monotonic()

    def _wake(self) -> None:
        """Before a reading worker starts: the pulse runs until no reading worker is left."""
        self._pulse = time.monotonic()
        if self._pulse_timer is not None:
            self._pulse_timer.resume()
            self.pulsing = True

    def _reading(self) -> bool:
        return any(
            worker.node is self
            and worker.group == "timeline"
            and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for worker in self.workers
        )

    @on(Worker.StateChanged)
    def _rest(self, event: Worker.StateChanged) -> None:
        """A reading worker ended: with none left, the pulse stops."""
        if event.worker.group != "timeline" or event.worker.node is not self:
            return
        if self._pulse_timer is not None and not self._reading():
            self._pulse_timer.pause()
            self.pulsing = False

    def _give_way(self) -> None:
        """In the reading thread: wait while the screen's thread is busy (its pulse is late),
        at most GIVE_WAY_SECONDS. Both share one interpreter lock: without this a repaint or a
        key waits for the reader half of the time."""
        give_up = time.monotonic() + GIVE_WAY_SECONDS
        while time.monotonic() - self._pulse > BUSY_AFTER_SECONDS:
            if time.monotonic() > give_up:
                return
            time.sleep(0.002)

    # Every worker has a description: Textual would otherwise make one from the repr of its
    # arguments, a whole log's entries here.
    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline", description="load")
    def _load(self, shown: Sequence[Entry] = ()) -> None:
        load(self.incident_log, self.post_message, self._stopped, self._give_way, shown)

    def _load_first(self) -> None:
        self._wake()
        self._load()

    def _load_again(self) -> None:
        self._wake()
        self._load(self._opened)

    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline", description="poll")
    def _poll(self, generation: int, kept: Sequence[Entry] | None, partial: bool = False) -> None:
        poll(
            self.incident_log,
            self.post_message,
            generation,
            kept,
            self._stopped,
            self._give_way,
            partial,
        )

    def _poll_now(self) -> None:
        self._wake()
        if self._lost is not None:
            self._poll(-1, self._lost.kept[: self._lost.count], self._lost.partial)
        else:
            self._poll(self._generation, self._list[: self._count])

    def _look(self) -> None:
        """Read the log (in a worker) only when its size, time or inode changed: a stat is
        microseconds on this thread, a worker twice a second is not."""
        try:
            status = os.stat(self.log_path)
            seen: tuple[int, ...] | None = (status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            seen = None  # gone or unreadable: the reader says what happened
        if seen is not None and seen == self._last_stat:
            self._look_later(POLL_SECONDS)
            return
        self._last_stat = seen
        self._poll_now()

    def _look_later(self, delay: float) -> None:
        if self.is_attached:
            self.set_timer(delay, self._look, name="timeline-poll")

    # ---- what the reader found ---------------------------------------------------------------

    @on(TailRead)
    def _tail_read(self, message: TailRead) -> None:
        message.stop()
        self._readable_again()
        if self._loaded or self._tail_last_seq or not message.entries:
            return
        self._tail_last_seq = message.entries[-1].seq
        self._opened.extend(message.entries)
        self.fill_above(message.entries)

    @on(StateRead)
    def _state_read(self, message: StateRead) -> None:
        message.stop()
        self.entries_read = max(self.entries_read, message.lines)
        if not self.state_known:
            self.state_known = True
            self._opened.extend(message.entries)
            self.post_message(IncidentChanged(tuple(message.entries), complete=False))
            self.fill_more()  # the rest of the filling waited for this

    @on(ReadProgress)
    def _progress(self, message: ReadProgress) -> None:
        message.stop()
        self.entries_read = max(self.entries_read, message.entries)

    @on(LogPolled)
    def _polled(self, message: LogPolled) -> None:
        message.stop()
        so_far = message.so_far
        if so_far is None:
            self._failed(message.error or "cannot read the incident log")
            return
        self._readable_again()
        self.entries_read = max(self.entries_read, so_far.count)
        self._show_problems(so_far)
        for problem in message.lost_marked:
            self._say_marked(problem)
        if not self._loaded:
            self._first_read(so_far, message)
        elif self._lost is not None:
            self._while_lost(so_far, message.common)
        elif so_far.generation != self._generation:
            self._started_over(so_far, message.common or 0)
        else:
            self._take(so_far, self._count)
        self._look_later(POLL_SECONDS)

    def _first_read(self, so_far: SoFar, message: LogPolled) -> None:
        self._loaded = self.state_known = True
        self._generation = so_far.generation
        self._list, self._count = so_far.entries, so_far.count
        opened, self._opened = message.opened, []
        if opened is not None and message.opened_loss is not None:
            # The file changed while it was opened: what the screen showed of it (and the
            # header and checklist made from it) stays, as after any loss.
            self._lost = _Lost(
                opened, len(opened), message.opened_loss, so_far.generation, 0, partial=True
            )
            self._say_lost(message.opened_loss, "it changed while this screen was opening it")
            self._show_file_entries(so_far, 0)
            return
        start = so_far.count
        while start > 0 and so_far.entries[start - 1].seq > self._tail_last_seq:
            start -= 1  # entries appended after the tail was read
        self.queue_entries(so_far.entries[start : so_far.count])
        self._changed()

    def _take(self, so_far: SoFar, shown_before: int, *, announce: bool = False) -> None:
        """Follow `so_far`'s list; show its entries from `shown_before` on. `announce`: post
        the whole list even when nothing is new (the file is whole again after a loss)."""
        self._generation = so_far.generation
        self._list = so_far.entries
        self._count = max(so_far.count, shown_before)
        new = so_far.entries[shown_before : so_far.count]
        if new:
            self.queue_entries(new)
        if new or announce:
            self._changed()

    def _changed(self) -> None:
        self.post_message(IncidentChanged(tuple(self._list[: self._count]), complete=True))

    def _show_problems(self, so_far: SoFar) -> None:
        new = so_far.problems[self._problems_seen : so_far.problem_count]
        self._problems_seen = so_far.problem_count
        for problem in new:
            if starts_over(problem):
                self._start_over_reason = problem.message  # said with what was lost
            else:
                self.queue_line(problem_line(problem))

    def _say_marked(self, problem: LogProblem) -> None:
        if problem.message in self._marks_said:
            return
        self._marks_said.add(problem.message)
        self.queue_line(problem_line(problem))
        self.notify(clean(problem.message), severity="error", markup=False, timeout=20)

    # ---- a log that lost entries -------------------------------------------------------------

    def _started_over(self, so_far: SoFar, common: int) -> None:
        kept = self._list[: self._count]
        loss = loss_of(kept, common)
        if loss is None:
            self.queue_line(
                Text(
                    clean(
                        f"{self._start_over_reason}; the file holds every entry this screen "
                        "showed: following it"
                    ),
                    style="dim",
                )
            )
            self._take(so_far, len(kept))
            return
        self._lost = _Lost(self._list, self._count, loss, so_far.generation, common)
        self._say_lost(loss, self._start_over_reason)
        self._show_file_entries(so_far, common)

    def _say_lost(self, loss: Loss, why: str) -> None:
        what = f"the incident log lost {loss.describe()} that this screen showed"
        self.queue_line(
            Text(
                clean(
                    f"error: {what} ({why}). This screen keeps them; the header and checklist "
                    "stay as they were. w here (or ctrl+p, Write a recovery file) writes them "
                    "to a new file beside the log"
                ),
                style="bold",
            )
        )
        self.notify(
            clean(f"{what}: w in the timeline writes them to a recovery file"),
            severity="error",
            markup=False,
            timeout=30,
        )
        self.refresh_bindings()

    def _while_lost(self, so_far: SoFar, common: int | None) -> None:
        lost = self._lost
        assert lost is not None
        if so_far.generation != lost.generation:
            lost.generation = so_far.generation
            lost.file_shown = common or 0
        if common is not None and common >= lost.count:
            self._lost = None
            self.queue_line(
                Text(
                    "the incident log holds every entry this screen showed again: following it",
                    style="bold",
                )
            )
            self.notify("The incident log holds every entry this screen showed again", markup=False)
            self.refresh_bindings()
            # `common`: how far into the file the screen's entries reach (all of them).
            self._take(so_far, max(common, lost.file_shown), announce=True)
            return
        self._show_file_entries(so_far, lost.file_shown)

    def _show_file_entries(self, so_far: SoFar, start: int) -> None:
        """The entries the file holds now that this screen did not show, under the loss."""
        lost = self._lost
        assert lost is not None
        fresh = so_far.entries[start : so_far.count]
        lost.file_shown = max(lost.file_shown, so_far.count)
        if not fresh:
            return
        # Only the newest of them: a whole other file would push the kept lines (and the
        # error) out of the pane.
        left_out = max(len(fresh) - FILE_ENTRIES_UNDER_LOSS, 0)
        heading = "the log file now holds (not part of what this screen keeps)"
        if left_out:
            heading += f"; {left_out:,} older entries of it are not listed here"
        self.queue_line(Text(heading + ":", style="dim"))
        self.queue_entries(fresh[left_out:])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write_recovery":
            return self._lost is not None
        return True

    def action_write_recovery(self) -> None:
        lost = self._lost
        if lost is None:
            self.notify(
                "Nothing to recover: the log holds every entry this screen showed", markup=False
            )
            return
        if self.read_only:
            self.notify(READ_ONLY_RECOVERY, severity="warning", markup=False)
            return
        self._write_recovery(lost.kept[: lost.count])

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="timeline-recovery",
        description="write a recovery file",
    )
    def _write_recovery(self, entries: list[Entry]) -> None:
        try:
            path = write_recovery(self.log_path, entries)
        except CockpitError as exc:
            self.post_message(RecoveryWritten(None, len(entries), str(exc)))
            return
        self.post_message(RecoveryWritten(path, len(entries)))

    @on(RecoveryWritten)
    def _recovery_written(self, message: RecoveryWritten) -> None:
        message.stop()
        if message.path is None:
            text = f"recovery file not written: {message.error}"
            self.queue_line(Text(clean(text), style="bold"))
            self.notify(clean(text), severity="error", markup=False)
            return
        text = f"{message.entries:,} entries this screen showed written to {message.path} (0600)"
        self.queue_line(Text(clean(text), style="bold"))
        self.notify(clean(text), markup=False, timeout=20)

    # ---- read errors -------------------------------------------------------------------------

    def _failed(self, reason: str) -> None:
        self._failures += 1
        delay = min(RETRY_FIRST_SECONDS * 2 ** (self._failures - 1), RETRY_MAX_SECONDS)
        if self.read_error is None:
            self.read_error = reason
            text = f"{reason}; trying again on its own (at least every {RETRY_MAX_SECONDS:g} s)"
            self.queue_line(Text(clean(text), style="bold"))
            self.notify(clean(text), severity="error", markup=False, timeout=20)
            if not self.state_known:
                self.post_message(LogReadStatus("log unreadable"))
        if self.is_attached:
            self.set_timer(delay, self._poll_now if self._loaded else self._load_again)

    def _readable_again(self) -> None:
        if self.read_error is None:
            return
        self.read_error = None
        self._failures = 0
        self.queue_line(Text("the incident log can be read again", style="bold"))
        self.notify("The incident log can be read again", markup=False)
        if not self.state_known:
            self.post_message(LogReadStatus("loading"))
