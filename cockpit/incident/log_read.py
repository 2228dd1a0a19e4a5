"""Reading and following an incident log: every entry kept, every problem reported.

A reader never stops at damage and never skips it quietly:

    line kind                                     reported as
    a valid entry                                 the entry (plus warnings from entry_from_line:
                                                  invalid UTF-8, unknown kind)
    not JSON / not an object / wrong-typed field  error, with its line number
    an empty line                                 error
    a line longer than MAX_LINE_BYTES             error; measured in chunks, never loaded
    seq not one more than the entry before        error (duplicate, gap or going back)
    a fragment left by an interrupted writer,     warning: the next line is the `system` entry
      recovered by the next append                  (data.event = TORN_LINE_EVENT) that names it
    an unterminated last line (torn tail)         warning; it is not parsed

The file is read with os.pread in binary chunks of CHUNK_BYTES, split on b"\\n" and parsed with
entry_from_line, so memory stays near one chunk plus the entries themselves.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import os
import stat
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import IncidentLogError
from cockpit.incident.entry import (
    MAX_LINE_BYTES,
    TORN_LINE_EVENT,
    Entry,
    LogProblem,
    Origins,
    entry_from_line,
    fast_entry,
)
from cockpit.incident.log_files import flock_within, open_side_file
from cockpit.incident.packed_data import DataPacker

if TYPE_CHECKING:
    from cockpit.incident.log_mark import Mark

CHUNK_BYTES = 1024 * 1024
"""How much a reader asks the kernel for at a time."""

SHARED_LOCK_WAIT_SECONDS = 2.0
"""How long read_log waits for a writer to finish a line that is still being written."""

_DamagedLine = tuple[int, list[LogProblem], int]
"""(line number, its problems, its size in bytes) of a line that is not an entry."""

_LineSink = Callable[[int, bytes | None, int], None]
_NO_PROBLEMS: list[LogProblem] = []
"""The problems of a line fast_entry read (never changed: readers only extend from it)."""


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The entries of a log (or of what was appended since the last poll) and its problems."""

    entries: list[Entry]
    problems: list[LogProblem]

    @property
    def errors(self) -> list[LogProblem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def warnings(self) -> list[LogProblem]:
        return [problem for problem in self.problems if problem.severity == "warning"]


def read_log(path: str | os.PathLike[str], *, lock_held: bool = False) -> ReadResult:
    """Read a whole incident log.

    Raises IncidentLogError when there is no log at `path` or it cannot be read; damage inside
    the file is reported in ReadResult.problems instead. `lock_held`: the caller holds the
    writers' lock (IncidentLog.append_built), so an incomplete last line is a torn one and is
    not waited on.
    """
    log_path = Path(path)
    fd = open_for_reading(log_path)
    mark, mark_problems = _read_mark(log_path)
    lines = _LineAnalyzer()
    lines.watch_seq = None if mark is None else mark.seq
    try:
        with _gc_paused():
            end = os.fstat(fd).st_size
            offset, line_no = scan_lines(fd, 0, end, 0, lines.feed)
            if offset < end and not lock_held:
                offset, line_no, end = _read_rest_under_shared_lock(
                    fd, log_path, offset, line_no, lines
                )
            lines.flush(hold_trailing_damage=False, trailing_is_interrupted=True)
            if offset < end:
                lines.problems.append(
                    LogProblem(
                        "warning",
                        f"last line incomplete, {end - offset} bytes: a writer was interrupted; "
                        "every complete entry is kept",
                        line_no + 1,
                    )
                )
    except OSError as exc:
        raise read_error(log_path, error_reason(exc)) from exc
    finally:
        os.close(fd)
    last_seq = max((entry.seq for entry in lines.entries), default=0)
    lost = mark_problems or lost_entries_problem(log_path, last_seq, lines.watched_line, mark=mark)
    return ReadResult(lines.entries, [*lost, *lines.problems])


def lost_entries_problem(
    log_path: Path, last_seq: int, line_at_mark: bytes | None = None, *, mark: object = None
) -> list[LogProblem]:
    """[an error] when the log ends before the last entry a writer acknowledged, or its entry
    at that seq is another one (`line_at_mark`, when known); [a warning] when the mark is not
    a regular file (nothing can be checked); else []. See log_mark.py. `mark`: the Mark
    already read (else it is read now)."""
    from cockpit.incident.log_mark import Mark, lost_entries

    if isinstance(mark, Mark):
        known: Mark | None = mark
    else:
        known, problems = _read_mark(log_path)
        if problems:
            return problems
    problem = lost_entries(log_path, known, last_seq, line_at_mark)
    return [] if problem is None else [LogProblem("error", problem)]


def _read_mark(log_path: Path) -> tuple[Mark | None, list[LogProblem]]:
    """(the Mark or None, []), or (None, [a warning]) when the mark is not a regular file: it
    is not read, and whether entries were lost cannot be told (not claimed either way)."""
    from cockpit.incident.log_mark import MarkNotRegular, read_mark

    try:
        return read_mark(log_path), []
    except MarkNotRegular as exc:
        problem = str(exc).removeprefix(f"{log_path}: ")
        return None, [LogProblem("warning", problem)]


class LogFollower:
    """Reads what has been appended to a log since the last poll.

    Only complete lines are consumed: a line still being written is left for the next poll.
    A file that does not exist yet gives an empty result. A file that shrinks, is rewritten or is
    replaced by another file gives an error problem, and is then read again from the start.

    A damaged line at the very end is held back for one poll, so that the recovery entry of the
    next append can still show it to be the fragment of an interrupted write. read_log is the
    authority on a whole file; a follower sees it as it grows.
    """

    def __init__(self, path: str | os.PathLike[str], *, packed: bool = False) -> None:
        """`packed`: keep probe entries' data compact (cockpit.incident.packed_data), for a
        reader that holds the whole log for a long time."""
        self.path = Path(path)
        self.packed = packed
        self.at_end = False
        """The last poll read up to the end of the file (not only `max_bytes` of it)."""
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._line_no = 0
        self._lines = _LineAnalyzer(DataPacker() if packed else None)

    def poll(self, max_bytes: int | None = None) -> ReadResult:
        """What was appended since the last poll; with `max_bytes`, only about that much of it
        (at least one whole line): `at_end` says whether the poll reached the end."""
        notices: list[LogProblem] = []
        self.at_end = False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            if self._identity is not None:
                notices.append(
                    LogProblem(
                        "error",
                        f"the incident log {self.path} was removed or renamed: "
                        "waiting for it to come back",
                    )
                )
                self._start_over(None)
            self.at_end = True
            return ReadResult([], notices)
        except OSError as exc:
            raise read_error(self.path, error_reason(exc)) from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise read_error(self.path, "not a regular file")
            notices.extend(self._check_same_file(fd, info))
            with _gc_paused():
                offset = self._scan(fd, info.st_size, max_bytes)
                if self.at_end:
                    self._lines.flush(hold_trailing_damage=offset != self._offset)
            self._offset = offset
        except OSError as exc:
            raise read_error(self.path, error_reason(exc)) from exc
        finally:
            os.close(fd)
        entries, problems = self._lines.take()
        return ReadResult(entries, notices + problems)

    def _scan(self, fd: int, size: int, max_bytes: int | None) -> int:
        """Feed the lines from the last offset on; the offset after the last whole line.

        Part way (`max_bytes`), the latest entry and any damage after it stay pending in the
        analyzer, as they would at the end of the file."""
        start = self._offset
        if max_bytes is not None and size - start > max_bytes:
            offset, line_no = scan_lines(
                fd, start, start + max_bytes, self._line_no, self._lines.feed
            )
            if offset > start:
                self._line_no = line_no
                return offset
            # One line longer than max_bytes: read it (or measure it) whole.
        offset, self._line_no = scan_lines(fd, start, size, self._line_no, self._lines.feed)
        self.at_end = True
        return offset

    def _check_same_file(self, fd: int, info: os.stat_result) -> list[LogProblem]:
        identity = (info.st_dev, info.st_ino)
        previous, self._identity = self._identity, identity
        if previous is not None and previous != identity:
            self._start_over(identity)
            return [
                LogProblem(
                    "error",
                    f"the incident log {self.path} was replaced by another file: "
                    "reading it again from the start",
                )
            ]
        if self._offset and (
            info.st_size < self._offset or os.pread(fd, 1, self._offset - 1) != b"\n"
        ):
            read_before = self._offset
            self._start_over(identity)
            return [
                LogProblem(
                    "error",
                    f"the incident log {self.path} was truncated or rewritten (it is "
                    f"{info.st_size} bytes; {read_before} had been read): "
                    "reading it again from the start",
                )
            ]
        return []

    def _start_over(self, identity: tuple[int, int] | None) -> None:
        self._identity = identity
        self._offset = 0
        self._line_no = 0
        self._lines = _LineAnalyzer(DataPacker() if self.packed else None)


async def follow(
    path: str | os.PathLike[str], interval: float = 0.25
) -> AsyncGenerator[ReadResult, None]:
    """Yield each non-empty poll of a LogFollower, polling every `interval` seconds.

    Reading runs in a thread, so a large first read does not stall the event loop.
    """
    import asyncio  # here: a reader that only reads (cockpit export) starts without it

    follower = LogFollower(path)
    while True:
        result = await asyncio.to_thread(follower.poll)
        if result.entries or result.problems:
            yield result
        await asyncio.sleep(interval)


class _LineAnalyzer:
    """Turns lines, in file order, into entries and problems.

    The latest entry and the damaged lines after it stay pending until the next entry arrives:
    if that entry is the recovery entry naming them, they were the fragments of an interrupted
    write (a warning), not damage or entries.
    """

    __slots__ = (
        "entries",
        "problems",
        "_held",
        "_held_problems",
        "_held_size",
        "_damaged",
        "_prev_seq",
        "_prev_line",
        "_origins",
        "_names",
        "_pack",
        "_packer",
        "watch_seq",
        "watched_line",
    )

    def __init__(self, packer: DataPacker | None = None) -> None:
        self._packer = packer
        self._pack = None if packer is None else packer.pack
        self.watch_seq: int | None = None
        """An entry whose exact line is kept in `watched_line` (the mark's, log_mark.py)."""
        self.watched_line: bytes | None = None
        self.entries: list[Entry] = []
        self.problems: list[LogProblem] = []
        self._held: Entry | None = None
        self._held_problems: list[LogProblem] = []
        self._held_size = 0
        self._damaged: list[_DamagedLine] = []
        self._prev_seq = 0
        self._prev_line = 0
        self._origins: Origins = {}
        self._names: dict[str, str] = {}

    def feed(self, line_no: int, raw: bytes | None, size: int) -> None:
        if not raw:
            self._damaged.append((line_no, [_unreadable_line(line_no, raw, size)], size))
            return
        # The common line, quickly (its values already shared), else the reader that says
        # what is wrong with it. A packing reader (the screen's) takes the general way.
        entry = None if self._pack else fast_entry(raw, line_no, self._names, self._origins)
        if entry is None:
            entry, problems = entry_from_line(raw, line_no, pack_probe_data=self._pack)
            if entry is None:
                self._damaged.append((line_no, problems, size))
                return
            self._share_repeated_values(entry)
        else:
            problems = _NO_PROBLEMS
        if entry.seq == self.watch_seq:
            self.watched_line = raw
        if self._damaged or entry.kind == "system":
            self._settle_before(entry)
        elif self._held is not None:
            self._commit(self._held, self._held_problems)
        self._held, self._held_problems, self._held_size = entry, problems, size

    def flush(self, *, hold_trailing_damage: bool, trailing_is_interrupted: bool = False) -> None:
        """Commit what is pending; optionally keep damaged lines at the end for one more poll.

        With `trailing_is_interrupted` (a whole read at the end of the file), damaged lines
        after the last entry are what the appender itself takes them for: pieces of an
        interrupted write (a mending write can be cut too), which the next append fences off.
        They are warnings; damage followed by an entry stays an error.
        """
        if self._held is not None:
            self._commit(self._held, self._held_problems)
            self._held = None
        if not hold_trailing_damage:
            for line_no, problems, size in self._damaged:
                if trailing_is_interrupted and size <= MAX_LINE_BYTES:
                    self.problems.append(_interrupted_line(line_no, size))
                else:
                    self.problems.extend(problems)
            self._damaged = []

    def take(self) -> tuple[list[Entry], list[LogProblem]]:
        entries, problems = self.entries, self.problems
        self.entries, self.problems = [], []
        return entries, problems

    def _settle_before(self, entry: Entry) -> None:
        """Commit what is pending before `entry`, or mark it recovered if `entry` says so."""
        held, damaged = self._held, self._damaged
        line_above = damaged[-1][0] if damaged else (held.line if held is not None else 0)
        recovered = _recovered_lines(entry, line_above) if entry.kind == "system" else set()
        if held is not None:
            if held.line in recovered:
                self._recovered(held.line, self._held_size, entry.seq)
            else:
                self._commit(held, self._held_problems)
        for line_no, problems, size in damaged:
            if line_no in recovered:
                self._recovered(line_no, size, entry.seq)
            else:
                self.problems.extend(problems)
        self._damaged = []

    def _recovered(self, line_no: int, size: int, seq: int) -> None:
        self.problems.append(
            LogProblem(
                "warning",
                f"incomplete line ({size} bytes) left by an interrupted writer, "
                f"recovered at seq {seq}",
                line_no,
            )
        )

    def _commit(self, entry: Entry, problems: list[LogProblem]) -> None:
        if problems:
            self.problems.extend(problems)
        seq, previous = entry.seq, self._prev_seq
        if seq != previous + 1:
            message = _seq_message(seq, previous, self._prev_line)
            self.problems.append(LogProblem("error", message, entry.line))
        self._prev_seq, self._prev_line = seq, entry.line
        self.entries.append(entry)

    def _share_repeated_values(self, entry: Entry) -> None:
        """Let entries share equal origins, authors and kinds: a 100,000-entry log then takes
        about 40% less memory. The entry is not yet visible to anyone, so this is no mutation
        a caller can see."""
        origin = entry.origin
        shared_origin = self._origins.setdefault(tuple(origin.items()), origin)
        if shared_origin is not origin:
            object.__setattr__(entry, "origin", shared_origin)
        names = self._names
        object.__setattr__(entry, "author", names.setdefault(entry.author, entry.author))
        object.__setattr__(entry, "kind", names.setdefault(entry.kind, entry.kind))
        packer = self._packer
        if packer is not None:
            # A reader that keeps the log for hours (packed): probe texts repeat ("resolver X
            # now answers Y"), and the line number is mostly the seq.
            if entry.kind == "probe":
                object.__setattr__(entry, "text", packer.share("\0text", entry.text))
            if entry.line == entry.seq:
                object.__setattr__(entry, "line", entry.seq)


def _interrupted_line(line_no: int, size: int) -> LogProblem:
    return LogProblem(
        "warning",
        f"incomplete line ({size} bytes) after the last entry, left by an interrupted writer;"
        " the next append fences it off",
        line_no,
    )


def _unreadable_line(line_no: int, raw: bytes | None, size: int) -> LogProblem:
    if raw is None:
        message = f"the line is {size} bytes, larger than the {MAX_LINE_BYTES}-byte limit: not read"
        return LogProblem("error", message, line_no)
    return LogProblem("error", "empty line", line_no)


def _recovered_lines(entry: Entry, line_above: int) -> set[int]:
    """The fragment lines a TORN_LINE_EVENT entry names, if it names the line just above it."""
    data = entry.data
    if data.get("event") != TORN_LINE_EVENT or not _is_line_number(data.get("line")):
        return set()
    if data["line"] != line_above:
        return set()
    lines = {line_above}
    earlier = data.get("earlier")
    if isinstance(earlier, list):
        for fragment in earlier:
            if isinstance(fragment, dict) and _is_line_number(fragment.get("line")):
                lines.add(fragment["line"])
    return lines


def _is_line_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _seq_message(seq: int, previous: int, previous_line: int) -> str:
    if previous == 0:
        return f"seq starts at {seq}, not 1: seq 1 to {seq - 1} are missing"
    if seq == previous:
        return f"duplicate seq {seq}: line {previous_line} has it too"
    if seq > previous:
        missing = f"seq {previous + 1}"
        if seq > previous + 2:
            missing += f" to {seq - 1}"
        return f"gap in seq: {seq} follows {previous} (line {previous_line}); {missing} missing"
    return f"seq goes back: {seq} follows {previous} (line {previous_line})"


def scan_lines(fd: int, offset: int, end: int, line_no: int, sink: _LineSink) -> tuple[int, int]:
    """Hand every complete line of bytes [offset, end) to `sink(line_no, raw, size)`.

    Returns (the offset of the first byte not consumed, the last line number handed over).
    Bytes after the last newline are not consumed. A line longer than MAX_LINE_BYTES is handed
    over as raw=None after its length is measured in chunks, so it is never held in memory.
    """
    while offset < end:
        chunk = os.pread(fd, min(CHUNK_BYTES, end - offset), offset)
        if not chunk:
            break
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if lines:
            for raw in lines:
                line_no += 1
                sink(line_no, raw, len(raw))
            offset += len(chunk) - len(rest)
            continue
        # A whole chunk without a newline: measure the line before deciding to read it.
        del chunk, lines, rest
        newline_at = _find_newline(fd, offset + min(CHUNK_BYTES, end - offset), end)
        if newline_at < 0:
            break
        size = newline_at - offset
        line_no += 1
        sink(line_no, None if size > MAX_LINE_BYTES else _pread_exact(fd, size, offset), size)
        offset = newline_at + 1
    return offset, line_no


def _find_newline(fd: int, offset: int, end: int) -> int:
    while offset < end:
        chunk = os.pread(fd, min(CHUNK_BYTES, end - offset), offset)
        if not chunk:
            return -1
        found = chunk.find(b"\n")
        if found >= 0:
            return offset + found
        offset += len(chunk)
    return -1


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_rest_under_shared_lock(
    fd: int, path: Path, offset: int, line_no: int, lines: _LineAnalyzer
) -> tuple[int, int, int]:
    """Finish a read whose last line is incomplete, holding the writers' lock shared.

    A writer holds the lock while it writes, so under the lock an incomplete last line is a
    torn one, not one still being written. Without the lock file (or in time) the read ends
    as it is.
    """
    end = os.fstat(fd).st_size
    try:
        # Never through a link, never waiting on a FIFO: a reader only locks a regular file.
        lock_fd = open_side_file(_lock_path(path), os.O_RDONLY, create=False)
    except OSError:
        return offset, line_no, end
    try:
        if not _lock_shared(lock_fd, SHARED_LOCK_WAIT_SECONDS):
            return offset, line_no, end
        try:
            end = os.fstat(fd).st_size
            offset, line_no = scan_lines(fd, offset, end, line_no, lines.feed)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
    finally:
        os.close(lock_fd)
    return offset, line_no, end


def _lock_shared(lock_fd: int, wait_seconds: float) -> bool:
    try:
        return flock_within(lock_fd, fcntl.LOCK_SH, wait_seconds, 0.002)
    except OSError:
        return False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while entries are built: it would rescan them again and again
    (a 100,000-entry read takes about half as long without it). Entries hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def open_for_reading(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        missing = IncidentLogError(f"no incident log at {path}")
        missing.path = str(path)
        raise missing from None
    except OSError as exc:
        raise read_error(path, error_reason(exc)) from exc
    try:
        is_regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as exc:
        os.close(fd)
        raise read_error(path, error_reason(exc)) from exc
    if not is_regular:
        os.close(fd)
        raise read_error(path, "not a regular file")
    return fd


def read_error(path: Path, reason: str) -> IncidentLogError:
    return IncidentLogError(f"cannot read the incident log: {reason}", path=path)


def error_reason(exc: OSError) -> str:
    """The OS's words for an error, for a message."""
    if exc.strerror:
        return exc.strerror
    return errno.errorcode.get(exc.errno or 0, str(exc))
