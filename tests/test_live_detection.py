"""LiveProbes and detection: service results become entries with their observation time, the
first failing queue or service finding raises the incident's first alarm once, findings carry
observed_at, and a log that already holds a first alarm raises none."""

from __future__ import annotations

from datetime import datetime, timedelta

from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.incident.detection import FIRST_FAILURE, LAST_HEALTHY, first_alarm_parts
from cockpit.incident.entry import Entry
from cockpit.live_probes import LiveProbes
from cockpit.model import Finding, Status
from cockpit.queue.sample import QueueSample, Reading
from tests.dns_fakes import CONFIG_TEXT

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)

QUEUE = """
  [[region.queue]]
  name = "eu-queue"
  kind = "command"
  command = ["/bin/echo", "1"]
  warn = 100
  crit = 1000
"""


def config():  # noqa: ANN201
    first, rest = CONFIG_TEXT.split('[[region]]\nname = "secondary"', 1)
    return load_config_text(first + QUEUE + '\n[[region]]\nname = "secondary"' + rest)


def smtp(status: Status, at: datetime | None = None) -> Finding:
    return Finding(
        "service",
        "smtp",
        "mx1.example.com:25",
        status,
        status.value,
        "primary",
        data={"mx": True},
        observed_at=at,
    )


def test_service_results_are_logged_with_their_time_and_raise_the_first_alarm() -> None:
    now = [T0]
    probes = LiveProbes(config(), target="primary", clock=lambda: now[0])
    assert probes.took_service([smtp(Status.OK)], started=T0) == []
    assert probes.take_alarm() is None
    now[0] = T0 + timedelta(seconds=30)
    entries = probes.took_service([smtp(Status.FAIL)], started=now[0])
    assert [entry.data["event"] for entry in entries] == ["status_changed"]
    assert entries[0].data["at"] == now[0].isoformat()
    alarm = probes.take_alarm()
    assert alarm is not None and alarm.impact_at == T0 and alarm.impact_basis == LAST_HEALTHY
    assert probes.take_alarm() is None  # once
    assert all(f.observed_at is not None for f in probes.findings())
    assert probes.region_findings()[0].status is Status.FAIL


def test_a_queue_past_crit_is_an_alarm_observed_when_its_read_began() -> None:
    probes = LiveProbes(config(), target="primary", clock=lambda: T0)
    reading = Reading(
        "eu-queue", T0, QueueSample(source="eu-queue", at=T0, total=5000), elapsed_s=2.0
    )
    probes.took_reading("eu-queue", reading)
    alarm = probes.take_alarm()
    assert alarm is not None and alarm.finding.area == "queue"
    assert alarm.at == T0 - timedelta(seconds=2) and alarm.impact_basis == FIRST_FAILURE
    (queue,) = [f for f in probes.findings() if f.area == "queue"]
    assert queue.observed_at == T0 - timedelta(seconds=2)


def test_a_first_alarm_in_the_log_is_not_raised_again() -> None:
    probes = LiveProbes(config(), target="primary", clock=lambda: T0)
    other = LiveProbes(config(), target="primary", clock=lambda: T0)
    other.took_service([smtp(Status.FAIL, T0)])
    alarm = other.take_alarm()
    assert alarm is not None
    (kind, text, data), _detected = first_alarm_parts([], alarm)
    logged = Entry(seq=1, ts=T0, author="cockpit", origin={}, kind=kind, text=text, data=data)
    probes.learn_entries([logged])
    probes.took_service([smtp(Status.FAIL, T0)])
    assert probes.take_alarm() is None


def test_the_decision_and_routed_times_come_from_the_log() -> None:
    probes = LiveProbes(config(), target="primary", clock=lambda: T0)
    decided = T0 + timedelta(minutes=1)
    entries = [
        Entry(
            1,
            decided,
            "ann",
            {},
            "decision",
            "fail over",
            {"target_region": "secondary", "previous_region": "primary"},
        ),
        Entry(
            2,
            decided,
            "ann",
            {},
            "phase",
            "routed",
            {"phase": "routed", "at": "2026-12-05T01:02:00.000Z"},
        ),
    ]
    probes.learn_entries(entries)
    assert probes.decided_target == "secondary" and probes.decided_at == decided
    assert probes.routed_at == T0 + timedelta(minutes=2)


def test_an_alarm_that_could_not_be_written_is_raised_again() -> None:
    probes = LiveProbes(config(), target="primary", clock=lambda: T0)
    probes.took_service([smtp(Status.FAIL, T0)])
    alarm = probes.take_alarm()
    assert alarm is not None
    probes.rearm_alarm(alarm)  # the append failed (a full disk): offered again, same time
    assert probes.take_alarm() == alarm
    assert probes.take_alarm() is None
