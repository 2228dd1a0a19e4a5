"""Recording the post-incident review from the screen: the note form's "Review" section (cause,
contributing factor, impact, went well, went badly, lucky) and the action-item form (`a`: what,
owner, due date, ticket). Keyboard only, at 60x20 and 80x24; a blank action or a bad due date
keeps the form open with everything typed; what is typed becomes a draft when it cannot be
written."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from cockpit.incident.drafts import save_draft
from cockpit.ui.action_form import ActionForm
from cockpit.ui.app import CockpitApp
from cockpit.ui.help_screen import HelpScreen
from cockpit.ui.record_forms import NoteForm
from cockpit.ui.timeline_pane import TimelinePane
from tests.pilot_wait import wait_for
from tests.test_ui_app import NOW, make_app, write_incident
from tests.test_ui_drafts import entries, held_lock, only_draft, opened, toasts
from tests.test_ui_keys import screen_text
from tests.test_ui_record import only_draft_left, open_note, written

__all__ = ["held_lock"]  # a fixture, used by name

pytestmark = pytest.mark.anyio

SIZES = [(60, 20), (80, 24)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    return path


async def open_action(pilot: object, app: CockpitApp) -> ActionForm:
    await pilot.press("a")  # type: ignore[attr-defined]
    await wait_for(pilot, "the action form", lambda: isinstance(app.screen, ActionForm), 5)  # type: ignore[arg-type]
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, ActionForm)
    return app.screen


def error_text(form: ActionForm) -> str:
    return str(form.query_one("#action-error", Label).render())


def words_on_screen(app: CockpitApp) -> str:
    """The screen's text as words, the form's border left out: a wrapped line reads whole."""
    return " ".join(screen_text(app).replace("\u2588", " ").split())


def typed(form: ActionForm) -> dict[str, str]:
    return {
        name: form.query_one(f"#action-{name}", Input).value
        for name in ("text", "owner", "due", "ticket")
    }


# --- the note form's review section -------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_a_note_is_filed_under_a_review_section_with_the_keyboard_alone(
    path: Path, size: tuple[int, int]
) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        await pilot.press(*"disk firmware update at 13:48")
        await pilot.press("tab", "tab", "tab")  # past the two boxes, to "Review"
        section = form.query_one("#note-section", Select)
        assert section.has_focus
        await pilot.press("enter")  # its menu
        await wait_for(pilot, "the menu", lambda: section.expanded, 5)
        await pilot.press("down", "enter")  # the first section: trigger / root cause
        await wait_for(pilot, "back to the text", lambda: form.query_one("#note-text").has_focus, 5)
        assert section.value == "cause"
        await pilot.press("enter")
        await written(pilot, path, before + 1)
    note = entries(path)[-1]
    assert (note.kind, note.text, note.data) == (
        "note",
        "disk firmware update at 13:48",
        {"tags": ["cause"]},
    )


@pytest.mark.parametrize(
    ("section", "key", "tags"),
    [
        ("factor", False, ["factor"]),
        ("impact", False, ["impact"]),
        ("well", False, ["lesson", "went-well"]),
        ("badly", True, ["key", "lesson", "went-badly"]),
        ("lucky", False, ["lesson", "lucky"]),
    ],
)
async def test_each_review_section_writes_its_tags(
    path: Path, section: str, key: bool, tags: list[str]
) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        form.query_one("#note-key", Checkbox).value = key
        form.query_one("#note-section", Select).value = section
        form.query_one("#note-text", Input).value = "what the review needs"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 1)
    assert entries(path)[-1].data == {"tags": tags}


async def test_a_lesson_box_and_a_went_section_tag_lesson_once(path: Path) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        form.query_one("#note-lesson", Checkbox).value = True
        form.query_one("#note-section", Select).value = "well"
        form.query_one("#note-text", Input).value = "the drill paid off"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 1)
    assert entries(path)[-1].data == {"tags": ["lesson", "went-well"]}


async def test_a_note_draft_keeps_its_review_section(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        form.query_one("#note-section", Select).value = "impact"
        form.query_one("#note-text", Input).value = "12k messages deferred"
        await pilot.pause()
        app.exit()
    draft = only_draft(path)
    assert (draft.kind, draft.fields) == (
        "note",
        {"text": "12k messages deferred", "key": "", "lesson": "", "section": "impact"},
    )
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: app.screen is not app.screen_stack[0], 5)
        await pilot.press("enter")
        await wait_for(pilot, "the note form", lambda: isinstance(app.screen, NoteForm), 5)
        await pilot.pause()
        form = app.screen
        assert form.query_one("#note-section", Select).value == "impact"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 1)
        await pilot.pause(0.2)
    assert entries(path)[-1].data == {"tags": ["impact"]}
    assert not only_draft_left(path)


async def test_a_draft_with_an_unknown_section_says_so_and_files_nothing(path: Path) -> None:
    save_draft(
        path, "note", {"text": "kept", "section": "blame"}, author="alice", why="edited by hand"
    )
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: app.screen is not app.screen_stack[0], 5)
        await pilot.press("enter")
        await wait_for(pilot, "the note form", lambda: isinstance(app.screen, NoteForm), 5)
        await pilot.pause()
        form = app.screen
        assert form.query_one("#note-section", Select).value == Select.NULL
        error = str(form.query_one("#note-error", Label).render())
        assert error == "The draft's review section 'blame' is not known"


# --- the action-item form ----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_an_action_item_with_the_keyboard_alone(path: Path, size: tuple[int, int]) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        await open_action(pilot, app)
        await pilot.press(*"add a storage alarm", "tab", *"carol", "tab")
        await pilot.press(*"2026-12-15", "tab", *"OPS-1234", "enter")
        await written(pilot, path, before + 1)
        assert not isinstance(app.screen, ActionForm)
    action = entries(path)[-1]
    assert (action.kind, action.text, action.author) == ("note", "add a storage alarm", "alice")
    assert action.data == {
        "action": {"owner": "carol", "due": "2026-12-15", "ticket": "OPS-1234"},
        "tags": ["action"],
    }


async def test_an_action_item_needs_only_its_text(path: Path) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await open_action(pilot, app)
        await pilot.press(*"rotate the DKIM key", "enter")
        await written(pilot, path, before + 1)
    assert entries(path)[-1].data == {"action": {}, "tags": ["action"]}


async def test_a_blank_action_is_refused_and_keeps_what_was_typed(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_action(pilot, app)
        await pilot.press("space", "tab", *"carol", "tab", *"2026-12-15", "enter")
        await pilot.pause()
        assert app.screen is form
        assert error_text(form) == "Type the action item, or Escape to cancel"
        assert form.query_one("#action-text", Input).has_focus
        assert typed(form) == {"text": " ", "owner": "carol", "due": "2026-12-15", "ticket": ""}
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ActionForm)
    assert entries(path) == before


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("2026-02-30", "Due: '2026-02-30' is not a calendar date: February 2026 has days 1 to 28"),
        ("15/12/2026", "Due: '15/12/2026' is not a date written YYYY-MM-DD (such as 2026-12-15)"),
        ("2026-13-01", "Due: '2026-13-01' is not a calendar date: there is no month 13"),
    ],
)
async def test_a_bad_due_date_is_named_in_the_form_and_nothing_typed_is_lost(
    path: Path, due: str, message: str
) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(60, 20)) as pilot:
        await opened(pilot, app)
        form = await open_action(pilot, app)
        await pilot.press(*"add a storage alarm", "tab", *"carol", "tab", *due, "tab", *"OPS-1")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form
        assert error_text(form) == message
        assert message in words_on_screen(app)  # shown whole (wrapped) at 60 columns
        due_field = form.query_one("#action-due", Input)
        assert due_field.has_focus
        assert typed(form) == {
            "text": "add a storage alarm",
            "owner": "carol",
            "due": due,
            "ticket": "OPS-1",
        }
        assert len(entries(path)) == before
        due_field.value = ""
        await pilot.press(*"2026-02-28", "enter")
        await written(pilot, path, before + 1)
    assert entries(path)[-1].data["action"] == {
        "owner": "carol",
        "due": "2026-02-28",
        "ticket": "OPS-1",
    }


async def test_a_too_long_owner_is_refused_in_the_form(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_action(pilot, app)
        form.query_one("#action-text", Input).value = "page the storage team"
        form.query_one("#action-owner", Input).value = "x" * 101
        await pilot.click("#record")
        await pilot.pause()
        assert app.screen is form
        assert error_text(form) == "Owner: 101 characters is too long; expected at most 100"
        assert form.query_one("#action-owner", Input).has_focus


async def test_escape_and_cancel_write_nothing(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await open_action(pilot, app)
        await pilot.press(*"never mind", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, ActionForm)
        form = await open_action(pilot, app)
        form.query_one("#cancel", Button).press()
        await pilot.pause()
        assert not isinstance(app.screen, ActionForm)
    assert entries(path) == before


async def test_an_action_item_waiting_for_a_held_lock_is_kept_as_a_draft_and_reopens(
    held_lock: tuple[Path, int],
) -> None:
    path, holder_pid = held_lock
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_action(pilot, app)
        await pilot.press(*"add a storage alarm", "tab", *"carol", "tab", *"2026-12-15")
        await pilot.press("enter")
        assert not isinstance(app.screen, ActionForm)
        waiting = f"waiting to write (held by pid {holder_pid} on "
        await wait_for(pilot, "the waiting toast", lambda: bool(toasts(app, waiting)), 5)
        app.exit()
    os.kill(holder_pid, signal.SIGCONT)
    os.kill(holder_pid, signal.SIGKILL)
    time.sleep(0.3)
    assert entries(path) == before
    draft = only_draft(path)
    assert (draft.kind, draft.why) == ("action", "quit while waiting for the lock")
    fields = {"text": "add a storage alarm", "owner": "carol", "due": "2026-12-15", "ticket": ""}
    assert draft.fields == fields
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: app.screen is not app.screen_stack[0], 5)
        await pilot.press("enter")
        await wait_for(pilot, "the action form", lambda: isinstance(app.screen, ActionForm), 5)
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ActionForm) and typed(form) == fields
        form.query_one("#action-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, len(before) + 1)
        await pilot.pause(0.2)
    assert entries(path)[-1].data == {
        "action": {"owner": "carol", "due": "2026-12-15"},
        "tags": ["action"],
    }
    assert not only_draft_left(path)


async def test_an_open_action_form_is_kept_at_quit(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await open_action(pilot, app)
        await pilot.press("tab", *"dana")  # only an owner so far
        app.exit()
    draft = only_draft(path)
    assert (draft.kind, draft.why) == ("action", "quit with the form open")
    assert draft.fields == {"text": "", "owner": "dana", "due": "", "ticket": ""}


# --- keys, help, palette, refusals ------------------------------------------------------------


async def test_a_is_in_the_help_and_the_palette_and_opens_the_form(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, "the help", lambda: isinstance(app.screen, HelpScreen), 5)
        shown = str(app.screen.query_one("#help-text", Static).render())
        assert "Action item: An action item for the review: what, owner, due date, ticket" in shown
        assert "a review section" in shown  # the note key's description
        assert "In the action form" in shown
        await pilot.press("escape")
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Action item for the review (a)"].callback()
        await wait_for(pilot, "the action form", lambda: isinstance(app.screen, ActionForm), 5)


async def test_a_read_only_viewer_and_a_log_still_loading_get_no_action_form(path: Path) -> None:
    app = CockpitApp(path, author="alice", clock=lambda: NOW, probes=False, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert toasts(app, "cannot add an action item")
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        timeline = app.query_one(TimelinePane)
        timeline.state_known = False  # as while a big log is still being read
        app.action_action_item()
        assert len(app.screen_stack) == 1
        await pilot.pause()
        assert toasts(app, "; add an action item once it is read")
        timeline.state_known = True


@pytest.mark.parametrize("size", SIZES)
async def test_the_review_forms_fit_small_screens(path: Path, size: tuple[int, int]) -> None:
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        screen_region = app.screen.region
        form = await open_note(pilot, app)
        box = form.query_one("NoteForm > Vertical").content_region
        for widget in (*form.query(Label), *form.query(Input), *form.query(Checkbox)):
            assert box.contains_region(widget.region), widget
        section = form.query_one("#note-section", Select)
        assert box.contains_region(section.region)
        assert "Review  not filed in a section" in screen_text(app)
        section.focus()
        await pilot.press("enter")
        await wait_for(pilot, "the menu", lambda: section.expanded, 5)
        await pilot.pause()
        menu = section.query_one("SelectOverlay")
        assert screen_region.contains_region(menu.region), menu.region
        shown = screen_text(app)
        for label in ("Trigger / root cause", "Contributing factor", "We got lucky (a lesson)"):
            assert label in shown, shown
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NoteForm)
        form = await open_action(pilot, app)
        box = form.query_one("ActionForm > Vertical").content_region
        for widget in (*form.query(Label), *form.query(Input), *form.query(Button)):
            assert box.contains_region(widget.region), widget
        shown = screen_text(app)
        assert "Action item (Enter records it, Escape cancels)" in shown
        for label in ("Action*", "Owner", "Due", "Ticket", "Record", "Cancel"):
            assert label in shown, label
