"""Queue transitions, as events for the incident log.

Kinds (QueueEvent.kind):
  depth_up / depth_down        the depth crossed warn or crit upwards / fell back below one
  age_up / age_down            the same for the age of the oldest message
  growth_up / growth_down      the queue started to grow too fast or too long (warn: past
                               rate_warn, or GROWING_SAMPLES samples in a row) / stopped
  source_unknown               a read failed after a good one (or the very first read failed)
  source_recovered             a good read after a failed one

Every event's `data` records the depth at that moment, so the timeline keeps the peak backlog
and the deferred volume: total, by_queue, deferred, oldest_age_s, peak_total (so far), at; a
crossing adds threshold (depth or age), before, after and limit; source_unknown adds error
and last_good_at (total and the others are then the last good sample's, never 0).

A history starts from "ok and readable": a first reading over a threshold is a crossing, a
first reading that fails is source_unknown. While a source is unknown its levels stay those of
the last good sample, so a crossing that happened meanwhile is reported when it comes back.
Order: source_unknown / source_recovered first, then depth, then age, then growth. A growth
event adds rate_per_min (the rate it was judged at, None when unknown) and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cockpit.model import Status
from cockpit.queue.history import (
    Level,
    QueueHistory,
    QueueState,
    format_age,
    format_count,
    format_duration,
)
from cockpit.queue.sample import Reading

EVENT_KINDS = (
    "depth_up",
    "depth_down",
    "age_up",
    "age_down",
    "growth_up",
    "growth_down",
    "source_unknown",
    "source_recovered",
)

_START = QueueState(Status.OK, Level.OK, Level.OK, True, ())


@dataclass(frozen=True, slots=True)
class QueueEvent:
    kind: str
    source: str
    region: str | None
    text: str
    """One line for the incident log."""
    data: Mapping[str, Any]


def record(history: QueueHistory, reading: Reading) -> list[QueueEvent]:
    """Add `reading` to `history` and return the transitions it caused."""
    before = history.state() if len(history) else None
    history.add(reading)
    return transition_events(before, history.state(), history)


def transition_events(
    before: QueueState | None, after: QueueState, history: QueueHistory
) -> list[QueueEvent]:
    """Events between two states of `history` (`before` None: nothing was read yet)."""
    previous = before or _START
    events: list[QueueEvent] = []
    if previous.readable and not after.readable:
        events.append(_unknown_event(history))
    elif not previous.readable and after.readable:
        events.append(_event(history, "source_recovered", _recovered_text(history), {}))
    # While a source is unknown its levels are those of the last good sample: no crossing.
    events.extend(_crossings(history, "depth", previous.depth_level, after.depth_level))
    events.extend(_crossings(history, "age", previous.age_level, after.age_level))
    events.extend(_growth(history, previous.growth_level, after.growth_level))
    return events


def _growth(history: QueueHistory, before: Level, after: Level) -> list[QueueEvent]:
    # The level is kept while the source is unknown, so it changes only at a good reading:
    # history.growth() and trend() judge the same samples as `after`.
    if before is after:
        return []
    name = history.source.name
    rate = history.rate_per_min()
    _, reason = history.growth()
    extra: dict[str, Any] = {
        "threshold": "growth",
        "before": before.value,
        "after": after.value,
        "rate_per_min": None if rate is None else round(rate, 1),
        "limit": history.source.rate_warn,
        "reason": reason,
    }
    if after.rank > before.rank:
        text = f"{name} queue {reason or 'growing'}"
        kind = "growth_up"
    else:
        text = f"{name} queue no longer growing too fast: {history.trend().text}"
        kind = "growth_down"
    return [_event(history, kind, f"{text}: {_depth_phrase(history)}", extra)]


def _depth_data(history: QueueHistory) -> dict[str, Any]:
    sample = history.latest_good
    if sample is None:
        return {
            "total": None,
            "by_queue": {},
            "deferred": None,
            "oldest_age_s": None,
            "peak_total": history.peak_total,
            "at": None,
        }
    return {
        "total": sample.total,
        "by_queue": dict(sample.by_queue),
        "deferred": sample.by_queue.get("deferred"),
        "oldest_age_s": sample.oldest_age_s,
        "peak_total": history.peak_total,
        "at": sample.at.isoformat(),
    }


def _event(history: QueueHistory, kind: str, text: str, extra: dict[str, Any]) -> QueueEvent:
    data = _depth_data(history)
    data.update(extra)
    return QueueEvent(kind, history.source.name, history.region, text, data)


def _depth_phrase(history: QueueHistory) -> str:
    sample = history.latest_good
    if sample is None:
        return "no good reading yet"
    phrase = f"{format_count(sample.total)} messages"
    deferred = sample.by_queue.get("deferred")
    if deferred is not None:
        phrase += f" ({format_count(deferred)} deferred)"
    return phrase


def _unknown_event(history: QueueHistory) -> QueueEvent:
    latest = history.latest
    error = latest.error if latest is not None and latest.error else "read failed"
    at = latest.at if latest is not None else None
    good = history.latest_good
    if good is not None and at is not None:
        kept = history.last_good_text(at)
    else:
        kept = "no good reading yet"
    text = f"{history.source.name} queue unknown: {error}; {kept}"
    extra = {
        "error": error,
        "last_good_at": good.at.isoformat() if good is not None else None,
        "failed_at": at.isoformat() if at is not None else None,
    }
    return _event(history, "source_unknown", text, extra)


def _recovered_text(history: QueueHistory) -> str:
    return f"{history.source.name} queue readable again: {_depth_phrase(history)}"


def _limit(history: QueueHistory, threshold: str, level: Level) -> int | None:
    source = history.source
    if threshold == "depth":
        return source.crit if level is Level.CRIT else source.warn
    return source.age_crit if level is Level.CRIT else source.age_warn


def _limit_text(threshold: str, limit: int | None) -> str:
    if limit is None:
        return "?"
    if threshold == "depth":
        return format_count(limit)
    return format_duration(limit).removeprefix("about ")


def _crossings(
    history: QueueHistory, threshold: str, before: Level, after: Level
) -> list[QueueEvent]:
    if before is after:
        return []
    name = history.source.name
    what = "depth" if threshold == "depth" else "oldest message age"
    extra: dict[str, Any] = {"threshold": threshold, "before": before.value, "after": after.value}
    if after.rank > before.rank:
        limit = _limit(history, threshold, after)
        extra["limit"] = limit
        text = f"{name} queue {what} crossed {after} ({_limit_text(threshold, limit)})"
        kind = f"{threshold}_up"
    else:
        limit = _limit(history, threshold, before)
        extra["limit"] = limit
        text = f"{name} queue {what} back below {before} ({_limit_text(threshold, limit)})"
        if after is not Level.OK:
            text += f", still {after}"
        kind = f"{threshold}_down"
    text += f": {_depth_phrase(history)}"
    if threshold == "age":
        sample = history.latest_good
        if sample is not None and sample.oldest_age_s is not None:
            text += f", oldest {format_age(sample.oldest_age_s).removesuffix(' ago')} old"
    return [_event(history, kind, text, extra)]
