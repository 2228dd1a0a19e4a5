"""The canary lines (issue 14): the latest run per canary with its round trip, verdicts and a
small history; a canary not run yet waits (never ok); hostile text stays literal; the region
strip counts a failed canary, so an "up" region never hides a message that did not arrive."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from textual.app import App, ComposeResult

from cockpit.canary.board import HISTORY, CanaryBoard
from cockpit.compat import UTC
from cockpit.model import Finding, Status
from cockpit.region_status import region_rows
from cockpit.ui.canary_pane import CanaryPane, history_bars
from cockpit.ui.pane_text import status_style
from cockpit.ui.themes import status_variable_defaults

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run(
    name: str,
    direction: str,
    status: Status,
    seconds: float | None,
    *,
    summary: str = "arrived",
    at: datetime = NOW,
    region: str = "secondary",
    verdicts: dict[str, Status] | None = None,
) -> list[Finding]:
    data = {"round_trip_s": seconds, "folder": "INBOX" if seconds is not None else None}
    found = [Finding("canary", direction, name, status, summary, region, None, data, at)]
    for check, verdict in (verdicts or {}).items():
        found.append(Finding("canary", check, name, verdict, check, region, None, {}, at))
    return found


class Host(App[None]):
    def __init__(self, names: tuple[str, ...], *, ascii_only: bool = False) -> None:
        super().__init__()
        self.names = names
        self.ascii_only = ascii_only

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return status_variable_defaults()

    def compose(self) -> ComposeResult:
        yield CanaryPane(self.names, ascii_only=self.ascii_only, id="canaries")


OK_VERDICTS = {"dkim": Status.OK, "spf": Status.OK, "dmarc": Status.OK, "path": Status.OK}


async def test_each_canary_shows_its_latest_run_and_one_not_run_yet_waits() -> None:
    board = CanaryBoard()
    for seconds in (2.0, 4.0, None, 3.0):
        status = Status.FAIL if seconds is None else Status.OK
        board.took("eu-in", run("eu-in", "inbound", status, seconds, verdicts=OK_VERDICTS))
    app = Host(("eu-in", "eu-out"))
    async with app.run_test(size=(120, 10)) as pilot:
        pane = app.query_one(CanaryPane)
        pane.show_rows(board.rows(), NOW + timedelta(minutes=2))
        await pilot.pause()
        text = pane.render().plain
    lines = text.splitlines()
    assert lines[0] == "canaries"
    # The worst first: the canary not run yet (unknown) comes before the one that is ok.
    assert lines[2].startswith("✓ ok eu-in") and "inbound" in lines[2] and "3.0 s" in lines[2]
    assert "DKIM ✓" in lines[2] and "path ✓" in lines[2] and "2 min ago" in lines[2]
    assert "▅█x▆" in lines[2]  # 2, 4, did not arrive, 3 (scaled to the slowest)
    assert "eu-out" in lines[1] and "waiting for its first run" in lines[1]
    assert "ok" not in lines[1].replace("eu-out", "")


async def test_a_failed_run_says_why_and_shows_no_verdicts_it_did_not_make() -> None:
    board = CanaryBoard()
    board.took("eu-in", run("eu-in", "inbound", Status.OK, 2.0, verdicts=OK_VERDICTS))
    hostile = "not arrived \x1b[31m[bold red]within[/] 120 s"
    board.took("eu-in", run("eu-in", "inbound", Status.FAIL, None, summary=hostile))
    app = Host(("eu-in",), ascii_only=True)
    async with app.run_test(size=(160, 6)) as pilot:
        pane = app.query_one(CanaryPane)
        pane.show_rows(board.rows(), NOW)
        await pilot.pause()
        line = pane.render().plain.splitlines()[1]
    assert line.startswith("X fail eu-in")
    assert "DKIM -" in line and "DMARC -" in line  # the old run's verdicts are not shown
    assert "[bold red]within[/]" in line and "\x1b" not in line  # literal, no escape
    assert line.split(" * ")[0].isascii()  # glyphs, bars and bullet (the data is cleaned)


async def test_an_ok_run_that_found_late_messages_says_so_in_the_warn_colour() -> None:
    board = CanaryBoard()
    findings = run("eu-in", "inbound", Status.OK, 2.0, verdicts=OK_VERDICTS)
    for token in ("eu-in-0123456789abcdef0123", "eu-in-3210fedcba9876543210"):
        findings.append(Finding("canary", "late", token, Status.WARN, "late", None, None, {}, NOW))
    board.took("eu-in", findings)
    app = Host(("eu-in",))
    async with app.run_test(size=(160, 6)) as pilot:
        pane = app.query_one(CanaryPane)
        pane.show_rows(board.rows(), NOW)
        await pilot.pause()
        rendered = pane.render()
        warn = status_style(pane, Status.WARN)
    line = rendered.plain.splitlines()[1]
    assert line.startswith("✓ ok eu-in") and line.endswith(" • 2 earlier messages arrived late")
    start = rendered.plain.index("2 earlier")
    styles = [span.style for span in rendered.spans if span.start <= start < span.end]
    assert warn and styles[-1] == warn  # over the line's own (ok) colour


def test_the_history_keeps_the_last_runs_and_marks_the_missed_ones() -> None:
    board = CanaryBoard()
    for index in range(HISTORY + 5):
        seconds = None if index % 4 == 0 else float(index)
        board.took("x", run("x", "outbound", Status.OK, seconds))
    (row,) = board.rows()
    assert len(row.history) == HISTORY
    assert row.history[-1] is None and row.history[-2] == float(HISTORY + 3)
    assert history_bars([None, 0.0, 1.0], ascii_only=True) == "x.@"
    assert history_bars([0.0, 0.0]) == "▁▁"


def test_a_failed_canary_makes_an_up_region_not_ok() -> None:
    smtp = Finding(
        "service", "smtp", "mx:25", Status.OK, "ok", "secondary", None, {"mx": True}, NOW
    )
    canary = run("eu-in", "inbound", Status.FAIL, None, summary="not arrived")
    (row,) = region_rows(("secondary",), [smtp, *canary], now=NOW)
    assert row.state == "up" and row.canary is not None
    assert row.status is Status.FAIL


def test_a_line_with_late_messages_counts_as_warn_when_lines_are_ordered_or_hidden() -> None:
    board = CanaryBoard()
    board.took("a-in", run("a-in", "inbound", Status.OK, 2.0, verdicts=OK_VERDICTS))
    findings = run("b-in", "inbound", Status.OK, 2.0, verdicts=OK_VERDICTS)
    findings.append(Finding("canary", "late", "b-in-" + "0" * 20, Status.WARN, "", None, None, {}))
    board.took("b-in", findings)
    pane = CanaryPane(("a-in", "b-in"))
    pane.rows = board.rows()
    # First, so that a short pane hides the plain ok line rather than this one.
    assert [name for name, _ in pane.ordered()] == ["b-in", "a-in"]
