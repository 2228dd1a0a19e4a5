"""Parse exim's queue output: `exim -bpc` (a count) and `exim -bp` (the listing).

`exim -bpc` prints one integer. `exim -bp` prints one block per message:

    25m  2.9K 1qvJ3k-000123-AB <sender@example.com>
              rcpt@example.net
            D done@example.net

     2h   12K 1qvJ3k-000124-CD <> *** frozen ***
              postmaster@example.org

The age is a number and a unit (s, m, h, d, w), the size a number with an optional K/M/G
suffix, then the message id (the old 6-6-2 form and the 4.97+ 6-11-4 form), the sender in
angle brackets and "*** frozen ***" for a frozen message. Recipients marked "D" are delivered
and do not count as destinations.

The count from `-bpc` is the total (it is what exim reports as the depth); the listing adds the
oldest age, the size, frozen messages and the top destination domains. exim has no Postfix
queues: `by_queue` stays empty and frozen messages are in `frozen`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from cockpit.queue.postqueue import QueueParseError, QueueTally, shown
from cockpit.queue.sample import QueueSample

__all__ = [
    "EximListing",
    "parse_exim_bp",
    "parse_exim_count",
    "parse_number",
    "parse_whole_number",
]

_WHOLE_NUMBER = re.compile(rb"^\s*\+?([0-9]{1,18})\s*$")
_NUMBER = re.compile(
    rb"^\s*(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?"
    rb"|[+-]?(?:nan|inf|infinity))\s*$",
    re.IGNORECASE,
)
_NUMBER_MAX_BYTES = 200
"""Longer output is not one number, whatever it holds (and is not matched at all)."""
_ENTRY = re.compile(
    r"^\s*(?P<age>\d+)(?P<unit>[smhdw])\s+(?P<size>\d+(?:\.\d+)?)(?P<mult>[KMG]?)\s+"
    r"(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4})\s+<(?P<sender>[^>]*)>"
    r"(?P<rest>.*)$"
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MULT = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_whole_number(data: bytes, *, what: str = "one whole number") -> int:
    """The one non-negative integer `data` holds (surrounding whitespace allowed).

    Raises `QueueParseError` naming what was printed (bounded and made safe).
    """
    match = _WHOLE_NUMBER.match(data)
    if match is None:
        printed = shown(data) if data.strip() else "nothing"
        raise QueueParseError(f"expected {what}, printed {printed}")
    return int(match.group(1))


def parse_number(data: bytes, *, what: str = "one number of 0 or more") -> float:
    """The one finite number of 0 or more `data` holds ("42", "0.5", "1e3"; surrounding
    whitespace allowed): a command's whole output, such as a replication lag in seconds.

    Raises `QueueParseError` naming what was printed (bounded and made safe), and saying so
    when it was a negative number, NaN or an infinity.
    """
    match = _NUMBER.match(data) if len(data) <= _NUMBER_MAX_BYTES else None
    if match is None:
        printed = shown(data) if data.strip() else "nothing"
        raise QueueParseError(f"expected {what}, printed {printed}")
    number = float(match["number"])
    if math.isnan(number) or math.isinf(number):
        raise QueueParseError(f"expected {what}, printed {shown(data)} (not a finite number)")
    if number < 0:
        raise QueueParseError(f"expected {what}, printed {shown(data)} (negative)")
    return number or 0.0  # "-0" is 0


def parse_exim_count(data: bytes) -> int:
    """The depth `exim -bpc` printed."""
    return parse_whole_number(data, what="a message count (exim -bpc)")


class EximListing:
    """What an `exim -bp` listing says, before it is joined with the `-bpc` count."""

    __slots__ = ("tally", "frozen")

    def __init__(self, tally: QueueTally, frozen: int) -> None:
        self.tally = tally
        self.frozen = frozen

    def sample(self, *, source: str, now: datetime, total: int | None = None) -> QueueSample:
        return self.tally.sample(
            source=source, now=now, total=total, with_by_queue=False, frozen=self.frozen
        )


def parse_exim_bp(text: str, *, now: datetime) -> EximListing:
    """Parse an `exim -bp` listing. Raises `QueueParseError` when it is not one."""
    tally = QueueTally(queue_names=())
    frozen = 0
    now_s = now.timestamp()
    entry: tuple[float, int] | None = None
    recipients: list[tuple[str, str | None]] = []
    first_unknown: str | None = None

    def finish() -> None:
        nonlocal entry, recipients
        if entry is not None:
            arrival, size = entry
            tally.add(None, arrival, size, recipients)
        entry, recipients = None, []

    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            finish()
            continue
        match = _ENTRY.match(raw)
        if match:
            finish()
            age = int(match["age"]) * _UNIT_S[match["unit"]]
            size = int(float(match["size"]) * _MULT[match["mult"]])
            entry = (now_s - age, size)
            if "*** frozen ***" in match["rest"]:
                frozen += 1
            continue
        if entry is not None and raw[:1].isspace():
            if stripped.startswith("D ") or stripped.startswith("+D "):
                continue
            recipients.append((stripped.split()[-1], None))
            continue
        if first_unknown is None:
            first_unknown = raw
    finish()
    if tally.total == 0 and first_unknown is not None:
        raise QueueParseError(
            f"output is not an exim -bp listing (first line: {shown(first_unknown)})"
        )
    return EximListing(tally, frozen)
