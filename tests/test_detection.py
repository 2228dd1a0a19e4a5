"""Detection: the first alarm, the detected phase it sets once, the impact it proposes; the data
at risk recorded at a failover decision; the region rows the strip draws."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cockpit.compat import UTC
from cockpit.incident.detection import (
    FIRST_FAILURE,
    LAST_HEALTHY,
    AlarmWatch,
    first_alarm_parts,
    impact_proposal,
)
from cockpit.incident.entry import format_ts
from cockpit.incident.finding_changes import finding_changes
from cockpit.incident.log import IncidentLog
from cockpit.incident.phases import analyse, effective_phases
from cockpit.incident.rpo import LagSeen, data_at_risk, rpo_parts
from cockpit.model import Finding, Status
from cockpit.region_status import region_rows

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def service(region: str, status: Status, at: datetime, subject: str = "mx1:25") -> Finding:
    return Finding(
        "service",
        "smtp",
        subject,
        status,
        f"{subject} {status.value}",
        region,
        data={"mx": True},
        observed_at=at,
    )


def test_the_first_failure_raises_one_alarm_proposing_the_last_healthy_time() -> None:
    watch = AlarmWatch()
    assert watch.observe([service("primary", Status.OK, T0)], fallback_at=T0) is None
    later = T0 + timedelta(seconds=30)
    alarm = watch.observe(
        [service("primary", Status.FAIL, later), service("secondary", Status.OK, later)],
        fallback_at=later,
    )
    assert alarm is not None
    assert alarm.at == later and alarm.impact_at == T0 and alarm.impact_basis == LAST_HEALTHY
    assert watch.observe([service("primary", Status.FAIL, later)], fallback_at=later) is None


def test_a_probe_never_seen_healthy_proposes_its_first_failure() -> None:
    alarm = AlarmWatch().observe([service("primary", Status.FAIL, T0)], fallback_at=T0)
    assert alarm is not None and alarm.impact_at == T0 and alarm.impact_basis == FIRST_FAILURE


def test_dns_auth_warn_and_unknown_are_no_alarm() -> None:
    watch = AlarmWatch()
    findings = [
        Finding("dns", "MX", "example.com", Status.FAIL, "x", "primary", observed_at=T0),
        Finding("auth", "spf", "primary", Status.FAIL, "x", "primary", observed_at=T0),
        service("primary", Status.WARN, T0),
        service("primary", Status.UNKNOWN, T0, "mx2:25"),
    ]
    assert watch.observe(findings, fallback_at=T0) is None


def test_first_alarm_is_written_once_and_sets_detected_only_when_unset(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    alarm = AlarmWatch().observe([service("primary", Status.FAIL, T0)], fallback_at=T0)
    assert alarm is not None
    written = log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    assert [entry.kind for entry in written] == ["probe", "phase"]
    assert written[0].data["at"] == format_ts(T0)
    assert written[1].data["phase"] == "detected" and written[1].data["at"] == format_ts(T0)
    again = log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    assert again == []
    entries = log.read().entries
    assert effective_phases(entries).at("detected") == T0
    proposal = impact_proposal(entries)
    assert proposal is not None and proposal.at == T0 and "primary" in proposal.subject


def test_a_person_set_detected_is_left_alone(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    earlier = T0 - timedelta(minutes=5)
    log.append("phase", "detected", {"phase": "detected", "at": format_ts(earlier)}, author="ann")
    alarm = AlarmWatch().observe([service("primary", Status.FAIL, T0)], fallback_at=T0)
    assert alarm is not None
    written = log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    assert [entry.kind for entry in written] == ["probe"]
    assert effective_phases(log.read().entries).at("detected") == earlier


def test_no_proposal_once_impact_is_set(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    alarm = AlarmWatch().observe([service("primary", Status.FAIL, T0)], fallback_at=T0)
    assert alarm is not None
    log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    log.append("phase", "impact", {"phase": "impact", "at": format_ts(T0)}, author="ann")
    assert impact_proposal(log.read().entries) is None


def decision(log: IncidentLog, target: str) -> None:
    log.append(
        "decision",
        f"fail over to {target}",
        {"target_region": target, "previous_region": "primary"},
        author="ann",
    )


def test_rpo_takes_the_lag_at_or_before_the_decision_once(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    decision(log, "secondary")
    decided = log.read().entries[-1].ts
    seen = [
        LagSeen("sec-store", "secondary", 40.0, decided - timedelta(seconds=10)),
        LagSeen("sec-store", "secondary", 45.0, decided - timedelta(seconds=5)),
        LagSeen("sec-store", "secondary", 50.0, decided + timedelta(seconds=5)),
        LagSeen("pri-store", "primary", None, decided - timedelta(seconds=5), "HTTP 503"),
    ]
    written = log.append_built(lambda entries: rpo_parts(entries, seen), author="cockpit")
    assert len(written) == 1 and written[0].data["lag_s"] == 45.0
    assert log.append_built(lambda entries: rpo_parts(entries, seen), author="cockpit") == []
    risk = data_at_risk(log.read().entries)
    assert risk is not None and risk.lag_s == 45.0 and risk.source == "sec-store"
    assert risk.target_region == "secondary"


def test_rpo_is_unknown_never_zero_when_the_target_could_not_be_read(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    decision(log, "secondary")
    decided = log.read().entries[-1].ts
    seen = [LagSeen("sec-store", "secondary", None, decided, "timed out after 2 s")]
    log.append_built(lambda entries: rpo_parts(entries, seen), author="cockpit")
    risk = data_at_risk(log.read().entries)
    assert risk is not None and risk.lag_s is None and "timed out" in risk.reason
    from cockpit.incident.export_md import render_markdown

    text = render_markdown(log.read().entries, name="i")
    assert "| Data at risk (RPO) | unknown at the failover to " in text


def test_rpo_is_unknown_when_one_target_source_could_not_be_read(tmp_path: Path) -> None:
    """The mail store timed out, the database shows 4 s: the data at risk is unknown (the
    store may be hours behind), with 4 s as a floor, never "4 s"."""
    log = IncidentLog(tmp_path / "i.jsonl")
    decision(log, "secondary")
    decided = log.read().entries[-1].ts
    seen = [
        LagSeen("sec-mysql", "secondary", 4.0, decided - timedelta(seconds=5)),
        LagSeen("sec-store", "secondary", None, decided - timedelta(seconds=5), "timed out"),
        LagSeen("pri-mysql", "primary", 1.0, decided - timedelta(seconds=5)),
    ]
    [written] = log.append_built(lambda entries: rpo_parts(entries, seen), author="cockpit")
    assert written.data["lag_s"] is None and written.data["at_least_s"] == 4.0
    assert written.text == (
        "Data at risk at the failover to secondary: unknown (sec-store not read: timed out);"
        " at least 4 s (sec-mysql)"
    )
    risk = data_at_risk(log.read().entries)
    assert risk is not None and risk.lag_s is None
    assert risk.reason == "sec-store: timed out; the others at least 4 s"
    from cockpit.incident.export_md import render_markdown

    text = render_markdown(log.read().entries, name="i")
    assert "| Data at risk (RPO) | unknown at the failover to " in text
    assert "the others at least 4 s" in text


def test_rpo_waits_for_every_configured_source_of_the_target(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    decision(log, "secondary")
    decided = log.read().entries[-1].ts
    configured = {"sec-mysql": "secondary", "sec-store": "secondary", "pri-mysql": "primary"}
    seen = [LagSeen("sec-mysql", "secondary", 4.0, decided - timedelta(seconds=5))]
    assert rpo_parts(log.read().entries, seen, configured) == []  # sec-store not read yet
    seen.append(LagSeen("sec-store", "secondary", 90.0, decided + timedelta(seconds=2)))
    [(_, text, data)] = rpo_parts(log.read().entries, seen, configured)
    assert data["lag_s"] == 90.0 and "(sec-store, read " in text  # pri-mysql is not waited for


def test_rpo_of_a_decision_logged_afterwards_is_the_lag_at_its_time(tmp_path: Path) -> None:
    """`cockpit log --decision --at 14:10` written at 14:30: the lag read at 14:10, not the
    one read just before 14:30."""
    log = IncidentLog(tmp_path / "i.jsonl")
    written = log.append("note", "started", author="ann").ts
    decided = written - timedelta(minutes=20)
    log.append(
        "decision",
        "fail over to secondary",
        {"target_region": "secondary", "previous_region": "primary", "at": format_ts(decided)},
        author="ann",
    )
    seen = [
        LagSeen("sec-store", "secondary", 30.0, decided - timedelta(seconds=5)),
        LagSeen("sec-store", "secondary", 900.0, written - timedelta(seconds=5)),
    ]
    [entry] = log.append_built(lambda entries: rpo_parts(entries, seen), author="cockpit")
    assert entry.data["lag_s"] == 30.0 and entry.data["decided_at"] == format_ts(decided)


def test_five_metrics_from_detection_and_phases(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "i.jsonl")
    alarm = AlarmWatch().observe([service("primary", Status.FAIL, T0)], fallback_at=T0)
    assert alarm is not None
    log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    for minutes, phase in enumerate(("declared", "routed", "restored", "verified"), start=1):
        at = format_ts(T0 + timedelta(minutes=minutes))
        log.append("phase", phase, {"phase": phase, "at": at}, author="ann")
    log.append("phase", "impact", {"phase": "impact", "at": format_ts(T0)}, author="ann")
    metrics = analyse(log.read().entries, name="i").metrics
    assert all(metric.from_impact is not None for metric in metrics)
    assert [m.from_impact.total_seconds() for m in metrics if m.from_impact is not None] == [
        0,
        60,
        120,
        180,
        240,
    ]


def test_service_changes_say_when_they_were_seen() -> None:
    before = [service("primary", Status.OK, T0)]
    later = T0 + timedelta(seconds=10)
    after = [service("primary", Status.FAIL, later)]
    (entry,) = finding_changes("service", before, after)
    assert entry.data["area"] == "service" and entry.data["at"] == later.isoformat()
    (picture,) = finding_changes("service", None, after)
    assert picture.data["event"] == "starting_picture" and "Service" in picture.text


def test_region_rows_never_up_before_a_probe_answered() -> None:
    rows = region_rows(("primary", "secondary"), [], now=T0)
    assert [row.state for row in rows] == ["waiting", "waiting"]
    assert all(row.status is Status.UNKNOWN for row in rows)


def test_region_rows_down_degraded_up_and_since() -> None:
    findings = [
        service("primary", Status.FAIL, T0),
        service("primary", Status.FAIL, T0, "mx2:25"),
        service("secondary", Status.OK, T0),
        service("secondary", Status.FAIL, T0, "mx2:25"),
    ]
    rows = region_rows(("primary", "secondary"), findings, now=T0)
    assert [row.state for row in rows] == ["down", "degraded"]
    later = T0 + timedelta(seconds=30)
    findings2 = [service("primary", Status.FAIL, later), service("secondary", Status.OK, later)]
    rows2 = region_rows(("primary", "secondary"), findings2, previous=rows, now=later)
    assert rows2[0].state == "down" and rows2[0].since == T0
    assert rows2[1].state == "up" and rows2[1].since == later


def test_a_region_row_is_never_greener_than_its_lag_or_authority() -> None:
    lag = Finding(
        "replication",
        "lag",
        "store",
        Status.FAIL,
        "10 min behind",
        "secondary",
        data={"lag_s": 600.0},
        observed_at=T0,
    )
    split = Finding(
        "authority",
        "primary",
        "control plane",
        Status.FAIL,
        "split brain",
        None,
        observed_at=T0,
    )
    rows = region_rows(
        ("primary", "secondary"), [service("secondary", Status.OK, T0), lag, split], now=T0
    )
    assert rows[1].state == "up" and rows[1].status is Status.FAIL
    assert rows[0].authority is split and rows[1].authority is split
