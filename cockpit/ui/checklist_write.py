"""Writing one checklist step's entry: a tick, a confirm from probe results, a skip, a note,
or a reopen (the correction that takes one's own tick or skip back).

`write_step` appends the step's entry built from the log as it is under the lock (so a step
someone else ticked gives "already done by X") and, for a "done" that counts on a step with
`sets_phase`, the phase marker timed at it, unless the phase is set already: both in one write
(IncidentLog.append_built), so a tick never lands without its phase (a lock held too long, a
full disk or quitting between two writes used to leave the tick alone, and ticking again only
said "already done"). It blocks on the log's lock: the checklist pane calls it from a thread
worker. No Textual here.

Phase markers: a "done" that counts on a step with `sets_phase` (declare, cutover,
mail-flowing, declare-verified) also appends the phase entry from `phase_record`, timed at the
done entry. A phase that is already set (by the CLI, or by a step ticked before) is left as it
is: changing its time is a deliberate correction (`cockpit log --phase ... --at ...`).
The `routed` marker therefore comes from ticking or confirming the "cutover" step, which the
auto hint offers once the target region's MX answers, observed after the failover decision, are ok.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cockpit.config.model import Config
from cockpit.incident.checklist import (
    ChecklistError,
    add_note,
    auto_record,
    auto_result,
    checklist_state,
    incident_moments,
    mark_done,
    phase_to_set,
    reopen,
    skip,
)
from cockpit.incident.checklist_auto import of_an_earlier_failover
from cockpit.incident.entry import Entry, utc_now
from cockpit.incident.log import EntryParts, IncidentLog
from cockpit.incident.log_lock import WriteAbandoned
from cockpit.incident.phases import effective_phases, latest_failover_decision, phase_record
from cockpit.incident.runbook import Step
from cockpit.model import Finding

__all__ = ["ProbeView", "write_step"]

ProbeView = tuple[tuple[Finding, ...], datetime, datetime, Config | None]
"""What a confirm is judged on: the findings, when they were given, when the condition was
first seen to hold, and the config for the freshness bounds."""


def write_step(
    log: IncidentLog,
    steps: Sequence[Step],
    author: str,
    step_id: str,
    operation: str,
    text: str,
    probe: ProbeView | None = None,
    *,
    may_start: Callable[[], bool] | None = None,
    written: Callable[[], None] | None = None,
    expected_seq: int | None = None,
) -> list[Entry]:
    """Append `operation` (done, auto, skip, note, reopen) on `step_id`, then its phase; the
    entries. A reopen takes back only the entry `expected_seq` (what the screen showed).

    Typed text (a skip's reason, a note; they set no phase): `may_start` is asked under the
    lock before the entry is built, and nothing is written when it says False (quitting kept
    the text as a draft; WriteAbandoned); `written` is called once the entry is written.
    Raises ChecklistError (refused for what the log says) or IncidentLogError.
    """
    known = [step for step in steps if step.id == step_id]
    phase = phase_to_set(known[0]) if known else None
    at = utc_now()

    def with_phase(entries: Sequence[Entry], tick: EntryParts) -> list[EntryParts]:
        """The tick and, when it counts and the phase is not set yet, the phase at its time."""
        if phase is None or tick[2].get("result") != "done":
            return [tick]
        current = effective_phases(entries).get(phase)
        # A phase set for an earlier failover is set again (a correction) for this one.
        earlier = of_an_earlier_failover(phase, current, latest_failover_decision(entries))
        if current is not None and not earlier:
            return [tick]
        phase_kind, phase_data = phase_record(entries, phase, at)
        phase_data["step"] = step_id
        phase_text = f"{phase} at {phase_data['at']} ({known[0].title})"
        return [tick, (phase_kind, phase_text, phase_data)]

    def build(entries: Sequence[Entry]) -> list[EntryParts]:
        if may_start is not None and not may_start():
            raise WriteAbandoned("not written: cockpit was quitting", path=log.path, holder=None)
        state = checklist_state(steps, entries)
        if operation in ("done", "auto"):
            kind, body, data = mark_done(state, step_id, author)
            if operation == "auto" and data["result"] == "done" and probe is not None:
                # Judged again on the log as it is now: a decision or phase written since
                # the pane last read it can change what the findings prove.
                findings, at, seen_at, config = probe
                moments = incident_moments(entries, now=at, config=config)
                result = auto_result(state[step_id].step, findings, moments)
                if not result.satisfied:
                    raise ChecklistError(f"not confirmed: waiting for evidence: {result.reason}")
                data["auto"] = auto_record(result, seen_at)
                body += " (confirmed from probe results)"
            return with_phase(entries, (kind, body, data))
        if operation == "skip":
            return [skip(state, step_id, text)]
        if operation == "reopen":
            return [reopen(state, step_id, author, expected_seq)]
        return [add_note(state, step_id, text)]

    # One time for the tick and its phase: the phase's data.at is the tick's ts (moved later
    # only behind another writer's later ts, when the phase keeps the moment it was ticked).
    appended = log.append_built(build, author=author, at=at)
    if written is not None:
        written()
    return appended
