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

Other areas (replication lag, region roles) read their sources through the same two pieces:

    read_raw(command=argv | url=URL, timeout=..., max_bytes=...) -> bytes   raises SourceError
    guarded_read(read, timeout=...) -> (value, None) | (None, "one-line reason")

so every kind of source is run, capped, timed out and worded the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

import httpx

from cockpit import compat
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
    "guarded_read",
    "read_raw",
    "read_source",
]

_T = TypeVar("_T")

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
            compat.timeout(timeout),
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
                    status = f"HTTP {response.status_code} {clean(response.reason_phrase)[:80]}"
                    said = await _error_said(response)
                    raise SourceError(f"{status.rstrip()}: {said}" if said else status.rstrip())
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


_ERROR_BODY_BYTES = 4096


async def _error_said(response: httpx.Response) -> str:
    """What an API said with its error status, when it said it as JSON (Prometheus:
    {"status": "error", "errorType": "bad_data", "error": "parse error: ..."}): errorType and
    error, cleaned and cut. "" for anything else (an HTML page from a proxy says nothing
    useful in one line)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_BYTES:
            return ""  # not the short JSON error of an API
    try:
        document = json.loads(bytes(body))
    except ValueError:
        return ""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, str) or not error.strip():
        return ""
    kind = document.get("errorType")
    said = f"{kind}: {error}" if isinstance(kind, str) and kind else error
    return clean(said).strip()[:200]


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
    # The count stands without the listing; the ages are then unknown, and say why.
    if detail.error is not None:
        why = f"detail_command: {detail.error}"
        return QueueSample(source=source.name, at=now(), total=total, age_error=why)
    try:
        listing = parse_exim_bp(_text(detail.stdout), now=now())
    except QueueParseError as error:
        why = f"detail_command: {error}"
        return QueueSample(source=source.name, at=now(), total=total, age_error=why)
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


async def read_raw(
    *,
    command: Sequence[str] | None = None,
    url: str | None = None,
    timeout: float,
    max_bytes: int = MAX_OUTPUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """What `command` printed (it exited 0) or what `url` answered (HTTP 200), within `timeout`
    seconds and at most `max_bytes` bytes. Give exactly one of `command` and `url`.

    Raises `SourceError` with the one-line reason (`SourceTimeout` when out of time): a
    command that failed, was killed or printed more than `max_bytes`; a redirect, another
    status, a body over `max_bytes`, a connection that failed.
    """
    if (command is None) == (url is None):
        raise SourceError("a source needs either a command or a URL")
    if command is not None:
        result = await run_command(command, timeout=timeout, max_output=max_bytes)
        return _checked(result)
    assert url is not None
    return await fetch_capped(url, timeout=timeout, max_body=max_bytes, transport=transport)


def failed_read(problem: BaseException) -> str:
    """The reason given for a read that broke with an unexpected exception (a bug in one source
    must not hide the others, nor look like a value): "read failed: KeyError: 'x'"."""
    lines = str(problem).splitlines()
    detail = f": {clean(lines[0])[:200]}" if lines else ""
    return f"read failed: {type(problem).__name__}{detail}"


async def guarded_read(read: Awaitable[_T], *, timeout: float) -> tuple[_T | None, str | None]:
    """Await `read` for at most `timeout` seconds (plus a short grace, so that its own inner
    deadline reports first): `(value, None)`, or `(None, reason)` for a timeout, a
    `SourceError`, a `QueueParseError` (the parsers' errors: one safe line each), an `OSError`
    (a socket) or an `AssertionError` (a config the loader would refuse). Other exceptions
    propagate: they are bugs, which the caller reports as such.
    """
    error: str | None = None
    try:
        async with compat.timeout(timeout + _OUTER_GRACE_S):
            return await read, None
    except TimeoutError:
        error = f"timed out after {timeout:g} s"
    except SourceTimeout as timed_out:
        error = f"timed out after {timeout:g} s" + (" (killed)" if timed_out.killed else "")
    except (SourceError, QueueParseError) as problem:
        error = str(problem)
    except (AssertionError, OSError) as problem:
        error = f"{type(problem).__name__}: {clean(str(problem))[:200]}"
    return None, error


async def _read_kind(
    source: QueueSource,
    deadline: float,
    now: Callable[[], datetime],
    transport: httpx.AsyncBaseTransport | None,
) -> QueueSample:
    match source.kind:
        case "postqueue":
            return await _read_postqueue(source, deadline, now)
        case "mailq":
            return await _read_mailq(source, deadline, now)
        case "exim":
            return await _read_exim(source, deadline, now)
        case "command":
            return await _read_command(source, deadline, now)
        case "prometheus":
            return await _read_prometheus(source, deadline, now, transport)
        case "json":
            return await _read_json(source, deadline, now, transport)
        case _:
            raise SourceError(f"unknown queue source kind {clean(source.kind)!r}")


async def read_source(
    source: QueueSource,
    *,
    now: Callable[[], datetime] = utc_now,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Reading:
    """Read `source` once, within `source.timeout` seconds. Never raises (but cancellation)."""
    started = time.monotonic()
    deadline = started + source.timeout
    sample, error = await guarded_read(
        _read_kind(source, deadline, now, transport), timeout=source.timeout
    )
    return Reading(
        source=source.name,
        at=now(),
        sample=sample if error is None else None,
        error=error,
        elapsed_s=time.monotonic() - started,
    )
