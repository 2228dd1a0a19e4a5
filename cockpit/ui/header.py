"""The header line: title, severity, phase, target region, commander, UTC clock, T+ since
impact, who is at the keyboard (and READ-ONLY for a viewer).

Derived from the log's entries (`show_entries`) and a clock ticking once a second. The title
is what gives way when the line is narrow; everything else keeps its place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from cockpit.incident.entry import Entry, utc_now
from cockpit.incident.phases import analyse, current_target_region
from cockpit.incident.roles import current_holders
from cockpit.safe_text import clean
from cockpit.ui.state_entries import StateEntries

Clock = Callable[[], datetime]


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


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

    def on_mount(self) -> None:
        self.set_interval(1, self._tick, name="header-clock")

    def _tick(self) -> None:
        # The line shows minutes: repaint it (and send it down the wire) once a minute only.
        now = self._clock()
        if _minute(now) != _minute(self.now):
            self.now = now

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

    def status_text(self, *, compact: bool = False, as_loaded: bool = False) -> Text:
        """Everything but the title, as cleaned text; `compact` for narrow terminals.
        `as_loaded`: as it reads once the state is known, even while loading (the header's
        height is decided on that, so it does not jump when the log has been read)."""
        if self.impact_at is None:
            since = "T+ --"
        else:
            since = f"T+{t_plus(self.now - self.impact_at)}"
        clock = f"{self.now.astimezone(UTC):%H:%M} UTC"
        who = "@" + clean(self.author) + (" READ-ONLY" if self.read_only else "")
        if self.loading is not None and not as_loaded:
            parts = [(clean(self.loading), "bold"), (clock, ""), (who, "italic")]
            return self._joined(parts, compact)
        parts = [
            (clean(self.severity) if self.severity else "sev ?", "bold"),
            (clean(self.phase) if self.phase else "no phase", ""),
            ("target " + (clean(self.target_region) if self.target_region else "?"), ""),
            ("cmd " + (clean(self.commander) if self.commander else "?"), ""),
            (clock, ""),
            (since, "bold"),
            (who, "italic"),
        ]
        return self._joined(parts, compact)

    @staticmethod
    def _joined(parts: list[tuple[str, str]], compact: bool) -> Text:
        separator = "|" if compact else " | "
        text = Text()
        for index, (part, style) in enumerate(parts):
            if index:
                text.append(separator, style="dim")
            text.append(part, style=style)
        return text

    def _title(self) -> Text:
        title = Text(" ")
        if self.badge:
            title.append(f" {self.badge} ", style="reverse bold")
            title.append(" ")
        title.append(clean(self.title_text), style="bold")
        return title

    @staticmethod
    def _fits_one_line(width: int, title: Text, status: Text) -> bool:
        return title.cell_len + 2 + status.cell_len <= width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Narrow terminals get the title on a line of its own rather than cut to nothing.
        fits = self._fits_one_line(width, self._title(), self.status_text(as_loaded=True))
        return 1 if fits else 2

    def render(self) -> Text:
        width = max(self.size.width, 1)
        status = self.status_text()
        title = self._title()
        if self._fits_one_line(width, title, self.status_text(as_loaded=True)):
            line = Text(no_wrap=True, overflow="ellipsis", end="")
            line.append_text(title)
            line.append(" " * (width - title.cell_len - status.cell_len))
            line.append_text(status)
            return line
        if status.cell_len + 1 > width:
            status = self.status_text(compact=True)
        title.truncate(width, overflow="ellipsis")
        status.truncate(width - 1, overflow="ellipsis")
        status.pad_left(1)
        return Text("\n", no_wrap=True, end="").join([title, status])
