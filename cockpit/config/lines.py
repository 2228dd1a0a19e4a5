"""Where each key path starts in a TOML text, so a problem can name its line.

`tomllib` keeps no positions, so this is a small scanner over a text that `tomllib` has already
accepted: it follows table headers (counting `[[...]]` entries) and `key = value` lines, and
skips values (strings, arrays, inline tables, comments) without interpreting them.
If anything looks unexpected it gives up and reports no lines at all: no line is better than a
wrong one.
"""

from __future__ import annotations

import bisect
import re

from cockpit.compat import tomllib
from cockpit.config.report import KeyPath

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Confused(Exception):
    """The scanner met something it does not expect in valid TOML."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def skip_blanks(self, *, newlines: bool) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def skip_string(self) -> None:
        text, pos = self.text, self.pos
        for quote in ('"""', "'''"):
            if text.startswith(quote, pos):
                index = pos + 3
                while True:
                    if index >= len(text):
                        raise _Confused
                    if quote == '"""' and text[index] == "\\":
                        index += 2
                    elif text.startswith(quote, index):
                        index += 3
                        extra = 0
                        while extra < 2 and index < len(text) and text[index] == quote[0]:
                            index += 1
                            extra += 1
                        self.pos = index
                        return
                    else:
                        index += 1
        quote = text[pos]
        index = pos + 1
        while index < len(text):
            char = text[index]
            if char == "\n":
                raise _Confused
            if quote == '"' and char == "\\":
                index += 2
                continue
            if char == quote:
                self.pos = index + 1
                return
            index += 1
        raise _Confused

    def read_key(self) -> list[str]:
        parts: list[str] = []
        text = self.text
        while True:
            self.skip_blanks(newlines=False)
            start = self.pos
            if start >= len(text):
                raise _Confused
            if text[start] in "\"'":
                self.skip_string()
                raw = text[start : self.pos]
                parts.append(str(tomllib.loads(f"k = {raw}")["k"]))
            else:
                match = _BARE_KEY.match(text, start)
                if match is None:
                    raise _Confused
                parts.append(match.group())
                self.pos = match.end()
            self.skip_blanks(newlines=False)
            if self.pos < len(text) and text[self.pos] == ".":
                self.pos += 1
                continue
            return parts

    def skip_value(self) -> None:
        text = self.text
        depth = 0
        while self.pos < len(text):
            char = text[self.pos]
            if char in "\"'":
                self.skip_string()
                continue
            if char == "#" or (char == "\n" and depth == 0):
                if depth == 0:
                    return
                self.skip_blanks(newlines=False)
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            self.pos += 1
        if depth != 0:
            raise _Confused


def _locate(text: str) -> dict[KeyPath, int]:
    scanner = _Scanner(text)
    found: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_lengths: dict[KeyPath, int] = {}
    while True:
        scanner.skip_blanks(newlines=True)
        if scanner.pos >= len(text):
            return found
        start = scanner.pos
        if text[start] == "[":
            is_array = text.startswith("[[", start)
            scanner.pos += 2 if is_array else 1
            parts = scanner.read_key()
            closing = "]]" if is_array else "]"
            if not text.startswith(closing, scanner.pos):
                raise _Confused
            scanner.pos += len(closing)
            resolved: KeyPath = ()
            for index, part in enumerate(parts):
                resolved = (*resolved, part)
                found.setdefault(resolved, scanner.line(start))
                is_last = index == len(parts) - 1
                if resolved in array_lengths and not (is_last and is_array):
                    resolved = (*resolved, array_lengths[resolved] - 1)
            if is_array:
                count = array_lengths.get(resolved, 0)
                array_lengths[resolved] = count + 1
                resolved = (*resolved, count)
            table = resolved
            found.setdefault(table, scanner.line(start))
            continue
        parts = scanner.read_key()
        if not text.startswith("=", scanner.pos):
            raise _Confused
        scanner.pos += 1
        for end in range(1, len(parts) + 1):
            found.setdefault((*table, *parts[:end]), scanner.line(start))
        scanner.skip_blanks(newlines=False)
        scanner.skip_value()


def locate_keys(text: str) -> dict[KeyPath, int]:
    """Key path -> 1-based line where it is defined; empty when the text could not be followed."""
    try:
        return _locate(text)
    except (_Confused, IndexError, ValueError, RecursionError):
        return {}
