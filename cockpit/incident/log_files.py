"""Files beside the incident log: created 0600 (directories 0700, one level at a time), and
made durable together with the directory that holds them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def _open_or_create(path: Path, flags: int) -> int:
    """Open `path`, creating it 0600 (and fsyncing it and its directory) when it is new."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away
        os.fsync(fd)
        _fsync_directory(path.parent)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_making_directories(path: Path, flags: int) -> int:
    """_open_or_create, first creating the missing directories above `path` if need be."""
    try:
        return _open_or_create(path, flags)
    except FileNotFoundError:
        make_directories(path.parent)
        return _open_or_create(path, flags)


def make_directories(directory: Path) -> None:
    """Create the missing directories, 0700, one level at a time, each made durable."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new_directory in reversed(missing):
        try:
            os.mkdir(new_directory, DIRECTORY_MODE)
        except FileExistsError:
            continue  # another writer made it first
        os.chmod(new_directory, DIRECTORY_MODE)
        _fsync_directory(new_directory.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def write_all(fd: int, payload: bytes) -> None:
    """Write every byte of `payload` to `fd` (os.write may write less); raises OSError."""
    view = memoryview(payload)
    written = 0
    try:
        while written < len(payload):
            count = os.write(fd, view[written:])
            if count <= 0:
                raise OSError(errno.EIO, "the write made no progress")
            written += count
    finally:
        view.release()
