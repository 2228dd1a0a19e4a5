"""Canary mail end to end through real servers (issue 14): a real Postfix MX delivering into a
real Dovecot, a real Postfix submission signing with the real dkimpy-milter and relaying to a
real outside Postfix, nsd + unbound for every name (tests/lab/mail_flow.py).

Each case the issue names, run by the cockpit's own canary code as the live screen and
`cockpit check --only canary` run it; then the whole product (the CLI, a headless cockpit that
writes the incident log, the export) with every password checked absent from everything shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import OptionList

import cockpit.canary.run as canary_run
from cockpit.auth.asker import Asker
from cockpit.canary.board import CanaryBoard
from cockpit.canary.findings import run_canary
from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.dns.observation import ServerSpec
from cockpit.incident.entry import utc_now
from cockpit.incident.log import IncidentLog
from cockpit.model import Finding, Status
from cockpit.ui.app import CockpitApp
from cockpit.ui.canary_pane import CanaryPane
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.probe_runner import ProbeRunner
from cockpit.ui.themes import status_variable_defaults
from tests.lab.mail_flow import MailFlow
from tests.test_canary_run import RUN_KEYS

pytest_plugins = ["tests.lab.mail_flow_fixture"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAP_ENV, OUTSIDE_ENV, SUBMIT_ENV = "LAB_CANARY_IMAP_PW", "LAB_OUTSIDE_IMAP_PW", "LAB_SUBMIT_PW"
MINUTE = timedelta(minutes=1)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never reach a screen or a log from message data: C0/C1 controls, bidi overrides."""


def config_text(flow: MailFlow, incidents: Path | None = None) -> str:
    resolver_ip, resolver_port = flow.resolver
    incident = f'[incident]\ndir = "{incidents}"\nprobe_interval = 1\n' if incidents else ""
    return f"""{incident}
[domain]
name = "{flow.domain}"

[dns]
timeout = 2
[[dns.resolver]]
name = "lab"
address = "{resolver_ip}:{resolver_port}"

[tls]
ca_file = "{flow.ca_file}"

[service]
helo = "canary.outside.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]
sending_ips = ["127.0.72.1"]
dkim_selectors = ["{flow.dkim_selector}"]

[[region]]
name = "secondary"
mx = ["mx3.example.test"]
"""


def inbound(flow: MailFlow, *, to: str | None = None, **extra: object) -> str:
    keys: dict[str, object] = {
        "name": '"lab-in"',
        "direction": '"inbound"',
        "region": '"primary"',
        "from": f'"{flow.outside_sender_address}"',
        "to": f'"{to or flow.inbox_address}"',
        "imap": f'"{flow.imap_host}"',
        "imap_user": '"canary"',
        "imap_password_env": f'"{IMAP_ENV}"',
        "timeout": 20,
        "warn_s": 15,
    }
    keys.update(extra)
    return "\n[[canary]]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())


def outbound(flow: MailFlow, **extra: object) -> str:
    keys: dict[str, object] = {
        "name": '"lab-out"',
        "direction": '"outbound"',
        "region": '"primary"',
        "from": f'"{flow.sender_address}"',
        "to": f'"{flow.outside_address}"',
        "imap": '"imap.outside.test"',
        "imap_user": '"outside"',
        "imap_password_env": f'"{OUTSIDE_ENV}"',
        "submission": '"submit.example.test"',
        "submission_user": '"sender"',
        "submission_password_env": f'"{SUBMIT_ENV}"',
        "timeout": 20,
        "warn_s": 15,
    }
    keys.update(extra)
    return "\n[[canary]]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())


@pytest.fixture
def flow(mail_flow: MailFlow, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailFlow]:
    """The lab with the three passwords in the environment (the only place they live)."""
    monkeypatch.setenv(IMAP_ENV, mail_flow.users["canary"])
    monkeypatch.setenv(OUTSIDE_ENV, mail_flow.users["outside"])
    monkeypatch.setenv(SUBMIT_ENV, mail_flow.users["sender"])
    yield mail_flow


def passwords(flow: MailFlow) -> list[str]:
    return [flow.users[user] for user in ("canary", "outside", "sender")]


def assert_no_password(flow: MailFlow, where: str, text: str) -> None:
    for secret in passwords(flow):
        assert secret not in text, f"a password appeared in {where}"


def run(
    flow: MailFlow,
    canary: str,
    target: str = "primary",
    clock: Callable[[], datetime] = utc_now,
) -> list[Finding]:
    config = load_config_text(config_text(flow) + canary)
    asker = Asker(ServerSpec("lab", *flow.resolver), timeout=2.0)
    findings = asyncio.run(run_canary(config, config.canaries[0], target, asker, clock=clock))
    for finding in findings:
        shown = json.dumps(finding.to_json()) + finding.summary
        assert_no_password(flow, "a finding", shown)
        assert not CONTROL.search(shown), shown
    return findings


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check: finding for finding in findings}


def summaries(findings: list[Finding]) -> list[str]:
    return [f"{f.check} {f.status.value}: {f.summary}" for f in findings]


# ---- the cases the issue names -------------------------------------------------------------


def test_inbound_arrives_in_the_inbox_through_the_region_mx_ok(flow: MailFlow) -> None:
    findings = run(flow, inbound(flow))
    checks = by_check(findings)
    assert [f.check for f in findings] == ["inbound", "dkim", "spf", "dmarc", "path"]
    assert all(f.status is Status.OK for f in findings), summaries(findings)
    assert all(f.area == "canary" and f.subject == "lab-in" and f.region == "primary"
               and f.resolver == "lab" and f.observed_at for f in findings)  # fmt: skip
    data = checks["inbound"].data
    assert set(data) == RUN_KEYS
    assert data["stage"] == "done" and data["error"] is None
    assert data["token"].startswith("lab-in-")
    assert data["imap"] == {"host": flow.imap_host, "port": 993}
    assert data["folder"] == "INBOX" and data["junk"] is False
    assert data["smtp"]["host"] == "mx1.example.test" and data["smtp"]["ip"] == "127.0.71.1"
    assert data["smtp"]["tls"] is True and data["smtp"]["tls_verified"] is True
    assert data["smtp"]["reply"].startswith("250")  # Postfix's own "queued as" reply
    assert 0 <= data["round_trip_s"] < 20 and data["sent_at"] <= data["arrived_at"]
    # The path is read from the Received line the real MX wrote.
    assert any("mx1.example.test" in hop for hop in checks["path"].data["matched"]), checks[
        "path"
    ].data
    # SPF of the sending address the MX recorded (127.0.0.1, allowed by outside.test), aligned.
    assert checks["spf"].data["ip"] == "127.0.0.1"
    assert checks["dmarc"].status is Status.OK
    # Its own message is deleted once found (Dovecot expunged it).
    assert flow.find_message("canary", "INBOX", data["token"]) is None


def test_outbound_is_signed_by_the_region_and_aligned_ok(flow: MailFlow) -> None:
    findings = run(flow, outbound(flow))
    checks = by_check(findings)
    assert [f.check for f in findings] == ["outbound", "dkim", "spf", "dmarc", "path"]
    assert all(f.status is Status.OK for f in findings), summaries(findings)
    assert checks["outbound"].data["smtp"]["host"] == "submit.example.test"
    assert checks["outbound"].data["smtp"]["tls_verified"] is True
    # The real dkimpy-milter signed it; the cockpit verified it through the lab resolver.
    assert checks["dkim"].data["signatures"] == [
        {"d": "example.test", "s": flow.dkim_selector, "result": "pass", "aligned": True}
    ]
    # SPF of the relay the outside Postfix recorded, evaluated by pyspf: in the SPF record.
    assert checks["spf"].data["ip"] == "127.0.72.1"
    assert checks["path"].data["matched"] == ["submit.example.test [127.0.72.1]"]
    assert flow.find_message("outside", "INBOX", checks["outbound"].data["token"]) is None


def test_a_key_in_dns_that_no_longer_matches_the_signing_key_fails(flow: MailFlow) -> None:
    flow.publish_mismatched_dkim_key()
    findings = run(flow, outbound(flow))
    checks = by_check(findings)
    assert checks["outbound"].status is Status.FAIL, summaries(findings)
    assert checks["dkim"].status is Status.FAIL
    (signature,) = checks["dkim"].data["signatures"]
    assert (signature["d"], signature["s"], signature["result"]) == (
        "example.test",
        flow.dkim_selector,
        "fail",
    )
    # SPF alone still aligns, so DMARC passes: the DKIM failure is what fails the canary.
    assert checks["spf"].status is Status.OK


def test_a_relay_whose_address_spf_does_not_name_fails(flow: MailFlow) -> None:
    findings = run(flow, outbound(flow, submission='"submit2.example.test"'))
    checks = by_check(findings)
    assert checks["outbound"].status is Status.FAIL, summaries(findings)
    assert checks["spf"].status is Status.FAIL
    assert checks["spf"].data["ip"] == "127.0.72.9"
    # Not one of the region's sending addresses either: the path says so.
    assert checks["path"].status is Status.WARN
    assert checks["dkim"].status is Status.OK  # still signed by the milter


def test_delivered_to_junk_warns(flow: MailFlow) -> None:
    findings = run(flow, inbound(flow, to=flow.junk_address))
    run_finding = findings[0]
    assert run_finding.status is Status.WARN, summaries(findings)
    assert run_finding.data["folder"] == "Junk" and run_finding.data["junk"] is True
    assert "Junk" in run_finding.summary


def test_an_mx_that_refuses_fails_with_its_reply(flow: MailFlow) -> None:
    findings = run(flow, inbound(flow, region='"secondary"'))
    assert [f.check for f in findings] == ["inbound"]  # nothing arrived: no verdicts made
    (run_finding,) = findings
    assert run_finding.status is Status.FAIL
    assert run_finding.region == "secondary"
    assert run_finding.data["stage"] == "send"
    assert "554" in run_finding.summary and "554" in run_finding.data["smtp"]["reply"]


def test_imap_down_is_unknown_with_the_reason_and_nothing_is_sent(flow: MailFlow) -> None:
    before = len(flow.messages("canary"))
    with flow.imap_down():
        started = time.monotonic()
        findings = run(flow, inbound(flow))
        took = time.monotonic() - started
    (run_finding,) = findings
    assert run_finding.status is Status.UNKNOWN  # never ok, never fail: it could not look
    assert "connection refused" in run_finding.summary
    assert run_finding.data["sent_at"] is None
    assert len(flow.messages("canary")) == before
    assert took < 5


def test_a_message_that_never_arrives_fails_at_the_timeout(flow: MailFlow) -> None:
    started = time.monotonic()
    findings = run(flow, inbound(flow, to=flow.lost_address, timeout=4, warn_s=2))
    took = time.monotonic() - started
    (run_finding,) = findings
    assert run_finding.status is Status.FAIL
    assert run_finding.data["stage"] == "find"
    assert run_finding.summary.startswith("not arrived within 4 s")
    assert run_finding.data["sent_at"] is not None and run_finding.data["arrived_at"] is None
    assert 4 <= took < 4 + 6  # bounded: the timeout, plus setting up and closing


def test_a_message_that_comes_after_its_run_gave_up_is_reported_by_a_later_run(
    flow: MailFlow,
) -> None:
    """The mx holds the message until its run has given up, then delivers it: the next run
    finds it, reports it late once (its own finding, warn) and deletes it."""
    (first,) = run(flow, inbound(flow, to=flow.held_address, timeout=3, warn_s=1))
    assert first.status is Status.FAIL and first.summary.startswith("not arrived within 3 s")
    assert first.data["swept"] == {"late": 0, "leftovers": 0, "kept": 0, "error": None}
    token = first.data["token"]
    time.sleep(2)  # Date and INTERNALDATE have whole seconds: well past the timeout
    flow.release_held()
    flow.wait_for_message("canary", "INBOX", token)
    # A run soon after leaves it (a run may still be waiting for a message sent so recently) ...
    soon = run(flow, inbound(flow, timeout=3, warn_s=1))
    assert [f.check for f in soon if f.check == "late"] == []
    assert soon[0].data["swept"]["kept"] == 1
    assert flow.find_message("canary", "INBOX", token) is not None
    # ... a run minutes later (its clock is ahead) reports it and deletes it.
    later = run(flow, inbound(flow, timeout=3, warn_s=1), clock=lambda: utc_now() + 5 * MINUTE)
    run_finding, late = later[0], by_check(later)["late"]
    assert run_finding.status is Status.OK, summaries(later)
    took = round(late.data["late_s"])
    said = f"1 earlier message arrived after its run gave up (up to {took} s after sending)"
    assert run_finding.summary.endswith(said)
    assert late.subject == token and late.status is Status.WARN
    assert late.data["sent_at"] == first.data["sent_at"][:19] + "+00:00"
    assert 3 < late.data["late_s"] < 30 and late.data["deleted"] is True
    assert late.summary.endswith("after its run gave up at 3 s; found in INBOX, deleted")
    assert flow.find_message("canary", "INBOX", token) is None


HOSTILE = "\x1b[31mred\x1b[0m [bold red]markup[/bold red] \u202eevil\u202c \x07 [link=x]y[/link]"


def test_hostile_headers_are_shown_literally_and_bounded(
    flow: MailFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The canary's own message, sent through the real MX, carries escape sequences, markup,
    a forged Received line and trusted-looking Authentication-Results, and a 1 MB header."""
    made = canary_run.canary_message

    def hostile_message(*args: Any, **kwargs: Any) -> bytes:
        raw = made(*args, **kwargs)
        extra = (
            f"Received: from [link=x]evil[/link]\x1b[2J (unknown [203.0.113.9]) by {HOSTILE};"
            " Sat, 5 Dec 2026 10:00:00 +0000\r\n"
            f"Authentication-Results: mx1.example.test; dkim=pass header.d={HOSTILE}\r\n"
            f"X-Hostile: {HOSTILE}\r\n"
            f"X-Big: {'A' * 1_000_000}\r\n"
        ).encode()
        return extra + raw

    monkeypatch.setattr(canary_run, "canary_message", hostile_message)
    findings = run(flow, inbound(flow, trusted_authserv_ids='["mx1.example.test"]'))
    checks = by_check(findings)
    assert checks["inbound"].data["folder"] == "INBOX", summaries(findings)
    text = json.dumps([finding.to_json() for finding in findings])
    assert len(text) < 64 * 1024  # a megabyte of header never reaches a finding
    assert "\\u001b" not in text and "\\u202e" not in text and "\\u0007" not in text
    assert all(len(finding.summary) <= 400 for finding in findings)
    # The forged hop (outside the region) is on the path as data, markup literal.
    hops = checks["path"].data["hops"]
    assert any("[link=x]evil[/link]" in str(hop.get("from")) for hop in hops), hops

    # On the screen: the canary line shows the data as text, never as markup or escapes.
    line = asyncio.run(canary_line(findings))
    assert not CONTROL.search(line), line
    assert "lab-in" in line and "\u241b[31mred\u241b[0m" in line, line  # ESC shown as a symbol
    # The forged oldest hop is not the region's MX: the path is unexpected, SPF is judged on
    # the address it claims; the From lies past the 1 MB header, beyond what the cockpit
    # reads: DMARC is unknown (not seen), never a pass or a fail it did not see.
    assert checks["path"].status is Status.WARN
    assert checks["spf"].data["ip"] == "203.0.113.9"
    assert checks["dmarc"].status is Status.UNKNOWN, checks["dmarc"].summary
    assert checks["inbound"].status is not Status.OK


class CanaryHost(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return status_variable_defaults()

    def compose(self) -> ComposeResult:
        yield CanaryPane(("lab-in",), id="canaries")


async def canary_line(findings: list[Finding]) -> str:
    """The line the canary pane draws for these findings (a real Textual app, headless)."""
    board = CanaryBoard()
    board.took("lab-in", findings)
    app = CanaryHost()
    async with app.run_test(size=(200, 6)) as pilot:
        pane = app.query_one(CanaryPane)
        pane.show_rows(board.rows(), findings[0].observed_at or datetime.now(UTC))
        await pilot.pause()
        return pane.render().plain.splitlines()[1]


# ---- the whole product: CLI, a live cockpit writing the log, the export -----------------------


def test_check_only_canary_runs_each_canary_once_and_never_shows_a_password(
    flow: MailFlow, tmp_path: Path
) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(config_text(flow) + inbound(flow) + outbound(flow))
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", "--config", str(config), "--only", "canary",
         "--json"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert_no_password(flow, "stdout", done.stdout)
    assert_no_password(flow, "stderr", done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)["findings"]
    runs = [(f["subject"], f["check"], f["status"]) for f in found if f["area"] == "canary"]
    assert ("lab-in", "inbound", "ok") in runs and ("lab-out", "outbound", "ok") in runs
    assert len([r for r in runs if r[1] in ("inbound", "outbound")]) == 2  # once each

    # The same with a wrong submission password: refused, said, and the password nowhere.
    wrong = "Wrong-Lab-Submit-pw-9131"
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", "--config", str(config), "--only", "canary"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), SUBMIT_ENV: wrong},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AUTH refused" in done.stdout
    for text in (done.stdout, done.stderr):
        assert wrong not in text
        assert_no_password(flow, "output", text)


def decided_incident(tmp_path: Path, *, routed: bool) -> tuple[Path, Path]:
    """An incident dir and its log: impact, a failover decision to primary (and routed)."""
    incidents = tmp_path / "incidents"
    incidents.mkdir()
    log_path = incidents / "incident.jsonl"
    log = IncidentLog(log_path)
    log.append("phase", "impact", {"phase": "impact"}, author="alice")
    log.append(
        "decision",
        "Fail over to primary",
        {"target_region": "primary", "previous_region": "secondary"},
        author="alice",
    )
    if routed:
        log.append("phase", "routed", {"phase": "routed"}, author="alice")
    return incidents, log_path


def _canary_entries(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e for e in entries if e.get("kind") == "probe" and "canary" in json.dumps(e["data"])]


def test_a_live_cockpit_logs_both_canaries_cites_them_and_never_writes_a_password(
    flow: MailFlow, tmp_path: Path
) -> None:
    incidents, log_path = decided_incident(tmp_path, routed=True)
    config = tmp_path / "cockpit.toml"
    config.write_text(
        config_text(flow, incidents)
        + inbound(flow, region='"target"', interval=30)
        + outbound(flow, region='"target"', interval=30)
    )
    child = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "tests" / "probe_cockpit_child.py"), str(config),
         str(log_path), "carol"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = json.dumps(_canary_entries(log_path))
            if '"lab-in"' in seen and '"lab-out"' in seen:
                break
            time.sleep(0.5)
        # Quitting while canaries may still run: SIGTERM ends the cockpit promptly.
        stopped = time.monotonic()
        os.killpg(child.pid, signal.SIGTERM)
        out, err = child.communicate(timeout=20)
        assert time.monotonic() - stopped < 10
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
    entries = _canary_entries(log_path)
    seen = json.dumps(entries)
    assert '"lab-in"' in seen and '"lab-out"' in seen, err[-3000:]
    assert_no_password(flow, "the child's stdout", out)
    assert_no_password(flow, "the child's stderr", err)
    assert_no_password(flow, "the incident log", log_path.read_text())

    exports = {}
    for form in ("md", "json"):
        done = subprocess.run(
            [sys.executable, "-m", "cockpit", "export", "--format", form, str(log_path)],
            capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert_no_password(flow, f"the {form} export", done.stdout + done.stderr)
        exports[form] = done.stdout
    assert "mail flow proven by canaries" in exports["md"]
    proof = json.loads(exports["json"])["delivery_proof"]
    assert proof, exports["json"][:2000]


def _history(app: CockpitApp, name: str) -> int:
    rows = app.query_one(ProbeRunner).live.canaries.rows()
    return next((len(row.history) for row in rows if row.name == name), 0)


def _step_prompt(app: CockpitApp, step_id: str) -> str:
    options = app.query_one(ChecklistPane).query_one(OptionList)
    return str(options.get_option(step_id).prompt)


async def _until(pilot: Any, what: str, test: Any, within: float) -> float:
    """Seconds until `test()` holds (bounded: fails with `what` after `within`)."""
    started = time.monotonic()
    while not test():
        assert time.monotonic() - started < within, f"not within {within:g} s: {what}"
        await pilot.pause(0.2)
    return time.monotonic() - started


def test_routing_runs_the_canaries_again_at_once_and_their_runs_prove_delivery(
    flow: MailFlow, tmp_path: Path
) -> None:
    """Only runs after `routed` prove the new route: the live cockpit sends both canaries again
    as soon as it reads `routed` (not an interval later), and the checklist's "Delivery works
    both ways" step is then satisfied by them, citing them."""
    incidents, log_path = decided_incident(tmp_path, routed=False)
    config = load_config_text(
        config_text(flow, incidents)
        + inbound(flow, region='"target"', interval=300)
        + outbound(flow, region='"target"', interval=300)
    )

    async def scenario() -> tuple[float, str, str]:
        app = CockpitApp(log_path, author="carol", config=config)
        async with app.run_test(size=(160, 48)) as pilot:
            both = lambda count: all(  # noqa: E731
                _history(app, name) >= count for name in ("lab-in", "lab-out")
            )
            await _until(pilot, "the first run of both canaries", lambda: both(1), 60)
            before = _step_prompt(app, "verify-delivery")
            IncidentLog(log_path).append("phase", "routed", {"phase": "routed"}, author="alice")
            took = await _until(pilot, "both canaries again after routed", lambda: both(2), 60)
            await _until(
                pilot,
                "the step satisfied",
                lambda: "satisfied by probe" in _step_prompt(app, "verify-delivery"),
                10,
            )
            return took, before, _step_prompt(app, "verify-delivery")

    took, before, after = asyncio.run(scenario())
    assert "satisfied by probe" not in before and "waiting for evidence" in before, before
    assert took < 30, took  # the interval is 300 s: they ran because routing moved
    assert "satisfied by probe" in after


# ---- more of a run's behaviour, on the real servers ------------------------------------------


def test_kept_in_the_mailbox_when_delete_is_false(flow: MailFlow) -> None:
    findings = run(flow, inbound(flow, delete="false"))
    assert findings[0].status is Status.OK, summaries(findings)
    assert flow.find_message("canary", "INBOX", findings[0].data["token"]) is not None


def test_region_target_is_the_region_the_cockpit_is_told(flow: MailFlow) -> None:
    ok = run(flow, inbound(flow, region='"target"'), target="primary")
    assert ok[0].region == "primary" and ok[0].status is Status.OK
    refused = run(flow, inbound(flow, region='"target"'), target="secondary")
    assert refused[0].region == "secondary" and refused[0].status is Status.FAIL


def test_a_missing_password_is_unknown_and_nothing_is_sent(
    flow: MailFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_ENV, "")
    before = len(flow.messages("canary"))
    (run_finding,) = run(flow, inbound(flow))
    assert run_finding.status is Status.UNKNOWN
    assert run_finding.summary == f"imap password not set: env {IMAP_ENV} is empty"
    assert run_finding.data["stage"] == "config" and run_finding.data["token"] is None
    assert len(flow.messages("canary")) == before


def test_a_wrong_submission_password_is_refused_and_never_shown(
    flow: MailFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wrong-Lab-Submit-pw-4471"
    monkeypatch.setenv(SUBMIT_ENV, wrong)
    (run_finding,) = run(flow, outbound(flow))
    assert run_finding.status is Status.FAIL
    assert "AUTH refused: 535" in run_finding.summary  # Postfix's own refusal
    assert wrong not in json.dumps(run_finding.to_json()) + repr(run_finding)


def test_a_cancelled_run_stops_at_once(flow: MailFlow) -> None:
    """Quitting while a canary waits for its message: the run ends at once, threads too."""
    config = load_config_text(config_text(flow) + inbound(flow, to=flow.lost_address, timeout=60))
    asker = Asker(ServerSpec("lab", *flow.resolver), timeout=2.0)

    async def cancel_while_searching() -> None:
        task = asyncio.create_task(run_canary(config, config.canaries[0], "primary", asker))
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(cancel_while_searching())  # returns once the worker threads have ended
    assert time.monotonic() - started < 2.0 + 4


def test_a_plain_check_sends_no_canary(flow: MailFlow, tmp_path: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(config_text(flow) + inbound(flow, delete="false"))
    before = len(flow.messages("canary"))
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    areas = {finding["area"] for finding in json.loads(done.stdout)["findings"]}
    assert "canary" not in areas and {"dns", "service"} <= areas
    assert len(flow.messages("canary")) == before  # nothing was sent
