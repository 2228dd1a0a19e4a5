"""What a status table shows of itself, and a table that never shows a piece of a status word.

API:
    StatusTable: a DataTable whose status cells ("! warn ...") are shown whole or, where a
        column is cut (at the right edge, or under the pinned columns), as their glyph only;
        `on_view_change` is called when it scrolls.
    table_hidden(table, noun, ascii_only=...) -> Hidden | None: which rows and cells of the
        table are wholly on screen (its own scrolling and every clip by its containers), as a
        cockpit.hidden_rows.Hidden; None when the table is not on screen at all.
    worst_first_rows(rows, ascii_only=...): (key, cells) rows, worst status first, where a
        row's status is the worst of its status cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.errors import NoWidget
from textual.strip import Strip
from textual.widgets import DataTable

from cockpit.hidden_rows import Hidden, HiddenItem, status_cut, status_of_text, worst_first
from cockpit.model import Status, worst

K = TypeVar("K")


def _plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def _rest(plain: str, status: Status, ascii_only: bool) -> str:
    """A status cell's text after its label ("1/3 33%" of "! warn 1/3 33%")."""
    from cockpit.glyphs import glyph_set

    return plain[len(glyph_set(ascii_only).label(status)) :].strip()


def row_status(cells: Sequence[object], *, ascii_only: bool = False) -> Status | None:
    """The worst status among a row's cells; None when no cell has one."""
    statuses = [status_of_text(_plain(cell), ascii_only=ascii_only) for cell in cells]
    found = [status for status in statuses if status is not None]
    return worst(found) if found else None


def worst_first_rows(
    rows: Sequence[tuple[K, Sequence[Text]]], *, ascii_only: bool = False
) -> list[tuple[K, Sequence[Text]]]:
    """Rows ordered worst first (stable): a row without a status cell counts as ok."""
    return worst_first(rows, lambda row: row_status(row[1], ascii_only=ascii_only) or Status.OK)


class StatusTable(DataTable[Text]):
    """A DataTable that shows a status word whole or its glyph alone; see the module
    docstring. The table's own rendering is kept; only a cut label is redrawn."""

    ascii_only = False
    on_view_change: Callable[[], None] | None = None

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        if self.on_view_change is not None:
            self.on_view_change()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.on_view_change is not None:
            self.on_view_change()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        strip = super()._render_line(y, x1, x2, base_style)
        try:
            row_key, _ = self._get_offsets(y)
        except LookupError:
            return strip
        if row_key is self._header_row_key or row_key.value is None:
            return strip
        width = strip.cell_length
        pad = self.cell_padding
        fixed = self.ordered_columns[: self.fixed_columns]
        fixed_width = sum(column.get_render_width(self) for column in fixed)
        start = 0
        for index, column in enumerate(self.ordered_columns):
            column_width = column.get_render_width(self)
            pinned = index < self.fixed_columns
            screen_x = start if pinned else start - x1
            start += column_width
            low = 0 if pinned else fixed_width
            shown_from, shown_to = max(low, screen_x), min(width, screen_x + column_width)
            if shown_from <= screen_x and shown_to >= screen_x + column_width:
                continue  # the whole cell is in view
            if shown_from >= shown_to:
                continue
            try:
                plain = _plain(self.get_cell(row_key, column.key))
            except Exception:  # noqa: BLE001 - a row being replaced: draw what there is
                continue
            label_x = screen_x + pad
            cut = status_cut(
                plain, shown_from - label_x, shown_to - label_x, ascii_only=self.ascii_only
            )
            if cut is None:
                continue
            offset, replacement = cut
            left = label_x + offset
            right = left + len(replacement)
            middle = strip.crop(left, right)
            style = next((seg.style for seg in middle if seg.style is not None), None)
            strip = Strip.join(
                [strip.crop(0, left), Strip([Segment(replacement, style)]), strip.crop(right)]
            )
        return strip


def table_hidden(table: DataTable[Any], noun: str, *, ascii_only: bool = False) -> Hidden | None:
    """Which rows and cells of `table` are wholly on screen; see the module docstring."""
    if not table.display or not table.is_mounted:
        return None
    try:
        clip = table.screen.find_widget(table).visible_region
    except (NoWidget, Exception):  # noqa: BLE001 - not laid out yet or not on this screen
        return None
    rows = table.ordered_rows
    columns = table.ordered_columns
    if not rows or not columns:
        return Hidden(noun=noun, shown=0, total=0)
    view = table.scrollable_content_region.intersection(clip)
    region = table.region
    scroll_x, scroll_y = table.scroll_offset
    header = table.header_height if table.show_header else 0
    top = max(view.y, region.y + header)
    bottom = view.y + view.height
    row_shown: list[bool] = []
    virtual_y = 0
    for row in rows:
        screen_y = region.y + header + virtual_y - scroll_y
        virtual_y += row.height
        row_shown.append(view.height > 0 and screen_y >= top and screen_y + row.height <= bottom)
    fixed_width = sum(c.get_render_width(table) for c in columns[: table.fixed_columns])
    column_shown: list[bool] = []
    start = 0
    for index, column in enumerate(columns):
        width = column.get_render_width(table)
        pinned = index < table.fixed_columns
        screen_x = region.x + (start if pinned else start - scroll_x)
        start += width
        low = view.x if pinned else max(view.x, region.x + fixed_width)
        # Its text in view is enough: the padding either side may be cut.
        text_from, text_to = screen_x + table.cell_padding, screen_x + width - table.cell_padding
        column_shown.append(view.width > 0 and text_from >= low and text_to <= view.x + view.width)
    items: list[HiddenItem] = []
    for row, shown in zip(rows, row_shown, strict=True):
        cells = [_plain(cell) for cell in table.get_row(row.key)]
        statuses = [status_of_text(cell, ascii_only=ascii_only) for cell in cells]
        label = next((c for c, s in zip(cells, statuses, strict=True) if s is None and c), "")
        hidden_cells = [
            (cell, status, column)
            for cell, status, column, column_in_view in zip(
                cells, statuses, columns, column_shown, strict=True
            )
            if status is not None and not (shown and column_in_view)
        ]
        if not hidden_cells:
            continue
        if not shown:  # the whole row: its worst cell speaks for it
            status = worst([status for _, status, _ in hidden_cells])
            cell = next(c for c, s, _ in hidden_cells if s is status)
            items.append(HiddenItem(status, f"{label} {_rest(cell, status, ascii_only)}".strip()))
            continue
        for cell, status, column in hidden_cells:
            where = f"{label} {_plain(column.label)}".strip()
            items.append(HiddenItem(status, f"{where} {_rest(cell, status, ascii_only)}".strip()))
    columns_in_view = sum(column_shown)
    return Hidden(
        noun=noun,
        shown=sum(row_shown),
        total=len(rows),
        items=tuple(items),
        columns_shown=columns_in_view if columns_in_view < len(columns) else None,
        columns_total=len(columns) if columns_in_view < len(columns) else None,
    )
