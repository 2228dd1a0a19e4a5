"""Files beside the incident log: created 0600 (directories 0700, one level at a time), and
made durable together with the directory that holds them.

The files cockpit names itself beside the log (`<log>.lock`, `<log>.mark`,
`<log>.probes.lock`) are opened with `open_side_file`: never through a symbolic link, never
waiting on a FIFO, and only when they are regular files (SideFileError names the file and what
is there instead). `incident_file_named` says when a path is the log or one of its own files,
so that no export is ever written over them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from cockpit.read_file import what_it_is

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700

DRAFTS_SUFFIX = ".drafts"
"""`<log>.drafts/`: the drafts directory (drafts.DRAFTS_SUFFIX is this one)."""
SIDE_FILES: tuple[tuple[str, str], ...] = (
    (".lock", "the incident log's lock file"),
    (".mark", "the incident log's mark, which records its acknowledged entries"),
    (".probes.lock", "the probe writers' lock file"),
    (".config.toml", "the incident's own config"),
    (DRAFTS_SUFFIX, "the incident's drafts directory"),
)
"""The suffixes cockpit adds to the log's name for its own files, and what each file is
(log_mark.MARK_SUFFIX, drafts.DRAFTS_SUFFIX, config.locate.INCIDENT_CONFIG_SUFFIX)."""
RECOVERED_INFIX = ".recovered-"
"""`<log>.recovered-<UTC time>.jsonl`: a recovery file (log_recovery.recovery_path)."""


class SideFileError(OSError):
    """One of the log's own files is not a regular file (a symbolic link, a FIFO, a directory,
    ...): cockpit neither follows it nor writes through it. The message names the file and
    what was found there."""

    def __init__(self, path: Path, found: str) -> None:
        self.path = path
        self.found = found
        super().__init__(errno.EINVAL, side_file_refusal(path, found))

    def __str__(self) -> str:
        return str(self.strerror)


def side_file_refusal(path: Path, found: str) -> str:
    """Why one of the log's own files is not used: "PATH is a FIFO, not a regular file: ..."."""
    return (
        f"{path} is {found}, not a regular file: cockpit does not follow or write through it"
        " (remove it, and cockpit makes a new one)"
    )


def flock_within(fd: int, operation: int, seconds: float, pause: float) -> bool:
    """flock(`operation` | LOCK_NB) on `fd`, tried every `pause` seconds for at most `seconds`;
    False when it stayed held. Other errors (OSError) pass through."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)


def side_file_problem(path: Path) -> str | None:
    """What is at `path` when it must not be used as one of the log's own files ("a symbolic
    link", ...), or None when it is a regular file or nothing (lstat: links are not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else what_it_is(mode)


def open_side_file(path: Path, flags: int, *, create: bool = True) -> int:
    """Open one of the files cockpit keeps beside the log (creating it, and its directories,
    0600 when `create`): O_NOFOLLOW, O_NONBLOCK (a FIFO never blocks the open), and only a
    regular file. Raises SideFileError for anything else, OSError when it cannot be opened."""
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = open_making_directories(path, flags) if create else os.open(path, flags)
    except OSError as exc:
        found = side_file_problem(path)
        if found is not None:
            raise SideFileError(path, found) from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SideFileError(path, what_it_is(mode))
    return fd


def incident_file_named(log_path: Path, target: Path) -> str | None:
    """What `target` is when it is the incident log itself or one of its own files ("the
    incident log itself", "the incident log's lock file (inc.jsonl.lock)", ...), else None.

    Compared by name in the real directory (so `./x/../inc.jsonl.mark` or a link to the
    directory is caught, and files not made yet too) and, for files that exist, by device and
    inode (a hard link, or a symbolic link to one of them)."""
    log_dir, log_name = _real_parent(log_path), log_path.name
    target_dir, target_name = _real_parent(target), target.name
    if target_dir is not None and target_dir == log_dir:
        found = _side_file_named(log_name, target_name)
        if found is not None:
            return found
    if log_dir is not None and target_dir is not None:
        # Anything inside the drafts directory.
        drafts = log_dir / (log_name + DRAFTS_SUFFIX)
        if target_dir == drafts or drafts in target_dir.parents:
            return f"a file in the incident's drafts directory ({drafts.name})"
    try:
        target_id = _identity(os.stat(target))
    except (OSError, ValueError):
        return None
    for name in [log_name, *(log_name + suffix for suffix, _ in SIDE_FILES)]:
        try:
            same = _identity(os.stat(log_path.with_name(name))) == target_id
        except (OSError, ValueError):
            continue
        if same:
            return _side_file_named(log_name, name)
    return None


def _side_file_named(log_name: str, name: str) -> str | None:
    if name == log_name:
        return "the incident log itself"
    for suffix, what in SIDE_FILES:
        if name == log_name + suffix:
            return f"{what} ({name})"
    if name.startswith(log_name + RECOVERED_INFIX):
        return f"a recovery file of the incident log ({name})"
    return None


def _real_parent(path: Path) -> Path | None:
    try:
        return Path(os.path.realpath(path.parent if str(path.parent) else "."))
    except (OSError, ValueError):
        return None


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


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
