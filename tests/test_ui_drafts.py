"""Drafts on the cockpit screen, with real files, a real lock holder and a real full disk: what
was typed but could not be written is kept beside the log (never written by itself), the one
toast says so, and the next opening offers it: reopened and submitted it is written once and
the draft is gone; discarded it is gone; a damaged draft file is named, never a traceback."""

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

from cockpit.incident.drafts import Draft, drafts_dir, list_drafts, save_draft
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import TextPrompt
from cockpit.ui.decision_form import DecisionForm
from cockpit.ui.draft_offer import DraftOffer
from cockpit.ui.header import IncidentHeader
from cockpit.ui.severity_prompt import SeverityPrompt
from tests.full_disk import end_on_page_boundary, fill, small_tmpfs
from tests.pilot_wait import wait_for
from tests.test_log_lock import HOLD
from tests.test_ui_app import fixed_clock, make_app, write_incident

pytestmark = pytest.mark.anyio

DECISION = "Fail over to secondary"
WHY = "primary storage down"


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


def entries(path: Path) -> list[Entry]:
    return list(IncidentLog(path).read().entries)


def toasts(app: CockpitApp, containing: str) -> list[str]:
    return [str(n.message) for n in app._notifications if containing in str(n.message)]


def only_draft(path: Path) -> Draft:
    listing = list_drafts(path)
    assert listing.problems == ()
    (draft,) = listing.drafts
    file = drafts_dir(path) / f"{draft.id}.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    return draft


async def opened(pilot: object, app: CockpitApp) -> None:
    """The first read of the log has reached the header (write_incident's title): a test that
    ends before that would race the app's own first update while it shuts down."""
    header = app.query_one(IncidentHeader)
    await wait_for(pilot, "the log read", lambda: header.title_text == "EU storage outage", 5)  # type: ignore[arg-type]


async def type_decision(pilot: object, app: CockpitApp, text: str = DECISION) -> None:
    await pilot.press("d")  # type: ignore[attr-defined]
    await wait_for(pilot, "decision form", lambda: isinstance(app.screen, DecisionForm), 5)  # type: ignore[arg-type]
    await pilot.press(*text[:4])  # type: ignore[attr-defined]
    form = app.screen
    assert form.query_one("#decision", Input).value == text[:4]
    form.query_one("#decision", Input).value = text
    form.query_one("#why", Input).value = WHY


async def test_a_decision_waiting_for_a_held_lock_is_kept_as_a_draft_at_quit(
    held_lock: tuple[Path, int],
) -> None:
    path, holder_pid = held_lock
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await type_decision(pilot, app)
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
    draft = only_draft(path)
    assert (draft.kind, draft.why, draft.author) == (
        "decision",
        "quit while waiting for the lock",
        "alice",
    )
    assert draft.fields == {"text": DECISION, "why": WHY, "approver": "", "target": ""}


async def test_a_decision_on_a_full_disk_is_kept_and_the_toast_says_so_once(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        path = disk / "inc.jsonl"
        log = write_incident(path)
        end_on_page_boundary(path, lambda text: log.append("note", text, author="bob"))
        before = entries(path)
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(pilot, app)
            reserve = drafts_dir(path) / ".reserve"
            await wait_for(pilot, "the draft reserve", reserve.exists, 5)
            await pilot.pause(0.2)
            fill(disk)
            await type_decision(pilot, app)
            await pilot.press("enter")
            await wait_for(pilot, "the failure toast", lambda: bool(toasts(app, "not written")), 10)
            await pilot.pause(0.3)
            (toast,) = toasts(app, "not written")
            assert toast.startswith(f"decision not written: {path}: could not write the entry")
            assert "No space left on device" in toast
            assert toast.endswith("; kept as a draft beside the log")
        assert entries(path) == before
        draft = only_draft(path)
        assert draft.why.startswith("could not write: ") and "No space left" in draft.why
        assert draft.fields["text"] == DECISION


async def test_the_next_opening_offers_the_draft_and_a_submit_writes_it_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    fields = {"text": DECISION, "why": WHY, "approver": "carol", "target": ""}
    save_draft(path, "decision", fields, author="alice", why="terminal went away")
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.pause(0.2)
        assert entries(path) == before, "offering writes nothing"
        options = app.screen.query_one(OptionList)
        assert DECISION in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_for(pilot, "the reopened form", lambda: isinstance(app.screen, DecisionForm), 5)
        form = app.screen
        assert form.query_one("#decision", Input).value == DECISION
        assert form.query_one("#approver", Input).value == "carol"
        await pilot.press("enter")
        await wait_for(pilot, "the decision written", lambda: len(entries(path)) > len(before), 5)
        await wait_for(pilot, "the draft gone", lambda: not list_drafts(path).drafts, 5)
    new = entries(path)[len(before) :]
    assert [(e.kind, e.text, e.data.get("why"), e.data.get("approver")) for e in new] == [
        ("decision", DECISION, WHY, "carol")
    ]


async def test_escape_leaves_drafts_for_later_and_discard_removes_one(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    save_draft(path, "severity", {"text": "SEV1"}, author="alice", why="quit")
    before = entries(path)
    await answer_offer(path, "escape")
    await assert_drafts(path, 1)
    await answer_offer(path, "x")
    await assert_drafts(path, 0)
    assert entries(path) == before


async def answer_offer(path: Path, key: str) -> None:
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.press(key)
        await wait_for(pilot, "closed", lambda: not isinstance(app.screen, DraftOffer), 5)
        await pilot.pause(0.3)


async def assert_drafts(path: Path, count: int) -> None:
    assert len(list_drafts(path).drafts) == count


async def test_a_damaged_draft_file_is_named_in_the_offer_not_a_traceback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    save_draft(path, "role", {"text": "commander"}, author="alice", why="quit")
    damaged = drafts_dir(path) / "20261127T143105Z-0000000a.json"
    damaged.write_bytes(b'{"format": "cockpit-draft", \x1b[31m')
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        shown = str(app.screen.query_one("#draft-problems").render())
        assert f"{damaged}: not a readable draft (damaged" in shown
        assert "\x1b" not in shown
        await pilot.press("escape")
        assert app.is_running


async def test_a_read_only_viewer_is_told_of_drafts_and_sets_nothing_aside(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    save_draft(path, "severity", {"text": "SEV1"}, author="alice", why="quit")
    app = CockpitApp(path, author="dave", clock=fixed_clock, probes=False, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the notice", lambda: bool(toasts(app, "1 draft beside")), 5)
        assert not isinstance(app.screen, DraftOffer)
    assert not (drafts_dir(path) / ".reserve").exists()
    assert len(list_drafts(path).drafts) == 1


async def test_a_form_open_at_quit_is_kept_and_an_unchanged_reopened_one_is_not_doubled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await type_decision(pilot, app)
        app.exit()
    draft = only_draft(path)
    assert (draft.why, draft.fields["text"]) == ("quit with the form open", DECISION)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.press("enter")
        await wait_for(pilot, "the form", lambda: isinstance(app.screen, DecisionForm), 5)
        app.exit()
    assert only_draft(path) == draft
    assert entries(path) == before


async def test_a_reopened_draft_failing_again_is_replaced_and_toasted_once(
    held_lock: tuple[Path, int],
) -> None:
    path, _pid = held_lock
    old = save_draft(path, "severity", {"text": "SEV1"}, author="alice", why="quit")
    before = entries(path)
    app = make_app(path)
    app.incident_log.lock_wait = 0.5
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        await pilot.press("enter")
        # Severity is chosen, not typed: the draft's choice is highlighted in the list.
        await wait_for(pilot, "the prompt", lambda: isinstance(app.screen, SeverityPrompt), 5)
        await pilot.pause(0.1)
        assert app.screen.highlighted() == "SEV1"
        await pilot.press("enter")
        await wait_for(pilot, "the failure", lambda: bool(toasts(app, "not written")), 5)
        await pilot.pause(0.3)
        (toast,) = toasts(app, "not written")
        assert toast.startswith("severity not written: ")
        assert "is locked by pid" in toast and toast.endswith("kept as a draft beside the log")
    assert entries(path) == before
    new = only_draft(path)
    assert new.id != old.id and new.fields == {"text": "SEV1"}
    assert new.why.startswith("could not write: ") and "locked" in new.why


async def test_entries_written_while_the_offer_is_open_still_reach_the_panes(
    tmp_path: Path,
) -> None:
    """The offer is a modal screen over the panes: another writer's entries arriving while it
    is open still update the header underneath."""
    path = tmp_path / "inc.jsonl"
    log = write_incident(path)
    save_draft(path, "severity", {"text": "SEV1"}, author="alice", why="quit")
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 5)
        log.append("system", "title", {"event": "title", "title": "Renamed"}, author="bob")
        header = app.query_one(IncidentHeader)
        await wait_for(pilot, "the new title", lambda: header.title_text == "Renamed", 5)
        assert isinstance(app.screen, DraftOffer) and app.is_running


async def test_a_checklist_note_open_at_quit_is_kept_as_a_note_on_its_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await pilot.press("4", "n")
        await wait_for(pilot, "the note prompt", lambda: isinstance(app.screen, TextPrompt), 5)
        app.screen.query_one(Input).value = "mx2 answers slowly"
        app.exit()
    draft = only_draft(path)
    assert (draft.kind, draft.why) == ("note", "quit with the form open")
    assert draft.fields == {"step": "confirm-scope", "text": "mx2 answers slowly"}
    assert entries(path) == before


@pytest.mark.anyio
async def test_a_draft_file_with_escape_sequences_reopens_cleaned(tmp_path: Path) -> None:
    """Anyone who can write the drafts directory controls its files: reopened, a draft's text
    goes into the form's Input cleaned, never as raw escape sequences for the terminal."""
    from tests.hostile_data import ALL_IN_ONE
    from tests.test_ui_hostile import assert_inert, dump_screen

    path = tmp_path / "inc.jsonl"
    write_incident(path)
    fields = {"text": "fail over " + ALL_IN_ONE, "why": "why " + ALL_IN_ONE, "approver": "",
              "target": ""}  # fmt: skip
    save_draft(path, "decision", fields, author="alice", why="terminal went away")
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, "the offer", lambda: isinstance(app.screen, DraftOffer), 10)
        await pilot.press("enter")
        await wait_for(pilot, "the form", lambda: isinstance(app.screen, DecisionForm), 10)
        await pilot.pause(0.3)
        value = app.screen.query_one("#decision", Input).value
        assert value.startswith("fail over ") and "\x1b" not in value and "\x9b" not in value
        assert_inert(dump_screen(app))
