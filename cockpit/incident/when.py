"""Times typed by people: `--at 14:02`, `--at 2026-11-27T14:02:00+01:00`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cockpit.compat import UTC
from cockpit.incident.entry import parse_ts

_DAY = timedelta(days=1)
_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?")

FUTURE_TOLERANCE = timedelta(minutes=1)
"""How far ahead of now a typed time may be (clock skew between machines)."""

YESTERDAY_WITHIN = timedelta(hours=12)
"""A clock time still to come today means yesterday's when that was at most this long ago: at
00:05 UTC, "23:50" is a quarter of an hour ago; at 14:30, "14:50" is a typo, not 23 h 40 ago."""


def parse_at(text: str, *, now: datetime) -> datetime:
    """Parse RFC 3339 (with an offset) or `HH:MM[:SS]` UTC: today, or yesterday across midnight.

    A clock time still to come today is yesterday's when that was at most YESTERDAY_WITHIN ago
    (an incident that runs past midnight UTC). Raises ValueError with a message a person can act
    on. A time more than a minute in the future is refused: phases are things that already
    happened.
    """
    typed = text.strip()
    clock = _CLOCK.fullmatch(typed)
    if clock:
        hour, minute = int(clock["h"]), int(clock["m"])
        second = int(clock["s"] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{typed!r} is not a time of day (expected HH:MM or HH:MM:SS, UTC)")
        moment = now.astimezone(UTC).replace(hour=hour, minute=minute, second=second, microsecond=0)
        if moment - now > FUTURE_TOLERANCE and now - (moment - _DAY) <= YESTERDAY_WITHIN:
            moment -= _DAY
        if moment - now > FUTURE_TOLERANCE:
            raise ValueError(
                f"{typed} UTC today is in the future (it is {now.astimezone(UTC):%H:%M} UTC now);"
                f" give the full date, e.g. {moment - _DAY:%Y-%m-%dT%H:%M:%S}Z for yesterday's"
            )
        return moment
    try:
        moment = parse_ts(typed)
    except ValueError:
        raise ValueError(
            f"{typed!r} is not a time: expected HH:MM[:SS] (today, UTC) or RFC 3339 such as"
            " 2026-11-27T14:02:00Z"
        ) from None
    if moment - now > FUTURE_TOLERANCE:
        raise ValueError(f"{typed} is in the future; phases and notes record what already happened")
    return moment
