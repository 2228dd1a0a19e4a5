"""The end of an incident log, read backwards under the writers' lock: the last valid entry,
and the fragments interrupted writes left after it (named by one recovery entry)."""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cockpit.incident.entry import MAX_LINE_BYTES, TORN_LINE_EVENT, Entry, entry_from_line
from cockpit.incident.log_read import CHUNK_BYTES

FIRST_SCAN_WINDOW = 16 * 1024
MAX_EARLIER_FRAGMENTS = 1000
"""A recovery entry names at most this many fragments before the last one."""


@dataclasses.dataclass(frozen=True, slots=True)
class Fragment:
    offset: int
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class Tail:
    """What an append needs to know about the end of the file."""

    size: int
    last_seq: int
    last_ts: datetime | None
    fragments: tuple[Fragment, ...] = ()
    """Lines after the last valid entry (left by interrupted writes), in file order."""
    terminated: bool = True
    """The file is empty or ends with a newline."""
    last_line: bytes | None = None
    """The line of the last valid entry (None when there is none, or it was not read)."""


def recovery_entry(
    fd: int, fragments: tuple[Fragment, ...], seq: int, ts: datetime, draft: Entry
) -> Entry:
    first_line = _count_newlines(fd, fragments[0].offset) + 1
    numbered = [(first_line + index, fragment.size) for index, fragment in enumerate(fragments)]
    last_line, last_size = numbered[-1]
    data: dict[str, Any] = {"event": TORN_LINE_EVENT, "line": last_line, "bytes": last_size}
    if len(numbered) == 1:
        text = (
            f"an interrupted write left an incomplete line {last_line} ({last_size} bytes); "
            "it is kept as it is"
        )
    else:
        total = sum(size for _, size in numbered)
        earlier = numbered[:-1][-MAX_EARLIER_FRAGMENTS:]
        data["earlier"] = [{"line": line, "bytes": size} for line, size in earlier]
        text = (
            f"interrupted writes left {len(numbered)} incomplete lines ({first_line} to "
            f"{last_line}, {total} bytes); they are kept as they are"
        )
    return dataclasses.replace(draft, seq=seq, ts=ts, kind="system", text=text, data=data)


def scan_tail(fd: int, size: int) -> Tail:
    """Find the last valid entry by reading backwards; what follows it are fragments."""
    if size == 0:
        return Tail(0, 0, None)
    lines = _lines_backward(fd, size)
    tail_offset, tail_size, _ = next(lines)
    fragments = [Fragment(tail_offset, tail_size)] if tail_size else []
    for offset, line_size, raw in lines:
        if raw:
            entry, _ = entry_from_line(raw, 0)
            if entry is not None:
                fragments.reverse()
                return Tail(size, entry.seq, entry.ts, tuple(fragments), tail_size == 0, raw)
        fragments.append(Fragment(offset, line_size))
    fragments.reverse()
    return Tail(size, 0, None, tuple(fragments), tail_size == 0)


def _lines_backward(fd: int, end: int) -> Iterator[tuple[int, int, bytes | None]]:
    """The lines of bytes [0, end), last first, as (offset, size, bytes without the newline).

    The first item is what follows the last newline (size 0 when the file ends with one).
    The window doubles from 16 KiB up to CHUNK_BYTES, so the usual append reads one small
    chunk. A line longer than a chunk is measured first, then read with one pread; bytes is
    None for a line longer than MAX_LINE_BYTES, which is never read.
    """
    line_end = end
    position = end
    window = FIRST_SCAN_WINDOW
    while position > 0:
        start = max(0, position - window)
        window = min(window * 2, CHUNK_BYTES)
        chunk = os.pread(fd, position - start, start)
        if len(chunk) != position - start:
            raise OSError(errno.EIO, "the file changed size while it was locked")
        right = len(chunk)
        while (newline := chunk.rfind(b"\n", 0, right)) >= 0:
            offset = start + newline + 1
            if line_end <= position:
                raw: bytes | None = chunk[newline + 1 : line_end - start]
            else:
                raw = _read_line(fd, offset, line_end - offset)
            yield offset, line_end - offset, raw
            line_end = start + newline
            right = newline
        position = start
    yield 0, line_end, _read_line(fd, 0, line_end)


def _read_line(fd: int, offset: int, size: int) -> bytes | None:
    if size > MAX_LINE_BYTES:
        return None
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise OSError(errno.EIO, "the file changed size while it was locked")
    return data


def _count_newlines(fd: int, end: int) -> int:
    count = 0
    offset = 0
    while offset < end:
        chunk = os.pread(fd, min(CHUNK_BYTES, end - offset), offset)
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count
