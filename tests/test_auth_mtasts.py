"""MTA-STS checks against real nsd/unbound and real HTTPS servers on 127.0.45.x:443.

Every case is its own mail domain under example.test (policy host mta-sts.CASE.example.test,
with its own address and server), so one DNS lab and one HTTPS lab serve the whole module.
Regions: primary (mx1.example.test) and secondary (mx2.example.test); failover target secondary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.mtasts_check import (
    MtaStsError,
    mtasts_findings,
    mx_covered,
    parse_policy,
    parse_sts_record,
)
from cockpit.config.model import Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab import guard_loopback
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import LabFactory, zone_text
from tests.lab.https_lab import HttpsLab, HttpsServer, Route, running_https_lab

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
TIMEOUT = 0.5
POLICY_PATH = "/.well-known/mta-sts.txt"
TEXT = [("Content-Type", "text/plain")]


def policy(mode: str, *mx: str, max_age: int = 604800) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {host}" for host in mx)]
    return ("\r\n".join([*lines, f"max_age: {max_age}"]) + "\r\n").encode()


# case -> (route at the policy path or None for no server, txt record or None)
STS = '"v=STSv1; id=20261127T1"'
CASES: dict[str, tuple[Route | None, str | None]] = {
    "both": (Route(200, TEXT, policy("enforce", "mx1.example.test", "mx2.example.test")), STS),
    "only-mx1": (Route(200, TEXT, policy("enforce", "mx1.example.test")), STS),
    "testing": (Route(200, TEXT, policy("testing", "mx1.example.test")), STS),
    "wildcard": (Route(200, TEXT, policy("enforce", "*.example.test")), STS),
    "mode-none": (Route(200, TEXT, policy("none")), STS),
    "redirect": (Route(301, [("Location", "https://elsewhere.example.test/p")]), STS),
    "missing-file": (Route(404, body=b"no"), STS),
    "huge": (Route(200, TEXT, b"mx: a.example.test\n" * 20000, declare_length=False), STS),
    "huge-declared": (Route(200, TEXT, b"#" * (70 * 1024)), STS),
    "bad-policy": (Route(200, TEXT, b"version: STSv1\nmode: enforce\nmax_age: soon\n"), STS),
    "wrong-cert": (Route(200, TEXT, policy("enforce", "mx2.example.test")), STS),
    "no-server": (None, STS),
    "no-txt": (Route(200, TEXT, policy("enforce", "mx1.example.test")), None),
    "bad-txt": (None, '"v=STSv1; idx=1"'),
    "two-txt": (None, STS),
    "no-host": (None, STS),
}


@dataclass
class Lab:
    asker: Asker
    https: HttpsLab
    servers: dict[str, HttpsServer]


def address(index: int) -> str:
    return f"127.0.45.{index + 1}"


@pytest.fixture(scope="module")
def https_lab_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsLab]:
    yield from running_https_lab(tmp_path_factory.mktemp("https"))


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, https_lab_module: HttpsLab) -> Iterator[Lab]:
    records = ["mx1 A 127.0.0.25", "mx2 A 127.0.0.26"]
    servers: dict[str, HttpsServer] = {}
    for index, (case, (route, txt)) in enumerate(CASES.items()):
        if txt is not None:
            records.append(f"_mta-sts.{case} TXT {txt}")
        if case == "two-txt":
            records.append(f'_mta-sts.{case} TXT "v=STSv1; id=other"')
        if case != "no-host":
            records.append(f"mta-sts.{case} A {address(index)}")
        if route is None:
            continue
        names = [f"mta-sts.{case}.{ZONE}"]
        if case == "wrong-cert":
            names = [f"www.{case}.{ZONE}"]
        servers[case] = https_lab_module.serve(address(index), names, {POLICY_PATH: route})
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 30, records)}, resolver_count=1)
    name, ip, port = dns.resolvers[0]
    yield Lab(Asker(ServerSpec(name, ip, port), TIMEOUT), https_lab_module, servers)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket this process connects or sends to must be in 127.0.0.0/8."""
    guard_loopback(monkeypatch)


def check(lab: Lab, case: str, region: str = "secondary", target: str = "secondary") -> Finding:
    primary = Region(name="primary", mx=("mx1.example.test",))
    secondary = Region(name="secondary", mx=("mx2.example.test",))
    config = hand_config(f"{case}.{ZONE}", (primary, secondary), ca_file=lab.https.ca_file)
    chosen = config.region(region)
    assert chosen is not None
    [finding] = asyncio.run(mtasts_findings(config, chosen, lab.asker, target=target))
    assert finding.area == "auth" and finding.check == "mta-sts" and finding.region == region
    assert finding.resolver == lab.asker.server.name
    return finding


# --- coverage -----------------------------------------------------------------------------------


def test_policy_covering_every_mx_is_ok(lab: Lab) -> None:
    finding = check(lab, "both")
    assert finding.status is Status.OK, finding.summary
    assert finding.subject == f"https://mta-sts.both.{ZONE}/.well-known/mta-sts.txt"
    assert finding.data["mode"] == "enforce" and finding.data["max_age"] == 604800
    assert finding.data["uncovered_mx"] == [] and finding.data["status"] == 200
    assert finding.data["address"] == address(0)
    assert finding.data["certificate"]["dns_names"] == [f"mta-sts.both.{ZONE}"]
    [request] = lab.servers["both"].requests
    assert request.host == request.sni == f"mta-sts.both.{ZONE}"
    assert request.path == POLICY_PATH


def test_enforce_policy_missing_the_target_mx_fails(lab: Lab) -> None:
    finding = check(lab, "only-mx1")
    assert finding.status is Status.FAIL
    assert "mx2.example.test" in finding.summary and "refuse" in finding.summary
    assert finding.data["uncovered_mx"] == ["mx2.example.test"]


def test_enforce_policy_covers_the_other_region(lab: Lab) -> None:
    assert check(lab, "only-mx1", region="primary").status is Status.OK


def test_uncovered_mx_of_a_region_that_is_not_the_target_warns(lab: Lab) -> None:
    finding = check(lab, "only-mx1", region="secondary", target="primary")
    assert finding.status is Status.WARN and finding.data["is_target"] is False


def test_testing_policy_missing_the_target_mx_warns(lab: Lab) -> None:
    finding = check(lab, "testing")
    assert finding.status is Status.WARN and "testing" in finding.summary


def test_wildcard_covers_one_label(lab: Lab) -> None:
    assert check(lab, "wildcard").status is Status.OK
    assert mx_covered("mx2.example.test", ("*.example.test",))
    assert not mx_covered("a.mx2.example.test", ("*.example.test",))
    assert not mx_covered("example.test", ("*.example.test",))
    assert mx_covered("MX2.Example.Test.", ("mx2.example.test",))


def test_mode_none_is_ok(lab: Lab) -> None:
    finding = check(lab, "mode-none")
    assert finding.status is Status.OK and "none" in finding.summary


# --- policy fetch -------------------------------------------------------------------------------


def test_redirect_fails_and_is_not_followed(lab: Lab) -> None:
    finding = check(lab, "redirect")
    assert finding.status is Status.FAIL
    assert "redirect" in finding.summary and "elsewhere.example.test" in finding.summary
    assert len(lab.servers["redirect"].requests) >= 1


def test_missing_policy_file_fails(lab: Lab) -> None:
    finding = check(lab, "missing-file")
    assert finding.status is Status.FAIL and "HTTP 404" in finding.summary


@pytest.mark.parametrize("case", ["huge", "huge-declared"])
def test_huge_policy_is_capped_and_fails(lab: Lab, case: str) -> None:
    finding = check(lab, case)
    assert finding.status is Status.FAIL and "64 KiB" in finding.summary


def test_malformed_policy_fails(lab: Lab) -> None:
    finding = check(lab, "bad-policy")
    assert finding.status is Status.FAIL and "max_age" in finding.summary


def test_certificate_for_another_name_fails_with_its_facts(lab: Lab) -> None:
    finding = check(lab, "wrong-cert")
    assert finding.status is Status.FAIL and "certificate" in finding.summary
    assert finding.data["certificate"]["dns_names"] == [f"www.wrong-cert.{ZONE}"]
    assert "mismatch" in finding.data["verify_error"].lower()


def test_untrusted_ca_fails(lab: Lab, tmp_path: Path) -> None:
    other = HttpsLab(tmp_path)  # a CA the policy server's certificate does not chain to
    primary = Region(name="primary", mx=("mx1.example.test",))
    config = hand_config(
        f"both.{ZONE}",
        (primary, Region(name="secondary", mx=("mx2.example.test",))),
        ca_file=other.ca_file,
    )
    [finding] = asyncio.run(mtasts_findings(config, primary, lab.asker, target="primary"))
    assert finding.status is Status.FAIL and "certificate" in finding.summary


def test_nothing_listening_fails(lab: Lab) -> None:
    finding = check(lab, "no-server")
    assert finding.status is Status.FAIL and "no answer" in finding.summary


def test_policy_host_not_resolving_fails(lab: Lab) -> None:
    finding = check(lab, "no-host")
    assert finding.status is Status.FAIL and "does not resolve" in finding.summary


# --- the TXT record -----------------------------------------------------------------------------


def test_no_txt_record_is_ok_not_published(lab: Lab) -> None:
    finding = check(lab, "no-txt")
    assert finding.status is Status.OK and "not published" in finding.summary
    assert finding.data["published"] is False
    assert finding.subject == f"_mta-sts.no-txt.{ZONE}"


def test_malformed_txt_record_fails(lab: Lab) -> None:
    finding = check(lab, "bad-txt")
    assert finding.status is Status.FAIL and "id=" in finding.summary


def test_two_txt_records_fail(lab: Lab) -> None:
    finding = check(lab, "two-txt")
    assert finding.status is Status.FAIL and "2 v=STSv1 records" in finding.summary


def test_unreachable_dns_is_unknown(lab: Lab) -> None:
    stopped = Asker(ServerSpec("nobody", "127.0.45.250", 53), 0.2)
    primary = Region(name="primary", mx=("mx1.example.test",))
    config = hand_config(
        f"both.{ZONE}", (primary, Region(name="secondary", mx=("mx2.example.test",)))
    )
    [finding] = asyncio.run(mtasts_findings(config, primary, stopped, target="primary"))
    assert finding.status is Status.UNKNOWN


# --- pure parsing -------------------------------------------------------------------------------


def test_parse_record_and_policy() -> None:
    assert parse_sts_record("v=STSv1; id=abc123;") == "abc123"
    parsed = parse_policy(
        "version: STSv1\nmode: testing\nmx: a.example\nmx: *.b.example\n"
        "max_age: 86400\nextension: x\n"
    )
    assert parsed.mode == "testing" and parsed.mx == ("a.example", "*.b.example")
    assert parsed.other_keys == ("extension",)


@pytest.mark.parametrize(
    "text",
    [
        "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n",
        "version: STSv1\nmode: enforce\nmx: a\n",
        "<html>not a policy</html>",
    ],
)
def test_parse_policy_rejects(text: str) -> None:
    with pytest.raises(MtaStsError):
        parse_policy(text)


@pytest.mark.parametrize("text", ["v=STSv1", "v=STSv1; id=", "v=STSv1; id=a-b", "v=STSv2; id=1"])
def test_parse_record_rejects(text: str) -> None:
    with pytest.raises(MtaStsError):
        parse_sts_record(text)
