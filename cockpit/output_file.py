"""Every file cockpit writes for someone: never replace what is not a regular file.

    with output_file(target, mode=0o644, named_by_user=True) as handle:   # binary
        handle.write(...)
    with output_file(target, encoding="utf-8") as text:                     # text, "\\n" only
        text.write(...)

What `target` is decides how it is written (`OutputKind`, from `plan_output`):

    -                          standard output, written directly (STDOUT)
    nothing there yet          a new regular file, written atomically (NEW)
    a regular file             replaced atomically (REGULAR)
    a character device, FIFO   written directly, never renamed over: /dev/null stays a device,
                               a FIFO's reader gets the bytes (STREAM)
    a directory                refused (OutputFileError), and so is a symbolic link to one
    a socket, a block device   refused
    a symbolic link            refused, with one exception: a path the user typed (`-o`,
                               `named_by_user=True`) may be a link to a character device or a
                               FIFO (/dev/stdout, /dev/fd/3), written directly through the link

Atomically: a temporary file is created (O_EXCL, mode 0600) beside the target, written,
fsynced, given `mode`, and renamed over the target; the directory is then fsynced. A reader
sees the old file or the whole new one, never half of it; on any failure the temporary file is
removed and the target is left as it was.

A symbolic link to a regular file is refused rather than written through (the error names
where it points, so the user can give that path) or replaced (which would silently cut the
link): following a link that someone else planted in a shared directory would make cockpit
write wherever that link points, with cockpit's rights. A name cockpit chose itself (the
screen's export beside the log, the drill's files) never follows any link.

A FIFO is opened as a shell does: a path the user typed waits for a reader; a name cockpit
chose does not wait (no reader is an error), so a FIFO planted beside a log cannot hang a
worker. Errors are OutputFileError (a UsageError: the command exits as for a bad command
line), naming the file, what it is and what was expected; nothing raises OSError.

An export is never written over the incident's own files: `refuse_incident_file` refuses the
log itself, its lock, mark, probe-writer lock, config, drafts and recovery files, saying which
(cockpit export -o, the screen's export).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cockpit.errors import OutputFileError
from cockpit.read_file import what_it_is

__all__ = [
    "EXPECTED",
    "OutputKind",
    "OutputPlan",
    "not_replaceable",
    "output_file",
    "plan_output",
    "refuse_incident_file",
]

STDOUT_NAME = "-"
EXPECTED = (
    "expected a file name (a new or a regular file), a FIFO, a character device such as"
    " /dev/null, or - for standard output"
)


class OutputKind(enum.Enum):
    STDOUT = "standard output"
    NEW = "a new file"
    REGULAR = "a regular file"
    STREAM = "a character device or FIFO"


@dataclass(frozen=True, slots=True)
class OutputPlan:
    kind: OutputKind
    path: Path | None
    """The path to write (None for standard output)."""
    fifo: bool = False
    """A FIFO (opened without waiting for a reader unless the user named it)."""


def _refuse(label: str, problem: str) -> OutputFileError:
    return OutputFileError(label, problem)


def plan_output(target: str | Path, *, named_by_user: bool = False, label: str = "") -> OutputPlan:
    """How `target` would be written, or OutputFileError when it must not be (module doc).
    `label` names it in messages (e.g. "-o out.md"); default: the path itself."""
    shown = label or str(target)
    if str(target) == STDOUT_NAME:
        return OutputPlan(OutputKind.STDOUT, None)
    path = Path(target)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        _check_directory(path.parent if str(path.parent) else Path("."), shown)
        return OutputPlan(OutputKind.NEW, path)
    except NotADirectoryError:
        raise _refuse(shown, "a part of its path is not a directory") from None
    except OSError as exc:
        raise _refuse(shown, f"cannot look at it: {_reason(exc)}") from None
    if stat.S_ISREG(info.st_mode):
        return OutputPlan(OutputKind.REGULAR, path)
    if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
        return OutputPlan(OutputKind.STREAM, path, fifo=stat.S_ISFIFO(info.st_mode))
    if not stat.S_ISLNK(info.st_mode):
        raise _refuse(shown, f"it is {what_it_is(info.st_mode)}; {EXPECTED}")
    return _plan_link(path, shown, named_by_user)


def refuse_incident_file(log_path: Path, target: str | Path, label: str = "") -> None:
    """OutputFileError when `target` is the incident log at `log_path` or one of its own files
    (cockpit.incident.log_files.incident_file_named): an export never replaces them."""
    from cockpit.incident.log_files import incident_file_named

    if str(target) == STDOUT_NAME:
        return
    found = incident_file_named(Path(log_path), Path(target))
    if found is not None:
        raise _refuse(
            label or str(target),
            f"that is {found}; an export never replaces the incident's own files: choose"
            " another file",
        )


def _plan_link(path: Path, shown: str, named_by_user: bool) -> OutputPlan:
    pointed = os.path.realpath(path)
    try:
        followed = os.stat(path)
    except OSError:
        raise _refuse(
            shown, f"it is a symbolic link to {pointed}, which does not exist; {EXPECTED}"
        ) from None
    what = what_it_is(followed.st_mode)
    if stat.S_ISDIR(followed.st_mode):
        raise _refuse(shown, f"it is a symbolic link to the directory {pointed}; {EXPECTED}")
    if stat.S_ISREG(followed.st_mode):
        raise _refuse(
            shown,
            f"it is a symbolic link to the file {pointed}: cockpit does not write through"
            f" links to files (nor replace the link); give {pointed} itself",
        )
    streams = stat.S_ISCHR(followed.st_mode) or stat.S_ISFIFO(followed.st_mode)
    if streams and named_by_user:
        return OutputPlan(OutputKind.STREAM, path, fifo=stat.S_ISFIFO(followed.st_mode))
    if streams:
        raise _refuse(shown, f"it is a symbolic link (to {what}), which cockpit does not follow")
    raise _refuse(shown, f"it is a symbolic link to {what}; {EXPECTED}")


def _check_directory(directory: Path, shown: str) -> None:
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        raise _refuse(shown, f"its directory {directory} does not exist") from None
    except NotADirectoryError:
        raise _refuse(shown, f"a part of {directory} is not a directory") from None
    except OSError as exc:
        raise _refuse(shown, f"cannot look at its directory {directory}: {_reason(exc)}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(shown, f"{directory} is not a directory")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.contextmanager
def output_file(
    target: str | Path,
    *,
    mode: int = 0o644,
    named_by_user: bool = False,
    label: str = "",
    encoding: str | None = None,
) -> Iterator[Any]:
    """Write `target` (module doc): yields a binary handle, or a text one (newline "\\n") when
    `encoding` is given. The file takes `mode` when it is created or replaced. Raises
    OutputFileError; an exception from the body leaves the target as it was (a stream has
    received what was written before it)."""
    shown = label or str(target)
    plan = plan_output(target, named_by_user=named_by_user, label=label)
    if plan.kind is OutputKind.STDOUT:
        sys.stdout.flush()
        with _wrapped(sys.stdout.buffer, encoding) as handle:
            yield handle
        _guard(shown, sys.stdout.buffer.flush)
        return
    assert plan.path is not None
    if plan.kind is OutputKind.STREAM:
        fd = _open_stream(plan, shown, wait_for_reader=named_by_user)
        with _guarded(shown), os.fdopen(fd, "wb") as raw, _wrapped(raw, encoding) as handle:
            yield handle
        return
    with _atomic(plan.path, shown, mode) as raw, _wrapped(raw, encoding) as handle:
        yield handle


@contextlib.contextmanager
def _wrapped(raw: IO[bytes], encoding: str | None) -> Iterator[Any]:
    if encoding is None:
        yield raw
        raw.flush()
        return
    text = io.TextIOWrapper(raw, encoding=encoding, newline="\n")  # type: ignore[arg-type]
    try:
        yield text
        text.flush()
    finally:
        text.detach()  # the raw handle is closed (or kept) by its owner


@contextlib.contextmanager
def _guarded(shown: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _refuse(shown, _reason(exc)) from None


def _guard(shown: str, call: Any) -> None:
    with _guarded(shown):
        call()


def _open_stream(plan: OutputPlan, shown: str, *, wait_for_reader: bool) -> int:
    assert plan.path is not None
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY
    if plan.fifo and not wait_for_reader:
        flags |= os.O_NONBLOCK
    if not plan.path.is_symlink():
        flags |= os.O_NOFOLLOW  # a link planted since the look is not followed
    try:
        fd = os.open(plan.path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise _refuse(shown, "it is a FIFO that no process is reading") from None
        raise _refuse(shown, _reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            # It changed since the look: writing here would not replace it atomically.
            raise _refuse(shown, f"it changed while being opened; now {what_it_is(info.st_mode)}")
        if flags & os.O_NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _atomic(path: Path, shown: str, mode: int) -> Iterator[IO[bytes]]:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise _refuse(shown, f"cannot create a file in {directory}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        _still_replaceable(path, shown)
        os.replace(temp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise _refuse(shown, _reason(exc)) from None
        raise
    _fsync_directory(directory)


def _still_replaceable(path: Path, shown: str) -> None:
    """Right before the rename: what is there now must still be a regular file or nothing."""
    found = not_replaceable(path)
    if found is not None:
        raise _refuse(shown, f"it became {found} while being written")


def not_replaceable(name: str | Path, *, dir_fd: int | None = None) -> str | None:
    """What is at `name` (relative to `dir_fd` when given) when a rename must not replace it:
    "a directory", "a symbolic link", ...; None when there is nothing or a regular file."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    return None if stat.S_ISREG(info.st_mode) else what_it_is(info.st_mode)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; a file system that cannot fsync a directory is no error."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
