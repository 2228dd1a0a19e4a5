"""Snapshots of the cockpit screen (pytest-textual-snapshot), plus plain Pilot checks of what
must never be cut off.

Every snapshot runs the real CockpitApp with a frozen clock, no probes, an incident log written
with fixed timestamps, and hand-built DNS, queue, auth and checklist data (tests.snapshot_data).
The matrix: each theme at 80x24 and 160x48, then NO_COLOR, ASCII, the DNS pane zoomed and the
decision form, at 80x24.

Update after a deliberate change to the screen, then look at every changed SVG:
    .venv/bin/python -m pytest tests/test_ui_snapshots.py --snapshot-update
A failing run writes snapshot_report.html with the old and new screen side by side.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.terminal_theme import SVG_EXPORT_THEME
from textual.pilot import Pilot
from textual.widgets import Input

from cockpit.config import load_config_text
from cockpit.theme_data import load_themes
from cockpit.ui.app import PANES, CockpitApp
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.decision_form import DecisionForm
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.queue_pane import QueuePane
from cockpit.ui.region_strip import RegionStrip
from cockpit.ui.timeline_pane import TimelinePane
from tests import snapshot_data as data
from tests.dns_fakes import CONFIG_TEXT

THEMES = ("dark", "light", "high-contrast", "colorblind")
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
SMALL = SIZES["80x24"]
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_ui_snapshots"
SETTLE_SECONDS = 5.0

SnapCompare = Callable[..., bool]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(tmp_path: Path, *, theme: str = "dark", ascii_only: bool = False) -> CockpitApp:
    log_path = data.write_incident_log(tmp_path)
    return CockpitApp(
        log_path,
        author=data.AUTHOR,
        config=load_config_text(CONFIG_TEXT),
        theme_name=theme,
        theme_specs=load_themes(),
        ascii_only=ascii_only,
        clock=data.frozen_clock,
        probes=False,
    )


def _everything_shown(app: CockpitApp) -> bool:
    header = app.query_one(IncidentHeader)
    return (
        len(app.query_one(TimelinePane).entries) == len(data.incident_entries())
        and app.query_one(TimelinePane).drawn
        and header.title_text == data.TITLE
        and header.severity == data.SEVERITY
        and header.target_region == data.TARGET
    )


async def fill_panes(pilot: Pilot[None]) -> None:
    """Hand the panes their data, then wait (bounded) until the timeline has read the whole log
    and the header has taken it in: the snapshot must never catch a half-read log."""
    app = pilot.app
    assert isinstance(app, CockpitApp)
    sweep, queue_rows, auth_findings, checklist_findings = data.pane_data()
    app.query_one(DnsPane).show_sweep(sweep, data.TARGET)
    app.query_one(QueuePane).show_histories(queue_rows, data.NOW)
    app.query_one(AuthPane).show_findings(auth_findings)
    app.query_one(ChecklistPane).show_findings(checklist_findings, data.SWEEP_AT, data.TARGET)
    app.query_one(RegionStrip).show_findings(data.region_findings(), data.NOW)
    for _ in range(int(SETTLE_SECONDS / 0.05)):
        if _everything_shown(app):
            break
        await pilot.pause(0.05)
    assert _everything_shown(app), "the timeline did not show the whole log in time"
    await pilot.pause()


# --- reading a screenshot ---------------------------------------------------------------------

_SVG_TEXT = re.compile(
    r'<text class="[\w-]+-r\d+" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>'
)
_CELL_WIDTH = 12.2
"""Rich's export_svg draws one cell 12.2 units wide (font size 20, aspect ratio 0.61)."""
_TERMINAL_FILLS = re.compile(
    r'-r\d+ \{ fill: (#[0-9a-f]{6})|<rect fill="(#[0-9a-f]{6})" x="[\d.]+" y="[\d.]+" '
    r'width="[\d.]+" height="[\d.]+" shape-rendering="crispEdges"'
)
"""Foreground (text classes) and background (cell rects) colours, not the window chrome."""
_BOX_DRAWING = re.compile("[\u2500-\u257f]")
_BLOCK_ELEMENTS = re.compile("[\u2580-\u259f]")


def screen_lines(svg: str, size: tuple[int, int]) -> list[str]:
    """The text of each terminal line in an SVG screenshot, placed at its cell."""
    width, height = size
    rows = [[" "] * width for _ in range(height)]
    for x, line, text in _SVG_TEXT.findall(svg):
        column = round(float(x) / _CELL_WIDTH)
        for offset, char in enumerate(html.unescape(text).replace("\xa0", " ")):
            if column + offset < width:
                rows[int(line)][column + offset] = char
    return ["".join(row).rstrip() for row in rows]


def terminal_colours(svg: str) -> set[str]:
    """Every colour the terminal cells use, except the exporter's own default foreground (it
    fills the invisible line ends past the last column)."""
    found = {fg or bg for fg, bg in _TERMINAL_FILLS.findall(svg)}
    return found - {SVG_EXPORT_THEME.foreground_color.hex}


def is_grey(colour: str) -> bool:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return red == green == blue


def footer_labels() -> list[str]:
    """ "1 Queue", "d Decision", ...: every binding the footer is meant to show."""
    labels = []
    for binding in CockpitApp.BINDINGS:
        assert not isinstance(binding, tuple)
        if binding.show and binding.action != "unzoom":  # Escape shows only when zoomed
            labels.append(f"{binding.key} {binding.description}")
    return labels


async def _svg(tmp_path: Path, size: tuple[int, int], **options: bool) -> str:
    """The screen as an SVG, taken as the snapshots take it but without the plugin."""
    tmp_path.mkdir(exist_ok=True)
    app = make_app(tmp_path, **options)
    async with app.run_test(size=size) as pilot:
        await fill_panes(pilot)
        return app.export_screenshot()


async def _screen(tmp_path: Path, size: tuple[int, int], **options: bool) -> list[str]:
    return screen_lines(await _svg(tmp_path, size, **options), size)


# --- snapshots -------------------------------------------------------------------------------


@pytest.mark.parametrize("size_name", list(SIZES))
@pytest.mark.parametrize("theme", THEMES)
def test_cockpit_screen(
    snap_compare: SnapCompare, tmp_path: Path, theme: str, size_name: str
) -> None:
    app = make_app(tmp_path, theme=theme)
    assert snap_compare(app, terminal_size=SIZES[size_name], run_before=fill_panes)


def test_cockpit_screen_no_color(
    snap_compare: SnapCompare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path)  # Textual reads NO_COLOR when the App is constructed
    assert app.no_color
    assert snap_compare(app, terminal_size=SMALL, run_before=fill_panes)


@pytest.mark.anyio
async def test_no_color_is_monochrome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The live screen and the stored snapshot: only greys, and few of them."""
    coloured = terminal_colours(await _svg(tmp_path / "colour", SMALL))
    assert {c for c in coloured if not is_grey(c)}, "the check cannot see colour"
    monkeypatch.setenv("NO_COLOR", "1")
    screens = [await _svg(tmp_path / "mono", SMALL)]
    if not request.config.getoption("--snapshot-update"):  # else it is being rewritten
        stored = SNAPSHOTS / "test_cockpit_screen_no_color.svg"
        screens.append(stored.read_text(encoding="utf-8"))
    for svg in screens:
        colours = terminal_colours(svg)
        assert colours, "no colours found: has the SVG format changed?"
        assert {c for c in colours if not is_grey(c)} == set()
        assert len(colours) <= 16, sorted(colours)


def test_cockpit_screen_ascii(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, ascii_only=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=fill_panes)


async def zoom_dns_on_the_timeout(pilot: Pilot[None]) -> None:
    """Key 2, then the cursor on the resolver that timed out for MX: the table scrolls to it
    and the detail line says why."""
    await fill_panes(pilot)
    await pilot.press("2")
    table = pilot.app.query_one(DnsPane).table
    table.move_cursor(row=table.get_row_index(data.dns_sweep().watched[0].key), column=4)
    await pilot.pause()
    assert pilot.app.screen.maximized is not None


async def open_decision_form(pilot: Pilot[None]) -> None:
    await fill_panes(pilot)
    await pilot.press("d")
    for _ in range(int(SETTLE_SECONDS / 0.05)):
        if isinstance(pilot.app.screen, DecisionForm):
            break
        await pilot.pause(0.05)
    assert isinstance(pilot.app.screen, DecisionForm)
    # The focused input's cursor blinks every 0.5 s: a snapshot must not depend on the phase.
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_cockpit_screen_dns_zoomed(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=zoom_dns_on_the_timeout)


def test_cockpit_screen_decision_form(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=open_decision_form)


# --- plain checks: what must never be cut off ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size_name", list(SIZES))
async def test_header_shows_severity_phase_target_commander_clock_and_title(
    tmp_path: Path, size_name: str
) -> None:
    lines = await _screen(tmp_path, SIZES[size_name])
    top = "\n".join(lines[:2])
    expected = (
        data.TITLE,
        data.SEVERITY,
        "declared",
        f"target {data.TARGET}",
        f"cmd {data.COMMANDER}",
        "14:30 UTC",
        "T+0:30",
    )
    missing = [part for part in expected if part not in top]
    assert not missing, f"header lacks {missing}:\n{top}"
    assert str(tmp_path) not in "\n".join(lines)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "size_name",
    [
        "80x24",
        "160x48",
    ],
)
async def test_header_shows_who_is_at_the_keyboard(tmp_path: Path, size_name: str) -> None:
    lines = await _screen(tmp_path, SIZES[size_name])
    top = "\n".join(lines[:2])
    assert f"@{data.AUTHOR}" in top, top


@pytest.mark.anyio
@pytest.mark.parametrize("size_name", list(SIZES))
async def test_every_pane_title_and_its_first_rows_show(tmp_path: Path, size_name: str) -> None:
    lines = await _screen(tmp_path, SIZES[size_name])
    screen = "\n".join(lines)
    titles = [f"{spec.key} {spec.title}" for spec in PANES]
    missing = [title for title in titles if f" {title} " not in screen]
    assert not missing, f"pane titles missing: {missing}\n{screen}"
    # One line from each pane's data: the panes show data, not only frames.
    for expected in (
        "? unknown  mx1",  # queue: the unknown source comes first
        "MX @               ! warn 1/3 33%",  # DNS: the worst records first
        "secondary  ! warn (2)  ✗ fail",  # auth: the target region's DKIM fails
        "[x] Confirm the scope of the outage",  # checklist
        "#8 probe cockpit",  # timeline: the last entry
    ):
        assert expected in screen, f"{expected!r} not on screen:\n{screen}"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "size_name",
    [
        "80x24",
        "160x48",
    ],
)
async def test_footer_shows_every_key(tmp_path: Path, size_name: str) -> None:
    lines = await _screen(tmp_path, SIZES[size_name])
    footer = lines[-1]
    missing = [label for label in footer_labels() if label not in footer]
    assert not missing, f"footer lacks {missing}: {footer!r}"


@pytest.mark.anyio
async def test_ascii_mode_draws_no_box_drawing_characters_or_status_glyphs(
    tmp_path: Path,
) -> None:
    lines = await _screen(tmp_path, SMALL, ascii_only=True)
    screen = "\n".join(lines)
    assert not _BOX_DRAWING.findall(screen), screen
    assert not set("✓✗…") & set(screen), screen
    assert "+- 1 Queue -" in screen and "X fail" in screen


@pytest.mark.anyio
async def test_ascii_mode_draws_only_ascii(tmp_path: Path) -> None:
    lines = await _screen(tmp_path, SIZES["160x48"], ascii_only=True)
    screen = "\n".join(lines)
    assert not _BLOCK_ELEMENTS.findall(screen), set(_BLOCK_ELEMENTS.findall(screen))
    assert screen.isascii()
