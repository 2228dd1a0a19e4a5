"""IMAP service probes against a real Dovecot on 127.0.92.x (STARTTLS on 143, TLS on 993).

Two Dovecot instances: one with a certificate naming imap.mail.test and its address, one whose
certificate names another host. The name imap.mail.test is resolved through a real DNS lab.
Small asyncio servers play the broken IMAP servers (BYE, garbage, silence, endless replies).
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from cockpit.config import Config, load_config_text
from cockpit.model import Finding, Status
from cockpit.service.findings import region_service_findings
from cockpit.service.lines import MAX_REPLY_LINES
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.dovecot import DovecotFactory, DovecotLab
from tests.lab.mail_fakes import FakeServers, Handler, garbage, imap_greeter, silent

pytest_plugins = ["tests.lab.dnslab", "tests.lab.dovecot_lab"]

GOOD = "127.0.92.1"
WRONG_NAME = "127.0.92.2"
FAKE = "127.0.92.5"
ZONE = "mail.test"


@dataclass
class Lab:
    dovecot: DovecotLab
    dns: DnsLab
    ca_file: Path


@pytest.fixture(scope="module")
def lab(
    dovecot_lab_module: DovecotFactory,
    dns_lab_module: LabFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    ca = trustme.CA()
    good = dovecot_lab_module(GOOD, cert=ca.issue_cert(f"imap.{ZONE}", GOOD))
    dovecot_lab_module(WRONG_NAME, cert=ca.issue_cert(f"other.{ZONE}"))
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, [f"imap A {GOOD}"])}, resolver_count=1)
    ca_file = tmp_path_factory.mktemp("imap-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield Lab(good, dns, ca_file)


def config_for(
    lab: Lab, *endpoints: str, timeout: float = 3.0, ca_file: Path | None = None
) -> Config:
    name, ip, port = lab.dns.resolvers[0]
    tables = "\n".join(f'[[region.endpoint]]\nkind = "imap"\n{table}' for table in endpoints)
    return load_config_text(
        f"""
[domain]
name = "{ZONE}"
[tls]
ca_file = {json.dumps(str(ca_file or lab.ca_file))}
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


def imap_findings(config: Config) -> list[Finding]:
    """The primary region's imap findings (its MX host, not in the zone, is left out)."""
    findings = asyncio.run(region_service_findings(config, config.regions[0]))
    return [f for f in findings if f.check == "imap"]


# --- real Dovecot -----------------------------------------------------------------------------


def test_starttls_on_143_through_a_name_is_ok(lab: Lab) -> None:
    [found] = imap_findings(config_for(lab, f'address = "imap.{ZONE}"'))
    assert found.status is Status.OK, found.summary
    assert found.subject == f"imap.{ZONE}:143" and found.region == "primary"
    assert found.summary.startswith(f"imap.{ZONE}:143 greets * OK in ")
    assert found.summary.endswith(", STARTTLS ok")
    data = found.data
    assert data["code"] == "* OK" and "Dovecot" in data["reply"][0]
    assert data["starttls_offered"] is True and data["tls"]["chain_verified"] is True
    assert data["name_matches"] is True and data["mx"] is False
    # The capabilities kept are the ones read over TLS: STARTTLS is no longer offered there.
    assert any("IMAP4rev1" in line for line in data["capabilities"])
    assert not any("STARTTLS" in line for line in data["capabilities"])
    assert found.resolver == lab.dns.resolvers[0][0]


def test_implicit_tls_on_993_and_plain_imap_are_ok(lab: Lab) -> None:
    implicit, plain = imap_findings(
        config_for(lab, f'address = "{GOOD}:993"', f'address = "{GOOD}:143"\ntls = "none"')
    )
    assert implicit.status is Status.OK, implicit.summary
    assert implicit.summary.endswith(", TLS ok") and implicit.data["tls_mode"] == "implicit"
    assert implicit.data["name_matches"] is True  # the certificate names the address too
    assert plain.status is Status.OK, plain.summary
    assert "tls" not in plain.data and "STARTTLS" in " ".join(plain.data["capabilities"])
    assert plain.resolver is None


def test_certificate_for_another_name_or_an_unknown_ca_fails(lab: Lab, tmp_path: Path) -> None:
    [wrong] = imap_findings(config_for(lab, f'address = "{WRONG_NAME}"'))
    assert wrong.status is Status.FAIL
    assert f"certificate is for other.{ZONE}, not {WRONG_NAME}" in wrong.summary
    unknown_ca = tmp_path / "unknown-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(unknown_ca))
    [untrusted] = imap_findings(config_for(lab, f'address = "{GOOD}:993"', ca_file=unknown_ca))
    assert untrusted.status is Status.FAIL and "not trusted" in untrusted.summary
    assert untrusted.data["tls"]["chain_verified"] is False
    assert untrusted.data["certificate"]["dns_names"] == [f"imap.{ZONE}"]


def test_the_lab_user_can_log_in(lab: Lab) -> None:
    """The fixture's passwd-file user works (the canary mail checks will log in as it)."""
    lab.dovecot.deliver("canary", b"Subject: lab\r\n\r\nhello\r\n")
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    with imaplib.IMAP4(GOOD, 143, timeout=5) as client:
        client.starttls(context)
        client.login("canary", lab.dovecot.users["canary"])
        status, count = client.select("INBOX", readonly=True)
        assert status == "OK" and int(count[0] or 0) >= 1


# --- broken IMAP servers ----------------------------------------------------------------------


def probe_fake(
    lab: Lab, handler: Handler, table: str = "", timeout: float = 3.0
) -> tuple[Finding, float]:
    async def run() -> tuple[Finding, float]:
        async with FakeServers() as servers:
            port = await servers.serve(handler, FAKE)
            config = config_for(lab, f'address = "{FAKE}:{port}"\n{table}', timeout=timeout)
            started = time.monotonic()
            findings = await region_service_findings(config, config.regions[0])
            [finding] = [f for f in findings if f.check == "imap"]
            return finding, time.monotonic() - started

    return asyncio.run(run())


def test_bye_greeting_fails(lab: Lab) -> None:
    found, _ = probe_fake(lab, imap_greeter("* BYE too many connections"))
    assert found.status is Status.FAIL and found.data["code"] == "* BYE"
    assert "* BYE greeting" in found.summary and "too many connections" in found.summary


def test_starttls_not_offered_fails_for_imap(lab: Lab) -> None:
    found, _ = probe_fake(lab, imap_greeter())
    assert found.status is Status.FAIL, found.summary
    assert "STARTTLS is not offered" in found.summary
    assert found.data["starttls_offered"] is False


def test_garbage_and_silence_fail_within_bounds(lab: Lab) -> None:
    for handler in (garbage(), garbage(newline_every=100)):
        found, elapsed = probe_fake(lab, handler)
        assert found.status is Status.FAIL and "does not speak IMAP" in found.summary
        assert elapsed < 1.5 and len(json.dumps(found.data)) < 8 * 1024
    found, elapsed = probe_fake(lab, silent, timeout=1.0)
    assert found.status is Status.FAIL and found.summary.endswith("no answer within 1 s")
    assert elapsed < 1.0 + 1.0


async def endless_capability(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK ready\r\n")
    await reader.readline()
    try:
        for _ in range(10 * MAX_REPLY_LINES):
            writer.write(b"* CAPABILITY " + b"X" * 30 + b"\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


def test_an_endless_capability_reply_is_cut(lab: Lab) -> None:
    found, elapsed = probe_fake(lab, endless_capability, 'tls = "none"')
    assert found.status is Status.FAIL and found.data["error_kind"] == "protocol"
    assert found.summary.startswith(f"{FAKE}:")
    assert "greets * OK" in found.summary and "longer than" in found.summary
    assert elapsed < 1.5


def test_a_slow_greeting_warns(lab: Lab) -> None:
    found, _ = probe_fake(lab, imap_greeter(delay=0.3), 'tls = "none"\nwarn_ms = 100')
    assert found.status is Status.WARN, found.summary
    assert "slower than 100 ms" in found.summary and found.data["latency_ms"] >= 300
    assert found.data["warn_ms"] == 100
