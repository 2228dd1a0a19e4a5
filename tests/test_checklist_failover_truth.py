"""The steps that set routed and restored claim only what the failover they are about shows.

- `dns.MX region=TARGET == ok` (the cutover step) is judged on every answer judged against the
  target, from resolvers and authoritative servers alike: a stale, unknown or hijacked answer
  blocks it; it is not left out because it points elsewhere.
- routed, restored and verified set before the latest failover decision belong to an earlier
  failover: after a second decision, `after=routed` waits for routed to be set again.
- A vantage's answer keeps its own observation time, so a look from before the decision (or an
  old one) is not cited as seen after it; a vantage row's freshness follows its vantage's interval.

Pure tests: the DNS findings are made by the real judge (`findings_from_sweep`, `LiveProbes`)
from observations built with tests/dns_fakes.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cockpit.config import load_config_text
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Outcome, ServerSpec
from cockpit.incident.checklist import checklist_findings
from cockpit.incident.checklist_auto import auto_result, freshness_bound, incident_moments
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.runbook import BUILTIN_STEPS
from cockpit.live_probes import LiveProbes
from cockpit.model import Finding, Status
from cockpit.vantage.model import VantageLook, VantageRow
from tests.dns_fakes import (
    CONFIG,
    CONFIG_TEXT,
    MX_PRIMARY,
    MX_SECONDARY,
    RESOLVERS,
    T0,
    auth,
    everyone,
    obs,
    sweep,
    watched,
)

STEPS = {step.id: step for step in BUILTIN_STEPS}
DECIDED = T0 + timedelta(minutes=10)
SWEPT = T0 + timedelta(minutes=11)
NOW = SWEPT + timedelta(seconds=5)
MX = watched("MX")


def entry(seq: int, ts: datetime, kind: str, data: dict[str, Any]) -> Entry:
    return Entry(seq, ts, "alice", {}, kind, kind, data)


def decision(seq: int, ts: datetime, target: str, previous: str = "primary") -> Entry:
    return entry(seq, ts, "decision", {"target_region": target, "previous_region": previous})


def phase(seq: int, ts: datetime, name: str) -> Entry:
    return entry(seq, ts, "phase", {"phase": name, "at": format_ts(ts)})


def cutover(findings: list[Finding], log: list[Entry], now: datetime = NOW) -> Any:
    return auto_result(STEPS["cutover"], findings, incident_moments(log, now=now, config=CONFIG))


# ---- the cutover step: every answer judged against the target ---------------------------------


def test_one_resolver_on_the_target_does_not_make_the_cutover_while_others_do_not() -> None:
    """The authoritative servers still serve the primary, Quad9 is stale, Office times out and
    only Cloudflare answers the target: the step waits, naming the first answer that is not ok.
    Before, only the answers pointing at the target matched region=TARGET, so Cloudflare alone
    made it hold."""
    answers = {
        ("Cloudflare", MX.key): obs(MX, answers=MX_SECONDARY, server="Cloudflare", at=SWEPT),
        ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY, server="Quad9", at=SWEPT),
        ("Office", MX.key): obs(MX, Outcome.TIMEOUT, server="Office", at=SWEPT, error="no"),
    }
    swept = sweep(answers, auth(MX, MX_PRIMARY, at=SWEPT), records=(MX,), started_at=SWEPT)
    findings = findings_from_sweep(swept, "secondary")
    log = [decision(1, DECIDED, "secondary")]
    result = cutover(findings, log)
    assert not result.satisfied
    assert "from authoritative ns1: warn, needs ok" in result.reason, result.reason
    [row] = [
        f for f in checklist_findings(BUILTIN_STEPS, log, findings, now=NOW) if f.check == "cutover"
    ]
    assert row.status is Status.UNKNOWN and "waiting for evidence" in row.summary

    # The authoritative servers serve the target now; Quad9's cache and Office still do not.
    swept = sweep(answers, auth(MX, MX_SECONDARY, at=SWEPT), records=(MX,), started_at=SWEPT)
    result = cutover(findings_from_sweep(swept, "secondary"), log)
    assert not result.satisfied
    assert "example.com (primary) from Quad9: warn, needs ok" in result.reason, result.reason

    # A hijacked answer (neither region) blocks it too.
    hijacked = {
        **answers,
        ("Quad9", MX.key): obs(MX, answers=("10 mx.evil.test",), server="Quad9", at=SWEPT),
    }
    hijacked[("Office", MX.key)] = obs(MX, answers=MX_SECONDARY, server="Office", at=SWEPT)
    swept = sweep(hijacked, auth(MX, MX_SECONDARY, at=SWEPT), records=(MX,), started_at=SWEPT)
    result = cutover(findings_from_sweep(swept, "secondary"), log)
    assert not result.satisfied and "from Quad9: fail, needs ok" in result.reason, result.reason


def test_every_answer_on_the_target_makes_the_cutover_and_is_cited() -> None:
    everyone_now = everyone(MX, MX_SECONDARY, at=SWEPT)
    swept = sweep(everyone_now, auth(MX, MX_SECONDARY, at=SWEPT), records=(MX,), started_at=SWEPT)
    result = cutover(findings_from_sweep(swept, "secondary"), [decision(1, DECIDED, "secondary")])
    assert result.satisfied, result.reason
    cited = {finding.resolver for finding in result.evidence}
    assert cited == {"authoritative ns1", "authoritative ns2", *(r.name for r in RESOLVERS)}
    # Judged against another target, the same answers are not evidence for it.
    tertiary = [decision(1, DECIDED, "tertiary", "secondary")]
    assert not cutover(findings_from_sweep(swept, "secondary"), tertiary).satisfied


# ---- a phase of an earlier failover ------------------------------------------------------------


def _tertiary_mail_flowing(at: datetime) -> list[Finding]:
    """Tertiary greets and its idle queue read empty three times in the minute before `at`."""
    seen = [at - timedelta(seconds=s) for s in (40, 20, 0)]
    recent = [[moment.isoformat(), 0] for moment in seen]
    return [
        Finding("service", "smtp", "mx.tertiary:25", Status.OK, "220", "tertiary", observed_at=at),
        Finding(
            "queue",
            "depth",
            "tertiary-mx",
            Status.OK,
            "empty",
            "tertiary",
            None,
            {"total": 0, "recent": recent},
            at,
        ),
    ]


def test_after_a_second_decision_routed_must_be_set_again() -> None:
    """Secondary was routed at 14:12; at 14:30 a new decision names tertiary, whose DNS has not
    been changed. Tertiary's idle MX greets and its empty queue does not grow: before, the
    first cutover's routed made 'Mail flows again' hold for tertiary."""
    second = T0 + timedelta(minutes=30)
    log = [
        decision(1, DECIDED, "secondary"),
        phase(2, T0 + timedelta(minutes=12), "routed"),
        phase(3, T0 + timedelta(minutes=20), "restored"),
        decision(4, second, "tertiary", "secondary"),
    ]
    now = second + timedelta(minutes=1)
    moments = incident_moments(log, now=now)
    assert moments.target == "tertiary" and moments.events["decision"] == second
    assert "routed" not in moments.events and "restored" not in moments.events
    result = auto_result(STEPS["mail-flowing"], _tertiary_mail_flowing(now), moments)
    assert not result.satisfied
    assert result.reason.startswith(
        "routed not set since the failover decision (set at 14:12:00, for an earlier one)"
    ), result.reason

    # Routed again after the decision: the same kind of findings, seen after it, hold.
    routed = second + timedelta(minutes=2)
    log.append(phase(5, routed, "routed"))  # a correction would do the same (seq after it)
    later = routed + timedelta(minutes=1)
    result = auto_result(
        STEPS["mail-flowing"], _tertiary_mail_flowing(later), incident_moments(log, now=later)
    )
    assert result.satisfied, result.reason


def test_phases_before_the_decision_still_count_when_they_come_before_it() -> None:
    """impact, detected and declared are not about the failover: set before the decision, they
    stay."""
    log = [phase(1, T0, "impact"), phase(2, T0, "declared"), decision(3, DECIDED, "secondary")]
    moments = incident_moments(log, now=NOW)
    assert moments.events["impact"] == T0 and moments.events["declared"] == T0


# ---- a vantage's answer keeps its own time -----------------------------------------------------

VANTAGE_CONFIG = load_config_text(
    CONFIG_TEXT
    + """
[[vantage]]
name = "sites"
kind = "prometheus"
url = "http://prometheus.example:9090"
interval = 600
"""
)
ROW = "8.8.8.8 @ berlin"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _probes_with_look(looked: datetime) -> LiveProbes:
    """Every local resolver and the authoritative servers answer the target at SWEPT; the
    vantage's row answered it at `looked`."""
    probes = LiveProbes(VANTAGE_CONFIG, target="secondary", clock=Clock(NOW))
    seen = obs(MX, answers=MX_SECONDARY, server=ROW, at=looked)
    row = VantageRow(ServerSpec(ROW, "8.8.8.8"), MappingProxyType({MX.key: seen}))
    probes.took_look(
        VantageLook("sites", "prometheus", "berlin", looked, looked + timedelta(seconds=1), (row,))
    )
    local = everyone(MX, MX_SECONDARY, at=SWEPT)
    probes.took_sweep(
        sweep(local, auth(MX, MX_SECONDARY, at=SWEPT), records=(MX,), started_at=SWEPT)
    )
    return probes


def test_a_vantage_look_from_before_the_decision_is_not_seen_after_it() -> None:
    looked = T0 + timedelta(minutes=5)
    probes = _probes_with_look(looked)
    [row] = [f for f in probes.findings() if f.resolver == ROW]
    assert row.observed_at == looked  # not the local sweep's start
    moments = incident_moments([decision(1, DECIDED, "secondary")], now=NOW, config=VANTAGE_CONFIG)
    result = auto_result(STEPS["cutover"], probes.findings(), moments)
    assert not result.satisfied
    assert f"from {ROW}: last seen 14:05:00, not after the failover decision" in result.reason

    # The same vantage after the decision: the cutover holds, citing the row at its own time.
    probes = _probes_with_look(DECIDED + timedelta(seconds=30))
    result = auto_result(STEPS["cutover"], probes.findings(), moments)
    assert result.satisfied, result.reason
    [cited] = [f for f in result.evidence if f.resolver == ROW]
    assert cited.observed_at == DECIDED + timedelta(seconds=30)


def test_a_vantage_row_is_fresh_for_its_vantage_interval_and_no_longer() -> None:
    assert freshness_bound("dns", config=VANTAGE_CONFIG) == 60  # 3 x 10 s, at least 60 s
    assert freshness_bound("dns", config=VANTAGE_CONFIG, resolver=ROW) == 1800  # 3 x 600 s
    assert freshness_bound("dns", config=VANTAGE_CONFIG, resolver="Quad9") == 60
    assert freshness_bound("dns", config=CONFIG, resolver=ROW) == 60  # no vantage configured
    moments = incident_moments(
        [decision(1, T0 - timedelta(hours=2), "secondary")], now=NOW, config=VANTAGE_CONFIG
    )
    # 50 minutes old: more than three of its intervals.
    result = auto_result(
        STEPS["cutover"], _probes_with_look(NOW - timedelta(minutes=50)).findings(), moments
    )
    assert not result.satisfied
    assert f"from {ROW}: stale, last seen" in result.reason, result.reason
    # 20 minutes old: within them.
    result = auto_result(
        STEPS["cutover"], _probes_with_look(NOW - timedelta(minutes=20)).findings(), moments
    )
    assert result.satisfied, result.reason


# ---- the checklist after a second decision -----------------------------------------------------


def check(seq: int, ts: datetime, step: str, result: str = "done") -> Entry:
    return entry(seq, ts, "check", {"step": step, "result": result, "title": step})


def test_a_new_decision_opens_again_the_steps_about_the_failover() -> None:
    """Cut over and mail flowing were done for secondary; a decision for tertiary opens them
    again (remembering how they stood), while a step about the incident stays done."""
    from cockpit.incident.checklist import checklist_state, per_failover

    assert per_failover(STEPS["cutover"]) and per_failover(STEPS["mail-flowing"])
    assert per_failover(STEPS["verify-delivery"])  # its condition names TARGET
    assert not per_failover(STEPS["inform-users"])
    first = T0 + timedelta(minutes=12)
    log = [
        decision(1, DECIDED, "secondary"),
        check(2, first, "cutover"),
        check(3, first, "inform-users"),
        check(4, first, "mail-flowing", "skipped"),
        decision(5, T0 + timedelta(minutes=30), "tertiary", "secondary"),
    ]
    states = checklist_state(BUILTIN_STEPS, log)
    assert states["inform-users"].status == "done"
    cutover = states["cutover"]
    assert cutover.status == "open" and cutover.earlier_failover == (
        "done", "alice", first, "secondary"
    )  # fmt: skip
    assert states["mail-flowing"].status == "open"
    assert states["mail-flowing"].earlier_failover == ("skipped", "alice", first, "secondary")
    # Ticked again after the decision: done, as any step.
    again = checklist_state(BUILTIN_STEPS, [*log, check(6, T0 + timedelta(minutes=31), "cutover")])
    assert again["cutover"].status == "done" and again["cutover"].seq == 6


def test_ticking_the_reopened_cutover_corrects_routed(tmp_path: Path) -> None:
    from cockpit.incident.log import IncidentLog
    from cockpit.incident.phases import effective_phases
    from cockpit.ui.checklist_write import write_step

    log = IncidentLog(tmp_path / "inc.jsonl")
    log.append("decision", "to secondary", {"target_region": "secondary"}, author="bob")
    first_tick, first_phase = write_step(log, BUILTIN_STEPS, "alice", "cutover", "done", "")
    log.append("decision", "to tertiary", {"target_region": "tertiary"}, author="bob")
    tick, correction = write_step(log, BUILTIN_STEPS, "alice", "cutover", "done", "")
    assert tick.data["result"] == "done" and correction.kind == "correction"
    assert correction.data["corrects_seq"] == first_phase.seq
    assert effective_phases(log.read().entries).at("routed") == tick.ts
    # Done for this failover now: ticking again says so and changes no phase.
    [already] = write_step(log, BUILTIN_STEPS, "carol", "cutover", "done", "")
    assert already.data["result"] == "already-done"
