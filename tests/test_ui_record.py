"""Recording from the screen what the export reports: a timeline note from any pane (a key
entry, a lesson), every phase now or at a typed time (a set one is corrected), closing the
incident; bad times keep the form open; typed text is kept as a draft when the log cannot
take it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Label, OptionList, RichLog

from cockpit.incident.drafts import save_draft
from cockpit.incident.export_md import render_markdown
from cockpit.incident.phases import effective_phases
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt
from cockpit.ui.record_forms import NoteForm, PhaseForm
from cockpit.ui.timeline_pane import TimelinePane
from tests.pilot_wait import wait_for
from tests.test_ui_app import NOW, make_app, write_incident
from tests.test_ui_drafts import entries, held_lock, only_draft, opened, toasts

__all__ = ["held_lock"]  # a fixture, used by name

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    return path


async def open_note(pilot: object, app: CockpitApp, key: str = "n") -> NoteForm:
    await pilot.press(key)  # type: ignore[attr-defined]
    await wait_for(pilot, "the note form", lambda: isinstance(app.screen, NoteForm), 5)  # type: ignore[arg-type]
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, NoteForm)
    return app.screen


async def open_phase(pilot: object, app: CockpitApp) -> PhaseForm:
    await pilot.press("p")  # type: ignore[attr-defined]
    await wait_for(pilot, "the phase form", lambda: isinstance(app.screen, PhaseForm), 5)  # type: ignore[arg-type]
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, PhaseForm)
    return app.screen


async def written(pilot: object, path: Path, count: int) -> None:
    await wait_for(pilot, f"{count} entries", lambda: len(entries(path)) >= count, 5)  # type: ignore[arg-type]


async def test_n_from_the_timeline_writes_a_note_a_key_entry_and_a_lesson(path: Path) -> None:
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        app.query_one("#timeline", RichLog).focus()
        form = await open_note(pilot, app)
        await pilot.press(*"MX moved")
        await pilot.press("enter")
        await written(pilot, path, before + 1)
        form = await open_note(pilot, app)
        form.query_one("#note-key", Checkbox).value = True
        form.query_one("#note-text", Input).value = "secondary took the first mail"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 2)
        form = await open_note(pilot, app)
        form.query_one("#note-lesson", Checkbox).value = True
        form.query_one("#note-text", Input).value = "lower the MX TTL before a failover"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 3)
    note, key, lesson = entries(path)[before:]
    assert (note.kind, note.text, note.data, note.author) == ("note", "MX moved", {}, "alice")
    assert (key.text, key.data) == ("secondary took the first mail", {"tags": ["key"]})
    assert lesson.data == {"tags": ["lesson"]}
    export = render_markdown(entries(path), name="inc")
    assert "MX moved" in export and "★ secondary took the first mail" in export
    lessons = export.split("## Lessons learned", 1)[1]
    assert "lower the MX TTL before a failover" in lessons


async def test_a_blank_note_is_refused_and_the_form_stays_open(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        await pilot.press("space", "enter")
        await pilot.pause()
        assert app.screen is form
        error = str(form.query_one("#note-error", Label).render())
        assert error == "Type the note, or Escape to cancel"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NoteForm)
    assert entries(path) == before


async def test_on_the_checklist_n_notes_the_step_and_capital_n_the_timeline(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        app.query_one(ChecklistPane).query_one(OptionList).focus()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        await pilot.press("escape")
        await pilot.pause()
        await open_note(pilot, app, "N")


async def test_a_phase_at_a_typed_time_and_a_bad_time_keeps_the_form(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_phase(pilot, app)
        phases = form.query_one("#phase-list", OptionList)
        assert "set 2026-11-27 14:00:00Z by bob" in str(phases.get_option("impact").prompt)
        assert "not set" in str(phases.get_option("restored").prompt)
        phases.highlighted = phases.get_option_index("restored")
        await pilot.press("enter")
        await pilot.pause()
        at = form.query_one("#phase-at", Input)
        assert at.has_focus
        at.value = ""
        await pilot.press(*"25:61", "enter")
        await pilot.pause()
        assert app.screen is form and at.value == "25:61"
        error = str(form.query_one("#phase-error", Label).render())
        assert "'25:61' is not a time of day" in error
        at.value = "14:50"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and "in the future" in str(
            form.query_one("#phase-error", Label).render()
        )
        at.value = "14:20"
        await pilot.press("enter")
        await wait_for(pilot, "the phase", lambda: entries(path)[-1].kind == "phase", 5)
    last = entries(path)[-1]
    assert last.data == {"phase": "restored", "at": "2026-11-27T14:20:00.000Z"}
    assert last.text == "restored at 2026-11-27T14:20:00.000Z"


async def test_a_set_phase_is_corrected_and_the_same_time_is_refused(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_phase(pilot, app)  # impact is highlighted first
        form.query_one("#phase-at", Input).value = "14:00"
        form.query_one("#phase-at", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, "the refusal", lambda: bool(toasts(app, "nothing to change")), 5)
        form = await open_phase(pilot, app)
        form.query_one("#phase-at", Input).value = "2026-11-27T13:55:00Z"
        form.query_one("#phase-at", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, "the correction", lambda: entries(path)[-1].kind == "correction", 5)
    impact = effective_phases(entries(path)).get("impact")
    assert impact is not None
    assert impact.corrected and impact.at.isoformat() == "2026-11-27T13:55:00+00:00"
    assert entries(path)[-1].text == (
        "impact corrected to 2026-11-27T13:55:00.000Z (was 2026-11-27T14:00:00.000Z)"
    )


async def test_close_the_incident_from_the_palette_now(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Note to the timeline (n; N on the checklist)" in commands
        assert "Set a phase (p)" in commands
        commands["Close the incident (p, closed)"].callback()
        await wait_for(pilot, "the phase form", lambda: isinstance(app.screen, PhaseForm), 5)
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PhaseForm) and form.chosen_phase() == "closed"
        assert form.query_one("#phase-at", Input).has_focus
        await pilot.press("enter")
        await wait_for(pilot, "closed", lambda: entries(path)[-1].kind == "phase", 5)
    assert entries(path)[-1].data == {"phase": "closed", "at": "2026-11-27T14:30:00.000Z"}
    assert NOW.minute == 30


async def test_a_read_only_viewer_is_told_why_and_no_form_opens(path: Path) -> None:
    app = CockpitApp(path, author="alice", clock=lambda: NOW, probes=False, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        for key in ("n", "p"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0]
        assert toasts(app, "cannot add a note") and toasts(app, "cannot set a phase")


async def test_forms_refuse_while_the_log_is_loading(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        timeline = app.query_one(TimelinePane)
        timeline.state_known = False  # as while a big log is still being read
        app.action_timeline_note()
        app.action_phase()
        app.action_close_incident()
        assert len(app.screen_stack) == 1
        await pilot.pause()
        for what in ("add a note", "set a phase", "close the incident"):
            (toast,) = toasts(app, f"; {what} once it is read")
            assert toast.startswith("Not yet: still reading the incident log")
        timeline.state_known = True
    assert entries(path) == before


async def test_a_note_waiting_for_a_held_lock_is_kept_as_a_draft_at_quit(
    held_lock: tuple[Path, int],
) -> None:
    path, holder_pid = held_lock
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        form.query_one("#note-key", Checkbox).value = True
        form.query_one("#note-text", Input).value = "the MX TTL was an hour"
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        waiting = f"waiting to write (held by pid {holder_pid} on "
        await wait_for(pilot, "the waiting toast", lambda: bool(toasts(app, waiting)), 5)
        app.exit()
    os.kill(holder_pid, signal.SIGCONT)
    os.kill(holder_pid, signal.SIGKILL)
    time.sleep(0.3)
    assert entries(path) == before
    draft = only_draft(path)
    assert (draft.kind, draft.why) == ("note", "quit while waiting for the lock")
    assert draft.fields == {"text": "the MX TTL was an hour", "key": "yes", "lesson": ""}


async def test_a_phase_form_open_at_quit_is_kept_and_reopens_filled(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_phase(pilot, app)
        phases = form.query_one("#phase-list", OptionList)
        phases.highlighted = phases.get_option_index("verified")
        form.query_one("#phase-at", Input).value = "14:2"  # half typed
        await pilot.pause()
        app.exit()
    draft = only_draft(path)
    assert (draft.kind, draft.fields) == ("phase", {"phase": "verified", "at": "14:2"})
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: app.screen is not app.screen_stack[0], 5)
        await pilot.press("enter")  # reopen the highlighted draft
        await wait_for(pilot, "the phase form", lambda: isinstance(app.screen, PhaseForm), 5)
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PhaseForm) and form.chosen_phase() == "verified"
        at = form.query_one("#phase-at", Input)
        assert at.value == "14:2"
        at.value = "14:25"
        at.focus()
        await pilot.press("enter")
        await written(pilot, path, before + 1)
        await pilot.pause(0.2)
    assert entries(path)[-1].data == {"phase": "verified", "at": "2026-11-27T14:25:00.000Z"}
    assert not only_draft_left(path)


def only_draft_left(path: Path) -> bool:
    from cockpit.incident.drafts import list_drafts

    return bool(list_drafts(path).drafts)


async def test_a_note_draft_reopens_in_the_note_form(path: Path) -> None:
    fields = {"text": "kept note", "key": "", "lesson": "yes"}
    save_draft(path, "note", fields, author="alice", why="terminal went away")
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: app.screen is not app.screen_stack[0], 5)
        await pilot.press("enter")
        await wait_for(pilot, "the note form", lambda: isinstance(app.screen, NoteForm), 5)
        await pilot.pause()
        form = app.screen
        assert form.query_one("#note-text", Input).value == "kept note"
        assert form.query_one("#note-lesson", Checkbox).value is True
        form.query_one("#note-text", Input).focus()
        await pilot.press("enter")
        await written(pilot, path, before + 1)
        await pilot.pause(0.2)
    assert entries(path)[-1].data == {"tags": ["lesson"]}
    assert not only_draft_left(path)


def test_cockpit_log_star_writes_the_same_key_entry_as_the_form(tmp_path: Path) -> None:
    from cockpit.cli import main

    log_path = tmp_path / "a.jsonl"
    assert main(["log", str(log_path), "first mail through secondary", "--star"]) == 0
    assert main(["log", str(log_path), "lower the TTL", "--star", "--lesson"]) == 0
    key, both = entries(log_path)
    assert (key.kind, key.data) == ("note", {"tags": ["key"]})
    assert both.data == {"tags": ["lesson", "key"]}


async def test_the_note_form_draws_ascii_check_boxes_with_ascii(path: Path) -> None:
    app = CockpitApp(path, author="alice", clock=lambda: NOW, probes=False, ascii_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        form = await open_note(pilot, app)
        for box in form.query(Checkbox):
            assert str(box.render()).isascii(), box.render()


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_the_forms_fit_small_screens_with_their_labels(
    path: Path, size: tuple[int, int]
) -> None:
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        await opened(pilot, app)
        screen_region = app.screen.region
        form = await open_phase(pilot, app)
        for widget in (*form.query(Label), *form.query(Input), *form.query(OptionList)):
            assert screen_region.contains_region(widget.region), widget
        assert "When: now, HH:MM[:SS] today (UTC) or RFC 3339" in [
            str(label.render()) for label in form.query(Label)
        ]
        await pilot.press("escape")
        form = await open_note(pilot, app)
        for widget in (*form.query(Label), *form.query(Input), *form.query(Checkbox)):
            assert screen_region.contains_region(widget.region), widget
