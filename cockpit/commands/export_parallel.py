"""Write a long review on two cores: the timeline made in a forked child beside the rest.

    write_review(out, parts, timeline_index, entries=len(entries))

The timeline of a long log is the biggest part of the review (about half of its time for
100,000 entries), and the parts are independent once the log is analysed (export_md's
markdown_parts does that before any part is made). So the child makes the timeline into an
unlinked temporary file while this process writes the parts before it to `out` and the parts
after it into a second temporary file; then the child's file and the second one are copied to
`out`, in order. The bytes are exactly those of writing the parts one after another.

Only where it is safe and worth it: a POSIX fork, no other thread in this process (a fork
copies only the calling thread, and a lock another thread held would stay locked in the
child), and a log of PARALLEL_FROM_ENTRIES entries or more. The child never returns into the
caller's code: it writes, flushes and leaves with os._exit, so no buffer, atexit handler or
context manager of this process runs twice. If the fork fails, nothing was written yet and
write_review writes the parts one after another; if the child fails or is killed, this
process makes the timeline itself; if this process is interrupted, the child is killed and
waited for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

PARALLEL_FROM_ENTRIES = 20_000
"""Below this many entries the whole review takes well under a second: not worth a fork."""
_BATCH_BYTES = 1 << 20

Part = Callable[[], Iterable[str]]


def part_lines(index: int, part: Part) -> Iterator[str]:
    """The text of part `index` with its line ends (an empty line before every part but the
    first), as markdown_lines joins them."""
    if index:
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


def _parts_text(parts: Sequence[Part], indexes: range) -> Iterator[str]:
    for index in indexes:
        yield from part_lines(index, parts[index])


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    source.seek(0)
    shutil.copyfileobj(source, out, _BATCH_BYTES)


def _child(spool: BinaryIO, index: int, part: Part) -> None:
    """In the forked child: make the part into `spool`, then leave without returning."""
    code = 1
    try:
        write_text(spool, part_lines(index, part))
        spool.flush()
        code = 0
    finally:
        os._exit(code)


def write_review(
    out: BinaryIO, parts: Sequence[Part], timeline_index: int, *, entries: int
) -> None:
    """The whole review to `out`: on two cores for a log of PARALLEL_FROM_ENTRIES entries or
    more where a fork is possible, else one part after another. The same bytes either way."""
    if entries >= PARALLEL_FROM_ENTRIES and write_parallel(out, parts, timeline_index):
        return
    write_text(out, _parts_text(parts, range(len(parts))))


def write_parallel(out: BinaryIO, parts: Sequence[Part], timeline_index: int) -> bool:
    """Write every part to `out`, the one at `timeline_index` made in a forked child; False
    (and nothing written) where a fork is not possible here (see the module docstring)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    with tempfile.TemporaryFile() as spool, tempfile.TemporaryFile() as tail:
        try:
            pid = os.fork()
        except OSError:
            return False
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            _child(spool, timeline_index, parts[timeline_index])
        try:
            write_text(out, _parts_text(parts, range(timeline_index)))
            write_text(tail, _parts_text(parts, range(timeline_index + 1, len(parts))))
            _, status = os.waitpid(pid, 0)
            pid = 0
            if os.waitstatus_to_exitcode(status) == 0:
                _copy(spool, out)
            else:  # the child failed or was killed: make the timeline here
                write_text(out, part_lines(timeline_index, parts[timeline_index]))
            _copy(tail, out)
        finally:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    return True
