"""smtp-tls against a real Postfix on 127.0.25.x:25, found through a real DNS lab.

One Postfix instance serves five listeners (good, wrong-name, expired and near-expiry
certificates, and no STARTTLS); tiny asyncio servers play the hostile and silent ones that
Postfix cannot be made to be. Nothing listens on 127.0.25.9 (connection refused).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import trustme

from cockpit.auth.asker import Asker
from cockpit.auth.smtp_check import smtp_tls_findings
from cockpit.auth.smtp_probe import MAX_REPLY_LINES, SmtpResult, probe_smtp
from cockpit.compat import UTC
from cockpit.config import Config, Region
from cockpit.config.model import TlsSettings
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab import guard_loopback
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.postfix import Listener, PostfixFactory

pytest_plugins = ["tests.lab.dnslab", "tests.lab.postfix_lab"]

ZONE = "example.test"
HOSTS = {
    "mx1": "127.0.25.1",  # good certificate
    "mx2": "127.0.25.2",  # certificate for another name
    "mx3": "127.0.25.3",  # expired
    "mx4": "127.0.25.4",  # expires in 10 days
    "mx5": "127.0.25.5",  # no STARTTLS
    "refused": "127.0.25.9",  # nothing listens
    "hostile": "127.0.25.7",  # asyncio fakes
    "silent": "127.0.25.8",
}


@dataclass
class Lab:
    dns: DnsLab
    ca_file: Path

    def asker(self) -> Asker:
        name, ip, port = self.dns.resolvers[0]
        return Asker(ServerSpec(name, ip, port), timeout=1.0)


def pem_pair(ca: trustme.CA, *names: str, **dates: datetime) -> Listener:
    leaf = ca.issue_cert(*names, **dates)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return Listener(cert_pem=chain, key_pem=leaf.private_key_pem.bytes())


@pytest.fixture(scope="module")
def lab(
    dns_lab_module: LabFactory,
    postfix_lab_module: PostfixFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    ca = trustme.CA()
    now = datetime.now(UTC)
    postfix_lab_module(
        {
            HOSTS["mx1"]: pem_pair(ca, "mx1.example.test", "twice.example.test"),
            HOSTS["mx2"]: pem_pair(ca, "other.example.test"),
            HOSTS["mx3"]: pem_pair(
                ca,
                "mx3.example.test",
                not_before=now - timedelta(days=60),
                not_after=now - timedelta(days=1),
            ),
            HOSTS["mx4"]: pem_pair(ca, "mx4.example.test", not_after=now + timedelta(days=10)),
            HOSTS["mx5"]: Listener(),
        }
    )
    records = [f"{name} A {ip}" for name, ip in HOSTS.items()]
    records.append("twice A 127.0.25.1")
    records.append("twice A 127.0.25.9")
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=1)
    ca_file = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield Lab(dns, ca_file)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket this process connects or sends to must be in 127.0.0.0/8."""
    guard_loopback(monkeypatch)


def config_for(lab: Lab, *hosts: str) -> tuple[Config, Region]:
    region = Region(
        name="primary", mx=tuple(f"{host}.{ZONE}" for host in hosts), helo="probe.example.test"
    )
    config = hand_config(
        ZONE, (region, Region(name="secondary", mx=(f"mx2.{ZONE}",))), ca_file=lab.ca_file
    )
    return config, region


async def _check(lab: Lab, hosts: tuple[str, ...], timeout: float) -> list[Finding]:
    config, region = config_for(lab, *hosts)
    findings, results = await smtp_tls_findings(config, region, lab.asker(), timeout=timeout)
    assert set(results) == {f"{host}.{ZONE}" for host in hosts}
    return findings


def check(lab: Lab, *hosts: str, timeout: float = 5.0) -> dict[str, Finding]:
    findings = asyncio.run(_check(lab, hosts, timeout))
    assert all(
        f.area == "auth" and f.check == "smtp-tls" and f.region == "primary" for f in findings
    )
    return {f.subject.split(".")[0]: f for f in findings}


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def check_with_fake(
    lab: Lab, host: str, handler: Handler, timeout: float = 5.0
) -> tuple[Finding, float]:
    async def run() -> tuple[Finding, float]:
        server = await asyncio.start_server(handler, HOSTS[host], 25)
        try:
            started = time.monotonic()
            [finding] = await _check(lab, (host,), timeout)
            return finding, time.monotonic() - started
        finally:
            server.close()

    return asyncio.run(run())


# --- Postfix ----------------------------------------------------------------------------------


def test_good_certificate_is_ok_with_days_left(lab: Lab) -> None:
    found = check(lab, "mx1")["mx1"]
    assert found.status is Status.OK, found.summary
    [evidence] = found.data["addresses"]
    assert evidence["address"] == HOSTS["mx1"] and evidence["starttls_offered"] is True
    assert evidence["chain_verified"] is True and evidence["name_matches"] is True
    assert evidence["banner"][0].startswith("220 ")
    assert evidence["days_left"] > 14 and "days" in found.summary
    assert evidence["certificate"]["dns_names"] == ["mx1.example.test", "twice.example.test"]


def test_bad_certificates_fail_and_near_expiry_warns(lab: Lab) -> None:
    found = check(lab, "mx2", "mx3", "mx4")
    assert found["mx2"].status is Status.FAIL
    assert "other.example.test" in found["mx2"].summary
    assert found["mx2"].data["addresses"][0]["name_matches"] is False
    assert found["mx3"].status is Status.FAIL and "expired" in found["mx3"].summary
    assert found["mx3"].data["addresses"][0]["chain_verified"] is False
    assert found["mx4"].status is Status.WARN, found["mx4"].summary
    assert 9 <= found["mx4"].data["addresses"][0]["days_left"] <= 10


def test_untrusted_chain_fails_with_facts(lab: Lab) -> None:
    unknown_ca = lab.ca_file.parent / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(unknown_ca))
    result = asyncio.run(
        probe_smtp(f"mx1.{ZONE}", HOSTS["mx1"], helo="t.example.test", ca_file=unknown_ca)
    )
    assert result.verified is False and result.verify_error
    assert result.chain_der and result.error_kind is None


def test_no_starttls_fails(lab: Lab) -> None:
    found = check(lab, "mx5")["mx5"]
    assert found.status is Status.FAIL and "STARTTLS" in found.summary
    assert found.data["addresses"][0]["starttls_offered"] is False


def test_refused_and_one_bad_address_fail(lab: Lab) -> None:
    found = check(lab, "refused", "twice")
    assert found["refused"].status is Status.FAIL
    assert "not reachable" in found["refused"].summary
    assert found["twice"].status is Status.FAIL and HOSTS["refused"] in found["twice"].summary
    assert [a["address"] for a in found["twice"].data["addresses"]] == [
        HOSTS["mx1"],
        HOSTS["refused"],
    ]


def test_dns_trouble_is_unknown_and_no_address_fails(lab: Lab) -> None:
    config, _ = config_for(lab, "mx1")
    region = Region(name="primary", mx=("nothere.example.test", "mx.elsewhere.example"))
    findings, results = asyncio.run(smtp_tls_findings(config, region, lab.asker(), timeout=2))
    by_host = {f.subject: f for f in findings}
    assert by_host["nothere.example.test"].status is Status.FAIL
    assert by_host["mx.elsewhere.example"].status is Status.UNKNOWN
    assert results == {"nothere.example.test": (), "mx.elsewhere.example": ()}


# --- hostile and silent servers ---------------------------------------------------------------


HOSTILE = "\x1b[31mevil\x1b[0m [bold]loud[/bold] [@click=quit]"


async def hostile_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(f"220 {HOSTILE}\r\n".encode())
    while line := await reader.readline():
        if line.upper().startswith(b"EHLO"):
            writer.write(f"250-{HOSTILE}\r\n250 8BITMIME\r\n".encode())
        elif line.upper().startswith(b"QUIT"):
            writer.write(b"221 bye\r\n")
            break
    writer.close()


def test_hostile_banner_is_kept_as_data(lab: Lab) -> None:
    found, _elapsed = check_with_fake(lab, "hostile", hostile_banner)
    assert found.status is Status.FAIL and "STARTTLS" in found.summary
    assert "\x1b" not in found.summary and "[bold]" not in found.summary
    evidence = found.data["addresses"][0]
    assert evidence["banner"] == [f"220 {HOSTILE}"]


async def endless_banner(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        for _ in range(10 * MAX_REPLY_LINES):
            writer.write(b"220-" + b"A" * 60 + b"\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


def test_endless_banner_is_cut(lab: Lab) -> None:
    found, elapsed = check_with_fake(lab, "hostile", endless_banner)
    assert found.status is Status.FAIL and elapsed < 3
    evidence = found.data["addresses"][0]
    assert evidence["error_kind"] == "protocol"


async def refusing_banner(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"554 5.3.2 go away\r\n")
    await writer.drain()
    writer.close()


def test_refusing_banner_fails_with_its_code(lab: Lab) -> None:
    found, _elapsed = check_with_fake(lab, "hostile", refusing_banner)
    assert found.status is Status.FAIL and "554" in found.summary


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


def test_silent_server_is_bounded_by_the_timeout(lab: Lab) -> None:
    found, elapsed = check_with_fake(lab, "silent", silent, timeout=1.0)
    assert found.status is Status.FAIL and elapsed < 2.5
    assert found.data["addresses"][0]["error_kind"] == "timeout"


def test_probe_result_evidence_is_plain_data() -> None:
    result = SmtpResult(host="mx.example.test", address="127.0.0.1", banner=("220 hi",))
    assert result.evidence() == {"address": "127.0.0.1", "port": 25, "banner": ["220 hi"]}


async def silent_after_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 slow.example.test ESMTP\r\n")
    await reader.read()
    writer.close()


def test_server_silent_after_the_banner_keeps_the_banner(lab: Lab) -> None:
    found, elapsed = check_with_fake(lab, "silent", silent_after_banner, timeout=1.0)
    assert found.status is Status.FAIL and "stopped answering" in found.summary and elapsed < 2.5
    assert found.data["addresses"][0]["banner"] == ["220 slow.example.test ESMTP"]


async def helo_recorder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 rec.example.test\r\n")
    line = await reader.readline()
    writer.write(b"250 " + line.strip()[:60] + b"\r\n")
    await reader.read()
    writer.close()


def test_a_helo_name_with_a_line_break_is_never_sent() -> None:
    async def run() -> SmtpResult:
        server = await asyncio.start_server(helo_recorder, HOSTS["hostile"], 25)
        try:
            return await probe_smtp(
                "mx.example.test", HOSTS["hostile"], helo="a\r\nRSET", ca_file=None, timeout=2
            )
        finally:
            server.close()

    result = asyncio.run(run())
    assert result.ehlo == ("250 EHLO cockpit.invalid",)
    assert result.error_kind == "no-starttls"


def test_unreadable_ca_file_is_unknown(lab: Lab) -> None:
    config, region = config_for(lab, "mx1")
    broken = Config(
        source=None,
        incident=config.incident,
        domain=config.domain,
        regions=config.regions,
        dns=config.dns,
        tls=TlsSettings(ca_file=lab.ca_file.parent / "missing.pem"),
    )
    findings, _results = asyncio.run(smtp_tls_findings(broken, region, lab.asker(), timeout=2))
    assert findings[0].status is Status.UNKNOWN and "ca_file" in findings[0].summary


def test_the_shared_trust_context_keeps_checking_hostnames(tmp_path: Path) -> None:
    """The context is cached and shared: the SMTP check's relaxed copy never leaks into HTTPS."""
    from cockpit.auth.tlsinfo import trust_context

    smtp = trust_context(None, check_hostname=False)
    https = trust_context(None)
    assert https.check_hostname and not smtp.check_hostname
    assert trust_context(None) is https  # kept, not rebuilt every check
    ca = tmp_path / "ca.pem"
    ca.write_text(trustme.CA().cert_pem.bytes().decode())
    first = trust_context(ca)
    assert trust_context(ca) is first
    ca.write_text(trustme.CA().cert_pem.bytes().decode() + "\n")  # edited: made again
    assert trust_context(ca) is not first
