"""`cockpit replay`: the replay clock, the probe board, and the replay screen on a real log."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cockpit.compat import UTC
from cockpit.incident.entry import Entry
from cockpit.incident.replay import ReplayClock, entries_until, next_entry_time, probe_board
from cockpit.model import Status
from cockpit.ui.header import IncidentHeader
from cockpit.ui.probe_board_pane import ProbeBoardPane
from cockpit.ui.replay_app import ReplayApp
from tests.conftest import run_cockpit
from tests.test_export_md import read_golden_log

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


class Wall:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def entry(seq: int, minutes: float, kind: str = "note", **data: object) -> Entry:
    return Entry(seq, T0 + timedelta(minutes=minutes), "a", {}, kind, f"e{seq}", data)


def test_the_clock_runs_at_speed_pauses_and_stops_at_the_end() -> None:
    wall = Wall()
    clock = ReplayClock(T0, T0 + timedelta(hours=1), speed=60, wall=wall)
    assert clock.now() == T0
    wall.seconds += 10
    assert clock.now() == T0 + timedelta(minutes=10)
    clock.toggle_pause()
    wall.seconds += 100
    assert clock.now() == T0 + timedelta(minutes=10) and clock.paused
    clock.toggle_pause()
    assert clock.faster() == 120
    wall.seconds += 5
    assert clock.now() == T0 + timedelta(minutes=20)
    assert clock.slower() == 60 and clock.slower() == 30
    wall.seconds += 10_000
    assert clock.now() == T0 + timedelta(hours=1) and clock.finished
    clock.jump_to(T0 - timedelta(days=1))
    assert clock.now() == T0
    with pytest.raises(ValueError):
        ReplayClock(T0, T0, speed=0, wall=wall)


def test_entries_until_and_next_entry() -> None:
    entries = [entry(1, 0), entry(2, 5), entry(3, 5), entry(4, 30)]
    assert [e.seq for e in entries_until(entries, T0 + timedelta(minutes=5))] == [1, 2, 3]
    assert entries_until(entries, T0 - timedelta(seconds=1)) == []
    assert next_entry_time(entries, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=30)
    assert next_entry_time(entries, T0 + timedelta(minutes=30)) is None
    shuffled = [entry(1, 10), entry(2, 0)]  # a clock step on one writer: still by time
    assert [e.seq for e in entries_until(shuffled, T0 + timedelta(minutes=1))] == [2]


def test_the_probe_board_keeps_the_latest_per_subject_worst_first() -> None:
    entries = [
        entry(1, 0, "probe", area="dns", subject="MX", status="fail", dedupe_key="dns|r1|MX"),
        entry(2, 1, "probe", area="dns", subject="MX", status="ok", dedupe_key="dns|r1|MX"),
        entry(3, 2, "probe", area="dns", subject="A", status="warn", dedupe_key="dns|r2|A"),
        entry(4, 3, "probe", area="dns", subject="SPF"),  # no status: unknown, never ok
        entry(5, 4, "probe", area="queue", subject="q", status="fail"),
        entry(6, 5, "note", area="dns", status="fail"),
    ]
    rows = probe_board(entries, "dns")
    assert [(r.subject, r.status) for r in rows] == [
        ("A", Status.WARN),
        ("SPF", Status.UNKNOWN),
        ("MX", Status.OK),
    ]
    assert [r.subject for r in probe_board(entries, "queue")] == ["q"]
    assert probe_board(entries, "auth") == []


@pytest.mark.anyio
async def test_the_replay_screen_plays_the_golden_incident(tmp_path: Path) -> None:
    entries, problems = read_golden_log("full_incident")
    assert not problems
    wall = Wall()
    app = ReplayApp(tmp_path / "full_incident.jsonl", entries, speed=60, wall=wall)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.shown == 1
        header = app.query_one(IncidentHeader)
        assert "REPLAY" in str(header.render())
        wall.seconds += 3  # x60: three incident minutes
        await pilot.pause(0.4)
        assert 1 < app.shown < len(entries)
        shown_before = app.shown
        await pilot.press("space")  # pause
        wall.seconds += 600
        await pilot.pause(0.4)
        assert app.shown == shown_before
        await pilot.press("n")  # the next entry, even while paused
        await pilot.pause(0.1)
        assert app.shown > shown_before
        await pilot.press("space")
        wall.seconds += 3600
        await pilot.pause(0.4)
        assert app.shown == len(entries)
        assert header.phase == "closed"
        board = app.query_one("#queue", ProbeBoardPane)
        assert board is not None
        lines = "\n".join(line.text for line in app.query_one("#timeline").lines)
        assert "Fail over MX to eu-central" in lines
        assert app.sub_title == "end of the log"


def test_replay_refuses_a_missing_or_empty_log(tmp_path: Path) -> None:
    done = run_cockpit("replay", str(tmp_path / "none.jsonl"))
    assert done.returncode != 0 and "no such incident log" in done.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    done = run_cockpit("replay", str(empty))
    assert done.returncode != 0 and "no entries to replay" in done.stderr
    done = run_cockpit("replay", str(empty), "--speed", "0")
    assert done.returncode != 0 and "--speed 0" in done.stderr
