"""Parse the classic `postqueue -p` / `mailq` listing, for hosts where `postqueue -j` is missing.

    -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
    3F2A1C0B7E*    1234 Fri Nov 27 20:41:02  sender@example.com
                                             rcpt@example.net

    4B7D2E1A9C!     567 Fri Nov 27 19:00:00  MAILER-DAEMON
    (connect to 127.0.0.1[127.0.0.1]:2525: Connection refused)
                                             a@example.org

    -- 2 Kbytes in 2 Requests.

or "Mail queue is empty". A `*` after the queue id means active, `!` hold; no mark is counted
as deferred (the listing does not tell deferred, incoming and maildrop apart). A reason in
parentheses (possibly wrapped over several lines) applies to the recipients after it.

Arrival dates carry no year: the most recent such date that is not in the future is taken
(the weekday picks the year when it can); a date up to a day ahead of `now` (clocks that
disagree) counts as now. The listing is in the mail host's local time: pass its zone as `tz`
(default: this machine's local zone).

When the summary line disagrees with the entries (the queue moved while it was listed, or the
listing was cut), the summary's request count is the total, and its Kbytes the size; counts per
queue, ages, reasons and domains come from the entries that were parsed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from cockpit.queue.postqueue import QueueParseError, QueueTally, shown
from cockpit.queue.sample import QueueSample

__all__ = ["arrival_datetime", "parse_mailq"]

_ENTRY = re.compile(
    r"^(?P<id>[0-9A-Za-z]+)(?P<mark>[*!]?)\s+(?P<size>\d+)\s+"
    r"(?P<date>(?P<wday>[A-Z][a-z]{2})\s+(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+"
    r"(?P<time>\d\d:\d\d:\d\d))\s+(?P<sender>.*)$"
)
_SUMMARY = re.compile(r"^--\s+(?P<kb>\d+)\s+Kbytes?\s+in\s+(?P<n>\d+)\s+Requests?\.?\s*$")
_HEADER = re.compile(r"^-Queue ID-")
_EMPTY = re.compile(r"^Mail queue is empty\s*$")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_WEEKDAYS = {d: i for i, d in enumerate("Mon Tue Wed Thu Fri Sat Sun".split())}
_FUTURE_SLACK = timedelta(days=1)


def arrival_datetime(
    month: str, day: int, clock: str, weekday: str | None, *, now: datetime, tz: tzinfo | None
) -> datetime | None:
    """The most recent date with this month, day and time not after `now` (+ a day of slack),
    preferring a year whose weekday matches. None when no such date exists."""
    month_number = _MONTHS.get(month)
    if month_number is None:
        return None
    hour, minute, second = (int(part) for part in clock.split(":"))
    local_now = now.astimezone(tz)
    zone = local_now.tzinfo
    candidates: list[datetime] = []
    for year in range(local_now.year + 1, local_now.year - 8, -1):
        try:
            when = datetime(year, month_number, day, hour, minute, second, tzinfo=zone)
        except ValueError:  # Feb 29 in a common year, hour 24, ...
            continue
        if when <= local_now + _FUTURE_SLACK:
            candidates.append(when)
    if not candidates:
        return None
    wanted = _WEEKDAYS.get(weekday or "")
    for when in candidates:
        if wanted is not None and when.weekday() == wanted:
            return when
    return candidates[0]


def parse_mailq(text: str, *, now: datetime, source: str, tz: tzinfo | None = None) -> QueueSample:
    """The queue described by a `mailq` listing (see the module docstring).

    Raises `QueueParseError` when the text is not such a listing.
    """
    tally = QueueTally()
    summary: tuple[int, int] | None = None
    saw_marker = False
    entry: tuple[str | None, float | None, int] | None = None
    recipients: list[tuple[str, str | None]] = []
    reason: str | None = None
    reason_depth = 0
    first_unknown: str | None = None
    now_s = now.timestamp()

    def finish() -> None:
        nonlocal entry, recipients, reason
        if entry is not None:
            queue, arrival, size = entry
            tally.add(queue, arrival, size, recipients)
        entry, recipients, reason = None, [], None

    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if reason_depth > 0 and entry is not None:
            reason = f"{reason} {stripped}"
            reason_depth += stripped.count("(") - stripped.count(")")
            if reason_depth <= 0:
                reason = reason[:-1] if reason.endswith(")") else reason
                reason_depth = 0
            continue
        if not stripped:
            finish()
            continue
        if _HEADER.match(line) or _EMPTY.match(line):
            saw_marker = True
            continue
        summary_match = _SUMMARY.match(stripped)
        if summary_match:
            finish()
            summary = (int(summary_match["kb"]), int(summary_match["n"]))
            continue
        entry_match = _ENTRY.match(line)
        if entry_match:
            finish()
            mark = entry_match["mark"]
            queue = "active" if mark == "*" else "hold" if mark == "!" else "deferred"
            when = arrival_datetime(
                entry_match["mon"],
                int(entry_match["day"]),
                entry_match["time"],
                entry_match["wday"],
                now=now,
                tz=tz,
            )
            arrival = min(when.timestamp(), now_s) if when is not None else None
            entry = (queue, arrival, int(entry_match["size"]))
            continue
        if entry is not None and stripped.startswith("("):
            reason_depth = stripped.count("(") - stripped.count(")")
            reason = stripped[1:]
            if reason_depth <= 0:
                reason = reason[:-1] if reason.endswith(")") else reason
                reason_depth = 0
            continue
        if entry is not None and raw[:1].isspace():
            recipients.append((stripped, reason))
            continue
        if first_unknown is None:
            first_unknown = line
    finish()

    if summary is None and not saw_marker and tally.total == 0:
        what = shown(first_unknown) if first_unknown is not None else "nothing"
        raise QueueParseError(f"output is not a mailq listing (first line: {what})")
    if summary is None:
        return tally.sample(source=source, now=now)
    kbytes, requests = summary
    if requests == tally.total:
        return tally.sample(source=source, now=now)
    return tally.sample(source=source, now=now, total=requests, size=kbytes * 1024)
