"""Checklist automation never claims what it has not seen: events, freshness, drains, evidence.

Pure tests over the built-in runbook: entries and findings are built by hand, with fixed times.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.config.model import QueueSource
from cockpit.incident.checklist import (
    AutoResult,
    auto_record,
    auto_result,
    checklist_findings,
    incident_moments,
)
from cockpit.incident.checklist_auto import (
    MAX_EVIDENCE,
    freshness_bound,
    recent_samples,
)
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.runbook import BUILTIN_STEPS, Step, parse_condition
from cockpit.model import Finding, Status
from cockpit.queue.findings import RECENT_SAMPLES, finding_for
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import QueueSample, Reading

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
DECIDED = T0 + timedelta(minutes=10)
ROUTED = T0 + timedelta(minutes=12)
NOW = T0 + timedelta(minutes=15)
STEPS = {step.id: step for step in BUILTIN_STEPS}
PHASE_SETTERS = ("cutover", "mail-flowing", "declare-verified")


def entry(seq: int, ts: datetime, kind: str, data: dict[str, Any], text: str = "") -> Entry:
    return Entry(seq, ts, "alice", {}, kind, text or kind, data)


def decision(seq: int, ts: datetime, target: str) -> Entry:
    return entry(seq, ts, "decision", {"target_region": target, "previous_region": "primary"})


def phase(seq: int, ts: datetime, name: str, at: datetime | None = None) -> Entry:
    return entry(seq, ts, "phase", {"phase": name, "at": format_ts(at or ts)})


IMPACT = phase(1, T0 + timedelta(minutes=2), "impact", T0)
BEFORE_DECISION = [IMPACT, phase(2, T0 + timedelta(minutes=5), "declared")]
DECIDED_ONLY = [*BEFORE_DECISION, decision(3, DECIDED, "secondary")]
ROUTED_LOG = [*DECIDED_ONLY, phase(4, ROUTED, "routed")]


def samples(*points: tuple[datetime, int]) -> list[list[Any]]:
    return [[at.isoformat(), total] for at, total in points]


def smtp(region: str, status: Status = Status.OK, at: datetime | None = NOW) -> Finding:
    subject = f"mx.{region}.example.test:25"
    return Finding("service", "smtp", subject, status, f"smtp {status}", region, observed_at=at)


def queue(
    region: str,
    recent: list[list[Any]],
    status: Status = Status.OK,
    at: datetime | None = NOW,
) -> Finding:
    total = recent[-1][1] if recent else None
    data = {"total": total, "recent": recent}
    return Finding("queue", "depth", f"{region}-mx", status, "q", region, None, data, at)


def mx(region: str, at: datetime | None = NOW) -> Finding:
    return Finding("dns", "MX", "example.test", Status.OK, "mx ok", region, observed_at=at)


def auth(check: str, region: str, at: datetime | None = NOW) -> Finding:
    return Finding("auth", check, "example.test", Status.OK, f"{check} ok", region, observed_at=at)


def everything_ok(region: str, at: datetime = NOW) -> list[Finding]:
    """Every finding the built-in conditions look at, ok, for `region`, observed at `at`, with
    a queue that read empty three times in the minute before."""
    minute = [(at - timedelta(seconds=s), 0) for s in (40, 20, 0)]
    return [
        mx(region, at),
        smtp(region, at=at),
        queue(region, samples(*minute), at=at),
        *(auth(check, region, at) for check in ("spf", "dkim", "dmarc", "webmail")),
    ]


def judge(
    step_id: str, entries: list[Entry], findings: list[Finding], now: datetime = NOW
) -> AutoResult:
    return auto_result(STEPS[step_id], findings, incident_moments(entries, now=now))


# ---- the log: target and events ----------------------------------------------------------------


def test_moments_come_from_the_log_alone() -> None:
    corrected = entry(
        5,
        ROUTED + timedelta(minutes=1),
        "correction",
        {"phase": "routed", "at": format_ts(ROUTED - timedelta(seconds=30)), "corrects_seq": 4},
    )
    no_region = entry(6, NOW, "decision", {"why": "hold"})
    moments = incident_moments([*ROUTED_LOG, corrected, no_region], now=NOW)
    assert moments.target == "secondary"
    assert moments.events["decision"] == DECIDED  # a decision naming no region is not one
    assert moments.events["routed"] == ROUTED - timedelta(seconds=30)  # the corrected time
    assert moments.events["impact"] == T0
    assert "restored" not in moments.events
    back = incident_moments([*ROUTED_LOG, decision(7, NOW, "primary")], now=NOW)
    assert back.target == "primary" and back.events["decision"] == NOW
    assert incident_moments([], now=NOW).target is None


# ---- before a failover decision nothing that marks routed or restored holds -----------------


def test_before_a_decision_no_routed_or_restored_step_is_satisfied() -> None:
    """The drill's picture: the outage just began, every finding is ok for the primary (its
    queue is still below warn), observed now. Nothing may be claimed."""
    findings = everything_ok("primary")
    for step_id in ("cutover", "mail-flowing"):
        result = judge(step_id, BEFORE_DECISION, findings)
        assert not result.satisfied, step_id
        assert result.reason == "no failover decision yet", step_id
    judged = {
        f.check: f for f in checklist_findings(BUILTIN_STEPS, BEFORE_DECISION, findings, now=NOW)
    }
    for step_id in ("cutover", "mail-flowing", "auth-alignment", "webmail-cert"):
        assert judged[step_id].status is Status.UNKNOWN, step_id
        assert judged[step_id].summary.startswith("waiting for evidence: "), step_id
        assert judged[step_id].data["satisfied"] is False


def test_even_with_findings_for_every_region_nothing_holds_before_the_decision() -> None:
    findings = everything_ok("primary") + everything_ok("secondary")
    judged = checklist_findings(BUILTIN_STEPS, BEFORE_DECISION, findings, now=NOW)
    assert all(f.status is Status.UNKNOWN for f in judged)
    reasons = {f.check: f.data["reason"] for f in judged}
    assert reasons["cutover"] == "no failover decision yet"
    assert reasons["mail-flowing"] == "no failover decision yet"
    assert reasons["auth-alignment"] == "no failover decision yet"


def test_with_the_decision_but_before_routed_mail_flowing_waits() -> None:
    findings = everything_ok("secondary")
    assert judge("cutover", DECIDED_ONLY, findings).satisfied
    result = judge("mail-flowing", DECIDED_ONLY, findings)
    assert not result.satisfied and result.reason == "routed not set yet"


# ---- only observations made after the event count ----------------------------------------------


def test_findings_observed_before_the_decision_never_count() -> None:
    before = DECIDED - timedelta(seconds=1)
    result = judge("cutover", DECIDED_ONLY, [mx("secondary", before)], now=DECIDED)
    assert not result.satisfied
    assert result.reason == (
        "dns.MX example.test (secondary): last seen 14:09:59, not after the failover decision"
        " at 14:10:00"
    )
    at_the_moment = judge("cutover", DECIDED_ONLY, [mx("secondary", DECIDED)], now=DECIDED)
    assert not at_the_moment.satisfied  # strictly after


def test_findings_observed_before_routed_never_count() -> None:
    early = ROUTED - timedelta(seconds=5)
    minute = samples((early - timedelta(seconds=20), 0), (early, 0))
    findings = [smtp("secondary", at=early), queue("secondary", minute, at=early)]
    result = judge("mail-flowing", ROUTED_LOG, findings, now=ROUTED + timedelta(seconds=10))
    assert not result.satisfied and "not after routed at 14:12:00" in result.reason


def test_samples_from_before_routed_do_not_make_a_drain() -> None:
    """A fresh finding, but only one of its samples was taken after routed."""
    after = ROUTED + timedelta(seconds=20)
    recent = samples(
        (ROUTED - timedelta(seconds=40), 9), (ROUTED - timedelta(seconds=20), 5), (after, 0)
    )
    findings = [smtp("secondary", at=after), queue("secondary", recent, at=after)]
    result = judge("mail-flowing", ROUTED_LOG, findings, now=after)
    assert not result.satisfied
    assert (
        result.reason
        == "queue.depth secondary-mx (secondary): 1 sample since routed, draining needs 2"
    )


def test_a_finding_of_unknown_time_proves_nothing() -> None:
    result = judge("cutover", DECIDED_ONLY, [mx("secondary", None)])
    assert not result.satisfied
    assert result.reason == "dns.MX example.test (secondary): observation time unknown"
    plain = Step("x", "after", "X", "", parse_condition("auth.spf == ok"), None)
    unknown_time = auto_result(
        plain, [auth("spf", "secondary", None)], incident_moments([], now=NOW)
    )
    assert not unknown_time.satisfied


# ---- a dead region's empty queue never shows mail flowing --------------------------------------


def test_a_dead_region_with_an_empty_queue_never_satisfies_mail_flowing() -> None:
    after = [(ROUTED + timedelta(seconds=s), 0) for s in (20, 40, 60)]
    # The region's MX refuses, its queue reads empty: nothing flows through it.
    refused = [smtp("secondary", Status.FAIL), queue("secondary", samples(*after))]
    result = judge("mail-flowing", ROUTED_LOG, refused)
    assert (
        not result.satisfied
        and "service.smtp" in result.reason
        and "fail, needs ok" in result.reason
    )
    # The queue cannot be read any more: the last good samples are from before routed.
    stale_samples = samples(
        (ROUTED - timedelta(seconds=30), 0), (ROUTED - timedelta(seconds=10), 0)
    )
    dead = [smtp("secondary", Status.UNKNOWN), queue("secondary", stale_samples, Status.UNKNOWN)]
    assert not judge("mail-flowing", ROUTED_LOG, dead).satisfied
    # Even with the service answering: no sample since routed is no drain.
    silent = [smtp("secondary"), queue("secondary", stale_samples)]
    result = judge("mail-flowing", ROUTED_LOG, silent)
    assert not result.satisfied
    assert result.reason.endswith("no sample since routed, draining needs 2")
    # One empty sample is not a trend.
    one = [smtp("secondary"), queue("secondary", samples((NOW, 0)))]
    result = judge("mail-flowing", ROUTED_LOG, one)
    assert not result.satisfied and "1 sample since routed" in result.reason
    # No queue finding for the target at all.
    result = judge("mail-flowing", ROUTED_LOG, [smtp("secondary")])
    assert not result.satisfied and result.reason == "queue.depth (secondary): no finding yet"


@pytest.mark.parametrize(
    ("totals", "drains"),
    [
        ((0, 0), True),
        ((30, 20), True),
        ((50, 40, 30), True),
        ((10, 50, 40, 30), True),  # only the newest three count: 30 <= 50
        ((50, 10, 20), True),  # not growing across them: 20 <= 50
        ((5, 3, 8), True),  # within the messages in flight (5)
        ((0, 0, 1), True),
        ((200, 150, 210), True),  # within 5 % of the first
        ((10, 20), False),
        ((5, 3, 11), False),
        ((0, 0, 6), False),
        ((200, 150, 211), False),
    ],
)
def test_drains_compares_the_newest_samples_after_the_event(
    totals: tuple[int, ...], drains: bool
) -> None:
    points = [(ROUTED + timedelta(seconds=10 * (i + 1)), n) for i, n in enumerate(totals)]
    findings = [smtp("secondary"), queue("secondary", samples(*points))]
    result = judge("mail-flowing", ROUTED_LOG, findings)
    assert result.satisfied is drains, result.reason
    if not drains:
        assert "growing since routed" in result.reason


def test_malformed_samples_are_left_out_never_read_as_zero() -> None:
    recent: list[Any] = [
        ["not a time", 0],
        [(ROUTED + timedelta(seconds=10)).isoformat(), "0"],
        [(ROUTED + timedelta(seconds=20)).isoformat(), True],
        [(ROUTED + timedelta(seconds=30)).isoformat(), -1],
        [(ROUTED + timedelta(seconds=40)).isoformat()],
        [(ROUTED + timedelta(seconds=50)).isoformat(), 4],
    ]
    finding = queue("secondary", recent)
    assert recent_samples(finding) == [(ROUTED + timedelta(seconds=50), 4)]
    assert not judge("mail-flowing", ROUTED_LOG, [smtp("secondary"), finding]).satisfied
    assert recent_samples(Finding("queue", "depth", "q", Status.OK, "", data={"recent": "x"})) == []


# ---- stale and unknown data waits ----------------------------------------------------------------


def test_stale_findings_wait() -> None:
    seen = DECIDED + timedelta(seconds=5)
    fresh = judge(
        "cutover", DECIDED_ONLY, [mx("secondary", seen)], now=seen + timedelta(seconds=60)
    )
    assert fresh.satisfied  # dns reads every 10 s by default: fresh for 60 s
    stale = judge(
        "cutover", DECIDED_ONLY, [mx("secondary", seen)], now=seen + timedelta(seconds=61)
    )
    assert not stale.satisfied
    assert stale.reason == (
        "dns.MX example.test (secondary): stale, last seen 14:10:05 (older than 60 s)"
    )


def test_unknown_findings_wait() -> None:
    unknown = Finding(
        "dns",
        "MX",
        "example.test",
        Status.UNKNOWN,
        "timed out\x1b[31m",
        "secondary",
        observed_at=NOW,
    )
    result = judge("cutover", DECIDED_ONLY, [mx("secondary"), unknown])
    assert not result.satisfied
    assert result.reason.startswith("dns.MX example.test (secondary): unknown (timed out")
    assert "\x1b" not in result.reason


def test_freshness_bounds_follow_the_config_intervals() -> None:
    config = load_config_text(
        """
[domain]
name = "example.test"

[dns]
interval = 30

[auth]
interval = 120

[service]
interval = 10

[[region]]
name = "primary"
mx = ["mx1.example.test"]

  [[region.queue]]
  name = "slow"
  kind = "command"
  command = ["true"]
  interval = 100

  [[region.queue]]
  name = "fast"
  kind = "command"
  command = ["true"]
  interval = 5

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""
    )
    assert freshness_bound("dns", config=config) == 90
    assert freshness_bound("auth", config=config) == 360
    assert freshness_bound("service", config=config) == 60  # 3 x 10 s, but at least 60 s
    assert freshness_bound("queue", "slow", "primary", config) == 300
    assert freshness_bound("queue", "fast", "primary", config) == 60
    assert freshness_bound("queue", "gone", "primary", config) == 300  # the slowest of the region
    assert freshness_bound("replication", "x", "primary", config) == 60  # no source: the default
    assert freshness_bound("vantage", config=config) == 60  # an area without an interval
    # canary: no [[canary]] configured, so the defaults: 3 x (300 s interval + 120 s timeout)
    assert freshness_bound("canary", config=config) == 1260
    assert freshness_bound("auth") == 180  # no config: the default 60 s interval
    assert freshness_bound("dns") == 60


def test_a_stale_queue_uses_its_own_source_interval() -> None:
    config = load_config_text(
        """
[domain]
name = "example.test"

[[region]]
name = "secondary"
mx = ["mx2.example.test"]

  [[region.queue]]
  name = "secondary-mx"
  kind = "command"
  command = ["true"]
  interval = 60

[[region]]
name = "primary"
mx = ["mx1.example.test"]
"""
    )
    seen = ROUTED + timedelta(seconds=40)
    recent = samples((ROUTED + timedelta(seconds=20), 3), (seen, 1))
    findings = [
        smtp("secondary", at=seen + timedelta(minutes=2)),
        queue("secondary", recent, at=seen),
    ]
    later = seen + timedelta(minutes=2)
    with_config = auto_result(
        STEPS["mail-flowing"], findings, incident_moments(ROUTED_LOG, now=later, config=config)
    )
    assert with_config.satisfied, with_config.reason  # 3 x 60 s: still fresh
    without = auto_result(STEPS["mail-flowing"], findings, incident_moments(ROUTED_LOG, now=later))
    assert not without.satisfied and "stale" in without.reason  # default 15 s interval: 60 s


# ---- satisfied, with the evidence cited --------------------------------------------------------


def test_decision_routed_and_fresh_ok_findings_satisfy_mail_flowing_with_evidence() -> None:
    after = [(ROUTED + timedelta(seconds=s), n) for s, n in ((30, 12), (60, 4), (90, 4))]
    findings = [
        smtp("secondary"),
        queue("secondary", samples(*after)),
        smtp("primary", Status.FAIL),  # the dead region is not the target: it is not looked at
        queue("primary", samples((NOW, 900)), Status.FAIL),
    ]
    result = judge("mail-flowing", ROUTED_LOG, findings)
    assert result.satisfied and result.reason == ""
    assert result.evidence == (findings[0], findings[1])
    record = auto_record(result, NOW)
    assert record == {
        "seen_at": "2026-11-27T14:15:00.000Z",
        "condition": (
            "service.smtp region=TARGET after=routed == ok"
            " and queue.depth region=TARGET after=routed drains"
            # Issue 14: canaries both ways are the other way to show it.
            " or canary.inbound region=TARGET after=routed == ok"
            " and canary.outbound region=TARGET after=routed == ok"
        ),
        "evidence": [
            {
                "area": "service",
                "check": "smtp",
                "subject": "mx.secondary.example.test:25",
                "region": "secondary",
                "status": "ok",
                "observed_at": "2026-11-27T14:15:00.000Z",
            },
            {
                "area": "queue",
                "check": "depth",
                "subject": "secondary-mx",
                "region": "secondary",
                "status": "ok",
                "observed_at": "2026-11-27T14:15:00.000Z",
            },
        ],
    }


def test_checklist_findings_for_satisfied_waiting_done_and_skipped_steps() -> None:
    log = [
        *ROUTED_LOG,
        entry(5, NOW, "check", {"step": "cutover", "result": "done", "title": "Cut over"}),
        entry(
            6, NOW, "check", {"step": "webmail-cert", "result": "skipped", "reason": "no webmail"}
        ),
    ]
    after = [(ROUTED + timedelta(seconds=s), 0) for s in (30, 60)]
    findings = [smtp("secondary"), queue("secondary", samples(*after)), auth("spf", "secondary")]
    judged = checklist_findings(BUILTIN_STEPS, log, findings, now=NOW)
    assert [f.check for f in judged] == [
        "cutover",
        "mail-flowing",
        "verify-delivery",  # issue 14: canaries both ways tick it
        "auth-alignment",
        "webmail-cert",
    ]
    by_step = {f.check: f for f in judged}
    for finding in judged:
        assert finding.area == "checklist" and finding.region is None
        assert finding.subject == STEPS[finding.check].title
        assert set(finding.data) >= {"condition", "satisfied", "reason", "evidence"}
    done = by_step["cutover"]
    assert (done.status, done.summary) == (Status.OK, "done by alice")
    skipped = by_step["webmail-cert"]
    # Skipped: a person chose not to do it; nothing proved it, so never ok.
    assert (skipped.status, skipped.summary) == (Status.WARN, "skipped by alice: no webmail")
    flowing = by_step["mail-flowing"]
    assert flowing.status is Status.OK and flowing.data["satisfied"] is True
    assert flowing.summary.startswith(
        "satisfied: service.smtp region=TARGET after=routed == ok and queue.depth"
    )
    assert "(evidence: service.smtp mx.secondary.example.test:25 (secondary) ok at 14:15:00" in (
        flowing.summary
    )
    assert [e["area"] for e in flowing.data["evidence"]] == ["service", "queue"]
    waiting = by_step["auth-alignment"]
    assert waiting.status is Status.UNKNOWN
    assert waiting.summary == "waiting for evidence: auth.dkim (secondary): no finding yet"
    assert waiting.data == {
        "condition": (
            "auth.spf region=TARGET after=routed == ok and auth.dkim region=TARGET"
            " after=routed == ok and auth.dmarc region=TARGET after=routed == ok"
            " or canary.outbound region=TARGET after=routed == ok"
            " and canary.dmarc region=TARGET after=routed == ok"
        ),
        "satisfied": False,
        "reason": "auth.dkim (secondary): no finding yet",
        "evidence": [],
        "step": "open",
    }
    assert all(f.to_json()["data"] == dict(f.data) for f in judged)  # JSON-ready


def test_cited_evidence_is_bounded() -> None:
    many = [
        Finding("auth", "spf", f"s{i}.example.test", Status.OK, "ok", "secondary", observed_at=NOW)
        for i in range(25)
    ]
    step = Step("all-spf", "after", "SPF", "", parse_condition("auth.spf == ok"), None)
    result = auto_result(step, many, incident_moments([], now=NOW))
    assert result.satisfied and len(result.evidence) == 25
    assert len(auto_record(result, NOW)["evidence"]) == MAX_EVIDENCE
    (finding,) = checklist_findings([step], [], many, now=NOW)
    assert len(finding.data["evidence"]) == MAX_EVIDENCE
    assert finding.summary.endswith("; and 22 more)")


# ---- the queue finding carries its recent samples ----------------------------------------------


def test_queue_findings_carry_their_recent_good_samples_bounded() -> None:
    source = QueueSource(name="secondary-mx", kind="command", command=("true",))
    history = QueueHistory(source, "secondary")
    for i in range(40):
        at = ROUTED + timedelta(seconds=15 * i)
        sample = None if i % 10 == 9 else QueueSample(source=source.name, at=at, total=40 - i)
        history.add(Reading(source.name, at, sample, None if sample else "timed out"))
    last = ROUTED + timedelta(seconds=15 * 40)
    history.add(Reading(source.name, last, QueueSample(source=source.name, at=last, total=0)))
    finding = finding_for(source, "secondary", history, last)
    recent = finding.data["recent"]
    assert len(recent) == RECENT_SAMPLES
    assert recent[-1] == [last.isoformat(), 0]
    assert all(isinstance(total, int) for _, total in recent)  # failed reads are left out
    times = [parse for parse, _ in recent_samples(finding)]
    assert times == sorted(times)
    observed = Finding(**{**_fields(finding), "observed_at": last})
    result = judge("mail-flowing", ROUTED_LOG, [smtp("secondary", at=last), observed], now=last)
    assert result.satisfied, result.reason


def _fields(finding: Finding) -> dict[str, Any]:
    return {name: getattr(finding, name) for name in Finding.__dataclass_fields__}
