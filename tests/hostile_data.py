"""Hostile text for the UI tests: terminal escapes, Rich/Textual markup, bidi and invisible
characters, and a very long line, each with the visible text `clean` turns it into.

Every payload is what a DNS answer, a command's output or another person's note may carry.
`shown` is a short part of `clean(payload)` that must be visible on the screen, so a test can
tell the data arrived (and was not merely dropped) as well as that it did nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESC = "\x1b"
BEL = "\x07"


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    payload: str
    shown: str
    """Visible on screen after cleaning (a substring of clean(payload))."""


CORPUS: tuple[Hostile, ...] = (
    Hostile("osc52-clipboard", f"{ESC}]52;c;SE9TVElMRQ=={BEL}", "␛]52;c;SE9TVElMRQ==␇"),
    Hostile("osc0-title", f"{ESC}]0;PWNED-TITLE{BEL}", "␛]0;PWNED-TITLE␇"),
    Hostile(
        "osc8-hyperlink",
        f"{ESC}]8;;https://evil.example/{ESC}\\click{ESC}]8;;{ESC}\\",
        "␛]8;;https://evil.example/␛\\click",
    ),
    Hostile("csi-clear-screen", f"{ESC}[2J", "␛[2J"),
    Hostile("c1-csi", "\x9b31m", "\ufffd31m"),
    Hostile("c1-osc", "\x9d0;T\x9c", "\ufffd0;T\ufffd"),
    Hostile("markup-click", "[@click=app.quit]x[/]", "[@click=app.quit]x[/]"),
    Hostile(
        "markup-link", "[link=https://evil.example]y[/link]", "[link=https://evil.example]y[/link]"
    ),
    Hostile("markup-close", "[/bold]", "[/bold]"),
    Hostile("markup-open", "[bold red]", "[bold red]"),
    Hostile("trailing-backslash", "ends in \\", "ends in \\"),
    Hostile("bidi-override", "\u202eevil\u202c", "\ufffdevil\ufffd"),
    Hostile("bidi-isolate", "\u2066iso\u2069", "\ufffdiso\ufffd"),
    Hostile("zero-width", "z\u200bw\u2060j\ufeffk", "z\ufffdw\ufffdj\ufffdk"),
    Hostile("long-line", "L" * 10_000, "L" * 60),
)

ALL_IN_ONE = " ".join(item.payload for item in CORPUS[:-1])
"""Every short payload in one string (the long line is left out so the rest stays visible)."""

FORBIDDEN_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
"""What must never reach the screen: C0 controls but \\t and \\n, DEL, C1 controls, and the
invisible characters that reorder or hide text."""

ANSI_SEQUENCE = re.compile(
    r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, ended by BEL or ST
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"  # any other escape sequence
)
"""One escape sequence as a terminal parses it (7-bit forms)."""

PAYLOAD_MARKERS = ("SE9TVElMRQ", "PWNED", "evil.example", "@click", "31mred")
"""Strings only the hostile data holds: never inside an escape sequence."""


def escape_sequences(output: str) -> tuple[list[str], list[int]]:
    """The escape sequences in terminal output, and the offsets of ESCs that start none."""
    sequences: list[str] = []
    stray: list[int] = []
    position = output.find(ESC)
    while position != -1:
        match = ANSI_SEQUENCE.match(output, position)
        if match is None:
            stray.append(position)
            position = output.find(ESC, position + 1)
            continue
        sequences.append(match.group())
        position = output.find(ESC, match.end())
    return sequences, stray


def osc_sequences(sequences: list[str]) -> list[str]:
    return [sequence for sequence in sequences if sequence.startswith(ESC + "]")]
