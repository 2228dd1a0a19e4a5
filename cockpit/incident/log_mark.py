"""The high-water mark: what the log had acknowledged, kept beside it, so that losing it shows.

A log renamed over by an older copy, truncated, or deleted looks to the next writer like a log
that simply has fewer entries: it would append at the old seq and a different entry would take
the number of one already acknowledged. So every writer, under the lock and after its append
is durable, records in `<log>.mark` the last seq and the SHA-256 of that entry's line:

    {"seq": 8, "sha256": "…"}

Before appending, a writer compares the mark with the end of the log:
- the log ends below the mark's seq, or is gone: entries were lost -> LostEntries (refused);
- the entry at the mark's seq is not the one acknowledged (another file of the same length) ->
  LostEntries;
- the log ends above the mark (a writer died between its append and the mark, or one that
  keeps no mark wrote): fine, the mark follows the log from the next append on.

Readers (`lost_entries`) report the same comparison as an error, so a screen or an export
never shows a shortened log as routine. The mark is a small file rewritten in place (pwrite +
fsync, no rename: the lock is held only for the append); a mark that cannot be read (torn by a
crash, garbage) counts as no mark, with no claim either way. A mark that cannot be written
(full disk) leaves the previous one, which is still a true lower bound. The mark is opened
without following a link and without waiting on a FIFO: anything there but a regular file is
never followed or read (MarkNotRegular: a writer is refused; a reader warns that losses cannot
be checked).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cockpit.errors import LogWriteError
from cockpit.incident.log_files import SideFileError, open_side_file

MARK_SUFFIX = ".mark"
MAX_MARK_BYTES = 256


@dataclass(frozen=True, slots=True)
class Mark:
    seq: int
    sha256: str


class LostEntries(LogWriteError):
    """The log no longer holds entries that were acknowledged: appending is refused."""


class MarkNotRegular(LogWriteError):
    """`<log>.mark` is a symbolic link, a FIFO, a directory...: not followed, not read, and
    appending is refused until it is removed (losses could not be checked)."""


def mark_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + MARK_SUFFIX)


def line_digest(line: bytes) -> str:
    """SHA-256 of an entry's line, without its newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def read_mark(log_path: Path) -> Mark | None:
    """The mark beside `log_path`; None when there is none or it cannot be read (torn,
    garbage). Raises MarkNotRegular when something other than a regular file is there."""
    try:
        fd = open_side_file(mark_path(log_path), os.O_RDONLY, create=False)
    except SideFileError as exc:
        raise MarkNotRegular(
            f"{exc}; lost entries cannot be checked while it is there", path=log_path
        ) from exc
    except OSError:
        return None
    try:
        raw = os.read(fd, MAX_MARK_BYTES)
        data = json.loads(raw.decode("ascii"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(data, dict):
        return None
    seq, digest = data.get("seq"), data.get("sha256")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(digest, str):
        return None
    return Mark(seq, digest)


def write_mark(log_path: Path, seq: int, line: bytes) -> None:
    """Record `seq` and its line as acknowledged (under the writers' lock). Never raises: a
    mark that cannot be written leaves the previous one, still a true lower bound (and one
    that is not a regular file is never written through: the next append is refused)."""
    payload = json.dumps({"seq": seq, "sha256": line_digest(line)}).encode("ascii")
    with contextlib.suppress(OSError):
        fd = open_side_file(mark_path(log_path), os.O_RDWR)
        try:
            os.pwrite(fd, payload.ljust(MAX_MARK_BYTES - 1) + b"\n", 0)
            os.fsync(fd)
        finally:
            os.close(fd)


def lost_entries(
    log_path: Path, mark: Mark | None, last_seq: int, line_at_mark: bytes | None
) -> str | None:
    """Why the log is missing acknowledged entries, or None when it is not.

    `last_seq` is the last entry the log holds now (0: none, or no log); `line_at_mark` the
    line of its entry with the mark's seq, when it has one (None: not looked up).
    """
    if mark is None:
        return None
    if last_seq < mark.seq:
        holds = (
            "is gone"
            if last_seq == 0 and not log_path.exists()
            else (f"now ends at seq {last_seq}" if last_seq else "now holds no entry")
        )
        return (
            f"the incident log has lost acknowledged entries: it {holds}, but entries up to "
            f"seq {mark.seq} were written (recorded in {mark_path(log_path).name}); it was "
            "replaced by an older copy, truncated or deleted"
        )
    if line_at_mark is not None and line_digest(line_at_mark) != mark.sha256:
        return (
            f"the incident log was replaced: its entry seq {mark.seq} is not the one that was "
            f"acknowledged (recorded in {mark_path(log_path).name})"
        )
    return None
