"""Small messages that workers and panes post; handlers in the app own the state changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from cockpit.incident.entry import Entry, LogProblem


@dataclass
class LogPolled(Message):
    """What one poll of the incident log found (entries appended since the last poll)."""

    entries: Sequence[Entry]
    problems: Sequence[LogProblem]
    error: str | None = None
    """Why the log could not be read this time; the poll keeps going."""


@dataclass
class IncidentChanged(Message):
    """Every entry of the log so far, in seq order: the header and other panes derive from it.

    Only the latest state matters, so a queue of these collapses into one.
    """

    entries: Sequence[Entry]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IncidentChanged)


@dataclass
class ExportFinished(Message):
    """The Markdown timeline was written (path) or could not be (error)."""

    path: Path
    error: str | None = None
