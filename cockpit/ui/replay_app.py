"""`cockpit replay`: a finished incident played back on the cockpit's screen.

The header, checklist and timeline are the live cockpit's own widgets, fed from the log as it
stood at the replay's incident time (cockpit.incident.replay.ReplayClock); the queue, DNS and
auth panes are probe boards built from the probe entries seen so far. Nothing is written and
nothing is probed. Keys: space pauses, + and - change the speed, n jumps to the next entry,
1-5 zoom and Escape returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer, RichLog

from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.replay import (
    ReplayClock,
    entries_until,
    next_entry_time,
    probe_board,
    times_in_order,
)
from cockpit.incident.runbook import steps_for
from cockpit.theme_data import ThemeSpec
from cockpit.ui.app import PANES, CockpitShell, PaneFrame
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.probe_board_pane import ProbeBoardPane
from cockpit.ui.timeline_pane import entry_line

TICK_SECONDS = 0.25


class ReplayApp(CockpitShell):
    """Plays `entries` back; see the module docstring."""

    TITLE = "cockpit replay"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(spec.key, f"zoom('{spec.name}')", spec.title, show=False) for spec in PANES),
        Binding("escape", "unzoom", "All panes", show=False),
        Binding("space", "pause", "Pause/play"),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+"),
        Binding("minus", "slower", "Slower", key_display="-"),
        Binding("n", "next_entry", "Next entry"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
    ]

    def __init__(
        self,
        log_path: Path,
        entries: Sequence[Entry],
        *,
        speed: float = 60.0,
        theme_name: str | None = None,
        theme_specs: Mapping[str, ThemeSpec] | None = None,
        ascii_only: bool = False,
        wall: object = time.monotonic,
    ) -> None:
        if not entries:
            raise ValueError("a replay needs at least one entry")
        super().__init__(theme_name=theme_name, theme_specs=theme_specs, ascii_only=ascii_only)
        self.log_path = log_path
        self.entries = sorted(entries, key=lambda e: e.seq)
        self._times = times_in_order(self.entries)
        """The entries' times when in order (entries_until bisects them), else None."""
        start = min(e.ts for e in self.entries)
        end = max(e.ts for e in self.entries)
        self.replay_clock = ReplayClock(start, end, speed=speed, wall=wall)  # type: ignore[arg-type]
        self.shown = 0
        """How many entries (in seq order) are on screen."""

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Pause or play (space)", "Stop or restart the replay", self.action_pause
        )
        yield SystemCommand("Faster (+)", "Double the replay speed", self.action_faster)
        yield SystemCommand("Slower (-)", "Halve the replay speed", self.action_slower)
        yield SystemCommand("Next entry (n)", "Jump to the next entry", self.action_next_entry)

    def compose(self) -> ComposeResult:
        yield IncidentHeader(
            name_fallback=self.log_path.stem,
            author="replay",
            clock=self.replay_clock.now,
            badge="REPLAY",
            id="header",
        )
        with Grid(id="panes"):
            for spec in PANES:
                if spec.name == "timeline":
                    # min_width=0: RichLog's default of 78 cuts every line at 80 columns.
                    content = RichLog(
                        id="timeline", wrap=True, markup=False, highlight=False, min_width=0
                    )
                elif spec.name == "checklist":
                    content = ChecklistPane(
                        steps_for(None),
                        IncidentLog(self.log_path),
                        "replay",
                        read_only=True,
                        id="checklist",
                    )
                else:
                    content = ProbeBoardPane(spec.name, ascii_only=self.ascii_only, id=spec.name)
                yield PaneFrame(spec, content)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.apply_look()
        self._advance()
        self.set_interval(TICK_SECONDS, self._advance, name="replay-tick")

    @property
    def speed_text(self) -> str:
        state = "paused" if self.replay_clock.paused else f"x{self.replay_clock.speed:g}"
        if self.replay_clock.finished:
            state = "end of the log"
        return state

    def _advance(self) -> None:
        now = self.replay_clock.now()
        visible = entries_until(self.entries, now, in_order_times=self._times)
        headers = self.query(IncidentHeader)
        if not headers:
            return  # a tick while the screen is being taken down (quitting): nothing to show
        header = headers.first()
        self.sub_title = self.speed_text
        if len(visible) != self.shown:
            timeline = self.query_one("#timeline", RichLog)
            for entry in visible[self.shown :]:
                timeline.write(entry_line(entry))
            self.shown = len(visible)
            header.show_entries(visible)
            self.query_one(ChecklistPane).show_entries(visible)
            for area in ("queue", "dns", "auth"):
                board = self.query_one(f"#{area}", ProbeBoardPane)
                board.show_rows(probe_board(visible, area), now)
        # After show_entries: the impact it sets decides whether T+ changed.
        header.show_now(now)

    def action_pause(self) -> None:
        self.replay_clock.toggle_pause()
        self.notify(f"Replay {self.speed_text}", timeout=2)

    def action_faster(self) -> None:
        self.notify(f"Replay x{self.replay_clock.faster():g}", timeout=2)

    def action_slower(self) -> None:
        self.notify(f"Replay x{self.replay_clock.slower():g}", timeout=2)

    def action_next_entry(self) -> None:
        moment = next_entry_time(self.entries, self.replay_clock.now())
        if moment is None:
            self.notify("No later entry: this is the end of the log", timeout=2)
            return
        self.replay_clock.jump_to(moment)
        self._advance()

    def action_zoom(self, name: str) -> None:
        self.screen.maximize(self.pane(name), container=False)
