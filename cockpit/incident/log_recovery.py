"""A recovery file: the entries a screen had read, written beside a log that lost them.

When the incident log is replaced by an older copy, truncated or removed, a cockpit that had
read it still holds the entries. `write_recovery` writes them, exactly as they were written
(`Entry.to_json_line`), to `<log>.recovered-<UTC time>.jsonl` in the log's directory:

- a new regular file, created 0600 with O_EXCL (log_files.open_making_directories): an
  existing file or symlink of that name is never written through; the next free name
  (`-2`, `-3`, ...) is taken instead;
- written in full and fsynced before the path is returned; on a failure the partial file is
  removed, so a recovery file that exists is complete.

Nothing is merged back into the log: putting entries back is a person's decision (the file
is a valid incident log: `cockpit export` reads it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cockpit.compat import UTC
from cockpit.errors import LogWriteError
from cockpit.incident.entry import Entry, utc_now
from cockpit.incident.log_files import open_making_directories, write_all
from cockpit.incident.log_read import error_reason

__all__ = ["recovery_path", "write_recovery"]

NAME_ATTEMPTS = 100
WRITE_BATCH_BYTES = 1024 * 1024


def recovery_path(log_path: Path, at: datetime, attempt: int = 1) -> Path:
    """`<log>.recovered-20261127T143005Z.jsonl` (`-N` before the suffix from the 2nd on)."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    counter = "" if attempt <= 1 else f"-{attempt}"
    return log_path.with_name(f"{log_path.name}.recovered-{stamp}{counter}.jsonl")


def write_recovery(
    log_path: Path, entries: Iterable[Entry], *, now: datetime | None = None
) -> Path:
    """Write `entries` to a new recovery file beside `log_path`; its path. LogWriteError when
    it cannot be written (nothing is left behind then)."""
    at = utc_now() if now is None else now
    fd, path = _create(log_path, at)
    try:
        _write_all(fd, entries)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise LogWriteError(
            f"could not write the recovery file {path.name}: {error_reason(exc)}; nothing was kept",
            path=path,
        ) from exc
    os.close(fd)
    return path


def _create(log_path: Path, at: datetime) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_EXCL | os.O_NOFOLLOW
    for attempt in range(1, NAME_ATTEMPTS + 1):
        path = recovery_path(log_path, at, attempt)
        try:
            # O_EXCL (kept by the helper on its retry too): a name that exists, even as a
            # symlink, is never opened; the helper makes the file 0600 and durable.
            fd = open_making_directories(path, flags)
        except FileExistsError:
            continue
        except OSError as exc:
            raise LogWriteError(
                f"could not create the recovery file {path.name}: {error_reason(exc)}",
                path=path,
            ) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LogWriteError("the recovery file is not a regular file", path=path)
        return fd, path
    raise LogWriteError(
        f"could not create a recovery file beside {log_path.name}: "
        f"{os.strerror(errno.EEXIST)} ({NAME_ATTEMPTS} names tried)",
        path=log_path,
    )


def _write_all(fd: int, entries: Iterable[Entry]) -> None:
    batch: list[bytes] = []
    size = 0
    for entry in entries:
        line = entry.to_json_line()
        batch.append(line)
        size += len(line)
        if size >= WRITE_BATCH_BYTES:
            write_all(fd, b"".join(batch))
            batch, size = [], 0
    write_all(fd, b"".join(batch))
