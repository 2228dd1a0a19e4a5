"""Pilot tests for the checklist pane and the decision form, on a real incident log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList, Select

from cockpit.errors import IncidentLogError
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.log import IncidentLog
from cockpit.incident.phases import current_target_region
from cockpit.incident.runbook import Step, parse_condition
from cockpit.model import Finding, Status
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt
from cockpit.ui.decision_form import (
    DecisionError,
    DecisionForm,
    DecisionResult,
    decision_parts,
)
from cockpit.ui.ui_messages import LogAppended

HOSTILE_TITLE = "[bold red]boom[/] [@click=app.quit]x[/] \x1b[31mred"
HOSTILE_NOTE = "[link=https://evil.example]click[/link] \x1b]0;title\x07 \u202eevil"

STEPS: tuple[Step, ...] = (
    Step("scope", "before", "Confirm the scope", "", None, None),
    Step("declare", "before", "Declare the incident", "", None, "declared"),
    Step(
        "cutover",
        "during",
        "Cut over",
        "",
        parse_condition("dns.MX region=TARGET == ok"),
        "routed",
    ),
    Step("evil", "after", HOSTILE_TITLE, "", None, None),
)
SIZE = (80, 24)


class ChecklistApp(App[None]):
    def __init__(self, log: IncidentLog, author: str) -> None:
        super().__init__()
        self.log_file = log
        self.author = author
        self.messages: list[LogAppended] = []

    def compose(self) -> ComposeResult:
        yield ChecklistPane(STEPS, self.log_file, self.author)

    def on_mount(self) -> None:
        entries = self.log_file.read().entries if self.log_file.exists() else []
        self.query_one(ChecklistPane).show_entries(entries)

    def on_log_appended(self, message: LogAppended) -> None:
        self.messages.append(message)


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the messages they posted be handled."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def run_checklist(
    log: IncidentLog, author: str, scenario: Callable[[Pilot[None], ChecklistApp], Awaitable[None]]
) -> ChecklistApp:
    app = ChecklistApp(log, author)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await scenario(pilot, app)
            await settle(pilot)

    asyncio.run(main())
    return app


async def highlight(pilot: Pilot[None], step_id: str) -> None:
    option_list = pilot.app.query_one(OptionList)
    option_list.focus()
    option_list.highlighted = option_list.get_option_index(step_id)
    await pilot.pause()


async def answer_prompt(pilot: Pilot[None], text: str) -> None:
    await pilot.pause()
    assert isinstance(pilot.app.screen, TextPrompt)
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await settle(pilot)


def checks(log: IncidentLog) -> list[Entry]:
    return [entry for entry in log.read().entries if entry.kind == "check"]


def prompt_of(app: App[None], step_id: str) -> str:
    option_list = app.query_one(OptionList)
    return str(option_list.get_option(step_id).prompt)


@pytest.fixture
def log(tmp_path: Path) -> IncidentLog:
    return IncidentLog(tmp_path / "incident.jsonl")


def test_space_marks_done_with_author(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        assert "[x] Confirm the scope" in prompt_of(app, "scope")
        assert "done by alice" in prompt_of(app, "scope")

    app = run_checklist(log, "alice", scenario)
    (entry,) = checks(log)
    assert entry.author == "alice"
    assert entry.data["step"] == "scope" and entry.data["result"] == "done"
    assert [m.appended[0].seq for m in app.messages] == [entry.seq]


def test_skip_with_reason(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("s")
        await answer_prompt(pilot, "provider confirmed it is global")
        assert "skipped by alice" in prompt_of(app, "scope")

    run_checklist(log, "alice", scenario)
    (entry,) = checks(log)
    assert entry.data["result"] == "skipped"
    assert entry.data["reason"] == "provider confirmed it is global"


def test_skip_cancelled_and_blank_write_nothing(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # blank: refused, the prompt stays
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert "Type something" in str(app.screen.query_one("#prompt-error", Label).content)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TextPrompt)

    run_checklist(log, "alice", scenario)
    assert not log.exists()


def test_note_is_logged_and_shown_literally(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "evil")
        await pilot.press("n")
        await answer_prompt(pilot, HOSTILE_NOTE)
        shown = prompt_of(app, "evil")
        assert "[bold red]boom[/] [@click=app.quit]x[/]" in shown
        assert "[link=https://evil.example]click[/link]" in shown
        assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
        assert "\u241b" in shown  # ESC shown as its control picture

    run_checklist(log, "alice", scenario)
    (entry,) = checks(log)
    assert entry.data["result"] == "note" and entry.data["note"] == HOSTILE_NOTE


def test_ticking_a_done_step_says_already_done_by_whom(log: IncidentLog) -> None:
    log.append(
        "check",
        "Done: Confirm the scope",
        {"step": "scope", "result": "done", "title": "Confirm the scope"},
        author="bob",
    )

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        assert "done by bob" in prompt_of(app, "scope")
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)
        assert "also ticked by alice" in prompt_of(app, "scope")

    run_checklist(log, "alice", scenario)
    first, second = checks(log)
    assert second.author == "alice"
    assert second.data["result"] == "already-done"
    assert second.data["done_by"] == "bob" and second.data["done_seq"] == first.seq
    assert "Already done by bob" in second.text


def test_stale_screen_still_gives_already_done(log: IncidentLog) -> None:
    """Someone else ticks the step after this screen last read the log."""

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        log.append("check", "Done", {"step": "scope", "result": "done", "title": "x"}, author="bob")
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)

    run_checklist(log, "alice", scenario)
    assert [e.data["result"] for e in checks(log)] == ["done", "already-done"]


def test_phase_step_appends_the_phase_entry_once(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "declare")
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("space")  # already done: no second phase entry
        await settle(pilot)

    run_checklist(log, "alice", scenario)
    entries = log.read().entries
    phases = [entry for entry in entries if entry.kind in ("phase", "correction")]
    assert len(phases) == 1
    (phase,) = phases
    done = next(e for e in entries if e.kind == "check" and e.data["result"] == "done")
    assert phase.kind == "phase" and phase.data["phase"] == "declared"
    assert phase.author == "alice" and phase.seq == done.seq + 1
    assert phase.data["at"] == format_ts(done.ts)


def test_double_press_gives_one_done_and_one_phase(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "declare")
        await pilot.press("space", "space")
        await settle(pilot)

    run_checklist(log, "alice", scenario)
    entries = log.read().entries
    assert [e.data["result"] for e in entries if e.kind == "check"] == ["done", "already-done"]
    assert [e.data["phase"] for e in entries if e.kind in ("phase", "correction")] == ["declared"]


def test_phase_already_set_is_left_alone(log: IncidentLog) -> None:
    log.append(
        "phase", "declared", {"phase": "declared", "at": "2026-11-27T13:50:00.000Z"}, author="cli"
    )

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "declare")
        await pilot.press("space")
        await settle(pilot)

    run_checklist(log, "alice", scenario)
    assert [e.kind for e in log.read().entries] == ["phase", "check"]


def test_auto_hint_shown_and_confirmed_sets_routed(log: IncidentLog) -> None:
    seen = datetime(2026, 11, 27, 14, 2, 30, tzinfo=UTC)
    mx_ok = Finding("dns", "MX", "example.com", Status.OK, "ok", region="secondary")
    mx_other = Finding("dns", "MX", "example.com", Status.OK, "ok", region="primary")

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        pane = app.query_one(ChecklistPane)
        pane.show_findings([mx_other], seen, "secondary")
        await pilot.pause()
        assert "satisfied by probe" not in prompt_of(app, "cutover")
        await highlight(pilot, "cutover")
        await pilot.press("c")  # nothing satisfies it yet: nothing written
        await settle(pilot)
        assert not log.exists()
        pane.show_findings([mx_ok, mx_other], seen, "secondary")
        await pilot.pause()
        assert "satisfied by probe at 14:02" in prompt_of(app, "cutover")
        await pilot.press("c")
        await settle(pilot)
        assert "satisfied by probe" not in prompt_of(app, "cutover")
        assert "[x] Cut over" in prompt_of(app, "cutover")

    run_checklist(log, "carol", scenario)
    entries = log.read().entries
    done, phase = entries
    assert done.data["result"] == "done" and done.data["auto"] == {
        "seen_at": "2026-11-27T14:02:30.000Z"
    }
    assert phase.kind == "phase" and phase.data["phase"] == "routed"


def test_hostile_step_title_renders_literally(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        shown = prompt_of(app, "evil")
        assert "[bold red]boom[/] [@click=app.quit]x[/] \u241b[31mred" in shown
        assert "\x1b" not in shown
        option_list = app.query_one(OptionList)
        screen_lines = [
            "".join(segment.text for segment in option_list.render_line(y))
            for y in range(option_list.size.height)
        ]
        assert any("[ ] [bold red]boom[/] [@click=app.quit]x[/]" in line for line in screen_lines)

    run_checklist(log, "alice", scenario)


# ---- the decision form -------------------------------------------------------------------------

REGIONS = ("primary", "secondary")


def write_decision(log: IncidentLog, result: DecisionResult, author: str) -> Entry:
    """Appends the decision the way the cockpit does: built under the log's lock."""
    (entry,) = log.append_built(
        lambda entries: [decision_parts(result, entries, REGIONS)], author=author
    )
    return entry


class FormApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[DecisionResult | None] = []

    def on_mount(self) -> None:
        self.push_screen(DecisionForm(REGIONS), self.results.append)


def run_form(scenario: Callable[[Pilot[None], FormApp], Awaitable[None]]) -> FormApp:
    app = FormApp()

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await scenario(pilot, app)
            await pilot.pause()

    asyncio.run(main())
    return app


def fill(app: App[None], **values: str) -> None:
    for field_id, value in values.items():
        app.screen.query_one(f"#{field_id}", Input).value = value


def test_decision_form_submit_and_write(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: FormApp) -> None:
        assert isinstance(app.screen, DecisionForm)
        fill(app, decision="Fail over to secondary", why="primary down", approver="dana")
        app.screen.query_one(Select).value = "secondary"
        app.screen.query_one("#decision", Input).focus()
        await pilot.press("enter")

    app = run_form(scenario)
    (result,) = app.results
    assert result == DecisionResult("Fail over to secondary", "primary down", "dana", "secondary")
    assert result is not None
    entry = write_decision(log, result, "alice")
    assert entry.kind == "decision" and entry.text == "Fail over to secondary"
    assert entry.author == "alice"
    assert dict(entry.data) == {
        "why": "primary down",
        "approver": "dana",
        "target_region": "secondary",
        "previous_region": "primary",
    }
    entries = log.read().entries
    assert current_target_region(entries) == "secondary"
    back = write_decision(log, DecisionResult("Fail back", target_region="primary"), "a")
    assert back.data["previous_region"] == "secondary"


def test_decision_without_region_and_record_button(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: FormApp) -> None:
        fill(app, decision="Hold the cutover for 15 minutes")
        await pilot.click("#record")

    app = run_form(scenario)
    (result,) = app.results
    assert result == DecisionResult("Hold the cutover for 15 minutes")
    entry = write_decision(log, result, "alice")
    assert dict(entry.data) == {}


def test_decision_required_and_cancel_writes_nothing(log: IncidentLog) -> None:
    async def scenario(pilot: Pilot[None], app: FormApp) -> None:
        fill(app, why="no decision typed")
        app.screen.query_one("#why", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DecisionForm)
        error = app.screen.query_one("#decision-error", Label)
        assert "A decision is required" in str(error.content)
        await pilot.press("escape")

    app = run_form(scenario)
    assert app.results == [None]
    assert not log.exists()


def test_write_decision_refuses_blank_and_unknown_region(log: IncidentLog) -> None:
    with pytest.raises(DecisionError):
        write_decision(log, DecisionResult("  "), "alice")
    with pytest.raises(DecisionError, match="no region named"):
        write_decision(log, DecisionResult("go", target_region="mars"), "alice")
    assert not log.exists()
    with pytest.raises(IncidentLogError):
        log.read()
