"""Service probes of [[region.endpoint]]s: POP3, submission, HTTPS and tcp on 127.0.93.x.

HTTPS runs against the real HTTPS lab on port 443 (tests/lab/https_lab.py), names resolved
through a real DNS lab; POP3, submission and tcp against small asyncio servers on loopback
(tests/lab/mail_fakes.py) with trustme certificates.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import trustme

from cockpit.compat import UTC
from cockpit.config import Config, load_config_text
from cockpit.model import Finding, Status
from cockpit.service.findings import region_service_findings
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.https_lab import HttpsLab, Route, running_https_lab
from tests.lab.mail_fakes import (
    FakeServers,
    Handler,
    garbage,
    pop3_greeter,
    silent,
    smtp_greeter,
    tls_server_context,
)

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "web.test"
WEB = {"www": "127.0.93.10", "wrong": "127.0.93.11", "soon": "127.0.93.12", "mute": "127.0.93.13"}
FAKE = "127.0.93.20"
NOBODY = "127.0.93.29"  # nothing listens


@dataclass
class Lab:
    dns: DnsLab
    https: HttpsLab
    ca: trustme.CA
    ca_file: Path


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    records = [f"{name} A {ip}" for name, ip in WEB.items()]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=1)
    for https in running_https_lab(tmp_path_factory.mktemp("https")):
        soon = https.leaf([f"soon.{ZONE}"], not_after=datetime.now(UTC) + timedelta(days=10))
        https.serve(
            WEB["www"],
            [f"www.{ZONE}"],
            {
                "/health": Route(200, body=b"ok"),
                "/down": Route(503, body=b"maintenance"),
                "/login": Route(302, headers=[("Location", "https://sso.web.test/")]),
                "/big": Route(200, body=b"x" * (5 * 1024 * 1024)),
            },
        )
        https.serve(WEB["wrong"], [f"other.{ZONE}"], {"/": Route(200)})
        https.serve(WEB["soon"], soon, {"/": Route(200)})
        yield Lab(dns, https, https.ca, https.ca_file)


def config_for(
    lab: Lab, *endpoints: str, timeout: float = 3.0, ca_file: str | None = None
) -> Config:
    name, ip, port = lab.dns.resolvers[0]
    tables = "\n".join(f"[[region.endpoint]]\n{table}" for table in endpoints)
    return load_config_text(
        f"""
[domain]
name = "{ZONE}"
[tls]
ca_file = {json.dumps(ca_file or str(lab.ca_file))}
[dns]
timeout = 1
[service]
timeout = {timeout}
[[dns.resolver]]
name = "{name}"
address = "{ip}:{port}"
[[region]]
name = "primary"
mx = ["mx.{ZONE}"]
{tables}
[[region]]
name = "secondary"
mx = ["mx2.{ZONE}"]
"""
    )


def endpoint_findings(config: Config) -> list[Finding]:
    """The primary region's endpoint findings, in config order (its MX host is left out)."""
    findings = asyncio.run(region_service_findings(config, config.regions[0]))
    return [f for f in findings if not f.data.get("mx")]


Served = tuple[Handler, bool]
"""A handler, and whether its server speaks TLS from the first byte."""


def with_servers(
    lab: Lab, served: list[Served], tables: list[str], timeout: float = 3.0
) -> tuple[list[Finding], float]:
    """Start `served` on FAKE (free ports); `tables` name them as {0}, {1}, ..."""

    async def run() -> tuple[list[Finding], float]:
        context = tls_server_context(lab.ca.issue_cert(FAKE))
        async with FakeServers() as servers:
            ports = [
                await servers.serve(handler, FAKE, tls=context if tls else None)
                for handler, tls in served
            ]
            filled = [table.format(*[f"{FAKE}:{port}" for port in ports]) for table in tables]
            config = config_for(lab, *filled, timeout=timeout)
            started = time.monotonic()
            findings = await region_service_findings(config, config.regions[0])
            return [f for f in findings if not f.data.get("mx")], time.monotonic() - started

    return asyncio.run(run())


def server_tls(lab: Lab) -> ssl.SSLContext:
    return tls_server_context(lab.ca.issue_cert(FAKE))


# --- HTTPS -------------------------------------------------------------------------------------


def test_https_status_decides_and_redirects_are_not_followed(lab: Lab) -> None:
    paths = ["/health", "/login", "/nothere", "/down", "/big"]
    found = endpoint_findings(
        config_for(lab, *[f'kind = "https"\nurl = "https://www.{ZONE}{path}"' for path in paths])
    )
    health, login, missing, down, big = found
    assert [f.subject for f in found] == [f"www.{ZONE}:443"] * 5
    assert health.status is Status.OK, health.summary
    assert health.summary.startswith(f"www.{ZONE}:443 answers HTTP 200 in ")
    assert health.data["code"] == "HTTP 200" and health.data["name_matches"] is True
    assert health.data["url"] == f"https://www.{ZONE}:443/health"
    assert login.status is Status.OK and login.data["location"] == "https://sso.web.test/"
    assert "(to https://sso.web.test/)" in login.summary
    assert len(lab.https.servers[0].requests) >= 1  # the redirect target was never asked
    assert all(r.host != "sso.web.test" for r in lab.https.servers[0].requests)
    assert missing.status is Status.WARN and "HTTP 404" in missing.summary
    assert down.status is Status.FAIL and "HTTP 503" in down.summary
    assert big.status is Status.OK and big.data["body_capped"] is True
    assert big.data["body_bytes"] <= 4096


def test_https_certificates_wrong_name_fails_and_near_expiry_warns(lab: Lab) -> None:
    wrong, soon = endpoint_findings(
        config_for(
            lab,
            f'kind = "https"\nurl = "https://wrong.{ZONE}/"',
            f'kind = "https"\nurl = "https://soon.{ZONE}/"',
        )
    )
    assert wrong.status is Status.FAIL and "not trusted" in wrong.summary
    assert wrong.data["certificate"]["dns_names"] == [f"other.{ZONE}"]
    assert wrong.data["name_matches"] is False
    assert soon.status is Status.WARN and "expires in" in soon.summary
    assert 9 <= soon.data["days_left"] <= 10


def test_https_that_never_answers_fails_within_the_bound(lab: Lab) -> None:
    async def run() -> tuple[list[Finding], float]:
        async with FakeServers() as servers:
            await servers.serve(silent, WEB["mute"], 443)
            config = config_for(lab, f'kind = "https"\nurl = "https://mute.{ZONE}/"', timeout=1.0)
            started = time.monotonic()
            findings = await region_service_findings(config, config.regions[0])
            return findings, time.monotonic() - started

    findings, elapsed = asyncio.run(run())
    [mute] = [f for f in findings if f.check == "https"]
    assert mute.status is Status.FAIL and mute.data["error_kind"] == "timeout"
    assert elapsed < 1.0 + 1.0


# --- POP3 --------------------------------------------------------------------------------------


def test_pop3_stls_implicit_and_old_servers(lab: Lab) -> None:
    context = server_tls(lab)
    found, _ = with_servers(
        lab,
        [
            (pop3_greeter(starttls=context), False),
            (pop3_greeter(), True),
            (pop3_greeter(starttls=context, capa=False), False),
        ],
        [
            'kind = "pop3"\naddress = "{0}"',
            'kind = "pop3"\naddress = "{1}"\ntls = "implicit"',
            'kind = "pop3"\naddress = "{2}"',
        ],
    )
    stls, implicit, old = found
    assert stls.status is Status.OK, stls.summary
    assert stls.summary.startswith(f"{stls.subject} greets +OK in ")
    assert stls.summary.endswith(", STARTTLS ok") and stls.data["starttls_offered"] is True
    # The list kept is the one read over TLS, where STLS is no longer offered.
    assert "USER" in stls.data["capabilities"] and "STLS" not in stls.data["capabilities"]
    assert implicit.status is Status.OK and implicit.summary.endswith(", TLS ok")
    assert old.status is Status.OK, old.summary  # no CAPA: STLS is tried anyway


def test_pop3_refusals_fail(lab: Lab) -> None:
    found, _ = with_servers(
        lab,
        [(pop3_greeter("-ERR [SYS/TEMP] overloaded"), False), (pop3_greeter(), False)],
        ['kind = "pop3"\naddress = "{0}"', 'kind = "pop3"\naddress = "{1}"'],
    )
    refused, plain = found
    assert refused.status is Status.FAIL and refused.data["code"] == "-ERR"
    assert "-ERR greeting" in refused.summary and "overloaded" in refused.summary
    assert plain.status is Status.FAIL and "STARTTLS is not offered" in plain.summary


# --- submission --------------------------------------------------------------------------------


def test_submission_implicit_tls_and_starttls(lab: Lab) -> None:
    context = server_tls(lab)
    found, _ = with_servers(
        lab,
        [
            (smtp_greeter(), True),
            (smtp_greeter(starttls=context), False),
            (smtp_greeter(), False),
        ],
        [
            'kind = "submission"\naddress = "{0}"\ntls = "implicit"',
            'kind = "submission"\naddress = "{1}"',
            'kind = "submission"\naddress = "{2}"',
        ],
    )
    implicit, starttls, plain = found
    assert implicit.status is Status.OK, implicit.summary
    assert implicit.summary.startswith(f"{implicit.subject} greets 220 in ")
    assert (
        implicit.data["tls"]["version"].startswith("TLS")
        and "starttls_offered" not in implicit.data
    )
    assert starttls.status is Status.OK and starttls.summary.endswith(", STARTTLS ok")
    # Unlike an MX host, a submission service without STARTTLS cannot take logins safely.
    assert plain.status is Status.FAIL and "STARTTLS is not offered" in plain.summary


# --- tcp ---------------------------------------------------------------------------------------


def test_tcp_connects_and_handshakes(lab: Lab) -> None:
    found, _ = with_servers(
        lab,
        [(silent, False), (silent, True), (silent, False), (garbage(), False)],
        [
            'kind = "tcp"\naddress = "{0}"',
            'kind = "tcp"\naddress = "{1}"\ntls = "implicit"',
            'kind = "tcp"\naddress = "{2}"\ntls = "implicit"',
            'kind = "tcp"\naddress = "{3}"\ntls = "implicit"',
            f'kind = "tcp"\naddress = "{NOBODY}:7"',
        ],
        timeout=1.0,
    )
    plain, tls, no_handshake, not_tls, refused = found
    assert plain.status is Status.OK and "accepts a connection in" in plain.summary
    assert tls.status is Status.OK and tls.summary.endswith(", TLS ok")
    assert tls.data["name_matches"] is True  # the certificate names the address
    assert no_handshake.status is Status.FAIL and no_handshake.data["error_kind"] in (
        "tls",
        "timeout",
    )
    assert not_tls.status is Status.FAIL and not_tls.data["error_kind"] == "tls"
    assert refused.status is Status.FAIL and refused.summary == f"{NOBODY}:7: connection refused"


def test_a_bad_ca_file_is_unknown_only_where_tls_is_needed(lab: Lab, tmp_path: Path) -> None:
    async def run() -> list[Finding]:
        async with FakeServers() as servers:
            port = await servers.serve(silent, FAKE)
            config = config_for(
                lab,
                f'kind = "tcp"\naddress = "{FAKE}:{port}"',
                f'kind = "tcp"\naddress = "{FAKE}:{port}"\ntls = "implicit"',
                ca_file=str(tmp_path / "missing.pem"),
            )
            findings = await region_service_findings(config, config.regions[0])
            return [f for f in findings if f.check == "tcp"]

    plain, tls = asyncio.run(run())
    assert plain.status is Status.OK
    assert tls.status is Status.UNKNOWN and "ca_file" in tls.summary
