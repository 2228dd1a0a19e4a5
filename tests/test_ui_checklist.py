"""Pilot tests for the checklist pane and the decision form, on a real incident log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList, Select

from cockpit.compat import UTC
from cockpit.errors import IncidentLogError
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.log import IncidentLog
from cockpit.incident.phases import current_target_region
from cockpit.incident.runbook import BUILTIN_STEPS, Step, parse_condition
from cockpit.model import Finding, Status
from cockpit.ui.checklist_pane import JUDGE_AGAIN_S, ChecklistPane, TextPrompt, clock
from cockpit.ui.decision_form import (
    DecisionError,
    DecisionForm,
    DecisionResult,
    decision_parts,
)
from cockpit.ui.ui_messages import LogAppended, LogAppendFailed

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
    def __init__(self, log: IncidentLog, author: str, steps: tuple[Step, ...] = STEPS) -> None:
        super().__init__()
        self.log_file = log
        self.author = author
        self.steps = steps
        self.messages: list[LogAppended] = []
        self.failures: list[str] = []

    def compose(self) -> ComposeResult:
        yield ChecklistPane(self.steps, self.log_file, self.author)

    def on_mount(self) -> None:
        entries = self.log_file.read().entries if self.log_file.exists() else []
        self.query_one(ChecklistPane).show_entries(entries)

    def on_log_appended(self, message: LogAppended) -> None:
        self.messages.append(message)

    def on_log_append_failed(self, message: LogAppendFailed) -> None:
        self.failures.append(message.reason)


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the messages they posted be handled."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def run_checklist(
    log: IncidentLog,
    author: str,
    scenario: Callable[[Pilot[None], ChecklistApp], Awaitable[None]],
    steps: tuple[Step, ...] = STEPS,
) -> ChecklistApp:
    app = ChecklistApp(log, author, steps)

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
        # Both presses handled before the first write is shown (a press after it is shown, on
        # one's own tick, asks to reopen the step instead: test_checklist_reopen.py).
        pane = app.query_one(ChecklistPane)
        pane.action_done()
        pane.action_done()
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


def decide(log: IncidentLog, target: str = "secondary") -> Entry:
    """A failover decision naming `target`, written now (the log's clock is the real one)."""
    data = {"why": "primary down", "target_region": target, "previous_region": "primary"}
    return log.append("decision", f"Fail over to {target}", data, author="dana")


def mx_finding(region: str, at: datetime, status: Status = Status.OK) -> Finding:
    return Finding("dns", "MX", "example.com", status, "ok", region=region, observed_at=at)


def test_auto_hint_shown_and_confirmed_sets_routed(log: IncidentLog) -> None:
    decision = decide(log)
    seen = decision.ts + timedelta(seconds=30)
    mx_ok = mx_finding("secondary", seen)
    mx_other = mx_finding("primary", seen)

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        pane = app.query_one(ChecklistPane)
        assert "waiting for evidence: no probe results yet" in prompt_of(app, "cutover")
        pane.show_findings([mx_other], seen, "secondary")
        await pilot.pause()
        assert "satisfied by probe" not in prompt_of(app, "cutover")
        assert "waiting for evidence: dns.MX (secondary): no finding yet" in prompt_of(
            app, "cutover"
        )
        await highlight(pilot, "cutover")
        await pilot.press("c")  # nothing satisfies it yet: nothing written
        await settle(pilot)
        assert len(log.read().entries) == 1
        pane.show_findings([mx_ok, mx_other], seen, "secondary")
        await pilot.pause()
        assert f"satisfied by probe at {clock(seen)}: c to confirm" in prompt_of(app, "cutover")
        assert "waiting for evidence" not in prompt_of(app, "cutover")
        await pilot.press("c")
        await settle(pilot)
        assert "satisfied by probe" not in prompt_of(app, "cutover")
        assert "waiting for evidence" not in prompt_of(app, "cutover")
        assert "[x] Cut over" in prompt_of(app, "cutover")

    run_checklist(log, "carol", scenario)
    _, done, phase = log.read().entries
    assert done.data["result"] == "done" and done.data["auto"] == {
        "seen_at": format_ts(seen),
        "condition": "dns.MX region=TARGET after=decision == ok",
        "evidence": [
            {
                "area": "dns",
                "check": "MX",
                "subject": "example.com",
                "region": "secondary",
                "status": "ok",
                "observed_at": format_ts(seen),
            }
        ],
    }
    assert phase.kind == "phase" and phase.data["phase"] == "routed"


def test_before_a_decision_nothing_is_claimed_on_screen(log: IncidentLog) -> None:
    """The drill's first minutes: every finding is ok for the primary, observed now, and the
    runner's default target is the primary. No step that marks routed or restored holds."""
    log.append("phase", "impact", {"phase": "impact"}, author="alice")
    now = datetime.now(UTC) + timedelta(seconds=5)
    recent = [[(now - timedelta(seconds=s)).isoformat(), 0] for s in (40, 20, 0)]
    findings = [
        mx_finding("primary", now),
        Finding("service", "smtp", "mx1:25", Status.OK, "220", "primary", observed_at=now),
        Finding(
            "queue", "depth", "mx1", Status.OK, "empty", "primary", None, {"recent": recent}, now
        ),
        *(
            Finding("auth", check, "example.com", Status.OK, "ok", "primary", observed_at=now)
            for check in ("spf", "dkim", "dmarc", "webmail")
        ),
    ]

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        pane = app.query_one(ChecklistPane)
        pane.show_findings(findings, now, "primary")
        await pilot.pause()
        for step_id in ("cutover", "mail-flowing", "webmail-cert"):
            assert pane.auto_hint(step_id) is None, step_id
            shown = prompt_of(app, step_id)
            assert "satisfied" not in shown, step_id
            assert "waiting for evidence: no failover decision yet" in shown, step_id
        assert "waiting for evidence: no failover decision yet" in prompt_of(app, "auth-alignment")
        await highlight(pilot, "mail-flowing")
        await pilot.press("c")
        await settle(pilot)

    run_checklist(log, "alice", scenario, BUILTIN_STEPS)
    assert [entry.kind for entry in log.read().entries] == ["phase"]  # nothing confirmed


def test_mail_flowing_confirmed_with_its_evidence_after_routed(log: IncidentLog) -> None:
    decide(log)
    routed = log.append("phase", "routed", {"phase": "routed"}, author="alice")
    first = routed.ts + timedelta(seconds=10)
    now = first + timedelta(seconds=20)
    recent = [[routed.ts.isoformat(), 9], [first.isoformat(), 3], [now.isoformat(), 3]]
    smtp = Finding("service", "smtp", "mx2:25", Status.OK, "220", "secondary", observed_at=now)
    queue = Finding(
        "queue", "depth", "mx2", Status.OK, "3", "secondary", None, {"recent": recent}, now
    )

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        pane = app.query_one(ChecklistPane)
        pane.show_findings([smtp, queue], now, "primary")  # the runner's target is ignored
        await pilot.pause()
        assert f"satisfied by probe at {clock(now)}: c to confirm" in prompt_of(app, "mail-flowing")
        await highlight(pilot, "mail-flowing")
        await pilot.press("c")
        await settle(pilot)
        assert "[x] Mail flows again" in prompt_of(app, "mail-flowing")

    run_checklist(log, "carol", scenario, BUILTIN_STEPS)
    entries = log.read().entries
    done = next(e for e in entries if e.kind == "check")
    assert done.data["auto"]["condition"] == (
        "service.smtp region=TARGET after=routed == ok"
        " and queue.depth region=TARGET after=routed drains"
        " or canary.inbound region=TARGET after=routed == ok"
        " and canary.outbound region=TARGET after=routed == ok"
    )
    cited = [(e["area"], e["subject"], e["observed_at"]) for e in done.data["auto"]["evidence"]]
    assert cited == [("service", "mx2:25", format_ts(now)), ("queue", "mx2", format_ts(now))]
    assert "(confirmed from probe results)" in done.text
    assert entries[-1].kind == "phase" and entries[-1].data["phase"] == "restored"


def test_confirm_judges_again_on_the_log_as_it_is(log: IncidentLog) -> None:
    """A decision someone else wrote after this screen last read the log moves the target: the
    findings no longer prove the step, so nothing is written and the pane says why."""
    decision = decide(log)
    seen = decision.ts + timedelta(seconds=30)

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        pane = app.query_one(ChecklistPane)
        pane.show_findings([mx_finding("secondary", seen)], seen, "secondary")
        await pilot.pause()
        assert pane.auto_hint("cutover") is not None
        decide(log, "tertiary")  # not read by the pane yet
        await highlight(pilot, "cutover")
        await pilot.press("c")
        await settle(pilot)

    app = run_checklist(log, "carol", scenario)
    assert [entry.kind for entry in log.read().entries] == ["decision", "decision"]
    assert app.failures == [
        "tick of step cutover (Cut over) not written: not confirmed: "
        "waiting for evidence: dns.MX (tertiary): no finding yet"
    ]


def test_a_tick_that_cannot_be_written_says_so_once_naming_the_step(log: IncidentLog) -> None:
    """The log was deleted after entries were acknowledged: the tick is refused, and the one
    error names the step and says it was a write (the app shows it; the pane adds none)."""
    log.append("note", "first", author="alice")
    log.path.unlink()

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        await highlight(pilot, "scope")
        await pilot.press("space")
        await settle(pilot)

    app = run_checklist(log, "alice", scenario)
    assert len(app.failures) == 1, app.failures
    assert app.failures[0].startswith("tick of step scope (Confirm the scope) not written: ")
    assert "lost acknowledged entries" in app.failures[0]
    assert not app._notifications  # the pane itself toasts nothing: the app toasts once
    assert not log.path.exists()


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


class ClockedChecklistApp(ChecklistApp):
    """A ChecklistApp with the cockpit's `clock`, set by the test."""

    def __init__(self, log: IncidentLog, author: str, now: datetime) -> None:
        super().__init__(log, author)
        self.now = now

    def clock(self) -> datetime:
        return self.now


def test_a_hint_that_grew_stale_is_taken_back_and_cannot_be_confirmed(log: IncidentLog) -> None:
    """The probes stopped answering: no new findings came. The hint is judged again on the
    cockpit's clock (every JUDGE_AGAIN_S, and at the confirm), so a finding older than its
    freshness bound no longer satisfies the step, on screen or by `c`."""
    decision = decide(log)
    seen = decision.ts + timedelta(seconds=30)
    app = ClockedChecklistApp(log, "carol", seen + timedelta(seconds=1))

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            pane = app.query_one(ChecklistPane)
            pane.show_findings([mx_finding("secondary", seen)], seen, "secondary")
            await pilot.pause()
            assert "satisfied by probe at" in prompt_of(app, "cutover")
            app.now = seen + timedelta(minutes=10)  # no finding since
            await highlight(pilot, "cutover")
            await pilot.press("c")
            await settle(pilot)
            assert "stale, last seen" in prompt_of(app, "cutover"), prompt_of(app, "cutover")
            assert "satisfied by probe" not in prompt_of(app, "cutover")
            # And on its own, without a key: back to fresh, then stale again by the timer.
            app.now = seen + timedelta(seconds=2)
            pane._judge_again()
            await pilot.pause()
            assert "satisfied by probe at" in prompt_of(app, "cutover")
            app.now = seen + timedelta(minutes=10)
            for _ in range(int(JUDGE_AGAIN_S * 10) + 50):  # the timer's next beat, loaded too
                if "stale, last seen" in prompt_of(app, "cutover"):
                    break
                await pilot.pause(0.1)
            assert "stale, last seen" in prompt_of(app, "cutover"), prompt_of(app, "cutover")

    asyncio.run(main())
    assert [entry.kind for entry in log.read().entries] == ["decision"]  # nothing confirmed


def test_a_step_done_for_an_earlier_failover_shows_open_with_how_it_stood(
    log: IncidentLog,
) -> None:
    decide(log, "secondary")
    log.append("check", "Cut over", {"step": "cutover", "result": "done"}, author="bob")
    decide(log, "tertiary")

    async def scenario(pilot: Pilot[None], app: ChecklistApp) -> None:
        shown = prompt_of(app, "cutover")
        assert shown.startswith("[ ] Cut over"), shown
        assert "done by bob at " in shown and "for the failover to secondary: open again" in shown

    run_checklist(log, "carol", scenario)
