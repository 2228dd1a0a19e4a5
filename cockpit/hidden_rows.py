"""What a pane hides when it is too small, said in one line, and rows ordered worst first.

Pure (no textual): the panes tell which of their rows and cells are on screen; this module
says what that hides.

API:
    worst_first(items, status_of) -> list: stable sort, the worst status first (fail, warn,
        unknown, ok: Status.severity), the given order kept within a status.
    status_of_text(text, ascii_only=...) -> Status | None: the status a cell's text starts with.
    HiddenItem(status, subject): one row or cell that is not (wholly) on screen.
    Hidden(noun, shown, total, items): what one pane hides; `worst` is the worst hidden item.
    merge(hiddens) -> Hidden | None: the summaries of the widgets in one pane, as one.
    summary_text(hidden, width, ascii_only=...) -> str: the longest of a few wordings that fits
        `width` ("2 of 14 records shown, worst: ! warn MX @ 1/3 33%" ... "2/14 !"); the status
        word is whole or left out (the glyph stays), and the subject is what gives way first.
    status_cut(text, visible_from, visible_to, ascii_only=...) -> tuple[int, str] | None:
        how to show a cell's visible part when it cuts a status word: the glyph alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cockpit.glyphs import glyph_set
from cockpit.model import Status, worst

T = TypeVar("T")


def worst_first(items: Iterable[T], status_of: Callable[[T], Status]) -> list[T]:
    """`items` with the worst status first; equal statuses keep their order (sorted is
    stable)."""
    return sorted(items, key=lambda item: -status_of(item).severity)


@dataclass(frozen=True, slots=True)
class HiddenItem:
    """A row or a cell that is not wholly on screen."""

    status: Status
    subject: str
    """What it is about, for the summary ("MX @ at Quad9"); already cleaned."""


@dataclass(frozen=True, slots=True)
class Hidden:
    """What one pane (or one table in it) hides."""

    noun: str
    """What its rows are ("records", "sources", "regions", "canaries")."""
    shown: int
    """Rows wholly on screen."""
    total: int
    items: tuple[HiddenItem, ...] = field(default=())
    """Every row or cell not wholly on screen, in the pane's order."""
    columns_shown: int | None = None
    """Data columns wholly on screen, when some are cut (None: all shown)."""
    columns_total: int | None = None

    @property
    def worst(self) -> HiddenItem | None:
        """The first hidden item of the worst status."""
        if not self.items:
            return None
        status = worst([item.status for item in self.items])
        return next(item for item in self.items if item.status is status)

    @property
    def anything(self) -> bool:
        return bool(self.items) or self.shown < self.total


def merge(hiddens: Sequence[Hidden]) -> Hidden | None:
    """One summary for several widgets of a pane (the auth table and the canary lines);
    None when none hides anything."""
    hiding = [hidden for hidden in hiddens if hidden.anything]
    if not hiding:
        return None
    if len(hiding) == 1:
        return hiding[0]
    return Hidden(
        noun="rows",
        shown=sum(hidden.shown for hidden in hiddens),
        total=sum(hidden.total for hidden in hiddens),
        items=tuple(item for hidden in hiddens for item in hidden.items),
    )


def status_of_text(text: str, *, ascii_only: bool = False) -> Status | None:
    """The status whose label ("! warn") `text` starts with, if any."""
    for status, mark in glyph_set(ascii_only).status.items():
        if text == mark.label or text.startswith(mark.label + " "):
            return status
    return None


SUBJECT_MIN_CHARS = 8
"""A subject cut shorter than this says too little: a shorter wording is taken instead."""


def _fit(text: str, width: int, ellipsis: str) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - len(ellipsis))].rstrip() + ellipsis


def summary_text(hidden: Hidden, width: int, *, ascii_only: bool = False) -> str:
    """The hidden rows in `width` characters at most; see the module docstring.

    The count and the worst status come first, then the worst item's subject (cut with an
    ellipsis if need be). Narrower wordings drop words, never the glyph. When every row is
    shown but columns are cut, the count is of columns."""
    glyphs = glyph_set(ascii_only)
    if hidden.shown < hidden.total or hidden.columns_total is None:
        shown, total, noun = hidden.shown, hidden.total, hidden.noun
    else:
        shown, total, noun = hidden.columns_shown or 0, hidden.columns_total, "columns"
    counts = [f"{shown} of {total} {noun} shown", f"{shown}/{total} {noun}", f"{shown}/{total}"]
    item = hidden.worst
    if item is None:
        return next((count for count in counts if len(count) <= width), "")
    mark = glyphs.mark(item.status)
    heads = [
        f"{counts[0]}, worst: {mark.label}",
        f"{counts[1]}, worst: {mark.label}",
        f"{counts[2]} {mark.label}",
    ]
    subject = item.subject
    if subject:
        for head in heads:
            if len(head) + 1 + min(len(subject), SUBJECT_MIN_CHARS) <= width:
                return _fit(f"{head} {subject}", width, glyphs.ellipsis)
    fallbacks = [*heads, f"{counts[2]} {mark.glyph}", mark.glyph]
    return next((text for text in fallbacks if len(text) <= width), "")


def status_cut(
    text: str, visible_from: int, visible_to: int, *, ascii_only: bool = False
) -> tuple[int, str] | None:
    """A cell whose text starts with a status label ("! warn ...") is seen only from
    character `visible_from` to `visible_to` (end excluded): when that cuts the label, the
    replacement for the label's visible part: (its first visible index, the glyph then
    spaces). None when the label is whole, wholly out of view, or there is none."""
    glyphs = glyph_set(ascii_only)
    label = next((m.label for m in glyphs.status.values() if text.startswith(m.label)), None)
    if label is None:
        return None
    start, end = max(0, visible_from), min(len(label), visible_to)
    if start >= end or (start == 0 and end == len(label)):
        return None
    glyph = next(m.glyph for m in glyphs.status.values() if m.label == label)
    return start, (glyph + " " * (end - start - 1))
