"""PTR and TLS-RPT checks against real nsd and unbound on loopback.

One lab serves the module: example.test (forward names and TLS-RPT records of several
sub-domains used as mail domains), the reverse zone of 127.0.20.0/24, and a reverse zone and a
forward zone whose authoritative is down (stubbed at a closed port): lookups there cannot tell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.ptr_check import ptr_findings
from cockpit.auth.tlsrpt_check import TlsRptError, parse_tlsrpt, tlsrpt_findings
from cockpit.config.model import Config, Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab import free_port
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
REVERSE = "20.0.127.in-addr.arpa"
DEAD_REVERSE = "21.0.127.in-addr.arpa"
DEAD_ZONE = "dead.test"
TIMEOUT = 0.4

FORWARD_RECORDS = [
    "out1 A 127.0.20.1",
    "out2 A 127.0.20.2",
    "smtp2 A 127.0.20.2",
    "out3 A 127.0.20.3",
    "other A 127.0.20.99",
    "out4 A 127.0.20.40",
    "out8 A 127.0.20.8",
    # TLS-RPT variants, one mail domain each
    '_smtp._tls.good TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"',
    '_smtp._tls.two-uris TXT "v=TLSRPTv1;rua=mailto:a@example.test,https://r.example.test/x;"',
    '_smtp._tls.no-rua TXT "v=TLSRPTv1; ruf=mailto:a@example.test"',
    '_smtp._tls.bad-uri TXT "v=TLSRPTv1; rua=ftp://r.example.test/"',
    '_smtp._tls.bad-mail TXT "v=TLSRPTv1; rua=mailto:nobody"',
    '_smtp._tls.junk TXT "v=spf1 -all"',
    '_smtp._tls.twice TXT "v=TLSRPTv1; rua=mailto:a@example.test"',
    '_smtp._tls.twice TXT "v=TLSRPTv1; rua=mailto:b@example.test"',
    "missing A 127.0.0.9",
]
REVERSE_RECORDS = [
    "1 PTR out1.example.test.",
    "2 PTR out2.example.test.",
    "3 PTR out3.example.test.",
    "4 PTR out4.example.test.",
    "6 PTR host.dead.test.",
    "7 PTR nowhere.example.test.",
    "8 PTR out1.example.test.",
    "8 PTR out8.example.test.",
]


@pytest.fixture(scope="module")
def asker(dns_lab_module: LabFactory) -> Iterator[Asker]:
    zones = {
        ZONE: zone_text(ZONE, 1, 30, FORWARD_RECORDS),
        REVERSE: zone_text(REVERSE, 1, 30, REVERSE_RECORDS),
    }
    dead = ("127.0.0.1", free_port())
    lab = dns_lab_module(zones, resolver_count=1, stubs={DEAD_REVERSE: dead, DEAD_ZONE: dead})
    name, ip, port = lab.resolvers[0]
    yield Asker(ServerSpec(name, ip, port), TIMEOUT)


def make_config(
    domain: str = ZONE, *, ips: tuple[str, ...] = (), helo: str | None = None
) -> Config:
    region = Region(name="primary", mx=("mx1.example.test",), sending_ips=ips, helo=helo)
    other = Region(name="secondary", mx=("mx2.example.test",))
    return hand_config(domain, (region, other))


def ptr(asker: Asker, ip: str, helo: str | None) -> Finding:
    config = make_config(ips=(ip,), helo=helo)
    [finding] = asyncio.run(ptr_findings(config, config.regions[0], asker))
    assert finding.area == "auth" and finding.check == "ptr" and finding.region == "primary"
    assert finding.subject == ip and finding.data["ip"] == ip
    return finding


def tlsrpt(asker: Asker, domain: str) -> Finding:
    config = make_config(domain)
    [finding] = asyncio.run(tlsrpt_findings(config, config.regions[0], asker))
    assert finding.check == "tls-rpt" and finding.subject == f"_smtp._tls.{domain}"
    return finding


# --- PTR ----------------------------------------------------------------------------------------


def test_ptr_equal_to_helo_is_ok(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.1", "out1.example.test")
    assert finding.status is Status.OK, finding.summary
    assert finding.data["forward_confirmed"] == ["out1.example.test"]
    assert finding.data["helo_match"] == "ptr"


def test_helo_resolving_to_the_ip_is_ok(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.2", "smtp2.example.test")
    assert finding.status is Status.OK, finding.summary
    assert finding.data["helo_match"] == "forward"


def test_confirmed_but_helo_elsewhere_warns(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.3", "other.example.test")
    assert finding.status is Status.WARN
    assert "other.example.test" in finding.summary and "forward-confirmed" in finding.summary
    assert finding.data["helo_match"] is False


def test_no_helo_configured_is_ok_on_fcrdns(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.1", None)
    assert finding.status is Status.OK and "no HELO" in finding.summary


def test_not_forward_confirmed_fails(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.4", "out4.example.test")
    assert finding.status is Status.FAIL
    assert "not forward-confirmed" in finding.summary
    assert finding.data["forward"] == {"out4.example.test": ["127.0.20.40"]}


def test_ptr_name_that_does_not_exist_fails(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.7", None)
    assert finding.status is Status.FAIL
    assert finding.data["forward"] == {"nowhere.example.test": "nxdomain"}


def test_no_ptr_fails(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.5", "out1.example.test")
    assert finding.status is Status.FAIL and "no PTR" in finding.summary
    assert finding.data["reverse_name"] == "5.20.0.127.in-addr.arpa"


def test_one_confirmed_name_among_several_is_enough(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.8", "out8.example.test")
    assert finding.status is Status.OK, finding.summary
    assert finding.data["forward_confirmed"] == ["out8.example.test"]


def test_unreachable_reverse_zone_is_unknown_not_fail(asker: Asker) -> None:
    finding = ptr(asker, "127.0.21.1", "out1.example.test")
    assert finding.status is Status.UNKNOWN
    assert "PTR" in finding.summary


def test_unreachable_forward_zone_is_unknown_not_fail(asker: Asker) -> None:
    finding = ptr(asker, "127.0.20.6", None)
    assert finding.status is Status.UNKNOWN
    assert "host.dead.test" in finding.summary


def test_every_sending_ip_gets_a_finding(asker: Asker) -> None:
    config = make_config(ips=("127.0.20.1", "127.0.20.5"), helo="out1.example.test")
    findings = asyncio.run(ptr_findings(config, config.regions[0], asker))
    assert [(f.subject, f.status) for f in findings] == [
        ("127.0.20.1", Status.OK),
        ("127.0.20.5", Status.FAIL),
    ]
    assert all(f.resolver == asker.server.name for f in findings)


def test_no_sending_ips_is_unknown(asker: Asker) -> None:
    config = make_config()
    [finding] = asyncio.run(ptr_findings(config, config.regions[0], asker))
    assert finding.status is Status.UNKNOWN and "no sending IPs" in finding.summary


# --- TLS-RPT ------------------------------------------------------------------------------------


def test_tlsrpt_well_formed_is_ok(asker: Asker) -> None:
    finding = tlsrpt(asker, "good.example.test")
    assert finding.status is Status.OK
    assert finding.data["rua"] == ["mailto:tlsrpt@example.test"]


def test_tlsrpt_two_uris_and_trailing_semicolon(asker: Asker) -> None:
    finding = tlsrpt(asker, "two-uris.example.test")
    assert finding.status is Status.OK
    assert finding.data["rua"] == ["mailto:a@example.test", "https://r.example.test/x"]


def test_tlsrpt_missing_warns(asker: Asker) -> None:
    for domain in ("missing.example.test", "absent.example.test"):  # NODATA and NXDOMAIN
        finding = tlsrpt(asker, domain)
        assert finding.status is Status.WARN and "not published" in finding.summary


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("no-rua.example.test", "no rua="),
        ("bad-uri.example.test", "neither mailto: nor https:"),
        ("bad-mail.example.test", "not a valid mailto:"),
        ("junk.example.test", "does not start with v=TLSRPTv1"),
        ("twice.example.test", "2 TLS-RPT records"),
    ],
)
def test_tlsrpt_malformed_fails(asker: Asker, domain: str, words: str) -> None:
    finding = tlsrpt(asker, domain)
    assert finding.status is Status.FAIL
    assert words in finding.summary


def test_tlsrpt_unreachable_is_unknown(asker: Asker) -> None:
    finding = tlsrpt(asker, "x.dead.test")
    assert finding.status is Status.UNKNOWN


@pytest.mark.parametrize(
    "text",
    ["v=TLSRPTv1", "v=TLSRPTv2; rua=mailto:a@b.example", "v=TLSRPTv1; rua", "v=TLSRPTv1; rua=;"],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(TlsRptError):
        parse_tlsrpt(text)
