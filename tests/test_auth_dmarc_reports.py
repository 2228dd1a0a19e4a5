"""DMARC external report authorization (RFC 7489 7.1) against real nsd and unbound on loopback.

Zones, as the world has them:
  example.test   the mail domains: one case each (CASE.example.test with _dmarc.CASE), and
                 _dmarc.example.test, the organizational record a domain without one falls to
  vendor.test    a reporting vendor (reports to dmarc.vendor.test) that authorizes its customers
                 one by one, one of them through a CNAME to a shared record
  wild.test      a vendor that authorizes everyone with a wildcard
  other.test     a domain that publishes something else at the authorization names
  dead.test      delegated to a server that never answers (a UDP socket nobody reads)
Names outside these zones are refused by the lab resolvers: a lookup that cannot tell.
(.test is a public suffix by the list's default rule, so each zone is its own organization.)
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import dmarc_findings
from cockpit.auth.dmarc_reports import destination_host, external_destinations
from cockpit.config.model import Region
from cockpit.dns.observation import Observation, ServerSpec
from cockpit.model import Finding, Status
from tests.lab import free_port
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

TIMEOUT = 0.5
"""One query attempt; a lookup that times out costs 2 x TIMEOUT (one retry)."""
BLACK_HOLE_IP = "127.0.48.1"
VENDOR = "dmarc.vendor.test"


@dataclass(frozen=True)
class Row:
    """One DMARC record shape: its rua=/ruf= part and what the check must make of it."""

    case: str
    reports: str
    status: Status
    said: tuple[str, ...] = ()
    """Phrases the summary must hold."""
    states: dict[str, str] = field(default_factory=dict)
    """Destination host -> authorization state, exactly `data["reports"]`."""
    policy: str = "reject"


ROWS = [
    Row("internal", "rua=mailto:dmarc@example.test; ruf=mailto:f@reports.example.test", Status.OK),
    Row(
        "authorized",
        f"rua=mailto:agg@{VENDOR}",
        Status.OK,
        (f"external reports authorized by {VENDOR}",),
        {VENDOR: "authorized"},
    ),
    Row(
        "override",
        f"rua=mailto:agg@{VENDOR}",
        Status.OK,
        (f"authorized by {VENDOR}",),
        {VENDOR: "authorized"},
    ),
    Row(
        "size-limit",
        f"rua=mailto:agg@{VENDOR}!10m; ruf=mailto:forensic@{VENDOR}!1m",
        Status.OK,
        (f"authorized by {VENDOR}",),
        {VENDOR: "authorized"},
    ),
    Row(
        "upper",
        "rua=mailto:Agg@DMARC.Vendor.Test",
        Status.OK,
        (f"authorized by {VENDOR}",),
        {VENDOR: "authorized"},
    ),
    Row(
        "wildcard",
        "rua=mailto:reports@wild.test",
        Status.OK,
        ("authorized by wild.test",),
        {"wild.test": "authorized"},
    ),
    Row(
        "via-cname",
        "rua=mailto:reports@vendor.test",
        Status.OK,
        ("authorized by vendor.test",),
        {"vendor.test": "authorized"},
    ),
    Row(
        "missing",
        f"rua=mailto:agg@{VENDOR}",
        Status.WARN,
        (
            f"reports to {VENDOR} (rua=mailto:agg@{VENDOR}) are dropped",
            f"no DMARC record at missing.example.test._report._dmarc.{VENDOR} (NXDOMAIN)",
        ),
        {VENDOR: "missing"},
    ),
    Row(
        "says-spf",
        "rua=mailto:d@other.test",
        Status.WARN,
        ("says-spf.example.test._report._dmarc.other.test", "found 'v=spf1 -all'"),
        {"other.test": "other"},
    ),
    Row(
        "says-token",
        "ruf=mailto:forensic@other.test",
        Status.WARN,
        ("(ruf=mailto:forensic@other.test) are dropped", "found 'site-verification=3f9a'"),
        {"other.test": "other"},
    ),
    Row(
        "says-dmarc2",
        "rua=mailto:d@other.test",
        Status.WARN,
        ("found 'v=DMARC2'",),
        {"other.test": "other"},
    ),
    Row(
        "two-hosts",
        f"rua=mailto:a@{VENDOR},mailto:b@other.test; ruf=mailto:f@{VENDOR}",
        Status.WARN,
        (
            "reports to other.test (rua=mailto:b@other.test) are dropped",
            f"external reports authorized by {VENDOR}",
        ),
        {VENDOR: "authorized", "other.test": "missing"},
    ),
    Row(
        "refused",
        "rua=mailto:d@reports.elsewhere.example",
        Status.UNKNOWN,
        (
            "could not tell whether reports.elsewhere.example accepts reports",
            "refused.example.test._report._dmarc.reports.elsewhere.example",
        ),
        {"reports.elsewhere.example": "unknown"},
    ),
    Row(
        "unknown-and-missing",
        f"rua=mailto:a@reports.elsewhere.example,mailto:b@{VENDOR}",
        Status.WARN,
        (f"reports to {VENDOR}", "could not tell whether reports.elsewhere.example"),
        {"reports.elsewhere.example": "unknown", VENDOR: "missing"},
    ),
    Row(
        "address-literal",
        "rua=mailto:d@[127.0.0.9]",
        Status.WARN,
        ("reports to rua=mailto:d@[127.0.0.9] are dropped", "names no domain"),
        {"mailto:d@[127.0.0.9]": "invalid"},
    ),
    Row(
        "monitoring",
        "rua=mailto:d@other.test",
        Status.WARN,
        ("monitoring only", "reports to other.test"),
        {"other.test": "missing"},
        policy="none",
    ),
]


SLOW_REPORTS = "rua=mailto:a@x.dead.test,mailto:b@y.dead.test; ruf=mailto:c@z.dead.test"


def example_zone() -> str:
    records = [
        f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:agg@{VENDOR}"',
        f'_dmarc.slow TXT "v=DMARC1; p=reject; {SLOW_REPORTS}"',
    ]
    for row in ROWS:
        records.append(f'_dmarc.{row.case} TXT "v=DMARC1; p={row.policy}; {row.reports}"')
    return zone_text("example.test", 1, 60, records)


def authorizing_zones() -> dict[str, str]:
    at = "example.test._report._dmarc"
    vendor = [
        f'authorized.{at}.dmarc TXT "v=DMARC1"',
        f'override.{at}.dmarc TXT "v=DMARC1; rua=mailto:customer-7@{VENDOR}"',
        f'size-limit.{at}.dmarc TXT "v=DMARC1;"',
        f'upper.{at}.dmarc TXT "v=DMARC1"',
        f'two-hosts.{at}.dmarc TXT "v=DMARC1"',
        # A subdomain is authorized, the organizational domain's own name is not.
        f'nothing-here.{at}.dmarc TXT "v=DMARC1"',
        f"via-cname.{at} CNAME authorize",
        'authorize TXT "v=DMARC1"',
    ]
    other = [
        f'says-spf.{at} TXT "v=spf1 -all"',
        f'says-token.{at} TXT "site-verification=3f9a"',
        f'says-dmarc2.{at} TXT "v=DMARC2"',
    ]
    return {
        "vendor.test": zone_text("vendor.test", 1, 60, vendor),
        "wild.test": zone_text("wild.test", 1, 60, ['*._report._dmarc TXT "v=DMARC1"']),
        "other.test": zone_text("other.test", 1, 60, other),
    }


@pytest.fixture(scope="module")
def black_hole() -> Iterator[tuple[str, int]]:
    """A bound UDP socket that never reads: questions sent to it are never answered."""
    port = free_port(BLACK_HOLE_IP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind((BLACK_HOLE_IP, port))
        yield (BLACK_HOLE_IP, port)


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, black_hole: tuple[str, int]) -> DnsLab:
    zones = {"example.test": example_zone(), **authorizing_zones()}
    return dns_lab_module(zones, resolver_count=1, stubs={"dead.test": black_hole})


@dataclass(frozen=True, slots=True)
class CountingAsker(Asker):
    """The lab resolver, asked for real; remembers each question."""

    asked: list[str] = field(default_factory=list, compare=False)

    async def ask(self, name: str, rdtype: str) -> Observation:
        self.asked.append(f"{name}/{rdtype}")
        return await Asker.ask(self, name, rdtype)


def asker(lab: DnsLab) -> CountingAsker:
    name, ip, port = lab.resolvers[0]
    return CountingAsker(ServerSpec(name, ip, port), TIMEOUT)


def check(lab: DnsLab, domain: str, via: Asker | None = None) -> Finding:
    region = Region(name="primary", mx=(f"mx1.{domain}",))
    config = hand_config(domain, (region,))
    [finding] = asyncio.run(dmarc_findings(config, region, via or asker(lab)))
    assert finding.observed_at is not None
    return finding


def states(finding: Finding) -> dict[str, str]:
    return {report["host"]: report["authorization"] for report in finding.data["reports"]}


@pytest.mark.parametrize("row", ROWS, ids=[row.case for row in ROWS])
def test_external_report_destinations(lab: DnsLab, row: Row) -> None:
    found = check(lab, f"{row.case}.example.test")
    assert found.status is row.status, found.summary
    for phrase in row.said:
        assert phrase in found.summary, (phrase, found.summary)
    assert states(found) == row.states
    for report in found.data["reports"]:
        if report["authorization"] != "invalid":
            assert report["name"] == f"{row.case}.example.test._report._dmarc.{report['host']}"


def test_the_record_domain_is_the_one_the_record_came_from(lab: DnsLab) -> None:
    """No _dmarc.nothing-here.example.test: the record of example.test applies, so the vendor
    must authorize example.test; its record for the subdomain does not count (the name asked,
    an empty non-terminal there, has no TXT)."""
    found = check(lab, "nothing-here.example.test")
    assert found.data["found_at"] == "organizational domain"
    assert found.status is Status.WARN, found.summary
    [report] = found.data["reports"]
    assert report["name"] == f"example.test._report._dmarc.{VENDOR}"
    assert (report["authorization"], report["detail"]) == ("missing", "no TXT record (NODATA)")
    assert f"no DMARC record at example.test._report._dmarc.{VENDOR}" in found.summary


def test_a_host_named_twice_is_asked_once(lab: DnsLab) -> None:
    via = asker(lab)
    found = check(lab, "two-hosts.example.test", via)
    by_host = {report["host"]: report["uris"] for report in found.data["reports"]}
    assert by_host[VENDOR] == [f"rua=mailto:a@{VENDOR}", f"ruf=mailto:f@{VENDOR}"]
    reports_asked = [name for name in via.asked if "._report._dmarc." in name]
    assert sorted(reports_asked) == sorted(
        f"two-hosts.example.test._report._dmarc.{host}/TXT" for host in (VENDOR, "other.test")
    )


def test_hosts_that_never_answer_cost_one_timeout_together(lab: DnsLab) -> None:
    """Three destinations in a zone whose server never answers: each is unknown (not missing,
    not ok), and they are asked at once, so the check costs one lookup timeout (TIMEOUT, its
    retry included), not three."""
    lab.flush(0)  # forget that the dead server is dead: the resolver waits for it again
    started = time.monotonic()
    found = check(lab, "slow.example.test")
    elapsed = time.monotonic() - started
    assert found.status is Status.UNKNOWN, found.summary
    assert states(found) == {f"{h}.dead.test": "unknown" for h in "xyz"}
    # Real timeouts, not a quick SERVFAIL: the bound below is about waiting.
    assert all("no reply" in report["detail"] for report in found.data["reports"])
    for host in ("x.dead.test", "y.dead.test", "z.dead.test"):
        assert f"could not tell whether {host} accepts reports" in found.summary
    assert elapsed < TIMEOUT * 1.1 + 1.2, elapsed  # three in turn would take 1.5 s


# --- unknown tags and invalid values: reported, as before -----------------------------------------


@pytest.mark.parametrize(
    ("record", "status", "said"),
    [
        ("v=DMARC1; p=reject; rau=mailto:d@example.test", Status.OK, "unknown tag(s) rau="),
        ("v=DMARC1; p=reject; x_policy=1; np=reject", Status.OK, "unknown tag(s) x_policy="),
        ("v=DMARC1; p=reject; pct=200", Status.FAIL, "pct=200 is not a whole number 0-100"),
        ("v=DMARC1; p=reject; fo=x", Status.FAIL, "fo=x is not a ':' list"),
    ],
    ids=["typo-rua", "made-up-tag", "pct-out-of-range", "bad-fo"],
)
def test_unknown_tags_and_invalid_values_are_reported(
    dns_lab: LabFactory, record: str, status: Status, said: str
) -> None:
    lab = dns_lab(
        {"example.test": zone_text("example.test", 1, 60, [f'_dmarc TXT "{record}"'])},
        resolver_count=1,
    )
    found = check(lab, "example.test")
    assert found.status is status, found.summary
    assert said in found.summary
    if status is Status.OK:
        assert found.data["unknown_tags"] == [said.rpartition(" ")[2].rstrip("=")]


# --- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("mailto:dmarc@example.com", "example.com"),
        ("mailto:Agg@Reports.Example.COM.", "reports.example.com"),
        ("mailto:agg@example.net!10m", "example.net"),
        ("mailto:a%40b@example.net?subject=dmarc", "example.net"),
        ("https://reports.example.org/dmarc", "reports.example.org"),
        ("mailto:d@bücher.example", "xn--bcher-kva.example"),
        ("mailto:d@[127.0.0.9]", None),
        ("mailto:d@localhost", None),
        ("mailto:d@-bad.example", None),
    ],
)
def test_destination_host(uri: str, host: str | None) -> None:
    assert destination_host(uri) == host


def test_external_means_another_organizational_domain() -> None:
    found = external_destinations(
        "example.co.uk",
        ["mailto:a@reports.example.co.uk", "mailto:b@other.co.uk", "mailto:c@vendor.com!5m"],
        ["mailto:d@vendor.com", "mailto:e@[127.0.0.9]"],
    )
    assert found == {
        "other.co.uk": (True, ["rua=mailto:b@other.co.uk"]),
        "vendor.com": (True, ["rua=mailto:c@vendor.com!5m", "ruf=mailto:d@vendor.com"]),
        "mailto:e@[127.0.0.9]": (False, ["ruf=mailto:e@[127.0.0.9]"]),
    }
