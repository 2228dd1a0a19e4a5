"""The header's status line at every size: severity, phase, target and READ-ONLY always in view
(60 to 250 columns), shortened in a fixed order; T+ on the impact's own minute."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.geometry import Region

from cockpit.compat import UTC
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.header import IncidentHeader, next_change_seconds
from tests.pilot_wait import settle

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)
DRILL_TITLE = "DRILL: the primary mail region is down (practice incident)"
ESSENTIAL = ("SEV2", "declared", "target secondary", "READ-ONLY")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_incident(path: Path, title: str = DRILL_TITLE) -> None:
    log = IncidentLog(path)
    log.append("system", "title set", {"event": "title", "title": title}, author="bob")
    log.append(
        "phase", "impact", {"phase": "impact", "at": "2026-11-27T14:00:00.000Z"}, author="bob"
    )
    log.append(
        "phase", "declared", {"phase": "declared", "at": "2026-11-27T14:10:00.000Z"}, author="bob"
    )
    log.append("system", "severity", {"event": "severity", "severity": "SEV2"}, author="bob")
    log.append(
        "system",
        "role",
        {"event": "role", "role": "commander", "holder": "carolina"},
        author="carolina",
    )
    log.append("decision", "Fail over", {"why": "down", "target_region": "secondary"}, author="bob")


def shown_lines(header: IncidentHeader) -> list[str]:
    """What the header draws in the rows it was given (not what it would like to draw)."""
    region = Region(0, 0, header.size.width, header.size.height)
    return [strip.text for strip in header.render_lines(region)]


def viewer(path: Path, author: str = "a-rather-long-responder-name") -> CockpitApp:
    return CockpitApp(
        path, author=author, clock=lambda: NOW, probes=False, read_only=True, drill=True
    )


async def check_widths(path: Path, widths: list[int], height: int) -> None:
    app = viewer(path)
    async with app.run_test(size=(widths[0], height)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: "SEV2" in "".join(shown_lines(header)))
        for width in widths:
            await pilot.resize_terminal(width, height)
            assert await settle(pilot, lambda w=width: header.size.width == w)  # type: ignore[misc]
            await pilot.pause()
            lines = shown_lines(header)
            status = lines[-1]
            for word in ESSENTIAL:
                assert word in status, (width, lines)
            assert all(len(line) <= width for line in lines)
            assert "DRILL" in lines[0], (width, lines)
            if width >= 120:
                assert "T+0:30" in status and "cmd carolina" in status, (width, lines)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 35), (200, 50)])
async def test_status_line_at_the_usual_sizes(tmp_path: Path, size: tuple[int, int]) -> None:
    write_incident(tmp_path / "inc.jsonl")
    await check_widths(tmp_path / "inc.jsonl", [size[0]], size[1])


async def test_status_line_at_every_width_from_60_to_250(tmp_path: Path) -> None:
    """110 to 149 columns (the title and the status line nearly fit side by side) included."""
    write_incident(tmp_path / "inc.jsonl")
    widths = [*range(60, 110, 7), *range(110, 150), *range(150, 251, 9)]
    await check_widths(tmp_path / "inc.jsonl", widths, 30)


async def test_shortening_order_keeps_the_essentials(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = viewer(tmp_path / "inc.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: header.severity == "SEV2")
        full = str(header.status_text(width=250))
        assert full == (
            "SEV2 | declared | target secondary | cmd carolina | 14:30 UTC | T+0:30"
            " | @a-rather-long-responder-name READ-ONLY"
        )
        assert str(header.status_text(width=72)) == (
            "SEV2|declared|target secondary|cmd carolina|14:30 UTC|T+0:30|READ-ONLY"
        )
        assert str(header.status_text(width=62)) == (
            "SEV2|declared|target secondary|cmd carolina|T+0:30|READ-ONLY"
        )
        assert str(header.status_text(width=46)) == "SEV2|declared|target secondary|READ-ONLY"


async def test_a_line_that_grows_after_layout_keeps_its_status(tmp_path: Path) -> None:
    """T+ gaining a digit (9:59 to 10:00) is not a layout change Textual knows of: the header
    asks for its second row itself, and a one-row header never gives up the status line."""
    write_incident(tmp_path / "inc.jsonl", title="Short")
    moments = [NOW]
    app = CockpitApp(
        tmp_path / "inc.jsonl",
        author="alice",
        clock=lambda: moments[-1],
        probes=False,
        read_only=True,
    )
    async with app.run_test(size=(100, 24)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: header.severity == "SEV2")
        await pilot.pause()
        # Find the width where the line just fits on one row, then let T+ grow by two digits.
        line_width = header._title().cell_len + 2 + header.status_text(as_loaded=True).cell_len
        await pilot.resize_terminal(line_width, 24)
        assert await settle(pilot, lambda: header.size == (line_width, 1))
        header.show_now(NOW + timedelta(hours=24))
        assert await settle(pilot, lambda: header.size.height == 2)
        status = shown_lines(header)[-1]
        for word in ESSENTIAL:
            assert word in status
        assert "T+1d 0:30" in status


def test_next_change_follows_the_impact_minute() -> None:
    impact = datetime(2026, 11, 27, 14, 0, 30, tzinfo=UTC)
    # 14:01:29: T+ turns 0:01 at 14:01:30, before the wall clock's 14:02.
    assert next_change_seconds(impact + timedelta(seconds=59), impact) == pytest.approx(1.01)
    # Just past a T+ boundary: the wall clock's minute comes first.
    assert next_change_seconds(impact + timedelta(seconds=81), impact) == pytest.approx(9.01)
    # No impact: the wall clock's minute, never more than 10 s at a time.
    assert next_change_seconds(NOW, None) == pytest.approx(10.0)
    assert next_change_seconds(NOW + timedelta(seconds=55), None) == pytest.approx(5.01)


async def test_t_plus_turns_on_the_impact_minute_not_the_wall_minute(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    log.append(
        "phase", "impact", {"phase": "impact", "at": "2026-11-27T14:00:30.000Z"}, author="bob"
    )
    moments = [datetime(2026, 11, 27, 14, 1, 29, 500000, tzinfo=UTC)]
    app = CockpitApp(path, author="alice", clock=lambda: moments[-1], probes=False)
    async with app.run_test(size=(120, 24)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: "T+0:00" in str(header.render()))
        # The wall clock is still in minute 14:01; 30 s after the impact's minute it is T+0:01.
        moments.append(datetime(2026, 11, 27, 14, 1, 30, 10000, tzinfo=UTC))
        assert await settle(pilot, lambda: "T+0:01" in str(header.render()), seconds=1.5)


async def test_while_loading_the_line_still_says_read_only_at_60_columns(tmp_path: Path) -> None:
    """The header says "loading" in words; Textual's loading indicator never covers it."""
    write_incident(tmp_path / "inc.jsonl")
    app = viewer(tmp_path / "inc.jsonl")
    async with app.run_test(size=(60, 20)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: header.severity == "SEV2")
        header.loading = "log unreadable"
        await pilot.pause()
        assert header.size.width == 60
        status = shown_lines(header)[-1]
        assert "log unreadable" in status and "READ-ONLY" in status, status


async def test_ascii_mode_cuts_the_header_with_ascii_only(tmp_path: Path) -> None:
    """--ascii: the title cut at 60 columns ends in "...", never in Rich's one-cell ellipsis."""
    path = tmp_path / "incident.jsonl"
    write_incident(path)
    app = CockpitApp(
        path, author="bob", clock=lambda: NOW, probes=False, drill=True, ascii_only=True
    )
    async with app.run_test(size=(60, 20)) as pilot:
        header = app.query_one(IncidentHeader)
        assert await settle(pilot, lambda: "SEV2" in "".join(shown_lines(header)))
        lines = shown_lines(header)
        assert all(line.isascii() for line in lines), lines
        assert lines[0].rstrip().endswith("..."), lines  # the drill title is cut
