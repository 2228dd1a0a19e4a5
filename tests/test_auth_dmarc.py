"""DMARC checks against real nsd and unbound on loopback, plus the pure parser and helpers.

One lab serves the module. Each case is its own config domain under example.test, whose
organizational domain is example.test (publicsuffixlist treats the unknown TLD .test as a
public suffix by its default "*" rule). _dmarc.example.test itself is the fallback record.
Resolver 1 is frozen in one test (and thawed in its `finally`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import (
    DmarcSyntaxError,
    aligned,
    dmarc_baseline,
    dmarc_findings,
    organizational_domain,
    parse_dmarc,
)
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.observation import ServerSpec
from cockpit.incident.entry import Entry
from cockpit.model import Finding, Status
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

TIMEOUT = 0.4
RECORDS = [
    '_dmarc TXT "v=DMARC1; p=quarantine; sp=reject; rua=mailto:dmarc@example.test"',
    '_dmarc.reject TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"',
    '_dmarc.none TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.test"',
    '_dmarc.bad TXT "v=DMARC1; p=block"',
    '_dmarc.two TXT "v=DMARC1; p=reject"',
    '_dmarc.two TXT "v=DMARC1; p=none"',
    '_dmarc.strict TXT "v=DMARC1; p=reject; adkim=s; aspf=s"',
    '_dmarc.partial TXT "v=DMARC1; p=reject; pct=20"',
    '_dmarc.other TXT "some-site-verification=abc"',
    "inherit A 127.0.0.80",
]


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> Iterator[DnsLab]:
    zones = {
        "example.test": zone_text("example.test", 1, 60, RECORDS),
        "empty.test": zone_text("empty.test", 1, 60, ["mail A 127.0.0.81"]),
    }
    yield dns_lab_module(zones, resolver_count=2)


def asker(lab: DnsLab, index: int = 0) -> Asker:
    name, ip, port = lab.resolvers[index]
    return Asker(ServerSpec(name, ip, port), timeout=TIMEOUT)


def config_for(domain: str) -> tuple[Config, Region]:
    region = Region(name="primary", mx=(f"mx1.{domain}",))
    config = hand_config(domain, (region, Region(name="secondary", mx=(f"mx2.{domain}",))))
    return config, region


def check(lab: DnsLab, domain: str, index: int = 0, **options: str | None) -> Finding:
    config, region = config_for(domain)
    [finding] = asyncio.run(dmarc_findings(config, region, asker(lab, index), **options))
    assert (finding.area, finding.check, finding.region) == ("auth", "dmarc", "primary")
    return finding


# --- against the lab ----------------------------------------------------------------------------


def test_reject_is_ok(lab: DnsLab) -> None:
    found = check(lab, "reject.example.test")
    assert found.status is Status.OK, found.summary
    assert found.subject == "_dmarc.reject.example.test"
    assert found.summary == (
        "p=reject at _dmarc.reject.example.test; DKIM and SPF aligned (adkim=r, aspf=r)"
    )
    assert found.data["policy"] == "reject" and found.data["check"] == "dmarc"
    assert found.data["rua"] == ["mailto:dmarc@example.test"]
    assert found.data["found_at"] == "domain"


def test_none_is_monitoring_only(lab: DnsLab) -> None:
    found = check(lab, "none.example.test")
    assert found.status is Status.WARN
    assert "monitoring only" in found.summary


def test_syntax_error_fails_naming_the_problem(lab: DnsLab) -> None:
    found = check(lab, "bad.example.test")
    assert found.status is Status.FAIL
    assert "p=block is not none, quarantine or reject" in found.summary


def test_two_records_fail(lab: DnsLab) -> None:
    found = check(lab, "two.example.test")
    assert found.status is Status.FAIL
    assert "2 DMARC records" in found.summary and "ignore DMARC" in found.summary


def test_organizational_domain_record_applies_with_its_sp(lab: DnsLab) -> None:
    # No _dmarc.inherit.example.test (the name does not exist); a TXT that is not DMARC at
    # _dmarc.other.example.test does not count either.
    for domain in ("inherit.example.test", "other.example.test"):
        found = check(lab, domain)
        assert found.status is Status.OK, found.summary
        assert found.subject == "_dmarc.example.test"
        assert found.data["found_at"] == "organizational domain"
        assert found.data["effective_policy"] == "reject"
        assert "(sp=reject applies)" in found.summary


def test_missing_everywhere_fails(lab: DnsLab) -> None:
    found = check(lab, "mail.empty.test")
    assert found.status is Status.FAIL
    assert "no DMARC record at _dmarc.mail.empty.test or _dmarc.empty.test" in found.summary


def test_strict_alignment(lab: DnsLab) -> None:
    assert check(lab, "strict.example.test").status is Status.OK
    bounce = check(lab, "strict.example.test", mail_from_domain="bounce.strict.example.test")
    assert bounce.status is Status.WARN
    assert "SPF MAIL FROM bounce.strict.example.test (strict) does not align" in bounce.summary
    both = check(
        lab,
        "strict.example.test",
        mail_from_domain="bounce.strict.example.test",
        dkim_domain="example.test",
    )
    assert both.status is Status.FAIL
    assert "fails DMARC" in both.summary
    assert both.data["dkim_aligned"] is False and both.data["spf_aligned"] is False


def test_relaxed_alignment_accepts_the_same_organizational_domain(lab: DnsLab) -> None:
    found = check(
        lab,
        "reject.example.test",
        mail_from_domain="bounce.reject.example.test",
        dkim_domain="example.test",
    )
    assert found.status is Status.OK, found.summary
    outsider = check(lab, "reject.example.test", dkim_domain="example.net")
    assert outsider.status is Status.WARN
    assert "DKIM d=example.net (relaxed) does not align" in outsider.summary


def test_partial_pct_warns(lab: DnsLab) -> None:
    found = check(lab, "partial.example.test")
    assert found.status is Status.WARN and "pct=20" in found.summary


def test_policy_changed_since_the_incident_began_warns(lab: DnsLab) -> None:
    found = check(lab, "reject.example.test", baseline_policy="none")
    assert found.status is Status.WARN
    assert "policy changed since the incident began (none -> reject)" in found.summary
    assert check(lab, "reject.example.test", baseline_policy="reject").status is Status.OK


def test_timeout_is_unknown(lab: DnsLab) -> None:
    lab.freeze(1)
    try:
        found = check(lab, "reject.example.test", index=1)
    finally:
        lab.thaw(1)
    assert found.status is Status.UNKNOWN
    assert "could not look up _dmarc.reject.example.test" in found.summary


def test_refused_lookup_is_unknown(lab: DnsLab) -> None:
    # The lab resolvers refuse every name outside the lab zones: no fallback, no verdict.
    found = check(lab, "mail.elsewhere.example")
    assert found.status is Status.UNKNOWN
    assert found.data["asked"] == ["_dmarc.mail.elsewhere.example"]


# --- pure ---------------------------------------------------------------------------------------


def test_parse_full_record() -> None:
    record = parse_dmarc(
        "v=DMARC1; p=Reject; sp=quarantine; pct=50; adkim=s; aspf=r; "
        "rua=mailto:a@example.com,mailto:b@example.net!10m; ruf=mailto:f@example.com; "
        "fo=1:d; ri=3600; x_extra=1;"
    )
    assert record.policy == "reject" and record.subdomain_policy == "quarantine"
    assert (record.pct, record.adkim, record.aspf) == (50, "s", "r")
    assert record.rua == ("mailto:a@example.com", "mailto:b@example.net!10m")
    assert record.ruf == ("mailto:f@example.com",)
    assert record.unknown_tags == ("x_extra",)


def test_parse_defaults() -> None:
    record = parse_dmarc("v=DMARC1;p=none")
    assert (record.policy, record.subdomain_policy, record.pct) == ("none", None, 100)
    assert (record.adkim, record.aspf, record.rua, record.ruf) == ("r", "r", (), ())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("p=reject; v=DMARC1", "must start with v=DMARC1"),
        ("v=DMARC1 p=reject", "must start with v=DMARC1"),
        ("v=DMARC1; p=reject p=none", "is not none, quarantine or reject"),
        ("v=DMARC1; rua=mailto:a@example.com", "no p= tag"),
        ("v=DMARC1; p=reject; p=none", "given twice"),
        ("v=DMARC1; p=reject; pct=150", "not a whole number 0-100"),
        ("v=DMARC1; p=reject; pct=abc", "not a whole number 0-100"),
        ("v=DMARC1; p=reject; adkim=x", "not r (relaxed) or s (strict)"),
        ("v=DMARC1; p=reject; sp=drop", "sp=drop is not"),
        ("v=DMARC1; p=reject; rua=dmarc@example.com", "not a URI"),
        ("v=DMARC1; p=reject; rua=mailto:nobody", "without an address"),
        ("v=DMARC1; p=reject; fo=2", "fo=2"),
        ("v=DMARC1;; p=reject", "empty tag"),
        ("v=DMARC1; reject", "has no '='"),
        ("", "empty"),
    ],
)
def test_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(DmarcSyntaxError, match=re.escape(problem)):
        parse_dmarc(text)


def test_organizational_domain_and_alignment() -> None:
    assert organizational_domain("a.b.example.test") == "example.test"
    assert organizational_domain("mx.example.co.uk") == "example.co.uk"
    assert organizational_domain("co.uk") == "co.uk"
    assert aligned("example.com", "mail.example.com", "r")
    assert not aligned("example.com", "mail.example.com", "s")
    assert aligned("Example.com.", "example.com", "s")
    assert not aligned("example.co.uk", "other.co.uk", "r")


def entry(seq: int, kind: str, data: dict[str, object]) -> Entry:
    return Entry(
        seq=seq,
        ts=datetime(2026, 11, 27, tzinfo=UTC),
        author="a",
        origin={},
        kind=kind,
        text="",
        data=data,
    )


def test_dmarc_baseline_reads_the_earliest_probe() -> None:
    entries = [
        entry(1, "note", {"check": "dmarc", "policy": "quarantine"}),
        entry(3, "probe", {"check": "dmarc", "policy": "none"}),
        entry(5, "probe", {"check": "spf", "policy": "quarantine"}),
        entry(4, "probe", {"check": "dmarc", "policy": "bogus"}),
        entry(2, "probe", {"check": "dmarc", "policy": "Reject"}),
    ]
    assert dmarc_baseline(entries) == "reject"
    assert dmarc_baseline(entries[:2]) == "none"
    assert dmarc_baseline([]) is None
    scoped = [entry(1, "probe", {"check": "dmarc", "policy": "none", "domain": "other.test"})]
    assert dmarc_baseline(scoped, domain="example.test") is None
    assert dmarc_baseline(scoped, domain="other.test") == "none"
