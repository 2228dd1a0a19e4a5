"""MTA-STS max_age and id/content changes (RFC 8461 3.2, 3.3), against real nsd/unbound and a
real HTTPS policy server (trustme certificates) on 127.0.47.1:443.

Every case is its own mail domain CASE.example.test, with its own `_mta-sts` TXT id; all policy
hosts mta-sts.CASE.example.test resolve to the one server, whose certificate names them all,
and each test sets the policy it serves before checking. The previous policies are incident-log
entries written as the "Policy contract" (cockpit.auth.mtasts_history) says.
Regions: primary (mx1.example.test), secondary (mx2.example.test); failover target secondary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.mtasts_check import mtasts_findings, parse_policy, policy_digest
from cockpit.auth.mtasts_history import (
    PolicySeen,
    policy_change,
    policy_entry_data,
    policy_history,
)
from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.config.model import Region
from cockpit.dns.observation import ServerSpec
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.live_probes import LiveProbes
from cockpit.model import Finding, Status
from tests.conftest import run_cockpit
from tests.lab import guard_loopback
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.https_lab import HttpsLab, HttpsServer, Route, running_https_lab

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
SERVER_IP = "127.0.47.1"
TIMEOUT = 0.5
POLICY_PATH = "/.well-known/mta-sts.txt"
NOW = datetime.now(UTC)


def policy(mode: str = "enforce", *mx: str, max_age: int = 604800, newline: str = "\r\n") -> str:
    mx = mx or ("mx1.example.test", "mx2.example.test")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {host}" for host in mx)]
    return newline.join([*lines, f"max_age: {max_age}"]) + newline


WEEK = policy()
WEEK_REFORMATTED = (
    "version:STSv1\n\nmx:  mx2.example.test\n"
    "mode: enforce \nmax_age: 604800\nmx: mx1.example.test\n"
)
"""WEEK with LF lines, a blank line, other spacing and another line order: the same policy."""
WILDCARD = policy("enforce", "*.example.test")
RETIRED = policy("none", max_age=86400)
TWO_WEEKS = policy(max_age=1209600)
DAY = policy(max_age=86400)


# --- max_age ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeRow:
    name: str
    body: str
    status: Status
    said: tuple[str, ...] = ()


AGE_ROWS = [
    AgeRow("five-minutes", policy(max_age=300), Status.WARN, ("max_age 300 s (5 min)",)),
    AgeRow("one-hour-testing", policy("testing", max_age=3600), Status.WARN, ("3600 s (1 h)",)),
    AgeRow("zero", policy(max_age=0), Status.WARN, ("max_age 0 s",)),
    AgeRow("almost-a-day", policy(max_age=86399), Status.WARN, ("max_age 86399 s (24 h)",)),
    AgeRow("one-day", DAY, Status.OK),
    AgeRow("two-weeks", TWO_WEEKS, Status.OK),
    AgeRow("one-year", policy(max_age=31557600), Status.OK),
    AgeRow("retiring-with-mode-none", policy("none", max_age=300), Status.OK, ("mode none",)),
    AgeRow("over-a-year", policy(max_age=31557601), Status.FAIL, ("over 31557600",)),
    AgeRow(
        "short-and-uncovered",
        policy("enforce", "mx1.example.test", max_age=600),
        Status.FAIL,
        ("does not list mx2.example.test", "max_age 600 s (10 min)"),
    ),
]


# --- id and content changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """A policy the incident log saw: id, text (digested as the check digests), when."""

    policy_id: str
    body: str
    hours_ago: float
    domain: str | None = None


@dataclass(frozen=True)
class ChangeRow:
    name: str
    txt_id: str
    body: str
    logged: tuple[Logged, ...]
    status: Status
    said: tuple[str, ...] = ()
    kind: str | None = None
    """data["policy_change"]["kind"]; None: no change reported in the data."""


CHANGE_ROWS = [
    ChangeRow("no-history", "a1", WEEK, (), Status.OK, ("covers mx2.example.test",)),
    ChangeRow("unchanged", "a1", WEEK, (Logged("a1", WEEK, 2),), Status.OK),
    ChangeRow("reformatted", "a1", WEEK_REFORMATTED, (Logged("a1", WEEK, 2),), Status.OK),
    ChangeRow(
        "content-under-same-id",
        "a1",
        WILDCARD,
        (Logged("a1", WEEK, 1),),
        Status.WARN,
        ("policy content changed but id stayed a1", "until its max_age (7 d) runs out"),
        "content",
    ),
    ChangeRow(
        "retired-under-same-id",
        "a1",
        RETIRED,
        (Logged("a1", WEEK, 1),),
        Status.WARN,
        ("content changed but id stayed a1", "(now none)"),
        "content",
    ),
    ChangeRow(
        "max-age-only",
        "a1",
        TWO_WEEKS,
        (Logged("a1", WEEK, 1),),
        Status.WARN,
        ("content changed but id stayed a1",),
        "content",
    ),
    ChangeRow(
        "id-only",
        "a2",
        WEEK,
        (Logged("a1", WEEK, 1),),
        Status.WARN,
        ("id changed (a1 -> a2) but the policy content did not", "not being served"),
        "id",
    ),
    ChangeRow(
        "id-only-reformatted",
        "a2",
        WEEK_REFORMATTED,
        (Logged("a1", WEEK, 1),),
        Status.WARN,
        ("id changed (a1 -> a2)",),
        "id",
    ),
    ChangeRow(
        "update",
        "b2",
        WILDCARD,
        (Logged("a1", WEEK, 1),),
        Status.OK,
        ("policy updated (id a1 -> b2)",),
        "update",
    ),
    ChangeRow(
        "already-logged",
        "a1",
        WILDCARD,
        (Logged("a1", WEEK, 3), Logged("a1", WILDCARD, 1)),
        Status.WARN,
        ("content changed but id stayed a1",),
        "content",
    ),
    ChangeRow(
        "rolled-back",
        "a1",
        WEEK,
        (Logged("a1", WEEK, 5), Logged("a1", WILDCARD, 3)),
        Status.WARN,
        ("content changed but id stayed a1",),
        "content",
    ),
    ChangeRow(
        "caches-expired",
        "a1",
        WILDCARD,
        (Logged("a1", DAY, 72), Logged("a1", WILDCARD, 48)),
        Status.OK,
        (),
        "content",
    ),
    ChangeRow(
        "other-domain",
        "a1",
        WEEK,
        (Logged("a1", WILDCARD, 1, domain="elsewhere.test"),),
        Status.OK,
    ),
]


def digest(body: str) -> str:
    return policy_digest(parse_policy(body))


def entries_for(domain: str, logged: Sequence[Logged]) -> list[Entry]:
    """Log entries as a recording cockpit writes them (the contract, spelled out here)."""
    entries = []
    for seq, seen in enumerate(logged, start=10):
        named = seen.domain or domain
        data = {
            "area": "auth",
            "check": "mta-sts",
            "event": "mtasts_policy",
            "domain": named,
            "policy_id": seen.policy_id,
            "policy_sha256": digest(seen.body),
            "max_age": parse_policy(seen.body).max_age,
            "subject": f"_mta-sts.{named}",
            "status": None,
        }
        at = NOW - timedelta(hours=seen.hours_ago)
        entries.append(Entry(seq, at, "cockpit", {}, "probe", "MTA-STS policy", data))
    return entries


# --- the lab ------------------------------------------------------------------------------------


@dataclass
class Lab:
    dns: DnsLab
    https: HttpsLab
    server: HttpsServer

    @property
    def asker(self) -> Asker:
        name, ip, port = self.dns.resolvers[0]
        return Asker(ServerSpec(name, ip, port), TIMEOUT)

    def serve(self, body: str) -> None:
        self.server.routes[POLICY_PATH] = Route(
            200, [("Content-Type", "text/plain")], body.encode()
        )


TXT_IDS = {"age": "20261127", **{row.name: row.txt_id for row in CHANGE_ROWS}, "cli": "c1"}


@pytest.fixture(scope="module")
def https_lab_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsLab]:
    yield from running_https_lab(tmp_path_factory.mktemp("https"))


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, https_lab_module: HttpsLab) -> Lab:
    records = ["mx1 A 127.0.0.25", "mx2 A 127.0.0.26"]
    for case, txt_id in TXT_IDS.items():
        records += [f'_mta-sts.{case} TXT "v=STSv1; id={txt_id};"', f"mta-sts.{case} A {SERVER_IP}"]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 30, records)}, resolver_count=1)
    names = [f"mta-sts.{case}.{ZONE}" for case in TXT_IDS]
    server = https_lab_module.serve(SERVER_IP, names, {})
    return Lab(dns, https_lab_module, server)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    guard_loopback(monkeypatch)


def check(lab: Lab, case: str, history: Sequence[PolicySeen] = ()) -> Finding:
    primary = Region(name="primary", mx=("mx1.example.test",))
    secondary = Region(name="secondary", mx=("mx2.example.test",))
    config = hand_config(f"{case}.{ZONE}", (primary, secondary), ca_file=lab.https.ca_file)
    [finding] = asyncio.run(
        mtasts_findings(config, secondary, lab.asker, target="secondary", policy_history=history)
    )
    assert finding.observed_at is not None
    return finding


@pytest.mark.parametrize("row", AGE_ROWS, ids=[row.name for row in AGE_ROWS])
def test_max_age_far_below_weeks_warns(lab: Lab, row: AgeRow) -> None:
    lab.serve(row.body)
    found = check(lab, "age")
    assert found.status is row.status, found.summary
    for phrase in row.said:
        assert phrase in found.summary, (phrase, found.summary)
    if row.status is Status.OK:
        assert "max_age" not in found.summary


@pytest.mark.parametrize("row", CHANGE_ROWS, ids=[row.name for row in CHANGE_ROWS])
def test_id_and_content_changes_against_the_log(lab: Lab, row: ChangeRow) -> None:
    domain = f"{row.name}.{ZONE}"
    history = policy_history(entries_for(domain, row.logged), domain)
    lab.serve(row.body)
    found = check(lab, row.name, history)
    assert found.status is row.status, found.summary
    for phrase in row.said:
        assert phrase in found.summary, (phrase, found.summary)
    assert found.data["id"] == row.txt_id
    assert found.data["policy_sha256"] == digest(row.body)
    change = found.data.get("policy_change")
    assert (change or {}).get("kind") == row.kind
    if row.name == "caches-expired":
        assert change is not None and change["in_force"] is False
        assert "changed" not in found.summary


# --- recording: LiveProbes logs each new pair; `cockpit check` reads them -----------------------


CONFIG = """
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


def mtasts(region: str, policy_id: str | None, body: str | None) -> Finding:
    data: dict[str, Any] = {"record": "_mta-sts.example.test", "published": True}
    if policy_id is not None:
        data["id"] = policy_id
    if body is not None:
        data.update(policy_sha256=digest(body), max_age=parse_policy(body).max_age)
    return Finding("auth", "mta-sts", "_mta-sts.example.test", Status.OK, "ok", region, None, data)


def policy_entries(entries: Sequence[Any]) -> list[dict[str, Any]]:
    return [entry.data for entry in entries if entry.data.get("event") == "mtasts_policy"]


def as_log(recorded: Sequence[dict[str, Any]]) -> list[Entry]:
    return [
        Entry(seq, NOW, "cockpit", {}, "probe", "", data)
        for seq, data in enumerate(recorded, start=1)
    ]


def test_live_probes_log_each_new_policy_pair_once() -> None:
    probes = LiveProbes(load_config_text(CONFIG), target="secondary", clock=lambda: NOW)
    first = policy_entries(
        probes.took_auth([mtasts("primary", "a1", WEEK), mtasts("secondary", "a1", WEEK)])
    )
    assert first == [
        {
            "area": "auth",
            "check": "mta-sts",
            "event": "mtasts_policy",
            "domain": "example.test",
            "policy_id": "a1",
            "policy_sha256": digest(WEEK),
            "max_age": 604800,
            "subject": "_mta-sts.example.test",
            "status": None,
        }
    ]
    assert policy_entries(probes.took_auth([mtasts("primary", "a1", WEEK_REFORMATTED)])) == []
    # No policy fetched (a failed fetch): nothing to record, and no pair forgotten.
    assert policy_entries(probes.took_auth([mtasts("primary", "a1", None)])) == []
    changed = policy_entries(probes.took_auth([mtasts("primary", "a1", WILDCARD)]))
    assert [(e["policy_id"], e["policy_sha256"]) for e in changed] == [("a1", digest(WILDCARD))]
    # Not yet in the log: the history the next run compares with still has both.
    assert [seen.policy_sha256 for seen in probes.mtasts_history()] == [digest(WILDCARD)]
    probes.learn_entries(as_log([*first, *changed]))
    history = probes.mtasts_history()
    assert [seen.policy_sha256 for seen in history] == [digest(WEEK), digest(WILDCARD)]
    change = policy_change(history, "a1", digest(WILDCARD))
    assert change is not None and change.kind == "content"
    assert policy_entries(probes.took_auth([mtasts("primary", "a1", WILDCARD)])) == []


def test_a_pair_already_in_the_log_is_not_logged_again() -> None:
    probes = LiveProbes(load_config_text(CONFIG), target="secondary", clock=lambda: NOW)
    logged = policy_entry_data("example.test", PolicySeen("a1", digest(WEEK), 604800))
    probes.learn_entries(as_log([logged]))
    assert policy_entries(probes.took_auth([mtasts("primary", "a1", WEEK)])) == []
    assert len(policy_entries(probes.took_auth([mtasts("primary", "a2", WEEK)]))) == 1


def test_pending_pair_is_kept_until_the_log_shows_it() -> None:
    """The entry logged here is compared with before the log is read again, and is not
    logged a second time meanwhile."""
    probes = LiveProbes(load_config_text(CONFIG), target="secondary", clock=lambda: NOW)
    probes.learn_entries(
        as_log([policy_entry_data("example.test", PolicySeen("a1", digest(WEEK)))])
    )
    assert len(policy_entries(probes.took_auth([mtasts("primary", "a2", WEEK)]))) == 1
    assert [seen.policy_id for seen in probes.mtasts_history()] == ["a1", "a2"]
    assert policy_entries(probes.took_auth([mtasts("primary", "a2", WEEK)])) == []


def test_history_ignores_other_entries() -> None:
    good = policy_entry_data("example.test", PolicySeen("a1", digest(WEEK), 60))
    entries = [
        Entry(1, NOW, "a", {}, "note", "", good),
        Entry(2, NOW, "a", {}, "probe", "", {**good, "policy_sha256": "not-hex"}),
        Entry(3, NOW, "a", {}, "probe", "", {**good, "policy_id": "has space"}),
        Entry(4, NOW, "a", {}, "probe", "", {**good, "event": "status_changed"}),
        Entry(6, NOW, "a", {}, "probe", "", {**good, "policy_id": "late"}),
        Entry(5, NOW, "a", {}, "probe", "", good),
    ]
    assert [seen.policy_id for seen in policy_history(entries)] == ["a1", "late"]
    assert policy_history(entries, "other.test") == ()


def test_digest_ignores_form_but_not_meaning() -> None:
    assert digest(WEEK) == digest(WEEK_REFORMATTED) == digest(policy(newline="\n"))
    assert digest(WEEK) == digest(
        policy("enforce", "mx2.example.test", "mx1.example.test", "MX1.example.test.")
    )
    different = [
        policy("testing"),
        TWO_WEEKS,
        policy("enforce", "mx1.example.test"),
        WEEK + "extension: x\r\n",
    ]
    assert len({digest(WEEK), *map(digest, different)}) == 1 + len(different)
    assert digest(WEEK + "extension: x\n") != digest(WEEK + "extension: y\n")


def test_cockpit_check_compares_with_the_log_and_leaves_it_alone(lab: Lab, tmp_path: Path) -> None:
    """`cockpit check --only auth` reads the policies the log saw (written by a recording
    cockpit) and reports a content change under the same id; the log is not written."""
    name, ip, port = lab.dns.resolvers[0]
    config = tmp_path / "cockpit.toml"
    skipped = '"spf", "dkim", "dmarc", "ptr", "tls-rpt", "smtp-tls", "webmail", "idp"'
    config.write_text(
        f'[domain]\nname = "cli.{ZONE}"\n\n[dns]\ntimeout = {TIMEOUT}\n\n'
        f'[tls]\nca_file = "{lab.https.ca_file}"\n\n[auth]\nskip = [{skipped}]\n\n'
        '[[region]]\nname = "primary"\nmx = ["mx1.example.test"]\n\n'
        '[[region]]\nname = "secondary"\nmx = ["mx2.example.test"]\n\n'
        f'[[dns.resolver]]\nname = "{name}"\naddress = "{ip}:{port}"\n',
        encoding="utf-8",
    )
    log_path = tmp_path / "incident.jsonl"
    data = policy_entry_data(f"cli.{ZONE}", PolicySeen("c1", digest(WEEK), 604800))
    IncidentLog(log_path).append("probe", "MTA-STS policy", data, author="cockpit")
    before = log_path.read_bytes()
    lab.serve(WILDCARD)
    done = run_cockpit(
        "check", "--config", str(config), "--only", "auth", "--incident", str(log_path), "--json"
    )
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)["findings"]
    assert {f["check"] for f in found} == {"mta-sts"} and len(found) == 2
    for finding in found:
        assert finding["status"] == "warn", finding["summary"]
        assert "policy content changed but id stayed c1" in finding["summary"]
        assert finding["data"]["policy_change"]["previous_sha256"] == digest(WEEK)
    assert log_path.read_bytes() == before
