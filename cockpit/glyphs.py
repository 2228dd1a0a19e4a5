"""Glyphs and words for every status, and the box and sparkline characters, in UTF-8 and ASCII.

Colour is never the only signal: each Status has a glyph *and* a word, so a monochrome or
NO_COLOR terminal loses nothing. When the terminal cannot show UTF-8 (a C/POSIX or Latin-1
locale, a stream with another encoding) or the user asks for `--ascii`, the ASCII set replaces
every glyph and box-drawing character with plain 7-bit characters of the same meaning.
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cockpit.model import Status


@dataclass(frozen=True, slots=True)
class StatusMark:
    """How one status is shown: a one-cell glyph and a word."""

    glyph: str
    word: str

    @property
    def label(self) -> str:
        """Glyph and word together, such as "✓ ok" or "+ ok"."""
        return f"{self.glyph} {self.word}"


@dataclass(frozen=True, slots=True)
class GlyphSet:
    """Every non-letter character the cockpit draws, in one character set."""

    name: str
    status: Mapping[Status, StatusMark]
    horizontal: str
    vertical: str
    top_left: str
    top_right: str
    bottom_left: str
    bottom_right: str
    sparkline: str
    """Characters from lowest to highest, for sparklines and bars."""
    ellipsis: str
    arrow: str
    bullet: str
    dash: str

    def mark(self, status: Status) -> StatusMark:
        return self.status[status]

    def label(self, status: Status) -> str:
        return self.status[status].label


UNICODE = GlyphSet(
    name="unicode",
    status=MappingProxyType(
        {
            Status.OK: StatusMark("✓", "ok"),
            Status.WARN: StatusMark("!", "warn"),
            Status.FAIL: StatusMark("✗", "fail"),
            Status.UNKNOWN: StatusMark("?", "unknown"),
        }
    ),
    horizontal="─",
    vertical="│",
    top_left="┌",
    top_right="┐",
    bottom_left="└",
    bottom_right="┘",
    sparkline="▁▂▃▄▅▆▇█",
    ellipsis="…",
    arrow="→",
    bullet="•",
    dash="—",
)

ASCII = GlyphSet(
    name="ascii",
    status=MappingProxyType(
        {
            Status.OK: StatusMark("+", "ok"),
            Status.WARN: StatusMark("!", "warn"),
            Status.FAIL: StatusMark("X", "fail"),
            Status.UNKNOWN: StatusMark("?", "unknown"),
        }
    ),
    horizontal="-",
    vertical="|",
    top_left="+",
    top_right="+",
    bottom_left="+",
    bottom_right="+",
    sparkline="_.-=+*#@",
    ellipsis="...",
    arrow="->",
    bullet="*",
    dash="-",
)


def glyph_set(ascii_only: bool) -> GlyphSet:
    return ASCII if ascii_only else UNICODE


def status_label(status: Status, *, ascii_only: bool = False) -> str:
    """The label for a status: "✓ ok" or "+ ok", "✗ fail" or "X fail", and so on."""
    return glyph_set(ascii_only).label(status)


def sparkline(values: Iterable[float], *, ascii_only: bool = False) -> str:
    """One character per value, scaled between the smallest and the largest value."""
    ramp = glyph_set(ascii_only).sparkline
    numbers = list(values)
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    if high == low:
        return ramp[0] * len(numbers)
    top = len(ramp) - 1
    return "".join(ramp[round((value - low) / (high - low) * top)] for value in numbers)


# Python coerces a C/POSIX locale to one of these (PEP 538) and writes it into LC_CTYPE, so in
# our own process LC_CTYPE may say UTF-8 while the user's terminal was set up as plain C.
_COERCED_LC_CTYPE = frozenset({"c.utf-8", "c.utf8", "utf-8"})


def _is_utf8_locale(value: str) -> bool:
    # "en_US.UTF-8", "C.utf8", "de_DE.UTF-8@euro"; "C", "POSIX" and "en_US.ISO-8859-1" are not.
    codeset = value.partition(".")[2].partition("@")[0].lower().replace("-", "").replace("_", "")
    if not codeset:
        codeset = value.lower().replace("-", "")  # a bare "UTF-8"
    return codeset == "utf8"


def _is_utf8_encoding(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def effective_locale(env: Mapping[str, str]) -> str:
    """The locale that decides the character set: LC_ALL, then LC_CTYPE, then LANG.

    An empty variable counts as unset, as in the C library. A LC_CTYPE that Python's locale
    coercion wrote (C.UTF-8 while LANG names a non-UTF-8 locale) gives way to LANG.
    """
    lc_all = env.get("LC_ALL", "")
    if lc_all:
        return lc_all
    lc_ctype = env.get("LC_CTYPE", "")
    lang = env.get("LANG", "")
    if lc_ctype and lc_ctype.lower() in _COERCED_LC_CTYPE and lang and not _is_utf8_locale(lang):
        return lang
    return lc_ctype or lang or "C"


def use_ascii(env: Mapping[str, str], stdout_encoding: str | None) -> bool:
    """True when the terminal should get ASCII only.

    That is when the locale (LC_ALL, LC_CTYPE, LANG, in that order) is not UTF-8, or when the
    output stream's encoding is not UTF-8. No locale at all is the C locale: ASCII.
    """
    if stdout_encoding is not None and not _is_utf8_encoding(stdout_encoding):
        return True
    return not _is_utf8_locale(effective_locale(env))


def terminal_wants_ascii() -> bool:
    """use_ascii() for this process's environment and standard output."""
    return use_ascii(os.environ, getattr(sys.stdout, "encoding", None))
