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
        It says on its frame's bottom border what the frame cannot show (`refresh_hidden`,
        `hidden_now`, `summary_shown`): "2 of 14 records shown, worst: ! warn MX @ 1/3 33%".
    CellDetailPane: the base of the panes with a table and a detail line for the cursor's cell.

Never format untrusted text into a markup string: build Text objects with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from rich.style import Style
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellKey

from cockpit.glyphs import glyph_set
from cockpit.hidden_rows import Hidden, merge, summary_text
from cockpit.model import Status
from cockpit.safe_text import clean
from cockpit.ui.hidden_view import StatusTable, table_hidden, worst_first_rows

HIDDEN_CHECK_SECONDS = 1.0
"""How often a pane looks again at what its frame hides (a zoom, a resize or a scroll looks at
once; this catches a frame that changed size around a pane that did not)."""
_FRAME_SUMMARIES: WeakKeyDictionary[Widget, str] = WeakKeyDictionary()
"""The summary (and its colour) each frame shows on its bottom border, so that an unchanged
one is not drawn again."""

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
    HIDDEN_NOUN: ClassVar[str] = "rows"
    """What the pane's rows are, for the summary of hidden rows ("records")."""

    hidden: Hidden | None = None
    """What this pane showed of its rows when last looked at; None: not on screen."""
    summary_shown: str = ""
    """The hidden-rows summary its frame shows ("" when nothing is hidden)."""
    _hidden_pending = False

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
        for table in self.query(StatusTable):
            table.ascii_only = self.ascii_only
            table.on_view_change = self.refresh_hidden
        if not any(isinstance(a, Widget) and a.has_class("pane") for a in self.ancestors):
            return  # no frame to say it on (the region strip, a pane in a test)
        self.watch(self.screen, "maximized", self._view_changed, init=False)
        for ancestor in self.ancestors:
            if isinstance(ancestor, ScrollableContainer):
                self.watch(ancestor, "scroll_y", self._view_changed, init=False)
        self.set_interval(HIDDEN_CHECK_SECONDS, self.refresh_hidden)
        self.refresh_hidden()

    def on_resize(self) -> None:
        self.refresh_hidden()

    def _view_changed(self, _value: object) -> None:
        self.refresh_hidden()

    def refresh_hidden(self) -> None:
        """Look again, once the screen is laid out, at what the pane's frame hides."""
        if not self._hidden_pending:
            self._hidden_pending = True
            self.call_after_refresh(self._update_hidden)

    def hidden_now(self) -> Hidden | None:
        """What the pane shows of its rows now; None when it is not on screen. The panes
        with status tables need not override it."""
        found = [
            hidden
            for table in self.query(StatusTable)
            if (hidden := table_hidden(table, self.HIDDEN_NOUN, ascii_only=self.ascii_only))
            is not None
        ]
        if len(found) > 1:
            return merge(found)
        return found[0] if found else None

    def _update_hidden(self) -> None:
        self._hidden_pending = False
        if not self.is_mounted:
            return
        self.hidden = self.hidden_now()
        frame = next(
            (a for a in self.ancestors if isinstance(a, Widget) and a.has_class("pane")), None
        )
        if frame is None:  # no frame: the summary is there to read, nowhere to draw it
            self.summary_shown = self._summary_for([self.hidden], self.size.width)[0]
            return
        panes = [pane for pane in frame.query(StatusPane) if pane.hidden is not None]
        plain, text = self._summary_for([pane.hidden for pane in panes], frame.size.width - 4)
        for pane in panes:
            pane.summary_shown = plain
        shown = f"{plain}\0{text.style}"  # a new theme's colour is a change too
        if _FRAME_SUMMARIES.get(frame) != shown:
            _FRAME_SUMMARIES[frame] = shown
            frame.border_subtitle = text if plain else None

    def _summary_for(self, hiddens: Sequence[Hidden | None], width: int) -> tuple[str, Text]:
        merged = merge([hidden for hidden in hiddens if hidden is not None])
        if merged is None or not merged.anything:
            return "", Text("")
        plain = summary_text(merged, max(width, 1), ascii_only=self.ascii_only)
        item = merged.worst
        style = status_style(self, item.status) if item is not None else Style()
        return plain, Text(plain, style=style, no_wrap=True)

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
        """`fill_table` with the worst rows first, then the cursor on the cell it was on (its
        row may have moved) and the detail of that cell."""
        table = self.table
        selected = table.cursor_coordinate
        cell_key = (
            table.coordinate_to_cell_key(selected) if table.is_valid_coordinate(selected) else None
        )
        rows = worst_first_rows(rows, ascii_only=self.ascii_only)
        rebuilt = fill_table(table, columns, rows)
        if rebuilt and cell_key is not None:
            try:
                selected = Coordinate(
                    table.get_row_index(cell_key.row_key),
                    table.get_column_index(cell_key.column_key),
                )
            except Exception:  # noqa: BLE001 - that row or column is gone: keep the place
                pass
        # Same rows and columns: the cursor stayed, only its cell's detail may have changed.
        self._keep_selection(selected, move=rebuilt)
        self.refresh_hidden()

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
