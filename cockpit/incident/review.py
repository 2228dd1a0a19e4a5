"""The post-incident review: what the export says about an incident besides its raw timeline.

    review = build_review(entries, name="incident", steps=runbook_steps_or_None)

Everything here is read from the log alone (and, when the caller has it, the runbook's steps):
- how each phase was set (by hand, by a checklist step confirmed from probe results, or by a
  probe) and the observations it relied on (`PhaseBasis`);
- the measured metrics besides the phase times: time to converge (from the failover decision to
  the last watched resolver answering the target for each MX record), the queue's peak and
  when it fell back, data at risk (cockpit.incident.rpo), canary round trips
  (cockpit.incident.delivery_proof), and whether "verified" came with after-steps skipped or
  open (`AfterSteps`);
- the final state of every checklist step, with its notes and skip reason;
- the notes people marked for the review (cause, factor, impact, lessons by heading, action
  items, key entries: cockpit.incident.entry's tags);
- bursts of probe entries that say one thing (one resolver after another turning to the same
  region for one record), for a timeline that groups them (`Burst`);
- the first and the last observation of each probe subject, side by side (`Compared`);
- a readable one-line summary of each probe entry's evidence (`probe_change`).

A claim is made only from what the log shows: a figure the log cannot give is None with the
reason, never 0. Log data is kept as it was (plain text, never escaped here): the renderers
escape it. Pure; never raises on malformed data (an unreadable value is skipped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cockpit.incident.checklist import RESULTS as CHECK_RESULTS
from cockpit.incident.checklist import StepState, checklist_state
from cockpit.incident.entry import (
    ACTION_TAG,
    CAUSE_TAG,
    FACTOR_TAG,
    IMPACT_TAG,
    KEY_TAG,
    LESSON_TAG,
    WENT_TAGS,
    Entry,
    data_time,
    format_ts,
    parse_ts,
)
from cockpit.incident.phases import PhaseTimeline, latest_failover_decision
from cockpit.incident.runbook import Step

__all__ = [
    "AfterSteps",
    "Burst",
    "Cited",
    "Compared",
    "Convergence",
    "Marked",
    "Observation",
    "PhaseBasis",
    "QueuePeak",
    "Review",
    "build_review",
    "effective_time",
    "plain_text",
    "probe_change",
    "probe_subject",
    "probe_where",
    "review_record",
    "state_text",
]

STATE_TEXT_LIMIT = 240
"""A state summary longer than this is cut at its end ("…"): the subject is shown apart."""
_EXCLUDED_FROM_COMPARISON = frozenset({"starting_picture"})
"""Aggregates over many subjects; their subjects ("service checks") are not watched things."""
_BACKDATED_KINDS = frozenset({"phase", "note", "decision"})
"""Kinds whose data.at says when the thing happened (`cockpit log --at`)."""


# --- small readers (never raise) -----------------------------------------------------------


def _str(data: Any, key: str) -> str | None:
    try:
        value = data.get(key)
    except (AttributeError, TypeError):  # not a mapping (None, a list, a string)
        return None
    return value if isinstance(value, str) and value.strip() else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value)


def _map(data: Any, key: str) -> Mapping[str, Any] | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def effective_time(entry: Entry) -> datetime:
    """When the entry's event happened: data.at for a phase, note or decision given a time
    (`--at`, a backdated phase), else when it was written."""
    if entry.kind in _BACKDATED_KINDS and "at" in entry.data:
        at = data_time(entry.data, "at")
        if at is not None:
            return at
    return entry.ts


def _observed_at(entry: Entry) -> datetime:
    """When a probe entry's observation was made: data.at or data.observed_at, else written."""
    data = entry.data
    for key in ("at", "observed_at"):
        moment = _time(data.get(key))
        if moment is not None:
            return moment
    return entry.ts


def _cut(text: str, limit: int = STATE_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- readable evidence ---------------------------------------------------------------------


def state_text(state: Any) -> str:
    """One observed state (a DNS answer, a convergence count, a status) as a short line."""
    if not isinstance(state, Mapping):
        return "" if state is None else _cut(plain_text(state))
    if not state:
        return ""
    converged, resolvers = _int(state.get("converged")), _int(state.get("resolvers"))
    if converged is not None:
        of = "" if resolvers is None else f" of {resolvers}"
        return f"{converged}{of} resolvers on the target"
    outcome = _str(state, "outcome")
    if outcome is not None:
        ttl = _int(state.get("ttl"))
        ttl_text = "" if ttl is None else f" (TTL {ttl} s)"
        answers = state.get("answers")
        if outcome == "answer" and isinstance(answers, list):
            shown = ", ".join(plain_text(answer) for answer in answers) or "no records"
            region = _str(state, "region")
            return _cut((f"{region}: " if region else "") + shown + ttl_text)
        reason = _str(state, "reason")
        return _cut(outcome + (f": {reason}" if reason else "") + ttl_text)
    status = _str(state, "status")
    if status is not None:
        return status
    return _cut(plain_text(state))


def plain_text(value: Any) -> str:
    """A data value as plain text: str as is, None as "", anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def probe_change(entry: Entry) -> str:
    """What a probe entry saw, in one line: "before → after" where it has both, the queue's
    depth, the lag, or the status with its summary. "" when its data says none of these."""
    data = entry.data
    evidence = data.get("evidence")
    before, after = _map(evidence, "before"), _map(evidence, "after")
    if before is not None or after is not None:
        return f"{state_text(before) or '?'} → {state_text(after) or '?'}"
    if data.get("area") == "queue":
        parts = [
            f"{label} {value}"
            for label, value in (("total", data.get("total")), ("deferred", data.get("deferred")))
            if _int(value) is not None
        ]
        level_before, level_after = _str(evidence, "before"), _str(evidence, "after")
        if level_before or level_after:
            parts.append(f"level {level_before or '?'} → {level_after or '?'}")
        return ", ".join(parts)
    lag = data.get("lag_s")
    if isinstance(lag, int | float) and not isinstance(lag, bool):
        return f"replication lag {lag:g} s"
    if isinstance(evidence, str) and evidence.strip():
        return _cut(evidence)
    summary = _str(evidence, "summary") or _str(evidence, "reason")
    previous = _str(evidence, "previous_status")
    status = _str(data, "status")
    if status and previous:
        head = f"{previous} → {status}"
    else:
        head = status or ""
    if summary:
        return _cut(f"{head}: {summary}" if head else summary)
    return head


def probe_subject(entry: Entry) -> str:
    """What a probe entry is about: its check and subject ("smtp mx1…:25", "drill.example MX")."""
    data = entry.data
    subject = _str(data, "subject") or ""
    check = _str(_map(data, "evidence"), "check") or _str(data, "check")
    if check and subject and not subject.startswith(check):
        return f"{check} {subject}"
    return subject or check or ""


def probe_where(entry: Entry) -> str:
    """Where it was seen from: the resolver or server, else the region."""
    data = entry.data
    evidence = _map(data, "evidence")
    return (
        _str(data, "server")
        or _str(evidence, "resolver")
        or _str(data, "region")
        or _str(evidence, "region")
        or ""
    )


# --- how each phase was set ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cited:
    """One observation a claim relies on."""

    seq: int
    """The entry that records it."""
    observed_at: datetime | None
    what: str


@dataclass(frozen=True, slots=True)
class PhaseBasis:
    phase: str
    how: str
    """"probe" (set by the cockpit from an observation), "step" (a checklist step's tick:
    `condition` says whether probe results confirmed it) or "hand"."""
    seq: int
    step: str | None = None
    condition: str | None = None
    seen_at: datetime | None = None
    """When the step's condition was first seen to hold."""
    cited: tuple[Cited, ...] = ()


def _finding_text(item: Mapping[str, Any]) -> str:
    parts = [
        ".".join(p for p in (_str(item, "area"), _str(item, "check")) if p),
        _str(item, "subject") or "",
        f"({_str(item, 'region')})" if _str(item, "region") else "",
        _str(item, "status") or "",
    ]
    return " ".join(p for p in parts if p)


def _phase_bases(timeline: PhaseTimeline, by_seq: Mapping[int, Entry]) -> dict[str, PhaseBasis]:
    bases: dict[str, PhaseBasis] = {}
    checks_by_step: dict[str, list[Entry]] = {}
    for entry in by_seq.values():
        if entry.kind == "check" and _str(entry.data, "result") == "done":
            step = _str(entry.data, "step")
            if step is not None:
                checks_by_step.setdefault(step, []).append(entry)
    for phase_time in timeline.times:
        seq = phase_time.seq
        entry = by_seq.get(seq)
        if entry is None:
            continue
        data = entry.data
        evidence = _map(data, "evidence")
        if _str(data, "source") == "probe" and evidence is not None:
            at = data_time(data, "at")
            cited = (Cited(seq, at, _finding_text(evidence)),)
            bases[phase_time.phase] = PhaseBasis(phase_time.phase, "probe", seq, cited=cited)
            continue
        step = _str(data, "step")
        tick = None
        if step is not None:
            earlier = [e for e in checks_by_step.get(step, ()) if e.seq < seq]
            tick = earlier[-1] if earlier else None
        auto = _map(tick.data, "auto") if tick is not None else None
        if tick is None or auto is None:
            how = "step" if tick is not None else "hand"
            bases[phase_time.phase] = PhaseBasis(phase_time.phase, how, seq, step=step)
            continue
        items = auto.get("evidence")
        cited_items = tuple(
            Cited(tick.seq, _time(item.get("observed_at")), _finding_text(item))
            for item in (items if isinstance(items, list) else ())
            if isinstance(item, Mapping)
        )
        bases[phase_time.phase] = PhaseBasis(
            phase_time.phase,
            "step",
            seq,
            step=step,
            condition=_str(auto, "condition"),
            seen_at=_time(auto.get("seen_at")),
            cited=cited_items,
        )
    return bases


# --- measured metrics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Convergence:
    """From the failover decision to the last watched resolver answering the target."""

    subject: str
    target: str
    decided_at: datetime
    decision_seq: int
    converged_at: datetime | None = None
    converged_seq: int | None = None
    last_resolver: str | None = None
    last_resolver_at: datetime | None = None
    last_resolver_seq: int | None = None
    not_converged: str | None = None
    """Why there is no time: the last count the log has, or that it has none."""

    @property
    def took(self) -> timedelta | None:
        return None if self.converged_at is None else self.converged_at - self.decided_at


def _convergences(entries: Sequence[Entry]) -> list[Convergence]:
    decision = latest_failover_decision(entries)
    if decision is None:
        return []
    target = _str(decision.data, "target_region")
    if target is None:
        return []
    decided_at = effective_time(decision)
    subjects: dict[str, list[Entry]] = {}
    for entry in entries:
        data = entry.data
        if entry.kind != "probe" or data.get("area") != "dns":
            continue
        subject = _str(data, "subject")
        if subject is not None and subject.rstrip().upper().endswith(" MX"):
            subjects.setdefault(subject, []).append(entry)
    found = []
    for subject, seen in subjects.items():
        after = [e for e in seen if e.seq > decision.seq]
        last_resolver: Entry | None = None
        converged: Entry | None = None
        latest_count: str | None = None
        for entry in after:
            data = entry.data
            event = data.get("event")
            evidence = _map(data, "evidence")
            if event == "resolver_region_changed":
                if _str(_map(evidence, "after"), "region") == target:
                    last_resolver = entry
            elif event in ("record_converged", "record_diverged"):
                latest_count = state_text(_map(evidence, "after"))
                if (
                    event == "record_converged"
                    and data.get("status") == "ok"
                    and _str(evidence, "target") == target
                ):
                    converged = entry
                    break
        if converged is None:
            why = (
                f"not converged on {target}: last count {latest_count}"
                if latest_count
                else f"no entry shows every watched resolver answering {target}"
            )
            found.append(Convergence(subject, target, decided_at, decision.seq, not_converged=why))
            continue
        resolver_at = None
        if last_resolver is not None:
            after_state = _map(_map(last_resolver.data, "evidence"), "after")
            resolver_at = _time((after_state or {}).get("observed_at")) or _observed_at(
                last_resolver
            )
        converged_at = _observed_at(converged)
        found.append(
            Convergence(
                subject,
                target,
                decided_at,
                decision.seq,
                converged_at=resolver_at if resolver_at is not None else converged_at,
                converged_seq=converged.seq,
                last_resolver=None if last_resolver is None else _str(last_resolver.data, "server"),
                last_resolver_at=resolver_at,
                last_resolver_seq=None if last_resolver is None else last_resolver.seq,
            )
        )
    return sorted(found, key=lambda c: c.subject)


@dataclass(frozen=True, slots=True)
class QueuePeak:
    """The highest depth the log recorded for one queue source, and when it fell back."""

    source: str
    region: str | None
    peak: int
    peak_seq: int
    peak_logged_at: datetime
    """The entry that first recorded it: the peak happened at or before this time."""
    deferred_max: int | None
    back_to_ok_at: datetime | None = None
    back_to_ok_seq: int | None = None
    empty_at: datetime | None = None
    entries: int = 0


def _queue_peaks(entries: Sequence[Entry]) -> list[QueuePeak]:
    by_source: dict[tuple[str, str | None], list[Entry]] = {}
    for entry in entries:
        data = entry.data
        if entry.kind == "probe" and data.get("area") == "queue":
            source = _str(data, "subject")
            if source is not None:
                by_source.setdefault((source, _str(data, "region")), []).append(entry)
    peaks = []
    for (source, region), seen in by_source.items():
        best: tuple[int, Entry] | None = None
        deferred: int | None = None
        for entry in seen:
            values = [_int(entry.data.get(k)) for k in ("total", "peak_total")]
            depth = max((v for v in values if v is not None), default=None)
            if depth is not None and (best is None or depth > best[0]):
                best = (depth, entry)
            late = _int(entry.data.get("deferred"))
            if late is not None:
                deferred = late if deferred is None else max(deferred, late)
        if best is None:
            continue
        peak, peak_entry = best
        back: Entry | None = None
        empty: Entry | None = None
        for entry in seen:
            if entry.seq <= peak_entry.seq:
                continue
            data = entry.data
            level = _str(_map(data, "evidence"), "after")
            if back is None and data.get("event") == "depth_down" and level == "ok":
                back = entry
            if empty is None and _int(data.get("total")) == 0:
                empty = entry
        peaks.append(
            QueuePeak(
                source,
                region,
                peak,
                peak_entry.seq,
                peak_entry.ts,
                deferred,
                back_to_ok_at=None if back is None else _observed_at(back),
                back_to_ok_seq=None if back is None else back.seq,
                empty_at=None if empty is None else _observed_at(empty),
                entries=len(seen),
            )
        )
    return sorted(peaks, key=lambda p: (p.source, p.region or ""))


@dataclass(frozen=True, slots=True)
class AfterSteps:
    """The after-steps (proving the recovery) when "verified" was set."""

    verified_seq: int
    runbook_known: bool
    total: int | None
    """Every after-step of the runbook; None without the runbook."""
    done: int
    skipped: int
    open: int | None
    """None without the runbook: a step nobody touched leaves no trace in the log."""

    @property
    def flag(self) -> str | None:
        """ "verified with 9 of 11 after-steps skipped", or None when all were done."""
        if not self.runbook_known:
            skipped = f" with {self.skipped} after-steps skipped" if self.skipped else ""
            return f"verified{skipped}; open after-steps not counted (the runbook is not known)"
        parts = []
        if self.skipped:
            parts.append(f"{self.skipped} of {self.total} after-steps skipped")
        if self.open:
            parts.append(f"{self.open} of {self.total} after-steps open")
        return "verified with " + " and ".join(parts) if parts else None


def _stages(entries: Iterable[Entry]) -> dict[str, str]:
    stages: dict[str, str] = {}
    for entry in entries:
        if entry.kind == "check":
            step, stage = _str(entry.data, "step"), _str(entry.data, "stage")
            if step is not None and stage is not None:
                stages[step] = stage
    return stages


def _after_steps(
    entries: Sequence[Entry], timeline: PhaseTimeline, steps: Sequence[Step] | None
) -> AfterSteps | None:
    verified = timeline.get("verified")
    if verified is None:
        return None
    upto = [e for e in entries if e.seq <= verified.seq]
    states = checklist_state(steps or (), upto)
    if steps is not None:
        after = [s for s in states.values() if s.known and s.step.phase == "after"]
        return AfterSteps(
            verified.seq,
            True,
            len(after),
            sum(s.status == "done" for s in after),
            sum(s.status == "skipped" for s in after),
            sum(s.status == "open" for s in after),
        )
    stages = _stages(upto)
    after = [s for step_id, s in states.items() if stages.get(step_id) == "after"]
    return AfterSteps(
        verified.seq,
        False,
        None,
        sum(s.status == "done" for s in after),
        sum(s.status == "skipped" for s in after),
        None,
    )


# --- what people marked for the review ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Marked:
    """A note (or any entry) someone tagged for the review."""

    seq: int
    at: datetime
    author: str
    text: str
    owner: str | None = None
    due: str | None = None
    ticket: str | None = None


def _marked(entry: Entry) -> Marked:
    action = _map(entry.data, "action")
    return Marked(
        entry.seq,
        effective_time(entry),
        entry.author,
        entry.text,
        owner=_str(action, "owner"),
        due=_str(action, "due"),
        ticket=_str(action, "ticket"),
    )


# --- bursts and comparison -----------------------------------------------------------------


@dataclass(slots=True)
class Burst:
    """Resolvers turning, one after another, to the same region for one record."""

    subject: str
    region: str
    members: list[tuple[str, datetime, int]] = field(default_factory=list)
    """(resolver, when its new answer was observed, seq)"""
    converged: tuple[datetime, int] | None = None

    @property
    def seqs(self) -> list[int]:
        found = [seq for _, _, seq in self.members]
        if self.converged is not None:
            found.append(self.converged[1])
        return found


def _bursts(entries: Sequence[Entry]) -> dict[int, Burst]:
    """The bursts of two entries or more, by the seq of their first entry."""
    open_bursts: dict[str, Burst] = {}
    done: list[Burst] = []
    for entry in entries:
        data = entry.data
        if entry.kind != "probe" or data.get("area") != "dns":
            continue
        subject = _str(data, "subject")
        if subject is None:
            continue
        event = data.get("event")
        evidence = _map(data, "evidence")
        if event == "resolver_region_changed":
            after = _map(evidence, "after")
            region, server = _str(after, "region"), _str(data, "server")
            if region is None or server is None:
                continue
            held = open_bursts.get(subject)
            if held is None or held.region != region or held.converged is not None:
                if held is not None:
                    done.append(held)
                held = open_bursts[subject] = Burst(subject, region)
            observed = _time((after or {}).get("observed_at")) or _observed_at(entry)
            held.members.append((server, observed, entry.seq))
        elif event == "record_converged":
            held = open_bursts.get(subject)
            if (
                held is not None
                and held.converged is None
                and _str(evidence, "target") == held.region
            ):
                held.converged = (_observed_at(entry), entry.seq)
                done.append(open_bursts.pop(subject))
    done.extend(open_bursts.values())
    return {burst.seqs[0]: burst for burst in done if len(burst.seqs) >= 2 and burst.members}


@dataclass(frozen=True, slots=True)
class Observation:
    at: datetime
    seq: int
    value: str


@dataclass(frozen=True, slots=True)
class Compared:
    """The first and the last observation the log has of one probe subject."""

    area: str
    subject: str
    where: str
    first: Observation
    last: Observation
    entries: int


def _first_and_last(entry: Entry) -> tuple[Observation, Observation]:
    data = entry.data
    evidence = _map(data, "evidence")
    before, after = _map(evidence, "before"), _map(evidence, "after")
    observed = _observed_at(entry)
    if before is not None or after is not None:
        first_at = _time((before or {}).get("observed_at")) or observed
        last_at = _time((after or {}).get("observed_at")) or observed
        return (
            Observation(first_at, entry.seq, state_text(before) or "?"),
            Observation(last_at, entry.seq, state_text(after) or "?"),
        )
    value = probe_change(entry) or _str(data, "status") or entry.text
    previous = _str(evidence, "previous_status")
    status = _str(data, "status")
    first_value = previous if previous is not None else value
    if previous is not None and status is not None:
        value = status + (f": {_str(evidence, 'summary')}" if _str(evidence, "summary") else "")
    return Observation(observed, entry.seq, _cut(first_value)), Observation(
        observed, entry.seq, _cut(value)
    )


def _comparison(entries: Sequence[Entry]) -> list[Compared]:
    seen: dict[tuple[str, str, str], list[Any]] = {}
    for entry in entries:
        data = entry.data
        if entry.kind != "probe" or _str(data, "event") in _EXCLUDED_FROM_COMPARISON:
            continue
        area = _str(data, "area")
        subject = probe_subject(entry)
        if area is None or not subject:
            continue
        key = (area, subject, probe_where(entry))
        held = seen.get(key)
        if held is None:
            seen[key] = [entry, entry, 1]
        else:  # (what it saw is worked out for the first and the last entry only)
            held[1] = entry
            held[2] += 1
    return [
        Compared(area, subject, where, _first_and_last(first)[0], _first_and_last(last)[1], count)
        for (area, subject, where), (first, last, count) in sorted(seen.items())
    ]


# --- the review ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Review:
    bases: Mapping[str, PhaseBasis]
    convergence: tuple[Convergence, ...]
    queues: tuple[QueuePeak, ...]
    after_steps: AfterSteps | None
    checklist: tuple[StepState, ...]
    other_checks: tuple[Entry, ...]
    """Check entries the checklist cannot read (no step id, an unknown result): listed as
    they are rather than dropped."""
    runbook_known: bool
    causes: tuple[Marked, ...]
    factors: tuple[Marked, ...]
    impact_notes: tuple[Marked, ...]
    lessons: Mapping[str, tuple[Marked, ...]]
    """"well", "badly", "lucky" and "other" (lessons under no heading)."""
    actions: tuple[Marked, ...]
    key_entries: tuple[Marked, ...]
    bursts: Mapping[int, Burst]
    comparison: tuple[Compared, ...]
    stages: Mapping[str, str]


def build_review(
    entries: Sequence[Entry], timeline: PhaseTimeline, *, steps: Sequence[Step] | None = None
) -> Review:
    """The review of `entries` (in seq order). `steps`: the runbook, when the caller has it."""
    by_seq = {entry.seq: entry for entry in entries}
    tagged: dict[str, list[Marked]] = {}
    wanted = {CAUSE_TAG, FACTOR_TAG, IMPACT_TAG, ACTION_TAG, KEY_TAG, LESSON_TAG}
    for entry in entries:
        if "tags" not in entry.data:
            continue
        tags = set(entry.tags)
        if not tags & wanted:
            continue
        marked = _marked(entry)
        for tag in tags & wanted:
            tagged.setdefault(tag, []).append(marked)
        if LESSON_TAG in tags:
            heading = next((h for h, tag in WENT_TAGS.items() if tag in tags), "other")
            tagged.setdefault(f"lesson:{heading}", []).append(marked)
    states = checklist_state(steps or (), entries)
    return Review(
        bases=_phase_bases(timeline, by_seq),
        convergence=tuple(_convergences(entries)),
        queues=tuple(_queue_peaks(entries)),
        after_steps=_after_steps(entries, timeline, steps),
        checklist=tuple(states.values()),
        other_checks=tuple(
            e
            for e in entries
            if e.kind == "check"
            and (not _str(e.data, "step") or e.data.get("result") not in CHECK_RESULTS)
        ),
        runbook_known=steps is not None,
        causes=tuple(tagged.get(CAUSE_TAG, ())),
        factors=tuple(tagged.get(FACTOR_TAG, ())),
        impact_notes=tuple(tagged.get(IMPACT_TAG, ())),
        lessons={
            heading: tuple(tagged.get(f"lesson:{heading}", ())) for heading in (*WENT_TAGS, "other")
        },
        actions=tuple(tagged.get(ACTION_TAG, ())),
        key_entries=tuple(tagged.get(KEY_TAG, ())),
        bursts=_bursts(entries),
        comparison=tuple(_comparison(entries)),
        stages=_stages(entries),
    )


# --- as JSON -------------------------------------------------------------------------------


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else format_ts(moment)


def _marked_record(marked: Marked) -> dict[str, Any]:
    record: dict[str, Any] = {
        "seq": marked.seq,
        "at": format_ts(marked.at),
        "author": marked.author,
        "text": marked.text,
    }
    return record


def _action_record(marked: Marked) -> dict[str, Any]:
    return _marked_record(marked) | {
        "owner": marked.owner,
        "due": marked.due,
        "ticket": marked.ticket,
    }


def _basis_record(basis: PhaseBasis) -> dict[str, Any]:
    return {
        "how": basis.how,
        "seq": basis.seq,
        "step": basis.step,
        "condition": basis.condition,
        "seen_at": _ts(basis.seen_at),
        "cited": [
            {"seq": c.seq, "observed_at": _ts(c.observed_at), "what": c.what} for c in basis.cited
        ],
    }


def _impact_record(review: Review, timeline: PhaseTimeline, entries: Sequence[Entry]) -> Any:
    start, restored = timeline.at("impact"), timeline.at("restored")
    end = restored if restored is not None else (entries[-1].ts if entries else None)
    peak = max(review.queues, key=lambda q: q.peak) if review.queues else None
    deferred = [q.deferred_max for q in review.queues if q.deferred_max is not None]
    return {
        "duration_seconds": (
            None if start is None or end is None else (end - start).total_seconds()
        ),
        "until": None if start is None else ("restored" if restored is not None else "last_entry"),
        "peak_queue": None
        if peak is None
        else {"source": peak.source, "region": peak.region, "messages": peak.peak},
        "deferred_max": max(deferred) if deferred else None,
        "notes": [_marked_record(m) for m in review.impact_notes],
    }


def review_record(
    review: Review, entries: Sequence[Entry], timeline: PhaseTimeline
) -> dict[str, Any]:
    """The review as plain JSON values (see cockpit.incident.export_json)."""
    alarm = next(
        (e for e in entries if e.kind == "probe" and e.data.get("event") == "first_alarm"), None
    )
    after = review.after_steps
    return {
        "runbook_known": review.runbook_known,
        "impact": _impact_record(review, timeline, entries),
        "causes": [_marked_record(m) for m in review.causes],
        "factors": [_marked_record(m) for m in review.factors],
        "detection": {
            "detected_at": _ts(timeline.at("detected")),
            "first_alarm": None if alarm is None else {"seq": alarm.seq, "text": alarm.text},
        },
        "phase_bases": {phase: _basis_record(b) for phase, b in review.bases.items()},
        "convergence": [
            {
                "subject": c.subject,
                "target": c.target,
                "decided_at": format_ts(c.decided_at),
                "decision_seq": c.decision_seq,
                "converged_at": _ts(c.converged_at),
                "seconds": None if c.took is None else c.took.total_seconds(),
                "converged_seq": c.converged_seq,
                "last_resolver": c.last_resolver,
                "last_resolver_seq": c.last_resolver_seq,
                "not_converged": c.not_converged,
            }
            for c in review.convergence
        ],
        "queues": [
            {
                "source": q.source,
                "region": q.region,
                "peak": q.peak,
                "peak_seq": q.peak_seq,
                "peak_logged_at": format_ts(q.peak_logged_at),
                "deferred_max": q.deferred_max,
                "back_to_ok_at": _ts(q.back_to_ok_at),
                "back_to_ok_seq": q.back_to_ok_seq,
                "empty_at": _ts(q.empty_at),
                "entries": q.entries,
            }
            for q in review.queues
        ],
        "after_steps": None
        if after is None
        else {
            "verified_seq": after.verified_seq,
            "runbook_known": after.runbook_known,
            "total": after.total,
            "done": after.done,
            "skipped": after.skipped,
            "open": after.open,
            "flag": after.flag,
        },
        "checklist": [
            {
                "step": s.step.id,
                "stage": s.step.phase
                if s.step.phase != "unknown"
                else review.stages.get(s.step.id),
                "title": s.step.title,
                "known": s.known,
                "status": s.status,
                "by": s.by,
                "at": _ts(s.at),
                "seq": s.seq,
                "reason": s.reason,
                "notes": [
                    {"author": author, "at": format_ts(at), "text": text}
                    for author, at, text in s.notes
                ],
                "also_done_by": [name for name, _ in s.also_done_by],
            }
            for s in review.checklist
        ],
        "checklist_as_logged": [
            {
                "seq": e.seq,
                "step": e.data.get("step"),
                "result": e.data.get("result"),
                "title": e.data.get("title"),
                "reason": e.data.get("reason"),
            }
            for e in review.other_checks
        ],
        "lessons": {
            heading: [_marked_record(m) for m in marked]
            for heading, marked in review.lessons.items()
        },
        "action_items": [_action_record(m) for m in review.actions],
        "key_entries": [_marked_record(m) for m in review.key_entries],
        "comparison": [
            {
                "area": c.area,
                "subject": c.subject,
                "where": c.where,
                "first": {"at": format_ts(c.first.at), "seq": c.first.seq, "value": c.first.value},
                "last": {"at": format_ts(c.last.at), "seq": c.last.seq, "value": c.last.value},
                "entries": c.entries,
            }
            for c in review.comparison
        ],
        "timeline_groups": [
            {
                "subject": b.subject,
                "region": b.region,
                "members": [
                    {"server": server, "observed_at": format_ts(at), "seq": seq}
                    for server, at, seq in b.members
                ],
                "converged": None
                if b.converged is None
                else {"observed_at": format_ts(b.converged[0]), "seq": b.converged[1]},
            }
            for _, b in sorted(review.bursts.items())
        ],
        "probe_summaries": [
            {
                "seq": e.seq,
                "area": e.data.get("area") if isinstance(e.data.get("area"), str) else None,
                "subject": probe_subject(e),
                "where": probe_where(e),
                "status": e.data.get("status") if isinstance(e.data.get("status"), str) else None,
                "change": probe_change(e),
            }
            for e in entries
            if e.kind == "probe"
        ],
    }
