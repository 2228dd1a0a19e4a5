"""The timeline keeps following new entries after another pane was zoomed and restored."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from textual.geometry import Region

from cockpit.compat import UTC
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.timeline_pane import TimelinePane
from tests.pilot_wait import settle, wait_for

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shown_text(pane: TimelinePane) -> str:
    """The timeline's lines inside its viewport, as drawn."""
    region = Region(0, 0, pane.size.width, pane.size.height)
    return "\n".join(strip.text for strip in pane.render_lines(region))


def at_end(pane: TimelinePane) -> bool:
    return pane.max_scroll_y > 0 and pane.scroll_offset.y >= pane.max_scroll_y


@pytest.mark.parametrize("other", ["1", "4", "5"])
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_follows_after_another_pane_was_zoomed(
    tmp_path: Path, other: str, size: tuple[int, int]
) -> None:
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    for number in range(30):
        log.append("note", f"before {number}", author="bob")
    app = CockpitApp(path, author="alice", clock=lambda: NOW, probes=False)
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(TimelinePane)
        await wait_for(pilot, "the log drawn", lambda: pane.drawn and at_end(pane), 10)
        await pilot.press(other)
        assert app.screen.maximized is not None
        for number in range(40):
            log.append("note", f"while zoomed {number} " + "word " * 12, author="dave")
        await wait_for(pilot, "entries read", lambda: len(pane.entries) == 70, 10)
        await wait_for(pilot, "entries drawn", lambda: not pane.drawing, 10)
        await pilot.press("escape")
        assert app.screen.maximized is None
        assert await settle(pilot, lambda: "while zoomed 39 " in shown_text(pane)), shown_text(pane)
        assert at_end(pane)
        # And it goes on following what comes next.
        log.append("note", "after the zoom", author="erin")
        assert await settle(pilot, lambda: "after the zoom" in shown_text(pane)), shown_text(pane)
        assert at_end(pane)


async def test_the_pulse_runs_only_while_the_log_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading thread's pulse (10 ms on the screen's thread) stops once the log is read,
    so an idle screen does not wake 100 times a second; a new entry wakes it for its read and
    it stops again."""
    beats: list[float] = []
    beat = TimelinePane._beat

    def counted(pane: TimelinePane) -> None:
        beats.append(time.monotonic())
        beat(pane)

    monkeypatch.setattr(TimelinePane, "_beat", counted)  # before the timer takes it
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    for number in range(30):
        log.append("note", f"before {number}", author="bob")
    app = CockpitApp(path, author="alice", clock=lambda: NOW, probes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TimelinePane)
        await wait_for(pilot, "the log drawn", lambda: pane.drawn, 10)
        await wait_for(pilot, "the pulse stopped", lambda: not pane.pulsing, 10)
        before = len(beats)
        await pilot.pause(1.0)
        # Idle: a look every 0.5 s may start a short read with its pulse (a few beats);
        # a pulse that ran all along would beat about 100 times.
        assert len(beats) - before < 20, len(beats) - before
        woken: list[bool] = []
        original = pane._wake

        def wake() -> None:
            original()
            woken.append(pane.pulsing)

        pane._wake = wake  # type: ignore[method-assign]
        log.append("note", "a new entry", author="erin")
        await wait_for(pilot, "the new entry read", lambda: len(pane.entries) == 31, 10)
        assert woken and all(woken)  # the read ran with the pulse on
        await wait_for(pilot, "the pulse stopped again", lambda: not pane.pulsing, 10)
