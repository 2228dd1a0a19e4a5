"""One list of a log's entries, read once and shared by everything in one process that needs it.

A cockpit needs the whole log in three places: the timeline and the panes derived from it,
every write that depends on what the log says (`IncidentLog.append_built`), and the probe
writer. Each used to read and keep its own copy: three parses and two or three copies of a
100,000-entry log. `SharedEntries` reads the file once, as it grows (a LogFollower with packed
probe data, cockpit.incident.packed_data), under a lock so that any thread may ask, and hands
out the same list to all:

    so_far = shared.read()            # read what is new (all of it, or about max_bytes)
    so_far.entries[:so_far.count]     # every entry read so far, in file order
    so_far.problems[seen:]            # every problem found since a reader last looked
    so_far.generation                 # changes when the file was replaced, cut or removed

The list only ever grows: a reader that remembers how far it got reads on from there, in any
thread. When the file is replaced by another one, truncated or removed, the follower starts
over and the entries go to a new list (the generation changes); whoever holds the old list
still has it, which is what lets a screen keep what it showed when the log loses entries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cockpit.incident.entry import Entry, LogProblem
from cockpit.incident.log_read import LogFollower

__all__ = ["MAX_PROBLEMS", "SharedEntries", "SoFar", "starts_over"]

MAX_PROBLEMS = 5000
"""Problems kept for readers to see; past that, one more says how many were left out."""


def starts_over(problem: LogProblem) -> bool:
    """A follower's problem that means it reads the file again from the start (replaced,
    truncated or removed): an error about the whole file, not about one of its lines."""
    return problem.severity == "error" and problem.line is None


@dataclass(frozen=True, slots=True)
class SoFar:
    """What one read left: see the module docstring."""

    entries: list[Entry]
    """The shared list of this generation: never change it; later reads may extend it."""
    count: int
    """How many of `entries` this read had (later reads may have added more since)."""
    problems: Sequence[LogProblem]
    """Every problem found so far by any reader, in order (shared, only ever extended)."""
    problem_count: int
    generation: int
    at_end: bool
    """This read went to the end of the file (not only about max_bytes of it)."""

    def snapshot(self) -> tuple[Entry, ...]:
        return tuple(self.entries[: self.count])


class SharedEntries:
    """The entries of the log at `path`, read once per process (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._follower = LogFollower(self.path, packed=True)
        self._entries: list[Entry] = []
        self._problems: list[LogProblem] = []
        self._problems_left_out = 0
        self._generation = 0

    def read(self, max_bytes: int | None = None) -> SoFar:
        """Read what was appended since the last read (by anyone), at most about `max_bytes`
        of it when given. Raises IncidentLogError when the file cannot be read; what was read
        before stays."""
        with self._lock:
            result = self._follower.poll(max_bytes)
            if any(starts_over(problem) for problem in result.problems):
                self._entries = []
                self._generation += 1
            self._entries.extend(result.entries)
            self._keep(result.problems)
            return SoFar(
                self._entries,
                len(self._entries),
                self._problems,
                len(self._problems),
                self._generation,
                self._follower.at_end,
            )

    def _keep(self, problems: list[LogProblem]) -> None:
        room = MAX_PROBLEMS - len(self._problems)
        if len(problems) <= room:
            self._problems.extend(problems)
            return
        first_overflow = self._problems_left_out == 0
        self._problems.extend(problems[: max(room, 0)])
        self._problems_left_out += len(problems) - max(room, 0)
        if first_overflow:
            self._problems.append(
                LogProblem(
                    "warning",
                    f"more than {MAX_PROBLEMS} problems in the log: the others are not listed "
                    "here; cockpit export lists them all",
                )
            )
