"""Small messages that workers and panes post; handlers in the app own the state changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from cockpit.incident.entry import Entry


@dataclass
class IncidentChanged(Message):
    """The log's entries so far, in seq order: the header and other panes derive from it.

    `complete` False: only the entries that make the header and the checklist (everything but
    probe entries), found by the quick first look at a big log (log_glance.read_state_entries);
    panes that need probe entries (the region strip, the probe runner) wait for the complete
    list. Only the latest state matters, so a queue of these collapses into one (a complete
    list never gives way to a partial one).
    """

    entries: Sequence[Entry]
    complete: bool = True

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IncidentChanged) and (self.complete or not message.complete)


@dataclass
class LogReadStatus(Message):
    """What the header shows instead of the incident's state while it is not known: "loading",
    "log unreadable"; None once the state is known."""

    status: str | None


@dataclass
class ExportFinished(Message):
    """The Markdown timeline was written (path) or could not be (error)."""

    path: Path
    error: str | None = None
