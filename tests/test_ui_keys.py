"""Keys and dialogs (issue 15): q quits (asking while a form is open), ? lists every key, j/k move,
lists do not wrap, severity is chosen (never typed), fields keep their labels, the role prompt
fits at 80 columns, and --ascii means ASCII in every dialog and the command palette."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, OptionList, Static

from cockpit.config import Config
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import TextPrompt
from cockpit.ui.decision_form import DecisionForm
from cockpit.ui.help_screen import HelpScreen, key_sections
from cockpit.ui.key_actions import QuitConfirm
from cockpit.ui.region_strip import RegionDetails
from cockpit.ui.severity_prompt import SeverityPrompt
from tests.pilot_wait import settle
from tests.test_ui_app import example_config, fixed_clock, make_app, write_incident

__all__ = ["example_config"]  # the fixture, shared with test_ui_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def screen_text(app: CockpitApp) -> str:
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(clear=True)


async def opened(pilot: Pilot[None], app: CockpitApp) -> None:
    assert await settle(pilot, lambda: app.query_one("#header").loading is None)


@asynccontextmanager
async def running(
    path: Path,
    config: Config | None = None,
    *,
    size: tuple[int, int] = (80, 24),
    ascii_only: bool = False,
) -> AsyncIterator[tuple[CockpitApp, Pilot[None]]]:
    """A cockpit on a fresh incident at `path`, its log read: (app, pilot)."""
    write_incident(path)
    app = ascii_app(path, config) if ascii_only else make_app(path, config)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        yield app, pilot


def entries(path: Path) -> list[str]:
    return [entry.text for entry in IncidentLog(path).read().entries]


# --- q quits -----------------------------------------------------------------------------------


async def test_q_quits_at_once_with_no_form_open(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("q")
        assert await settle(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@pytest.mark.parametrize("answer", ["y", "q"])
async def test_q_over_a_form_asks_first_and_y_quits_keeping_the_draft(
    tmp_path: Path, answer: str
) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("d")
        assert isinstance(app.screen, DecisionForm)
        await pilot.press(*"quiet query")  # a q typed in a field is text
        assert app.screen.query_one("#decision", Input).value == "quiet query"
        await pilot.press("tab", "tab", "tab")  # to the failover select: now q is the key
        await pilot.press("q")
        assert await settle(pilot, lambda: isinstance(app.screen, QuitConfirm))
        assert app.is_running
        await pilot.press(answer)
        assert await settle(pilot, lambda: not app.is_running)
    from cockpit.incident.drafts import list_drafts

    (draft,) = list_drafts(path).drafts
    assert draft.fields["text"] == "quiet query"


async def test_q_confirmation_n_returns_to_the_form_with_its_text(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("d", *"keep me", "tab", "tab", "tab", "q")
        assert await settle(pilot, lambda: isinstance(app.screen, QuitConfirm))
        await pilot.press("n")
        assert await settle(pilot, lambda: isinstance(app.screen, DecisionForm))
        assert app.screen.query_one("#decision", Input).value == "keep me"
        assert app.is_running


async def test_q_over_an_empty_form_still_asks(tmp_path: Path) -> None:
    """A form open is reason enough to ask: the user may be halfway through choosing."""
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("v", "q")
        assert await settle(pilot, lambda: isinstance(app.screen, QuitConfirm))
        await pilot.press("escape")
        assert await settle(pilot, lambda: isinstance(app.screen, SeverityPrompt))


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 35), (200, 50)])
async def test_the_footer_shows_how_to_quit_and_the_help_key(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        footer = screen_text(app).rstrip("\n").splitlines()[-1]
        assert "q Quit" in footer and "? Help" in footer, footer


# --- ? help --------------------------------------------------------------------------------------


async def test_help_lists_every_binding_and_closes_with_escape_or_question_mark(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("question_mark")
        assert await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = str(app.screen.query_one("#help-text", Static).render())
        # Every binding of the app and of the panes, by its description: none hand-kept.
        for binding in CockpitApp.BINDINGS:
            assert binding.description in shown, binding  # type: ignore[union-attr]
        for words in ("q", "Quit", "Help", "Done", "Skip", "Recovery file", "Command palette"):
            assert words in shown, words
        assert "Pane 4 Checklist" in shown and "In the severity prompt" in shown
        assert "In the decision form" in shown and "filled text" not in shown
        await pilot.press("escape")
        assert await settle(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("question_mark")
        assert await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("question_mark")
        assert await settle(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert app.is_running


def test_key_sections_join_keys_of_one_action(tmp_path: Path) -> None:
    app = make_app(tmp_path / "inc.jsonl")
    sections = dict(key_sections(app))
    rows = {row.description: row.keys for row in sections["Everywhere"]}
    assert rows["Quit: Quit cockpit (asks first while a form is open)"] == "q"
    assert rows["Down"] == "j, \u2193" and rows["Up"] == "k, \u2191"  # j, down arrow


async def test_help_scrolls_with_j_and_fits_60x20(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(60, 20)) as (app, pilot):
        await pilot.press("question_mark")
        assert await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        scroll = app.screen.query_one("#help-keys")
        assert scroll.max_scroll_y > 0
        await pilot.press("j", "j", "j")
        assert await settle(pilot, lambda: scroll.scroll_y > 0)
        await pilot.press("k", "k", "k")
        assert await settle(pilot, lambda: scroll.scroll_y == 0)


# --- j/k and no wrap ----------------------------------------------------------------------------


async def test_j_and_k_move_the_checklist_and_do_not_wrap(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(120, 35)) as (app, pilot):
        await pilot.press("4")
        steps = app.query_one("#checklist-steps", OptionList)
        assert await settle(pilot, lambda: steps.has_focus and steps.option_count > 2)
        enabled = [
            i for i in range(steps.option_count) if not steps.get_option_at_index(i).disabled
        ]
        first, last = enabled[0], enabled[-1]
        steps.highlighted = first
        await pilot.press("j")
        assert steps.highlighted == enabled[1]
        await pilot.press("k", "k", "up")
        assert steps.highlighted == first  # no wrap to the last step
        steps.highlighted = last
        await pilot.press("j", "down")
        assert steps.highlighted == last  # no wrap to the first step


async def test_j_and_k_move_a_table_cursor(tmp_path: Path, example_config: Config) -> None:
    from tests.test_ui_snapshots import fill_panes
    from tests.test_ui_snapshots import make_app as make_filled_app

    app = make_filled_app(tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await fill_panes(pilot)
        await pilot.press("2")
        table = app.query_one("#dns-table", DataTable)
        table.focus()
        await pilot.pause()
        assert table.row_count > 2
        table.move_cursor(row=0)
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k", "k")
        assert table.cursor_row == 0
        table.move_cursor(row=table.row_count - 1)
        await pilot.press("j")
        assert table.cursor_row == table.row_count - 1


async def test_j_and_k_are_text_in_a_field(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("r", *"jk q?")
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one(Input).value == "jk q?"


# --- severity, labels, role --------------------------------------------------------------------


async def test_severity_is_chosen_with_number_keys_or_j_and_k(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("v")
        prompt = app.screen
        assert isinstance(prompt, SeverityPrompt)
        assert prompt.typed_fields() is None  # nothing chosen yet
        await pilot.press("3", "0", "x")
        assert isinstance(app.screen, SeverityPrompt)  # invalid keys never close it
        assert prompt.highlighted() == "SEV3"  # and the choice is kept
        assert prompt.typed_fields() == {"text": "SEV3"}  # a choice: kept as a draft at quit
        await pilot.press("k", "k", "k")  # no wrap past SEV1
        assert prompt.highlighted() == "SEV1"
        await pilot.press("j", "enter")
        assert await settle(pilot, lambda: "SEV2" in str(app.query_one("#header").render()))
        await pilot.press("v")
        assert isinstance(app.screen, SeverityPrompt)
        assert app.screen.highlighted() == "SEV2"  # the current one
        assert app.screen.typed_fields() is None
        await pilot.press("escape")
    assert entries(path)[-1] == "severity set to SEV2"


async def test_an_unreadable_severity_draft_is_shown_not_lost(tmp_path: Path) -> None:
    from cockpit.incident.drafts import save_draft
    from cockpit.ui.draft_offer import DraftOffer

    path = tmp_path / "inc.jsonl"
    write_incident(path)
    save_draft(path, "severity", {"text": "sev 9"}, author="alice", why="quit")
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, SeverityPrompt), 5)
        error = str(app.screen.query_one("#severity-error", Label).render())
        assert "'sev 9'" in error and "not a severity" in error


async def test_a_wrong_role_keeps_the_prompt_open_with_the_text(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("r", *"comander carol", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one(Input).value == "comander carol"
        assert "comander" in str(app.screen.query_one("#prompt-error", Label).render())
        await pilot.press("escape")
    assert entries(path) == before


async def test_the_role_prompt_fits_at_80_columns(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("r")
        title = app.screen.query_one("#prompt-title", Label)
        await pilot.pause()
        assert title.size.height == 1, title.size  # one line, not wrapped or cut
        from cockpit.ui.incident_actions import ROLE_PROMPT

        assert ROLE_PROMPT in screen_text(app)


async def test_decision_fields_keep_their_labels_while_typing(
    tmp_path: Path, example_config: Config
) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, example_config, size=(80, 24)) as (app, pilot):
        await pilot.press("d", *"fail over", "tab", *"storage", "tab", *"dana")
        shown = screen_text(app)
        for label in ("Decision*", "Why", "Approver", "Failover"):
            assert label in shown, label
        assert "fail over" in shown and "storage" in shown and "dana" in shown
        await pilot.press("escape")


async def test_a_blank_decision_never_closes_the_form(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("d", "tab", *"why typed", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DecisionForm)
        assert app.screen.query_one("#why", Input).value == "why typed"
        assert "required" in str(app.screen.query_one("#decision-error", Label).render())


# --- ASCII everywhere ---------------------------------------------------------------------------


def ascii_app(path: Path, config: Config | None = None) -> CockpitApp:
    return CockpitApp(
        path, author="alice", config=config, clock=fixed_clock, probes=False, ascii_only=True
    )


def not_ascii(text: str) -> set[str]:
    return {char for char in text if not char.isascii()}


@pytest.mark.parametrize("key", ["d", "v", "r", "i", "m", "n", "a", "question_mark", "ctrl+p"])
async def test_ascii_dialogs_draw_only_ascii(
    tmp_path: Path, example_config: Config, key: str
) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, example_config, size=(80, 24), ascii_only=True) as (app, pilot):
        await pilot.press(key)
        assert await settle(pilot, lambda: len(app.screen_stack) > 1)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)
        if isinstance(app.screen, CommandPalette):
            assert "Search for commands..." in text
            await pilot.press(*"sev")
            await pilot.pause(0.3)
            text = screen_text(app)
            assert not not_ascii(text), (not_ascii(text), text)


async def test_ascii_select_menu_toasts_and_quit_confirm(
    tmp_path: Path, example_config: Config
) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, example_config, size=(80, 24), ascii_only=True) as (app, pilot):
        app.notify("a toast")
        await pilot.press("d", "tab", "tab", "tab")
        await pilot.press("enter")  # opens the failover Select's menu
        await pilot.pause(0.3)
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)
        await pilot.press("escape", "tab", "q")
        assert await settle(pilot, lambda: isinstance(app.screen, QuitConfirm))
        await pilot.pause(0.2)
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)


async def test_ascii_region_details(tmp_path: Path, example_config: Config) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, example_config, size=(60, 20), ascii_only=True) as (app, pilot):
        await pilot.press("m")
        assert await settle(pilot, lambda: isinstance(app.screen, RegionDetails))
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)


async def test_a_wrong_impact_time_keeps_the_prompt_open_with_the_text(tmp_path: Path) -> None:
    from cockpit.ui.region_strip import ImpactPrompt

    path = tmp_path / "inc.jsonl"
    IncidentLog(path).append("note", "started", {}, author="bob")
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("i")
        assert await settle(pilot, lambda: isinstance(app.screen, ImpactPrompt))
        await pilot.press(*"25:99", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ImpactPrompt)
        assert app.screen.query_one(Input).value == "25:99"
        assert str(app.screen.query_one("#impact-error", Label).render()).strip()
        await pilot.press("escape")
    assert entries(path) == before


async def test_the_replay_has_the_same_keys(tmp_path: Path) -> None:
    from cockpit.ui.replay_app import ReplayApp

    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = ReplayApp(path, IncidentLog(path).read().entries, speed=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = str(app.screen.query_one("#help-text", Static).render())
        assert "Pause/play" in shown and "Quit" in shown
        await pilot.press("escape", "q")
        assert await settle(pilot, lambda: not app.is_running)


async def test_ascii_draft_offer_and_cutover_prompt(tmp_path: Path, example_config: Config) -> None:
    from cockpit.incident.drafts import save_draft
    from cockpit.ui.decision_form import CutoverPrompt
    from cockpit.ui.draft_offer import DraftOffer

    path = tmp_path / "inc.jsonl"
    write_incident(path)
    save_draft(path, "role", {"text": "scribe"}, author="alice", why="quit")
    app = ascii_app(path, example_config)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)
        await pilot.press("escape")
        await opened(pilot, app)
        app.ask_about_cutover("primary")
        assert await settle(pilot, lambda: isinstance(app.screen, CutoverPrompt))
        await pilot.pause(0.2)
        text = screen_text(app)
        assert not not_ascii(text), (not_ascii(text), text)


async def test_ctrl_q_from_a_field_asks_too(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24)) as (app, pilot):
        await pilot.press("r", *"scribe", "ctrl+q")
        assert await settle(pilot, lambda: isinstance(app.screen, QuitConfirm))
        await pilot.press("escape")
        assert await settle(pilot, lambda: isinstance(app.screen, TextPrompt))
        assert app.screen.query_one(Input).value == "scribe"
        await pilot.press("ctrl+q", "y")
        assert await settle(pilot, lambda: not app.is_running)


async def test_ascii_loading_indicator_has_no_dots(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    async with running(path, size=(80, 24), ascii_only=True) as (app, pilot):
        app.query_one("#pane-queue").loading = True
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "loading..." in text and not not_ascii(text), (not_ascii(text), text)
