"""Canaries in the checklist (issue 14): "Delivery works both ways", "Mail flows again" and the
authentication step hold on an inbound and an outbound canary that arrived ok through the
target after routing, never on one seen before it, one that warned, or one of unknown outcome.

Pure tests over the built-in runbook with hand-built findings and fixed times.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cockpit.config import load_config_text
from cockpit.incident.checklist import auto_record
from cockpit.incident.checklist_auto import freshness_bound
from cockpit.model import Finding, Status
from tests.test_checklist_evidence import (
    DECIDED_ONLY,
    NOW,
    ROUTED,
    ROUTED_LOG,
    judge,
)

TARGET = "secondary"


def canary(
    check: str,
    status: Status = Status.OK,
    *,
    at: object = NOW,
    region: str = TARGET,
    name: str | None = None,
) -> Finding:
    subject = name or ("in-canary" if check in ("inbound", "dmarc") else "out-canary")
    data = {"round_trip_s": 3.5, "folder": "INBOX"} if check in ("inbound", "outbound") else {}
    return Finding("canary", check, subject, status, f"{check} {status}", region, None, data, at)  # type: ignore[arg-type]


def both_ways(at: object = NOW) -> list[Finding]:
    return [canary("inbound", at=at), canary("outbound", at=at), canary("dmarc", at=at)]


def test_both_canaries_ok_after_routing_tick_delivery_and_cite_the_runs() -> None:
    result = judge("verify-delivery", ROUTED_LOG, both_ways())
    assert result.satisfied, result.reason
    cited = [(f.check, f.subject) for f in result.evidence]
    assert cited == [("inbound", "in-canary"), ("outbound", "out-canary")]
    record = auto_record(result, NOW)
    assert [item["area"] for item in record["evidence"]] == ["canary", "canary"]
    assert "canary.inbound region=TARGET after=routed == ok" in record["condition"]


def test_before_routing_or_before_the_decision_nothing_holds() -> None:
    assert not judge("verify-delivery", DECIDED_ONLY, both_ways()).satisfied
    early = both_ways(at=ROUTED - timedelta(seconds=1))
    result = judge("verify-delivery", ROUTED_LOG, early)
    assert not result.satisfied
    assert "routed" in result.reason


@pytest.mark.parametrize(
    ("findings", "why"),
    [
        ([canary("inbound")], "canary.outbound"),
        ([canary("inbound"), canary("outbound", Status.WARN)], "warn"),
        ([canary("inbound"), canary("outbound", Status.UNKNOWN)], "unknown"),
        ([canary("inbound"), canary("outbound", region="primary")], "canary.outbound"),
        ([canary("inbound"), canary("outbound", at=None)], "time"),
    ],
    ids=["outbound-missing", "outbound-warn", "outbound-unknown", "other-region", "no-time"],
)
def test_one_way_a_warning_or_an_unknown_run_is_not_delivery(
    findings: list[Finding], why: str
) -> None:
    result = judge("verify-delivery", ROUTED_LOG, findings)
    assert not result.satisfied
    assert why in result.reason


def test_mail_flowing_holds_on_canaries_when_the_queue_cannot_say() -> None:
    result = judge("mail-flowing", ROUTED_LOG, both_ways())
    assert result.satisfied, result.reason
    assert {f.area for f in result.evidence} == {"canary"}


def test_the_authentication_step_holds_on_an_aligned_outbound_canary() -> None:
    result = judge("auth-alignment", ROUTED_LOG, both_ways())
    assert result.satisfied, result.reason
    assert [(f.check) for f in result.evidence] == ["outbound", "dmarc"]
    failing = [canary("outbound"), canary("dmarc", Status.FAIL)]
    result = judge("auth-alignment", ROUTED_LOG, failing)
    assert not result.satisfied
    # Both ways of meeting it are named, the probes' and the canary's.
    assert "auth.spf" in result.reason and "; or: " in result.reason and "fail" in result.reason


def test_a_canary_is_fresh_for_three_of_its_cycles() -> None:
    config = load_config_text(
        """
[incident]
dir = "/tmp"
[domain]
name = "example.test"
[[region]]
name = "primary"
mx = ["mx1.example.test"]
[[region]]
name = "secondary"
mx = ["mx.example.test"]
"""
    )
    # No canary configured: the defaults (interval 300 s + timeout 120 s), three times.
    assert freshness_bound("canary", "in-canary", TARGET, config) == 3 * (300 + 120)
    bound = timedelta(seconds=3 * 420)
    assert judge("verify-delivery", ROUTED_LOG, both_ways(), now=NOW + bound).satisfied
    late = NOW + bound + timedelta(seconds=1)
    assert not judge("verify-delivery", ROUTED_LOG, both_ways(), now=late).satisfied
