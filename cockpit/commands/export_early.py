"""The probe parts of a long log's review, made by a child forked before the log is read.

    early = start_probe_parts(log_path)  # None where it is not possible or not worth it
    try:
        result = log.read()
        parts, timeline = markdown_parts(..., make_probe_parts=early.parts)
        write_review(...)
    finally:
        early.close()

While this process reads a long log (about a second for 100,000 entries), the second core has
nothing to do. The child uses it: through the descriptor opened before the fork (so the same
file), up to the size the file had then, it parses only the lines that hold '"probe"' and makes
the "Probe evidence" part and the appendix from the probe entries, the same functions from
the same bytes as this process would use, into unlinked temporary files. It also writes the
(seq, line) of every probe entry it used.

This process takes those files only when they are exactly the parts it would make itself:
the child left with status 0, the log's path still names the file the child read, unchanged
since the fork (device, inode, size and modification time), and the probe entries of this
process's read are the child's, seq for seq and line for line. Any difference (a line
appended since the fork, a file rewritten in place, a fragment the reader set aside as torn,
a kind written with an escape that the child's filter missed) and the parts are made here,
as without the child. So the review is the same to the byte either way.

No fork where another thread runs (a fork copies only the calling thread), below
EARLY_FROM_BYTES, or without os.fork. The child never returns into the caller's code: it
leaves with os._exit. close() kills and reaps a child still at work (an interrupted export);
cockpit.children ends it when this process is ended (export_parallel.fork_child).
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from cockpit.commands.export_parallel import (
    SpooledPart,
    fork_child,
    part_lines,
    reap_child,
    write_text,
)
from cockpit.incident.entry import Entry, Origins, entry_from_line, fast_entry
from cockpit.incident.export_md import Part, probe_parts
from cockpit.incident.log_read import scan_lines

EARLY_FROM_BYTES = 4 << 20
"""A log this big (about 10,000 entries) or bigger gets the child; a smaller one's review
takes well under a second."""
_PART_INDEX = 1
"""The probe parts are never the review's first, so their bytes start with the empty line
that separates parts (export_parallel.part_lines)."""


def start_probe_parts(log_path: Path) -> EarlyProbeParts | None:
    """Fork the child that makes the probe parts of the log at `log_path`; None (and nothing
    started) where the log is small, is not a regular file, cannot be opened, or no fork is
    possible here. The caller's own read reports any problem with the log."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    try:
        fd = os.open(log_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < EARLY_FROM_BYTES:
            return None
        files = [tempfile.TemporaryFile() for _ in range(3)]
        try:
            pid = fork_child()
        except OSError:
            for file in files:
                file.close()
            return None
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            _child(fd, info.st_size, *files)
        return EarlyProbeParts(pid, log_path, _state(info), *files)
    finally:
        os.close(fd)


class EarlyProbeParts:
    """The child at work and the files it fills (see the module docstring)."""

    def __init__(
        self,
        pid: int,
        log_path: Path,
        state: tuple[int, int, int, int],
        keys: BinaryIO,
        probes: BinaryIO,
        appendix: BinaryIO,
    ) -> None:
        self._pid = pid
        self._log_path = log_path
        self._state = state
        self._keys = keys
        self._probes = probes
        self._appendix = appendix
        self._taken: bool | None = None
        """Whether the child's parts are the ones written (None: not yet decided)."""

    @property
    def taken(self) -> bool | None:
        """Whether the child's parts were the ones written (None: not decided yet)."""
        return self._taken

    def parts(self, ordered: Sequence[Entry]) -> tuple[Part, Part]:
        """The probe parts for `ordered` (this process's entries in seq order): the child's
        when, at the time they are written, they are exactly these entries' parts (so the
        child has the rest of the review's time to finish), else made here."""
        evidence, appendix = probe_parts(ordered)
        return (
            _EarlyPart(lambda: self._made(ordered, self._probes), evidence),
            _EarlyPart(lambda: self._made(ordered, self._appendix), appendix),
        )

    def _made(self, ordered: Sequence[Entry], file: BinaryIO) -> BinaryIO | None:
        if self._taken is None:
            self._taken = self._child_made(ordered)
        return file if self._taken else None

    def close(self) -> None:
        """Kill and reap the child if it is still at work; close the files."""
        if self._pid:
            with contextlib.suppress(ChildProcessError):
                reap_child(self._pid, kill=True)
            self._pid = 0
        for file in (self._keys, self._probes, self._appendix):
            file.close()

    def _child_made(self, ordered: Sequence[Entry]) -> bool:
        try:
            status = reap_child(self._pid)
        except ChildProcessError:  # not ours to wait for (never the case): do not kill it
            self._pid = 0
            return False
        self._pid = 0
        if os.waitstatus_to_exitcode(status) != 0:
            return False
        try:
            now = os.stat(self._log_path)
        except OSError:
            return False
        if _state(now) != self._state:  # replaced, or written to, since the fork
            return False
        self._keys.seek(0)
        try:
            theirs = marshal.loads(self._keys.read())
        except (EOFError, ValueError, TypeError):
            return False
        return theirs == _keys(e for e in ordered if e.kind == "probe")


class _EarlyPart(SpooledPart):
    """A probe part: the child's file when it is taken, else made here by `fallback`."""

    def __init__(self, made: Callable[[], BinaryIO | None], fallback: Part) -> None:
        self._made = made
        self._fallback = fallback

    def made_file(self) -> BinaryIO | None:
        return self._made()

    def __call__(self) -> Iterable[str]:
        file = self.made_file()
        if file is None:
            return self._fallback()
        file.seek(0)
        text = file.read().decode("utf-8")
        return text[1:-1].split("\n") if len(text) > 1 else ()


def _state(info: os.stat_result) -> tuple[int, int, int, int]:
    """Which file, and whether it changed: device, inode, size and modification time."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _keys(probes: Iterable[Entry]) -> list[tuple[int, int]]:
    return [(entry.seq, entry.line) for entry in probes]


def _child(fd: int, size: int, keys: BinaryIO, probes: BinaryIO, appendix: BinaryIO) -> None:
    """In the forked child: the probe entries of the first `size` bytes, their parts and
    their keys into the three files; then leave without returning."""
    code = 1
    try:
        gc.disable()  # a short life that frees nothing: the collector would only walk it
        found: list[Entry] = []
        names: dict[str, str] = {}
        origins: Origins = {}

        def take(line_no: int, raw: bytes | None, _size: int) -> None:
            if not raw or b'"probe"' not in raw:  # (the kind, however the line is spaced)
                return
            entry = fast_entry(raw, line_no, names, origins)
            if entry is None:
                entry, _ = entry_from_line(raw, line_no)
            if entry is not None and entry.kind == "probe":
                found.append(entry)

        scan_lines(fd, 0, size, 0, take)
        found.sort(key=lambda entry: entry.seq)
        evidence, appended = probe_parts(found)
        write_text(probes, part_lines(_PART_INDEX, evidence))
        write_text(appendix, part_lines(_PART_INDEX, appended))
        keys.write(marshal.dumps(_keys(found)))
        for file in (keys, probes, appendix):
            file.flush()
        code = 0
    finally:
        os._exit(code)
