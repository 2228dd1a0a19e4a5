"""The SPF record judged as a whole (issue 12, RFC 7208): one table of record shapes per rule,
served by a real nsd and resolved by a real unbound. Each row: the domain's record (and the
records it reaches), the region's sending IPs, the record-level status and what its summary
must say; the lookup and void counts stay exact."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.spf_check import spf_findings
from cockpit.config.model import Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
OWN = "127.0.20.1"
OTHER = "127.0.20.9"

RECORDS = [
    "h A 127.0.0.99",
    'vendor TXT "v=spf1 ip4:127.0.40.0/24 -all"',
    'nospf TXT "site-verification=abc"',
    # include / redirect targets without an SPF record, and a glued domain-spec
    f'incmissing TXT "v=spf1 ip4:{OWN} include:nospf.example.test -all"',
    f'incnx TXT "v=spf1 ip4:{OWN} include:nothere.example.test -all"',
    'redirmissing TXT "v=spf1 redirect=nospf.example.test"',
    # two strings joined without a space: "...vendor.example.test~all"
    f'glued TXT "v=spf1 ip4:{OWN} include:vendor.example.test" "~all"',
    f'digits TXT "v=spf1 ip4:{OWN} a:host.123 -all"',
    # void lookups through macros: OTHER's expansions exist nowhere
    f'macro TXT "v=spf1 a:nx1.example.test exists:%{{i}}.m1.example.test '
    f'exists:%{{i}}.m2.example.test ip4:{OWN} -all"',
    f"{OWN}.m1 A 127.0.0.2",
    f"{OWN}.m2 A 127.0.0.2",
    # the final word
    f'plusall TXT "v=spf1 ip4:{OWN} +all"',
    f'bareall TXT "v=spf1 ip4:{OWN} all"',
    'incplus TXT "v=spf1 include:plusall.example.test -all"',
    'redirplus TXT "v=spf1 redirect=plusall.example.test"',
    f'neutral TXT "v=spf1 ip4:{OWN} ?all"',
    'redirneutral TXT "v=spf1 redirect=neutral.example.test"',
    f'noall TXT "v=spf1 ip4:{OWN}"',
    f'redirall TXT "v=spf1 ip4:{OWN} -all redirect=plusall.example.test"',
    f'soft TXT "v=spf1 ip4:{OWN} include:vendor.example.test ~all"',
    f'hard TXT "v=spf1 ip4:{OWN} a:h.example.test -all"',
]


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> DnsLab:
    return dns_lab_module({ZONE: zone_text(ZONE, 1, 60, RECORDS)}, resolver_count=1)


def _run(lab: DnsLab, label: str, ips: Sequence[str]) -> dict[str, Finding]:
    region = Region("primary", ("mx1.example.test",), tuple(ips), helo="mx1.example.test")
    other = Region("secondary", ("mx2.example.test",), ("127.0.20.2",))
    config = hand_config(f"{label}.{ZONE}", (region, other))
    name, ip, port = lab.resolvers[0]
    findings = asyncio.run(spf_findings(config, region, Asker(ServerSpec(name, ip, port), 0.5)))
    return {finding.check: finding for finding in findings}


Row = tuple[str, tuple[str, ...], Status, str]

PERMERRORS: list[Row] = [
    ("incmissing", (OWN,), Status.FAIL, "nospf.example.test, which has no SPF record"),
    ("incnx", (OWN,), Status.FAIL, "nothere.example.test, which has no SPF record"),
    ("redirmissing", (OWN,), Status.FAIL, "nospf.example.test, which has no SPF record"),
    ("glued", (OWN,), Status.FAIL, "invalid domain-spec in 'include:vendor.example.test~all'"),
    ("digits", (OWN,), Status.FAIL, "invalid domain-spec in 'a:host.123'"),
]
VOIDS: list[Row] = [
    ("macro", (OWN, OTHER), Status.FAIL, f"3 void lookups for {OTHER} (limit 2)"),
    ("macro", (OWN,), Status.OK, "needs 3 of 10 DNS lookups, 1 void"),
]
FINAL_WORD: list[Row] = [
    ("plusall", (OWN,), Status.FAIL, "ends in +all: any host passes SPF"),
    ("bareall", (OWN,), Status.FAIL, "ends in +all"),
    ("incplus", (OWN,), Status.FAIL, "includes plusall.example.test, which ends in +all"),
    ("redirplus", (OWN,), Status.FAIL, "ends in +all (through redirect=plusall.example.test)"),
    ("neutral", (OWN,), Status.WARN, "ends in ?all: forged mail is neutral"),
    ("redirneutral", (OWN,), Status.WARN, "?all (through redirect=neutral.example.test)"),
    ("noall", (OWN,), Status.WARN, "no 'all' and no redirect=: other hosts get the default"),
    (
        "redirall",
        (OWN,),
        Status.OK,
        "redirect=plusall.example.test in redirall.example.test is ignored",
    ),
    ("soft", (OWN,), Status.OK, "needs 1 of 10 DNS lookups, 0 void"),
    ("hard", (OWN,), Status.OK, "needs 1 of 10 DNS lookups, 0 void"),
]


def _ids(rows: list[Row]) -> list[str]:
    return [f"{label}-{len(ips)}ip" for label, ips, _status, _says in rows]


def _check(lab: DnsLab, label: str, ips: tuple[str, ...], status: Status, says: str) -> Finding:
    walk = _run(lab, label, ips)["spf-lookups"]
    assert walk.status is status, walk.summary
    assert says in walk.summary, walk.summary
    return walk


@pytest.mark.parametrize(("label", "ips", "status", "says"), PERMERRORS, ids=_ids(PERMERRORS))
def test_a_permerror_for_every_sender_fails_the_record(
    lab: DnsLab, label: str, ips: tuple[str, ...], status: Status, says: str
) -> None:
    _check(lab, label, ips, status, says)


@pytest.mark.parametrize(("label", "ips", "status", "says"), VOIDS, ids=_ids(VOIDS))
def test_void_lookups_through_macros_count_per_sending_ip(
    lab: DnsLab, label: str, ips: tuple[str, ...], status: Status, says: str
) -> None:
    walk = _check(lab, label, ips, status, says)
    assert walk.data["void_lookups"] == 1  # the literal a:nx1, exact as before
    assert walk.data["lookups"] == 3
    if status is Status.FAIL:
        voids = walk.data["macro_voids"][OTHER]
        assert [v.split(" -> ")[1] for v in voids] == [
            f"{OTHER}.m1.example.test: no A records",
            f"{OTHER}.m2.example.test: no A records",
        ]


@pytest.mark.parametrize(("label", "ips", "status", "says"), FINAL_WORD, ids=_ids(FINAL_WORD))
def test_the_final_word_of_the_record(
    lab: DnsLab, label: str, ips: tuple[str, ...], status: Status, says: str
) -> None:
    _check(lab, label, ips, status, says)


def test_the_record_level_verdict_agrees_with_a_per_ip_permerror(lab: DnsLab) -> None:
    """pyspf finds the void limit for OTHER; the whole-record verdict can never read better."""
    found = _run(lab, "macro", (OWN, OTHER))
    results = {entry["ip"]: entry["result"] for entry in found["spf"].data["results"]}
    assert results == {OWN: "pass", OTHER: "permerror"}
    assert found["spf-lookups"].status is Status.FAIL


def test_without_sending_ips_macro_targets_are_not_claimed_counted(lab: DnsLab) -> None:
    walk = _run(lab, "macro", ())["spf-lookups"]
    assert walk.status is Status.OK
    assert "macro targets not counted" in walk.summary
