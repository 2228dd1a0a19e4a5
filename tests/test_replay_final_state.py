"""`cockpit replay` of a finished incident shows its final state as it was: resolvers named,
statuses as logged (a resolver's region answer judged against the target decided by then),
the converged records at the top of the board."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from cockpit.compat import UTC
from cockpit.incident.entry import Entry
from cockpit.incident.replay import probe_board
from cockpit.model import Status
from cockpit.ui.probe_board_pane import ProbeBoardPane
from cockpit.ui.replay_app import ReplayApp

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
MX = "example.com MX"
AUTHORITATIVE = "authoritative 127.0.0.53:53"


class Wall:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def entry(seq: int, minutes: float, kind: str, text: str, **data: Any) -> Entry:
    return Entry(seq, T0 + timedelta(minutes=minutes), "a", {}, kind, text, data)


def answer(seq: int, minutes: float, resolver: str, region: str, subject: str = MX) -> Entry:
    return entry(
        seq,
        minutes,
        "probe",
        f"{resolver} now answers {region} for {subject}",
        area="dns",
        event="resolver_region_changed",
        status=None,
        subject=subject,
        server=resolver,
        evidence={"after": {"verdict": "region", "region": region}},
        dedupe_key=f"dns|resolver|{subject}|{resolver}",
    )


def served(seq: int, minutes: float, subject: str = MX) -> Entry:
    return entry(
        seq,
        minutes,
        "probe",
        f"{AUTHORITATIVE} now serves mx1.secondary.example.com (secondary) for {subject}",
        area="dns",
        event="authoritative_changed",
        status=None,
        subject=subject,
        server=AUTHORITATIVE,
        evidence={"after": {"outcome": "answer", "answers": ["10 mx1.secondary.example.com"]}},
        dedupe_key=f"dns|authoritative|{subject}|{AUTHORITATIVE}",
    )


def converged(seq: int, minutes: float, subject: str = MX) -> Entry:
    return entry(
        seq,
        minutes,
        "probe",
        f"{subject} fully converged: all 2 resolvers give the target answer",
        area="dns",
        event="record_converged",
        status="ok",
        subject=subject,
        server=None,
        evidence={"target": "secondary"},
        dedupe_key=f"dns|record|{subject}|",
    )


def finished_incident() -> list[Entry]:
    return [
        entry(1, 0, "phase", "impact", phase="impact"),
        answer(2, 1, "r-early", "primary", "autodiscover.example.com CNAME"),
        entry(3, 2, "decision", "Fail over", why="down", target_region="secondary"),
        served(4, 3),
        answer(5, 4, "r1", "secondary"),
        answer(6, 5, "r2", "secondary"),
        converged(7, 6),
        served(8, 7, "imap.example.com A"),
        answer(9, 8, "r3", "primary", "imap.example.com A"),
        entry(10, 9, "phase", "verified", phase="verified"),
        entry(11, 10, "phase", "closed", phase="closed"),
    ]


def test_the_board_names_resolvers_and_judges_region_answers_against_the_target() -> None:
    rows = probe_board(finished_incident(), "dns")
    by_name = {row.name: row for row in rows}
    assert by_name[f"{MX} via r1"].status is Status.OK
    assert by_name[f"{MX} via r1"].why == "answers the target secondary"
    assert by_name[f"{MX} via r2"].status is Status.OK
    # The authoritative change carries no verdict; its record converged after it.
    assert by_name[f"{MX} via {AUTHORITATIVE}"].status is Status.OK
    assert by_name[MX].status is Status.OK
    # Against the target: an answer for the old region is a warning, not ok nor unknown.
    assert by_name["imap.example.com A via r3"].status is Status.WARN
    # Nothing to judge by: still unknown (no target decided yet; no convergence logged).
    assert by_name["autodiscover.example.com CNAME via r-early"].status is Status.UNKNOWN
    assert by_name[f"imap.example.com A via {AUTHORITATIVE}"].status is Status.UNKNOWN
    # No subject logged ok shows a "? unknown" row.
    ok_subjects = {row.subject for row in rows if row.logged and row.status is Status.OK}
    assert not [r for r in rows if r.subject in ok_subjects and r.status is Status.UNKNOWN]
    # Worst first; within a status, newest first: the converged record leads the oks.
    assert [row.status for row in rows] == sorted(
        (row.status for row in rows), key=lambda status: -status.severity
    )
    first_ok = next(row for row in rows if row.status is Status.OK)
    assert first_ok.name == MX


def test_a_resolver_answer_before_any_decision_is_unknown_not_ok() -> None:
    (row,) = probe_board([answer(1, 0, "r1", "primary")], "dns")
    assert row.status is Status.UNKNOWN and row.why == ""


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_replay_ends_on_the_final_state(tmp_path: Path, size: tuple[int, int]) -> None:
    wall = Wall()
    entries = finished_incident()
    app = ReplayApp(tmp_path / "done.jsonl", entries, speed=60, wall=wall)
    async with app.run_test(size=size) as pilot:
        wall.seconds += 3600
        await pilot.pause(0.5)
        assert app.shown == len(entries)
        board = app.query_one("#dns", ProbeBoardPane)
        table = board.query_one(DataTable)
        cells = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        subjects = [row[1] for row in cells]
        assert f"{MX} via r1" in subjects and f"{MX} via {AUTHORITATIVE}" in subjects
        mx_rows = [row for row in cells if row[1].startswith(MX)]
        assert all("ok" in row[0] and "unknown" not in row[0] for row in mx_rows), mx_rows
        # The converged record is the first ok row, and it is on screen without scrolling.
        first_ok = next(index for index, row in enumerate(cells) if "ok" in row[0])
        assert subjects[first_ok] == MX
        await pilot.press("2")  # the DNS pane zoomed: its rows as the user sees them
        await pilot.pause(0.2)
        assert table.scroll_offset.y == 0
        assert first_ok + 1 < table.scrollable_content_region.height


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_replay_timeline_wraps_to_its_pane_at_80_columns(tmp_path: Path) -> None:
    """No line is wider than the pane (RichLog's default min_width would cut them at 78)."""
    wall = Wall()
    entries = finished_incident()
    app = ReplayApp(tmp_path / "done.jsonl", entries, speed=60, wall=wall)
    async with app.run_test(size=(80, 24)) as pilot:
        wall.seconds += 3600
        await pilot.pause(0.5)
        timeline = app.query_one("#timeline")
        width = timeline.scrollable_content_region.width
        assert max(strip.cell_length for strip in timeline.lines) <= width
        shown = " ".join(" ".join(strip.text.split()) for strip in timeline.lines)
        assert f"for {MX}" in shown and "[closed]" in shown
