"""Probe changes as incident-log entries: dedupe, rate limit, burst folding, bounded evidence."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.config.model import QueueSource
from cockpit.dns.events import DnsEvent, diff_sweeps
from cockpit.incident.export_md import render_markdown
from cockpit.incident.finding_changes import auth_changes
from cockpit.incident.log import IncidentLog
from cockpit.incident.probe_log import (
    EVIDENCE_BYTES,
    ProbeEntry,
    ProbeLogger,
    bound_evidence,
    probe_id,
)
from cockpit.model import Finding, Status
from cockpit.queue.events import QueueEvent, record
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import QueueSample, Reading
from cockpit.safe_text import md_cell
from tests.dns_fakes import HOSTILE, MX_PRIMARY, MX_SECONDARY, auth, everyone, obs, sweep, watched

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
MX = watched("MX")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> Clock:
        self.now = T0 + timedelta(seconds=seconds)
        return self


def logger(**kwargs: Any) -> tuple[ProbeLogger, Clock]:
    clock = Clock()
    return ProbeLogger(clock=clock, **kwargs), clock


def region_event(server: str, region: str, key: str = "example.com MX") -> DnsEvent:
    after = {"outcome": "answer", "answers": [region], "verdict": "region", "region": region}
    return DnsEvent(
        "resolver_region_changed",
        key,
        server,
        f"{server} now answers {region} for {key}",
        {"before": {}, "after": after},
    )


def record_event(kind: str, key: str = "example.com MX") -> DnsEvent:
    return DnsEvent(kind, key, None, f"{key} {kind}", {"after": {"converged": 3}})


def texts(entries: list[ProbeEntry]) -> list[str]:
    return [entry.text for entry in entries]


def evidence_bytes(entry: ProbeEntry) -> int:
    return len(json.dumps(entry.data["evidence"], ensure_ascii=False, separators=(",", ":")))


# --- each kind of change becomes the right entry --------------------------------------------


def test_a_resolver_flipping_region_from_real_sweeps() -> None:
    before = sweep(everyone(MX, MX_PRIMARY), auth(MX, MX_SECONDARY), records=(MX,))
    after_answers = {
        **everyone(MX, MX_PRIMARY),
        ("Quad9", MX.key): obs(MX, answers=MX_SECONDARY, server="Quad9", ttl=60),
    }
    after = sweep(after_answers, auth(MX, MX_SECONDARY), records=(MX,))
    probe_logger, _ = logger()
    (entry,) = probe_logger.offer(diff_sweeps(before, after, "secondary"))
    assert entry.text == "Quad9 now answers secondary for example.com MX"
    data = entry.data
    assert data["area"] == "dns"
    assert data["event"] == "resolver_region_changed"
    assert data["subject"] == "example.com MX"
    assert data["server"] == "Quad9"
    assert data["status"] is None  # good or bad only against the failover target
    assert data["dedupe_key"] == "dns|resolver|example.com MX|Quad9"
    assert data["evidence"]["after"]["region"] == "secondary"
    assert data["evidence"]["after"]["answers"] == list(MX_SECONDARY)


@pytest.mark.parametrize(
    ("kind", "verdict", "status"),
    [
        ("record_converged", None, "ok"),
        ("record_diverged", None, "warn"),
        ("resolver_failed", "failed", "unknown"),
        ("resolver_recovered", "region", "ok"),
        ("serial_skew", None, "warn"),
        ("serial_skew_resolved", None, "ok"),
        ("resolver_region_changed", "mixed", "warn"),
        ("resolver_value_changed", "stale", "warn"),
        ("resolver_value_changed", "current", "ok"),
        ("authoritative_changed", None, None),
    ],
)
def test_dns_kinds_and_their_status(kind: str, verdict: str | None, status: str | None) -> None:
    event = DnsEvent(kind, "example.com MX", "Quad9", f"a {kind}", {"after": {"verdict": verdict}})
    (entry,) = ProbeLogger(clock=Clock()).offer([event])
    assert (entry.data["event"], entry.data["status"]) == (kind, status)
    assert entry.data["area"] == "dns"


def queue_history() -> QueueHistory:
    return QueueHistory(
        QueueSource(name="mx1", kind="postqueue", command=("postqueue", "-j"), warn=100, crit=1000),
        "primary",
    )


def good(seconds: float, total: int, deferred: int) -> Reading:
    at = T0 + timedelta(seconds=seconds)
    sample = QueueSample(
        source="mx1",
        at=at,
        total=total,
        by_queue=MappingProxyType({"deferred": deferred, "active": total - deferred}),
        oldest_age_s=30.0,
        deferral_reasons=(),
    )
    return Reading("mx1", at, sample)


def test_queue_crossing_carries_the_depth_at_that_moment() -> None:
    history = queue_history()
    record(history, good(0, 5000, 4000))
    record(history, good(15, 200, 150))  # crit -> warn
    (crossing,) = record(history, good(30, 1500, 1200))  # warn -> crit
    probe_logger, _ = logger(min_interval_s=0)
    (entry,) = probe_logger.offer([crossing])
    data = entry.data
    assert entry.text == crossing.text
    assert (data["area"], data["event"], data["status"]) == ("queue", "depth_up", "fail")
    assert (data["subject"], data["region"]) == ("mx1", "primary")
    assert (data["total"], data["deferred"], data["peak_total"]) == (1500, 1200, 5000)
    assert data["evidence"]["backlog"] == {"total": 1500, "deferred": 1200, "peak_total": 5000}
    assert data["evidence"]["by_queue"] == {"deferred": 1200, "active": 300}
    assert data["evidence"]["limit"] == 1000
    assert data["dedupe_key"] == "queue|depth|mx1|primary"


def test_queue_source_unknown_keeps_the_last_good_depth() -> None:
    history = queue_history()
    record(history, good(0, 50, 10))
    (unknown,) = record(history, Reading("mx1", T0 + timedelta(seconds=15), None, "timed out"))
    (entry,) = ProbeLogger(clock=Clock()).offer([unknown])
    assert (entry.data["event"], entry.data["status"]) == ("source_unknown", "unknown")
    assert entry.data["total"] == 50  # the last good sample's, never 0
    assert entry.data["evidence"]["error"] == "timed out"


def test_a_plain_probe_entry_passes_through_with_its_identity() -> None:
    clock = Clock()
    entry = ProbeEntry("x", {"area": "auth", "event": "e", "status": "warn", "dedupe_key": "k"})
    (logged,) = ProbeLogger(clock=clock).offer([entry])
    assert logged.text == entry.text
    assert logged.data == entry.data | {
        "probe_id": probe_id("k", '"warn"'),
        "observed_at": clock().isoformat(),
    }


# --- dedupe and rate limit ----------------------------------------------------------------------


def test_the_same_state_is_never_logged_twice_in_a_row() -> None:
    probe_logger, clock = logger()
    assert len(probe_logger.offer([region_event("Quad9", "secondary")] * 2)) == 1
    assert probe_logger.offer([region_event("Quad9", "secondary")]) == []
    assert probe_logger.offer([]) == []
    clock.at(3600)
    assert probe_logger.offer([region_event("Quad9", "secondary")]) == []
    assert texts(probe_logger.offer([region_event("Quad9", "primary")])) == [
        "Quad9 now answers primary for example.com MX"
    ]


def test_different_keys_are_independent() -> None:
    probe_logger, _ = logger()
    entries = probe_logger.offer(
        [
            region_event("Quad9", "secondary"),
            region_event("Office", "secondary"),
            region_event("Quad9", "secondary", key="example.com DMARC"),
        ]
    )
    assert len(entries) == 3


def test_a_flapping_resolver_is_logged_once_per_interval_with_a_count() -> None:
    probe_logger, clock = logger(min_interval_s=60)
    assert len(probe_logger.offer([region_event("Quad9", "secondary")])) == 1
    assert probe_logger.offer([region_event("Quad9", "primary")]) == []
    clock.at(10)
    assert probe_logger.offer([region_event("Quad9", "primary")]) == []
    clock.at(20)
    assert probe_logger.offer([region_event("Quad9", "secondary")]) == []
    assert probe_logger.held == 1
    clock.at(59)
    assert probe_logger.offer([]) == []
    clock.at(60)
    (entry,) = probe_logger.offer([])
    assert entry.text == (
        "Quad9 now answers secondary for example.com MX (flapped 3 times in 20 s)"
    )
    assert entry.data["flapped"] == {"changes": 3, "seconds": 20, "since": T0.isoformat()}
    assert entry.data["at"] == (T0 + timedelta(seconds=20)).isoformat()
    assert probe_logger.held == 0
    clock.at(200)
    assert probe_logger.offer([]) == []


def test_a_change_after_a_quiet_interval_is_logged_at_once() -> None:
    probe_logger, clock = logger(min_interval_s=60)
    probe_logger.offer([region_event("Quad9", "secondary")])
    clock.at(61)
    (entry,) = probe_logger.offer([region_event("Quad9", "primary")])
    assert "flapped" not in entry.text and "flapped" not in entry.data


def test_flush_releases_held_changes() -> None:
    probe_logger, clock = logger(min_interval_s=60)
    probe_logger.offer([region_event("Quad9", "secondary")])
    clock.at(5)
    probe_logger.offer([region_event("Quad9", "primary")])
    (entry,) = probe_logger.flush()
    assert entry.text.startswith("Quad9 now answers primary")
    assert probe_logger.flush() == []


def test_auth_entries_are_deduplicated_by_their_key() -> None:
    before = [finding("spf", Status.OK)]
    after = [finding("spf", Status.FAIL)]
    probe_logger, clock = logger()
    assert len(probe_logger.offer(auth_changes(before, after))) == 1
    clock.at(3600)
    assert probe_logger.offer(auth_changes(before, after)) == []


# --- burst folding ------------------------------------------------------------------------------


def test_a_burst_is_folded_into_one_summary_grouped_by_kind() -> None:
    events: list[DnsEvent | QueueEvent] = [
        region_event(f"R{n:02d}", "secondary") for n in range(30)
    ]
    events += [region_event(f"R{n:02d}", "mixed", key="example.com DMARC") for n in range(5)]
    probe_logger, _ = logger(burst=10)
    entries = probe_logger.offer(events)
    assert len(entries) == 10
    assert texts(entries[:9]) == [
        f"R{n:02d} now answers secondary for example.com MX" for n in range(9)
    ]
    summary = entries[9]
    assert summary.text == (
        "and 26 more changes: 21 resolvers: now answers secondary for example.com MX;"
        " 5 resolvers: now answers mixed for example.com DMARC"
    )
    assert summary.data["event"] == "folded"
    assert summary.data["area"] == "dns"
    groups = summary.data["evidence"]["groups"]
    assert [(g["event"], g["count"]) for g in groups] == [
        ("resolver_region_changed", 21),
        ("resolver_region_changed", 5),
    ]
    assert groups[0]["subjects"][0] == "example.com MX|R09"
    assert evidence_bytes(summary) <= EVIDENCE_BYTES
    # Folded changes count as logged: offering them again gives nothing.
    assert probe_logger.offer(events[20:25]) == []


def test_convergence_is_never_folded_nor_held() -> None:
    events: list[DnsEvent] = [region_event(f"R{n:02d}", "secondary") for n in range(12)]
    events.insert(5, record_event("record_converged"))
    events.append(record_event("record_converged", key="example.com DMARC"))
    probe_logger, clock = logger(burst=4)
    entries = probe_logger.offer(events)
    events_out = [entry.data["event"] for entry in entries]
    assert events_out == [
        "resolver_region_changed",
        "record_converged",
        "record_converged",
        "folded",
    ]
    assert entries[-1].text.startswith("and 11 more changes: 11 resolvers")
    clock.at(5)
    assert probe_logger.offer([record_event("record_diverged")]) == []
    clock.at(9)
    (again,) = probe_logger.offer([record_event("record_converged")])
    assert again.text == "example.com MX record_converged (flapped 3 times in 9 s)"
    assert probe_logger.held == 0


def test_one_extra_change_is_not_summarised() -> None:
    probe_logger, _ = logger(burst=3)
    entries = probe_logger.offer([region_event(f"R{n}", "secondary") for n in range(3)])
    assert [entry.data["event"] for entry in entries] == ["resolver_region_changed"] * 3


def test_a_mixed_burst_summary() -> None:
    history = queue_history()
    (crossing,) = record(history, good(0, 5000, 4000))
    auth_entries = auth_changes(
        [finding("spf", Status.OK), finding("dkim", Status.OK)],
        [finding("spf", Status.FAIL), finding("dkim", Status.WARN)],
    )
    probe_logger, _ = logger(burst=1)
    (summary,) = probe_logger.offer([crossing, region_event("Quad9", "secondary"), *auth_entries])
    assert summary.text == (
        "and 4 more changes: 1 queue: depth crossed a threshold upwards;"
        " 1 resolver: now answers secondary for example.com MX;"
        " 1 auth check: now fail; 1 auth check: now warn"
    )
    assert (summary.data["area"], summary.data["status"]) == ("mixed", "fail")


# --- evidence -----------------------------------------------------------------------------------


def test_evidence_is_bounded_json_data() -> None:
    huge = {"after": {"answers": ["x" * 1000] * 100, "deep": {"a": [{"b": "y" * 5000}]}}}
    event = DnsEvent("resolver_value_changed", "example.com TXT", "Quad9", "t", huge)
    (entry,) = ProbeLogger(clock=Clock()).offer([event])
    assert evidence_bytes(entry) <= EVIDENCE_BYTES
    assert entry.data["evidence"]["after"]["answers"][-1].startswith("…[")
    json.dumps(entry.data, allow_nan=False)  # the log refuses NaN and non-JSON values


def test_bound_evidence_makes_values_json() -> None:
    value = {"at": T0, "status": Status.WARN, "nan": float("nan"), "set": {"b", "a"}, "t": (1, 2)}
    assert bound_evidence(value) == {
        "at": T0.isoformat(),
        "status": "warn",
        "nan": None,
        "set": ["a", "b"],
        "t": [1, 2],
    }
    many_keys = {f"key{n}": "v" * 50 for n in range(500)}
    assert len(json.dumps(bound_evidence(many_keys)).encode()) <= EVIDENCE_BYTES
    assert len(json.dumps(bound_evidence(["é" * 3000])).encode()) <= EVIDENCE_BYTES
    deep: Any = "z" * 100
    for _ in range(6):
        deep = {"a": deep, "b": deep, "c": [deep, deep]}
    bounded = bound_evidence(deep)
    assert set(bounded) == {"cut"} and bounded["cut"].endswith("…")
    assert len(json.dumps(bounded, ensure_ascii=False).encode()) <= EVIDENCE_BYTES


def test_hostile_text_is_cleaned_and_never_markup() -> None:
    event = DnsEvent("resolver_value_changed", "k", "Quad9", f"Quad9 now {HOSTILE}", {})
    (entry,) = ProbeLogger(clock=Clock()).offer([event])
    assert "\x1b" not in entry.text
    assert "[bold]" in entry.text  # kept as text: whoever shows it shows it with markup off
    long = DnsEvent("resolver_value_changed", "k", "Quad9", "y" * 5000, {})
    (entry,) = ProbeLogger(clock=Clock()).offer([long])
    assert len(entry.text) == 300 and entry.text.endswith("…")
    probe_logger, clock = logger()
    probe_logger.offer([long])
    clock.at(1)
    probe_logger.offer(
        [
            DnsEvent(
                "resolver_value_changed", "k", "Quad9", "z" * 5000, {"after": {"answers": ["2"]}}
            )
        ]
    )
    (flapped,) = probe_logger.flush()
    assert len(flapped.text) == 300 and flapped.text.endswith("… (flapped 2 times in 1 s)")


def test_output_is_deterministic() -> None:
    def run() -> list[str]:
        probe_logger, clock = logger(burst=5)
        out = []
        for step in range(6):
            clock.at(step * 20)
            region = "secondary" if step % 2 else "primary"
            events = [region_event(f"R{n}", region) for n in range(8)]
            out += [json.dumps([e.text, e.data]) for e in probe_logger.offer(events)]
        return out

    assert run() == run()
    assert len(run()) > 5


# --- auth ---------------------------------------------------------------------------------------


def finding(check: str, status: Status, region: str = "primary", summary: str = "s") -> Finding:
    return Finding("auth", check, region, status, summary, region=region, data={"record": "v"})


def test_first_auth_sweep_all_ok_logs_nothing() -> None:
    assert auth_changes(None, [finding("spf", Status.OK), finding("dkim", Status.OK)]) == []


def test_first_auth_sweep_logs_one_starting_picture() -> None:
    current = [
        finding("spf", Status.OK),
        finding("dkim", Status.WARN, summary="selector eu1 has a 1024-bit key"),
        finding("dmarc", Status.FAIL, region="secondary", summary="no record"),
        finding("ptr", Status.UNKNOWN),
    ]
    (entry,) = auth_changes(None, current)
    assert entry.text == (
        "Auth starting picture: 3 of 4 checks not ok (1 fail, 1 warn, 1 unknown):"
        " primary dkim warn; secondary dmarc fail; primary ptr unknown"
    )
    assert (entry.data["event"], entry.data["status"]) == ("starting_picture", "fail")
    assert [item["check"] for item in entry.data["evidence"]["not_ok"]] == ["dkim", "dmarc", "ptr"]


def test_auth_status_changes() -> None:
    before = [finding("spf", Status.OK), finding("dkim", Status.WARN), finding("ptr", Status.OK)]
    after = [
        finding("spf", Status.FAIL, summary="the SPF record does not include 198.51.100.10"),
        finding("dkim", Status.WARN),
        finding("dmarc", Status.WARN, summary="p=none"),
    ]
    entries = auth_changes(before, after)
    assert texts(entries) == [
        "primary spf now fail (was ok): the SPF record does not include 198.51.100.10",
        "primary dmarc now warn (was ok, new check): p=none",
    ]
    spf = entries[0].data
    assert (spf["area"], spf["event"], spf["status"]) == ("auth", "status_changed", "fail")
    assert spf["dedupe_key"] == "auth|primary|spf|primary|"
    assert spf["evidence"]["previous_status"] == "ok"
    assert spf["evidence"]["data"] == {"record": "v"}
    assert auth_changes(after, after) == []


def test_auth_duplicate_identities_take_the_worst() -> None:
    after = [finding("smtp-tls", Status.OK), finding("smtp-tls", Status.FAIL)]
    (entry,) = auth_changes([finding("smtp-tls", Status.OK)], after)
    assert entry.data["status"] == "fail"


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="burst"):
        ProbeLogger(burst=0, clock=Clock())
    with pytest.raises(ValueError, match="min_interval_s"):
        ProbeLogger(min_interval_s=-1, clock=Clock())


# --- end to end ---------------------------------------------------------------------------------


def test_entries_reach_the_exported_probe_evidence(tmp_path: Path) -> None:
    history = queue_history()
    (crossing,) = record(history, good(0, 1500, 1200))
    probe_logger, _ = logger()
    entries = probe_logger.offer(
        [
            region_event("Quad9", "secondary"),
            record_event("record_converged"),
            crossing,
            *auth_changes([finding("spf", Status.OK)], [finding("spf", Status.FAIL)]),
        ]
    )
    log = IncidentLog(tmp_path / "incident.jsonl")
    for entry in entries:
        log.append("probe", entry.text, entry.data, author="cockpit")
    result = log.read()
    assert result.problems == []
    assert [e.data for e in result.entries] == [entry.data for entry in entries]
    markdown = render_markdown(result.entries, result.problems, name="incident")
    section = markdown.split("## Probe evidence", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \| 2", line)]
    assert len(rows) == 4
    # Each row names its subject and where it was seen, and says what changed in words.
    assert f"| dns | {md_cell('example.com MX')} | Quad9 |  | " in rows[0]
    assert rows[0].endswith(f"| {md_cell('? → secondary: secondary')} |")
    assert f"| {md_cell('example.com MX')} |  | ok | " in rows[1]
    assert rows[1].endswith(f"| {md_cell('? → 3 resolvers on the target')} |")
    assert "| queue | mx1 | primary | fail | " in rows[2]
    assert rows[2].endswith(f"| {md_cell('total 1500, deferred 1200, level ok → crit')} |")
    assert "| auth | spf primary | primary | fail | " in rows[3]
    assert rows[3].endswith(f"| {md_cell('ok → fail: s')} |")
    # The whole entry is in the appendix, as logged.
    appendix = markdown.split("## Appendix: probe evidence as logged", 1)[1]
    assert '"peak_total": 1500' in appendix and "primary spf now fail" in appendix
