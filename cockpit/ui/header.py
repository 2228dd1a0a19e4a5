"""The header line: title, severity, phase, target region, commander, UTC clock, T+ since
impact, who is at the keyboard (and READ-ONLY for a viewer).

Derived from the log's entries (`show_entries`) and a clock ticking once a second. The title
is what gives way when the line is narrow; everything else keeps its place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from cockpit.compat import UTC
from cockpit.glyphs import glyph_set
from cockpit.incident.entry import Entry, utc_now
from cockpit.incident.phases import analyse, current_target_region
from cockpit.incident.roles import current_holders
from cockpit.safe_text import clean
from cockpit.ui.state_entries import StateEntries

Clock = Callable[[], datetime]

SHORTENING = ("compact", "author", "clock label", "clock", "commander", "T+")
"""What the status line gives up, in this order, when it does not fit: the spaces around
its separators, the name at this keyboard (READ-ONLY stays), " UTC", the clock, the
commander, T+. Severity, phase, target and READ-ONLY always stay."""
UNSIZED_WIDTH = 250
"""The width `render` assumes while the header has no size of its own."""
MIN_TITLE_CELLS = 8
"""A title squeezed narrower than this is left out of a one-row header."""


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


MAX_TICK_SECONDS = 10.0
"""The longest the header sleeps between looks at the clock."""
_AFTER_BOUNDARY_SECONDS = 0.01
"""Woken just after a minute boundary, not just before it (timers may fire a little early)."""


def next_change_seconds(now: datetime, impact_at: datetime | None) -> float:
    """Seconds until the line shows a new minute: the wall clock's next minute, or T+'s next
    whole minute counted from `impact_at` (its own seconds, not the wall clock's)."""
    boundaries = [_minute(now) + timedelta(minutes=1)]
    if impact_at is not None:
        elapsed = (now - impact_at).total_seconds()
        boundaries.append(impact_at + timedelta(minutes=math.floor(elapsed / 60) + 1))
    wait = (min(boundaries) - now).total_seconds() + _AFTER_BOUNDARY_SECONDS
    return min(max(wait, _AFTER_BOUNDARY_SECONDS), MAX_TICK_SECONDS)


def t_plus(elapsed: timedelta) -> str:
    """Time since impact in whole minutes, "1:05" (h:mm), "-0:03" before it, "2d 3:10"."""
    minutes = math.floor(elapsed.total_seconds() / 60)
    sign = "-" if minutes < 0 else ""
    days, rest = divmod(abs(minutes), 24 * 60)
    hours, minutes = divmod(rest, 60)
    shown = f"{hours}:{minutes:02d}"
    return f"{sign}{days}d {shown}" if days else f"{sign}{shown}"


class IncidentHeader(Widget):
    """One line across the top of the cockpit."""

    DEFAULT_CSS = """
    IncidentHeader {
        height: auto;
        background: $panel;
        color: $foreground;
    }
    """

    title_text: reactive[str] = reactive("", layout=True)
    severity: reactive[str | None] = reactive(None, layout=True)
    phase: reactive[str | None] = reactive(None, layout=True)
    target_region: reactive[str | None] = reactive(None, layout=True)
    commander: reactive[str | None] = reactive(None, layout=True)
    impact_at: reactive[datetime | None] = reactive(None)
    now: reactive[datetime] = reactive(utc_now)
    loading: reactive[str | None] = reactive(None)
    """Shown instead of severity, phase, target and commander while the log's state is not
    known yet ("loading", "log unreadable"); `show_entries` clears it."""

    def __init__(
        self,
        *,
        name_fallback: str,
        author: str,
        clock: Clock = utc_now,
        read_only: bool = False,
        badge: str | None = None,
        default_target: str | None = None,
        loading: bool = False,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        """`loading`: the log is still to be read; until `show_entries`, the line says
        "loading" rather than a state (no phase, the default target) it does not know."""
        super().__init__(id=id)
        self.default_target = default_target
        """The region judged against before any failover decision (the config's first)."""
        self.read_only = read_only
        self.badge = badge
        """A word shown reversed before the title: DRILL, REPLAY."""
        self.name_fallback = name_fallback
        self.author = author
        self._clock = clock
        self.set_reactive(IncidentHeader.title_text, name_fallback)
        self.set_reactive(IncidentHeader.target_region, default_target)
        self.set_reactive(IncidentHeader.now, clock())
        self.set_reactive(IncidentHeader.loading, "loading" if loading else None)
        self._state = StateEntries()
        self._tick_timer: Timer | None = None

    def on_mount(self) -> None:
        self._schedule_tick()

    def set_loading(self, loading: bool) -> None:
        """The line says "loading" in words; Textual's own loading indicator (which `loading`
        would turn on) would cover the whole line, READ-ONLY and all."""

    def _schedule_tick(self) -> None:
        """Wake up when the line next shows something new: the wall clock's next minute or
        the next whole minute since impact, whichever comes first (T+ follows the impact's
        own minute, not the wall clock's). At most MAX_TICK_SECONDS, so a clock that jumps
        (a suspended laptop) is caught up with soon."""
        if self._tick_timer is not None:
            self._tick_timer.stop()
        wait = next_change_seconds(self._clock(), self.impact_at)
        self._tick_timer = self.set_timer(wait, self._tick, name="header-clock")

    def _tick(self) -> None:
        self._tick_timer = None
        self.show_now(self._clock())
        self._schedule_tick()

    def watch_impact_at(self) -> None:
        if self.is_mounted:
            self._schedule_tick()

    def _shown_times(self, moment: datetime) -> tuple[datetime, str | None]:
        """What the line shows of `moment`: its minute, and T+ (whole minutes since impact)."""
        since = None if self.impact_at is None else t_plus(moment - self.impact_at)
        return _minute(moment), since

    def show_now(self, now: datetime) -> None:
        """Set `now` only when the line shows it differently (a replay sets it four times a
        second; call it after `show_entries`, which may move the impact)."""
        if self._shown_times(now) != self._shown_times(self.now):
            self.now = now

    def show_entries(self, entries: Sequence[Entry]) -> None:
        """Derive the line from the log's entries. Probe entries are left out first: none of
        these fields depends on one, and a big log is mostly probe entries."""
        self.loading = None
        if not self._state.update(entries):
            return  # only probe entries came: nothing here changes
        entries = self._state.entries
        analysis = analyse(entries, name=self.name_fallback)
        self.title_text = analysis.summary.title
        times = analysis.timeline.times
        self.phase = times[-1].phase if times else None
        self.impact_at = analysis.timeline.at("impact")
        self.target_region = current_target_region(entries) or self.default_target
        self.severity = analysis.summary.severity
        self.commander = current_holders(entries).get("commander")

    def status_text(
        self, *, compact: bool = False, as_loaded: bool = False, width: int | None = None
    ) -> Text:
        """Everything but the title, as cleaned text; `compact` for narrow terminals.
        `as_loaded`: as it reads once the state is known, even while loading (the header's
        height is decided on that, so it does not jump when the log has been read).
        `width`: shortened to fit it, in SHORTENING order; severity, phase, target and
        READ-ONLY are never left out (a target too long for the line is cut, as a last resort).
        """
        loading = self.loading is not None and not as_loaded
        steps = range(len(SHORTENING) + 1) if width is not None else [1 if compact else 0]
        text = Text()
        for step in steps:
            text = self._joined(self._parts(step, loading), compact=step > 0)
            if width is None or text.cell_len <= width:
                return text
        self._fit(text, max(width or 0, 1))
        return text

    def _fit(self, text: Text, width: int) -> None:
        """Cut `text` to `width` cells, the cut marked with the screen's ellipsis ("..." in
        ASCII mode: Rich's own is "…")."""
        if text.cell_len <= width:
            return
        try:
            ascii_only = bool(getattr(self.app, "ascii_only", False))
        except RuntimeError:  # no app (Textual's NoActiveAppError): drawn as on a UTF-8 screen
            ascii_only = False
        ellipsis = glyph_set(ascii_only).ellipsis
        text.truncate(max(width - len(ellipsis), 0), overflow="crop")
        text.append(ellipsis[:width])

    def _parts(self, step: int, loading: bool) -> list[tuple[str, str]]:
        """The status line's parts with the first `step` shortenings of SHORTENING applied."""
        done = set(SHORTENING[:step])
        if self.impact_at is None:
            since = "T+ --"
        else:
            since = f"T+{t_plus(self.now - self.impact_at)}"
        clock = f"{self.now.astimezone(UTC):%H:%M}" + ("" if "clock label" in done else " UTC")
        who = [] if "author" in done else ["@" + clean(self.author)]
        if self.read_only:
            who.append("READ-ONLY")
        parts: list[tuple[str, str]]
        if loading:
            parts = [(clean(self.loading or ""), "bold")]
        else:
            parts = [
                (clean(self.severity) if self.severity else "sev ?", "bold"),
                (clean(self.phase) if self.phase else "no phase", ""),
                ("target " + (clean(self.target_region) if self.target_region else "?"), ""),
            ]
            if "commander" not in done:
                parts.append(("cmd " + (clean(self.commander) if self.commander else "?"), ""))
        if "clock" not in done:
            parts.append((clock, ""))
        if not loading and "T+" not in done:
            parts.append((since, "bold"))
        if who:
            parts.append((" ".join(who), "italic"))
        return parts

    @staticmethod
    def _joined(parts: list[tuple[str, str]], compact: bool) -> Text:
        separator = "|" if compact else " | "
        text = Text(no_wrap=True, end="")
        for index, (part, style) in enumerate(parts):
            if index:
                text.append(separator, style="dim")
            text.append(part, style=style)
        return text

    def _title(self) -> Text:
        title = Text(" ", no_wrap=True, end="")
        if self.badge:
            title.append(f" {self.badge} ", style="reverse bold")
            title.append(" ")
        title.append(clean(self.title_text), style="bold")
        return title

    def wanted_height(self, width: int) -> int:
        """1 when the title and the whole status line fit side by side, else 2 (the title on
        a line of its own rather than cut to nothing)."""
        status = self.status_text(as_loaded=True)
        return 1 if self._title().cell_len + 2 + status.cell_len <= width else 2

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.wanted_height(width)

    def watch_now(self) -> None:
        # T+ and the clock can grow by a character ("T+9:59" to "T+10:00"): the line may
        # need its second row now. The status line is never the part that gives way.
        if self.is_mounted and self.wanted_height(self.size.width) != self.size.height:
            self.refresh(layout=True)

    def render(self) -> Text:
        # Not laid out (another pane zoomed): the line as a wide terminal would show it.
        width = self.size.width or UNSIZED_WIDTH
        height = self.size.height or self.wanted_height(width)
        title = self._title()
        if height >= 2:
            status = self.status_text(width=width - 1)
            self._fit(title, width)
            status.pad_left(1)
            return Text("\n", no_wrap=True, end="").join([title, status])
        # One row: the status line first, the title in what is left (or not at all).
        status = self.status_text(width=width - 1)
        room = width - status.cell_len - 2
        line = Text(no_wrap=True, end="")
        if room >= MIN_TITLE_CELLS or title.cell_len <= room:
            self._fit(title, room)
            line.append_text(title)
        line.append(" " * (width - line.cell_len - status.cell_len))
        line.append_text(status)
        return line
