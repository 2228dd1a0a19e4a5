"""Webmail and IdP checks against real HTTPS servers on 127.0.46.x:443 and a real DNS lab.

One webmail server (webmail.example.test, a good certificate) answers several paths with and
without the security headers; two more present an expired and a nearly expired certificate.
One IdP server (idp.example.test) serves discovery documents with and without an issuer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.idp_check import idp_findings
from cockpit.auth.webmail_check import webmail_findings
from cockpit.compat import UTC
from cockpit.config.model import (
    Config,
    Region,
    TlsSettings,
)
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab import guard_loopback
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import LabFactory, zone_text
from tests.lab.https_lab import HttpsLab, HttpsServer, Route, running_https_lab

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
WEBMAIL = "https://webmail.example.test"
GOOD_IP, EXPIRED_IP, NEAR_IP, IDP_IP, DEAD_IP = (f"127.0.46.{n}" for n in (1, 2, 3, 4, 9))
DISCOVERY = "/.well-known/openid-configuration"
SAFE_HEADERS = [
    ("Strict-Transport-Security", "max-age=31536000"),
    ("Content-Security-Policy", "default-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
]
WEBMAIL_ROUTES = {
    "/good": Route(200, SAFE_HEADERS, b"<html>login</html>"),
    "/bare": Route(200, [], b"<html>login</html>"),
    "/xfo": Route(
        200,
        [SAFE_HEADERS[0], ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff")],
    ),
    "/sniff": Route(200, [*SAFE_HEADERS[:2], ("X-Content-Type-Options", "sniff-away")]),
    "/redirect": Route(302, [("Location", "/good"), *SAFE_HEADERS]),
    "/error": Route(500, SAFE_HEADERS, b"oops"),
    "/gone": Route(404, SAFE_HEADERS),
    "/hostile": Route(
        200, [*SAFE_HEADERS[:2], ("X-Content-Type-Options", "\x1b[31m" + "x" * 5000)]
    ),
}


def document(body: dict[str, Any]) -> Route:
    return Route(200, [("Content-Type", "application/json")], json.dumps(body).encode())


IDP_ROUTES = {
    f"/ok{DISCOVERY}": document({"issuer": "https://idp.example.test/ok", "jwks_uri": "x"}),
    f"/no-issuer{DISCOVERY}": document({"jwks_uri": "https://idp.example.test/keys"}),
    f"/number-issuer{DISCOVERY}": document({"issuer": 42}),
    f"/list{DISCOVERY}": Route(200, [], b"[1, 2]"),
    f"/html{DISCOVERY}": Route(200, [], b"<html>maintenance</html>"),
    f"/error{DISCOVERY}": Route(500, [], b"{}"),
}


@dataclass
class Lab:
    asker: Asker
    https: HttpsLab
    webmail: HttpsServer
    idp: HttpsServer


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsLab]:
    yield from running_https_lab(tmp_path_factory.mktemp("https"))


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, https: HttpsLab) -> Lab:
    now = datetime.now(UTC)
    names = ["webmail.example.test"]
    webmail = https.serve(GOOD_IP, names, WEBMAIL_ROUTES)
    expired = https.leaf(
        names, not_before=now - timedelta(days=90), not_after=now - timedelta(days=2)
    )
    https.serve(EXPIRED_IP, expired, WEBMAIL_ROUTES)
    https.serve(NEAR_IP, https.leaf(names, not_after=now + timedelta(days=5)), WEBMAIL_ROUTES)
    idp = https.serve(IDP_IP, ["idp.example.test"], IDP_ROUTES)
    records = [
        f"webmail A {GOOD_IP}",
        f"idp A {IDP_IP}",
        f"idp-down A {DEAD_IP}",
        f"webmail-down A {DEAD_IP}",
    ]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 30, records)}, resolver_count=1)
    name, ip, port = dns.resolvers[0]
    return Lab(Asker(ServerSpec(name, ip, port), 0.5), https, webmail, idp)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket this process connects or sends to must be in 127.0.0.0/8."""
    guard_loopback(monkeypatch)


def config(lab: Lab, region: Region) -> Config:
    return hand_config(
        ZONE,
        (region, Region(name="secondary", mx=("mx2.example.test",))),
        ca_file=lab.https.ca_file,
    )


def webmail(lab: Lab, path: str, *addresses: str, url: str = WEBMAIL) -> list[Finding]:
    region = Region(
        name="primary",
        mx=("mx1.example.test",),
        webmail_url=url + path,
        webmail_addresses=addresses,
    )
    findings = asyncio.run(webmail_findings(config(lab, region), region, lab.asker))
    for finding in findings:
        assert finding.area == "auth" and finding.check == "webmail"
        assert finding.region == "primary"
    return findings


def one_webmail(lab: Lab, path: str, ip: str = GOOD_IP) -> Finding:
    [finding] = webmail(lab, path, ip)
    assert finding.data["address"] == ip
    return finding


def idp(lab: Lab, url: str | None) -> list[Finding]:
    region = Region(name="primary", mx=("mx1.example.test",), idp_url=url)
    return asyncio.run(idp_findings(config(lab, region), region, lab.asker))


def one_idp(lab: Lab, path: str, host: str = "idp.example.test") -> Finding:
    [finding] = idp(lab, f"https://{host}/{path}{DISCOVERY}")
    assert finding.check == "idp" and finding.region == "primary"
    return finding


# --- webmail ------------------------------------------------------------------------------------


def test_webmail_with_every_header_is_ok(lab: Lab) -> None:
    finding = one_webmail(lab, "/good")
    assert finding.status is Status.OK, finding.summary
    assert finding.data["status"] == 200 and finding.data["latency_ms"] >= 0
    assert finding.data["certificate"]["dns_names"] == ["webmail.example.test"]
    assert finding.subject == f"{WEBMAIL}/good at {GOOD_IP}"
    request = lab.webmail.requests[-1]
    assert request.host == request.sni == "webmail.example.test"


def test_missing_headers_warn_naming_them(lab: Lab) -> None:
    finding = one_webmail(lab, "/bare")
    assert finding.status is Status.WARN
    for name in (
        "Strict-Transport-Security",
        "Content-Security-Policy or X-Frame-Options",
        "X-Content-Type-Options: nosniff",
    ):
        assert name in finding.summary


def test_x_frame_options_stands_in_for_csp(lab: Lab) -> None:
    assert one_webmail(lab, "/xfo").status is Status.OK


def test_nosniff_must_say_nosniff(lab: Lab) -> None:
    finding = one_webmail(lab, "/sniff")
    assert finding.status is Status.WARN and "nosniff" in finding.summary


def test_redirect_is_ok(lab: Lab) -> None:
    finding = one_webmail(lab, "/redirect")
    assert finding.status is Status.OK and finding.data["status"] == 302


def test_server_error_fails(lab: Lab) -> None:
    finding = one_webmail(lab, "/error")
    assert finding.status is Status.FAIL and "HTTP 500" in finding.summary


def test_not_found_warns(lab: Lab) -> None:
    assert one_webmail(lab, "/gone").status is Status.WARN


def test_expired_certificate_fails_with_its_facts(lab: Lab) -> None:
    finding = one_webmail(lab, "/good", EXPIRED_IP)
    assert finding.status is Status.FAIL and "expired" in finding.summary
    assert finding.data["certificate"]["days_left"] < 0
    assert "expired" in finding.data["verify_error"]


def test_certificate_near_expiry_warns(lab: Lab) -> None:
    finding = one_webmail(lab, "/good", NEAR_IP)
    assert finding.status is Status.WARN and "expires in" in finding.summary
    assert 3 < finding.data["certificate"]["days_left"] < 6


def test_no_answer_fails(lab: Lab) -> None:
    finding = one_webmail(lab, "/good", DEAD_IP)
    assert finding.status is Status.FAIL and "no answer" in finding.summary


def test_every_address_is_checked(lab: Lab) -> None:
    findings = webmail(lab, "/good", GOOD_IP, EXPIRED_IP)
    assert [(f.data["address"], f.status) for f in findings] == [
        (GOOD_IP, Status.OK),
        (EXPIRED_IP, Status.FAIL),
    ]


def test_without_addresses_the_asker_resolves_the_host(lab: Lab) -> None:
    [finding] = webmail(lab, "/good")
    assert finding.status is Status.OK and finding.data["address"] == GOOD_IP
    assert finding.data["address_source"] == "dns"
    [missing] = webmail(lab, "/good", url="https://nowhere.example.test")
    assert missing.status is Status.FAIL and "does not resolve" in missing.summary


def test_header_values_are_bounded(lab: Lab) -> None:
    finding = one_webmail(lab, "/hostile")
    assert finding.status is Status.WARN
    assert len(finding.data["security_headers"]["x-content-type-options"]) <= 200


def test_no_webmail_configured_gives_no_finding(lab: Lab) -> None:
    region = Region(name="primary", mx=("mx1.example.test",))
    assert asyncio.run(webmail_findings(config(lab, region), region, lab.asker)) == []


# --- IdP ----------------------------------------------------------------------------------------


def test_idp_with_issuer_is_ok(lab: Lab) -> None:
    finding = one_idp(lab, "ok")
    assert finding.status is Status.OK, finding.summary
    assert finding.data["issuer"] == "https://idp.example.test/ok"
    assert finding.data["address"] == IDP_IP
    assert lab.idp.requests[-1].sni == "idp.example.test"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("no-issuer", "no issuer"),
        ("number-issuer", "no issuer"),
        ("list", "not an object"),
        ("html", "not JSON"),
        ("error", "HTTP 500"),
        ("missing", "HTTP 404"),
    ],
)
def test_idp_without_a_usable_document_fails(lab: Lab, path: str, words: str) -> None:
    finding = one_idp(lab, path)
    assert finding.status is Status.FAIL and words in finding.summary


def test_idp_not_answering_fails(lab: Lab) -> None:
    finding = one_idp(lab, "ok", host="idp-down.example.test")
    assert finding.status is Status.FAIL and "does not answer" in finding.summary


def test_idp_name_not_resolving_fails(lab: Lab) -> None:
    finding = one_idp(lab, "ok", host="idp-gone.example.test")
    assert finding.status is Status.FAIL and "does not resolve" in finding.summary


def test_idp_dns_that_cannot_tell_is_unknown(lab: Lab) -> None:
    region = Region(name="primary", mx=("mx1.example.test",), idp_url="https://idp.example.test/")
    stopped = Asker(ServerSpec("nobody", "127.0.46.250", 53), 0.2)
    [finding] = asyncio.run(idp_findings(config(lab, region), region, stopped))
    assert finding.status is Status.UNKNOWN


def test_idp_not_configured_gives_no_finding(lab: Lab) -> None:
    assert idp(lab, None) == []


def test_unreadable_ca_file_is_unknown(lab: Lab, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate")
    region = Region(
        name="primary", mx=("mx1.example.test",), idp_url=f"https://idp.example.test/ok{DISCOVERY}"
    )
    settings = config(lab, region)
    broken = Config(
        source=None,
        incident=settings.incident,
        domain=settings.domain,
        regions=settings.regions,
        dns=settings.dns,
        tls=TlsSettings(ca_file=bad),
    )
    [finding] = asyncio.run(idp_findings(broken, region, lab.asker))
    assert finding.status is Status.UNKNOWN and "ca_file" in finding.summary
