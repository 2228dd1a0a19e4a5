"""Read one replication source: how many seconds a region's copy trails its source.

    read_lag(source) -> LagReading

dispatches on `source.kind`, through the queue sources' runner and parsers (one copy of the
process handling, the HTTP rules and the error wording for every area):

    command     run `command` (argv, no shell), cap 64 KiB: its whole output is one number of
                seconds ("42", "0.5", "1.2e3"), e.g. a wrapper around a database's lag query
                or around `doveadm replicator status`
    json        GET `url`, cap 8 MiB: the number at `path` ("replication.lag_seconds")
    prometheus  GET `url`, cap 8 MiB: the value of `metric{labels}`; when several series
                match, the largest (the copy furthest behind is the data at risk)

The whole read is bounded by `source.timeout`. A read that fails in any way (the command
failed or hung, a redirect, garbage, a negative number, NaN, an infinity, a missing series)
gives `lag_s=None` and the reason in `error`: a lag that was not observed is never 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from cockpit.config.model import ReplicationSource
from cockpit.incident.entry import utc_now
from cockpit.queue.exim import parse_number
from cockpit.queue.jsonsource import number_at
from cockpit.queue.postqueue import QueueParseError
from cockpit.queue.prometheus import series_text, series_values
from cockpit.queue.sources import (
    MAX_HTTP_BODY,
    SourceError,
    failed_read,
    guarded_read,
    read_raw,
)
from cockpit.safe_text import clean

__all__ = ["MAX_LAG_OUTPUT", "LagReading", "lag_from_values", "read_lag"]

MAX_LAG_OUTPUT = 64 << 10
"""A command prints one number: more than this is not one (the command is killed)."""


@dataclass(frozen=True, slots=True)
class LagReading:
    """The outcome of one read of a replication source: a lag, or why there is none."""

    source: str
    """The ReplicationSource's name."""
    at: datetime
    """When the read finished (UTC, aware)."""
    lag_s: float | None
    """Seconds behind, 0 or more; None when the source could not be read (see `error`)."""
    error: str | None = None
    """One safe line: "timed out after 5 s (killed)", "expected a lag in seconds, printed ..."."""
    elapsed_s: float = 0.0

    @property
    def started_at(self) -> datetime:
        """When the read began: the lag it gave was observed no earlier than this."""
        return self.at - timedelta(seconds=self.elapsed_s)


def _needed(value: str | None, what: str) -> str:
    if value is None:  # the config loader refuses such a source; never guess
        raise SourceError(f"no {what} configured")
    return value


async def _read_seconds(
    source: ReplicationSource, timeout: float, transport: httpx.AsyncBaseTransport | None
) -> float:
    match source.kind:
        case "command":
            if not source.command:
                raise SourceError("no command configured")
            output = await read_raw(
                command=source.command, timeout=timeout, max_bytes=MAX_LAG_OUTPUT
            )
            return parse_number(output, what="a lag in seconds")
        case "json":
            body = await read_raw(
                url=_needed(source.url, "url"),
                timeout=timeout,
                max_bytes=MAX_HTTP_BODY,
                transport=transport,
            )
            return number_at(body, path=_needed(source.path, "path"))
        case "prometheus":
            metric = _needed(source.metric, "metric")
            body = await read_raw(
                url=_needed(source.url, "url"),
                timeout=timeout,
                max_bytes=MAX_HTTP_BODY,
                transport=transport,
            )
            text = body.decode("utf-8", errors="replace")
            return lag_from_values(
                series_values(text, metric=metric, labels=source.labels),
                series_text(metric, source.labels),
            )
        case _:
            raise SourceError(f"unknown replication source kind {clean(source.kind)[:40]!r}")


def lag_from_values(values: list[float], series: str) -> float:
    """The lag several matching Prometheus samples give: the largest. Raises
    `QueueParseError` when any is NaN, infinite or negative (that one cannot be judged, and
    hiding it behind the others could hide the worst copy)."""
    for value in values:
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise QueueParseError(f"{series} is {value:g}: expected seconds behind, 0 or more")
    return max(values) or 0.0


async def read_lag(
    source: ReplicationSource,
    *,
    now: Callable[[], datetime] = utc_now,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LagReading:
    """Read `source` once, within `source.timeout` seconds. Never raises (but cancellation)."""
    started = time.monotonic()
    try:
        lag, error = await guarded_read(
            _read_seconds(source, source.timeout, transport), timeout=source.timeout
        )
    except Exception as problem:  # a bug in one source must not hide the others
        lag, error = None, failed_read(problem)
    return LagReading(
        source=source.name,
        at=now(),
        lag_s=lag if error is None else None,
        error=error,
        elapsed_s=time.monotonic() - started,
    )
