"""Turning found values and key paths into safe, short text for problem messages.

A config file is typed by a person, but a message may quote any part of it back, so every quoted
value is escaped (no control, format or bidi characters reach a terminal raw) and truncated.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from dataclasses import dataclass, field

from cockpit.errors import ConfigProblem

MAX_SHOWN_CHARS = 60
"""About how many characters of a found value a message quotes."""

KeyPath = tuple[str | int, ...]
"""A key path as parts: names and 0-based array indexes, e.g. ("region", 1, "sending_ips", 0)."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(char: str, quote: str) -> str:
    if char == "\\" or char == quote:
        return "\\" + char
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    if char != " " and (unicodedata.category(char) in _UNSAFE_CATEGORIES or char.isspace()):
        code = ord(char)
        if code <= 0xFF:
            return f"\\x{code:02x}"
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        return f"\\U{code:08x}"
    return char


def safe_text(text: str, *, limit: int | None = MAX_SHOWN_CHARS, quote: str = "") -> str:
    """`text` with every unsafe character escaped, cut to about `limit` characters."""
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = _escape_char(char, quote)
        if limit is not None and length + len(piece) > limit:
            pieces.append("...")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def quoted(text: str, quote: str = '"') -> str:
    """`text` escaped, truncated and put in quotes, for a message."""
    return f"{quote}{safe_text(text, quote=quote)}{quote}"


def show_key(name: str) -> str:
    """A key name as a message quotes it: `'sendng_ips'`."""
    return quoted(name, "'")


def show_int(value: int) -> str:
    """An integer as text, without tripping Python's limit on converting huge integers."""
    if value.bit_length() > 200:
        digits = int(value.bit_length() * math.log10(2)) + 1
        sign = "negative " if value < 0 else ""
        return f"(a {sign}integer of about {digits} digits)"
    return str(value)


def _show_short(value: object, depth: int = 0) -> str:
    """A compact, safe rendering of a TOML value (no type word)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return show_int(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return safe_text(value.isoformat())
    if isinstance(value, list):
        if depth >= 2:
            return "[...]" if value else "[]"
        return (
            "["
            + ", ".join(_show_short(item, depth + 1) for item in value[:4])
            + (", ...]" if len(value) > 4 else "]")
        )
    if isinstance(value, dict):
        names = [show_key(str(key)) for key in list(value)[:4]]
        return "{" + ", ".join(names) + (", ...}" if len(value) > 4 else "}")
    return safe_text(type(value).__name__)


def describe(value: object) -> str:
    """What was found, for "expected X, found Y": a type word and a short, safe rendering."""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a float"
    elif isinstance(value, str):
        if value == "":
            return "an empty string"
        kind = "a string"
    elif isinstance(value, datetime.datetime):
        kind = "a date-time"
    elif isinstance(value, datetime.date):
        kind = "a date"
    elif isinstance(value, datetime.time):
        kind = "a time"
    elif isinstance(value, list):
        if not value:
            return "an empty list"
        kind = "a list"
    elif isinstance(value, dict):
        if not value:
            return "an empty table"
        return "a table with keys " + _show_short(value)
    else:
        kind = "a value of type"
    shown = _show_short(value)
    if len(shown) > MAX_SHOWN_CHARS + 10:
        shown = shown[:MAX_SHOWN_CHARS] + "..."
    return f"{kind} {shown}"


def format_path(path: KeyPath) -> str:
    """`("region", 1, "sending_ips", 0)` -> `region[1].sending_ips[0]`; odd names are quoted."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        plain = _BARE_KEY.fullmatch(part) and len(part) <= MAX_SHOWN_CHARS
        name = part if plain else quoted(part)
        out.append(f".{name}" if out else name)
    return "".join(out)


@dataclass
class Problems:
    """Collects every problem found in one config source."""

    file: str
    """The file name as shown in messages (already made safe)."""
    lines: dict[KeyPath, int] = field(default_factory=dict)
    """Where each key path starts in the text, as far as `lines.locate_keys` could tell."""
    found: list[ConfigProblem] = field(default_factory=list)

    def add(self, path: KeyPath, message: str) -> None:
        """Record a problem at `path`, with the line of the nearest key path known."""
        self.found.append(
            ConfigProblem(self.file, format_path(path), message, line=self.line_of(path))
        )

    def add_at_line(self, message: str, line: int | None = None, column: int | None = None) -> None:
        """Record a file-level problem (no key path)."""
        self.found.append(ConfigProblem(self.file, "", message, line=line, column=column))

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path` or of its nearest enclosing key that has a known line."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None
