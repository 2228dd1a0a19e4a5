"""A replay's probe pane: the latest probe entry per subject of one area (cockpit replay).

API:
    ProbeBoardPane(area, ascii_only=False, id=...)
    ProbeBoardPane.show_rows(rows, now): `rows` from cockpit.incident.replay.probe_board;
        `now` (incident time) ages them.

Columns: status (glyph and word), subject (and the resolver or server that answered), region,
when (UTC and how long before `now`), text (and how the replay judged a status the entry did
not carry).
Every string from the log is cleaned and shown as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from cockpit.compat import UTC
from cockpit.incident.replay import BoardRow
from cockpit.queue.history import format_age
from cockpit.ui.hidden_view import StatusTable, worst_first_rows
from cockpit.ui.pane_text import (
    StatusPane,
    fill_table,
    safe,
    short,
    status_css,
)

COLUMNS = ("status", "subject", "region", "when", "what the probe said")


class ProbeBoardPane(StatusPane):
    """The latest probe entries of one area; see the module docstring."""

    HIDDEN_NOUN = "subjects"

    DEFAULT_CSS = """
    ProbeBoardPane { height: 1fr; }
    ProbeBoardPane > DataTable { height: 1fr; }
    ProbeBoardPane > Static { height: auto; }
    """ + status_css("ProbeBoardPane")

    def __init__(
        self,
        area: str,
        *,
        ascii_only: bool = False,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(ascii_only=ascii_only, id=id)
        self.area = area
        self._shown: tuple[Sequence[BoardRow], datetime] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"no {self.area} probe entry yet"), id="board-note")
        yield StatusTable(id="board-table", cursor_type="row", fixed_columns=1)

    def redraw(self) -> None:
        if self._shown is not None:
            self.show_rows(*self._shown)

    def show_rows(self, rows: Sequence[BoardRow], now: datetime) -> None:
        self._shown = (rows, now)
        self.query_one("#board-note", Static).display = not rows
        fill_table(
            self.query_one(DataTable),
            [(column, Text(column)) for column in COLUMNS],
            worst_first_rows(
                [(row.key, self._cells(row, now)) for row in rows], ascii_only=self.ascii_only
            ),
        )
        self.refresh_hidden()

    @staticmethod
    def _said(row: BoardRow) -> str:
        """The entry's text; a status judged by the replay says how, first."""
        return f"({row.why}) {row.text}" if row.why else row.text

    def _cells(self, row: BoardRow, now: datetime) -> list[Text]:
        age = max((now - row.at).total_seconds(), 0.0)
        when = f"{row.at.astimezone(UTC):%H:%M:%S} ({format_age(age)})"
        return [
            self.status_cell(row.status),
            safe(short(row.name, 48, ascii_only=self.ascii_only)),
            safe(short(row.region or "", 16, ascii_only=self.ascii_only)),
            safe(when),
            safe(short(self._said(row), 160, ascii_only=self.ascii_only)),
        ]
