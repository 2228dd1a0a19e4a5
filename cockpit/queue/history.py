"""What a queue source's readings mean over time: the ring, the rate, the drain estimate, status.

One `QueueHistory` per source keeps every reading in a ring bounded to a day at the source's
interval (`maxlen = ceil(86400 / interval)`), failed reads included, so the ring shows gaps.

Rate (messages per minute): the least-squares slope of total depth over time, fitted to the
good samples of the last `RATE_WINDOW_S` (5 minutes) before the newest one, at most the last
`RATE_MAX_SAMPLES`. A slope over several points is not thrown by one jittery read (postqueue can
miss or double a message while the queue moves) and still follows a change within a few
intervals. No rate from fewer than 2 samples, from samples taken at the same instant, or while
the latest read failed (the source is unknown: what it did since is not known).

Trend: `|rate| < STEADY_RATE_PER_MIN` is steady; a falling depth gives a drain estimate
(`total / -rate`), a rising one "growing +N/min".

Status: depth against `warn`/`crit`, the oldest message's age against `age_warn`/`age_crit`,
and growth, the worst of the three; unknown when the latest read failed, with the last good
sample kept and shown with its age ("last good 1,234 (3 min ago)"), never as 0. With an age
threshold set, a read of a non-empty queue without the oldest message's age (exim's
detail_command failed) is at least unknown, "oldest message age unknown: <why>": the depth is
judged, the age is not taken as fine; its age level is the last one seen with an age, so that no
"back under" is logged for an age nobody saw.

Growth is at most a warning, never ok while it lasts: with `rate_warn` set, a rate at or over it
(messages per minute) warns; without it, a queue whose trend was "growing" (at least
STEADY_RATE_PER_MIN) at each of the last GROWING_SAMPLES good samples warns, so one jittery read
does not, and a queue that keeps growing does whatever its depth.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from cockpit.compat import StrEnum
from cockpit.config.model import QueueSource
from cockpit.model import Status, worst
from cockpit.queue.sample import QueueSample, Reading

HISTORY_SPAN_S = 86400.0
RATE_WINDOW_S = 300.0
RATE_MAX_SAMPLES = 10
STEADY_RATE_PER_MIN = 1.0
"""Below one message a minute either way the queue is called steady."""
GROWING_SAMPLES = 3
"""Without `rate_warn`: growing at this many good samples in a row is a warning."""


class Level(StrEnum):
    """Where a value sits against a warn/crit pair."""

    OK = "ok"
    WARN = "warn"
    CRIT = "crit"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.OK: 0, Level.WARN: 1, Level.CRIT: 2}
_LEVEL_STATUS = {Level.OK: Status.OK, Level.WARN: Status.WARN, Level.CRIT: Status.FAIL}


class TrendKind(StrEnum):
    DRAINING = "draining"
    GROWING = "growing"
    STEADY = "steady"
    EMPTY = "empty"
    UNKNOWN = "unknown"
    """No estimate: fewer than 2 samples, or the source is unknown."""


@dataclass(frozen=True, slots=True)
class Trend:
    kind: TrendKind
    rate_per_min: float | None
    """Least-squares slope in messages per minute; None when there is no estimate."""
    eta_s: float | None
    """Seconds until empty at the current rate (draining only)."""
    text: str
    """"empty in about 6 min at the current rate (-33/min)", "growing +120/min", "steady"."""


@dataclass(frozen=True, slots=True)
class QueueState:
    """The judgement of a history at one moment; events compare two of these."""

    status: Status
    depth_level: Level
    """Of the latest good sample (kept while the source is unknown)."""
    age_level: Level
    readable: bool
    """False when the latest read failed (or there was none)."""
    reasons: tuple[str, ...]
    """Why the status is not ok, one short phrase each."""
    growth_level: Level = Level.OK
    """WARN while the queue grows past `rate_warn`, or for GROWING_SAMPLES samples (never CRIT);
    from the good samples (kept while the source is unknown)."""


def level_of(value: float | None, warn: float | None, crit: float | None) -> Level:
    if value is None:
        return Level.OK
    if crit is not None and value >= crit:
        return Level.CRIT
    if warn is not None and value >= warn:
        return Level.WARN
    return Level.OK


def least_squares_slope(points: list[tuple[float, float]]) -> float | None:
    """Slope of y over x; None for fewer than 2 points or when every x is the same."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread <= 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def format_count(count: int) -> str:
    return f"{count:,}"


def format_duration(seconds: float) -> str:
    """ "under a minute", "about 6 min", "about 2 h 10 min", "about 3 days"."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"about {hours} h {rest} min" if rest else f"about {hours} h"
    return f"about {round(minutes / 1440)} days"


def format_age(seconds: float) -> str:
    """ "just now", "12 s ago", "3 min ago", "2 h 5 min ago"."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min ago" if rest else f"{hours} h ago"


def format_rate(rate_per_min: float) -> str:
    return f"{rate_per_min:+,.0f}/min" if abs(rate_per_min) >= 10 else f"{rate_per_min:+.1f}/min"


def _rate_ending_at(good_newest_first: list[tuple[datetime, int]]) -> float | None:
    """Messages per minute over good samples (newest first) within RATE_WINDOW_S of the first,
    at most RATE_MAX_SAMPLES of them; None for fewer than 2."""
    if not good_newest_first:
        return None
    newest_at = good_newest_first[0][0]
    points = [
        ((at - newest_at).total_seconds(), float(total))
        for at, total in good_newest_first[:RATE_MAX_SAMPLES]
        if (newest_at - at).total_seconds() <= RATE_WINDOW_S
    ]
    slope_per_s = least_squares_slope(points)
    return None if slope_per_s is None else slope_per_s * 60.0


Point = tuple[datetime, int | None]
"""One reading as the ring keeps it: when, and the total (None: the read failed)."""


class QueueHistory:
    """Every reading of one source, bounded to a day at its interval.

    The ring keeps (time, total) points only: a postqueue sample with its reasons and domains
    is kilobytes, and a day of them per source would be tens of megabytes. The latest reading
    and the latest good sample are kept whole.
    """

    def __init__(self, source: QueueSource, region: str | None = None) -> None:
        self.source = source
        self.region = region
        self.maxlen = math.ceil(HISTORY_SPAN_S / source.interval)
        self._points: deque[Point] = deque(maxlen=self.maxlen)
        self._latest: Reading | None = None
        self._latest_good: QueueSample | None = None
        self._age_level = Level.OK
        """The age level at the latest good sample that told the age (or was empty)."""
        self._good_growth: tuple[Level, str | None] = (Level.OK, None)
        """growth() at the latest good sample: it judges the good samples only, so it holds
        until the next one (and is kept while the source is unknown)."""
        self.peak_total: int | None = None
        """Highest total ever seen (not only what the ring still holds)."""

    def add(self, reading: Reading) -> None:
        sample = reading.sample
        self._points.append((reading.at, sample.total if sample is not None else None))
        self._latest = reading
        if sample is not None:
            self._latest_good = sample
            total = sample.total
            self.peak_total = total if self.peak_total is None else max(self.peak_total, total)
            self._good_growth = self.growth()
            if not self._age_missing(sample):
                age = sample.oldest_age_s if total else None
                self._age_level = level_of(age, self.source.age_warn, self.source.age_crit)

    def __len__(self) -> int:
        return len(self._points)

    def points(self) -> Iterator[Point]:
        """(time, total or None) of every reading the ring holds, oldest first."""
        return iter(self._points)

    def recent_totals(self, count: int) -> list[int]:
        """The totals of the last `count` good readings, oldest first (for a sparkline)."""
        totals: list[int] = []
        for _at, total in reversed(self._points):
            if total is not None:
                totals.append(total)
                if len(totals) >= count:
                    break
        return totals[::-1]

    @property
    def latest(self) -> Reading | None:
        return self._latest

    @property
    def latest_good(self) -> QueueSample | None:
        """The newest sample, kept when later reads failed (even if the ring dropped it)."""
        return self._latest_good

    @property
    def readable(self) -> bool:
        latest = self.latest
        return latest is not None and latest.sample is not None

    def rate_per_min(self) -> float | None:
        """Least-squares slope over the recent good samples; None when it cannot be told."""
        if not self.readable:
            return None
        return _rate_ending_at(self._good_newest_first(RATE_MAX_SAMPLES))

    def growing_streak(self) -> int:
        """At how many of the latest good samples in a row the rate was growing (at least
        STEADY_RATE_PER_MIN), counted up to GROWING_SAMPLES; 0 while the source is unknown."""
        if not self.readable:
            return 0
        good = self._good_newest_first(RATE_MAX_SAMPLES + GROWING_SAMPLES - 1)
        streak = 0
        for start in range(min(GROWING_SAMPLES, len(good))):
            rate = _rate_ending_at(good[start : start + RATE_MAX_SAMPLES])
            if rate is None or rate < STEADY_RATE_PER_MIN:
                break
            streak += 1
        return streak

    def _good_newest_first(self, count: int) -> list[tuple[datetime, int]]:
        good: list[tuple[datetime, int]] = []
        for at, total in reversed(self._points):
            if total is not None:
                good.append((at, total))
                if len(good) >= count:
                    break
        return good

    def growth(self) -> tuple[Level, str | None]:
        """WARN and why while the queue grows too fast or too long; (OK, None) otherwise."""
        rate = self.rate_per_min()
        if rate is None or rate < STEADY_RATE_PER_MIN:
            return Level.OK, None
        rate_warn = self.source.rate_warn
        if rate_warn is not None:
            if rate >= rate_warn:
                limit = format_rate(rate_warn).removeprefix("+")
                return Level.WARN, f"growing {format_rate(rate)}, at or over rate_warn {limit}"
            return Level.OK, None
        if self.growing_streak() >= GROWING_SAMPLES:
            return Level.WARN, f"growing {format_rate(rate)} for {GROWING_SAMPLES} samples in a row"
        return Level.OK, None

    def trend(self) -> Trend:
        if not self.readable:
            return Trend(TrendKind.UNKNOWN, None, None, "no trend: the source is unknown")
        latest = self._latest_good
        assert latest is not None
        rate = self.rate_per_min()
        if latest.total == 0:
            return Trend(TrendKind.EMPTY, rate, 0.0 if rate is not None else None, "empty")
        if rate is None:
            return Trend(TrendKind.UNKNOWN, None, None, "no trend yet (one sample)")
        if abs(rate) < STEADY_RATE_PER_MIN:
            return Trend(TrendKind.STEADY, rate, None, "steady")
        if rate > 0:
            return Trend(TrendKind.GROWING, rate, None, f"growing {format_rate(rate)}")
        eta_s = latest.total / -rate * 60.0
        text = f"empty in {format_duration(eta_s)} at the current rate ({format_rate(rate)})"
        return Trend(TrendKind.DRAINING, rate, eta_s, text)

    def _age_missing(self, sample: QueueSample) -> bool:
        """An age threshold is set and this read of a non-empty queue has no age."""
        watched = self.source.age_warn is not None or self.source.age_crit is not None
        return watched and sample.total > 0 and sample.oldest_age_s is None

    def state(self) -> QueueState:
        source = self.source
        sample = self._latest_good
        depth_level = level_of(sample.total if sample else None, source.warn, source.crit)
        age = sample.oldest_age_s if sample else None
        age_level = self._age_level
        if not self.readable:
            latest = self.latest
            error = latest.error if latest is not None and latest.error else "no reading yet"
            return QueueState(
                Status.UNKNOWN, depth_level, age_level, False, (error,), self._good_growth[0]
            )
        assert sample is not None
        reasons = []
        if depth_level is not Level.OK:
            limit = source.crit if depth_level is Level.CRIT else source.warn
            reasons.append(
                f"depth {format_count(sample.total)} at or over {depth_level} "
                f"{format_count(limit or 0)}"
            )
        if age_level is not Level.OK and age is not None:
            limit = source.age_crit if age_level is Level.CRIT else source.age_warn
            reasons.append(
                f"oldest message {format_duration(age).removeprefix('about ')} old, at or over "
                f"{age_level} {format_duration(limit or 0).removeprefix('about ')}"
            )
        growth_level, growth_reason = self._good_growth
        if growth_reason is not None:
            reasons.append(growth_reason)
        worst_level = max(depth_level, growth_level, key=lambda level: level.rank)
        status = _LEVEL_STATUS[worst_level]
        if self._age_missing(sample):
            why = sample.age_error or f"a {source.kind} source gives no ages"
            reasons.append(f"oldest message age unknown: {why}")
            status = worst([status, Status.UNKNOWN])
        else:
            status = worst([status, _LEVEL_STATUS[age_level]])
        return QueueState(status, depth_level, age_level, True, tuple(reasons), growth_level)

    def status(self) -> Status:
        return self.state().status

    def last_good_text(self, now: datetime) -> str:
        """ "last good 1,234 (3 min ago)", or "no good reading yet"."""
        sample = self._latest_good
        if sample is None:
            return "no good reading yet"
        age = (now - sample.at).total_seconds()
        return f"last good {format_count(sample.total)} ({format_age(age)})"
