"""Reading a file the config names (a DKIM key, a CA bundle) without ever waiting on it.

    data = read_regular(path, limit)     # bytes; OSError with a plain reason otherwise
    kind_of(path)                        # "a directory", "a FIFO", ...: for messages

The open is non-blocking (a FIFO at that path would otherwise hold the reading thread until a
writer came, and a thread cannot be cancelled: the probe's timeout could not end it, and the
process could not exit), and only a regular file is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["kind_of", "read_regular", "what_it_is"]


def what_it_is(mode: int) -> str:
    """What a stat mode is, in words: "a symbolic link" (from lstat), "a FIFO", "a directory",
    "a regular file", ..."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISREG, "a regular file"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def kind_of(path: Path) -> str | None:
    """None for a regular file (symbolic links followed); else what the path is ("no such
    file", "a directory", "a FIFO", ...)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return error.strerror or str(error)
    return None if stat.S_ISREG(mode) else what_it_is(mode)


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path` (the caller tells "too large").

    Raises OSError whose strerror says why: the OS's reason, or "is a FIFO, not a regular
    file" (and the like) without ever blocking on the open."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is {what_it_is(mode)}, not a regular file")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
