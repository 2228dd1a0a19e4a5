"""Checklist state from the log, the entries its actions append, and auto conditions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.incident.checklist import (
    ChecklistError,
    IncidentMoments,
    add_note,
    auto_result,
    auto_satisfied,
    checklist_state,
    mark_done,
    phase_to_set,
    skip,
)
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.phases import effective_phases, phase_record
from cockpit.incident.runbook import BUILTIN_STEPS, Step, parse_condition
from cockpit.model import Finding, Status

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
STEPS = BUILTIN_STEPS
BY_ID = {step.id: step for step in STEPS}


class Log:
    """An in-memory log: entries get seq and ts like the real one."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def append(self, kind: str, text: str, data: Mapping[str, Any], *, author: str) -> Entry:
        seq = len(self.entries) + 1
        entry = Entry(seq, T0 + timedelta(minutes=seq), author, {}, kind, text, dict(data))
        self.entries.append(entry)
        return entry

    def state(self) -> dict[str, Any]:
        return checklist_state(STEPS, self.entries)


def test_every_step_starts_open_in_checklist_order() -> None:
    state = checklist_state(STEPS, [])
    assert list(state) == [step.id for step in STEPS]
    first = state["confirm-scope"]
    assert (first.status, first.by, first.at, first.reason, first.notes, first.seq) == (
        "open",
        None,
        None,
        None,
        (),
        None,
    )
    assert first.known


def test_done_records_who_and_when() -> None:
    log = Log()
    kind, text, data = mark_done(log.state(), "freeze-changes", "alice")
    assert kind == "check"
    assert text == "Done: Freeze changes that are not part of the fix"
    assert data == {
        "step": "freeze-changes",
        "result": "done",
        "title": BY_ID["freeze-changes"].title,
        "stage": BY_ID["freeze-changes"].phase,
    }
    log.append(kind, text, data, author="alice")
    done = log.state()["freeze-changes"]
    assert (done.status, done.by, done.at, done.seq) == (
        "done",
        "alice",
        T0 + timedelta(minutes=1),
        1,
    )


def test_ticking_a_done_step_says_who_did_it() -> None:
    log = Log()
    log.append(*mark_done(log.state(), "declare", "alice"), author="alice")
    kind, text, data = mark_done(log.state(), "declare", "bob")
    assert text == "Already done by alice: Declare the incident and open its channel"
    assert data["result"] == "already-done" and data["done_by"] == "alice" and data["done_seq"] == 1
    log.append(kind, text, data, author="bob")
    state = log.state()["declare"]
    assert (state.status, state.by, state.seq) == ("done", "alice", 1)
    assert state.also_done_by == (("bob", T0 + timedelta(minutes=2)),)


def test_two_done_entries_from_a_race_count_once() -> None:
    log = Log()
    before = log.state()  # both screens saw the step open
    log.append(*mark_done(before, "cutover", "alice"), author="alice")
    log.append(*mark_done(before, "cutover", "bob"), author="bob")
    state = log.state()["cutover"]
    assert (state.status, state.by) == ("done", "alice")
    assert [who for who, _ in state.also_done_by] == ["bob"]


def test_entries_are_taken_in_seq_order() -> None:
    log = Log()
    log.append(*mark_done(log.state(), "calendars", "alice"), author="alice")
    log.append(*mark_done(checklist_state(STEPS, []), "calendars", "bob"), author="bob")
    state = checklist_state(STEPS, list(reversed(log.entries)))["calendars"]
    assert state.by == "alice"


def test_skip_with_a_reason() -> None:
    log = Log()
    kind, text, data = skip(log.state(), "sample-restore", "  backups are offsite until Monday ")
    assert text == "Skipped: Restore a sample from backup (backups are offsite until Monday)"
    assert data["result"] == "skipped" and data["reason"] == "backups are offsite until Monday"
    log.append(kind, text, data, author="carol")
    state = log.state()["sample-restore"]
    assert (state.status, state.by, state.reason) == (
        "skipped",
        "carol",
        "backups are offsite until Monday",
    )


def test_a_skipped_step_can_still_be_done_but_a_done_one_cannot_be_skipped() -> None:
    log = Log()
    log.append(*skip(log.state(), "search-index", "index rebuilding"), author="carol")
    log.append(*mark_done(log.state(), "search-index", "dave"), author="dave")
    state = log.state()["search-index"]
    assert (state.status, state.by, state.reason) == ("done", "dave", None)
    with pytest.raises(ChecklistError, match="already done by dave"):
        skip(log.state(), "search-index", "changed my mind")


def test_a_skip_in_the_log_after_done_leaves_it_done() -> None:
    log = Log()
    stale = log.state()
    log.append(*mark_done(stale, "calendars", "alice"), author="alice")
    log.append(*skip(stale, "calendars", "no time"), author="bob")
    assert log.state()["calendars"].status == "done"


def test_notes_attach_whatever_the_status() -> None:
    log = Log()
    log.append(*add_note(log.state(), "evidence-smtp", "421 from gmail edge"), author="alice")
    log.append(*mark_done(log.state(), "evidence-smtp", "bob"), author="bob")
    kind, text, data = add_note(log.state(), "evidence-smtp", "550 5.7.1 from one partner")
    assert text == "Note on Evidence: SMTP rejection codes: 550 5.7.1 from one partner"
    assert data["note"] == "550 5.7.1 from one partner" and data["result"] == "note"
    log.append(kind, text, data, author="carol")
    state = log.state()["evidence-smtp"]
    assert state.status == "done"
    assert [(who, note) for who, _, note in state.notes] == [
        ("alice", "421 from gmail edge"),
        ("carol", "550 5.7.1 from one partner"),
    ]


@pytest.mark.parametrize(
    ("action", "args", "needle"),
    [
        (mark_done, ("no-such-step", "alice"), "no step with id"),
        (skip, ("declare", "   "), "cannot be empty"),
        (add_note, ("declare", ""), "cannot be empty"),
        (add_note, ("declare", "x" * 2001), "longer than"),
    ],
)
def test_bad_actions_are_refused(action: Any, args: tuple[str, str], needle: str) -> None:
    with pytest.raises(ChecklistError, match=needle):
        action(checklist_state(STEPS, []), *args)


def _check(seq: int, data: Mapping[str, Any], *, kind: str = "check", author: str = "x") -> Entry:
    return Entry(seq, T0 + timedelta(seconds=seq), author, {}, kind, "text", dict(data))


def test_unknown_step_ids_are_kept_not_dropped() -> None:
    entries = [
        _check(1, {"step": "old-step", "result": "done", "title": "A step of an older runbook"}),
        _check(2, {"step": "gone", "result": "note", "note": "still here"}),
    ]
    state = checklist_state(STEPS, entries)
    old = state["old-step"]
    assert not old.known and old.status == "done" and old.by == "x"
    assert old.step.phase == "unknown" and old.step.title == "A step of an older runbook"
    assert state["gone"].step.title == "gone" and state["gone"].notes[0][2] == "still here"
    assert list(state)[-2:] == ["old-step", "gone"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"step": 3, "result": "done"},
        {"step": "", "result": "done"},
        {"step": "declare"},
        {"step": "declare", "result": "exploded"},
        {"step": "declare", "result": ["done"]},
    ],
)
def test_check_entries_that_are_not_checklist_entries_are_ignored(data: dict[str, Any]) -> None:
    state = checklist_state(STEPS, [_check(1, data), _check(2, {"step": "declare"}, kind="note")])
    assert state["declare"].status == "open"
    assert set(state) == set(BY_ID)


def test_an_already_done_claim_without_a_done_does_not_mark_the_step() -> None:
    entries = [_check(1, {"step": "declare", "result": "already-done", "done_by": "zed"})]
    state = checklist_state(STEPS, entries)["declare"]
    assert state.status == "open" and state.also_done_by == (("x", T0 + timedelta(seconds=1)),)


def test_sets_phase_feeds_phase_record() -> None:
    assert phase_to_set(BY_ID["declare"]) == "declared"
    assert phase_to_set(BY_ID["calendars"]) is None
    log = Log()
    phase = phase_to_set(BY_ID["cutover"])
    assert phase is not None
    kind, data = phase_record(log.entries, phase, T0)
    log.append(kind, "Routed", data, author="alice")
    assert effective_phases(log.entries).at("routed") == T0


# ---- auto conditions ----------------------------------------------------------------------------


NOW = T0 + timedelta(hours=1)


def _finding(
    area: str,
    check: str,
    status: Status,
    *,
    subject: str = "s",
    region: str | None = None,
    observed_at: datetime | None = NOW,
) -> Finding:
    return Finding(
        area, check, subject, status, f"{check} {status.value}", region, observed_at=observed_at
    )


def _step(auto: str) -> Step:
    return Step("t", "during", "T", "", parse_condition(auto), None)


def _moments(target: str | None = None, **events: datetime) -> IncidentMoments:
    """Judged at NOW; `target` as a failover decision names it (with its own time)."""
    if target is not None:
        events.setdefault("decision", NOW - timedelta(minutes=5))
    return IncidentMoments(now=NOW, target=target, events=events)


@pytest.mark.parametrize(
    ("auto", "status", "expected"),
    [
        ("auth.spf == ok", Status.OK, True),
        ("auth.spf == ok", Status.WARN, False),
        ("auth.spf == ok", Status.FAIL, False),
        ("auth.spf == ok", Status.UNKNOWN, False),
        ("auth.spf <= warn", Status.OK, True),
        ("auth.spf <= warn", Status.WARN, True),
        ("auth.spf <= warn", Status.FAIL, False),
        ("auth.spf <= warn", Status.UNKNOWN, False),
        ("auth.spf <= fail", Status.FAIL, True),
        ("auth.spf <= fail", Status.UNKNOWN, False),
        ("auth.spf == warn", Status.WARN, True),
        ("auth.spf == fail", Status.FAIL, True),
    ],
)
def test_auto_condition_against_one_status(auto: str, status: Status, expected: bool) -> None:
    assert auto_satisfied(_step(auto), [_finding("auth", "spf", status)], _moments()) is expected


def test_no_matching_finding_never_satisfies() -> None:
    result = auto_result(_step("auth.spf == ok"), [_finding("auth", "dkim", Status.OK)], _moments())
    assert not result.satisfied and result.reason == "auth.spf: no finding yet"


def test_every_matching_finding_must_meet_the_status() -> None:
    findings = [
        _finding("auth", "dkim", Status.OK, subject="eu1"),
        _finding("auth", "dkim", Status.UNKNOWN, subject="eu2"),
    ]
    result = auto_result(_step("auth.dkim == ok"), findings, _moments())
    assert not result.satisfied and result.reason == "auth.dkim eu2: unknown (dkim unknown)"
    assert auto_satisfied(_step("auth.dkim eu1 == ok"), findings, _moments())


def test_region_target_is_the_decided_target_and_never_a_default() -> None:
    findings = [
        _finding("dns", "MX", Status.FAIL, region="primary"),
        _finding("dns", "MX", Status.OK, region="Secondary"),
    ]
    step = _step("dns.MX region=TARGET == ok")
    assert auto_satisfied(step, findings, _moments("secondary"))
    assert not auto_satisfied(step, findings, _moments("primary"))
    result = auto_result(step, findings, _moments())
    assert not result.satisfied and result.reason == "no failover decision yet"
    assert auto_satisfied(_step("dns.mx region=secondary == ok"), findings, _moments())


def test_all_clauses_must_hold_and_evidence_lists_the_findings() -> None:
    findings = [
        _finding("auth", "spf", Status.OK),
        _finding("auth", "dmarc", Status.OK),
        _finding("queue", "depth", Status.WARN, subject="mx1", region="secondary"),
    ]
    result = auto_result(
        _step("auth.spf == ok and auth.dmarc == ok and queue.depth region=TARGET <= warn"),
        findings,
        _moments("secondary"),
    )
    assert result.satisfied and result.reason == ""
    assert result.evidence == tuple(findings)
    assert not auto_satisfied(_step("auth.spf == ok and auth.dkim == ok"), findings, _moments())


def test_wildcard_check() -> None:
    findings = [
        _finding("auth", "spf", Status.OK, region="b"),
        _finding("auth", "webmail", Status.OK, region="b"),
        _finding("auth", "ptr", Status.FAIL, region="a"),
    ]
    assert auto_satisfied(_step("auth.* region=TARGET == ok"), findings, _moments("b"))
    assert not auto_satisfied(_step("auth.* == ok"), findings, _moments("b"))


def test_a_step_without_auto_is_never_satisfied() -> None:
    finding = _finding("auth", "spf", Status.OK)
    assert not auto_satisfied(BY_ID["calendars"], [finding], _moments("x"))


def test_builtin_auto_conditions_need_the_events_they_are_about() -> None:
    findings = [
        _finding("queue", "depth", Status.OK, subject="mx1", region="secondary"),
        _finding("dns", "MX", Status.OK, subject="example.com", region="secondary"),
    ]
    decided = _moments("secondary")
    assert auto_satisfied(BY_ID["cutover"], findings, decided)
    assert not auto_satisfied(BY_ID["cutover"], findings, _moments())
    mail = auto_result(BY_ID["mail-flowing"], findings, decided)
    assert not mail.satisfied and mail.reason == "routed not set yet"


# ---- real appends -----------------------------------------------------------------------------


def test_two_log_writers_ticking_the_same_step(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    alice, bob = IncidentLog(path), IncidentLog(path)
    seen_by_alice = checklist_state(STEPS, [])
    seen_by_bob = checklist_state(STEPS, [])
    alice.append(*mark_done(seen_by_alice, "declare", "alice"), author="alice")
    # Bob refreshes from the log before his key press is turned into an entry.
    seen_by_bob = checklist_state(STEPS, bob.read().entries)
    bob.append(*mark_done(seen_by_bob, "declare", "bob"), author="bob")

    entries = IncidentLog(path).read().entries
    assert [entry.data["result"] for entry in entries] == ["done", "already-done"]
    assert entries[1].data["done_by"] == "alice"
    state = checklist_state(STEPS, entries)["declare"]
    assert (state.status, state.by, state.seq) == ("done", "alice", 1)
    assert [who for who, _ in state.also_done_by] == ["bob"]


def test_two_log_writers_racing_on_stale_state(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    stale = checklist_state(STEPS, [])
    IncidentLog(path).append(*mark_done(stale, "cutover", "alice"), author="alice")
    IncidentLog(path).append(*mark_done(stale, "cutover", "bob"), author="bob")
    state = checklist_state(STEPS, IncidentLog(path).read().entries)["cutover"]
    assert (state.status, state.by) == ("done", "alice")
    assert [who for who, _ in state.also_done_by] == ["bob"]
