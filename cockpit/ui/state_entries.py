"""The entries that make the incident's state (all but probe entries), kept up to date cheaply.

The header and the checklist are given the whole log after every read; on a 100,000-entry log
that is mostly probe entries, none of which changes a phase, a role, a target or a tick.
`StateEntries.update` looks only at what was appended since the previous list it was given
(the same list grown: its old last entry is still in place) and says whether anything that
makes the state came with it, so a pane recomputes only when it must.
"""

from __future__ import annotations

from collections.abc import Sequence

from cockpit.incident.entry import Entry

__all__ = ["StateEntries"]


class StateEntries:
    """The non-probe entries of the latest list given to `update`."""

    __slots__ = ("_last", "_seen", "entries")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._seen = 0
        self._last: Entry | None = None

    def update(self, entries: Sequence[Entry]) -> bool:
        """Take `entries` (the log so far); True when the state entries changed."""
        seen, last = self._seen, self._last
        grown = seen and len(entries) >= seen and entries[seen - 1] is last
        if grown:
            new = [entry for entry in entries[seen:] if entry.kind != "probe"]
            self.entries.extend(new)
            changed = bool(new)
        else:
            self.entries = [entry for entry in entries if entry.kind != "probe"]
            changed = True
        self._seen = len(entries)
        self._last = entries[-1] if entries else None
        return changed
