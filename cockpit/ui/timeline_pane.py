"""The timeline: the incident log, newest at the bottom, following the file as it grows.

Every POLL_SECONDS the file is stat'ed; when it changed, a thread worker polls `LogFollower`
and posts `LogPolled`; the handler writes the new lines and schedules the next look with
`set_timer`, so two polls never overlap. Entries written by
another cockpit or by `cockpit log` from a shell appear within about POLL_SECONDS.
Every string from an entry passes through `clean` and is shown as a `Text`, never as markup.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.widgets import RichLog

from cockpit.errors import CockpitError
from cockpit.incident.entry import Entry, LogProblem
from cockpit.incident.log import LogFollower
from cockpit.safe_text import clean
from cockpit.ui.messages import IncidentChanged, LogPolled

POLL_SECONDS = 0.5
DEFAULT_WIDTH = 76
"""Wrap width before the pane was ever laid out (an 80-column terminal's timeline)."""
MAX_LINES = 2000
"""Screen lines the timeline keeps (a long entry wraps to several); the log keeps them all."""

_KIND_STYLES = {
    "decision": "bold",
    "phase": "bold",
    "correction": "italic",
    "system": "dim",
}


def entry_line(entry: Entry) -> Text:
    """One entry as a line: time, seq, kind, author and text, all cleaned, none of it markup."""
    line = Text(no_wrap=False, overflow="fold")
    line.append(f"{entry.ts.astimezone(UTC):%H:%M:%S} ", style="dim")
    line.append(f"#{entry.seq} ", style="dim")
    line.append(clean(entry.kind), style=_KIND_STYLES.get(entry.kind, ""))
    line.append(" ")
    line.append(clean(entry.author), style="italic")
    line.append(": ")
    line.append(clean(entry.text))
    phase = entry.data.get("phase") if entry.kind in ("phase", "correction") else None
    if isinstance(phase, str):
        line.append(f" [{clean(phase)}]")
    return line


def problem_line(problem: LogProblem) -> Text:
    return Text(clean(str(problem)), style="bold" if problem.severity == "error" else "dim")


class TimelinePane(RichLog):
    """The incident log, newest at the bottom; follows the file."""

    def __init__(self, log_path: Path, *, id: str | None = None) -> None:
        # min_width=0: RichLog's default of 78 would cut every line at 80 columns and add a
        # horizontal scrollbar (a row lost, and half the bytes an idle screen sends).
        # max_lines: each shown line costs kilobytes; older entries stay in the log and export.
        super().__init__(
            id=id,
            wrap=True,
            markup=False,
            highlight=False,
            auto_scroll=True,
            min_width=0,
            max_lines=MAX_LINES,
        )
        self.log_path = log_path
        self.entries: list[Entry] = []
        self._follower = LogFollower(log_path)
        self._last_error: str | None = None
        self._last_stat: tuple[int, ...] | None = None
        self._last_width = DEFAULT_WIDTH

    def on_mount(self) -> None:
        self._poll_log()

    def _add(self, line: Text) -> None:
        """Write `line` wrapped to the pane's width. While another pane is zoomed this one has
        no width: lines then wrap to the last width it had (a width of 0 would draw nothing)."""
        width = self.scrollable_content_region.width
        if width > 0:
            self._last_width = width
            self.write(line)
        elif not self._size_known:
            self.write(line)  # RichLog keeps it until the pane is laid out
        else:
            self.write(line, width=self._last_width)

    def _look(self) -> None:
        """Poll the log (in a worker) only when its size, time or inode changed: a stat is
        microseconds on this thread, a worker twice a second is not."""
        try:
            status = os.stat(self.log_path)
            seen: tuple[int, ...] | None = (status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            seen = None  # gone or unreadable: the follower says what happened
        if seen is not None and seen == self._last_stat:
            self.set_timer(POLL_SECONDS, self._look, name="timeline-poll")
            return
        self._last_stat = seen
        self._poll_log()

    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline")
    def _poll_log(self) -> None:
        try:
            result = self._follower.poll()
        except CockpitError as exc:
            self.post_message(LogPolled([], [], error=str(exc)))
            return
        except OSError as exc:
            self.post_message(LogPolled([], [], error=f"cannot read {self.log_path}: {exc}"))
            return
        self.post_message(LogPolled(result.entries, result.problems))

    @on(LogPolled)
    def _show_polled(self, message: LogPolled) -> None:
        message.stop()
        if message.error is not None:
            if message.error != self._last_error:
                self._add(Text(clean(message.error), style="bold"))
            self._last_error = message.error
        else:
            self._last_error = None
        if any(p.severity == "error" and p.line is None for p in message.problems):
            # The follower starts over (the file was replaced, truncated or removed): so do we,
            # or every entry would show twice.
            self.clear()
            self.entries.clear()
        for problem in message.problems:
            self._add(problem_line(problem))
        if message.entries:
            for entry in message.entries:
                self._add(entry_line(entry))
            self.entries.extend(message.entries)
            self.post_message(IncidentChanged(tuple(self.entries)))
        if self.is_attached:
            self.set_timer(POLL_SECONDS, self._look, name="timeline-poll")
