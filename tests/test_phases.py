"""Phase times, corrections, metrics and the incident summary."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.incident.entry import PHASES, Entry, format_ts
from cockpit.incident.phases import (
    METRICS,
    analyse,
    compute_metrics,
    current_target_region,
    effective_phases,
    phase_record,
    summarize,
)

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Log:
    """Builds entries with increasing seq; ts defaults to one minute per entry."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(
        self,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        text: str = "",
        author: str = "alice",
        ts: datetime | None = None,
    ) -> Entry:
        seq = len(self.entries) + 1
        entry = Entry(
            seq=seq,
            ts=ts or at(seq),
            author=author,
            origin={},
            kind=kind,
            text=text,
            data=data or {},
            line=seq,
        )
        self.entries.append(entry)
        return entry

    def phase(self, phase: str, minutes: float, **kwargs: Any) -> Entry:
        return self.add("phase", {"phase": phase, "at": format_ts(at(minutes))}, **kwargs)

    def correct(self, phase: str, minutes: float, corrects_seq: int, **kwargs: Any) -> Entry:
        data = {"phase": phase, "at": format_ts(at(minutes)), "corrects_seq": corrects_seq}
        return self.add("correction", data, **kwargs)


def metric_values(log: Log) -> dict[str, tuple[timedelta | None, str | None, timedelta | None]]:
    metrics = compute_metrics(effective_phases(log.entries))
    return {m.name: (m.from_impact, m.previous_phase, m.since_previous) for m in metrics}


def test_all_phases_present() -> None:
    log = Log()
    for minutes, phase in zip((0, 5, 8, 20, 37, 50, 65), PHASES, strict=True):
        log.phase(phase, minutes)
    values = metric_values(log)
    minute = timedelta(minutes=1)
    assert values == {
        "time to detect": (5 * minute, "impact", 5 * minute),
        "time to declare": (8 * minute, "detected", 3 * minute),
        "time to route": (20 * minute, "declared", 12 * minute),
        "time to restore": (37 * minute, "routed", 17 * minute),
        "time to verify": (50 * minute, "restored", 13 * minute),
    }
    assert [name for name, _ in METRICS] == list(values)
    assert not any(m.out_of_order for m in compute_metrics(effective_phases(log.entries)))


def test_missing_phases_give_none_and_name_the_nearest_present_phase() -> None:
    log = Log()
    log.phase("impact", 0)
    log.phase("routed", 30)
    values = metric_values(log)
    assert values["time to detect"] == (None, "impact", None)
    assert values["time to route"] == (timedelta(minutes=30), "impact", timedelta(minutes=30))
    assert values["time to verify"] == (None, "routed", None)


def test_without_impact_there_is_no_from_impact_but_still_since_previous() -> None:
    log = Log()
    log.phase("detected", 10)
    log.phase("declared", 14)
    values = metric_values(log)
    assert values["time to detect"] == (None, None, None)
    assert values["time to declare"] == (None, "detected", timedelta(minutes=4))


def test_correction_entry_replaces_the_time_and_keeps_history() -> None:
    log = Log()
    log.phase("impact", 0)
    detected = log.phase("detected", 7)
    fix = log.correct("detected", 5, corrects_seq=detected.seq, author="bob")
    timeline = effective_phases(log.entries)
    phase_time = timeline.get("detected")
    assert phase_time is not None
    assert phase_time.at == at(5)
    assert phase_time.seq == fix.seq
    assert phase_time.corrected
    assert [(s.seq, s.at, s.kind) for s in phase_time.history] == [
        (detected.seq, at(7), "phase"),
        (fix.seq, at(5), "correction"),
    ]
    assert timeline.warnings == ()
    assert metric_values(log)["time to detect"][0] == timedelta(minutes=5)


def test_repeated_phase_entry_replaces_the_time() -> None:
    log = Log()
    log.phase("impact", 0)
    log.phase("restored", 30)
    second = log.phase("restored", 32)
    phase_time = effective_phases(log.entries).get("restored")
    assert phase_time is not None and phase_time.at == at(32) and phase_time.seq == second.seq
    assert len(phase_time.history) == 2


def test_latest_in_seq_order_wins_even_when_given_out_of_order() -> None:
    log = Log()
    log.phase("impact", 0)
    log.phase("impact", 3)
    shuffled = list(reversed(log.entries))
    assert effective_phases(shuffled).at("impact") == at(3)


def test_impact_set_after_the_fact() -> None:
    log = Log()
    log.phase("detected", 10, ts=at(10))
    log.phase("impact", -15, ts=at(12))  # written later, happened earlier
    summary = summarize(log.entries, name="x")
    assert summary.start == at(-15) and summary.start_is_impact
    assert metric_values(log)["time to detect"][0] == timedelta(minutes=25)


def test_out_of_order_times_are_kept_and_flagged() -> None:
    log = Log()
    log.phase("impact", 10)
    log.phase("detected", 4)
    log.phase("declared", 12)
    metrics = {m.name: m for m in compute_metrics(effective_phases(log.entries))}
    detect = metrics["time to detect"]
    assert detect.from_impact == timedelta(minutes=-6) and detect.out_of_order
    declare = metrics["time to declare"]
    assert declare.from_impact == timedelta(minutes=2)
    assert declare.since_previous == timedelta(minutes=8) and not declare.out_of_order


def test_phase_without_valid_at_uses_ts_and_warns() -> None:
    log = Log()
    missing = log.add("phase", {"phase": "impact"}, ts=at(3))
    invalid = log.add("phase", {"phase": "detected", "at": "noon"}, ts=at(4))
    overflow = log.add("phase", {"phase": "declared", "at": "0001-01-01T00:00:00+01:00"})
    timeline = effective_phases(log.entries)
    assert timeline.at("impact") == missing.ts
    assert timeline.at("detected") == invalid.ts
    assert timeline.at("declared") == overflow.ts
    assert [w.line for w in timeline.warnings] == [missing.line, invalid.line, overflow.line]
    assert all(w.severity == "warning" for w in timeline.warnings)


def test_bad_phase_and_correction_entries_are_ignored_with_a_warning() -> None:
    log = Log()
    log.phase("impact", 0)
    log.add("phase", {"phase": "mitigated", "at": format_ts(at(1))})
    log.add("correction", {"phase": "impact", "corrects_seq": 1})
    log.add("correction", {"phase": 7, "at": format_ts(at(2))})
    timeline = effective_phases(log.entries)
    assert timeline.at("impact") == at(0)
    assert len(timeline.warnings) == 3


def test_correction_of_an_unset_phase_sets_it_with_a_warning() -> None:
    log = Log()
    log.correct("verified", 40, corrects_seq=99)
    timeline = effective_phases(log.entries)
    assert timeline.at("verified") == at(40)
    assert len(timeline.warnings) == 1


def test_correction_naming_a_stale_seq_still_wins_but_warns() -> None:
    log = Log()
    first = log.phase("routed", 20)
    log.correct("routed", 21, corrects_seq=first.seq)
    log.correct("routed", 22, corrects_seq=first.seq)  # raced with the one above
    timeline = effective_phases(log.entries)
    assert timeline.at("routed") == at(22)
    assert len(timeline.warnings) == 1


def test_phase_record_first_time_is_a_phase_entry() -> None:
    log = Log()
    kind, data = phase_record(log.entries, "impact", at(0))
    assert (kind, data) == ("phase", {"phase": "impact", "at": "2026-11-27T14:00:00.000Z"})


def test_phase_record_when_set_is_a_correction_of_the_current_setter() -> None:
    log = Log()
    log.phase("detected", 7)
    second = log.correct("detected", 6, corrects_seq=1)
    kind, data = phase_record(log.entries, "detected", at(5))
    assert kind == "correction"
    assert data == {
        "phase": "detected",
        "at": format_ts(at(5)),
        "previous_at": format_ts(at(6)),
        "corrects_seq": second.seq,
    }
    log.add(kind, data)
    assert effective_phases(log.entries).at("detected") == at(5)
    assert effective_phases(log.entries).warnings == ()


def test_phase_record_refuses_unknown_phases_and_naive_times() -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        phase_record([], "mitigated", at(0))
    with pytest.raises(ValueError):
        phase_record([], "impact", datetime(2026, 11, 27, 14, 0))


def test_current_target_region() -> None:
    log = Log()
    assert current_target_region(log.entries) is None
    log.add("decision", {"why": "x", "target_region": "eu-central", "previous_region": "eu-west"})
    log.add("decision", {"why": "no failover"})
    log.add("note", {"target_region": "not-a-decision"})
    assert current_target_region(log.entries) == "eu-central"
    log.add("decision", {"target_region": "eu-west"})
    assert current_target_region(log.entries) == "eu-west"
    assert current_target_region(list(reversed(log.entries))) == "eu-west"


def test_summary_of_a_full_incident() -> None:
    log = Log()
    log.add("system", {"title": "MX outage"})
    log.phase("impact", -5)
    log.phase("declared", 3, author="bob")
    log.add("decision", {"target_region": "eu-central", "previous_region": "eu-west"})
    log.add("decision", {"target_region": "us-east", "previous_region": "eu-central"})
    log.add("system", {"title": "MX outage in eu-west"})
    log.phase("closed", 60)
    summary = summarize(log.entries, name="log-stem")
    assert summary.title == "MX outage in eu-west"
    assert summary.commander == "bob"
    assert summary.start == at(-5) and summary.start_is_impact
    assert summary.end == at(60) and not summary.ongoing
    assert summary.duration == timedelta(minutes=65)
    assert (summary.region_before, summary.region_after) == ("eu-west", "us-east")


def test_summary_fallbacks() -> None:
    log = Log()
    log.add("note", text="first", author="erin")
    log.add("note", text="second", author="frank")
    summary = summarize(log.entries, name="log-stem")
    assert summary.title == "log-stem"
    assert summary.commander == "erin"
    assert summary.start == at(1) and not summary.start_is_impact
    assert summary.end == at(2) and summary.ongoing
    assert summary.duration == timedelta(minutes=1)
    assert summary.region_before is None and summary.region_after is None


def test_commander_handoff_wins_over_declared_author() -> None:
    log = Log()
    log.phase("declared", 1, author="bob")
    log.add("system", {"event": "role", "role": "commander", "holder": "carol"})
    log.add("system", {"event": "role", "role": "scribe", "holder": "dave"})
    log.add("note", {"role": "commander", "holder": "mallory"})  # not a role entry
    assert summarize(log.entries, name="x").commander == "carol"


def test_empty_log() -> None:
    analysis = analyse([], name="empty")
    assert analysis.summary.start is None and analysis.summary.commander is None
    assert all(m.from_impact is None for m in analysis.metrics)
    assert analysis.timeline.times == ()
