"""The guided checklist: its state read from the log, the entries its keys append, auto checks.

Pure functions; the caller appends what they return with `IncidentLog.append(kind, text, data,
author=...)`. The log is the only truth: the state is rebuilt from it, so two people at two
screens see the same checklist.

A checklist entry is a `check` entry whose data holds
    {"step": id, "result": "done" | "skipped" | "note" | "already-done" | "reopened", "title": ...,
     "stage": "before" | "during" | "after" (the step's checklist phase, for readers without
     the runbook)}
and, by result: "reason" (skipped), "note" (note), "done_by" and "done_seq" (already-done),
"corrects_seq", "was" and "was_by" (reopened: the correction of the tick or skip it takes back).
A "done" confirmed from probe results also holds "auto": {"seen_at", "condition", "evidence"}
(`auto_record`: when the condition was first seen to hold, as judged, and the findings that
met it, at most ten).

Reading the entries in seq order:
- the first "done" of a step counts; a later "done" (two people ticked it before either saw the
  other) and every "already-done" only add the author to `StepState.also_done_by`;
- "skipped" marks an open or skipped step skipped with its reason; a done step stays done;
- "note" adds to the notes whatever the status;
- "reopened" takes a done or skipped step back to open (the entry that set it stays in the log:
  history is never rewritten); a later "done" then counts again;
- an id that no step has is kept (phase "unknown", `known` False) rather than dropped;
- an entry with no step id or an unknown result is not a checklist entry and is ignored.

Auto conditions are judged in `cockpit.incident.checklist_auto` (re-exported here);
`checklist_findings` turns that judgement into findings for `cockpit check --only checklist`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from cockpit.incident.checklist_auto import (
    AFTER_DECISION,
    AutoResult,
    IncidentMoments,
    auto_record,
    auto_result,
    auto_satisfied,
    effective_condition,
    evidence_records,
    incident_moments,
)
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.runbook import CHECKLIST_PHASES, TARGET, Step
from cockpit.model import Finding, Status
from cockpit.safe_text import clean

if TYPE_CHECKING:
    from cockpit.config.model import Config

__all__ = [
    "CHECK_KIND",
    "AutoResult",
    "ChecklistError",
    "IncidentMoments",
    "StepState",
    "add_note",
    "auto_record",
    "auto_result",
    "auto_satisfied",
    "checklist_findings",
    "checklist_state",
    "incident_moments",
    "mark_done",
    "phase_to_set",
    "reopen",
    "skip",
]

CHECK_KIND = "check"
RESULTS: tuple[str, ...] = ("done", "skipped", "note", "already-done", "reopened")
MAX_REASON_LENGTH = 2000
_SUMMARY_EVIDENCE = 3
"""Findings named in a checklist finding's summary (data.evidence holds up to MAX_EVIDENCE)."""
_NAME_CHARS = 80

Action = tuple[str, str, dict[str, Any]]
"""(kind, text, data) for `IncidentLog.append`."""


class ChecklistError(ValueError):
    """An action that cannot be taken: an unknown step, an empty reason, skipping a done step."""


@dataclass(frozen=True, slots=True)
class StepState:
    """Where one step stands, according to the log."""

    step: Step
    status: str
    """"open", "done" or "skipped"."""
    by: str | None
    """Who did or skipped it."""
    at: datetime | None
    """When (the entry's ts)."""
    reason: str | None
    """Why it was skipped."""
    notes: tuple[tuple[str, datetime, str], ...]
    """(author, ts, text), in log order."""
    seq: int | None
    """The entry that set the status."""
    also_done_by: tuple[tuple[str, datetime], ...] = ()
    """(author, ts) of every later "done" or "already-done" after the one that counts."""
    known: bool = True
    """False for a step id the log names but the checklist does not have."""
    reopened: tuple[str, datetime] | None = None
    """(author, ts) of the latest "reopened" that took the step back to open."""
    earlier_failover: tuple[str, str | None, datetime | None, str | None] | None = None
    """(status, by, at, target) of a step about the failover (it sets routed, restored or
    verified, or its condition names TARGET) that was done or skipped before a later failover
    decision: for the new target it is open again (`per_failover`); target None: before the
    first decision."""


def _open(step: Step, *, known: bool = True) -> StepState:
    return StepState(step, "open", None, None, None, (), None, (), known)


def _data_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _unknown_step(step_id: str, data: Mapping[str, Any]) -> Step:
    title = _data_str(data, "title") or step_id
    return Step(step_id, "unknown", title, "", None, None)


def _step_data(step: Step, result: str, **more: Any) -> dict[str, Any]:
    """The data of a checklist entry: the step, its stage (before/during/after, so a reader
    without the runbook, like the export, still knows it) and the result."""
    data: dict[str, Any] = {"step": step.id, "result": result, "title": step.title}
    if step.phase in CHECKLIST_PHASES:
        data["stage"] = step.phase
    data.update(more)
    return data


def per_failover(step: Step) -> bool:
    """A step about one failover: it sets routed, restored or verified, or its condition names
    TARGET. A later failover decision opens it again (for the new target)."""
    if step.sets_phase in AFTER_DECISION:
        return True
    groups = step.auto.groups if step.auto is not None else ()
    return any(clause.region == TARGET for group in groups for clause in group)


def checklist_state(steps: Iterable[Step], entries: Iterable[Entry]) -> dict[str, StepState]:
    """The state of every step (in checklist order, then unknown ids in log order). A failover
    decision opens again every step about the failover (`per_failover`) done or skipped before
    it, remembering how it stood (`earlier_failover`): ticked for secondary is not done for
    tertiary."""
    states = {step.id: _open(step) for step in steps}
    target: str | None = None
    for entry in sorted(entries, key=attrgetter("seq")):
        if entry.kind == "decision" and isinstance(entry.data, Mapping):
            named = _data_str(entry.data, "target_region")
            if named and named.strip():
                for step_id, state in states.items():
                    if state.status != "open" and per_failover(state.step):
                        earlier = (state.status, state.by, state.at, target)
                        states[step_id] = replace(
                            _open(state.step, known=state.known),
                            notes=state.notes,
                            earlier_failover=earlier,
                        )
                target = named.strip()
            continue
        if entry.kind != CHECK_KIND or not isinstance(entry.data, Mapping):
            continue
        data = entry.data
        step_id = _data_str(data, "step")
        result = _data_str(data, "result")
        if not step_id or result not in RESULTS:
            continue
        state = states.get(step_id)
        if state is None:
            state = states[step_id] = _open(_unknown_step(step_id, data), known=False)
        states[step_id] = _apply(state, entry, result)
    return states


def _apply(state: StepState, entry: Entry, result: str | None) -> StepState:
    if result == "note":
        note = _data_str(entry.data, "note") or entry.text
        return replace(state, notes=(*state.notes, (entry.author, entry.ts, note)))
    if result == "reopened":
        if state.status == "open":
            return state
        return replace(
            state,
            status="open",
            by=None,
            at=None,
            reason=None,
            seq=None,
            also_done_by=(),
            reopened=(entry.author, entry.ts),
        )
    if result in ("done", "already-done"):
        if state.status == "done" or result == "already-done":
            # An "already-done" with no "done" counting is said to be done elsewhere: the log
            # is the truth, so the step stays as it is and the claim is only remembered.
            return replace(state, also_done_by=(*state.also_done_by, (entry.author, entry.ts)))
        return replace(
            state, status="done", by=entry.author, at=entry.ts, reason=None, seq=entry.seq
        )
    # skipped
    if state.status == "done":
        return state
    reason = _data_str(entry.data, "reason")
    return replace(
        state, status="skipped", by=entry.author, at=entry.ts, reason=reason, seq=entry.seq
    )


def _state_of(state: Mapping[str, StepState], step_id: str) -> StepState:
    found = state.get(step_id)
    if found is None:
        raise ChecklistError(f"no step with id {step_id!r:.60} in the checklist")
    return found


def _clean(text: str, what: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise ChecklistError(f"{what} cannot be empty")
    if len(cleaned) > MAX_REASON_LENGTH:
        raise ChecklistError(f"{what} is longer than {MAX_REASON_LENGTH} characters")
    return cleaned


def mark_done(state: Mapping[str, StepState], step_id: str, author: str) -> Action:
    """The entry for ticking a step: "done", or "already-done" naming who did it first."""
    current = _state_of(state, step_id)
    title = current.step.title
    if current.status == "done":
        return (
            CHECK_KIND,
            f"Already done by {current.by}: {title}",
            _step_data(current.step, "already-done", done_by=current.by, done_seq=current.seq),
        )
    return CHECK_KIND, f"Done: {title}", _step_data(current.step, "done")


def skip(state: Mapping[str, StepState], step_id: str, reason: str) -> Action:
    """The entry for skipping a step with a reason. A done step cannot be skipped."""
    current = _state_of(state, step_id)
    if current.status == "done":
        raise ChecklistError(f"{current.step.title!r:.80} is already done by {current.by}")
    why = _clean(reason, "the reason for skipping")
    title = current.step.title
    return (
        CHECK_KIND,
        f"Skipped: {title} ({why})",
        _step_data(current.step, "skipped", reason=why),
    )


def add_note(state: Mapping[str, StepState], step_id: str, note: str) -> Action:
    """The entry for a note on a step, whatever its status."""
    current = _state_of(state, step_id)
    text = _clean(note, "a note")
    title = current.step.title
    return (
        CHECK_KIND,
        f"Note on {title}: {text}",
        _step_data(current.step, "note", note=text),
    )


def reopen(
    state: Mapping[str, StepState], step_id: str, author: str, expected_seq: int | None = None
) -> Action:
    """The correction entry that takes a done or skipped step back to open.

    Only `author`'s own tick or skip may be taken back, and only the one the screen showed
    (`expected_seq`): when someone else changed the step since, nothing is written."""
    current = _state_of(state, step_id)
    title = current.step.title
    if current.status == "open":
        raise ChecklistError(f"{title!r:.80} is open already: nothing to reopen")
    if current.by != author:
        raise ChecklistError(
            f"{title!r:.80} was {current.status} by {current.by}, not by {author}:"
            " only your own tick or skip can be taken back"
        )
    if expected_seq is not None and current.seq != expected_seq:
        raise ChecklistError(
            f"{title!r:.80} changed since this screen showed it (now seq {current.seq}):"
            " look again before reopening"
        )
    was = "tick" if current.status == "done" else "skip"
    return (
        CHECK_KIND,
        f"Reopened: {title} (correction: takes back the {was} at seq {current.seq})",
        _step_data(
            current.step,
            "reopened",
            corrects_seq=current.seq,
            was=current.status,
            was_by=current.by,
        ),
    )


def phase_to_set(step: Step) -> str | None:
    """The incident phase marker a step sets when it is done (for `phase_record`), or None.

    Only a "done" that counts sets it: after an "already-done" nothing is to be set.
    """
    return step.sets_phase


# ---- auto conditions, for `cockpit check` ---------------------------------------------------


def _evidence_text(findings: Sequence[Finding]) -> str:
    shown = [
        f"{clean(f.area)}.{clean(f.check)} {clean(f.subject)[:_NAME_CHARS]}"
        + (f" ({clean(f.region)[:_NAME_CHARS]})" if f.region else "")
        + f" {f.status.value}"
        + ("" if f.observed_at is None else f" at {format_ts(f.observed_at)[11:19]}")
        for f in findings[:_SUMMARY_EVIDENCE]
    ]
    more = len(findings) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def checklist_findings(
    steps: Sequence[Step],
    entries: Sequence[Entry],
    findings: Sequence[Finding],
    *,
    now: datetime,
    config: Config | None = None,
) -> list[Finding]:
    """One finding per step with an `auto` condition (area "checklist", check the step id,
    subject its title): ok "satisfied: CONDITION (evidence: ...)" when fresh findings observed
    after its event meet it, unknown "waiting for evidence: WHY" otherwise, ok "done by X" for
    a step the log says is done, and warn "skipped by X: why" for one it says was skipped (a
    person chose not to do it: nothing proved it, so it is never ok). data: condition,
    satisfied (None when not judged), reason, evidence (at most MAX_EVIDENCE records)."""
    states = checklist_state(steps, entries)
    moments = incident_moments(entries, now=now, config=config)
    judged: list[Finding] = []
    for step in steps:
        condition = effective_condition(step)
        if condition is None:
            continue
        state = states[step.id]
        title = clean(step.title)
        data: dict[str, Any] = {"condition": str(condition)}
        if state.status in ("done", "skipped"):
            summary = f"{state.status} by {clean(state.by or 'someone')}"
            if state.reason:
                summary += f": {clean(state.reason)[:200]}"
            data |= {"satisfied": None, "reason": summary, "evidence": [], "step": state.status}
            status = Status.OK if state.status == "done" else Status.WARN
            judged.append(
                Finding("checklist", step.id, title, status, summary, None, None, data, state.at)
            )
            continue
        result = auto_result(step, findings, moments)
        data |= {
            "satisfied": result.satisfied,
            "reason": result.reason,
            "evidence": evidence_records(result.evidence) if result.satisfied else [],
            "step": state.status,
        }
        if result.satisfied:
            status = Status.OK
            summary = f"satisfied: {condition} (evidence: {_evidence_text(result.evidence)})"
        else:
            status = Status.UNKNOWN
            summary = f"waiting for evidence: {result.reason}"
        judged.append(Finding("checklist", step.id, title, status, summary, None, None, data, now))
    return judged
