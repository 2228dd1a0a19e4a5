"""No pane looks all green while it hides a row that is not (issue 15): the worst rows come
first, a frame too small for its table says on its bottom border how many rows it shows and
the worst it hides, a status word is shown whole or as its glyph alone, the first column stays
pinned, and zooming out scrolls a table back to its start.

The pilot tests run the real cockpit with the snapshot data at 60x20, 80x24, 120x35 and
200x50, and read what is on the screen (tests.test_ui_snapshots.screen_lines), not only what
the panes say they show.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from cockpit.canary.board import CanaryBoard
from cockpit.compat import UTC
from cockpit.glyphs import ASCII, UNICODE
from cockpit.hidden_rows import (
    Hidden,
    HiddenItem,
    merge,
    status_cut,
    status_of_text,
    summary_text,
    worst_first,
)
from cockpit.model import Finding, Status
from cockpit.ui.app import CockpitApp
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.canary_pane import CanaryPane
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.pane_text import StatusPane
from cockpit.ui.queue_pane import QueuePane
from cockpit.ui.themes import status_variable_defaults
from tests.pilot_wait import settle
from tests.test_ui_snapshots import fill_panes, make_app, screen_lines

SIZES = [(60, 20), (80, 24), (120, 35), (200, 50)]
PANES = {"queue": QueuePane, "dns": DnsPane, "auth": AuthPane}
WORDS = [mark.word for mark in UNICODE.status.values()]
GLYPHS = "".join(mark.glyph for mark in UNICODE.status.values())
FRAGMENT = re.compile(
    "["
    + re.escape(GLYPHS)
    + "] ("
    + "|".join(re.escape(word[:n]) for word in WORDS for n in range(1, len(word)))
    + ")(?![a-z])"
)
"""A glyph, a space, then a word cut short ("! war"): never on screen."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the pure part ---------------------------------------------------------------------------


def test_worst_first_is_stable_within_a_status() -> None:
    rows = [("a", Status.OK), ("b", Status.WARN), ("c", Status.UNKNOWN), ("d", Status.WARN)]
    rows += [("e", Status.FAIL), ("f", Status.OK)]
    ordered = worst_first(rows, lambda row: row[1])
    assert [name for name, _ in ordered] == ["e", "b", "d", "c", "a", "f"]


def test_status_of_text_reads_the_label_a_cell_starts_with() -> None:
    assert status_of_text("! warn 1/3 33%") is Status.WARN
    assert status_of_text("? unknown") is Status.UNKNOWN
    assert status_of_text("X fail", ascii_only=True) is Status.FAIL
    assert status_of_text("MX @") is None
    assert status_of_text("! warning") is None  # not a label, a longer word


def test_the_summary_names_the_count_and_the_worst_hidden_row() -> None:
    hidden = Hidden(
        "records",
        2,
        14,
        (HiddenItem(Status.OK, "A webmail"), HiddenItem(Status.WARN, "MX @ 1/4 25%")),
    )
    assert hidden.worst == HiddenItem(Status.WARN, "MX @ 1/4 25%")
    assert summary_text(hidden, 80) == "2 of 14 records shown, worst: ! warn MX @ 1/4 25%"
    # Narrower: shorter words before the count, so that the subject keeps 8 characters.
    assert summary_text(hidden, 40) == "2/14 records, worst: ! warn MX @ 1/4 25%"
    assert summary_text(hidden, 30) == "2/14 ! warn MX @ 1/4 25%"
    assert summary_text(hidden, 20) == "2/14 ! warn MX @ 1/…"
    assert summary_text(hidden, 20, ascii_only=True) == "2/14 ! warn MX @..."
    assert summary_text(hidden, 12) == "2/14 ! warn"
    assert summary_text(hidden, 6) == "2/14 !"
    assert summary_text(hidden, 1) == "!"


def test_the_summary_never_cuts_a_status_word_at_any_width() -> None:
    for status in Status:
        for ascii_only in (False, True):
            glyphs = ASCII if ascii_only else UNICODE
            mark = glyphs.status[status]
            hidden = Hidden("sources", 1, 3, (HiddenItem(status, "relay-us"),))
            for width in range(1, 70):
                text = summary_text(hidden, width, ascii_only=ascii_only)
                assert len(text) <= width, (width, text)
                assert mark.glyph in text, (width, text)
                words = [w for w in WORDS if w in text.split()]
                assert words in ([], [mark.word]), (width, text)
                assert not FRAGMENT.search(text), (width, text)


def test_columns_are_counted_when_every_row_shows() -> None:
    hidden = Hidden("regions", 2, 2, (HiddenItem(Status.UNKNOWN, "primary SMTP TLS"),), 7, 11)
    assert summary_text(hidden, 80) == ("7 of 11 columns shown, worst: ? unknown primary SMTP TLS")
    nothing = Hidden("regions", 2, 2)
    assert not nothing.anything and merge([nothing]) is None
    rows_only = Hidden("sources", 1, 3)
    assert summary_text(rows_only, 40) == "1 of 3 sources shown"


def test_merge_adds_the_rows_of_the_widgets_in_one_pane() -> None:
    table = Hidden("regions", 2, 2)
    canaries = Hidden("canaries", 1, 3, (HiddenItem(Status.FAIL, "eu-in"),))
    merged = merge([table, canaries])
    assert merged is canaries  # only one hides anything: its own words
    both = merge([Hidden("regions", 1, 2, (HiddenItem(Status.OK, "x"),)), canaries])
    assert both is not None and (both.shown, both.total) == (2, 5)
    assert both.worst == HiddenItem(Status.FAIL, "eu-in")


def test_a_cut_status_label_becomes_its_glyph() -> None:
    # "! warn secondary": seen from 0 to 4 ("! wa") -> "!" then blanks over the label's part.
    assert status_cut("! warn secondary", 0, 4) == (0, "!   ")
    # Seen from 3 ("arn secondary"): the glyph where the label's visible part begins.
    assert status_cut("! warn secondary", 3, 16) == (3, "!  ")
    assert status_cut("! warn secondary", 0, 6) is None  # the label whole
    assert status_cut("! warn secondary", 8, 16) is None  # the label out of view
    assert status_cut("MX @", 0, 2) is None  # no label
    assert status_cut("X fail", 0, 3, ascii_only=True) == (0, "X  ")


# --- the cockpit at every size -----------------------------------------------------------------


def frame_lines(app: CockpitApp, lines: list[str], name: str) -> tuple[list[str], str]:
    """The inside of one pane's frame on the screen, and its bottom border."""
    region = app.pane(name).region
    inside = [
        line.ljust(region.right)[region.x + 1 : region.right - 1]
        for line in lines[region.y + 1 : region.bottom - 1]
    ]
    return inside, lines[region.bottom - 1][region.x : region.right]


def row_status(table: DataTable[Text], index: int) -> Status:
    statuses = [
        status_of_text(cell.plain if isinstance(cell, Text) else str(cell))
        for cell in table.get_row_at(index)
    ]
    found = [status for status in statuses if status is not None]
    return max(found, key=lambda status: status.severity)


async def settled_screen(app: CockpitApp, pilot: object, size: tuple[int, int]) -> list[str]:
    """The screen once every pane has said what it hides for its current layout."""
    await pilot.pause()  # type: ignore[attr-defined]
    panes = list(app.query(StatusPane))
    for pane in panes:
        pane.refresh_hidden()
    await settle(pilot, lambda: not any(p._hidden_pending for p in panes))  # type: ignore[arg-type]
    await pilot.pause()  # type: ignore[attr-defined]
    return screen_lines(app.export_screenshot(), size)


@pytest.mark.anyio
@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_every_pane_says_what_it_hides_at_every_size(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await fill_panes(pilot)
        lines = await settled_screen(app, pilot, size)
        screen = "\n".join(lines)
        for name, pane_type in PANES.items():
            pane = app.query_one(pane_type)
            table = pane.query_one(DataTable)
            inside, border = frame_lines(app, lines, name)
            # Worst first, and the first column pinned.
            severities = [row_status(table, i).severity for i in range(table.row_count)]
            assert severities == sorted(severities, reverse=True), (name, severities)
            assert table.fixed_columns >= 1
            # What is on the screen: the rows whose first cell shows in the frame.
            first = [
                table.get_cell_at((i, 1 if name == "queue" else 0)) for i in range(table.row_count)
            ]
            seen = [
                i
                for i, cell in enumerate(first)
                if any(f" {cell.plain} " in f" {line} " for line in inside)
            ]
            hidden_statuses = [
                row_status(table, i) for i in range(table.row_count) if i not in seen
            ]
            hidden = pane.hidden
            assert hidden is not None, name
            assert hidden.total == table.row_count
            assert hidden.shown <= len(seen), (name, hidden, seen, inside)
            for status in hidden_statuses:  # every hidden row is among the hidden items
                assert any(item.status is status for item in hidden.items), (name, hidden)
            worst_hidden = hidden.worst
            if worst_hidden is not None and worst_hidden.status is not Status.OK:
                glyph = UNICODE.status[worst_hidden.status].glyph
                summary = pane.summary_shown
                assert summary and summary in border, (name, summary, border)
                assert glyph in summary
                assert (
                    f"{hidden.shown}/{hidden.total}" in summary
                    or (f"{hidden.shown} of {hidden.total}" in summary)
                    or (hidden.columns_total is not None and f"{hidden.columns_shown}" in summary)
                ), (name, summary)
                assert worst_hidden.status.severity == max(
                    item.status.severity for item in hidden.items
                )
            elif not hidden.anything:
                assert pane.summary_shown == "" and "of" not in border
            assert not FRAGMENT.search("\n".join(inside)), (name, "\n".join(inside))
        assert not FRAGMENT.search(screen), screen


@pytest.mark.anyio
async def test_at_80x24_the_dns_frame_names_the_warning_it_hides(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_panes(pilot)
        lines = await settled_screen(app, pilot, (80, 24))
        inside, border = frame_lines(app, lines, "dns")
        assert "2/5 ! warn" in border, border
        assert "DMARC _dmarc" not in "\n".join(inside)  # hidden, and not ok
        # The queue shows every source, the worst first: nothing to say on its border.
        inside, border = frame_lines(app, lines, "queue")
        assert "! warn     relay-us" in inside[1] and "? unknown  mx1" in inside[2]
        assert "/" not in border


@pytest.mark.anyio
async def test_zooming_out_scrolls_a_table_back_and_the_first_column_stays(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await fill_panes(pilot)
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one(AuthPane).table
        table.scroll_to(x=30, animate=False, immediate=True)
        await pilot.pause()
        assert table.scroll_x > 0
        lines = await settled_screen(app, pilot, (60, 20))
        assert any(line.lstrip("│ ").startswith("secondary") for line in lines), lines
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None
        assert table.scroll_x == 0


class CanaryFrame(App[None]):
    """The canary lines in a framed, scrolling pane too short for them."""

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return status_variable_defaults()

    def compose(self) -> ComposeResult:
        pane = CanaryPane(("a-in", "b-in", "c-in", "d-in", "e-in"), id="canaries")
        yield VerticalScroll(pane, classes="pane", id="frame")

    CSS = "#frame { height: 5; border: round white; }"


@pytest.mark.anyio
async def test_canary_lines_worst_first_and_the_hidden_ones_counted() -> None:
    board = CanaryBoard()
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    for name, status in (("a-in", Status.OK), ("b-in", Status.OK), ("c-in", Status.FAIL)):
        board.took(
            name,
            [Finding("canary", "inbound", name, status, "x", "primary", None, {}, at)],
        )
    app = CanaryFrame()
    async with app.run_test(size=(60, 10)) as pilot:
        pane = app.query_one(CanaryPane)
        pane.show_rows(board.rows(), at)
        lines = await settled_screen(app, pilot, (60, 10))  # type: ignore[arg-type]
        text = pane.render().plain.splitlines()
        assert text[1].startswith("✗ fail c-in")  # the failure first
        assert text[2].startswith("? unknown d-in")  # then the ones not run yet
        hidden = pane.hidden
        assert hidden is not None and (hidden.shown, hidden.total) == (2, 5)
        assert hidden.worst is not None and hidden.worst.status is Status.UNKNOWN
        assert pane.summary_shown.startswith("2 of 5 canaries shown, worst: ? unknown")
        assert pane.summary_shown in lines[4], lines


@pytest.mark.anyio
@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf8", "ascii"])
async def test_a_cut_status_cell_shows_its_glyph_alone(tmp_path: Path, ascii_only: bool) -> None:
    """At 60x20 the auth table's DKIM column is cut after two characters: the secondary's
    failure shows as its glyph, never as "✗ f"; the frame's summary is ASCII under --ascii."""
    app = make_app(tmp_path, ascii_only=ascii_only)
    async with app.run_test(size=(60, 20)) as pilot:
        await fill_panes(pilot)
        lines = await settled_screen(app, pilot, (60, 20))
        inside, border = frame_lines(app, lines, "auth")
        glyph = (ASCII if ascii_only else UNICODE).status[Status.FAIL].glyph
        secondary = next(line for line in inside if line.lstrip().startswith("secondary"))
        assert secondary.rstrip().endswith(f"  {glyph}"), secondary
        assert f"{glyph} fail" in border, border  # the fail it cut is named below
        if ascii_only:  # the probe panes and their borders (the header is not theirs)
            for name in PANES:
                inside, border = frame_lines(app, lines, name)
                assert "\n".join([*inside, border]).isascii(), (name, inside, border)
