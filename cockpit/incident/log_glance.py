"""Quick looks at a big incident log, for a screen that must be useful before it has read it all.

Reading and checking every line of a 100,000-entry log takes seconds. A screen opening it
wants, at once:

- `read_tail`: the last entries, read from the end of the file backwards, to show first;
- `read_state_entries`: every entry that makes the incident's state (phases, decisions,
  roles, severity, title, checklist ticks, notes: everything but `probe` entries), found by a
  pass that recognises cockpit's own probe lines by their first bytes and parses only the
  others. No header field and no checklist step depends on a probe entry
  (phases.summarize even leaves them out when it looks for the first person to write), so
  these entries give the true header and checklist in a fraction of the time.

Neither is the authority on the file: damaged lines are skipped without a word and seqs are not
checked. The full read (LogFollower, log_so_far.SharedEntries) follows and reports every
problem; what it finds replaces what these gave.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cockpit.errors import IncidentLogError
from cockpit.incident.entry import Entry, entry_from_line
from cockpit.incident.log_read import error_reason, open_for_reading, read_error, scan_lines

__all__ = ["StateGlance", "read_state_entries", "read_tail"]

PAUSE_LINES = 2048
TAIL_BLOCK_BYTES = 256 * 1024
TAIL_MAX_BYTES = 16 * 1024 * 1024
"""The most read_tail reads from the end (a few very long lines end it early)."""

# The start of a line cockpit writes for a probe entry (Entry.to_json_line: seq, ts, author,
# origin, kind in that order). Strings with escapes and nested objects in the origin do not
# match: such a line is parsed, which is always safe. A match pins the top-level "kind".
_PROBE_LINE = re.compile(
    rb'\{"seq":\d+,"ts":"[^"\\]*","author":"[^"\\]*","origin":\{[^{}\\]*\},"kind":"probe",'
)


@dataclass(frozen=True, slots=True)
class StateGlance:
    entries: list[Entry]
    """Every entry but the probe entries, in file order."""
    lines: int
    """Complete lines seen (probe lines included)."""


def _open(path: Path) -> int | None:
    """A descriptor for reading `path`; None when there is no log (yet)."""
    try:
        return open_for_reading(path)
    except IncidentLogError:
        if not path.exists() and not path.is_symlink():
            return None
        raise


def read_tail(path: str | os.PathLike[str], count: int) -> list[Entry]:
    """The last `count` complete entries of the log, oldest first (fewer when it has fewer,
    or when damaged lines among the last ones leave fewer in what was read from the end).

    Their `line` is 0: counting lines would mean reading the whole file."""
    log_path = Path(path)
    fd = _open(log_path)
    if fd is None:
        return []
    try:
        end = os.fstat(fd).st_size
        start = end
        blocks: list[bytes] = []
        newlines = 0
        while start > 0 and newlines <= count and end - start < TAIL_MAX_BYTES:
            size = min(TAIL_BLOCK_BYTES, start)
            start -= size
            block = os.pread(fd, size, start)
            blocks.append(block)
            newlines += block.count(b"\n")
    except OSError as exc:
        raise read_error(log_path, error_reason(exc)) from exc
    finally:
        os.close(fd)
    lines = b"".join(reversed(blocks)).split(b"\n")
    lines.pop()  # after the last newline: nothing, or a line still being written
    if start > 0 and lines:
        lines.pop(0)  # the block began inside a line
    entries: list[Entry] = []
    for raw in reversed(lines):  # newest first: a damaged line does not take an entry's place
        if len(entries) >= count:
            break
        if raw:
            entry, _problems = entry_from_line(raw, 0)
            if entry is not None:
                entries.append(entry)
    entries.reverse()
    return entries


def read_state_entries(
    path: str | os.PathLike[str], pause: Callable[[], None] | None = None
) -> StateGlance:
    """Every entry of the log but its probe entries (see the module docstring). `pause` is
    called every PAUSE_LINES lines: a reader in a thread gives way to the screen there."""
    log_path = Path(path)
    fd = _open(log_path)
    if fd is None:
        return StateGlance([], 0)
    entries: list[Entry] = []
    is_probe = _PROBE_LINE.match

    def take(line_no: int, raw: bytes | None, _size: int) -> None:
        if pause is not None and line_no % PAUSE_LINES == 0:
            pause()
        if raw and is_probe(raw) is None:
            entry, _problems = entry_from_line(raw, line_no)
            if entry is not None and entry.kind != "probe":  # a probe line of another shape
                entries.append(entry)

    try:
        _offset, lines = scan_lines(fd, 0, os.fstat(fd).st_size, 0, take)
    except OSError as exc:
        raise read_error(log_path, error_reason(exc)) from exc
    finally:
        os.close(fd)
    return StateGlance(entries, lines)
