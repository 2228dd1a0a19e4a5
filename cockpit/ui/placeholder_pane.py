"""A pane that has nothing to show: its title and a plain note."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class PlaceholderPane(Static):
    """Shows "<title>: <note>" (such as "queue: no config")."""

    DEFAULT_CSS = """
    PlaceholderPane {
        color: $text-muted;
        padding: 0 1;
    }
    """

    def __init__(self, title: str, note: str, *, id: str | None = None) -> None:
        super().__init__(Text(f"{title}: {note}"), id=id)
        self.pane_title = title
        self.note = note
