"""Canary runs against servers a real MTA would not be: a small mail world on 127.0.76.x with the
DNS lab (nsd + unbound), a real Dovecot (IMAP, implicit TLS) and SMTP servers (aiosmtpd) that
behave as the cases need: an MX whose certificate names another host, a submission port that
offers AUTH without STARTTLS, an MX name nobody answers, a dead MX and IMAP address, and hostile
servers (garbage, endless replies). Every certificate is from one trustme CA.

Every ordinary case (inbox, Junk, refused, never arrives, DKIM pass and fail, SPF fail, IMAP
down, the CLI, the live cockpit and the export) runs through real Postfix, dkimpy-milter and
Dovecot in tests/test_canary_mail_flow.py; these cover the rest, and that no password ever
reaches an output.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, formatdate
from pathlib import Path
from typing import Any

import dkim
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cockpit import compat
from cockpit.auth.asker import Asker
from cockpit.canary.findings import canary_unknown, run_canary
from cockpit.canary.sweep import MAX_LATE
from cockpit.compat import UTC
from cockpit.config import Config, load_config_text
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.dovecot import MAIL_GROUP, MAIL_UID_USER, DovecotLab, require_dovecot
from tests.lab.mail_fakes import ServerThread, garbage, tls_server_context

pytest_plugins = ["tests.lab.dnslab"]

MX_IP, MX_DEAD_IP, SUBMIT_IP, IMAP_IP, IMAP_DEAD_IP = (
    "127.0.76.1", "127.0.76.2", "127.0.76.3", "127.0.76.4", "127.0.76.9",
)  # fmt: skip
MX_OTHER_CERT_IP, HOSTILE_IP = "127.0.76.5", "127.0.76.6"
PLAIN_SUBMIT_PORT = 2587
USERS = {"canary": "Canary-Imap-Pw-7621", "outside": "Outside-Imap-Pw-7622"}
SUBMIT_USER, SUBMIT_PASSWORD = "sender", "Submit-Pw-7623-secret"
PASSWORDS = (*USERS.values(), SUBMIT_PASSWORD)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RUN_KEYS = {"canary", "direction", "region", "token", "sent_at", "arrived_at", "round_trip_s",
            "folder", "junk", "smtp", "imap", "error", "stage", "auth_results",
            "swept"}  # fmt: skip


def _dkim_record() -> str:
    der = KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return " ".join(f'"{text[i : i + 200]}"' for i in range(0, len(text), 200))


ZONES = {
    "example.test": [
        f"mx1 A {MX_IP}",
        f"mx2 A {MX_DEAD_IP}",
        f"mx4 A {MX_OTHER_CERT_IP}",
        f"mx6 A {HOSTILE_IP}",
        f"submit A {SUBMIT_IP}",
        f"imap A {IMAP_IP}",
        f"sel1._domainkey TXT {_dkim_record()}",
        f'@ TXT "v=spf1 ip4:{SUBMIT_IP} -all"',
        '_dmarc TXT "v=DMARC1; p=reject"',
    ],
    "outside.test": [
        f"imap A {IMAP_IP}",
        '@ TXT "v=spf1 ip4:127.0.0.0/8 -all"',
        '_dmarc TXT "v=DMARC1; p=none"',
    ],
}


class LabMx:
    """example.test's MX: delivers into Dovecot as an MTA would."""

    def __init__(self, dovecot: DovecotLab) -> None:
        self.dovecot = dovecot

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if address.startswith("refuse@"):
            return "550 5.1.1 <refuse@example.test>: Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with_tls = "S" if session.ssl else ""
        trace = (
            "Authentication-Results: mx1.example.test; spf=pass smtp.mailfrom="
            f"{envelope.mail_from}\r\n"
            f"Received: from {session.host_name} (unknown [{session.peer[0]}])\r\n\tby"
            f" {server.hostname} (lab MX) with ESMTP{with_tls}; {formatdate(usegmt=True)}\r\n"
        ).encode()
        for rcpt in envelope.rcpt_tos:
            if "+lost@" in rcpt:
                continue
            folder = "Junk" if "+junk@" in rcpt else "INBOX"
            deliver(self.dovecot, "canary", folder, trace + envelope.original_content)
        return "250 2.0.0 Ok: queued as LAB1"


class LabSubmission:
    """example.test's submission: signs, relays (as Received lines say) to the outside."""

    def __init__(self, dovecot: DovecotLab) -> None:
        self.dovecot = dovecot

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content
        pem = KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        signature = dkim.sign(content, b"sel1", b"example.test", pem,
                              include_headers=[b"from", b"to", b"subject", b"date"])  # fmt: skip
        now = formatdate(usegmt=True)
        trace = (
            f"Return-Path: <{envelope.mail_from}>\r\n"
            f"Received: from submit.example.test (unknown [{SUBMIT_IP}]) by mx.outside.test"
            f" (lab) with ESMTPS; {now}\r\n"
            f"Received: from {session.host_name} (unknown [{session.peer[0]}]) by"
            f" submit.example.test (lab) with ESMTPSA; {now}\r\n"
        ).encode()
        deliver(self.dovecot, "outside", "INBOX", trace + signature + content)
        return "250 2.0.0 Ok: queued as LAB2"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SUBMIT_USER.encode(),
        SUBMIT_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def deliver(dovecot: DovecotLab, user: str, folder: str, raw: bytes) -> None:
    """Into `folder` of `user` (Maildir++: ".Junk" below the Maildir), owned by the mail user."""
    if folder == "INBOX":
        dovecot.deliver(user, raw)
        return
    maildir = dovecot.maildir(user)
    box = maildir / f".{folder}"
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    name = f"{time.time():.6f}.{uuid.uuid4().hex}.lab"
    (box / "tmp" / name).write_bytes(raw)
    (box / "tmp" / name).rename(box / "new" / name)
    for path in [dovecot.mail_root / user, maildir, *maildir.rglob("*")]:
        shutil.chown(path, MAIL_UID_USER, MAIL_GROUP)


@dataclass
class World:
    dns: DnsLab
    dovecot: DovecotLab
    ca_file: Path
    config_text: str

    def config(self, canary: str) -> Config:
        return load_config_text(self.config_text + canary)

    def asker(self) -> Asker:
        name, ip, port = self.dns.resolvers[0]
        return Asker(ServerSpec(name, ip, port), timeout=1.0)

    def files_with(self, token: str) -> list[Path]:
        """Message files (Maildir new/ and cur/) holding `token`."""
        root = self.dovecot.mail_root
        files = [p for p in root.rglob("*") if p.is_file() and p.parent.name in ("new", "cur")]
        return [p for p in files if token.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def world(dns_lab_module: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_dovecot()
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("canary-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    dns = dns_lab_module({name: zone_text(name, 1, 60, rows) for name, rows in ZONES.items()},
                         resolver_count=1)  # fmt: skip
    dovecot = DovecotLab(
        IMAP_IP, cert=ca.issue_cert("imap.example.test", "imap.outside.test"), users=USERS
    )
    controllers = [
        Controller(LabMx(dovecot), hostname=MX_IP, port=25, server_hostname="mx1.example.test",
                   tls_context=tls_server_context(ca.issue_cert("mx1.example.test"))),
        Controller(LabMx(dovecot), hostname=MX_OTHER_CERT_IP, port=25,
                   server_hostname="mx4.example.test",
                   tls_context=tls_server_context(ca.issue_cert("other.example.test"))),
        Controller(LabSubmission(dovecot), hostname=SUBMIT_IP, port=587,
                   server_hostname="submit.example.test", authenticator=authenticator,
                   tls_context=tls_server_context(ca.issue_cert("submit.example.test"))),
        Controller(LabSubmission(dovecot), hostname=SUBMIT_IP, port=PLAIN_SUBMIT_PORT,
                   server_hostname="submit.example.test", authenticator=authenticator,
                   auth_require_tls=False),
    ]  # fmt: skip
    started: list[Controller] = []
    try:
        dovecot.start()
        for controller in controllers:
            controller.start()
            started.append(controller)
        _, ip, port = dns.resolvers[0]
        text = f"""
[domain]
name = "example.test"
[dns]
timeout = 1
[[dns.resolver]]
name = "lab"
address = "{ip}:{port}"
[tls]
ca_file = "{ca_file}"
[service]
helo = "cockpit.example.test"
[[region]]
name = "primary"
mx = ["mx1.example.test"]
sending_ips = ["{SUBMIT_IP}"]
helo = "submit.example.test"
dkim_selectors = ["sel1"]
[[region]]
name = "secondary"
mx = ["mx2.example.test"]
[[region]]
name = "third"
mx = ["mx4.example.test"]
[[region]]
name = "hostile"
mx = ["mx6.example.test"]
[[region]]
name = "unserved"
mx = ["mx.unserved.example"]
"""
        yield World(dns, dovecot, ca_file, text)
    finally:
        for controller in started:
            controller.stop()
        dovecot.stop()


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_TEST_IMAP_PW", USERS["canary"])
    monkeypatch.setenv("CANARY_TEST_OUTSIDE_PW", USERS["outside"])
    monkeypatch.setenv("CANARY_TEST_SUBMIT_PW", SUBMIT_PASSWORD)


def inbound(to: str = "canary@example.test", **extra: object) -> str:
    lines = {
        "name": '"eu-in"',
        "direction": '"inbound"',
        "region": '"primary"',
        "from": '"probe@outside.test"',
        "to": f'"{to}"',
        "imap": '"imap.example.test"',
        "imap_user": '"canary"',
        "imap_password_env": '"CANARY_TEST_IMAP_PW"',
        "timeout": "10",
        "trusted_authserv_ids": '["mx1.example.test"]',
    }
    lines.update({key: str(value) for key, value in extra.items()})
    return "\n[[canary]]\n" + "".join(f"{key} = {value}\n" for key, value in lines.items())


def outbound(**extra: object) -> str:
    lines = {
        "name": '"eu-out"',
        "direction": '"outbound"',
        "region": '"primary"',
        "from": '"sender@example.test"',
        "to": '"outside@outside.test"',
        "imap": '"imap.outside.test"',
        "imap_user": '"outside"',
        "imap_password_env": '"CANARY_TEST_OUTSIDE_PW"',
        "submission": '"submit.example.test"',
        "submission_user": f'"{SUBMIT_USER}"',
        "submission_password_env": '"CANARY_TEST_SUBMIT_PW"',
        "timeout": "10",
    }
    lines.update({key: str(value) for key, value in extra.items()})
    return "\n[[canary]]\n" + "".join(f"{key} = {value}\n" for key, value in lines.items())


SHOWN: list[str] = []
"""Every finding of this module as JSON: checked for passwords at the end."""


def run(world: World, canary_text: str, target: str = "primary") -> list[Finding]:
    config = world.config(canary_text)
    findings = asyncio.run(run_canary(config, config.canaries[0], target, world.asker()))
    SHOWN.extend(json.dumps(f.to_json()) + f.summary + repr(f) for f in findings)
    return findings


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check: finding for finding in findings}


def test_no_mx_of_the_region_accepts(world: World, passwords: None) -> None:
    (run_finding,) = run(world, inbound(region='"secondary"'))
    assert run_finding.status is Status.FAIL
    assert run_finding.region == "secondary"
    assert "no MX of region secondary accepted" in run_finding.summary
    assert f"mx2.example.test [{MX_DEAD_IP}]:25" in run_finding.summary


def test_imap_down_is_unknown_and_nothing_is_sent(world: World, passwords: None) -> None:
    (run_finding,) = run(world, inbound(imap=f'"{IMAP_DEAD_IP}"'))
    assert run_finding.status is Status.UNKNOWN
    assert run_finding.summary == f"imap {IMAP_DEAD_IP}:993: connection refused"
    assert run_finding.data["sent_at"] is None and run_finding.data["stage"] == "find"


def test_outbound_never_logs_in_without_tls(world: World, passwords: None) -> None:
    (run_finding,) = run(world, outbound(submission=f'"submit.example.test:{PLAIN_SUBMIT_PORT}"'))
    assert run_finding.status is Status.FAIL
    assert "STARTTLS is not offered: the password was not sent" in run_finding.summary


def test_a_canary_that_could_not_run_has_every_run_key() -> None:
    """The screen's fallback (the worker failed): unknown, with the same keys as a real run."""
    config = load_config_text(
        '[domain]\nname = "example.test"\n[[dns.resolver]]\nname = "lab"\naddress = "127.0.0.1"\n'
        '[[region]]\nname = "primary"\nmx = ["mx1.example.test"]\n'
        '[[region]]\nname = "secondary"\nmx = ["mx2.example.test"]\n' + inbound()
    )
    at = datetime.now(UTC)
    unknown = canary_unknown(config, config.canaries[0], "primary", "boom", at)
    assert unknown.status is Status.UNKNOWN and set(unknown.data) == RUN_KEYS
    assert unknown.summary == "boom" and unknown.observed_at == at


def test_an_untrusted_mx_certificate_still_carries_the_message(
    world: World, passwords: None
) -> None:
    findings = run(world, inbound(region='"third"'))
    run_finding = findings[0]
    assert run_finding.status is Status.OK, run_finding.summary
    assert run_finding.data["smtp"]["tls"] is True
    assert run_finding.data["smtp"]["tls_verified"] is False
    assert "TLS not verified" in run_finding.summary


def test_an_mx_name_the_resolver_cannot_answer_is_unknown(world: World, passwords: None) -> None:
    (run_finding,) = run(world, inbound(region='"unserved"'))
    assert run_finding.status is Status.UNKNOWN
    assert "could not look up mx.unserved.example" in run_finding.summary


def _endless(line: bytes) -> Any:
    """A server whose reply never ends: `line` again and again (bounded to 30 s)."""

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            async with compat.timeout(30):
                while True:
                    writer.write(line * 512)
                    await writer.drain()
        writer.close()

    return handle


@pytest.mark.parametrize("handler", ["garbage", "endless"])
def test_a_hostile_mx_costs_a_bounded_time(world: World, passwords: None, handler: str) -> None:
    with ServerThread() as servers:
        port = servers.serve(
            garbage(newline_every=100) if handler == "garbage" else _endless(b"220-hello\r\n"),
            HOSTILE_IP,
        )
        started = time.monotonic()
        (run_finding,) = run(world, inbound(region='"hostile"', mx_port=port))
    assert run_finding.status is Status.FAIL
    assert "no MX of region hostile accepted" in run_finding.summary
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("handler", ["garbage", "endless"])
def test_a_hostile_imap_server_is_unknown_in_bounded_time(
    world: World, passwords: None, handler: str
) -> None:
    with ServerThread() as servers:
        port = servers.serve(
            garbage(newline_every=100) if handler == "garbage" else _endless(b"* OK here\r\n"),
            "127.0.76.7",
        )
        started = time.monotonic()
        (run_finding,) = run(world, inbound(imap=f'"127.0.76.7:{port}"', imap_tls='"none"'))
    assert run_finding.status is Status.UNKNOWN
    assert run_finding.summary.startswith(f"imap 127.0.76.7:{port}: ")
    assert time.monotonic() - started < 15


def plant(
    world: World, folder: str, token: str, *, sent: datetime | None, arrived: datetime
) -> None:
    """An earlier canary message in `folder`, stored by the real Dovecot with INTERNALDATE
    `arrived` (IMAP APPEND), as a late delivery or a run that did not delete would leave it."""
    date = f"Date: {format_datetime(sent)}\r\n" if sent is not None else ""
    raw = (
        f"{date}From: probe@outside.test\r\nTo: canary@example.test\r\n"
        f"Subject: cockpit canary {token}\r\nX-Cockpit-Canary: {token}\r\n\r\nearlier\r\n"
    ).encode()
    with imaplib.IMAP4(IMAP_IP, world.dovecot.imap_port, timeout=10) as imap:
        imap.login("canary", USERS["canary"])
        if folder != "INBOX":
            imap.create(folder)  # NO when it exists already
        typ, _ = imap.append(folder, None, imaplib.Time2Internaldate(arrived), raw)
        assert typ == "OK"
        imap.logout()


def _token(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:20]}"


def test_a_run_sweeps_earlier_messages_and_reports_the_late_ones(
    world: World, passwords: None
) -> None:
    now = datetime.now(UTC)
    minutes = timedelta(minutes=1)
    late_inbox, late_junk, leftover, recent, undated = (_token("sweep-in") for _ in range(5))
    other = _token("sweep-in-x")  # another canary, whose name starts like this one's
    plant(world, "INBOX", late_inbox, sent=now - 10 * minutes, arrived=now - 4 * minutes)
    plant(world, "Junk", late_junk, sent=now - 20 * minutes, arrived=now - 19 * minutes)
    plant(world, "INBOX", leftover, sent=now - 10 * minutes, arrived=now - 10 * minutes)
    plant(world, "INBOX", recent, sent=now - timedelta(seconds=5), arrived=now)
    plant(world, "INBOX", undated, sent=None, arrived=now - 30 * minutes)
    plant(world, "INBOX", other, sent=now - 30 * minutes, arrived=now - 20 * minutes)

    findings = run(world, inbound(name='"sweep-in"'))

    run_finding = findings[0]
    assert run_finding.check == "inbound" and run_finding.status is Status.OK
    assert run_finding.data["swept"] == {"late": 2, "leftovers": 1, "kept": 2, "error": None}
    assert run_finding.summary.endswith(
        "2 earlier messages arrived after their runs gave up (up to 6 min after sending)"
    )
    late = {f.subject: f for f in findings if f.check == "late"}
    assert set(late) == {late_inbox, late_junk}
    inbox = late[late_inbox]
    assert inbox.status is Status.WARN and inbox.region is None
    assert inbox.data["late_s"] == 360.0 and inbox.data["deleted"] is True
    assert inbox.data["folder"] == "INBOX" and late[late_junk].data["folder"] == "Junk"
    assert inbox.data["sent_at"] == (now - 10 * minutes).replace(microsecond=0).isoformat()
    sent, arrived = (now - 10 * minutes, now - 4 * minutes)
    assert inbox.summary == (
        f"a message of canary sweep-in sent {sent:%H:%M:%S} (its Date) reached the server"
        f" {arrived:%H:%M:%S} UTC (its INTERNALDATE): 6 min after sending, after its run gave"
        " up at 10 s; found in INBOX, deleted"
    )
    for gone in (late_inbox, late_junk, leftover, run_finding.data["token"]):
        assert world.files_with(gone) == [], gone
    for kept in (recent, undated, other):
        assert len(world.files_with(kept)) == 1, kept
        world.files_with(kept)[0].unlink()


def test_a_flood_of_late_messages_is_reported_a_bounded_number_at_a_time(
    world: World, passwords: None
) -> None:
    now = datetime.now(UTC)
    tokens = [_token("flood-in") for _ in range(MAX_LATE + 2)]
    for minute, token in enumerate(tokens):
        sent = now - timedelta(minutes=60 - minute)
        plant(world, "INBOX", token, sent=sent, arrived=sent + timedelta(minutes=20))
    first = run(world, inbound(name='"flood-in"'))
    second = run(world, inbound(name='"flood-in"'))
    reported = [[f.subject for f in findings if f.check == "late"] for findings in (first, second)]
    assert len(reported[0]) == MAX_LATE and len(reported[1]) == 2
    assert sorted(reported[0] + reported[1]) == sorted(tokens)  # each once
    assert first[0].data["swept"] == {"late": MAX_LATE, "leftovers": 0, "kept": 2, "error": None}
    assert all(world.files_with(token) == [] for token in tokens)


def test_a_canary_that_keeps_its_messages_sweeps_nothing(world: World, passwords: None) -> None:
    now = datetime.now(UTC)
    token = _token("keep-in")
    plant(world, "INBOX", token, sent=now - timedelta(minutes=10), arrived=now)
    findings = run(world, inbound(name='"keep-in"', delete="false"))
    assert [f.check for f in findings] == ["inbound", "dkim", "spf", "dmarc", "path"]
    assert findings[0].status is Status.OK and findings[0].data["swept"] is None
    assert len(world.files_with(token)) == 1
    for path in world.files_with(token) + world.files_with(findings[0].data["token"]):
        path.unlink()


def _cockpit(
    world: World, tmp_path: Path, canary_text: str, *args: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cockpit.toml"
    config.write_text(world.config_text + canary_text + f'\n[incident]\ndir = "{tmp_path}"\n')
    return subprocess.run(
        [sys.executable, "-m", "cockpit", "check", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CI": os.environ.get("CI", "")},
    )


def test_check_only_canary_without_canaries(world: World, tmp_path: Path) -> None:
    done = _cockpit(world, tmp_path, "", "--only", "canary")
    assert done.returncode == 3
    assert "no [[canary]] is configured" in done.stderr


def test_no_password_in_any_output() -> None:
    """Runs last in this module: every finding, summary, repr and CLI output it produced."""
    assert SHOWN
    text = "\n".join(SHOWN)
    for password in (*PASSWORDS, "Wrong-Submit-Pw-1"):
        encoded = base64.b64encode(password.encode()).decode()
        assert password not in text.replace(f"{password} must not appear", "")
        assert encoded not in text
