"""The queue area of `cockpit check`: one read per source, all at once, turned into findings.

Each finding is `area "queue"`, `check "depth"`, `subject` the source name, with `data`:
kind, total, by_queue, oldest_age_s, deferral_reasons [{reason, count}], rate_per_min, trend,
eta_s, peak_total, warn/crit/age_warn/age_crit/rate_warn, growing_samples (at how many of the
latest samples in a row the trend was growing, up to history.GROWING_SAMPLES), recent (the last
RECENT_SAMPLES good samples as [ISO time, total], oldest first: the checklist's `drains` judges
them); when the source is unknown also `error` and `last_good` ({total, at, age_s} or None),
and total/by_queue/oldest_age_s are None: a value not observed now is never reported as current.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from cockpit.compat import UTC
from cockpit.config.model import Config, QueueSource
from cockpit.model import Finding, Status
from cockpit.queue.history import QueueHistory, format_count, format_duration
from cockpit.queue.sample import Reading

MAX_DEFERRAL_REASONS = 5
RECENT_SAMPLES = 30
"""Good samples a finding carries in data.recent (bounded: a day's ring would be thousands)."""


async def queue_findings(config: Config) -> list[Finding]:
    """Read every queue source of every region concurrently; one finding each, in config order."""
    pairs = [(region.name, source) for region in config.regions for source in region.queues]
    readings = await asyncio.gather(*(read_guarded(source) for _, source in pairs))
    findings = []
    for (region, source), reading in zip(pairs, readings, strict=True):
        history = QueueHistory(source, region)
        history.add(reading)
        findings.append(finding_for(source, region, history, reading.at))
    return findings


async def read_guarded(source: QueueSource) -> Reading:
    """read_source, with any escaping exception turned into a failed reading (never a 0)."""
    from cockpit.queue.sources import failed_read, read_source

    try:
        return await read_source(source)
    except Exception as error:  # a bug in one source must not hide the others
        return Reading(
            source=source.name, at=datetime.now(UTC), sample=None, error=failed_read(error)
        )


def finding_for(
    source: QueueSource, region: str | None, history: QueueHistory, now: datetime
) -> Finding:
    """The finding for `history`'s latest reading, judged against `source`'s thresholds."""
    state = history.state()
    trend = history.trend()
    good = history.latest_good
    data: dict[str, Any] = {
        "kind": source.kind,
        "total": None,
        "by_queue": {},
        "oldest_age_s": None,
        "deferral_reasons": [],
        "rate_per_min": trend.rate_per_min,
        "trend": trend.kind.value,
        "eta_s": trend.eta_s,
        "peak_total": history.peak_total,
        "warn": source.warn,
        "crit": source.crit,
        "age_warn": source.age_warn,
        "age_crit": source.age_crit,
        "rate_warn": source.rate_warn,
        "growing_samples": history.growing_streak(),
        "recent": _recent(history),
    }
    if not state.readable:
        latest = history.latest
        error = latest.error if latest is not None and latest.error else "no reading yet"
        data["error"] = error
        data["last_good"] = (
            None
            if good is None
            else {
                "total": good.total,
                "at": good.at.isoformat(),
                "age_s": max(0.0, (now - good.at).total_seconds()),
            }
        )
        summary = f"unknown: {error}; {history.last_good_text(now)}"
        return Finding("queue", "depth", source.name, Status.UNKNOWN, summary, region, None, data)
    assert good is not None
    data["total"] = good.total
    data["by_queue"] = dict(good.by_queue)
    data["oldest_age_s"] = good.oldest_age_s
    if good.age_error is not None:
        data["age_error"] = good.age_error
    data["deferral_reasons"] = [
        {"reason": reason.reason, "count": reason.count}
        for reason in good.deferral_reasons[:MAX_DEFERRAL_REASONS]
    ]
    parts = [_depth_text(good.total, good.by_queue)]
    if good.oldest_age_s is not None and good.total:
        parts.append(f"oldest {format_duration(good.oldest_age_s).removeprefix('about ')}")
    if trend.rate_per_min is not None:
        parts.append(trend.text)
    summary = ", ".join(parts)
    if state.reasons:
        summary = "; ".join(state.reasons) + " - " + summary
    return Finding("queue", "depth", source.name, state.status, summary, region, None, data)


def _recent(history: QueueHistory) -> list[list[Any]]:
    """The last RECENT_SAMPLES good samples as [ISO time, total], oldest first."""
    recent: list[list[Any]] = []
    for at, total in reversed(list(history.points())):
        if total is not None:
            recent.append([at.isoformat(), total])
            if len(recent) >= RECENT_SAMPLES:
                break
    return recent[::-1]


def _depth_text(total: int, by_queue: Any) -> str:
    if total == 0:
        return "empty"
    text = f"{format_count(total)} message{'s' if total != 1 else ''}"
    shown = [f"{format_count(count)} {name}" for name, count in by_queue.items() if count]
    if shown:
        text += f" ({', '.join(shown)})"
    return text
