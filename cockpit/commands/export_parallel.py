"""Write a long review on two cores: its parts and the timeline's pieces shared with a fork.

    write_review(out, parts, timeline_index, entries=len(entries))

The timeline of a long log is the biggest part of the review (about half of its time for
100,000 entries), and the parts are independent once the log is analysed (export_md's
markdown_parts does that before any part is made). The timeline comes in pieces of rows
(export_md.TimelinePart.pieces). The work is one list, in the order of the review: the parts
before the timeline, the timeline's pieces, and the parts after it unless some of those were
made in advance (export_early: this process writes those last). This process takes items
from the front, one at a time, writing each straight to `out`; a forked child takes them from
the back into an unlinked temporary file, noting where each one is. Each takes the next item
under a POSIX record lock on a small shared file, so however the two cores happen to run
(this machine's speed drifts by half), they finish at about the same time. Then the child's
items are copied to `out` in order, and the parts after them written. The bytes are exactly
those of writing the parts one after another.

Only where it is safe and worth it: a POSIX fork, no other thread in this process (a fork
copies only the calling thread, and a lock another thread held would stay locked in the
child), and a log of PARALLEL_FROM_ENTRIES entries or more. The child never returns into the
caller's code: it writes, flushes and leaves with os._exit, so no buffer, atexit handler or
context manager of this process runs twice. If the fork fails, nothing was written yet and
write_review writes the parts one after another; if the child fails or is killed, this
process makes every item the child had taken (a dead process's record lock is released);
if this process is interrupted, the child is killed and waited for; if it is ended (SIGHUP,
SIGTERM), cockpit.children ends the child too (fork_child: its own process group).
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import shutil
import signal
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

PARALLEL_FROM_ENTRIES = 20_000
"""Below this many entries the whole review takes well under a second: not worth a fork."""
_BATCH_BYTES = 1 << 20

Part = Callable[[], Iterable[str]]


def part_lines(index: int, part: Part, piece: int = 0) -> Iterator[str]:
    """The text of part `index` with its line ends (an empty line before every part but the
    first), as markdown_lines joins them; or of piece `piece` of that part (the pieces'
    texts in order are the part's)."""
    if index and not piece:
        yield "\n"
    for line in part():
        yield line + "\n"


def write_text(out: BinaryIO, pieces: Iterable[str]) -> None:
    """UTF-8 to `out` in batches of about 1 MiB, never holding the whole text."""
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH_BYTES:
            out.write("".join(batch).encode("utf-8"))
            batch, size = [], 0
    out.write("".join(batch).encode("utf-8"))


class SpooledPart:
    """A part that may be made already, into a file (cockpit.commands.export_early): the
    bytes part_lines gives for it at any index but the first ("\n", then each line with its
    end). made_file() is that file, or None when the part is to be made by calling it (as
    any part: its lines, without line ends)."""

    def made_file(self) -> BinaryIO | None:
        raise NotImplementedError

    def __call__(self) -> Iterable[str]:
        raise NotImplementedError


def _write_parts(out: BinaryIO, parts: Sequence[Part], indexes: range) -> None:
    for index in indexes:
        part = parts[index]
        made = part.made_file() if index and isinstance(part, SpooledPart) else None
        if made is not None:
            _copy(made, out)
        else:
            write_text(out, part_lines(index, part))


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    source.seek(0)
    shutil.copyfileobj(source, out, _BATCH_BYTES)


class _Queue:
    """The pieces not yet taken, [front, back), in a shared file: this process takes from the
    front, the child from the back, each under a POSIX record lock (per process, unlike
    flock on a shared descriptor; released when its holder dies)."""

    _FORMAT = struct.Struct("<qq")

    def __init__(self, file: BinaryIO, count: int) -> None:
        self._fd = file.fileno()
        os.pwrite(self._fd, self._FORMAT.pack(0, count), 0)

    def take(self, *, from_back: bool) -> int | None:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            front, back = self._FORMAT.unpack(os.pread(self._fd, self._FORMAT.size, 0))
            if front >= back:
                return None
            if from_back:
                back -= 1
                taken = back
            else:
                taken = front
                front += 1
            os.pwrite(self._fd, self._FORMAT.pack(front, back), 0)
            return taken
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)


def fork_child() -> int:
    """os.fork, with the child in a process group of its own that cockpit.children ends
    when this process ends (exit, SIGHUP, SIGTERM), as every process cockpit starts: 0 in the
    child, its pid here. Raises OSError when no fork is possible."""
    from cockpit import children

    pid = os.fork()
    if pid == 0:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        return 0
    with contextlib.suppress(OSError):  # here too: whichever of the two runs first
        os.setpgid(pid, pid)
    children.started(pid)
    return pid


def reap_child(pid: int, *, kill: bool = False) -> int:
    """Wait for a child of fork_child (SIGKILLed first with `kill`); its wait status."""
    from cockpit import children

    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        children.ended(pid)
    return status


_Item = tuple[int, int, Part]
"""(part index, piece index, piece): one item of work on the shared queue."""


def _item_lines(item: _Item) -> Iterator[str]:
    index, piece, part = item
    return part_lines(index, part, piece)


def _child(spool: BinaryIO, made: BinaryIO, queue: _Queue, items: Sequence[_Item]) -> None:
    """In the forked child: take items from the back into `spool` until none is left, note
    where each one is in `made`, then leave without returning."""
    code = 1
    try:
        where: list[tuple[int, int, int]] = []
        while (taken := queue.take(from_back=True)) is not None:
            start = spool.tell()
            write_text(spool, _item_lines(items[taken]))
            where.append((taken, start, spool.tell()))
        spool.flush()
        made.write(marshal.dumps(where))
        made.flush()
        code = 0
    finally:
        os._exit(code)


def _items(parts: Sequence[Part], timeline_index: int) -> tuple[list[_Item], int]:
    """The work to share: every part before the timeline, the timeline's pieces, and, when
    none of them was made in advance (SpooledPart), the parts after it; and the index of the
    first part not shared (written after the shared ones)."""
    shared = len(parts)
    if any(isinstance(part, SpooledPart) for part in parts[timeline_index + 1 :]):
        shared = timeline_index + 1
    items: list[_Item] = []
    for index in range(shared):
        part = parts[index]
        pieces = getattr(part, "pieces", None) if index == timeline_index else None
        if callable(pieces):
            items.extend((index, number, piece) for number, piece in enumerate(pieces()))
        else:
            items.append((index, 0, part))
    return items, shared


def write_review(
    out: BinaryIO, parts: Sequence[Part], timeline_index: int, *, entries: int
) -> None:
    """The whole review to `out`: on two cores for a log of PARALLEL_FROM_ENTRIES entries or
    more where a fork is possible, else one part after another. The same bytes either way."""
    if entries >= PARALLEL_FROM_ENTRIES and write_parallel(out, parts, timeline_index):
        return
    _write_parts(out, parts, range(len(parts)))


def write_parallel(out: BinaryIO, parts: Sequence[Part], timeline_index: int) -> bool:
    """Write every part to `out`, sharing the work with a forked child; False (and nothing
    written) where a fork is not possible here (see the module docstring)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    items, after = _items(parts, timeline_index)
    with contextlib.ExitStack() as files:
        spool, made, shared = (files.enter_context(tempfile.TemporaryFile()) for _ in range(3))
        queue = _Queue(shared, len(items))
        try:
            pid = fork_child()
        except OSError:
            return False
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            _child(spool, made, queue, items)
        try:
            front = 0
            while (taken := queue.take(from_back=False)) is not None:
                write_text(out, _item_lines(items[taken]))
                front = taken + 1
            status = reap_child(pid)
            pid = 0
            rest = range(front, len(items))
            where = _made_pieces(made, rest) if os.waitstatus_to_exitcode(status) == 0 else None
            if where is None:  # the child failed or was killed: make its items here
                for index in rest:
                    write_text(out, _item_lines(items[index]))
            else:
                for start, stop in where:
                    spool.seek(start)
                    out.write(spool.read(stop - start))
            _write_parts(out, parts, range(after, len(parts)))
        finally:
            if pid:
                reap_child(pid, kill=True)
    return True


def _made_pieces(made: BinaryIO, rest: range) -> list[tuple[int, int]] | None:
    """Where the child's pieces are in its spool, in order, when they are exactly `rest`."""
    made.seek(0)
    try:
        where = sorted(marshal.loads(made.read()))
    except (EOFError, ValueError, TypeError):
        return None
    if [index for index, _, _ in where] != list(rest):
        return None
    return [(start, stop) for _, start, stop in where]
