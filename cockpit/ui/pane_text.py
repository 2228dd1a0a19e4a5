"""Small helpers the probe panes share: status cells and safe cell text.

API:
    STATUS_COMPONENT_CLASSES: the component classes "status--ok", "status--warn",
        "status--fail", "status--unknown"; StatusPane lists them in COMPONENT_CLASSES, a pane
        styles them in CSS with $status-ok, $status-warn, $status-fail, $status-unknown.
    status_css(widget_type) -> str: the CSS rules for those component classes.
    status_style(widget, status) -> Style: the colour of `status` from the widget's CSS.
    status_text(status, ascii_only=..., style=..., extra="") -> Text: glyph AND word
        ("✓ ok", "X fail"), never colour alone, optionally followed by a short safe text.
    safe(value, style="") -> Text: untrusted text cleaned (cockpit.safe_text.clean), as a
        Text object, so markup in it is never interpreted.
    short(value, limit, ascii_only=...) -> str: cleaned, cut to `limit` characters with an
        ellipsis.
    fill_table(table, columns, rows) -> bool: show rows, updating only the cells that changed.
    StatusPane: the base of the panes with status cells; `status_cell(status, extra="")`.
    CellDetailPane: the base of the panes with a table and a detail line for the cursor's cell.

Never format untrusted text into a markup string: build Text objects with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellKey

from cockpit.glyphs import glyph_set
from cockpit.model import Status
from cockpit.safe_text import clean

STATUS_COMPONENT_CLASSES: frozenset[str] = frozenset(f"status--{status.value}" for status in Status)


def status_css(widget_type: str) -> str:
    """CSS colouring the status component classes of `widget_type` from the theme variables."""
    return "".join(
        f"{widget_type} > .status--{status.value} {{ color: $status-{status.value}; }}\n"
        for status in Status
    )


def status_style(widget: Widget, status: Status) -> Style:
    """The rich Style of the widget's `status--<status>` component class (its CSS colour)."""
    try:
        return widget.get_component_rich_style(f"status--{status.value}", partial=True)
    except Exception:  # noqa: BLE001 - not mounted yet, or no such variable: plain text
        return Style()


def safe(value: Any, style: str | Style = "") -> Text:
    """Untrusted text as a Text object (cleaned, never parsed as markup)."""
    return Text(clean(value), style=style, no_wrap=True)


def short(value: Any, limit: int = 24, *, ascii_only: bool = False) -> str:
    """Cleaned, one line, at most `limit` characters (an ellipsis marks a cut)."""
    text = clean(value)
    if len(text) <= limit:
        return text
    ellipsis = glyph_set(ascii_only).ellipsis
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def status_text(
    status: Status,
    *,
    ascii_only: bool = False,
    style: str | Style = "",
    extra: str = "",
) -> Text:
    """Glyph and word of `status` (plus an optional cleaned `extra`), in `style`."""
    label = glyph_set(ascii_only).label(status)
    text = Text(label, style=style, no_wrap=True)
    if extra:
        text.append(" ")
        text.append(clean(extra))
    return text


class StatusPane(Widget):
    """A pane whose cells carry status colours from the theme.

    The colours are baked into the cells when they are drawn, so a theme change draws the
    last data again through `redraw`. (Textual calls `on_mount` of every class in the MRO:
    a subclass adds its own without calling this one.) Textual merges COMPONENT_CLASSES from
    the base classes, so a subclass inherits the status classes; it styles them in its own
    DEFAULT_CSS with `status_css`.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set(STATUS_COMPONENT_CLASSES)

    def __init__(
        self,
        *,
        ascii_only: bool = False,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.ascii_only = ascii_only

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def status_cell(self, status: Status, extra: str = "") -> Text:
        """`status_text` of `status` in this pane's colour for it (see `status_style`)."""
        return status_text(
            status, ascii_only=self.ascii_only, style=status_style(self, status), extra=extra
        )

    def _restyle(self, _theme: object) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the data last shown again; nothing when nothing was shown yet."""


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


def fill_table(
    table: DataTable[Text],
    columns: Sequence[tuple[str, Text]],
    rows: Sequence[tuple[str, Sequence[Text]]],
) -> bool:
    """Show `rows` under `columns` (each a (key, ...) pair), touching only what changed.

    When the column keys and labels and the row keys are those already shown, only cells whose
    text or style changed are updated: an unchanged table costs nothing on screen, which
    matters over SSH at a refresh every few seconds. Otherwise the table is rebuilt. Returns
    True when it was rebuilt (the caller then restores the cursor).
    """
    column_keys = [key for key, _ in columns]
    shown_columns = [column.key.value for column in table.ordered_columns]
    shown_labels = [column.label for column in table.ordered_columns]
    shown_rows = [row.key.value for row in table.ordered_rows]
    same_shape = (
        shown_columns == column_keys
        and all(
            _same(a, b) for a, b in zip(shown_labels, (label for _, label in columns), strict=True)
        )
        and shown_rows == [key for key, _ in rows]
    )
    if same_shape:
        for row_key, cells in rows:
            for column_key, cell in zip(column_keys, cells, strict=True):
                current = table.get_cell(row_key, column_key)
                if not (isinstance(current, Text) and _same(current, cell)):
                    # Widening a column re-lays the whole table out: only when it must grow.
                    grows = cell.cell_len > table.columns[column_key].content_width
                    table.update_cell(row_key, column_key, cell, update_width=grows)
        return False
    table.clear(columns=True)
    for key, label in columns:
        table.add_column(label, key=key)
    for row_key, cells in rows:
        table.add_row(*cells, key=row_key)
    return True


class CellDetailPane(StatusPane):
    """A status table with a detail line for the cell under the cursor (DNS and auth panes).

    A subclass composes a DataTable with id TABLE_ID and a Static with id DETAIL_ID, shows its
    data with `show_rows` and says what a cell's detail is in `detail_for`. The detail is
    redrawn only when its text changes, and a new set of rows keeps the cursor where it was.
    """

    TABLE_ID: ClassVar[str]
    DETAIL_ID: ClassVar[str]
    DETAIL_HINT: ClassVar[str]

    _detail_plain: str | None = None

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.TABLE_ID}", DataTable)

    @property
    def detail(self) -> Static:
        return self.query_one(f"#{self.DETAIL_ID}", Static)

    def detail_for(self, cell_key: CellKey) -> Text | None:
        """The detail of one cell; None leaves the detail line as it is."""
        raise NotImplementedError

    def show_rows(
        self,
        columns: Sequence[tuple[str, Text]],
        rows: Sequence[tuple[str, Sequence[Text]]],
    ) -> None:
        """`fill_table`, then the cursor where it was and the detail of its cell."""
        selected = self.table.cursor_coordinate
        rebuilt = fill_table(self.table, columns, rows)
        # Same rows and columns: the cursor stayed, only its cell's detail may have changed.
        self._keep_selection(selected, move=rebuilt)

    def _keep_selection(self, selected: Coordinate, *, move: bool) -> None:
        table = self.table
        if not table.is_valid_coordinate(selected):
            self._show_detail_text(Text(self.DETAIL_HINT))
            return
        if move:
            table.move_cursor(row=selected.row, column=selected.column, scroll=False)
        self._show_cell(table.coordinate_to_cell_key(selected))

    def _show_cell(self, cell_key: CellKey) -> None:
        text = self.detail_for(cell_key)
        if text is not None:
            self._show_detail_text(text)

    def _show_detail_text(self, text: Text) -> None:
        """Show `text` under the table, unless it is what is shown already (no repaint)."""
        if text.plain != self._detail_plain:
            self._detail_plain = text.plain
            self.detail.update(text)

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._show_cell(event.cell_key)
