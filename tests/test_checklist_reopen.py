"""Taking a tick back: a "reopened" correction entry, written by Space on one's own tick
(confirmed); the log keeps the tick, the checklist shows the step open, the export shows the
correction."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.pilot import Pilot

from cockpit.incident.checklist import ChecklistError, checklist_state, mark_done, reopen, skip
from cockpit.incident.export_md import render_markdown
from cockpit.incident.log import IncidentLog
from cockpit.safe_text import md_inline
from cockpit.ui.confirm_prompt import ConfirmPrompt
from tests.test_ui_checklist import (
    STEPS,
    ChecklistApp,
    checks,
    highlight,
    prompt_of,
    run_checklist,
    settle,
)


@pytest.fixture
def log(tmp_path: Path) -> IncidentLog:
    return IncidentLog(tmp_path / "incident.jsonl")


def _append(log: IncidentLog, parts: tuple[str, str, dict[str, object]], author: str) -> int:
    kind, text, data = parts
    return log.append(kind, text, data, author=author).seq


def test_a_reopen_takes_the_tick_back_and_a_new_tick_counts(log: IncidentLog) -> None:
    done_seq = _append(log, mark_done(checklist_state(STEPS, ()), "scope", "alice"), "alice")
    state = checklist_state(STEPS, log.read().entries)
    parts = reopen(state, "scope", "alice", done_seq)
    assert parts[2] == {
        "step": "scope",
        "result": "reopened",
        "title": "Confirm the scope",
        "stage": "before",
        "corrects_seq": done_seq,
        "was": "done",
        "was_by": "alice",
    }
    _append(log, parts, "alice")
    after = checklist_state(STEPS, log.read().entries)["scope"]
    assert (after.status, after.by, after.seq) == ("open", None, None)
    again = _append(
        log, mark_done(checklist_state(STEPS, log.read().entries), "scope", "bob"), "bob"
    )
    final = checklist_state(STEPS, log.read().entries)["scope"]
    assert (final.status, final.by, final.seq) == ("done", "bob", again)
    assert after.reopened is not None and after.reopened[0] == "alice"
    assert [e.data["result"] for e in log.read().entries] == ["done", "reopened", "done"]


def test_a_skip_can_be_reopened_too(log: IncidentLog) -> None:
    _append(log, skip(checklist_state(STEPS, ()), "scope", "not needed"), "alice")
    state = checklist_state(STEPS, log.read().entries)
    _append(log, reopen(state, "scope", "alice"), "alice")
    assert checklist_state(STEPS, log.read().entries)["scope"].status == "open"


@pytest.mark.parametrize(
    ("author", "expected_seq", "message"),
    [
        ("bob", None, "not by bob: only your own tick or skip can be taken back"),
        ("alice", 99, "changed since this screen showed it (now seq 1)"),
    ],
)
def test_a_reopen_is_refused_for_someone_elses_tick_or_a_changed_step(
    log: IncidentLog, author: str, expected_seq: int | None, message: str
) -> None:
    _append(log, mark_done(checklist_state(STEPS, ()), "scope", "alice"), "alice")
    state = checklist_state(STEPS, log.read().entries)
    with pytest.raises(ChecklistError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reopen(state, "scope", author, expected_seq)


def test_an_open_step_cannot_be_reopened() -> None:
    with pytest.raises(ChecklistError, match="is open already"):
        reopen(checklist_state(STEPS, ()), "scope", "alice")


def test_space_on_my_own_tick_asks_then_reopens(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        assert "[x] Confirm the scope" in prompt_of(app, "scope")
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPrompt)
        question = str(app.screen.query_one("#confirm-question").render())
        assert "Reopen it? A correction entry takes your tick back" in question
        await pilot.press("n")  # keep it: nothing written
        await settle(pilot)
        assert len(checks(log)) == 1
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPrompt)
        await pilot.press("y")
        await settle(pilot)
        assert "[ ] Confirm the scope" in prompt_of(app, "scope")
        assert "reopened by alice at " in prompt_of(app, "scope")
        assert any("Reopened: Confirm the scope" in str(n.message) for n in app._notifications)

    run_checklist(log, "alice", scenario)
    done, reopened = checks(log)
    assert (done.data["result"], reopened.data["result"]) == ("done", "reopened")
    assert reopened.author == "alice" and reopened.data["corrects_seq"] == done.seq
    export = render_markdown(log.read().entries, name="incident", steps=STEPS)
    # The timeline says what happened; the checklist results say where the step ended: open.
    said = md_inline("correction: takes back the tick at seq 1")
    assert f"| check | Confirm the scope: reopened; {said} |" in export
    row = r"\| scope \| before \| Confirm the scope \| open \|  \| reopened by alice [-0-9: ]+ UTC"
    row += r" \|$"
    assert re.search(row, export, re.M), export


def test_space_on_someone_elses_tick_still_says_already_done(log: IncidentLog) -> None:
    _append(log, mark_done(checklist_state(STEPS, ()), "scope", "bob"), "bob")

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmPrompt)

    run_checklist(log, "alice", scenario)
    assert [e.data["result"] for e in checks(log)] == ["done", "already-done"]


def test_a_reopen_loses_to_a_change_made_meanwhile(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPrompt)
        # Another screen takes the same tick back while this one asks.
        state = checklist_state(STEPS, log.read().entries)
        _append(log, reopen(state, "scope", "alice"), "alice")
        await pilot.press("y")
        await settle(pilot)
        assert app.failures and "is open already" in app.failures[-1]

    run_checklist(log, "alice", scenario)
    assert [e.data["result"] for e in checks(log)] == ["done", "reopened"]


def test_space_on_my_own_skip_still_ticks_it(log: IncidentLog) -> None:
    _append(log, skip(checklist_state(STEPS, ()), "scope", "not needed"), "alice")

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmPrompt)
        assert "[x] Confirm the scope" in prompt_of(app, "scope")

    run_checklist(log, "alice", scenario)
    assert [e.data["result"] for e in checks(log)] == ["skipped", "done"]
