"""QueueHistory, its transitions and its findings: pure, with hand-made readings."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from types import MappingProxyType

import pytest

import cockpit.queue.sources
from cockpit.compat import UTC
from cockpit.config.model import QueueSource, Region
from cockpit.model import Status
from cockpit.queue.events import EVENT_KINDS, QueueEvent, record
from cockpit.queue.findings import finding_for, queue_findings
from cockpit.queue.history import (
    Level,
    QueueHistory,
    TrendKind,
    format_age,
    format_duration,
    least_squares_slope,
)
from cockpit.queue.sample import DeferralReason, QueueSample, Reading
from tests.lab.config_for_tests import hand_config

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def source(**overrides: object) -> QueueSource:
    settings: dict[str, object] = {
        "name": "mx1",
        "kind": "postqueue",
        "command": ("postqueue", "-j"),
        "interval": 15.0,
    }
    settings.update(overrides)
    return QueueSource(**settings)  # type: ignore[arg-type]


def good(
    seconds: float,
    total: int,
    *,
    deferred: int | None = None,
    oldest: float | None = None,
    reasons: tuple[DeferralReason, ...] = (),
) -> Reading:
    at = T0 + timedelta(seconds=seconds)
    by_queue = {"deferred": total if deferred is None else deferred}
    sample = QueueSample(
        source="mx1",
        at=at,
        total=total,
        by_queue=MappingProxyType(by_queue),
        oldest_age_s=oldest,
        deferral_reasons=reasons,
    )
    return Reading("mx1", at, sample)


def failed(seconds: float, error: str = "timed out after 10 s (killed)") -> Reading:
    return Reading("mx1", T0 + timedelta(seconds=seconds), None, error)


def history_of(*readings: Reading, **overrides: object) -> QueueHistory:
    history = QueueHistory(source(**overrides), "primary")
    for reading in readings:
        history.add(reading)
    return history


# --- the ring --------------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "maxlen"), [(15.0, 5760), (1.0, 86400), (7.0, 12343)])
def test_ring_holds_a_day_at_the_interval(interval: float, maxlen: int) -> None:
    assert QueueHistory(source(interval=interval)).maxlen == maxlen


def test_ring_drops_the_oldest_but_keeps_peak_and_latest_good() -> None:
    history = QueueHistory(source(interval=3600.0))  # 24 readings
    history.add(good(0, 9000))
    for index in range(1, 30):
        history.add(good(index * 3600, index))
    assert len(history) == 24
    assert [total for _at, total in history.points() if total is not None][0] == 6
    assert history.peak_total == 9000
    for index in range(30):
        history.add(failed(200000 + index))
    assert len(history) == 24
    assert history.latest_good is not None and history.latest_good.total == 29


# --- rate and drain estimate -----------------------------------------------------------------


def test_least_squares_slope() -> None:
    assert least_squares_slope([]) is None
    assert least_squares_slope([(0.0, 5.0)]) is None
    assert least_squares_slope([(1.0, 5.0), (1.0, 9.0)]) is None
    assert least_squares_slope([(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]) == pytest.approx(2.0)
    # Jitter around a line of slope -1 still gives about -1.
    assert least_squares_slope([(0, 10), (1, 9.5), (2, 8.2), (3, 7.1), (4, 6.2)]) == (
        pytest.approx(-0.97, abs=0.05)
    )


def test_no_estimate_from_one_sample() -> None:
    history = history_of(good(0, 100))
    assert history.rate_per_min() is None
    trend = history.trend()
    assert trend.kind is TrendKind.UNKNOWN and trend.eta_s is None
    assert "one sample" in trend.text


def test_no_estimate_from_an_unknown_source() -> None:
    history = history_of(good(0, 300), good(15, 200), failed(30))
    assert history.rate_per_min() is None
    trend = history.trend()
    assert trend.kind is TrendKind.UNKNOWN and trend.eta_s is None and trend.rate_per_min is None


def test_drain_estimate_arithmetic() -> None:
    # 240 -> 180 over 60 s: -60/min; 180 left: empty in 3 min.
    history = history_of(good(0, 240), good(15, 225), good(30, 210), good(45, 195), good(60, 180))
    assert history.rate_per_min() == pytest.approx(-60.0)
    trend = history.trend()
    assert trend.kind is TrendKind.DRAINING
    assert trend.eta_s == pytest.approx(180.0)
    assert trend.text == "empty in about 3 min at the current rate (-60/min)"


def test_drain_of_six_minutes_reads_as_in_the_issue() -> None:
    history = history_of(good(0, 1540), good(60, 1320))
    assert history.trend().text == "empty in about 6 min at the current rate (-220/min)"


def test_growing() -> None:
    history = history_of(good(0, 100), good(30, 160), good(60, 220))
    trend = history.trend()
    assert trend.kind is TrendKind.GROWING
    assert trend.rate_per_min == pytest.approx(120.0)
    assert trend.text == "growing +120/min"
    assert trend.eta_s is None


def test_steady_when_flat_or_nearly() -> None:
    assert history_of(good(0, 50), good(15, 50), good(30, 50)).trend().kind is TrendKind.STEADY
    # Half a message a minute is steady too.
    nearly = history_of(good(0, 50), good(120, 51))
    assert nearly.trend().kind is TrendKind.STEADY and nearly.trend().text == "steady"


def test_empty_queue() -> None:
    trend = history_of(good(0, 10), good(15, 0)).trend()
    assert trend.kind is TrendKind.EMPTY and trend.eta_s == 0.0 and trend.text == "empty"


def test_rate_uses_only_the_last_five_minutes_and_skips_failed_reads() -> None:
    # A big old backlog ten minutes ago does not drag today's rate.
    history = history_of(good(0, 5000), good(600, 100), failed(615), good(630, 110), good(660, 130))
    assert history.rate_per_min() == pytest.approx(
        60 * least_squares_slope([(0, 100), (30, 110), (60, 130)])  # type: ignore[operator]
    )


def test_rate_uses_at_most_the_last_ten_samples() -> None:
    readings = [good(i, 1000) for i in range(10)] + [good(10 + i, 1000 - 10 * i) for i in range(10)]
    assert history_of(*readings).rate_per_min() == pytest.approx(-600.0)


def test_formatting() -> None:
    assert format_duration(30) == "under a minute"
    assert format_duration(361) == "about 6 min"
    assert format_duration(2 * 3600 + 600) == "about 2 h 10 min"
    assert format_duration(5 * 86400) == "about 5 days"
    assert format_age(0.2) == "just now"
    assert format_age(12.7) == "12 s ago"
    assert format_age(185) == "3 min ago"
    assert format_age(3600 + 300) == "1 h 5 min ago"


# --- thresholds and status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "status", "level"),
    [
        (0, Status.OK, Level.OK),
        (999, Status.OK, Level.OK),
        (1000, Status.WARN, Level.WARN),
        (4999, Status.WARN, Level.WARN),
        (5000, Status.FAIL, Level.CRIT),
    ],
)
def test_depth_thresholds(total: int, status: Status, level: Level) -> None:
    state = history_of(good(0, total), warn=1000, crit=5000).state()
    assert state.status is status and state.depth_level is level


@pytest.mark.parametrize(
    ("oldest", "status"),
    # No age for 3 messages with an age threshold set: unknown, never ok (it read ok before).
    [(None, Status.UNKNOWN), (599.0, Status.OK), (600.0, Status.WARN), (3600.0, Status.FAIL)],
)
def test_age_thresholds(oldest: float | None, status: Status) -> None:
    history = history_of(good(0, 3, oldest=oldest), warn=1000, age_warn=600, age_crit=3600)
    assert history.status() is status


def _without_age(seconds: float, total: int, why: str | None) -> Reading:
    at = T0 + timedelta(seconds=seconds)
    sample = QueueSample(source="mx1", at=at, total=total, age_error=why)
    return Reading(source="mx1", at=at, sample=sample)


def test_a_read_without_the_age_is_unknown_and_says_why() -> None:
    """exim's detail_command failed: the count is judged, the age is unknown (not ok), and
    the finding says so beside the depth."""
    why = "detail_command: timed out after 10 s (killed)"
    history = history_of(_without_age(0, 1200, why), warn=5000, age_crit=3600)
    state = history.state()
    assert state.readable and state.status is Status.UNKNOWN
    assert state.reasons == (f"oldest message age unknown: {why}",)
    finding = finding_for(history.source, "primary", history, T0)
    assert finding.status is Status.UNKNOWN and finding.data["total"] == 1200
    assert finding.data["age_error"] == why
    assert finding.summary == f"oldest message age unknown: {why} - 1,200 messages"
    # A worse depth still shows as worse.
    deep = history_of(_without_age(0, 6000, why), warn=1000, crit=5000, age_crit=3600)
    assert deep.status() is Status.FAIL
    # An empty queue has no oldest message: nothing is missing.
    assert history_of(_without_age(0, 0, why), age_crit=3600).status() is Status.OK
    # Without an age threshold the missing age changes nothing.
    assert history_of(_without_age(0, 1200, why), warn=5000).status() is Status.OK


def test_an_age_nobody_saw_is_no_crossing_back() -> None:
    """Over age_crit, then a read without ages: no age_down (the age was not seen to fall);
    the next read with an age under the thresholds is the crossing back."""
    history = QueueHistory(source(age_warn=600, age_crit=3600))
    steps = feed(
        history, good(0, 5, oldest=4000), _without_age(15, 5, "detail_command: exit 1"),
        good(30, 5, oldest=10),
    )  # fmt: skip
    assert [[e.kind for e in step] for step in steps] == [["age_up"], [], ["age_down"]]


def test_worse_of_depth_and_age() -> None:
    history = history_of(good(0, 1200, oldest=4000), warn=1000, crit=5000, age_crit=3600)
    state = history.state()
    assert state.status is Status.FAIL
    assert state.depth_level is Level.WARN and state.age_level is Level.CRIT
    assert len(state.reasons) == 2


def test_no_thresholds_is_ok_at_any_depth() -> None:
    assert history_of(good(0, 10**6, oldest=10**6)).status() is Status.OK


def test_unknown_keeps_last_good_with_its_age() -> None:
    history = history_of(good(0, 1234), failed(180), warn=1000)
    state = history.state()
    assert state.status is Status.UNKNOWN and not state.readable
    assert state.depth_level is Level.WARN  # kept from the last good sample
    assert history.latest_good is not None and history.latest_good.total == 1234
    assert history.last_good_text(T0 + timedelta(seconds=180)) == "last good 1,234 (3 min ago)"
    finding = finding_for(history.source, "primary", history, T0 + timedelta(seconds=180))
    assert finding.status is Status.UNKNOWN
    assert finding.summary == "unknown: timed out after 10 s (killed); last good 1,234 (3 min ago)"
    assert finding.data["error"] == "timed out after 10 s (killed)"
    assert finding.data["total"] is None  # never 0, never the old value as if current
    assert finding.data["last_good"] == {
        "total": 1234,
        "at": T0.isoformat(),
        "age_s": 180.0,
    }


def test_unknown_without_any_good_reading() -> None:
    history = history_of(failed(0, "exit 1: postqueue: fatal: no such directory"))
    assert history.status() is Status.UNKNOWN
    finding = finding_for(history.source, "primary", history, T0)
    assert finding.data["total"] is None and finding.data["last_good"] is None
    assert "no good reading yet" in finding.summary
    assert QueueHistory(source()).status() is Status.UNKNOWN


# --- findings ----------------------------------------------------------------------------------


def test_finding_shape() -> None:
    reasons = (
        DeferralReason("connection refused to relay 127.0.0.1:2525", 7),
        DeferralReason("TLS handshake failed", 2),
    )
    history = history_of(
        good(0, 1300, oldest=900),
        good(60, 1200, deferred=1100, oldest=960, reasons=reasons),
        warn=1000,
        crit=5000,
    )
    finding = finding_for(history.source, "primary", history, T0 + timedelta(seconds=60))
    record_json = finding.to_json()
    assert record_json["area"] == "queue" and record_json["check"] == "depth"
    assert record_json["subject"] == "mx1" and record_json["region"] == "primary"
    assert record_json["status"] == "warn"
    data = record_json["data"]
    assert data["total"] == 1200
    assert data["by_queue"] == {"deferred": 1100}
    assert data["oldest_age_s"] == 960
    assert data["deferral_reasons"] == [
        {"reason": "connection refused to relay 127.0.0.1:2525", "count": 7},
        {"reason": "TLS handshake failed", "count": 2},
    ]
    assert data["rate_per_min"] == pytest.approx(-100.0)
    assert data["eta_s"] == pytest.approx(720.0)
    assert "error" not in data
    assert "1,200 messages (1,100 deferred)" in finding.summary
    assert "empty in about 12 min" in finding.summary
    assert finding.summary.startswith("depth 1,200 at or over warn 1,000")


def test_finding_for_an_empty_queue() -> None:
    history = history_of(good(0, 0))
    finding = finding_for(history.source, None, history, T0)
    assert finding.status is Status.OK and finding.summary == "empty"
    assert finding.data["total"] == 0 and finding.data["deferral_reasons"] == []


# --- events ------------------------------------------------------------------------------------


def feed(history: QueueHistory, *readings: Reading) -> list[list[QueueEvent]]:
    return [record(history, reading) for reading in readings]


def test_events_for_every_depth_crossing() -> None:
    history = QueueHistory(source(warn=100, crit=1000), "primary")
    steps = feed(
        history,
        good(0, 10),  # ok
        good(15, 150),  # ok -> warn
        good(30, 1500),  # warn -> crit
        good(45, 2000),  # crit, no depth event; growing 3 samples in a row: growth_up
        good(60, 500),  # crit -> warn
        good(75, 20),  # warn -> ok
        good(90, 5000),  # ok -> crit in one jump
        good(105, 0),  # crit -> ok in one jump
    )
    kinds = [[event.kind for event in step] for step in steps]
    assert kinds == [[], ["depth_up"], ["depth_up"], ["growth_up"], ["depth_down"],
                     ["depth_down"], ["depth_up"], ["depth_down"]]  # fmt: skip
    ups = [step[0] for step in steps if step and step[0].kind == "depth_up"]
    assert [(e.data["before"], e.data["after"], e.data["limit"]) for e in ups] == [
        ("ok", "warn", 100),
        ("warn", "crit", 1000),
        ("ok", "crit", 1000),
    ]
    warn_to_crit = steps[2][0]
    assert warn_to_crit.source == "mx1" and warn_to_crit.region == "primary"
    assert (
        warn_to_crit.text == "mx1 queue depth crossed crit (1,000): 1,500 messages (1,500 deferred)"
    )
    assert warn_to_crit.data["total"] == 1500
    assert warn_to_crit.data["deferred"] == 1500
    assert warn_to_crit.data["by_queue"] == {"deferred": 1500}
    assert warn_to_crit.data["peak_total"] == 1500
    crit_to_warn = steps[4][0]
    assert crit_to_warn.text.startswith("mx1 queue depth back below crit (1,000), still warn")
    assert crit_to_warn.data["peak_total"] == 2000  # the peak backlog so far
    assert steps[7][0].data["peak_total"] == 5000
    for step in steps:
        for event in step:
            assert event.kind in EVENT_KINDS


def test_events_for_age_crossings() -> None:
    history = QueueHistory(source(age_warn=600, age_crit=3600))
    steps = feed(
        history, good(0, 5, oldest=100), good(15, 5, oldest=700), good(30, 5, oldest=4000),
        good(45, 5, oldest=10),
    )  # fmt: skip
    assert [[e.kind for e in step] for step in steps] == [[], ["age_up"], ["age_up"], ["age_down"]]
    assert steps[1][0].data["threshold"] == "age"
    assert steps[1][0].data["oldest_age_s"] == 700
    assert "oldest message age crossed warn (10 min)" in steps[1][0].text


def test_first_reading_over_a_threshold_is_a_crossing() -> None:
    history = QueueHistory(source(warn=100))
    (step,) = feed(history, good(0, 150))
    assert [e.kind for e in step] == ["depth_up"]


def test_events_for_unknown_and_recovered() -> None:
    history = QueueHistory(source(warn=100), "backup")
    steps = feed(
        history,
        good(0, 150),  # ok -> warn
        failed(15),  # warn -> unknown
        failed(30),  # still unknown: no event
        good(45, 160),  # back, still warn
        failed(60),
        good(75, 50),  # back, and below warn meanwhile
    )
    kinds = [[e.kind for e in step] for step in steps]
    assert kinds == [
        ["depth_up"],
        ["source_unknown"],
        [],
        ["source_recovered"],
        ["source_unknown"],
        ["source_recovered", "depth_down"],
    ]
    gone = steps[1][0]
    assert gone.region == "backup"
    assert gone.text == (
        "mx1 queue unknown: timed out after 10 s (killed); last good 150 (15 s ago)"
    )
    assert gone.data["error"] == "timed out after 10 s (killed)"
    assert gone.data["total"] == 150  # the last good depth, never 0
    assert gone.data["last_good_at"] == T0.isoformat()
    back = steps[3][0]
    assert back.text == "mx1 queue readable again: 160 messages (160 deferred)"
    assert back.data["total"] == 160 and back.data["peak_total"] == 160


def test_first_reading_that_fails_is_source_unknown() -> None:
    history = QueueHistory(source())
    (step,) = feed(history, failed(0, "exit 69: postqueue: fatal: Connection refused"))
    assert [e.kind for e in step] == ["source_unknown"]
    assert step[0].data["total"] is None
    assert "no good reading yet" in step[0].text


# --- queue_findings: every source at once ----------------------------------------------------


def test_queue_findings_reads_all_sources_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_read(queue: QueueSource) -> Reading:
        await asyncio.sleep(0.3)
        if queue.name == "broken":
            raise RuntimeError("boom\nsecond line")
        sample = QueueSample(source=queue.name, at=datetime.now(UTC), total=7)
        return Reading(queue.name, sample.at, sample)

    monkeypatch.setattr(cockpit.queue.sources, "read_source", slow_read)
    config = hand_config(
        "example.test",
        (
            Region(name="primary", mx=("mx1.example.test",), queues=(source(name="a"),)),
            Region(
                name="backup",
                mx=("mx2.example.test",),
                queues=(source(name="b"), source(name="broken")),
            ),
        ),
    )
    started = time.monotonic()
    findings = asyncio.run(queue_findings(config))
    assert time.monotonic() - started < 0.6  # three reads of 0.3 s overlap
    assert [(f.subject, f.region, f.status) for f in findings] == [
        ("a", "primary", Status.OK),
        ("b", "backup", Status.OK),
        ("broken", "backup", Status.UNKNOWN),
    ]
    assert findings[0].data["total"] == 7
    assert findings[2].data["error"] == "read failed: RuntimeError: boom"
    assert findings[2].data["total"] is None
