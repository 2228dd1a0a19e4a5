"""Read one role source: which role a region's control plane claims.

    read_role(source) -> RoleReading

dispatches on `source.kind`, through the queue sources' runner and parsers:

    command     run `command` (argv, no shell), cap 64 KiB: the first non-blank line
    http        GET `url`, cap 64 KiB: the first non-blank line of the body
    json        GET `url`, cap 8 MiB: the string at `path` ("cluster.role")
    prometheus  GET `url`, cap 8 MiB: `metric{labels}` is 1 on the primary, 0 on a standby;
                any other value, or several matching series that disagree, is an error

The text is normalised (case and whitespace folded) and these words are understood:

    said                                       role
    ---------------------------------------    ---------
    primary, master, active                    "primary"
    standby, secondary, replica, passive       "standby"
    anything else                              kept as it was said (cleaned, at most
                                               MAX_ROLE_CHARS characters): shown as-is,
                                               never taken for primary or standby

A source that cannot be read (the command failed or hung, HTTP trouble, no output, a JSON
value that is not a string) gives `role=None` and the reason in `error`: never "standby".
The whole read is bounded by `source.timeout`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from cockpit.config.model import RoleSource
from cockpit.incident.entry import utc_now
from cockpit.queue.jsonsource import string_at
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

__all__ = [
    "MAX_RAW_CHARS",
    "MAX_ROLE_CHARS",
    "MAX_ROLE_OUTPUT",
    "PRIMARY",
    "ROLE_WORDS",
    "STANDBY",
    "RoleReading",
    "normalise_role",
    "read_role",
    "role_from_value",
]

PRIMARY = "primary"
STANDBY = "standby"
ROLE_WORDS: dict[str, str] = {
    "primary": PRIMARY,
    "master": PRIMARY,
    "active": PRIMARY,
    "standby": STANDBY,
    "secondary": STANDBY,
    "replica": STANDBY,
    "passive": STANDBY,
}
"""Folded word -> role; see the module docstring's table."""
MAX_ROLE_OUTPUT = 64 << 10
"""A command's output or an http body: a role is one short line, more is not one."""
MAX_ROLE_CHARS = 64
"""An unrecognised role is kept to this many characters."""
MAX_RAW_CHARS = 200
"""The line as it was said, kept (cleaned) to this many characters."""


@dataclass(frozen=True, slots=True)
class RoleReading:
    """The outcome of one read of a role source: a role, or why there is none."""

    source: str
    """The RoleSource's name."""
    at: datetime
    """When the read finished (UTC, aware)."""
    role: str | None
    """"primary", "standby", another role as said (cleaned, bounded); None when the source
    could not be read (see `error`)."""
    raw: str | None = None
    """What the source said, cleaned and bounded ("MASTER", "1"); None when unread."""
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def started_at(self) -> datetime:
        """When the read began: the role it gave was claimed no earlier than this."""
        return self.at - timedelta(seconds=self.elapsed_s)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def normalise_role(said: str) -> tuple[str, str]:
    """(role, raw) for the text a source said (one line): "  Master " -> ("primary",
    "Master"). Raises `QueueParseError` when it is blank."""
    raw = clean(" ".join(said.split()))
    if not raw:
        raise QueueParseError("said no role (blank)")
    role = ROLE_WORDS.get(raw.casefold())
    if role is None:
        role = _bounded(raw, MAX_ROLE_CHARS)
    return role, _bounded(raw, MAX_RAW_CHARS)


def _first_line(data: bytes, what: str) -> str:
    text = data.decode("utf-8", errors="replace")
    for line in text.splitlines():
        if line.strip():
            return line
    raise QueueParseError(f"{what} nothing: expected a role such as primary or standby")


def role_from_value(values: list[float], series: str) -> tuple[str, str]:
    """(role, raw) for the samples a prometheus role source matched: 1 primary, 0 standby.
    Raises `QueueParseError` for another value, or for series that disagree."""
    if any(math.isnan(value) for value in values):
        raise QueueParseError(f"{series} is NaN: expected 1 (primary) or 0 (standby)")
    distinct = sorted(set(values))
    if len(distinct) > 1:
        raise QueueParseError(
            f"{len(values)} series {series} disagree: add label matchers to pick one"
        )
    value = distinct[0]
    if value == 1:
        return PRIMARY, "1"
    if value == 0:
        return STANDBY, "0"
    raise QueueParseError(f"{series} is {value:g}: expected 1 (primary) or 0 (standby)")


def _needed(value: str | None, what: str) -> str:
    if value is None:  # the config loader refuses such a source; never guess
        raise SourceError(f"no {what} configured")
    return value


async def _read(
    source: RoleSource, timeout: float, transport: httpx.AsyncBaseTransport | None
) -> tuple[str, str]:
    match source.kind:
        case "command":
            if not source.command:
                raise SourceError("no command configured")
            output = await read_raw(
                command=source.command, timeout=timeout, max_bytes=MAX_ROLE_OUTPUT
            )
            return normalise_role(_first_line(output, "printed"))
        case "http":
            body = await read_raw(
                url=_needed(source.url, "url"),
                timeout=timeout,
                max_bytes=MAX_ROLE_OUTPUT,
                transport=transport,
            )
            return normalise_role(_first_line(body, "answered"))
        case "json":
            body = await read_raw(
                url=_needed(source.url, "url"),
                timeout=timeout,
                max_bytes=MAX_HTTP_BODY,
                transport=transport,
            )
            return normalise_role(string_at(body, path=_needed(source.path, "path")))
        case "prometheus":
            metric = _needed(source.metric, "metric")
            body = await read_raw(
                url=_needed(source.url, "url"),
                timeout=timeout,
                max_bytes=MAX_HTTP_BODY,
                transport=transport,
            )
            text = body.decode("utf-8", errors="replace")
            values = series_values(text, metric=metric, labels=source.labels)
            return role_from_value(values, series_text(metric, source.labels))
        case _:
            raise SourceError(f"unknown role source kind {clean(source.kind)[:40]!r}")


async def read_role(
    source: RoleSource,
    *,
    now: Callable[[], datetime] = utc_now,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RoleReading:
    """Read `source` once, within `source.timeout` seconds. Never raises (but cancellation)."""
    started = time.monotonic()
    try:
        said, error = await guarded_read(
            _read(source, source.timeout, transport), timeout=source.timeout
        )
    except Exception as problem:  # a bug in one source must not hide the others
        said, error = None, failed_read(problem)
    role, raw = (None, None) if said is None or error is not None else said
    return RoleReading(
        source=source.name,
        at=now(),
        role=role,
        raw=raw,
        error=error,
        elapsed_s=time.monotonic() - started,
    )
