"""Drawing the timeline: entry lines at the bottom, and older ones filled in above, in slices.

TimelineView is the RichLog the timeline pane (timeline_pane.py) draws on. `queue_entries`
and `queue_line` add at the bottom; `fill_above` gives entries to show above what is shown,
newest first (a big log's last entries come first, the screen then fills backwards). Drawing
goes in slices of at most RENDER_SLICE_SECONDS with RENDER_PAUSE_SECONDS between them, so keys,
the clock and the other panes never wait long behind it. At most MAX_LINES screen lines are
kept: entries that would scroll out are never drawn. Past `fill_to` lines the filling waits
(the pane raises it once the incident's state is known).

Every string from an entry passes through `clean` and is shown as a `Text`, never as markup.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from rich.segment import Segment
from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import RichLog

from cockpit.compat import UTC
from cockpit.incident.entry import (
    ACTION_TAG,
    CAUSE_TAG,
    FACTOR_TAG,
    IMPACT_TAG,
    KEY_TAG,
    LESSON_TAG,
    WENT_TAGS,
    Entry,
    LogProblem,
    data_time,
)
from cockpit.safe_text import clean

__all__ = ["MAX_LINES", "TimelineView", "entry_line", "problem_line"]

DEFAULT_WIDTH = 76
"""Wrap width before the pane was ever laid out (an 80-column terminal's timeline)."""
MAX_LINES = 2000
"""Screen lines the timeline keeps (a long entry wraps to several); the log keeps them all."""
RENDER_SLICE_SECONDS = 0.008
"""The longest the timeline draws at a time before letting keys and timers run."""
RENDER_PAUSE_SECONDS = 0.01
FIRST_SCREEN_LINES = 100
"""Filled in at once; past that the filling waits for `fill_to` to be raised."""
PREPEND_ENTRIES = 4

_TAG_MARKS: tuple[tuple[str, str], ...] = (
    (KEY_TAG, " [key]"),
    (LESSON_TAG, " [lesson]"),
    (CAUSE_TAG, " [cause]"),
    (FACTOR_TAG, " [factor]"),
    (IMPACT_TAG, " [impact]"),
    (WENT_TAGS["well"], " [went well]"),
    (WENT_TAGS["badly"], " [went badly]"),
    (WENT_TAGS["lucky"], " [lucky]"),
    (ACTION_TAG, " [action]"),
)
"""Tags shown after the kind, in words (--ascii too): starred, a lesson, the review's marks."""

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
    tags = entry.tags
    for tag, label in _TAG_MARKS if tags else ():
        if tag in tags:  # a starred entry, a lesson, a review mark stands out
            line.append(label, style="bold")
    line.append(" ")
    line.append(clean(entry.author), style="italic")
    line.append(": ")
    line.append(clean(entry.text))
    if ACTION_TAG in tags:
        line.append(_action_details(entry), style="dim")
    phase = entry.data.get("phase") if entry.kind in ("phase", "correction") else None
    if isinstance(phase, str):
        line.append(f" [{clean(phase)}{_phase_time(entry)}]")
    return line


def _action_details(entry: Entry) -> str:
    """ " (owner carol, due 2026-12-15, ticket OPS-1)" for an action item, cleaned; "" when
    it has none of them."""
    action = entry.data.get("action")
    if not isinstance(action, dict):
        return ""
    shown = [
        f"{name} {clean(value)}"
        for name in ("owner", "due", "ticket")
        if isinstance(value := action.get(name), str) and value
    ]
    return f" ({', '.join(shown)})" if shown else ""


def _phase_time(entry: Entry) -> str:
    """The suffix " at 14:00:00" when the phase's own time (data.at, a backdated `--at`)
    is not the time the entry was written; the date too when it is another day. Else ""."""
    at = data_time(entry.data, "at")
    if at is None or abs((at - entry.ts).total_seconds()) < 1:
        return ""
    at, written = at.astimezone(UTC), entry.ts.astimezone(UTC)
    shown = f"{at:%H:%M:%S}" if at.date() == written.date() else f"{at:%Y-%m-%d %H:%M:%S}"
    return f" at {shown}"


def problem_line(problem: LogProblem) -> Text:
    return Text(clean(str(problem)), style="bold" if problem.severity == "error" else "dim")


class TimelineView(RichLog):
    """A RichLog that draws entries in slices, at the bottom and backwards from the top."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
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
        self.fill_to = FIRST_SCREEN_LINES
        """Screen lines filling in above stops at (raise it with `fill_more`)."""
        self._last_width = DEFAULT_WIDTH
        self._bottom: deque[Entry | Text] = deque()
        """Lines to add at the bottom, oldest first."""
        self._older: list[Entry] = []
        """Entries to fill in above what is shown, oldest first (taken from the end)."""
        self._clear_first = False
        self._render_pending = False
        self._following = True
        """The view was at the last line when it last moved: a resize keeps it there."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._following = new_value >= self.max_scroll_y

    def on_resize(self, event: Resize) -> None:
        # RichLog's own on_resize runs too (Textual calls each class's handler). A pane that
        # gets smaller (a zoom ends) keeps its scroll offset, which is then short of the end:
        # one that was following goes on following.
        if self._following:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    @property
    def drawing(self) -> bool:
        """Something given is not drawn yet."""
        filling = bool(self._older) and len(self.lines) < self.fill_to
        return bool(self._bottom) or filling or self._render_pending

    def fill_above(self, entries: list[Entry]) -> None:
        """Show `entries` (oldest first) above what is shown, the newest of them first.
        `entries` is copied: the filling takes from its own list, not the caller's."""
        self._older = list(entries)
        self._schedule_render()

    def fill_more(self) -> None:
        """Let the filling go on up to MAX_LINES."""
        self.fill_to = MAX_LINES
        self._schedule_render()

    def queue_line(self, line: Text) -> None:
        self._bottom.append(line)
        self._schedule_render()

    def queue_entries(self, entries: Sequence[Entry]) -> None:
        """Show `entries` at the bottom: only as many as can still be on screen afterwards."""
        self._bottom.extend(entries[-MAX_LINES:])
        if len(self._bottom) > MAX_LINES or len(entries) > MAX_LINES:
            # Everything shown now would scroll out: start from a clean pane.
            while len(self._bottom) > MAX_LINES:
                self._bottom.popleft()
            self._clear_first = True
            self._older = []
        self._schedule_render()

    def _schedule_render(self, pause: float = 0.001) -> None:
        # A timer, not call_later: a widget works through its queued callbacks without giving
        # the event loop a turn, so a chain of them would hold up keys until it ends.
        if not self._render_pending:
            self._render_pending = True
            self.set_timer(pause, self._render_slice, name="timeline-draw")

    def _render_slice(self) -> None:
        """Draw for at most RENDER_SLICE_SECONDS; the rest goes on after RENDER_PAUSE_SECONDS,
        in which keys, the clock and the other panes have the screen's thread."""
        self._render_pending = False
        deadline = time.perf_counter() + RENDER_SLICE_SECONDS
        if self._clear_first:
            self._clear_first = False
            self.clear()
        while self._bottom and time.perf_counter() < deadline:
            item = self._bottom.popleft()
            self._add(item if isinstance(item, Text) else entry_line(item))
        # Past `fill_to`, filling in waits: the pane reads the incident's state first, in a
        # thread that shares the interpreter with this one.
        fill_to = self.fill_to
        while (
            not self._bottom
            and self._older
            and self._size_known
            and len(self.lines) < fill_to
            and time.perf_counter() < deadline
        ):
            chunk = self._older[-PREPEND_ENTRIES:]
            del self._older[-PREPEND_ENTRIES:]
            self._prepend([entry_line(entry) for entry in chunk])
        if self._bottom or (self._older and len(self.lines) < fill_to):
            self._schedule_render(RENDER_PAUSE_SECONDS if self._size_known else 0.05)
        elif len(self.lines) >= MAX_LINES or not self._older:
            self._older = []

    def _add(self, line: Text, scroll_end: bool | None = None) -> None:
        """Write `line` wrapped to the pane's width. While another pane is zoomed this one has
        no width: lines then wrap to the last width it had (a width of 0 would draw nothing)."""
        width = self.scrollable_content_region.width
        if width > 0:
            self._last_width = width
            self.write(line, scroll_end=scroll_end)
        elif not self._size_known:
            self.write(line, scroll_end=scroll_end)  # RichLog keeps it until laid out
        else:
            self.write(line, width=self._last_width, scroll_end=scroll_end)

    def _prepend(self, lines: list[Text]) -> None:
        """Add `lines` above what is shown, keeping the view where it was (at the end, or on
        the same lines). RichLog only appends: these are rendered as its `write` renders a
        Text (wrapped to the pane, as wide as the text or the pane), and put at the top."""
        width = self.scrollable_content_region.width or self._last_width
        console = self.app.console
        strips: list[Strip] = []
        for line in lines:
            render_width = max(min(line.cell_len, width), 1)
            rendered = Segment.split_lines(
                console.render(line, console.options.update_width(render_width))
            )
            for strip in Strip.from_lines(list(rendered)):
                strips.append(strip.adjust_cell_length(render_width))
                self._widest_line_width = max(self._widest_line_width, render_width)
        room = max(MAX_LINES - len(self.lines), 0)
        strips = strips[len(strips) - room :] if len(strips) > room else strips
        at_end = self.scroll_offset.y >= self.max_scroll_y
        self.lines[0:0] = strips
        self._line_cache.clear()
        self.virtual_size = Size(self._widest_line_width, len(self.lines))
        if at_end:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        else:
            self.scroll_to(y=self.scroll_offset.y + len(strips), animate=False, immediate=False)
        self.refresh()
