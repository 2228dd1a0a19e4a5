"""The one place that makes untrusted text safe to show or export.

DNS answers, HTTP headers, SMTP banners, command output and notes typed by other people can
carry terminal escape sequences, invisible characters that reorder or hide text, and Markdown
that turns into links or HTML. Everything that shows such text goes through this module.

What `clean` does to each class of character (everything not listed is kept as it is):

    class                                     single line (default)     multiline=True
    ---------------------------------------   -----------------------   ----------------
    "\\r\\n", "\\r", "\\n", U+0085, U+2028, U+2029   " ↵ " (one per break)     "\\n"
    "\\t"                                        " "                       " "
    other C0 controls U+0000-U+001F           Control Picture U+2400+code, e.g. ESC -> "␛"
    DEL U+007F                                "␡"
    C1 controls U+0080-U+009F (not U+0085)    U+FFFD
    lone surrogates U+D800-U+DFFF             U+FFFD
    format characters (category Cf): bidi     U+FFFD
      embeddings/overrides/isolates/marks,
      U+061C, zero width space U+200B, word
      joiner and invisible operators
      U+2060-U+2064, U+FEFF, soft hyphen
      U+00AD, U+180E, tag characters
      U+E0000-U+E007F, interlinear
      annotation U+FFF9-U+FFFB, ...
    ZWNJ U+200C and ZWJ U+200D                kept: emoji sequences (woman + ZWJ +
                                              laptop) and scripts such as Persian and
                                              Devanagari need them. They are invisible
                                              but cannot reorder or hide other text; two
                                              strings may still differ only by one.

Runs of spaces are kept (CommonMark keeps them in text too). Category Cf is the list in
`FORMAT_CHAR_RANGES` (Unicode 15.1; a test checks it covers the running Python's Unicode
database). No ESC, C1 control, bidi control or lone surrogate survives. Not changed on
purpose: other spaces (U+00A0, U+3000, ...), combining marks, private-use and unassigned code
points, and look-alike letters (homoglyphs are a display question, not an escaping one).
For a terminal, show `clean(text)` with markup off (Text/Content objects, markup=False).

`md_inline` and `md_cell` make text safe to place in one line of Markdown: they clean it,
strip surrounding whitespace and backslash-escape every ASCII punctuation character.
CommonMark guarantees that a backslash before any ASCII punctuation character shows that
character literally, so the text renders exactly as cleaned and can never become HTML, an
entity, a link or image (linkify included: `.`, `:`, `/` and `@` are escaped), emphasis,
code, a heading, list, quote, fence, thematic break, table cell split or typographic
replacement. The raw Markdown is less pretty ("mx1\\.example\\.net"); the rendered text is
exact.
"""

from __future__ import annotations

import re
import string
from typing import Any

__all__ = ["FORMAT_CHAR_RANGES", "LINE_BREAK_MARK", "clean", "md_cell", "md_inline"]

LINE_BREAK_MARK = " \u21b5 "
"""What a line break becomes in single-line text: " ↵ "."""

_KEPT_FORMAT_CHARS = frozenset({0x200C, 0x200D})
FORMAT_CHAR_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
"""Unicode category Cf (format characters) as of Unicode 15.1, written out so that import
stays fast and the result does not depend on the running Python's Unicode version."""
_NEWLINE_CODES = (0x0A, 0x0D, 0x85, 0x2028, 0x2029)


def _replaced_codes() -> dict[int, str]:
    """Every code point `clean` changes, mapped to its single-line replacement."""
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)
    table[0x09] = " "
    table[0x7F] = "\u2421"
    for code in range(0x80, 0xA0):
        table[code] = "\ufffd"
    for code in range(0xD800, 0xE000):
        table[code] = "\ufffd"
    for first, last in FORMAT_CHAR_RANGES:
        for code in range(first, last + 1):
            if code not in _KEPT_FORMAT_CHARS:
                table[code] = "\ufffd"
    for code in _NEWLINE_CODES:
        table[code] = LINE_BREAK_MARK
    return table


def _char_class(codes: list[int]) -> str:
    """A regex character class matching exactly `codes`, written as ranges."""
    parts: list[str] = []
    ordered = sorted(codes)
    start = prev = ordered[0]
    for code in ordered[1:] + [-1]:
        if code == prev + 1:
            prev = code
            continue
        first, last = chr(start), chr(prev)
        parts.append(re.escape(first) if start == prev else f"{re.escape(first)}-{re.escape(last)}")
        start = prev = code
    return "[" + "".join(parts) + "]"


_SINGLE_LINE_TABLE: dict[int, str] = _replaced_codes()
_MULTILINE_TABLE: dict[int, str] = {
    **_SINGLE_LINE_TABLE,
    **{code: "\n" for code in _NEWLINE_CODES},
}
_NEEDS_CLEAN = re.compile(_char_class(list(_SINGLE_LINE_TABLE)))

# Which ASCII punctuation a text holds, found in C: its UTF-8 bytes with everything else
# deleted (no byte of a multi-byte UTF-8 sequence is ASCII). Then one str.replace per character
# present, backslash first so the backslashes added later are not escaped again. Both steps
# run at C speed; per-character str.translate with such a table is about twice as slow.
_PUNCTUATION_BYTES = frozenset(string.punctuation.encode("ascii"))
_ALL_BUT_PUNCTUATION = bytes(b for b in range(256) if b not in _PUNCTUATION_BYTES)
_MD_ESCAPE_OF: dict[int, str] = {b: "\\" + chr(b) for b in _PUNCTUATION_BYTES}
_BACKSLASH = ord("\\")


def clean(text: Any, *, multiline: bool = False) -> str:
    """Make untrusted text safe to show: see the module docstring for each character class.

    Non-str input is passed through str() first. Text that needs no change is returned as is.
    """
    shown: str = text if isinstance(text, str) else str(text)
    # Every character we change is in a category str.isprintable() rejects (Cc, Cf, Cs, Zl,
    # Zp), and isprintable() is much faster than a regex search, so it is the fast path.
    if shown.isprintable() or _NEEDS_CLEAN.search(shown) is None:
        return shown
    if "\r" in shown:
        shown = shown.replace("\r\n", "\n")
    return shown.translate(_MULTILINE_TABLE if multiline else _SINGLE_LINE_TABLE)


def md_inline(text: Any) -> str:
    """Clean `text` to one line and escape it so Markdown shows it literally.

    Rendered by any CommonMark or GFM renderer, the result reads as `clean(text).strip()`
    and contains no HTML, link, image, emphasis, code or block structure.
    """
    cleaned = clean(text).strip()
    present = cleaned.encode("utf-8").translate(None, _ALL_BUT_PUNCTUATION)
    if not present:
        return cleaned
    codes = set(present)
    if _BACKSLASH in codes:
        cleaned = cleaned.replace("\\", "\\\\")
        codes.discard(_BACKSLASH)
    for code in codes:
        cleaned = cleaned.replace(chr(code), _MD_ESCAPE_OF[code])
    return cleaned


def md_cell(text: Any) -> str:
    """`md_inline` for a GFM table cell: every `|` is escaped, so the cell never splits.

    Empty (or all-whitespace) text gives "", which is a valid empty cell.
    """
    return md_inline(text)
