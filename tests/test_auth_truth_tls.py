"""What the address and MTA-STS probes may claim, over real sockets on 127.0.0.1 (ports chosen
by the OS): a small DNS resolver answering from a script (A answers, AAAA gives SERVFAIL or
no reply at all), an SMTP server with STARTTLS and an HTTPS server, both with trustme
certificates.

    one family not seen      the host is at best unknown, naming the lookup and its reason
    more than MAX_ADDRESSES  an unknown row names the addresses not probed
    _mta-sts withdrawn       the policy the log saw is still cached at senders: warn, or
                             fail when it does not list the target region's MX hosts
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme

from cockpit.auth.asker import Asker
from cockpit.auth.mtasts_check import mtasts_findings
from cockpit.auth.mtasts_history import PolicySeen, policy_entry_data, policy_history
from cockpit.auth.smtp_check import smtp_tls_findings
from cockpit.auth.webmail_check import webmail_findings
from cockpit.compat import UTC
from cockpit.config import Config, Region
from cockpit.config.model import ServiceSettings
from cockpit.dns.observation import ServerSpec
from cockpit.incident.entry import Entry
from cockpit.model import Finding, Status
from cockpit.service.findings import MAX_ADDRESSES, region_service_findings
from tests.lab.config_for_tests import hand_config
from tests.lab.udp_responder import UdpResponder

ZONE = "example.test"
MX = f"mx1.{ZONE}"
SERVFAIL, DROP = "SERVFAIL", "DROP"
Script = Mapping[tuple[str, str], "tuple[str, ...] | str"]


# --- a resolver answering from a script -------------------------------------------------------


class ScriptedResolver(UdpResponder):
    """UDP on 127.0.0.1:<OS port>. (name, TYPE) -> answers, SERVFAIL or DROP (no reply);
    anything else NXDOMAIN. Answers come as a recursive resolver's (RA, not AA)."""

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0))
        self.script = script
        self.start()

    @property
    def port(self) -> int:
        return self.address[1]

    def asker(self, timeout: float = 1.0) -> Asker:
        return Asker(ServerSpec("lab", "127.0.0.1", self.port), timeout=timeout)

    def _reply(self, wire: bytes) -> bytes | None:
        request = dns.message.from_wire(wire)
        question = request.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        planned = self.script.get((name, rdtype))
        if planned == DROP:
            return None
        reply = dns.message.make_response(request)
        reply.flags |= dns.flags.RA
        if planned == SERVFAIL:
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif planned is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            soa = f"ns1.{ZONE}. admin.{ZONE}. 1 60 60 600 60"
            reply.authority.append(dns.rrset.from_text(f"{ZONE}.", 60, "IN", "SOA", soa))
        else:
            texts = [f'"{text}"' if rdtype == "TXT" else text for text in planned]
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *texts))
        return reply.to_wire()


@contextlib.contextmanager
def resolver(script: Script) -> Iterator[ScriptedResolver]:
    running = ScriptedResolver(script)
    try:
        yield running
    finally:
        running.stop()


# --- TLS servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    context: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA()
    leaf = ca.issue_cert(MX, f"webmail.{ZONE}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("truth-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca_file, context)


async def _smtp_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext
) -> None:
    writer.write(f"220 {MX} ESMTP\r\n".encode())
    secure = False
    with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        while line := await reader.readline():
            verb = line.decode("ascii", "replace").strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                offer = "" if secure else "250-STARTTLS\r\n"
                writer.write(f"250-{MX}\r\n{offer}250 8BITMIME\r\n".encode())
            elif verb == "STARTTLS":
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(context)
                secure = True
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def smtp_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    """An SMTP server with STARTTLS on 127.0.0.1:<OS port>, for this event loop."""
    server = await asyncio.start_server(
        lambda reader, writer: _smtp_session(reader, writer, context), "127.0.0.1", 0
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>login</html>"
        self.send_response(200)
        for name, value in (
            ("Strict-Transport-Security", "max-age=31536000"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Length", str(len(body))),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextlib.contextmanager
def https_server(context: ssl.SSLContext) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1:<OS port> answering every GET with a good page."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        thread.join(timeout=2)
        server.server_close()


def config(region: Region, ca_file: Path | None, **service: float) -> Config:
    other = Region(name="secondary", mx=(f"mx1.backup.{ZONE}",))
    base = hand_config(ZONE, (region, other), ca_file=ca_file)
    return replace(base, service=ServiceSettings(**service))  # type: ignore[arg-type]


# --- one family not seen ----------------------------------------------------------------------


def test_service_mx_with_aaaa_servfail_adds_an_unknown_ipv6_row(pki: Pki) -> None:
    script = {(MX, "A"): ("127.0.0.1",), (MX, "AAAA"): SERVFAIL}

    async def run(asker: Asker) -> list[Finding]:
        async with smtp_server(pki.context) as port:
            region = Region(name="primary", mx=(MX,))
            settings = config(region, pki.ca_file, mx_port=port, timeout=3.0)
            return await region_service_findings(settings, region, asker)

    with resolver(script) as dns_server:
        findings = asyncio.run(run(dns_server.asker()))
    by_subject = {finding.subject.split(" ", 1)[-1]: finding for finding in findings}
    assert set(by_subject) == {"(127.0.0.1)", "(IPv6)"}, [f.subject for f in findings]
    probed = by_subject["(127.0.0.1)"]
    assert probed.status is Status.OK, probed.summary
    unseen = by_subject["(IPv6)"]
    assert unseen.status is Status.UNKNOWN
    assert f"IPv6 addresses not known (AAAA lookup of {MX}: " in unseen.summary
    assert "SERVFAIL" in unseen.summary.upper() and "not probed" in unseen.summary
    assert unseen.data["unseen_family"] == "IPv6"


def test_service_names_the_addresses_over_the_cap(pki: Pki) -> None:
    addresses = tuple(f"127.0.0.{n}" for n in range(1, MAX_ADDRESSES + 3))
    script = {(MX, "A"): addresses, (MX, "AAAA"): ()}
    script = {key: value for key, value in script.items() if value}  # AAAA: NXDOMAIN

    async def run(asker: Asker) -> list[Finding]:
        async with smtp_server(pki.context) as port:
            region = Region(name="primary", mx=(MX,))
            settings = config(region, pki.ca_file, mx_port=port, timeout=2.0)
            return await region_service_findings(settings, region, asker)

    with resolver(script) as dns_server:
        findings = asyncio.run(run(dns_server.asker()))
    assert len(findings) == MAX_ADDRESSES + 1
    [capped] = [finding for finding in findings if "(+2 addresses)" in finding.subject]
    assert capped.status is Status.UNKNOWN
    assert "127.0.0.5, 127.0.0.6" in capped.summary and f"at most {MAX_ADDRESSES}" in capped.summary


def test_smtp_tls_host_with_aaaa_servfail_is_never_ok(pki: Pki) -> None:
    """smtp-tls talks to port 25: whatever 127.0.0.1:25 does, the IPv6 gap is named and the
    host does not read ok."""
    script = {(MX, "A"): ("127.0.0.1",), (MX, "AAAA"): SERVFAIL}
    region = Region(name="primary", mx=(MX,))
    with resolver(script) as dns_server:
        findings, _ = asyncio.run(
            smtp_tls_findings(config(region, pki.ca_file), region, dns_server.asker(), timeout=2)
        )
    [finding] = findings
    assert finding.status is not Status.OK
    assert f"IPv6 addresses not known (AAAA lookup of {MX}: " in finding.summary
    assert finding.data["addresses_incomplete"].startswith("IPv6 addresses not known")


def test_webmail_with_aaaa_unanswered_adds_an_unknown_ipv6_finding(pki: Pki) -> None:
    host = f"webmail.{ZONE}"
    script = {(host, "A"): ("127.0.0.1",), (host, "AAAA"): DROP}
    with https_server(pki.context) as port, resolver(script) as dns_server:
        region = Region(name="primary", mx=(MX,), webmail_url=f"https://{host}:{port}/")
        findings = asyncio.run(
            webmail_findings(config(region, pki.ca_file), region, dns_server.asker(0.4))
        )
    by_status = {finding.status: finding for finding in findings}
    assert len(findings) == 2 and set(by_status) == {Status.OK, Status.UNKNOWN}
    unseen = by_status[Status.UNKNOWN]
    assert unseen.subject.endswith("(IPv6)")
    assert f"IPv6 addresses not known (AAAA lookup of {host}: " in unseen.summary


# --- MTA-STS withdrawn ------------------------------------------------------------------------

NOW = datetime.now(UTC)
WEEK = 604_800


def logged(seen: PolicySeen, at: datetime) -> tuple[PolicySeen, ...]:
    """`seen` as the incident log gives it back (see mtasts_history "Policy contract")."""
    entry = Entry(7, at, "cockpit", {}, "probe", "", policy_entry_data(ZONE, seen))
    return policy_history([entry], ZONE)


def withdrawn(history: tuple[PolicySeen, ...], *, nodata: bool = False) -> Finding:
    target = Region(name="secondary", mx=(f"mx1.backup.{ZONE}",))
    script = {(f"_mta-sts.{ZONE}", "TXT"): ("v=spf1 -all",)} if nodata else {}
    with resolver(script) as dns_server:
        [finding] = asyncio.run(
            mtasts_findings(
                config(target, None),
                target,
                dns_server.asker(),
                target="secondary",
                policy_history=history,
            )
        )
    return finding


def test_withdrawn_record_with_a_cached_enforce_policy_missing_the_target_fails() -> None:
    seen = PolicySeen("20240501", "a" * 64, WEEK, None, "enforce", (f"mx1.{ZONE}",))
    history = logged(seen, NOW - timedelta(minutes=10))
    for nodata in (False, True):
        finding = withdrawn(history, nodata=nodata)
        assert finding.status is Status.FAIL, finding.summary
        summary = finding.summary
        assert "no _mta-sts record now, but policy 20240501 (mode enforce, max_age 604800 s" in (
            summary
        )
        until = (NOW - timedelta(minutes=10) + timedelta(seconds=WEEK)).strftime("%Y-%m-%d %H:%M")
        assert f"until at least {until} UTC" in summary
        assert f"does not list mx1.backup.{ZONE}" in summary
        assert finding.data["published"] is False
        assert finding.data["cached_policy"]["mode"] == "enforce"


def test_withdrawn_record_with_a_covering_or_unknown_cached_policy_warns() -> None:
    covering = PolicySeen("a2", "b" * 64, WEEK, None, "enforce", (f"*.backup.{ZONE}",))
    finding = withdrawn(logged(covering, NOW - timedelta(hours=1)))
    assert finding.status is Status.WARN and "stays cached at senders" in finding.summary
    # Logged before mode and mx were recorded: coverage cannot be told.
    old = PolicySeen("a3", "c" * 64, WEEK)
    finding = withdrawn(logged(old, NOW - timedelta(hours=1)))
    assert finding.status is Status.WARN
    assert "whether it lists mx1.backup.example.test is not known" in finding.summary


def test_withdrawn_record_after_the_cache_ran_out_or_mode_none_is_ok() -> None:
    enforce = PolicySeen("a4", "d" * 64, WEEK, None, "enforce", (f"mx1.{ZONE}",))
    finding = withdrawn(logged(enforce, NOW - timedelta(days=8)))
    assert finding.status is Status.OK and "not published" in finding.summary
    retired = PolicySeen("a5", "e" * 64, 86_400, None, "none", ())
    finding = withdrawn(logged(retired, NOW - timedelta(hours=1)))
    assert finding.status is Status.OK and "mode none: senders do not apply it" in finding.summary
