"""Judging the checklist's `auto` conditions: only fresh findings observed after the event count.

Pure functions. The grammar and what makes a finding evidence are in `cockpit.incident.runbook`;
this module applies them:

    moments = incident_moments(entries, now=now, config=config)  # target and event times
    result = auto_result(step, findings, moments)                 # satisfied, evidence, reason
    record = auto_record(result, seen_at)                         # data.auto of a confirm entry

The decided target and the event times come from the log alone: TARGET is the region the latest
failover decision names (`latest_failover_decision`), "decision" is that entry's time (when
it was written: the cockpit could not have judged against the target before), and the phases are
their effective times (`effective_phases`). routed, restored and verified are about the failover
the latest decision names: one set (in seq order) before that decision belongs to an earlier
failover and counts as not set ("routed not set since the failover decision").

A DNS answer's finding has the region its answer points at, and the region it was judged
against in data.target: `region=` picks DNS findings by the latter, so `dns.MX region=TARGET ==
ok` needs every resolver's and authoritative server's answer to point at the target (a stale,
unknown or hijacked one is not left out for pointing elsewhere).

A reason never says "satisfied" for what was not seen: it names what is missing ("no failover
decision yet", "routed not set yet", "service.smtp (secondary): no finding yet", "... last seen
14:02:10, not after routed at 14:05:00", "... stale, last seen 14:02:10 (older than 60 s)", "...
unknown (timed out)", "... 1 sample since routed, draining needs 2").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cockpit.incident.entry import Entry, format_ts, parse_ts
from cockpit.incident.phases import PhaseTime, effective_phases, latest_failover_decision
from cockpit.incident.runbook import (
    DRAINS,
    EVENTS,
    TARGET,
    Clause,
    Condition,
    Step,
    with_implicit_after,
)
from cockpit.model import Finding, Status
from cockpit.safe_text import clean

if TYPE_CHECKING:
    from cockpit.config.model import Config

__all__ = [
    "AFTER_DECISION",
    "MAX_EVIDENCE",
    "AutoResult",
    "IncidentMoments",
    "auto_record",
    "auto_result",
    "auto_satisfied",
    "effective_condition",
    "evidence_records",
    "freshness_bound",
    "incident_moments",
    "of_an_earlier_failover",
    "recent_samples",
]

AFTER_DECISION = ("routed", "restored", "verified")
"""Phases about the failover a decision names: set before the latest decision, they belong to
an earlier failover."""
MAX_EVIDENCE = 10
"""Findings cited in a confirm entry or a checklist finding, at most."""
FRESHNESS_INTERVALS = 3.0
"""A finding is fresh for this many of its area's read intervals ..."""
MIN_FRESHNESS_S = 60.0
"""... and never less than this: a slow run must not make every finding stale."""
DRAIN_SAMPLES = 3
"""`drains` compares the first and last of this many newest samples after the event."""
DRAIN_SLACK = 5
DRAIN_SLACK_SHARE = 0.05
"""A healthy queue is never still: a handful of messages in flight come and go between two
reads. Growth counts when the last sample exceeds the first by more than this many messages
or this share of the first, whichever is larger; anything within it is not growing."""
MAX_RECENT_SAMPLES = 64
"""How many data.recent samples are read from one finding (the queue sends about 30)."""
_MAX_TEXT = 80
"""Longest name or summary quoted in a reason (ASCII "..." marks a cut: --ascii screens)."""


def _default(settings_class: str, name: str) -> float:
    """The dataclass default of `settings_class.name` in cockpit.config.model (the interval
    the cockpit uses when unset). The config model is imported when first needed: a review
    of a log without a config does not need it."""
    from cockpit.config import model

    for item in fields(getattr(model, settings_class)):
        if item.name == name:
            return float(item.default)
    raise LookupError(name)


def _source_interval(
    config: Config | None, attribute: str, subject: str | None, region: str | None
) -> float:
    """The interval of the source named `subject`, else the slowest source of `region`, else
    the slowest of all; the default interval when the config has none (or there is no config)."""
    pairs: list[tuple[str, Any]] = []
    if config is not None:
        pairs = [
            (configured.name, source)
            for configured in config.regions
            for source in getattr(configured, attribute)
        ]
    named = [source.interval for _, source in pairs if subject and source.name == subject]
    if named:
        return float(named[0])
    in_region = [source.interval for name, source in pairs if region and name == region]
    pool = in_region or [source.interval for _, source in pairs]
    return float(max(pool)) if pool else _default("QueueSource", "interval")


def _canary_cycle(config: Config | None, name: str | None) -> float:
    """How long one canary takes from run to run at most: its interval plus the time it may
    wait for its message (the named canary's, else the slowest configured, else the defaults)."""
    canaries = list(config.canaries) if config is not None else []
    named = [canary for canary in canaries if name and canary.name == name]
    pool = named or canaries
    if not pool:
        return _default("Canary", "interval") + _default("Canary", "timeout")
    return max(float(canary.interval) + float(canary.timeout) for canary in pool)


_SOURCE_LISTS = {"queue": "queues", "replication": "replication", "authority": "roles"}
"""Areas read per source -> the Region attribute that lists their sources."""


def freshness_bound(
    area: str,
    subject: str | None = None,
    region: str | None = None,
    config: Config | None = None,
    resolver: str | None = None,
) -> float:
    """Seconds after which a finding of `area` is too old to be evidence: three times the
    interval the cockpit reads it at (the config's, else the default), at least 60 s.

    dns: [dns] interval, or the slowest vantage's when `resolver` is a vantage's row ("<resolver>
    @ <vantage or site>", not a configured resolver's name); auth: [auth] interval; service:
    [service] interval; queue,
    replication and authority: the interval of the source the finding names (its subject), else
    the slowest source of its region, else the slowest of the config; canary: the named
    canary's interval plus its arrival timeout (a run may take that long). Any other area: 60 s.
    """
    interval: float | None = None
    if area == "dns":
        interval = config.dns.interval if config else _default("DnsSettings", "interval")
        if config is not None and _vantage_row(config, resolver):
            interval = max(interval, *(vantage.interval for vantage in config.vantages))
    elif area == "auth":
        interval = config.auth.interval if config else _default("AuthSettings", "interval")
    elif area == "service":
        interval = config.service.interval if config else _default("ServiceSettings", "interval")
    elif area in _SOURCE_LISTS:
        interval = _source_interval(config, _SOURCE_LISTS[area], subject, region)
    elif area == "canary":
        interval = _canary_cycle(config, subject)
    if interval is None:
        return MIN_FRESHNESS_S
    return max(MIN_FRESHNESS_S, FRESHNESS_INTERVALS * float(interval))


def _vantage_row(config: Config, resolver: str | None) -> bool:
    if not config.vantages or resolver is None or " @ " not in resolver:
        return False
    return resolver not in {configured.name for configured in config.dns.resolvers}


@dataclass(frozen=True, slots=True)
class IncidentMoments:
    """What the log says conditions are judged against, at one moment."""

    now: datetime
    """When the judgement is made: freshness is measured back from here."""
    target: str | None
    """The region the latest failover decision names; None when there is none."""
    events: Mapping[str, datetime]
    """Event name (EVENTS) -> when it happened, for the events that have."""
    config: Config | None = None
    """For the freshness bounds (None: the default intervals)."""
    unset: Mapping[str, str] = field(default_factory=dict)
    """Event name -> why it does not count although the log sets it (a phase of an earlier
    failover)."""


def of_an_earlier_failover(
    phase: str, phase_time: PhaseTime | None, decision: Entry | None
) -> bool:
    """`phase` (routed, restored or verified) was set, in seq order, before the latest failover
    `decision`: it belongs to an earlier failover, not to the one that decision names."""
    return (
        phase_time is not None
        and decision is not None
        and phase in AFTER_DECISION
        and phase_time.seq < decision.seq
    )


def incident_moments(
    entries: Sequence[Entry], *, now: datetime, config: Config | None = None
) -> IncidentMoments:
    """The decided target and the event times of the log `entries`."""
    events: dict[str, datetime] = {}
    decision = latest_failover_decision(entries)
    target: str | None = None
    if decision is not None:
        events["decision"] = decision.ts
        raw = decision.data.get("target_region")
        target = raw.strip() if isinstance(raw, str) else None
    timeline = effective_phases(entries)
    unset: dict[str, str] = {}
    for event in EVENTS:
        phase_time = timeline.get(event) if event != "decision" else None
        if phase_time is None:
            continue
        if of_an_earlier_failover(event, phase_time, decision):
            unset[event] = (
                f"{event} not set since the failover decision (set at {_hms(phase_time.at)},"
                " for an earlier one)"
            )
            continue
        events[event] = phase_time.at
    return IncidentMoments(now=now, target=target, events=events, config=config, unset=unset)


@dataclass(frozen=True, slots=True)
class AutoResult:
    """Whether a step's `auto` condition holds, and the findings that say so."""

    satisfied: bool
    evidence: tuple[Finding, ...] = field(default=())
    """The findings that met the clauses judged (every clause's, when satisfied)."""
    reason: str = ""
    """Why it does not hold yet (empty when it does); safe to show."""
    condition: str = ""
    """The condition as judged (with its implicit after=)."""


def effective_condition(step: Step) -> Condition | None:
    """The step's condition with the implicit after= of the phase it sets."""
    return with_implicit_after(step.auto, step.sets_phase)


def _fold(text: str | None) -> str:
    return "" if text is None else text.casefold()


def _region_of(finding: Finding) -> str | None:
    """The region a finding is about: for a DNS answer the one it was judged against (its own
    region is where the answer points, None for a failure), else its region."""
    if finding.area == "dns" and isinstance(finding.data, Mapping):
        judged = finding.data.get("target")
        if isinstance(judged, str):
            return judged
    return finding.region


def _matches(clause: Clause, finding: Finding, region: str | None) -> bool:
    if _fold(finding.area) != clause.area.casefold():
        return False
    if clause.check != "*" and _fold(finding.check) != clause.check.casefold():
        return False
    if clause.subject != "*" and _fold(finding.subject).rstrip(".") != clause.subject.casefold():
        return False
    return region is None or _fold(_region_of(finding)) == region.casefold()


def _meets(clause: Clause, status: Status) -> bool:
    wanted = Status(clause.status or "ok")
    if clause.op == "==":
        return status is wanted
    return status.severity <= wanted.severity


def _short(text: object) -> str:
    cleaned = clean(str(text))
    return cleaned if len(cleaned) <= _MAX_TEXT else cleaned[: _MAX_TEXT - 3] + "..."


def _hms(moment: datetime) -> str:
    return format_ts(moment)[11:19]


def _where(finding: Finding) -> str:
    where = f"{_short(finding.area)}.{_short(finding.check)} {_short(finding.subject)}"
    if finding.region:
        where += f" ({_short(finding.region)})"
    if finding.area == "dns" and finding.resolver:
        where += f" from {_short(finding.resolver)}"
    return where


def _event_text(event: str) -> str:
    return "the failover decision" if event == "decision" else event


def _missing_event(event: str) -> str:
    return "no failover decision yet" if event == "decision" else f"{event} not set yet"


def recent_samples(finding: Finding) -> list[tuple[datetime, int]]:
    """data.recent of a queue finding as (time, total), oldest first; malformed items are left
    out (never read as 0)."""
    raw = finding.data.get("recent") if isinstance(finding.data, Mapping) else None
    if not isinstance(raw, list | tuple):
        return []
    samples: list[tuple[datetime, int]] = []
    for item in raw[-MAX_RECENT_SAMPLES:]:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        at_text, total = item
        if not isinstance(at_text, str) or isinstance(total, bool) or not isinstance(total, int):
            continue
        try:
            at = parse_ts(at_text)
        except ValueError:
            continue
        if total >= 0:
            samples.append((at, total))
    samples.sort(key=lambda sample: sample[0])
    return samples


def _drain_problem(finding: Finding, after: datetime | None, event: str | None) -> str | None:
    """Why the queue of `finding` is not seen draining since `event` (at `after`); None when
    two or more samples since then do not grow (beyond the in-flight slack) from the first to
    the last of the newest three."""
    samples = recent_samples(finding)
    if after is not None:
        samples = [sample for sample in samples if sample[0] > after]
    newest = samples[-DRAIN_SAMPLES:]
    since = "" if after is None or event is None else f" since {_event_text(event)}"
    if len(newest) < 2:
        count = "no sample" if not newest else "1 sample"
        return f"{_where(finding)}: {count}{since}, draining needs 2"
    first, last = newest[0][1], newest[-1][1]
    if last > first + max(DRAIN_SLACK, DRAIN_SLACK_SHARE * first):
        return f"{_where(finding)}: growing{since} ({first:,} -> {last:,})"
    return None


def _problem(
    clause: Clause, finding: Finding, after: datetime | None, moments: IncidentMoments
) -> str | None:
    """Why `finding` is not evidence that meets `clause`; None when it is."""
    where = _where(finding)
    seen = finding.observed_at
    if seen is None or seen.tzinfo is None:  # a time without a zone is no known time either
        return f"{where}: observation time unknown"
    if after is not None and seen <= after:
        event = _event_text(clause.after or "")
        return f"{where}: last seen {_hms(seen)}, not after {event} at {_hms(after)}"
    bound = freshness_bound(
        finding.area, finding.subject, finding.region, moments.config, finding.resolver
    )
    if (moments.now - seen).total_seconds() > bound:
        return f"{where}: stale, last seen {_hms(seen)} (older than {bound:.0f} s)"
    if finding.status is Status.UNKNOWN:  # the probe could not tell, so it proves nothing
        return f"{where}: unknown ({_short(finding.summary)})"
    if clause.op == DRAINS:
        return _drain_problem(finding, after, clause.after)
    if not _meets(clause, finding.status):
        wanted = clause.status if clause.op == "==" else f"{clause.status} or better"
        return f"{where}: {finding.status.value}, needs {wanted}"
    return None


def _judge_clause(
    clause: Clause, findings: Sequence[Finding], moments: IncidentMoments
) -> tuple[list[Finding], str | None]:
    """(the matching findings, why the clause does not hold or None)."""
    region = clause.region
    if region == TARGET:
        region = moments.target
        if region is None:
            return [], "no failover decision yet"
    after: datetime | None = None
    if clause.after is not None:
        after = moments.events.get(clause.after)
        if after is None:
            return [], moments.unset.get(clause.after) or _missing_event(clause.after)
    matching = [finding for finding in findings if _matches(clause, finding, region)]
    if not matching:
        where = f"{clause.area}.{clause.check}"
        if clause.subject != "*":
            where += f" {clause.subject}"
        if region is not None:
            where += f" ({_short(region)})"
        return [], f"{where}: no finding yet"
    for finding in matching:
        problem = _problem(clause, finding, after, moments)
        if problem is not None:
            return matching, problem
    return matching, None


def auto_result(step: Step, findings: Sequence[Finding], moments: IncidentMoments) -> AutoResult:
    """Judge `step`'s condition (with its implicit after=) on `findings` at `moments`."""
    condition = effective_condition(step)
    if condition is None:
        return AutoResult(False, (), "the step has no auto condition")
    text = str(condition)
    reasons: list[str] = []
    first_evidence: list[Finding] | None = None
    for index, group in enumerate(condition.groups):
        evidence, problem, seen = _judge_group(group, findings, moments)
        if problem is None:
            return AutoResult(True, tuple(evidence), "", text)
        if first_evidence is None:
            first_evidence = evidence
        # An alternative nothing was seen for (no canary configured, say) is not news.
        if (index == 0 or seen) and problem not in reasons:
            reasons.append(problem)
    return AutoResult(False, tuple(first_evidence or ()), "; or: ".join(reasons), text)


def _judge_group(
    group: Sequence[Clause], findings: Sequence[Finding], moments: IncidentMoments
) -> tuple[list[Finding], str | None, bool]:
    """(the findings that met the clauses judged, why the group does not hold or None,
    whether any finding matched a clause of the group at all)."""
    evidence: list[Finding] = []
    for clause in group:
        matching, problem = _judge_clause(clause, findings, moments)
        if problem is not None:
            return evidence, problem, bool(evidence or matching)
        evidence.extend(matching)
    return evidence, None, True


def auto_satisfied(step: Step, findings: Sequence[Finding], moments: IncidentMoments) -> bool:
    """True when the step has an `auto` condition and the findings are evidence that meets it."""
    return auto_result(step, findings, moments).satisfied


def evidence_records(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """At most MAX_EVIDENCE findings as {area, check, subject, region, status, observed_at};
    a canary run also gives its round trip and folder, which the export cites."""
    return [
        {
            "area": finding.area,
            "check": finding.check,
            "subject": finding.subject[:255],
            "region": finding.region,
            "status": finding.status.value,
            "observed_at": None if finding.observed_at is None else format_ts(finding.observed_at),
            **_canary_detail(finding),
        }
        for finding in findings[:MAX_EVIDENCE]
    ]


def _canary_detail(finding: Finding) -> dict[str, Any]:
    if finding.area != "canary" or finding.check not in ("inbound", "outbound"):
        return {}
    detail: dict[str, Any] = {}
    seconds = finding.data.get("round_trip_s")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        detail["round_trip_s"] = round(float(seconds), 3)
    folder = finding.data.get("folder")
    if isinstance(folder, str):
        detail["folder"] = folder[:80]
    return detail


def auto_record(result: AutoResult, seen_at: datetime) -> dict[str, Any]:
    """data.auto of a step confirmed from probe results: when the condition was first seen to
    hold, the condition as judged, and the findings that met it (bounded)."""
    return {
        "seen_at": format_ts(seen_at),
        "condition": result.condition,
        "evidence": evidence_records(result.evidence),
    }
