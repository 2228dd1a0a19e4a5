"""The incident log: one append-only JSON Lines file per incident, safe for several writers.

An append (IncidentLog.append):

    check   kind, text, author, origin and data (JSON, no NaN); the line fits MAX_ENTRY_BYTES
    lock    flock(LOCK_EX) on the sidecar `<log>.lock` (a regular file, never followed
            through a link, checked to be the file at that path once locked); waiting for it is
            bounded and names the holder (log_lock.py). While it writes, a writer also holds
            flock(LOCK_EX | LOCK_NB) on the log file itself: if `<log>.lock` was removed or
            replaced while another writer held it, the two cannot both write (the second is
            refused, nothing written)
    find    the last valid entry, reading backwards from the end in growing chunks; skipped
            when the file is exactly as this object's own last append left it
    mend    what follows the last valid entry was left by a writer killed mid-line (or, if a
            mending write was cut too, more than one line): it is terminated with "\\n" if
            needed and named by one `system` entry, data = {"event": TORN_LINE_EVENT, "line":
            the fragment just above, "bytes": its size, "earlier": [{"line", "bytes"}, ...] only
            when there are several}; its bytes stay, and its seq, never acknowledged, is reused
    write   the whole line(s) in one os.write (looping on short writes), then fsync; seq and ts
            are assigned here, under the lock, and ts never goes back
    undo    if a write or fsync fails, ftruncate back to the size before: nothing acknowledged
    mark    the seq and hash of the last acknowledged entry go to `<log>.mark`; a log that no
            longer holds them (replaced, truncated, deleted) is refused (log_mark.py)

IncidentLog.append_built does the same for entries that depend on what the log already says:
it takes the lock first, reads the log, builds the entries from it, then appends them, so no
other writer can slip in between ("already done by X" where two people tick one step).

Files are created 0600, missing directories 0700, one level at a time; new files and
directories are fsynced together with the directory that holds them.
Failures are IncidentLogError (append failures are its subclass LogWriteError), never OSError.
Reading and following live in log_read.py and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit.errors import IncidentLogError, LogWriteError
from cockpit.incident.entry import (
    MAX_ENTRY_BYTES,
    Entry,
    utc_now,
)
from cockpit.incident.log_files import (
    flock_within,
    open_making_directories,
    side_file_problem,
    side_file_refusal,
    write_all,
)
from cockpit.incident.log_lock import DEFAULT_LOCK_WAIT, OnWait, hold
from cockpit.incident.log_mark import (
    LostEntries,
    lost_entries,
    mark_path,
    read_mark,
    write_mark,
)
from cockpit.incident.log_read import (
    LogFollower,
    ReadResult,
    error_reason,
    follow,
    read_log,
)
from cockpit.incident.log_so_far import SharedEntries, SoFar
from cockpit.incident.log_tail import Tail, recovery_entry, scan_tail
from cockpit.incident.origin import current_origin
from cockpit.read_file import what_it_is

__all__ = ["EntryParts", "IncidentLog", "LogFollower", "ReadResult", "follow", "read_log"]

BUILD_ATTEMPTS = 5
"""How often append_built reads again when another writer appended first (then it reads under
the lock)."""

EntryParts = tuple[str, str, Mapping[str, Any] | None]
"""(kind, text, data) of an entry to append (IncidentLog.append_built)."""

_ENTRY_START = b'{"seq":'
"""How every line this module writes begins (Entry.to_json_line)."""

_held_locks = threading.local()
"""This thread's held `<log>.lock` files: lock path -> (device, inode) (IncidentLog._lock)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _OwnAppend:
    """The file as this object's last append left it."""

    device: int
    inode: int
    size: int
    last_seq: int
    last_ts: datetime


class IncidentLog:
    """One incident's log file. Appends are durable and safe across processes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_wait: float | None = DEFAULT_LOCK_WAIT,
        on_wait: OnWait | None = None,
    ) -> None:
        """`lock_wait`: seconds an append waits for another writer's lock before LockBusy
        (None: no limit); `on_wait` is told once per append who holds it (log_lock.py)."""
        self.path = Path(path)
        if not self.path.name:
            raise IncidentLogError("an incident log must be a file path", path=self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = lock_wait
        self.on_wait = on_wait
        self._stop = threading.Event()
        self._own_append: _OwnAppend | None = None
        self._so_far = SharedEntries(self.path)
        """The log's entries as read so far, shared with every reader in this process."""

    def abandon(self) -> None:
        """From now on, appends give up instead of waiting for the lock or writing (the program
        is quitting): WriteAbandoned, nothing written after the user has gone."""
        self._stop.set()

    def __repr__(self) -> str:
        return f"IncidentLog({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> ReadResult:
        return read_log(self.path)

    def entries_so_far(self) -> tuple[Entry, ...]:
        """Every entry of the log, reading only what was appended since anyone in this process
        last asked (append_built, a screen): far quicker than `read()` on a big log, and the
        entries are the ones already in memory. Raises IncidentLogError when it cannot read."""
        return self._so_far.read().snapshot()

    def read_so_far(self, max_bytes: int | None = None) -> SoFar:
        """Read on (about `max_bytes` of what is new, or all of it) and return the shared state:
        entries, problems, generation (cockpit.incident.log_so_far)."""
        return self._so_far.read(max_bytes)

    def append(
        self,
        kind: str,
        text: str,
        data: Mapping[str, Any] | None = None,
        *,
        author: str,
        origin: Mapping[str, str] | None = None,
    ) -> Entry:
        """Append one entry and return it as written (with its seq and ts).

        When this returns, the line is on disk (fsynced). Raises LogWriteError, and leaves
        the file as it was, when the entry is refused or cannot be written.
        """
        draft = self._draft(kind, text, data, author=author, origin=origin)
        lock_fd = self._lock()
        try:
            self._refuse_if_gone()
            log_fd = self._open_log()
            try:
                return self._append_locked(log_fd, [draft])[0]
            finally:
                os.close(log_fd)
        finally:
            _unlock(lock_fd)

    def append_built(
        self,
        build: Callable[[Sequence[Entry]], Sequence[EntryParts]],
        *,
        author: str,
        origin: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> list[Entry]:
        """Append what `build` makes of the log's entries, with no other append in between.

        For an entry that depends on what the log already says ("already done by X", the
        previous holder of a role, an earlier setting of a phase). The log is read before the
        lock is taken (only what is new since this object's last read); under the lock, the
        end of the file must still be that read's last entry, so no writer slipped in: if one
        did, the lock is let go and the new entries read, at most BUILD_ATTEMPTS times, after
        which the read is made under the lock. The lock is held for that check, `build` and
        the append, not for reading a large log. `build` gets the entries and returns the
        (kind, text, data) of each entry to append, possibly none; it must be quick and must
        not touch this log. Its exceptions pass through and nothing is written (the log file
        is not even created). Several entries are written as one: one write and one fsync, so
        all of them land or none (a tick and the phase it sets). They share one ts: `at`
        (rounded to the millisecond, as every ts is) when given, so that an entry's data can
        name the time of its group; it is moved later only to keep ts in seq order behind an
        entry another writer wrote with a later time. Returns the entries as written.
        """
        for attempt in range(BUILD_ATTEMPTS + 1):
            read_under_lock = attempt == BUILD_ATTEMPTS
            entries: Sequence[Entry] = [] if read_under_lock else self._entries_so_far()
            lock_fd = self._lock()
            try:
                if read_under_lock:
                    exists = self.path.is_file()
                    entries = read_log(self.path, lock_held=True).entries if exists else []
                elif not self._ends_with(entries):
                    continue
                drafts = [
                    self._draft(kind, text, data, author=author, origin=origin)
                    for kind, text, data in build(entries)
                ]
                if not drafts:
                    return []
                self._refuse_if_gone()
                log_fd = self._open_log()
                try:
                    return self._append_locked(log_fd, drafts, at)
                finally:
                    os.close(log_fd)
            finally:
                _unlock(lock_fd)
        raise AssertionError("unreachable: the last attempt reads under the lock")

    def _entries_so_far(self) -> Sequence[Entry]:
        """Every entry of the log, reading only what was appended since the last read."""
        return self.entries_so_far()

    def _ends_with(self, entries: Sequence[Entry]) -> bool:
        """Under the lock: the log's last valid entry is the last of `entries`."""
        expected = entries[-1].seq if entries else 0
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return expected == 0
        except OSError as exc:
            raise self._error("cannot read the end of the incident log", exc) from exc
        try:
            return scan_tail(fd, os.fstat(fd).st_size).last_seq == expected
        except OSError as exc:
            raise self._error("cannot read the end of the incident log", exc) from exc
        finally:
            os.close(fd)

    def _draft(
        self,
        kind: str,
        text: str,
        data: Mapping[str, Any] | None,
        *,
        author: str,
        origin: Mapping[str, str] | None,
    ) -> Entry:
        draft = Entry(
            seq=1,
            ts=utc_now(),
            author=_checked_str("author", author),
            origin=_checked_origin(current_origin() if origin is None else origin),
            kind=_checked_str("kind", kind),
            text=_checked_text(text),
            data=_checked_data(data),
        )
        self._check_size(draft)
        return draft

    def _append_locked(
        self, fd: int, drafts: Sequence[Entry], at: datetime | None = None
    ) -> list[Entry]:
        """Append `drafts` (one or more) with one durable write; the entries as written."""
        try:
            info = os.fstat(fd)
            own = self._own_append
            now = (info.st_dev, info.st_ino, info.st_size)
            if own is not None and (own.device, own.inode, own.size) == now:
                tail = Tail(own.size, own.last_seq, own.last_ts)
            else:
                tail = scan_tail(fd, info.st_size)
        except OSError as exc:
            raise self._error("cannot read the end of the incident log", exc) from exc
        if own is None or (own.device, own.inode, own.size) != now:
            self._refuse_if_lost(tail)
            self._refuse_if_not_a_log(fd, tail)
        self._own_append = None
        ts = _to_milliseconds(utc_now() if at is None else at)
        if tail.last_ts is not None and ts < tail.last_ts:
            ts = tail.last_ts  # the clock stepped back: keep ts in seq order
        seq = tail.last_seq + 1
        payload = [] if tail.terminated else [b"\n"]
        if tail.fragments:
            try:
                recovery = recovery_entry(fd, tail.fragments, seq, ts, drafts[0])
            except OSError as exc:
                raise self._error("cannot read the incident log", exc) from exc
            payload.append(recovery.to_json_line())
            seq += 1
        entries: list[Entry] = []
        line = b""
        for draft in drafts:
            entry = dataclasses.replace(draft, seq=seq, ts=ts)
            line = entry.to_json_line()
            self._check_size(entry, line)
            payload.append(line)
            entries.append(entry)
            seq += 1
        seq -= 1
        written = b"".join(payload)
        self._write_durably(fd, written, tail.size)
        write_mark(self.path, seq, line)
        self._own_append = _OwnAppend(info.st_dev, info.st_ino, tail.size + len(written), seq, ts)
        return entries

    def _refuse_if_not_a_log(self, fd: int, tail: Tail) -> None:
        """A file with content but no entry, that does not even begin like one (a Markdown
        review, a config, someone's notes), is not an incident log: nothing is appended to
        it. A log whose first line was cut short by a killed writer begins like an entry."""
        if tail.last_seq or not tail.size:
            return
        try:
            start = os.pread(fd, len(_ENTRY_START), 0)
        except OSError as exc:
            raise self._error("cannot read the incident log", exc) from exc
        if not _ENTRY_START.startswith(start):
            raise LogWriteError(
                "not an incident log: the file holds no entry and does not begin like one"
                " (a review, a config or other text?); name an incident log; nothing was written",
                path=self.path,
            )

    def _refuse_if_gone(self) -> None:
        """Under the lock: a missing log that had acknowledged entries is not started anew."""
        if not self.path.exists():
            self._refuse_if_lost(Tail(0, 0, None))

    def _refuse_if_lost(self, tail: Tail) -> None:
        mark = read_mark(self.path)
        at_mark = tail.last_line if mark is not None and tail.last_seq == mark.seq else None
        problem = lost_entries(self.path, mark, tail.last_seq, at_mark)
        if problem is not None:
            raise LostEntries(
                f"{problem}; nothing was written: put the complete log back, or start a new "
                "incident log",
                path=self.path,
            )

    def _check_size(self, entry: Entry, line: bytes | None = None) -> None:
        size = len(entry.to_json_line() if line is None else line)
        if size > MAX_ENTRY_BYTES:
            raise LogWriteError(
                f"entry refused: it is {size} bytes as a line, larger than the "
                f"{MAX_ENTRY_BYTES}-byte limit; nothing was written",
                path=self.path,
            )

    def _write_durably(self, fd: int, payload: bytes, size_before: int) -> None:
        """Write all of `payload` and fsync; on failure cut the file back to `size_before`."""
        try:
            write_all(fd, payload)
            os.fsync(fd)
        except OSError as exc:
            undo = _cut_back(fd, size_before)
            raise LogWriteError(
                f"could not write the entry ({error_reason(exc)}); {undo}", path=self.path
            ) from exc

    def _open_log(self) -> int:
        """Under `<log>.lock`: the log, opened for appending (created if need be), a regular
        file, locked against a writer that holds a lock file no longer at `<log>.lock`."""
        found = side_file_problem(mark_path(self.path))
        if found is not None:  # it would not be written: nor is the entry
            refusal = side_file_refusal(mark_path(self.path), found)
            raise LogWriteError(f"{refusal}; nothing was written", path=self.path)
        # Never through a symbolic link (it could name any file), never waiting on a FIFO.
        flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = open_making_directories(self.path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LogWriteError(
                    "cannot open the incident log: it is a symbolic link (cockpit never writes"
                    " through one); name the log file itself; nothing was written",
                    path=self.path,
                ) from None
            raise self._error("cannot open the incident log", exc) from exc
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise LogWriteError(
                    f"cannot open the incident log: it is {what_it_is(mode)}, not a regular"
                    " file; nothing was written",
                    path=self.path,
                )
            self._lock_the_log(fd)
        except OSError as exc:
            os.close(fd)
            raise self._error("cannot open the incident log", exc) from exc
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _lock_the_log(self, fd: int) -> None:
        """flock the log itself (released when `fd` is closed) and check that the lock file
        this thread holds is still `<log>.lock`: either failing means another writer may be
        writing at the same time (the lock file was removed or replaced while held)."""
        if not flock_within(fd, fcntl.LOCK_EX, LOG_FLOCK_WAIT, 0.005):
            raise LogWriteError(
                f"another writer is writing the incident log while holding a lock file that is no"
                f" longer {self.lock_path.name} (it was removed or replaced while held); nothing"
                " was written: try again in a moment",
                path=self.path,
            )
        held = getattr(_held_locks, "files", {}).get(str(self.lock_path))
        try:
            there = os.stat(self.lock_path, follow_symlinks=False)
            current = (there.st_dev, there.st_ino) == held
        except FileNotFoundError:
            current = False
        if not current:
            raise LogWriteError(
                f"the lock file {self.lock_path.name} was removed or replaced while this writer"
                " held it, so another writer may have written meanwhile; nothing was written:"
                " try again",
                path=self.path,
            )

    def _lock(self) -> int:
        lock_fd = hold(
            self.lock_path,
            wait=self.lock_wait,
            on_wait=self.on_wait,
            log_path=self.path,
            stop=self._stop,
        )
        try:
            info = os.fstat(lock_fd)
        except OSError as exc:
            _unlock(lock_fd)
            raise self._error(f"cannot use the lock file {self.lock_path}", exc) from exc
        files: dict[str, tuple[int, int]] = _held_locks.__dict__.setdefault("files", {})
        files[str(self.lock_path)] = (info.st_dev, info.st_ino)
        return lock_fd

    def _error(self, what: str, exc: OSError) -> LogWriteError:
        return LogWriteError(f"{what}: {error_reason(exc)}; nothing was written", path=self.path)


def _checked_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LogWriteError(f"entry refused: {name} must be a non-empty string, not {value!r:.60}")
    return value


def _checked_text(text: object) -> str:
    if not isinstance(text, str):
        raise LogWriteError(f"entry refused: text must be a string, not {type(text).__name__}")
    return text


def _checked_origin(origin: object) -> dict[str, str]:
    if not isinstance(origin, Mapping):
        raise LogWriteError(f"entry refused: origin must be a mapping, not {type(origin).__name__}")
    for key, value in origin.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise LogWriteError(f"entry refused: origin {key!r:.40} must map a string to a string")
    return dict(origin)


def _checked_data(data: object) -> dict[str, Any]:
    """A deep, plain-JSON copy of `data`: what a reader will see, and safe from later changes."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise LogWriteError(f"entry refused: data must be a mapping, not {type(data).__name__}")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(data), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise LogWriteError(f"entry refused: data is not JSON-serialisable ({exc})") from exc
    return copied


def _to_milliseconds(moment: datetime) -> datetime:
    """The ts as it will read back: the line keeps milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


LOG_FLOCK_WAIT = 1.0
"""How long a writer holding `<log>.lock` waits for the lock on the log itself. A child
process forked by another thread between fork and exec briefly holds a copy of a writer's
open log (and its lock): that must not read as a second writer; a real one holds it longer."""


def _unlock(lock_fd: int) -> None:
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
    finally:
        os.close(lock_fd)


def _cut_back(fd: int, size_before: int) -> str:
    """Remove a failed, unacknowledged write; say what became of the file."""
    try:
        os.ftruncate(fd, size_before)
        os.fsync(fd)
    except OSError as exc:
        return (
            f"its partial line could not be removed ({error_reason(exc)}); the next append will "
            "mark it as an interrupted write"
        )
    return "the file is as it was before"
