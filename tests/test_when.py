"""Times typed by people (cockpit.incident.when.parse_at), at any time of day."""

from __future__ import annotations

from datetime import datetime

import pytest

from cockpit.compat import UTC
from cockpit.incident.when import parse_at


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "typed", "expected"),
    [
        ("2026-12-06 14:30:00", "14:20", "2026-12-06 14:20:00"),
        ("2026-12-06 14:30:00", "14:30:45", "2026-12-06 14:30:45"),  # within the minute's skew
        ("2026-12-06 14:30:00", "00:00", "2026-12-06 00:00:00"),
        # An incident that runs past midnight UTC: a time still to come today is yesterday's.
        ("2026-12-06 00:05:00", "23:50", "2026-12-05 23:50:00"),
        ("2026-12-06 00:05:00", "13:50", "2026-12-05 13:50:00"),
        ("2026-12-06 00:05:00", "12:05", "2026-12-05 12:05:00"),
        ("2026-12-06 00:05:00", "00:05:30", "2026-12-06 00:05:30"),
        ("2026-12-06 00:05:00", "2026-12-05T23:50:00Z", "2026-12-05 23:50:00"),
    ],
)
def test_a_clock_time_is_the_latest_such_time_that_has_happened(
    now: str, typed: str, expected: str
) -> None:
    assert parse_at(typed, now=at(now)) == at(expected)


@pytest.mark.parametrize(
    ("now", "typed", "message"),
    [
        # Yesterday's 14:50 would be 23 h 40 min ago: far more likely a typo than a memory.
        ("2026-12-06 14:30:00", "14:50", "14:50 UTC today is in the future (it is 14:30 UTC now)"),
        ("2026-12-06 00:05:00", "12:04", "give the full date, e.g. 2026-12-05T12:04:00Z"),
        ("2026-12-06 00:05:00", "2026-12-06T00:10:00Z", "is in the future"),
        ("2026-12-06 00:05:00", "24:00", "not a time of day"),
        ("2026-12-06 00:05:00", "noon", "not a time"),
    ],
)
def test_a_time_that_has_not_happened_is_refused_saying_why(
    now: str, typed: str, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        parse_at(typed, now=at(now))
    assert message in str(raised.value)
