"""Phases, metrics and the incident summary, derived from the log.

Pure functions over a sequence of `Entry`; results are frozen dataclasses.

How a phase gets its time (entries are taken in seq order):
- a `phase` entry (data.phase in PHASES) sets the phase at data.at; when data.at is missing
  or not an RFC 3339 time the entry's own ts is used and a warning is recorded;
- a later `correction` entry (data.phase, data.at, data.previous_at, data.corrects_seq) or a
  later `phase` entry for the same phase replaces the time: the latest in seq order wins.
  Every setting is kept in `PhaseTime.history`, so an export can say what was corrected.
- warnings (LogProblem, with the entry's line) and no effect: an unknown phase name, a
  correction without a valid data.at; warnings only: a correction of a phase that was not
  set (it sets it), a correction whose corrects_seq is not the entry currently in effect.

Metrics measure from impact: time to detect = detected - impact, and likewise declare
(declared), route (routed), restore (restored) and verify (verified). Each metric also gives
the time since the previous phase that is present, and names that phase. A missing phase
gives None. A negative duration (times out of order) is kept and flagged, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from cockpit.incident.entry import PHASES, Entry, LogProblem, data_time, format_ts
from cockpit.incident.roles import current_holders
from cockpit.incident.severity import current_severity

__all__ = [
    "METRICS",
    "IncidentAnalysis",
    "IncidentSummary",
    "Metric",
    "PhaseSetting",
    "PhaseTime",
    "PhaseTimeline",
    "analyse",
    "compute_metrics",
    "current_target_region",
    "effective_phases",
    "failover_data",
    "latest_failover_decision",
    "phase_record",
    "summarize",
]

METRICS: tuple[tuple[str, str], ...] = (
    ("time to detect", "detected"),
    ("time to declare", "declared"),
    ("time to route", "routed"),
    ("time to restore", "restored"),
    ("time to verify", "verified"),
)
"""(metric name, the phase it measures to), in report order. All measure from impact."""

_seq_of = attrgetter("seq")


@dataclass(frozen=True, slots=True)
class PhaseSetting:
    """One time a phase was set or corrected."""

    at: datetime
    """When the phase happened, according to this entry."""
    seq: int
    author: str
    kind: str
    """"phase" or "correction": the kind of the entry that did it."""
    ts: datetime
    """When the entry was written."""


@dataclass(frozen=True, slots=True)
class PhaseTime:
    """The effective time of one phase and how it got there."""

    phase: str
    history: tuple[PhaseSetting, ...]
    """Every setting in seq order; the last one is in effect. Never empty."""

    @property
    def current(self) -> PhaseSetting:
        return self.history[-1]

    @property
    def at(self) -> datetime:
        return self.history[-1].at

    @property
    def seq(self) -> int:
        """Seq of the entry that set the time now in effect."""
        return self.history[-1].seq

    @property
    def corrected(self) -> bool:
        return len(self.history) > 1

    @property
    def first_phase_setting(self) -> PhaseSetting:
        """The first `phase` entry for this phase (the first setting if none was a phase)."""
        for setting in self.history:
            if setting.kind == "phase":
                return setting
        return self.history[0]


@dataclass(frozen=True, slots=True)
class PhaseTimeline:
    """The phases that are set, in PHASES order, and what was odd on the way."""

    times: tuple[PhaseTime, ...]
    warnings: tuple[LogProblem, ...] = ()

    def get(self, phase: str) -> PhaseTime | None:
        for phase_time in self.times:
            if phase_time.phase == phase:
                return phase_time
        return None

    def at(self, phase: str) -> datetime | None:
        phase_time = self.get(phase)
        return None if phase_time is None else phase_time.at


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the metrics table."""

    name: str
    """"time to detect", ...: see METRICS."""
    phase: str
    from_impact: timedelta | None
    """phase - impact; None when either is missing."""
    previous_phase: str | None
    """The nearest earlier phase (in PHASES order) that is present."""
    since_previous: timedelta | None

    @property
    def out_of_order(self) -> bool:
        zero = timedelta(0)
        return any(d is not None and d < zero for d in (self.from_impact, self.since_previous))


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    title: str
    commander: str | None
    start: datetime | None
    """Impact, else the first entry's ts; None for an empty log."""
    start_is_impact: bool
    end: datetime | None
    """Closed, else the last entry's ts (then `ongoing` is True)."""
    ongoing: bool
    duration: timedelta | None
    region_before: str | None
    region_after: str | None
    severity: str | None = None
    """The latest severity set (cockpit.incident.severity), or None."""


@dataclass(frozen=True, slots=True)
class IncidentAnalysis:
    """Everything an export needs beyond the entries themselves."""

    timeline: PhaseTimeline
    metrics: tuple[Metric, ...]
    summary: IncidentSummary


def _in_seq_order(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=_seq_of)


def _data_str(data: Any, key: str) -> str | None:
    """data[key] when it is a non-blank string."""
    value = data.get(key) if hasattr(data, "get") else None
    return value if isinstance(value, str) and value.strip() else None


def _warning(entry: Entry, message: str) -> LogProblem:
    return LogProblem("warning", f"seq {entry.seq}: {message}", entry.line or None)


def effective_phases(entries: Sequence[Entry]) -> PhaseTimeline:
    """The time in effect for each phase, with its history; see the module docstring."""
    history: dict[str, list[PhaseSetting]] = {}
    warnings: list[LogProblem] = []
    for entry in _in_seq_order(e for e in entries if e.kind in ("phase", "correction")):
        phase = entry.data.get("phase")
        if not isinstance(phase, str) or phase not in PHASES:
            warnings.append(
                _warning(entry, f"{entry.kind} entry names no known phase ({phase!r:.40}): ignored")
            )
            continue
        at = data_time(entry.data, "at")
        if entry.kind == "phase":
            if at is None:
                warnings.append(
                    _warning(entry, f"phase {phase} has no valid data.at: using the entry time")
                )
                at = entry.ts
        else:
            if at is None:
                warnings.append(
                    _warning(entry, f"correction of {phase} has no valid data.at: ignored")
                )
                continue
            settings = history.get(phase)
            corrects_seq = entry.data.get("corrects_seq")
            if settings is None:
                warnings.append(
                    _warning(entry, f"corrects phase {phase}, which was not set: taken as set")
                )
            elif corrects_seq != settings[-1].seq:
                warnings.append(
                    _warning(
                        entry,
                        f"corrects seq {corrects_seq!r:.20} but {phase} was last set by seq "
                        f"{settings[-1].seq}: the later entry wins",
                    )
                )
        history.setdefault(phase, []).append(
            PhaseSetting(at=at, seq=entry.seq, author=entry.author, kind=entry.kind, ts=entry.ts)
        )
    times = tuple(PhaseTime(p, tuple(history[p])) for p in PHASES if p in history)
    return PhaseTimeline(times=times, warnings=tuple(warnings))


def phase_record(entries: Sequence[Entry], phase: str, at: datetime) -> tuple[str, dict[str, Any]]:
    """The (kind, data) to append when someone sets `phase` at `at`.

    A "phase" entry the first time; a "correction" naming the time and the entry it replaces
    when the phase is already set. Raises ValueError for an unknown phase or a naive time.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: expected one of {', '.join(PHASES)}")
    if at.tzinfo is None:
        raise ValueError("a phase time needs a time zone")
    current = effective_phases(entries).get(phase)
    if current is None:
        return "phase", {"phase": phase, "at": format_ts(at)}
    return "correction", {
        "phase": phase,
        "at": format_ts(at),
        "previous_at": format_ts(current.at),
        "corrects_seq": current.seq,
    }


def latest_failover_decision(entries: Iterable[Entry]) -> Entry | None:
    """The latest decision (in seq order) that names a target region (data.target_region)."""
    latest: Entry | None = None
    for entry in entries:
        if entry.kind != "decision" or _data_str(entry.data, "target_region") is None:
            continue
        if latest is None or entry.seq > latest.seq:
            latest = entry
    return latest


def current_target_region(entries: Sequence[Entry]) -> str | None:
    """data.target_region of the latest decision (in seq order) that has one."""
    latest = latest_failover_decision(entries)
    return None if latest is None else _data_str(latest.data, "target_region")


def failover_data(
    target: str, entries: Sequence[Entry], first_region: str | None
) -> dict[str, str]:
    """target_region and previous_region of a failover decision: the previous region is the
    target of the latest earlier decision, else `first_region` (the first configured one)."""
    data = {"target_region": target}
    previous = current_target_region(entries)
    if previous is None:
        previous = first_region
    if previous is not None:
        data["previous_region"] = previous
    return data


def _previous_present(timeline: PhaseTimeline, phase: str) -> PhaseTime | None:
    """The nearest phase before `phase` in PHASES order that is set (`phase` itself need not be)."""
    order = PHASES.index(phase)
    previous: PhaseTime | None = None
    for phase_time in timeline.times:
        if PHASES.index(phase_time.phase) >= order:
            break
        previous = phase_time
    return previous


def compute_metrics(timeline: PhaseTimeline) -> tuple[Metric, ...]:
    """The metrics rows of METRICS, in order."""
    impact = timeline.at("impact")
    rows: list[Metric] = []
    for name, phase in METRICS:
        at = timeline.at(phase)
        previous = _previous_present(timeline, phase)
        rows.append(
            Metric(
                name=name,
                phase=phase,
                from_impact=None if at is None or impact is None else at - impact,
                previous_phase=None if previous is None else previous.phase,
                since_previous=None if at is None or previous is None else at - previous.at,
            )
        )
    return tuple(rows)


def summarize(
    entries: Sequence[Entry], timeline: PhaseTimeline | None = None, *, name: str
) -> IncidentSummary:
    """Title, commander, start, end and regions. `name` is the log file's stem."""
    ordered = _in_seq_order(entries)
    if timeline is None:
        timeline = effective_phases(ordered)
    title = name
    first_region_decision: Entry | None = None
    region_after: str | None = None
    for entry in ordered:
        data = entry.data
        if not data:
            continue
        if entry.kind == "system":
            title = _data_str(data, "title") or title
        if entry.kind == "decision":
            region = _data_str(data, "target_region")
            if region is not None:
                region_after = region
                if first_region_decision is None:
                    first_region_decision = entry

    holder = current_holders(ordered).get("commander")
    declared = timeline.get("declared")
    commander = holder
    if commander is None and declared is not None:
        commander = declared.first_phase_setting.author
    if commander is None:
        # The cockpit's own entries (probe entries, a phase its first alarm set) are no
        # commander: the first person to write is.
        commander = next(
            (e.author for e in ordered if e.kind != "probe" and e.data.get("source") != "probe"),
            None,
        )

    impact = timeline.at("impact")
    closed = timeline.at("closed")
    start = impact if impact is not None else (ordered[0].ts if ordered else None)
    end = closed if closed is not None else (ordered[-1].ts if ordered else None)
    return IncidentSummary(
        title=title,
        commander=commander,
        start=start,
        start_is_impact=impact is not None,
        end=end,
        ongoing=closed is None,
        duration=None if start is None or end is None else end - start,
        region_before=(
            None
            if first_region_decision is None
            else _data_str(first_region_decision.data, "previous_region")
        ),
        region_after=region_after,
        severity=current_severity(ordered),
    )


def analyse(entries: Sequence[Entry], *, name: str) -> IncidentAnalysis:
    """Phases, metrics and summary in one go (entries are sorted by seq once)."""
    ordered = _in_seq_order(entries)
    timeline = effective_phases(ordered)
    return IncidentAnalysis(
        timeline=timeline,
        metrics=compute_metrics(timeline),
        summary=summarize(ordered, timeline, name=name),
    )
