"""Region authority: role sources read for real (commands, HTTP, JSON, a real exporter), the
pure judge (split brain, grace, no primary, cannot tell), and `cockpit check` end to end.

A role source that cannot be read is unknown, never "standby"; two primaries are a failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from cockpit.authority.findings import authority_findings, decision_context
from cockpit.authority.judge import judge_authority
from cockpit.authority.sources import MAX_ROLE_CHARS, RoleReading, normalise_role, read_role
from cockpit.compat import UTC
from cockpit.config import Config, load_config_text
from cockpit.config.model import RoleSource
from cockpit.incident.entry import format_ts
from cockpit.incident.log import IncidentLog, read_log
from cockpit.model import Finding, Status
from tests.conftest import run_cockpit
from tests.test_replication import Pages, script

NOW = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)


@pytest.fixture
def pages() -> Iterator[Pages]:
    server = Pages()
    try:
        yield server
    finally:
        server.close()


def role_of(source: RoleSource) -> RoleReading:
    return asyncio.run(read_role(source, now=lambda: NOW))


def command_role(argv: tuple[str, ...], timeout: float = 5.0) -> RoleSource:
    return RoleSource(name="eu-control", kind="command", command=argv, timeout=timeout)


def printing(tmp_path: Path, text: str) -> RoleSource:
    argv = script(tmp_path, "role.py", f"import sys\nsys.stdout.write({text!r})\n")
    return command_role(argv)


# ---- normalising what a source says ----------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "role"),
    [
        ("primary", "primary"),
        ("  MASTER ", "primary"),
        ("Active", "primary"),
        ("standby", "standby"),
        ("Secondary", "standby"),
        ("replica", "standby"),
        ("PASSIVE", "standby"),
        ("recovering", "recovering"),
        ("Primary (since 10:02)", "Primary (since 10:02)"),
    ],
)
def test_role_words(said: str, role: str) -> None:
    assert normalise_role(said)[0] == role


def test_unknown_role_text_is_kept_cleaned_and_bounded() -> None:
    role, raw = normalise_role("\x1b]0;title\x07fenced\u202e" + "x" * 5000)
    assert "\x1b" not in role and "\x07" not in role and "\u202e" not in role
    assert len(role) == MAX_ROLE_CHARS and role.endswith("\u2026")
    assert len(raw) <= 200


# ---- command sources ----------------------------------------------------------------------------


def test_command_first_non_blank_line(tmp_path: Path) -> None:
    reading = role_of(printing(tmp_path, "\n   \n  Master \nstandby\n"))
    assert (reading.role, reading.raw, reading.error) == ("primary", "Master", None)
    assert reading.at == NOW and reading.started_at < NOW


@pytest.mark.parametrize("printed", ["", "\n \n\t\n"])
def test_command_printing_nothing_is_unknown_not_standby(tmp_path: Path, printed: str) -> None:
    reading = role_of(printing(tmp_path, printed))
    assert reading.role is None and reading.raw is None
    assert reading.error == "printed nothing: expected a role such as primary or standby"


def test_failing_command_is_unknown_not_standby(tmp_path: Path) -> None:
    argv = script(
        tmp_path,
        "fail.py",
        "import sys\nsys.stderr.write('patronictl: connection refused\\n')\nsys.exit(1)\n",
    )
    reading = role_of(command_role(argv))
    assert reading.role is None
    assert reading.error == "exit 1: patronictl: connection refused"


def test_garbage_and_huge_output(tmp_path: Path) -> None:
    garbage = script(
        tmp_path, "garbage.py", "import sys\nsys.stdout.buffer.write(bytes(range(1, 256)) * 10)\n"
    )
    reading = role_of(command_role(garbage))
    assert reading.role is not None and reading.role not in ("primary", "standby")
    assert "\x1b" not in reading.role and len(reading.role) <= MAX_ROLE_CHARS
    huge = script(tmp_path, "huge.py", "import sys\nsys.stdout.write('primary\\n' * 1_000_000)\n")
    reading = role_of(command_role(huge))
    assert reading.role is None and reading.error == "output larger than 64 KiB (killed)"


def test_hanging_command_is_bounded_by_the_timeout(tmp_path: Path) -> None:
    hang = script(
        tmp_path, "hang.py", "import time\nprint('primary', flush=True)\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    reading = role_of(command_role(hang, timeout=1.0))
    assert reading.role is None and reading.error == "timed out after 1 s (killed)"
    assert time.monotonic() - started < 1.0 + 1.5


# ---- http, json and prometheus sources over real HTTP -------------------------------------------


def url_role(kind: str, url: str, **extra: Any) -> RoleSource:
    return RoleSource(name="eu-control", kind=kind, url=url, timeout=5.0, **extra)


def test_http_body_first_line(pages: Pages) -> None:
    reading = role_of(url_role("http", pages.put("/role", "STANDBY\r\n<html>...</html>\n")))
    assert (reading.role, reading.raw) == ("standby", "STANDBY")
    reading = role_of(url_role("http", pages.put("/role", "primary\n" + "#" * 100_000)))
    assert reading.role is None and reading.error == "answer larger than 64 KiB"
    reading = role_of(url_role("http", pages.put("/down", "primary", status=500)))
    assert reading.role is None and reading.error == "HTTP 500 Internal Server Error"
    reading = role_of(url_role("http", pages.base + "/redirect"))
    assert reading.role is None and reading.error is not None and "redirect" in reading.error


def test_http_slow_is_unknown_within_the_timeout(pages: Pages) -> None:
    started = time.monotonic()
    slow = RoleSource(name="s", kind="http", url=pages.base + "/slow", timeout=0.5)
    reading = role_of(slow)
    assert (reading.role, reading.error) == (None, "timed out after 0.5 s")
    assert time.monotonic() - started < 0.5 + 1.0


def test_json_string_at_path(pages: Pages) -> None:
    url = pages.put("/status", json.dumps({"cluster": {"role": "Replica"}, "up": 1}))
    assert role_of(url_role("json", url, path="cluster.role")).role == "standby"
    reading = role_of(url_role("json", url, path="up"))
    assert reading.role is None and reading.error == "up is 1: expected a string"
    reading = role_of(url_role("json", url, path="cluster.name"))
    assert reading.role is None and reading.error == "no key 'name' at cluster in the JSON"


def exposition(values: dict[str, float]) -> bytes:
    registry = CollectorRegistry()
    gauge = Gauge("mail_control_is_primary", "1 on the primary", ["node"], registry=registry)
    for node, value in values.items():
        gauge.labels(node=node).set(value)
    return generate_latest(registry)


def prometheus_role(url: str, **labels: str) -> RoleSource:
    return url_role("prometheus", url, metric="mail_control_is_primary", labels=labels)


def test_prometheus_one_is_primary_zero_is_standby(pages: Pages) -> None:
    url = pages.put("/metrics", exposition({"a": 1, "b": 0}))
    assert role_of(prometheus_role(url, node="a")).role == "primary"
    assert role_of(prometheus_role(url, node="b")).role == "standby"


@pytest.mark.parametrize(
    ("values", "labels", "error"),
    [
        ({"a": 0.5}, {}, "mail_control_is_primary is 0.5: expected 1 (primary) or 0 (standby)"),
        ({"a": 2}, {}, "mail_control_is_primary is 2: expected 1 (primary) or 0 (standby)"),
        (
            {"a": 1, "b": 0},
            {},
            "2 series mail_control_is_primary disagree: add label matchers to pick one",
        ),
        (
            {"a": 1},
            {"node": "zz"},
            'no series mail_control_is_primary{node="zz"} in the exposition',
        ),
    ],
)
def test_prometheus_anything_else_is_an_error(
    pages: Pages, values: dict[str, float], labels: dict[str, str], error: str
) -> None:
    reading = role_of(prometheus_role(pages.put("/metrics", exposition(values)), **labels))
    assert (reading.role, reading.error) == (None, error)


# ---- the judge (pure) ----------------------------------------------------------------------------


def two_regions(grace: float = 120, *, extra_eu_source: bool = False) -> Config:
    extra = (
        '\n  [[region.role]]\n  name = "eu-db"\n  kind = "command"\n  command = ["x"]\n'
        if extra_eu_source
        else ""
    )
    return load_config_text(
        f"""
[domain]
name = "example.test"
[authority]
grace = {grace}
[[region]]
name = "eu"
mx = ["mx1.example.test"]
  [[region.role]]
  name = "eu-control"
  kind = "command"
  command = ["x"]
{extra}
[[region]]
name = "us"
mx = ["mx2.example.test"]
  [[region.role]]
  name = "us-control"
  kind = "command"
  command = ["x"]
"""
    )


def said(source: str, role: str | None, *, ago: float = 5, error: str | None = None) -> RoleReading:
    at = NOW - timedelta(seconds=ago)
    if role is None:
        return RoleReading(source, at, None, None, error or "timed out after 5 s (killed)", 0.5)
    return RoleReading(source, at, role, role, None, 0.5)


def judge(
    readings: list[RoleReading],
    config: Config | None = None,
    *,
    target: str | None = None,
    decided_ago: float | None = None,
    routed: bool = False,
    now: datetime = NOW,
) -> tuple[list[Finding], Finding]:
    decided_at = None if decided_ago is None else NOW - timedelta(seconds=decided_ago)
    findings = judge_authority(
        config or two_regions(),
        {reading.source: reading for reading in readings},
        target=target,
        decided_at=decided_at,
        routed_at=NOW - timedelta(seconds=1) if routed else None,
        now=now,
    )
    *roles, overall = findings
    assert all(f.area == "authority" and f.check == "role" for f in roles)
    assert (overall.area, overall.check, overall.subject) == (
        "authority",
        "primary",
        "control plane",
    )
    assert all(f.observed_at is not None for f in findings)
    return roles, overall


def test_one_primary_is_ok() -> None:
    roles, overall = judge([said("eu-control", "primary"), said("us-control", "standby")])
    assert [(f.subject, f.region, f.status, f.data["role"]) for f in roles] == [
        ("eu-control", "eu", Status.OK, "primary"),
        ("us-control", "us", Status.OK, "standby"),
    ]
    assert (overall.status, overall.region, overall.summary) == (Status.OK, "eu", "primary in eu")


def test_split_brain_is_fail_and_names_both() -> None:
    _, overall = judge([said("eu-control", "primary"), said("us-control", "primary")])
    assert overall.status is Status.FAIL and overall.region is None
    assert overall.summary == "split brain: eu and us both claim primary"
    assert overall.data["primary_regions"] == ["eu", "us"]
    # Also after a decision, and with the decision's target among them.
    _, overall = judge(
        [said("eu-control", "primary"), said("us-control", "primary")],
        target="us",
        decided_ago=10,
    )
    assert overall.status is Status.FAIL and "split brain" in overall.summary


def test_unreadable_source_is_unknown_never_standby() -> None:
    roles, overall = judge([said("eu-control", None), said("us-control", "standby")])
    eu = roles[0]
    assert eu.status is Status.UNKNOWN and eu.data["role"] is None
    assert eu.summary == "unknown: timed out after 5 s (killed)"
    assert "standby" not in eu.summary
    # No region claims primary, but one source was not read: cannot tell (not "no primary").
    assert overall.status is Status.UNKNOWN and overall.region is None
    assert "cannot tell" in overall.summary and "eu-control" in overall.summary
    assert overall.data["unread"] == ["eu-control"]


def test_source_not_read_yet_is_unknown() -> None:
    roles, overall = judge([said("us-control", "standby")])
    assert (roles[0].status, roles[0].data["error"]) == (Status.UNKNOWN, "not read yet")
    assert overall.status is Status.UNKNOWN


def test_every_source_read_and_none_primary_is_fail() -> None:
    _, overall = judge([said("eu-control", "standby"), said("us-control", "recovering")])
    assert overall.status is Status.FAIL
    assert overall.summary.startswith("no primary: every role source was read")


def test_one_primary_with_an_unread_source_says_so() -> None:
    config = two_regions(extra_eu_source=True)
    readings = [said("eu-control", "primary"), said("eu-db", None), said("us-control", "standby")]
    roles, overall = judge(readings, config)
    assert [f.status for f in roles] == [Status.OK, Status.UNKNOWN, Status.OK]
    assert overall.status is Status.OK and "not read: eu-db" in overall.summary


def test_one_primary_with_another_region_unread_cannot_rule_out_split_brain() -> None:
    """us-control timed out: it may say primary too. The verdict that would be ok is unknown,
    naming it, with a decision or without; a condition waiting for authority ok waits."""
    readings = [said("eu-control", "primary"), said("us-control", None)]
    _, overall = judge(readings)
    assert overall.status is Status.UNKNOWN and overall.region == "eu"
    assert overall.summary == (
        "primary in eu; cannot rule out split brain: not read: us-control: timed out after 5 s"
        " (killed)"
    )
    _, overall = judge(readings, target="eu", decided_ago=30)
    assert overall.status is Status.UNKNOWN
    assert overall.summary.startswith("primary in eu, as decided; cannot rule out split brain")
    # Read again and standby: ok.
    _, overall = judge([said("eu-control", "primary"), said("us-control", "standby")], target="eu",
                       decided_ago=30)  # fmt: skip
    assert (overall.status, overall.summary) == (Status.OK, "primary in eu, as decided")


def test_grace_warn_then_fail_once_routed() -> None:
    readings = [said("eu-control", "primary"), said("us-control", "standby")]
    config = two_regions(grace=120)
    # Within the grace: the switch may still be under way.
    _, overall = judge(readings, config, target="us", decided_ago=30, routed=True)
    assert overall.status is Status.WARN and overall.region == "eu"
    assert (
        overall.summary
        == "primary still in eu; the decision names us (30 s ago, grace 1 min 30 s left)"
    )
    # The same readings, judged once the grace has passed (injected now): fail.
    later = NOW + timedelta(seconds=100)
    _, overall = judge(readings, config, target="us", decided_ago=30, routed=True, now=later)
    assert overall.status is Status.FAIL
    assert overall.summary.startswith("primary still in eu, but mail is routed to us")
    assert overall.data["since_decision_s"] == 130


def test_decided_not_routed_past_grace_is_warn() -> None:
    readings = [said("eu-control", "primary"), said("us-control", "standby")]
    _, overall = judge(readings, target="us", decided_ago=600)
    assert overall.status is Status.WARN
    assert (
        overall.summary == "still primary in eu; the decision names us (10 min ago, not routed yet)"
    )


def test_primary_where_decided_is_ok() -> None:
    readings = [said("eu-control", "standby"), said("us-control", "primary")]
    _, overall = judge(readings, target="us", decided_ago=600, routed=True)
    assert (overall.status, overall.region) == (Status.OK, "us")
    assert overall.summary == "primary in us, as decided"


def test_observed_at_is_the_oldest_reading_used() -> None:
    old = said("eu-control", "primary", ago=40)
    roles, overall = judge([old, said("us-control", "standby", ago=5)])
    assert roles[0].observed_at == old.started_at
    assert overall.observed_at == old.started_at


def test_no_role_sources_no_findings() -> None:
    config = load_config_text(
        '[domain]\nname = "example.test"\n'
        '[[region]]\nname = "eu"\nmx = ["mx1.example.test"]\n'
        '[[region]]\nname = "us"\nmx = ["mx2.example.test"]\n'
    )
    assert judge_authority(config, {}, target="eu", decided_at=NOW, routed_at=NOW, now=NOW) == []
    assert asyncio.run(authority_findings(config, [])) == []


# ---- from the incident log -----------------------------------------------------------------------


def test_decision_context_and_authority_findings_from_a_log(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "incident.jsonl")
    decided = datetime.now(UTC) - timedelta(minutes=10)
    log.append("note", "eu mail store slow", author="ana")
    log.append(
        "decision",
        "fail over to us",
        {"target_region": "us", "previous_region": "eu", "at": format_ts(decided)},
        author="ana",
    )
    entries = read_log(log.path).entries
    context = decision_context(entries)
    assert context.target == "us" and context.routed_at is None
    assert (
        context.decided_at is not None and abs((context.decided_at - decided).total_seconds()) < 1
    )

    eu = script(tmp_path, "eu.py", "print('primary')\n")
    us = script(tmp_path, "us.py", "print('standby')\n")
    config = load_config_text(
        f"""
[domain]
name = "example.test"
[[region]]
name = "eu"
mx = ["mx1.example.test"]
  [[region.role]]
  name = "eu-control"
  kind = "command"
  command = {json.dumps(list(eu))}
[[region]]
name = "us"
mx = ["mx2.example.test"]
  [[region.role]]
  name = "us-control"
  kind = "command"
  command = {json.dumps(list(us))}
"""
    )
    *_, overall = asyncio.run(authority_findings(config, entries))
    assert overall.status is Status.WARN and "not routed yet" in overall.summary
    log.append(
        "phase", "routed", {"phase": "routed", "at": format_ts(datetime.now(UTC))}, author="ana"
    )
    *_, overall = asyncio.run(authority_findings(config, read_log(log.path).entries))
    assert overall.status is Status.FAIL and "routed to us" in overall.summary


# ---- cockpit check end to end --------------------------------------------------------------------


def test_cockpit_check_replication_and_authority(tmp_path: Path) -> None:
    eu_role = script(tmp_path, "eu_role.py", "print('Master')\n")
    us_role = script(tmp_path, "us_role.py", "import time\ntime.sleep(60)\n")
    eu_lag = script(tmp_path, "eu_lag.py", "print('0.4')\n")
    us_lag = script(tmp_path, "us_lag.py", "print(200)\n")
    config = tmp_path / "cockpit.toml"
    config.write_text(
        f"""
[domain]
name = "example.test"
[incident]
dir = {json.dumps(str(tmp_path / "incidents"))}
[authority]
grace = 60
[[region]]
name = "eu"
mx = ["mx1.example.test"]
  [[region.replication]]
  name = "eu-store"
  kind = "command"
  command = {json.dumps(list(eu_lag))}
  warn = 30
  crit = 300
  [[region.role]]
  name = "eu-control"
  kind = "command"
  command = {json.dumps(list(eu_role))}
[[region]]
name = "us"
mx = ["mx2.example.test"]
  [[region.replication]]
  name = "us-store"
  kind = "command"
  command = {json.dumps(list(us_lag))}
  warn = 30
  crit = 300
  [[region.role]]
  name = "us-control"
  kind = "command"
  command = {json.dumps(list(us_role))}
  timeout = 1
""",
        encoding="utf-8",
    )
    incident = tmp_path / "incident.jsonl"
    decided = format_ts(datetime.now(UTC) - timedelta(minutes=5))
    for args in (
        ("fail over to us", "--decision", "--target-region", "us", "--at", decided),
        ("--phase", "routed"),
    ):
        done = run_cockpit("log", str(incident), *args, "--config", str(config), "--author", "ana")
        assert done.returncode == 0, done.stderr
    started = time.monotonic()
    done = run_cockpit(
        "check",
        "--config",
        str(config),
        "--incident",
        str(incident),
        "--only",
        "replication,authority",
        "--json",
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["target"] == "us"
    found = {(f["area"], f["subject"]): f for f in document["findings"]}
    assert set(found) == {
        ("replication", "eu-store"),
        ("replication", "us-store"),
        ("authority", "eu-control"),
        ("authority", "us-control"),
        ("authority", "control plane"),
    }
    assert found["replication", "eu-store"]["status"] == "ok"
    assert found["replication", "eu-store"]["summary"] == "0.4 s behind (warn 30 s, crit 5 min)"
    assert found["replication", "us-store"]["status"] == "warn"
    assert found["replication", "us-store"]["data"]["lag_s"] == 200
    assert found["authority", "eu-control"]["data"]["role"] == "primary"
    hung = found["authority", "us-control"]
    assert hung["status"] == "unknown" and hung["data"]["role"] is None
    assert hung["summary"] == "unknown: timed out after 1 s (killed)"
    overall = found["authority", "control plane"]
    # eu claims primary, mail is routed to us and the grace (60 s) is long over.
    assert overall["status"] == "fail" and overall["region"] == "eu"
    assert "routed to us" in overall["summary"]
    assert all("observed_at" in f for f in document["findings"])
    assert elapsed < 20
