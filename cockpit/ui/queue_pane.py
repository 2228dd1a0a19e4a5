"""The queue pane: one row per queue source, rendered from the histories handed to it.

API for the shell (call the show_ methods once the pane is mounted):
    QueuePane(ascii_only=False, id=...)
    QueuePane.show_histories(histories, now): `histories` is a sequence of
        (QueueSource, region name, QueueHistory); `now` (aware UTC) ages the readings.
        Call it after every reading and from the clock; it never does I/O.

Columns: status (glyph and word), source, region, depth, per-queue counts, history sparkline,
rate and drain estimate, oldest message age. A source whose latest read failed shows
"? unknown", the error, and its last good value with its age ("last good 1,234 (3 min ago)"),
dimmed; never 0. The worst source comes first; the status and the source stay in view while
the table scrolls sideways. Status colours come from the component classes
status--ok/warn/fail/unknown ($status-ok ... theme variables, which the app defines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from cockpit.config.model import QueueSource
from cockpit.glyphs import sparkline
from cockpit.queue.history import QueueHistory, format_count, format_duration
from cockpit.ui.hidden_view import StatusTable, worst_first_rows
from cockpit.ui.pane_text import (
    StatusPane,
    fill_table,
    safe,
    short,
    status_css,
)

SPARK_SAMPLES = 20
"""How many recent good samples the sparkline shows."""

COLUMNS = ("status", "source", "depth", "history", "rate", "oldest", "queues", "region")
"""Most telling first: at 80x24 the pane shows the status, the source and its depth, and the
table scrolls sideways to the rest."""

TWO_FIXED_COLUMNS_FROM = 24
"""From this pane width the source stays in view beside the status; below it, the status."""

QueueRow = tuple[QueueSource, str, QueueHistory]


class QueuePane(StatusPane):
    """Queue depth per source; see the module docstring."""

    DEFAULT_CSS = """
    QueuePane { height: auto; }
    QueuePane > DataTable { height: auto; max-height: 12; }
    """ + status_css("QueuePane")

    HIDDEN_NOUN = "sources"

    _shown: tuple[Sequence[QueueRow], datetime] | None = None

    def redraw(self) -> None:
        """Status colours are baked into the cells: draw them again in the new theme."""
        if self._shown is not None:
            self.show_histories(*self._shown)

    def compose(self) -> ComposeResult:
        # The status and the source stay in view while the rest scrolls by.
        table = StatusTable(
            id="queue-table", cursor_type="row", zebra_stripes=True, fixed_columns=2
        )
        for column in COLUMNS:
            # Text, as fill_table gives them: a str label is parsed as markup (and loads
            # Rich's emoji table before the first frame).
            table.add_column(Text(column), key=column)
        yield table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#queue-table", DataTable)

    def show_histories(self, histories: Sequence[QueueRow], now: datetime) -> None:
        self._shown = (histories, now)
        rows = [
            (f"q{index}", self.row_cells(source, region, history, now))
            for index, (source, region, history) in enumerate(histories)
        ]
        rows = worst_first_rows(rows, ascii_only=self.ascii_only)
        fill_table(self.table, [(key, Text(key)) for key in COLUMNS], rows)
        self.refresh_hidden()

    def on_resize(self) -> None:
        # In a narrow pane two pinned columns would leave the rest no room to scroll by.
        fixed = 2 if self.size.width >= TWO_FIXED_COLUMNS_FROM else 1
        if self.table.fixed_columns != fixed:
            self.table.fixed_columns = fixed
        self.refresh_hidden()

    def row_cells(
        self, source: QueueSource, region: str, history: QueueHistory, now: datetime
    ) -> list[Text]:
        """The cells of one source's row, in COLUMNS order."""
        state = history.state()
        good = history.latest_good
        spark = sparkline(
            history.recent_totals(SPARK_SAMPLES),
            ascii_only=self.ascii_only,
        )
        queues = (
            ", ".join(f"{format_count(n)} {q}" for q, n in good.by_queue.items() if n)
            if good is not None
            else ""
        )
        cells = {
            # An unreadable source's state is Status.UNKNOWN.
            "status": self.status_cell(state.status),
            "source": safe(short(source.name, 20, ascii_only=self.ascii_only)),
            "region": safe(short(region or "", 16, ascii_only=self.ascii_only)),
        }
        if not state.readable:
            dim = "dim"
            reason = state.reasons[0] if state.reasons else "no reading yet"
            cells |= {
                "depth": safe(history.last_good_text(now), dim),
                "queues": safe(short(queues, 30, ascii_only=self.ascii_only), dim),
                "history": safe(spark, dim),
                "rate": safe(short(reason, 40, ascii_only=self.ascii_only), dim),
                "oldest": safe("", dim),
            }
            return [cells[column] for column in COLUMNS]
        assert good is not None
        oldest = (
            format_duration(good.oldest_age_s).removeprefix("about ")
            if good.oldest_age_s is not None and good.total
            else ""
        )
        if good.total and good.oldest_age_s is None and good.age_error is not None:
            oldest = "unknown"  # the source tells ages, this read could not: never blank
        cells |= {
            "depth": safe(format_count(good.total)),
            "queues": safe(short(queues, 30, ascii_only=self.ascii_only)),
            "history": safe(spark),
            "rate": safe(history.trend().text),
            "oldest": safe(oldest),
        }
        return [cells[column] for column in COLUMNS]
