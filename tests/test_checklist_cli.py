"""`cockpit check --only checklist --json --incident LOG` end to end: a fresh process, real queue
commands, DNS pointed at a closed loopback port (so every DNS answer is unknown at once), and an
incident log written by the real IncidentLog.

Before a failover decision, no step that marks routed or restored is satisfied, although the
queues read fine and the config's first region is where the target would default to.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

from cockpit.incident.entry import parse_ts, utc_now
from cockpit.incident.log import IncidentLog
from tests.conftest import run_cockpit

CALM = "queue-calm"
"""A config step that sets no phase: judged on fresh findings, no after= of its own."""


def closed_port() -> int:
    """A loopback port nothing listens on (UDP and TCP), so DNS queries are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path) -> Path:
    port = closed_port()
    python = json.dumps(sys.executable)
    path = tmp_path / "cockpit.toml"
    path.write_text(
        f"""
[incident]
dir = "incidents"

[domain]
name = "example.test"

[dns]
timeout = 0.5
authoritative = ["127.0.0.1:{port}"]

[[dns.resolver]]
name = "loop"
address = "127.0.0.1:{port}"

[auth]
skip = ["spf", "dkim", "dmarc", "ptr", "tls-rpt", "mta-sts", "smtp-tls", "webmail", "idp"]

[service]
timeout = 1

[[region]]
name = "primary"
mx = ["mx1.example.test"]

  [[region.queue]]
  name = "primary-mx"
  kind = "command"
  command = [{python}, "-c", "print(3)"]
  timeout = 5
  warn = 100

[[region]]
name = "secondary"
mx = ["mx2.example.test"]

  [[region.queue]]
  name = "secondary-mx"
  kind = "command"
  command = [{python}, "-c", "print(0)"]
  timeout = 5
  warn = 100

[[checklist.step]]
id = "{CALM}"
phase = "during"
title = "Target queue below warn"
auto = "queue.depth region=TARGET <= warn"
""",
        encoding="utf-8",
    )
    return path


def check_checklist(config: Path, log: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    done = run_cockpit(
        "check",
        "--config",
        str(config),
        "--only",
        "checklist",
        "--json",
        "--incident",
        str(log),
        timeout=60,
    )
    assert done.returncode != 3, done.stderr
    document = json.loads(done.stdout)
    assert {f["area"] for f in document["findings"]} == {"checklist"}
    return done.returncode, {f["check"]: f for f in document["findings"]}


def test_before_a_decision_no_routed_or_restored_step_is_satisfied(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "incident.jsonl")
    log.append("phase", "impact", {"phase": "impact"}, author="alice")
    code, judged = check_checklist(write_config(tmp_path), log.path)
    assert set(judged) == {
        "cutover",
        "mail-flowing",
        "verify-delivery",  # proven by canaries both ways (issue 14)
        "auth-alignment",
        "webmail-cert",
        CALM,
    }
    for finding in judged.values():
        assert finding["status"] == "unknown", finding
        assert finding["summary"].startswith("waiting for evidence: "), finding
        assert finding["data"]["satisfied"] is False and finding["data"]["evidence"] == []
    for step_id in ("cutover", "mail-flowing", "verify-delivery", "auth-alignment", CALM):
        assert judged[step_id]["data"]["reason"] == "no failover decision yet", step_id
    assert judged["cutover"]["data"]["condition"] == "dns.MX region=TARGET after=decision == ok"
    assert code == 1  # unknown: waiting is never ok


def test_after_the_decision_fresh_findings_satisfy_and_are_cited(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "incident.jsonl")
    log.append("phase", "impact", {"phase": "impact"}, author="alice")
    decided = log.append(
        "decision",
        "Fail over to secondary",
        {"target_region": "secondary", "previous_region": "primary"},
        author="alice",
    )
    log.append("phase", "routed", {"phase": "routed"}, author="alice")
    log.append(
        "check",
        "Done: Cut over",
        {"step": "cutover", "result": "done", "title": "Cut over"},
        author="bob",
    )
    _, judged = check_checklist(write_config(tmp_path), log.path)
    calm = judged[CALM]
    assert calm["status"] == "ok" and calm["data"]["satisfied"] is True
    assert calm["summary"].startswith("satisfied: queue.depth region=TARGET <= warn (evidence: ")
    (cited,) = calm["data"]["evidence"]
    assert (cited["area"], cited["subject"], cited["region"], cited["status"]) == (
        "queue",
        "secondary-mx",
        "secondary",
        "ok",
    )
    assert decided.ts < parse_ts(cited["observed_at"]) <= utc_now()
    assert judged["cutover"]["status"] == "ok" and judged["cutover"]["summary"] == "done by bob"
    # One run reads each queue once: one sample is no drain, so mail flowing still waits.
    flowing = judged["mail-flowing"]
    assert flowing["status"] == "unknown" and flowing["data"]["satisfied"] is False
    assert flowing["summary"].startswith("waiting for evidence: ")
