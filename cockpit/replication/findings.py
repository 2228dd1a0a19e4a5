"""The replication area of `cockpit check`: one lag read per source, all at once, judged.

Each finding is area "replication", check "lag", subject the source name, region the
source's region, observed_at when its read began. Status:

    ok        below `warn` (or no threshold configured)
    warn      at or above `warn`
    fail      at or above `crit`
    unknown   the lag could not be read: the reason, and the last good lag when the caller
              kept one (the live cockpit does); never a lag of 0

data: kind, lag_s (None when unknown), warn, crit, error (None when read), elapsed_s, and
last_good ({lag_s, at, age_s} or None).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cockpit.config.model import Config, ReplicationSource
from cockpit.model import Finding, Status
from cockpit.queue.history import format_age
from cockpit.replication.lag_text import format_lag
from cockpit.replication.sources import LagReading, read_lag
from cockpit.safe_text import clean

__all__ = ["format_lag", "lag_finding", "lag_status", "replication_findings"]


def lag_status(lag_s: float, source: ReplicationSource) -> Status:
    """fail at or above crit, warn at or above warn, else ok (ok when no threshold is set)."""
    if source.crit is not None and lag_s >= source.crit:
        return Status.FAIL
    if source.warn is not None and lag_s >= source.warn:
        return Status.WARN
    return Status.OK


def _thresholds(source: ReplicationSource) -> str:
    parts = []
    if source.warn is not None:
        parts.append(f"warn {format_lag(source.warn)}")
    if source.crit is not None:
        parts.append(f"crit {format_lag(source.crit)}")
    return f" ({', '.join(parts)})" if parts else ""


def lag_finding(
    source: ReplicationSource,
    region: str | None,
    reading: LagReading,
    *,
    last_good: LagReading | None = None,
) -> Finding:
    """The finding for one reading of `source` (pure). `last_good` is an earlier reading
    that had a lag, shown beside an unknown one so the commander knows where it last stood."""
    data: dict[str, Any] = {
        "kind": source.kind,
        "lag_s": reading.lag_s,
        "warn": source.warn,
        "crit": source.crit,
        "error": None,
        "elapsed_s": round(reading.elapsed_s, 3),
        "last_good": None,
    }
    if last_good is not None and last_good.lag_s is not None:
        data["last_good"] = {
            "lag_s": last_good.lag_s,
            "at": last_good.at.isoformat(),
            "age_s": max(0.0, (reading.at - last_good.at).total_seconds()),
        }
    if reading.lag_s is None:
        error = clean(reading.error or "no lag in the reading")
        data["lag_s"] = None
        data["error"] = error
        summary = f"unknown: {error}"
        if data["last_good"] is not None:
            assert last_good is not None and last_good.lag_s is not None
            age = format_age(data["last_good"]["age_s"])
            summary += f"; last read {format_lag(last_good.lag_s)} behind, {age}"
        status = Status.UNKNOWN
    else:
        status = lag_status(reading.lag_s, source)
        summary = f"{format_lag(reading.lag_s)} behind{_thresholds(source)}"
    return Finding(
        area="replication",
        check="lag",
        subject=source.name,
        status=status,
        summary=summary,
        region=region,
        data=data,
        observed_at=reading.started_at,
    )


async def replication_findings(config: Config) -> list[Finding]:
    """Read every replication source of every region concurrently; one finding each, in
    config order. No sources: no findings."""
    pairs = [(region.name, source) for region in config.regions for source in region.replication]
    readings = await asyncio.gather(*(read_lag(source) for _, source in pairs))
    return [
        lag_finding(source, region, reading)
        for (region, source), reading in zip(pairs, readings, strict=True)
    ]
