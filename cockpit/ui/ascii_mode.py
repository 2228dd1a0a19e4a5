"""ASCII mode for what Textual draws itself: scrollbars without block characters.

`--ascii` (or a non-UTF-8 locale) must leave no box-drawing or block glyph on screen. Borders
and our glyphs are handled in CSS and cockpit.glyphs; Textual's scrollbars draw partial
blocks (▁ ▂ ... ▉) at the thumb's ends, so in ASCII mode the thumb is drawn in reverse video
with spaces only.
"""

from __future__ import annotations

from typing import ClassVar

from textual.scrollbar import ScrollBar, ScrollBarRender


class AsciiScrollBarRender(ScrollBarRender):
    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


def use_ascii_scrollbars(ascii_only: bool) -> None:
    """Scrollbars draw with spaces (ascii_only) or Textual's blocks. The setting is per process:
    each app sets it when it is made, so one app's mode never carries over to the next."""
    ScrollBar.renderer = AsciiScrollBarRender if ascii_only else ScrollBarRender
