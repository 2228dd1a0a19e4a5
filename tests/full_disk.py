"""A real full disk for tests: a small tmpfs mounted for the test (root only), and filling it.

Under CI (root) the mount must work; elsewhere a test that needs it skips (missing_in_lab).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.lab import missing_in_lab

PAGE = 4096


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (created), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        missing_in_lab("a full-disk test mounts a small tmpfs: needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    if done.returncode != 0:
        missing_in_lab(f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=20)


def fill(directory: Path) -> Path:
    """Fill the filesystem of `directory` to the last byte with one file; that file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chunk = b"\0" * (64 * 1024)
    try:
        for size in (64 * 1024, PAGE, 1):
            while True:
                try:
                    os.write(fd, chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


def end_on_page_boundary(path: Path, append_note: object) -> None:
    """Append notes until `path` ends exactly on a page: the next append needs a new page
    (on a full tmpfs, ENOSPC), not the room left in its last one."""
    assert callable(append_note)
    for _ in range(4):  # a seq gaining a digit changes the line's length: measure again
        append_note("p")
        first = path.stat().st_size
        append_note("p")
        line = path.stat().st_size - first  # a one-character note as the next one will be
        pad = (-(path.stat().st_size + line - 1)) % PAGE or PAGE
        append_note("p" * pad)
        if path.stat().st_size % PAGE == 0:
            return
    pytest.fail(f"the log did not end on a page boundary: {path.stat().st_size}")


def refused_over_size_limit(limit: int, write: Callable[[], object]) -> str:
    """Run `write` in a forked child whose file size limit (RLIMIT_FSIZE) is `limit` bytes, so
    a write past it is cut short by the kernel (a short write, then EFBIG), as a full disk
    would; the message of the LogWriteError it raised (the test fails if it raised none)."""
    from cockpit.errors import LogWriteError

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 3
        try:
            os.close(read_end)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                write()
            except LogWriteError as exc:
                os.write(write_end, str(exc).encode())
                status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0, message
    return message
