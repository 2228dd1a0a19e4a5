"""The incident log's write lock: bounded waiting, and who holds it.

Writers take flock(LOCK_EX) on the sidecar `<log>.lock`. A writer that is stuck while it holds
it (a suspended `cockpit log`, Ctrl+Z, a hung network filesystem client) must not make everyone
else wait forever in silence, so:

- waiting is bounded: `hold` polls LOCK_NB until `wait` seconds have passed, then raises
  LockBusy (a LogWriteError: nothing was written);
- the holder says who it is: right after taking the lock a writer puts one JSON line in the lock
  file, {"pid", "host", "command", "since"}; a waiter reads it and reports it once through
  `on_wait` while it waits, and names it in the error. The line is a hint for people, never
  trusted for anything else: it is bounded, and a holder that could not write it (disk full)
  leaves the previous holder's line, so a waiter checks that the named pid is alive on this
  host before it says "held by".

The lock file is never the log: losing or garbling its content loses nothing. Losing the file
itself must not let two writers in at once, so `hold` opens it without following a link (a
regular file only, log_files.open_side_file) and, once the flock is taken, checks that the
locked file is still the one at `<log>.lock` (same device and inode): a file removed or
replaced meanwhile is let go and the new one taken, at most LOCK_FILE_ATTEMPTS times.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cockpit.compat import UTC
from cockpit.errors import LogWriteError
from cockpit.incident.log_files import SideFileError, open_side_file

DEFAULT_LOCK_WAIT = 5.0
"""Seconds a writer waits for the lock before it gives up (`cockpit log --wait`)."""
MAX_HOLDER_BYTES = 512
LOCK_FILE_ATTEMPTS = 20
"""How often `hold` takes the lock again when the file it locked was no longer `<log>.lock`."""
_FIRST_POLL = 0.005
_LONGEST_POLL = 0.05


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who said they hold the lock (untrusted text from the lock file, bounded)."""

    pid: int | None
    host: str | None
    command: str | None
    since: str | None

    def describe(self) -> str:
        """ "pid 4242 on war-room-1 (cockpit log) since 12:03:04Z"."""
        parts = [f"pid {self.pid}" if self.pid is not None else "an unknown process"]
        if self.host:
            parts.append(f"on {self.host}")
        if self.command:
            parts.append(f"({self.command})")
        if self.since:
            parts.append(f"since {self.since}")
        return " ".join(parts)


class LockBusy(LogWriteError):
    """The lock stayed held by another writer for longer than the wait allowed."""

    def __init__(self, message: str, *, path: Path | str | None, holder: LockHolder | None):
        self.holder = holder
        super().__init__(message, path=path)


class WriteAbandoned(LockBusy):
    """The writer gave up waiting because its program is quitting: nothing was written, and
    nothing will be written after the user has gone."""


OnWait = Callable[[LockHolder | None], None]


def this_writer() -> dict[str, object]:
    """What a holder writes about itself: no arguments (they may hold a note's text)."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    command = program if program != "__main__.py" else "cockpit"
    if len(sys.argv) > 1 and sys.argv[1].isidentifier():
        command = f"{command} {sys.argv[1]}"
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def hold(
    lock_path: Path,
    *,
    wait: float | None,
    on_wait: OnWait | None = None,
    log_path: Path | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Open `lock_path` (created 0600 if need be) and take its exclusive lock within `wait`
    seconds (None: no limit); the locked descriptor, which is the file at `lock_path` when
    this returns.

    Raises LockBusy when it stays held, WriteAbandoned as soon as `stop` is set (the program
    is quitting; checked before every try), and LogWriteError when the lock file is not a
    regular file, cannot be opened or locked, or kept being replaced.
    """
    deadline = None if wait is None else time.monotonic() + max(0.0, wait)
    told: list[bool] = [False]
    for _attempt in range(LOCK_FILE_ATTEMPTS):
        try:
            lock_fd = open_side_file(lock_path, os.O_RDWR)
        except SideFileError as exc:
            raise LogWriteError(
                f"cannot open the lock file {lock_path}: it is {exc.found}, not a regular file;"
                " cockpit does not follow or write through it (remove it, and cockpit makes a"
                " new one); nothing was written",
                path=log_path,
            ) from exc
        except OSError as exc:
            raise LogWriteError(
                f"cannot open the lock file {lock_path}: {exc.strerror or exc}; nothing was"
                " written",
                path=log_path,
            ) from exc
        try:
            _take(lock_fd, lock_path, deadline, wait, on_wait, log_path, stop, told)
            if is_lock_file(lock_fd, lock_path):
                _write_holder(lock_fd)
                return lock_fd
            fcntl.flock(lock_fd, fcntl.LOCK_UN)  # removed or replaced while we waited
        except BaseException:
            os.close(lock_fd)
            raise
        os.close(lock_fd)
    raise LogWriteError(
        f"the lock file {lock_path} was removed or replaced each time it was locked"
        f" ({LOCK_FILE_ATTEMPTS} tries); nothing was written",
        path=log_path,
    )


def is_lock_file(lock_fd: int, lock_path: Path) -> bool:
    """`lock_fd` is the file at `lock_path` now (same device and inode; a link is not it)."""
    try:
        there = os.stat(lock_path, follow_symlinks=False)
        held = os.fstat(lock_fd)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


def _take(
    lock_fd: int,
    lock_path: Path,
    deadline: float | None,
    wait: float | None,
    on_wait: OnWait | None,
    log_path: Path | None,
    stop: threading.Event | None,
    told: list[bool],
) -> None:
    """flock(LOCK_EX) on `lock_fd` before `deadline`; `told[0]`: on_wait was called already."""
    pause = _FIRST_POLL
    while True:
        if stop is not None and stop.is_set():
            holder = read_holder(lock_fd)
            who = f" while {holder.describe()} held the lock" if holder is not None else ""
            raise WriteAbandoned(
                f"not written: cockpit was quitting{who}", path=log_path, holder=holder
            )
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise LogWriteError(
                    f"cannot lock {lock_path}: {exc.strerror or exc}; nothing was written",
                    path=log_path,
                ) from exc
        if not told[0]:
            told[0] = True
            if on_wait is not None:
                on_wait(read_holder(lock_fd))
        if deadline is not None and time.monotonic() >= deadline:
            holder = read_holder(lock_fd)
            who = holder.describe() if holder is not None else "another writer"
            raise LockBusy(
                f"the incident log is locked by {who} and stayed locked for {wait or 0:g} s; "
                "nothing was written (try again, or end that process)",
                path=log_path,
                holder=holder,
            )
        remaining = None if deadline is None else deadline - time.monotonic()
        time.sleep(pause if remaining is None else max(0.0, min(pause, remaining)))
        pause = min(pause * 2, _LONGEST_POLL)


def _write_holder(lock_fd: int) -> None:
    line = (json.dumps(this_writer(), ensure_ascii=True) + "\n").encode("ascii")
    try:
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, line[:MAX_HOLDER_BYTES], 0)
    except OSError:
        pass  # a hint only: a full disk must not stop the append itself


def read_holder(lock_fd: int) -> LockHolder | None:
    """Who the lock file names, when that process is alive here; None when unknown."""
    try:
        raw = os.pread(lock_fd, MAX_HOLDER_BYTES, 0)
        data = json.loads(raw.decode("utf-8", "replace").splitlines()[0]) if raw else None
    except (OSError, ValueError, IndexError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    host = _text(data.get("host"))
    if pid is not None and host == socket.gethostname() and not _alive(pid):
        return None  # a stale line: its writer is gone and the holder wrote none
    return LockHolder(pid, host, _text(data.get("command")), _text(data.get("since")))


def _text(value: object, limit: int = 80) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
