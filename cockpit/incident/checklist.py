"""The guided checklist: its state read from the log, the entries its keys append, auto checks.

Pure functions; the caller appends what they return with `IncidentLog.append(kind, text, data,
author=...)`. The log is the only truth: the state is rebuilt from it, so two people at two
screens see the same checklist.

A checklist entry is a `check` entry whose data holds
    {"step": id, "result": "done" | "skipped" | "note" | "already-done", "title": ...}
and, by result: "reason" (skipped), "note" (note), "done_by" and "done_seq" (already-done).

Reading the entries in seq order:
- the first "done" of a step counts; a later "done" (two people ticked it before either saw the
  other) and every "already-done" only add the author to `StepState.also_done_by`;
- "skipped" marks an open or skipped step skipped with its reason; a done step stays done;
- "note" adds to the notes whatever the status;
- an id that no step has is kept (phase "unknown", `known` False) rather than dropped;
- an entry with no step id or an unknown result is not a checklist entry and is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from cockpit.incident.entry import Entry
from cockpit.incident.runbook import Clause, Step
from cockpit.model import Finding, Status

__all__ = [
    "CHECK_KIND",
    "AutoResult",
    "ChecklistError",
    "StepState",
    "add_note",
    "auto_result",
    "auto_satisfied",
    "checklist_state",
    "mark_done",
    "phase_to_set",
    "skip",
]

CHECK_KIND = "check"
RESULTS: tuple[str, ...] = ("done", "skipped", "note", "already-done")
MAX_REASON_LENGTH = 2000

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


def _open(step: Step, *, known: bool = True) -> StepState:
    return StepState(step, "open", None, None, None, (), None, (), known)


def _data_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _unknown_step(step_id: str, data: Mapping[str, Any]) -> Step:
    title = _data_str(data, "title") or step_id
    return Step(step_id, "unknown", title, "", None, None)


def checklist_state(steps: Iterable[Step], entries: Iterable[Entry]) -> dict[str, StepState]:
    """The state of every step (in checklist order, then unknown ids in log order)."""
    states = {step.id: _open(step) for step in steps}
    for entry in sorted(entries, key=attrgetter("seq")):
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
            {
                "step": step_id,
                "result": "already-done",
                "title": title,
                "done_by": current.by,
                "done_seq": current.seq,
            },
        )
    return CHECK_KIND, f"Done: {title}", {"step": step_id, "result": "done", "title": title}


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
        {"step": step_id, "result": "skipped", "title": title, "reason": why},
    )


def add_note(state: Mapping[str, StepState], step_id: str, note: str) -> Action:
    """The entry for a note on a step, whatever its status."""
    current = _state_of(state, step_id)
    text = _clean(note, "a note")
    title = current.step.title
    return (
        CHECK_KIND,
        f"Note on {title}: {text}",
        {"step": step_id, "result": "note", "title": title, "note": text},
    )


def phase_to_set(step: Step) -> str | None:
    """The incident phase marker a step sets when it is done (for `phase_record`), or None.

    Only a "done" that counts sets it: after an "already-done" nothing is to be set.
    """
    return step.sets_phase


# ---- auto conditions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AutoResult:
    """Whether a step's `auto` condition holds, and the findings that say so."""

    satisfied: bool
    evidence: tuple[Finding, ...] = field(default=())
    """Every finding that matched a clause."""
    reason: str = ""
    """Why it does not hold (empty when it does)."""


def _fold(text: str | None) -> str:
    return "" if text is None else text.casefold()


def _matches(clause: Clause, finding: Finding, target: str | None) -> bool:
    if _fold(finding.area) != clause.area.casefold():
        return False
    if clause.check != "*" and _fold(finding.check) != clause.check.casefold():
        return False
    if clause.subject != "*" and _fold(finding.subject).rstrip(".") != clause.subject.casefold():
        return False
    if clause.region is not None:
        wanted = target if clause.region == "TARGET" else clause.region
        if wanted is None or _fold(finding.region) != wanted.casefold():
            return False
    return True


def _meets(clause: Clause, status: Status) -> bool:
    if status is Status.UNKNOWN:  # the probe could not tell, so it proves nothing
        return False
    wanted = Status(clause.status)
    if clause.op == "==":
        return status is wanted
    return status.severity <= wanted.severity


def auto_result(step: Step, findings: Sequence[Finding], *, target: str | None) -> AutoResult:
    """Evaluate `step.auto` against the latest findings; see `cockpit.incident.runbook`.

    `target` is the current failover target region (for region=TARGET); None when no failover
    has been decided, and then a clause naming TARGET does not hold.
    """
    if step.auto is None:
        return AutoResult(False, (), "the step has no auto condition")
    evidence: list[Finding] = []
    for clause in step.auto.clauses:
        matching = [finding for finding in findings if _matches(clause, finding, target)]
        if not matching:
            if clause.region == "TARGET" and target is None:
                return AutoResult(False, tuple(evidence), f"{clause}: no target region yet")
            return AutoResult(False, tuple(evidence), f"{clause}: no finding yet")
        evidence.extend(matching)
        failing = [finding for finding in matching if not _meets(clause, finding.status)]
        if failing:
            first = failing[0]
            return AutoResult(
                False,
                tuple(evidence),
                f"{clause}: {first.subject} is {first.status.value}",
            )
    return AutoResult(True, tuple(evidence), "")


def auto_satisfied(step: Step, findings: Sequence[Finding], *, target: str | None) -> bool:
    """True when the step has an `auto` condition and the findings meet it."""
    return auto_result(step, findings, target=target).satisfied
