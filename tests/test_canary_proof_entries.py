"""The log records mail flowing after routing (issue 14): a canary that stays ok writes no
status change, so the first ok run of each canary after `routed` gets its own probe entry,
once per routing and canary, even across cockpits and restarts; the export cites it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cockpit.config import load_config_text
from cockpit.incident.delivery_proof import delivery_proof
from cockpit.incident.entry import Entry
from cockpit.incident.finding_changes import PROVEN_EVENT
from cockpit.live_probes import LiveProbes
from cockpit.model import Finding, Status
from tests.dns_fakes import CONFIG_TEXT, T0

CANARIES = """
[[canary]]
name = "in"
direction = "inbound"
region = "target"
from = "probe@outside.test"
to = "canary@example.com"
imap = "imap.example.com"
imap_user = "canary"
imap_password_env = "X_PW"

[[canary]]
name = "out"
direction = "outbound"
region = "target"
from = "canary@example.com"
to = "probe@outside.test"
imap = "imap.outside.test"
imap_user = "probe"
imap_password_env = "X_PW"
submission = "submit.example.com"
submission_user = "canary"
submission_password_env = "X_PW"
"""

DECIDED = T0 + timedelta(minutes=1)
ROUTED = T0 + timedelta(minutes=2)


def entry(seq: int, ts: datetime, author: str, kind: str, text: str, data: Any) -> Entry:
    return Entry(seq, ts, author, {"host": "test"}, kind, text, data)


def entries_until(routed: bool, extra: list[Entry] | None = None) -> list[Entry]:
    made = [
        entry(1, T0, "alice", "phase", "impact", {"phase": "impact"}),
        entry(2, DECIDED, "alice", "decision", "Fail over",
              {"target_region": "secondary", "previous_region": "primary"}),
    ]  # fmt: skip
    if routed:
        made.append(entry(3, ROUTED, "alice", "phase", "routed", {"phase": "routed"}))
    return made + list(extra or [])


def run(
    name: str, check: str, status: Status, at: datetime, region: str = "secondary"
) -> list[Finding]:
    data: dict[str, Any] = {"round_trip_s": 4.2, "folder": "INBOX", "token": f"{name}-x"}
    found = [Finding("canary", check, name, status, f"{check} {status.value}", region,
                     None, data, at)]  # fmt: skip
    for verdict in ("dkim", "spf", "dmarc", "path"):
        found.append(Finding("canary", verdict, name, Status.OK, verdict, region, None, {}, at))
    return found


def probes() -> LiveProbes:
    config = load_config_text(CONFIG_TEXT + CANARIES)
    return LiveProbes(config, target="secondary", clock=lambda: ROUTED + timedelta(minutes=9))


def proofs(entries: list[Any]) -> list[Any]:
    return [entry for entry in entries if entry.data.get("event") == PROVEN_EVENT]


def test_the_first_ok_run_after_routing_is_logged_once_per_canary() -> None:
    live = probes()
    live.learn_entries(entries_until(routed=False))
    # ok before routing: the starting picture says nothing (all ok), and there is no proof.
    assert live.took_canary("in", run("in", "inbound", Status.OK, DECIDED)) == []
    live.learn_entries(entries_until(routed=True))
    before = live.took_canary("in", run("in", "inbound", Status.OK, ROUTED - timedelta(seconds=1)))
    assert proofs(before) == []  # observed before the routed time: proves nothing
    first = live.took_canary("in", run("in", "inbound", Status.OK, ROUTED + timedelta(seconds=40)))
    (proof,) = proofs(first)
    assert proof.data["area"] == "canary" and proof.data["subject"] == "in"
    assert proof.data["at"] == (ROUTED + timedelta(seconds=40)).isoformat()
    assert proof.data["evidence"]["check"] == "inbound"
    assert proof.data["evidence"]["data"]["round_trip_s"] == 4.2
    assert "proves mail flows after routing" in proof.text
    again = live.took_canary("in", run("in", "inbound", Status.OK, ROUTED + timedelta(minutes=5)))
    assert proofs(again) == []  # once per routing
    # A warning run never proves delivery; the other canary's first ok run does.
    warned = live.took_canary(
        "out", run("out", "outbound", Status.WARN, ROUTED + timedelta(minutes=3))
    )
    assert proofs(warned) == []
    ok = live.took_canary("out", run("out", "outbound", Status.OK, ROUTED + timedelta(minutes=6)))
    # Its change warn -> ok says it already (the export reads that entry): no second entry.
    assert proofs(ok) == [] and any(e.data.get("status") == "ok" for e in ok)

    # The export cites both from the log as written.
    log = entries_until(routed=True)
    for seq, probe in enumerate([*first, *ok], start=10):
        log.append(entry(seq, ROUTED + timedelta(minutes=10), "cockpit", "probe", probe.text,
                         probe.data))  # fmt: skip
    found = delivery_proof(log)
    assert found is not None
    assert found.first["inbound"].canary == "in" and found.first["outbound"].canary == "out"


def test_a_proof_already_in_the_log_is_not_written_again() -> None:
    """Another cockpit (or this one before a restart) logged the proof: learnt from the log."""
    writer = probes()
    writer.learn_entries(entries_until(routed=True))
    (proof,) = proofs(
        writer.took_canary("in", run("in", "inbound", Status.OK, ROUTED + timedelta(seconds=30)))
    )
    logged = entry(9, ROUTED + timedelta(seconds=31), "cockpit", "probe", proof.text, proof.data)
    other = probes()
    other.learn_entries(entries_until(routed=True, extra=[logged]))
    later = ROUTED + timedelta(minutes=3)
    assert proofs(other.took_canary("in", run("in", "inbound", Status.OK, later))) == []


def test_a_new_routing_is_proven_afresh() -> None:
    live = probes()
    live.learn_entries(entries_until(routed=True))
    assert proofs(
        live.took_canary("in", run("in", "inbound", Status.OK, ROUTED + timedelta(seconds=5)))
    )
    rerouted = ROUTED + timedelta(hours=2)
    live.learn_entries(
        entries_until(routed=True)
        + [
            entry(
                5,
                rerouted - timedelta(minutes=1),
                "bob",
                "decision",
                "Back",
                {"target_region": "primary", "previous_region": "secondary"},
            ),
            entry(6, rerouted, "bob", "phase", "routed", {"phase": "routed"}),
        ]  # fmt: skip
    )
    assert live.routed_at == rerouted
    # Through secondary, the region left behind: no proof of the route to primary.
    old = live.took_canary("in", run("in", "inbound", Status.OK, rerouted + timedelta(seconds=5)))
    assert proofs(old) == []
    after = live.took_canary(
        "in", run("in", "inbound", Status.OK, rerouted + timedelta(seconds=9), "primary")
    )
    assert len(proofs(after)) == 1
