"""Read one queue source, of any kind, into a `Reading`.

    read_source(source) -> Reading

dispatches on `source.kind`:

    postqueue   run `command` (postqueue -j), cap 64 MiB      -> parse_postqueue_json
    mailq       run `command` (postqueue -p / mailq), cap 1 MiB -> parse_mailq
    exim        run `command` (exim -bpc); with `detail_command` (exim -bp) too -> exim.py
    command     run `command`, one whole number printed        -> parse_whole_number
    prometheus  GET `url` (text exposition), cap 8 MiB         -> parse_prometheus
    json        GET `url`, cap 8 MiB                           -> parse_json_depth

The whole read, every command and request included, is bounded by `source.timeout`. HTTP
requests follow no redirect (a redirect is an error naming where it pointed) and send no
credentials of ours. Whatever goes wrong gives `Reading(sample=None, error="...")`: a source
that could not be read is never a depth of 0.

When an exim `detail_command` fails but the count was read, the sample keeps the count and
leaves the age and frozen messages unknown (None).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from cockpit.config.model import QueueSource
from cockpit.incident.entry import utc_now
from cockpit.queue.exim import parse_exim_bp, parse_exim_count, parse_whole_number
from cockpit.queue.jsonsource import parse_json_depth
from cockpit.queue.mailq import parse_mailq
from cockpit.queue.postqueue import QueueParseError, parse_postqueue_json
from cockpit.queue.prometheus import parse_prometheus
from cockpit.queue.runner import CommandResult, format_bytes, run_command
from cockpit.queue.sample import QueueSample, Reading
from cockpit.safe_text import clean

__all__ = [
    "MAX_HTTP_BODY",
    "MAX_OUTPUT",
    "MAX_POSTQUEUE_OUTPUT",
    "SourceError",
    "SourceTimeout",
    "fetch_capped",
    "read_source",
]

MAX_POSTQUEUE_OUTPUT = 64 << 20
MAX_OUTPUT = 1 << 20
MAX_HTTP_BODY = 8 << 20
_OUTER_GRACE_S = 0.25
"""The outer bound fires this long after `timeout`, so the inner one reports first and better."""


class SourceError(Exception):
    """A read that failed; `str()` is the one-line reason for `Reading.error`."""


class SourceTimeout(SourceError):
    """The read ran out of time; `read_source` words it with the source's whole timeout
    (each step only gets what is left of it)."""

    def __init__(self, *, killed: bool) -> None:
        super().__init__("timed out")
        self.killed = killed


def _checked(result: CommandResult) -> bytes:
    if result.timed_out:
        raise SourceTimeout(killed=True)
    if result.error is not None:
        raise SourceError(result.error)
    return result.stdout


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def fetch_capped(
    url: str,
    *,
    timeout: float,
    max_body: int = MAX_HTTP_BODY,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """The body of a 200 answer to GET `url`, at most `max_body` bytes. Raises `SourceError`."""
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
            ) as client,
        ):
            async with client.stream(
                "GET", url, headers={"Accept-Encoding": "identity"}
            ) as response:
                if response.is_redirect:
                    target = clean(response.headers.get("location", "?"))[:200]
                    raise SourceError(
                        f"HTTP {response.status_code} redirect to {target} (not followed)"
                    )
                if response.status_code != 200:
                    raise SourceError(
                        f"HTTP {response.status_code} {clean(response.reason_phrase)[:80]}".rstrip()
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_body:
                        raise SourceError(f"answer larger than {format_bytes(max_body)}")
                return bytes(body)
    except (httpx.TimeoutException, TimeoutError):
        raise SourceTimeout(killed=False) from None
    except httpx.HTTPError as error:
        kind = type(error).__name__
        raise SourceError(f"{kind}: {clean(str(error))[:200]}") from None


async def _read_postqueue(
    source: QueueSource, deadline: float, now: Callable[[], datetime]
) -> QueueSample:
    assert source.command is not None
    result = await run_command(
        source.command, timeout=_left(deadline), max_output=MAX_POSTQUEUE_OUTPUT
    )
    return parse_postqueue_json(_checked(result), now=now(), source=source.name)


async def _read_mailq(
    source: QueueSource, deadline: float, now: Callable[[], datetime]
) -> QueueSample:
    assert source.command is not None
    result = await run_command(source.command, timeout=_left(deadline), max_output=MAX_OUTPUT)
    return parse_mailq(_text(_checked(result)), now=now(), source=source.name)


async def _read_exim(
    source: QueueSource, deadline: float, now: Callable[[], datetime]
) -> QueueSample:
    assert source.command is not None
    count_result = await run_command(source.command, timeout=_left(deadline), max_output=MAX_OUTPUT)
    total = parse_exim_count(_checked(count_result))
    if source.detail_command is None:
        return QueueSample(source=source.name, at=now(), total=total)
    detail = await run_command(
        source.detail_command, timeout=_left(deadline), max_output=MAX_POSTQUEUE_OUTPUT
    )
    if detail.error is not None:
        return QueueSample(source=source.name, at=now(), total=total)
    try:
        listing = parse_exim_bp(_text(detail.stdout), now=now())
    except QueueParseError:
        return QueueSample(source=source.name, at=now(), total=total)
    return listing.sample(source=source.name, now=now(), total=total)


async def _read_command(
    source: QueueSource, deadline: float, now: Callable[[], datetime]
) -> QueueSample:
    assert source.command is not None
    result = await run_command(source.command, timeout=_left(deadline), max_output=MAX_OUTPUT)
    total = parse_whole_number(_checked(result))
    return QueueSample(source=source.name, at=now(), total=total)


async def _read_prometheus(
    source: QueueSource,
    deadline: float,
    now: Callable[[], datetime],
    transport: httpx.AsyncBaseTransport | None = None,
) -> QueueSample:
    assert source.url is not None and source.metric is not None
    body = await fetch_capped(source.url, timeout=_left(deadline), transport=transport)
    return parse_prometheus(
        _text(body), metric=source.metric, labels=source.labels, now=now(), source=source.name
    )


async def _read_json(
    source: QueueSource,
    deadline: float,
    now: Callable[[], datetime],
    transport: httpx.AsyncBaseTransport | None = None,
) -> QueueSample:
    assert source.url is not None and source.path is not None
    body = await fetch_capped(source.url, timeout=_left(deadline), transport=transport)
    return parse_json_depth(body, path=source.path, now=now(), source=source.name)


def _left(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


async def read_source(
    source: QueueSource,
    *,
    now: Callable[[], datetime] = utc_now,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Reading:
    """Read `source` once, within `source.timeout` seconds. Never raises (but cancellation)."""
    started = time.monotonic()
    deadline = started + source.timeout
    sample: QueueSample | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(source.timeout + _OUTER_GRACE_S):
            match source.kind:
                case "postqueue":
                    sample = await _read_postqueue(source, deadline, now)
                case "mailq":
                    sample = await _read_mailq(source, deadline, now)
                case "exim":
                    sample = await _read_exim(source, deadline, now)
                case "command":
                    sample = await _read_command(source, deadline, now)
                case "prometheus":
                    sample = await _read_prometheus(source, deadline, now, transport)
                case "json":
                    sample = await _read_json(source, deadline, now, transport)
                case _:
                    error = f"unknown queue source kind {clean(source.kind)!r}"
    except TimeoutError:
        error = f"timed out after {source.timeout:g} s"
    except SourceTimeout as timeout:
        error = f"timed out after {source.timeout:g} s" + (" (killed)" if timeout.killed else "")
    except (SourceError, QueueParseError) as problem:
        error = str(problem)
    except (AssertionError, OSError) as problem:  # a config the loader would refuse; a socket
        error = f"{type(problem).__name__}: {clean(str(problem))[:200]}"
    return Reading(
        source=source.name,
        at=now(),
        sample=sample if error is None else None,
        error=error,
        elapsed_s=time.monotonic() - started,
    )
