"""ASCII mode for what Textual draws itself: scrollbars, loading dots, the palette's icon.

`--ascii` (or a non-UTF-8 locale) must leave no box-drawing or block glyph on screen. Borders
(the panes', the dialogs', their fields' and buttons', the palette's and the toasts') are set in
cockpit.tcss and our glyphs come from cockpit.glyphs; Textual's scrollbars draw partial blocks
(▁ ▂ ... ▉) at the thumb's ends, so in ASCII mode the thumb is drawn in reverse video with
spaces only. `asciify(screen)` swaps the glyphs that are content rather than borders (the
palette's magnifier and ellipsis, a Select's arrows): CockpitShell calls it for every screen
pushed, and shows `AsciiLoadingIndicator` (words, no dots) over a widget that is loading.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import LoadingIndicator


class AsciiScrollBarRender(ScrollBarRender):
    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


def use_ascii_scrollbars(ascii_only: bool) -> None:
    """Scrollbars draw with spaces (ascii_only) or Textual's blocks. The setting is per process:
    each app sets it when it is made, so one app's mode never carries over to the next."""
    ScrollBar.renderer = AsciiScrollBarRender if ascii_only else ScrollBarRender


def asciify(screen: Screen[object]) -> None:
    """What CSS cannot reach on `screen` (a glyph that is content, not a border), once it is
    composed: the command palette's magnifier and a Select's arrows."""
    from textual.command import SearchIcon
    from textual.widgets import Input, Static

    def swap() -> None:
        for icon in screen.query(SearchIcon):
            icon.icon = ">"  # a var, not a reactive: refreshed by hand
            icon.refresh()
        for field in screen.query(Input):
            if not field.placeholder.isascii():  # the palette's "Search for commands…"
                field.placeholder = field.placeholder.replace("\u2026", "...")
        for arrow in screen.query(".down-arrow").results(Static):
            arrow.update("v")
        for arrow in screen.query(".up-arrow").results(Static):
            arrow.update("^")

    screen.call_after_refresh(swap)


class AsciiLoadingIndicator(LoadingIndicator):
    """Textual's loading indicator draws dots ("●"); in ASCII mode it says so in words."""

    def render(self) -> RenderResult:
        return Text("loading...")
