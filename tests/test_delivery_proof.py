"""The export cites the canaries that proved mail flowed after routing (issue 14): the first ok
run of each direction observed after the routed time, from auto ticks and canary probe
entries; never one from before routing, one that warned, or one of unreadable time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.incident.delivery_proof import delivery_proof
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.safe_text import md_inline

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ROUTED = T0 + timedelta(minutes=10)


def entry(seq: int, at: datetime, kind: str, data: dict[str, Any], author: str = "alice") -> Entry:
    return Entry(seq, at, author, {}, kind, kind, data)


def phase(seq: int, name: str, at: datetime) -> Entry:
    return entry(seq, at, "phase", {"phase": name, "at": format_ts(at)})


def tick(seq: int, at: datetime, *runs: dict[str, Any]) -> Entry:
    auto = {"seen_at": format_ts(at), "condition": "canary...", "evidence": list(runs)}
    data = {"step": "verify-delivery", "result": "done", "title": "Delivery", "auto": auto}
    return entry(seq, at, "check", data, author="cockpit")


def run(check: str, at: datetime, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "area": "canary",
        "check": check,
        "subject": f"{check[:2]}-canary",
        "region": "secondary",
        "status": status,
        "observed_at": format_ts(at),
        **extra,
    }


def probe(seq: int, check: str, at: datetime, status: str = "ok") -> Entry:
    evidence = {
        "region": "secondary",
        "check": check,
        "subject": "out-canary",
        "status": status,
        "summary": "arrived",
        "data": {"round_trip_s": 4.25, "folder": "INBOX"},
    }
    data = {"area": "canary", "event": "status_changed", "status": status, "evidence": evidence}
    data["at"] = format_ts(at)
    return entry(seq, at + timedelta(seconds=1), "probe", data, author="cockpit")


DECISION = entry(
    2, ROUTED - timedelta(minutes=1), "decision",
    {"target_region": "secondary", "previous_region": "primary"},
)  # fmt: skip
BASE = [phase(1, "impact", T0), DECISION, phase(3, "routed", ROUTED)]


def test_the_first_ok_run_of_each_direction_after_routed_is_cited() -> None:
    later = ROUTED + timedelta(minutes=3)
    entries = [
        *BASE,
        probe(4, "outbound", ROUTED + timedelta(minutes=1)),
        tick(5, later, run("inbound", ROUTED + timedelta(minutes=2), round_trip_s=2.5)),
        phase(6, "restored", later),
    ]
    proof = delivery_proof(entries)
    assert proof is not None
    assert proof.first["inbound"].seq == 5 and proof.first["inbound"].round_trip_s == 2.5
    assert proof.first["outbound"].source == "probe" and proof.first["outbound"].seq == 4
    assert proof.restored_at == later
    markdown = render_markdown(entries, name="inc")
    rows = {
        line.split(" | ")[0]: line
        for line in markdown.splitlines()
        if "| Canary round trip" in line
    }
    inbound, outbound = (
        rows["| Canary round trip (inbound)"],
        rows["| Canary round trip (outbound)"],
    )
    assert "mail flow proven by canaries" in inbound and "mail flow proven by canaries" in outbound
    assert f"{md_inline('in-canary')} through secondary at 2026-12-05 09:12:00 UTC" in inbound
    assert "| 2.5 s |" in inbound and "(checklist tick seq 5)" in inbound
    assert (
        "| 4.2 s |" in outbound or "| 4.3 s |" in outbound
    ) and "(probe entry seq 4)" in outbound
    document = json.loads(render_json(entries, name="inc"))
    assert document["delivery_proof"]["inbound"]["seq"] == 5
    assert document["delivery_proof"]["outbound"]["round_trip_s"] == 4.25


@pytest.mark.parametrize(
    "runs",
    [
        [run("inbound", ROUTED - timedelta(seconds=1))],
        [run("inbound", ROUTED)],
        [run("inbound", ROUTED + timedelta(minutes=1), status="warn")],
        [run("inbound", ROUTED + timedelta(minutes=1), status="unknown")],
        [{**run("inbound", ROUTED), "observed_at": "yesterday"}],
        [{**run("inbound", ROUTED + timedelta(minutes=1)), "area": "service"}],
    ],
    ids=["before-routed", "at-routed", "warn", "unknown", "no-time", "not-a-canary"],
)
def test_nothing_is_cited_that_does_not_prove_delivery(runs: list[dict[str, Any]]) -> None:
    entries = [*BASE, tick(4, ROUTED + timedelta(minutes=5), *runs)]
    assert delivery_proof(entries) is None
    assert "mail flow proven" not in render_markdown(entries, name="inc").lower()
    assert "delivery_proof" not in json.loads(render_json(entries, name="inc"))


def test_only_runs_through_the_decided_region_prove_the_new_route() -> None:
    """A canary pinned to the old region (back up) arriving ok after routing proves nothing
    about the route to secondary; without a failover decision nothing proves a route."""
    at = ROUTED + timedelta(minutes=1)
    old_region = {**run("inbound", at), "region": "primary"}
    assert delivery_proof([*BASE, tick(4, at, old_region)]) is None
    no_region = {**run("inbound", at), "region": None}
    assert delivery_proof([*BASE, tick(4, at, no_region)]) is None
    undecided = [
        phase(1, "impact", T0),
        phase(2, "routed", ROUTED),
        tick(3, at, run("inbound", at)),
    ]
    assert delivery_proof(undecided) is None
    proof = delivery_proof([*BASE, tick(4, at, old_region, run("inbound", at))])
    assert proof is not None and proof.first["inbound"].region == "secondary"


def test_without_routed_nothing_is_proof_and_a_missing_direction_is_said() -> None:
    at = ROUTED + timedelta(minutes=1)
    assert delivery_proof([phase(1, "impact", T0), tick(2, at, run("inbound", at))]) is None
    entries = [*BASE, tick(4, at, run("inbound", at))]
    assert "| no outbound canary seen ok after routed |" in render_markdown(entries, name="x")
