"""What changed between two sweeps, as events for the incident log.

Kinds (DnsEvent.kind):
  serial_skew / serial_skew_resolved   key "SOA": the authoritative SOA serials (dis)agree
  authoritative_changed                one authoritative server serves something else for a record
  resolver_region_changed              BY_REGION: a resolver points somewhere else (another region,
                                       split, unexpected, missing)
  resolver_value_changed               the answer changed without changing the verdict (BY_REGION),
                                       or any change of a BY_AUTHORITATIVE answer
  resolver_failed / resolver_recovered a resolver stopped / started answering usably
  resolver_serving_stale / resolver_fresh_again
                                       a resolver's answer now comes from an expired cache entry
                                       (EDE 3/19: it cannot reach the source) / no longer does
  record_converged / record_diverged   every resolver gives the target answer / no longer does

Order is deterministic: SOA events first; then per watched record (current sweep order):
authoritative servers (sweep order), resolvers (config order), then the record event.
A resolver or record absent from either sweep gives no event (there is nothing to compare).
Evidence in `data` is bounded (see classify.bounded_answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cockpit.dns.classify import (
    AuthoritativeView,
    Classified,
    Verdict,
    authoritative_view,
    bounded_answers,
    classify,
    describe_value,
    failure_reason,
    one_line,
    relevant_answers,
    served_stale,
    server_values,
)
from cockpit.dns.observation import Observation, Outcome
from cockpit.dns.propagation import record_propagation, serial_view
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import Judge, WatchedName

EVENT_KINDS = (
    "resolver_region_changed",
    "resolver_value_changed",
    "resolver_failed",
    "resolver_recovered",
    "resolver_serving_stale",
    "resolver_fresh_again",
    "record_converged",
    "record_diverged",
    "serial_skew",
    "serial_skew_resolved",
    "authoritative_changed",
)


@dataclass(frozen=True, slots=True)
class DnsEvent:
    kind: str
    key: str
    """WatchedName.key, or "SOA"."""
    server: str | None
    """The resolver name, or "authoritative NAME" for authoritative_changed; None for records."""
    text: str
    """One line for the incident log."""
    data: Mapping[str, Any]
    """Evidence: before/after verdict, region, answers (bounded), ttl, observed_at."""


def diff_sweeps(previous: SweepResult | None, current: SweepResult, target: str) -> list[DnsEvent]:
    if previous is None:
        return []
    events = _serial_events(previous, current)
    previous_watched = {watched.key: watched for watched in previous.watched}
    for watched in current.watched:
        if watched.key not in previous_watched:
            continue
        events += _authoritative_events(previous, current, watched)
        events += _resolver_events(previous, current, watched)
        events += _record_events(previous, current, watched, target)
    return events


def _serial_events(previous: SweepResult, current: SweepResult) -> list[DnsEvent]:
    before, after = serial_view(previous), serial_view(current)
    data = {
        "before": {"serials": dict(before.serials), "skew": before.skew},
        "after": {"serials": dict(after.serials), "skew": after.skew},
    }
    if after.skew and not before.skew:
        return [DnsEvent("serial_skew", "SOA", None, after.reason, data)]
    if before.skew and not after.skew:
        text = one_line(f"SOA serial skew resolved: {after.reason}")
        return [DnsEvent("serial_skew_resolved", "SOA", None, text, data)]
    return []


def _value(watched: WatchedName, obs: Observation | None) -> tuple[Outcome | None, tuple[str, ...]]:
    if obs is None:
        return None, ()
    if obs.region_seen is not None and obs.outcome is Outcome.ANSWER:
        return obs.outcome, (f"targets of {obs.region_seen or 'no single region'}",)
    if obs.outcome in (Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA):
        return obs.outcome, relevant_answers(watched, obs)
    return obs.outcome, ()


def _authoritative_events(
    previous: SweepResult, current: SweepResult, watched: WatchedName
) -> list[DnsEvent]:
    before = {value.spec.name: value for value in server_values(previous, watched)}
    events: list[DnsEvent] = []
    for value in server_values(current, watched):
        old = before.get(value.spec.name)
        if old is None or old.observation is None or value.observation is None:
            continue
        if _value(watched, old.observation) == _value(watched, value.observation):
            continue
        if value.outcome is None:
            what = f"stopped answering: {failure_reason(value.observation)}"
        else:
            what = f"now serves {describe_value(watched, value.outcome, value.answers)}"
        text = one_line(f"{value.label} {what} for {watched.key}")
        data = {
            "before": _evidence(watched, old.observation, None),
            "after": _evidence(watched, value.observation, None),
        }
        events.append(DnsEvent("authoritative_changed", watched.key, value.label, text, data))
    return events


def _resolver_events(
    previous: SweepResult, current: SweepResult, watched: WatchedName
) -> list[DnsEvent]:
    view_before = authoritative_view(previous, watched)
    view_after = authoritative_view(current, watched)
    events: list[DnsEvent] = []
    for spec in current.resolvers:
        old = previous.observations.get((spec.name, watched.key))
        new = current.observations.get((spec.name, watched.key))
        if old is None or new is None:
            continue
        event = _resolver_event(watched, spec.name, old, new, view_before, view_after)
        if event is not None:
            events.append(event)
        else:
            events.extend(_stale_event(watched, spec.name, old, new, view_after))
    return events


def _stale_event(
    watched: WatchedName,
    name: str,
    old: Observation,
    new: Observation,
    view_after: AuthoritativeView,
) -> list[DnsEvent]:
    """A resolver that starts (or stops) serving its answer from an expired cache entry, the
    answer itself unchanged: news all the same (its source cannot be reached; its TTL promises
    nothing)."""
    before, after = served_stale(old), served_stale(new)
    if (before is None) == (after is None):
        return []
    new_class = classify(watched, new, view_after)
    data = {"before": _evidence(watched, old, None), "after": _evidence(watched, new, new_class)}
    if after is not None:
        text = f"{name} now serves {watched.key} {after}: it cannot refresh it from its source"
        return [DnsEvent("resolver_serving_stale", watched.key, name, one_line(text), data)]
    text = f"{name} serves {watched.key} fresh again: {_describe(new_class)}"
    return [DnsEvent("resolver_fresh_again", watched.key, name, one_line(text), data)]


def _resolver_event(
    watched: WatchedName,
    name: str,
    old: Observation,
    new: Observation,
    view_before: AuthoritativeView,
    view_after: AuthoritativeView,
) -> DnsEvent | None:
    old_class = classify(watched, old, view_before)
    new_class = classify(watched, new, view_after)
    old_failed = old.outcome not in (Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA)
    new_failed = new.outcome not in (Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA)
    data = {
        "before": _evidence(watched, old, old_class),
        "after": _evidence(watched, new, new_class),
    }
    key = watched.key
    if new_failed and not old_failed:
        text = f"{name} stopped answering for {key}: {new_class.reason}"
        return DnsEvent("resolver_failed", key, name, one_line(text), data)
    if old_failed and not new_failed:
        text = f"{name} answers again for {key}: {_describe(new_class)}"
        return DnsEvent("resolver_recovered", key, name, one_line(text), data)
    if new_failed:
        return None
    if watched.judge is Judge.BY_REGION and _region_state(old_class) != _region_state(new_class):
        text = f"{name} now {_describe(new_class)} for {key}"
        return DnsEvent("resolver_region_changed", key, name, one_line(text), data)
    if _value(watched, old) != _value(watched, new) or (
        watched.judge is Judge.BY_AUTHORITATIVE and old_class.verdict != new_class.verdict
    ):
        text = f"{name} now {_describe(new_class)} for {key}"
        return DnsEvent("resolver_value_changed", key, name, one_line(text), data)
    return None


def _region_state(classified: Classified) -> tuple[Verdict, tuple[str, ...]]:
    return classified.verdict, classified.regions


def _describe(classified: Classified) -> str:
    """A short phrase after "NAME now ...": "answers secondary", "gives a split answer ..."."""
    verdict = classified.verdict
    if verdict is Verdict.REGION:
        return f"answers {'/'.join(classified.regions)}"
    if verdict is Verdict.MIXED:
        return f"gives a split answer ({', '.join(classified.regions)})"
    if verdict is Verdict.UNEXPECTED:
        return f"answers unexpected targets: {classified.reason.removeprefix('answers ')}"
    if verdict is Verdict.MISSING:
        return f"answers {classified.reason}"
    if verdict is Verdict.CURRENT:
        return f"serves the current value: {classified.reason.removeprefix('answers ')}"
    return classified.reason


def _record_events(
    previous: SweepResult, current: SweepResult, watched: WatchedName, target: str
) -> list[DnsEvent]:
    before = record_propagation(previous, watched, target)
    after = record_propagation(current, watched, target)
    data = {
        "before": {"converged": before.converged, "resolvers": before.total},
        "after": {
            "converged": after.converged,
            "resolvers": after.total,
            "stale_resolvers": list(after.stale_resolvers),
            "unknown_resolvers": list(after.unknown_resolvers),
        },
        "target": target,
    }
    if after.is_converged and not before.is_converged:
        text = f"{watched.key} fully converged: all {after.total} resolvers give the target answer"
        return [DnsEvent("record_converged", watched.key, None, one_line(text), data)]
    if before.is_converged and not after.is_converged:
        text = (
            f"{watched.key} no longer converged: {after.converged} of {after.total} resolvers"
            f" give the target answer ({after.reason})"
        )
        return [DnsEvent("record_diverged", watched.key, None, one_line(text), data)]
    return []


def _evidence(
    watched: WatchedName, obs: Observation, classified: Classified | None
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "outcome": obs.outcome.value,
        "answers": bounded_answers(relevant_answers(watched, obs), most=8, chars=256),
        "ttl": obs.ttl,
        "observed_at": obs.observed_at.isoformat(),
    }
    if classified is not None:
        evidence["verdict"] = classified.verdict.value
        evidence["region"] = classified.region
        evidence["reason"] = classified.reason
    stale = served_stale(obs)
    if stale is not None:
        evidence["served_stale"] = stale
    return evidence
