"""Messages the checklist pane and the decision form post for the app shell.

API (all are dataclass `Message`s; they bubble from the widget that posts them to the app):

- `LogAppended(appended, entries)`: a worker appended `appended` (in seq order) and then read
  the whole log back as `entries`. The poster has already refreshed itself; the app refreshes
  the other panes (timeline, metrics) from `entries`.
- `LogAppendFailed(reason)`: an append was refused or failed; `reason` is plain text meant for
  a notification (show it with markup off), shown once by the app. It names the write and says
  "not written": "decision not written: REASON; kept as a draft beside the log" (the draft part
  when typed text was kept, cockpit.ui.draft_keeper), "tick of step 3 (...) not written: ...",
  "phase routed not written: ...". A poster never notifies as well.
- `TargetChanged(region)`: a failover decision named `region` as the target; the app sets it
  everywhere at once (probe panes, checklist auto hints).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from cockpit.incident.entry import Entry

__all__ = ["LogAppendFailed", "LogAppended", "TargetChanged"]


@dataclass
class LogAppended(Message):
    """Entries were appended to the incident log."""

    appended: tuple[Entry, ...]
    entries: tuple[Entry, ...]
    """The whole log, read back after the append."""


@dataclass
class LogAppendFailed(Message):
    """An append was refused (e.g. an empty reason) or could not be written."""

    reason: str
    severity: str = "error"
    """"warning" when what was asked was written but something after it failed."""


@dataclass
class LogWriteWaiting(Message):
    """A write waits for the incident log's lock, held by another writer (`who`)."""

    who: str


@dataclass
class TargetChanged(Message):
    """The failover target region changed."""

    region: str
