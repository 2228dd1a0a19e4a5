"""A checklist step's typed text (a note, a skip's reason) under faults, with real files, a
real lock holder, a real full disk and a real terminal hangup: what the log could not take is
kept beside it as a draft of kind "note" or "skip" (its step and its text), the one toast says
so, and the next opening offers it in the step's prompt, pre-filled; submitted, it is written
once and the draft is gone. A draft for a step the checklist no longer has is shown with its
text, never a traceback."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from cockpit.incident.drafts import drafts_dir, list_drafts, save_draft
from cockpit.incident.log import IncidentLog
from cockpit.safe_text import clean
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt
from cockpit.ui.draft_offer import DraftOffer
from tests.full_disk import end_on_page_boundary, fill, small_tmpfs
from tests.pilot_wait import wait_for
from tests.test_log_lock import HOLD
from tests.test_ui_app import make_app, write_incident
from tests.test_ui_drafts import entries, only_draft, opened, toasts
from tests.test_ui_drafts_hangup import Terminal

pytestmark = pytest.mark.anyio

STEP = "freeze-changes"
STEP_TITLE = "Freeze changes that are not part of the fix"
NOTE = "change freeze announced in #inc-eu"
REASON = "no change window today"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An incident log whose lock another process holds, suspended as Ctrl+Z would."""
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)
        yield path, holder.pid
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
        holder.wait(timeout=10)


async def type_on_step(pilot: object, app: CockpitApp, key: str, text: str) -> None:
    """Highlight STEP in the checklist, press `key` (n or s) and type `text` in its prompt."""
    await pilot.press("4")  # type: ignore[attr-defined]
    steps = app.query_one(ChecklistPane).query_one(OptionList)
    steps.highlighted = steps.get_option_index(STEP)
    await pilot.press(key)  # type: ignore[attr-defined]
    await wait_for(pilot, "the prompt", lambda: isinstance(app.screen, TextPrompt), 5)  # type: ignore[arg-type]
    assert STEP_TITLE in str(app.screen.query_one("#prompt-title").render())
    app.screen.query_one(Input).value = text


async def reopen_and_submit(path: Path, text: str) -> None:
    """Open the incident, reopen its one draft from the offer, check the prompt holds `text`,
    and submit it; return once the entry is written and the draft gone."""
    before = len(entries(path))
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.pause(0.2)
        assert len(entries(path)) == before, "offering writes nothing"
        assert text in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_for(pilot, "the step's prompt", lambda: isinstance(app.screen, TextPrompt), 5)
        await pilot.pause(0.1)
        assert app.screen.query_one(Input).value == text
        assert STEP_TITLE in str(app.screen.query_one("#prompt-title").render())
        await pilot.press("enter")
        await wait_for(pilot, "the entry written", lambda: len(entries(path)) > before, 5)
        await wait_for(pilot, "the draft gone", lambda: not list_drafts(path).drafts, 5)
        await pilot.pause(0.3)
        assert not toasts(app, "not written")


async def test_a_note_waiting_for_a_held_lock_is_kept_at_quit_then_reopened_and_written_once(
    held_lock: tuple[Path, int],
) -> None:
    path, holder_pid = held_lock
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await type_on_step(pilot, app, "n", NOTE)
        await pilot.press("enter")
        waiting = f"waiting to write (held by pid {holder_pid} on "
        await wait_for(pilot, "the waiting toast", lambda: bool(toasts(app, waiting)), 5)
        started = time.monotonic()
        app.exit()
    assert time.monotonic() - started < 3.0, "quitting waited for the holder"
    os.kill(holder_pid, signal.SIGCONT)
    os.kill(holder_pid, signal.SIGKILL)  # the lock is free now: nothing may land after
    time.sleep(0.5)
    assert entries(path) == before
    draft = only_draft(path)  # 0600, and the only file that reads as a draft
    assert stat.S_IMODE(drafts_dir(path).stat().st_mode) == 0o700
    assert (draft.kind, draft.why, draft.author) == (
        "note",
        "quit while waiting for the lock",
        "alice",
    )
    assert draft.fields == {"step": STEP, "text": NOTE}

    await reopen_and_submit(path, NOTE)
    time.sleep(0.3)
    new = entries(path)[len(before) :]
    assert [(e.kind, e.author, e.data.get("step"), e.data.get("result"), e.data.get("note"))
            for e in new] == [("check", "alice", STEP, "note", NOTE)]  # fmt: skip


async def test_a_skip_reason_on_a_full_disk_is_kept_the_toast_says_so_and_it_is_written_later(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        path = disk / "inc.jsonl"
        log = write_incident(path)
        end_on_page_boundary(path, lambda text: log.append("note", text, author="bob"))
        before = entries(path)
        app = make_app(path)
        async with app.run_test(size=(100, 30)) as pilot:
            await opened(pilot, app)
            reserve = drafts_dir(path) / ".reserve"
            await wait_for(pilot, "the draft reserve", reserve.exists, 5)
            await pilot.pause(0.2)
            filler = fill(disk)
            await type_on_step(pilot, app, "s", REASON)
            await pilot.press("enter")
            await wait_for(pilot, "the failure toast", lambda: bool(toasts(app, "not written")), 10)
            await pilot.pause(0.3)
            (toast,) = toasts(app, "not written")
            assert toast.startswith(
                f"skip of step {STEP} ({STEP_TITLE}) not written: {path}: could not write"
            )
            assert "No space left on device" in toast
            assert toast.endswith("; kept as a draft beside the log")
            assert app.query_one(ChecklistPane).state_of(STEP).status == "open"  # type: ignore[union-attr]
        assert entries(path) == before
        draft = only_draft(path)
        assert draft.kind == "skip" and draft.fields == {"step": STEP, "text": REASON}
        assert draft.why.startswith("could not write: ") and "No space left" in draft.why

        filler.unlink()  # room again: the next opening offers it, and it is written once
        await reopen_and_submit(path, REASON)
        new = entries(path)[len(before) :]
        assert [(e.kind, e.data.get("step"), e.data.get("result"), e.data.get("reason"))
                for e in new] == [("check", STEP, "skipped", REASON)]  # fmt: skip


async def test_a_draft_for_a_step_not_in_the_checklist_is_shown_with_its_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    typed = "restart [bold]mx3[/] \x1b[31mfirst"
    save_draft(path, "note", {"step": "retired-step", "text": typed}, author="alice", why="quit")
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.press("enter")
        shown = "not in this checklist"
        await wait_for(pilot, "the message", lambda: bool(toasts(app, shown)), 5)
        (message,) = toasts(app, shown)
        assert message.startswith("The note draft is for step 'retired-step', which is not in")
        assert "Its text: restart [bold]mx3[/] " in message and "first" in message
        assert "\x1b" not in message
        assert not isinstance(app.screen, TextPrompt | DraftOffer) and app.is_running
    assert entries(path) == before
    # Left for later, and read back cleaned (a draft file is untrusted: cockpit.incident.drafts).
    kept = [d.fields["text"] for d in list_drafts(path).drafts]
    assert kept == [clean(typed, multiline=True)], "left for later"


def test_a_note_open_when_the_terminal_goes_away_is_kept_as_a_draft(tmp_path: Path) -> None:
    """A real cockpit on a real pty, the note's prompt open, the terminal side closed."""
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = IncidentLog(path).read().entries
    terminal = Terminal(path)
    try:
        terminal.wait_for("Decide", within=30)  # the footer: the screen is up
        time.sleep(0.5)
        terminal.type("4")
        terminal.wait_for("s Skip", within=10)  # the footer: the checklist has the focus
        terminal.type("n")
        terminal.wait_for("Note on this step", within=10)
        terminal.type(NOTE)
        terminal.wait_for(NOTE, within=10)
        terminal.hang_up()
        ended = terminal.process.wait(timeout=15)
    finally:
        terminal.end()
    assert ended == -signal.SIGHUP
    assert IncidentLog(path).read().entries == before
    (draft,) = list_drafts(path).drafts
    assert (draft.kind, draft.why) == ("note", "terminal went away")
    assert draft.fields == {"step": "confirm-scope", "text": NOTE}
