"""A bounded line reader for the line protocols the service probes speak (IMAP, POP3).

A server is untrusted: a line is at most MAX_LINE_BYTES (the stream's own limit, so a line
that never ends is never held in memory), one reply is at most MAX_REPLY_LINES lines and
MAX_REPLY_BYTES bytes, and every read waits at most until the probe's deadline (less a small
margin, so what was read before it survives). Lines are decoded as UTF-8 with replacement and
kept as data. Trouble ends the conversation with `ProbeStop(kind, reason)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cockpit import compat

MAX_LINE_BYTES = 2048
"""The stream limit: open connections with `limit=MAX_LINE_BYTES`."""
MAX_REPLY_BYTES = 4096
MAX_REPLY_LINES = 100
DEADLINE_MARGIN = 0.05
"""Reads stop this long before the deadline, so their partial results survive it."""


class ProbeStop(Exception):
    """Ends a conversation early: `kind` is an observation error_kind, `reason` one line."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason[:200]


def wait_left(deadline: float) -> float:
    """Seconds a read may still wait before `deadline` (monotonic), never below 10 ms."""
    return max(0.01, deadline - time.monotonic() - DEADLINE_MARGIN)


class LineReader:
    """Lines from one stream, each read bounded by `deadline` (time.monotonic())."""

    def __init__(self, reader: asyncio.StreamReader, deadline: float):
        self._reader = reader
        self.deadline = deadline

    def until(self, deadline: float) -> LineReader:
        """The same stream with another deadline (a short wait for a goodbye)."""
        return LineReader(self._reader, deadline)

    async def line(self) -> str:
        """One line without its line ending. Raises ProbeStop (timeout, protocol)."""
        try:
            raw = await compat.wait_for(self._reader.readline(), wait_left(self.deadline))
        except ValueError:  # the stream's limit: a line longer than MAX_LINE_BYTES
            raise ProbeStop("protocol", f"a line longer than {MAX_LINE_BYTES} bytes") from None
        except TimeoutError:
            raise ProbeStop("timeout", "no reply in time") from None
        except ConnectionError as error:
            raise ProbeStop("protocol", f"the connection broke: {error}") from None
        if not raw:
            raise ProbeStop("protocol", "the server closed the connection")
        return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")

    async def reply(self, is_last: Callable[[str], bool]) -> list[str]:
        """Lines up to and including the first for which `is_last` is true, bounded."""
        lines: list[str] = []
        size = 0
        while True:
            text = await self.line()
            size += len(text) + 2
            lines.append(text)
            if is_last(text):
                return lines
            if size > MAX_REPLY_BYTES or len(lines) >= MAX_REPLY_LINES:
                raise ProbeStop(
                    "protocol",
                    f"a reply longer than {MAX_REPLY_BYTES} bytes or {MAX_REPLY_LINES} lines",
                )
