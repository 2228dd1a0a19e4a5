"""The mail-flow lab itself (tests/lab/mail_flow.py), driven only by smtplib, imaplib, dkimpy
and dnspython: if these pass, a canary test failing means the canary, not the world.

Each test names what it proves in its docstring. All of them share one world (module scope).
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import dkim
import dns.resolver
import pytest

from tests.lab.mail_flow import MailFlow

pytest_plugins = ["tests.lab.mail_flow_fixture"]

TOKEN_HEADER = "X-Lab-Token"


def _token() -> str:
    return f"lab-{uuid.uuid4().hex}"


def _message(sender: str, recipient: str, token: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"lab check {token}"
    message[TOKEN_HEADER] = token
    message.set_content(f"mail-flow lab check {token}\n")
    return message


def _tls(flow: MailFlow) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(flow.ca_file))


def _send_inbound(flow: MailFlow, recipient: str, token: str) -> None:
    """As a remote sender would: EHLO, STARTTLS (verified against the lab CA), send."""
    with smtplib.SMTP(*flow.mx_primary, timeout=5) as smtp:
        smtp.ehlo("canary.outside.test")
        assert smtp.has_extn("starttls")
        smtp.starttls(context=_tls(flow))
        smtp.ehlo("canary.outside.test")
        smtp.send_message(_message(flow.outside_sender_address, recipient, token))


def _submit(flow: MailFlow, address: tuple[str, int], token: str) -> None:
    with smtplib.SMTP(*address, timeout=5) as smtp:
        smtp.starttls(context=_tls(flow))
        smtp.login("sender", flow.users["sender"])
        smtp.send_message(_message(flow.sender_address, flow.outside_address, token))


def _imap_search(flow: MailFlow, user: str, folder: str, token: str) -> list[bytes]:
    """Log in over STARTTLS on 143 (certificate checked), SEARCH the token header."""
    with imaplib.IMAP4(*flow.imap, timeout=5) as imap:
        imap.starttls(ssl_context=_tls(flow))
        imap.login(user, flow.users[user])
        status, _ = imap.select(folder, readonly=True)
        assert status == "OK", f"SELECT {folder} failed"
        status, found = imap.search(None, "HEADER", TOKEN_HEADER, token)
        assert status == "OK"
        return found[0].split()


def _lab_dnsfunc(flow: MailFlow) -> Callable[..., bytes | None]:
    """dkimpy's TXT lookup, asked of the lab's own resolver (never the system's)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [flow.resolver[0]]
    resolver.port = flow.resolver[1]

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)

    return get_txt


def _txt(flow: MailFlow, name: str) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [flow.resolver[0]]
    resolver.port = flow.resolver[1]
    try:
        answer = resolver.resolve(name, "TXT", lifetime=2)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(record.strings).decode() for record in answer]


def test_starts_within_a_few_seconds(mail_flow: MailFlow) -> None:
    """The whole world (nsd, unbound, three Postfix, Dovecot, dkimpy-milter) starts fast."""
    assert mail_flow.startup_seconds < 10, mail_flow.startup_seconds


def test_inbound_mail_lands_in_inbox_and_imap_finds_it(mail_flow: MailFlow) -> None:
    """The primary MX (127.0.71.1:25, STARTTLS) delivers to canary's INBOX, which IMAP over
    STARTTLS (checked against the lab CA) finds by header; the sender appears as 127.0.0.1."""
    token = _token()
    _send_inbound(mail_flow, mail_flow.inbox_address, token)
    raw = mail_flow.wait_for_message("canary", "INBOX", token, within=10)
    received = BytesParser(policy=default_policy).parsebytes(raw)["Received"]
    assert "[127.0.0.1]" in received and "by mx1.example.test" in received
    assert len(_imap_search(mail_flow, "canary", "INBOX", token)) == 1


def test_junk_address_lands_in_junk_which_imap_lists(mail_flow: MailFlow) -> None:
    """canary+junk@ ends in the same user's Junk folder (LIST shows it, special-use \\Junk),
    not in INBOX."""
    token = _token()
    _send_inbound(mail_flow, mail_flow.junk_address, token)
    mail_flow.wait_for_message("canary", "Junk", token, within=10)
    with imaplib.IMAP4_SSL(*mail_flow.imaps, ssl_context=_tls(mail_flow), timeout=5) as imap:
        imap.login("canary", mail_flow.users["canary"])
        status, listing = imap.list()
    assert status == "OK"
    junk = [line for line in listing if isinstance(line, bytes) and line.endswith(b"Junk")]
    assert junk and b"\\Junk" in junk[0], listing
    assert len(_imap_search(mail_flow, "canary", "Junk", token)) == 1
    assert _imap_search(mail_flow, "canary", "INBOX", token) == []


def test_a_hostile_1mb_header_reaches_the_mailbox_byte_for_byte(mail_flow: MailFlow) -> None:
    """Escape sequences, markup and a 1 MB one-line header pass the MX unchanged (Postfix's
    header_size_limit is raised for this), so canary tests can show them literally."""
    token = _token()
    hostile = b"\x1b[31mred\x1b[0m [bold]markup[/bold] <script>x</script>"
    big = b"A" * 1_000_000
    raw = (
        f"From: {mail_flow.outside_sender_address}\r\nTo: {mail_flow.inbox_address}\r\n"
        f"Subject: lab check {token}\r\n{TOKEN_HEADER}: {token}\r\n".encode()
        + b"X-Hostile: "
        + hostile
        + b"\r\nX-Big: "
        + big
        + b"\r\n\r\nbody\r\n"
    )
    with smtplib.SMTP(*mail_flow.mx_primary, timeout=10) as smtp:
        smtp.starttls(context=_tls(mail_flow))
        smtp.sendmail(mail_flow.outside_sender_address, [mail_flow.inbox_address], raw)
    delivered = mail_flow.wait_for_message("canary", "INBOX", token, within=10)
    assert b"\nX-Hostile: " + hostile + b"\n" in delivered
    assert b"\nX-Big: " + big + b"\n" in delivered


def test_secondary_mx_refuses_with_5xx(mail_flow: MailFlow) -> None:
    """127.0.71.3:25 greets as mx3.example.test, then refuses the recipient with 554."""
    with smtplib.SMTP(*mail_flow.mx_refusing, timeout=5) as smtp:
        code, banner = smtp.ehlo("canary.outside.test")
        assert code == 250 and banner.startswith(b"mx3.example.test")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(
                _message(mail_flow.outside_sender_address, mail_flow.inbox_address, _token())
            )
    code, _ = refused.value.recipients[mail_flow.inbox_address]
    assert 500 <= code < 600


def test_lost_address_is_accepted_but_never_delivered(mail_flow: MailFlow) -> None:
    """canary+lost@ is accepted with 250, then discarded: no mailbox ever holds it."""
    token = _token()
    message = _message(mail_flow.outside_sender_address, mail_flow.lost_address, token)
    with smtplib.SMTP(*mail_flow.mx_primary, timeout=5) as smtp:
        smtp.starttls(context=_tls(mail_flow))
        smtp.mail(mail_flow.outside_sender_address)
        assert smtp.rcpt(mail_flow.lost_address)[0] == 250
        code, reply = smtp.data(message.as_bytes())
    assert code == 250
    queue_id = reply.decode().rsplit(" ", 1)[-1]  # "2.0.0 Ok: queued as 4F1A2218A06"
    discarded = f"{queue_id}: to=<{mail_flow.lost_address}>"
    deadline = time.monotonic() + 10
    while not any(
        discarded in line and f"status=sent ({mail_flow.lost_reason})" in line
        for line in mail_flow.mx.log_tail(200).splitlines()
    ):
        assert time.monotonic() < deadline, mail_flow.log_tails()
        time.sleep(0.05)
    for folder in ("INBOX", "Junk"):
        assert mail_flow.find_message("canary", folder, token) is None


def test_submission_signs_and_relays_to_the_outside_mailbox(mail_flow: MailFlow) -> None:
    """Submission on 127.0.72.1:587 (STARTTLS, AUTH) signs with dkimpy-milter and relays from
    127.0.72.1: the outside mailbox (read over IMAPS) holds a d=example.test s=cp1 signature
    that dkimpy verifies against the lab's DNS."""
    token = _token()
    _submit(mail_flow, mail_flow.submission, token)
    raw = mail_flow.wait_for_message("outside", "INBOX", token, within=10)
    with imaplib.IMAP4_SSL(*mail_flow.imaps, ssl_context=_tls(mail_flow), timeout=5) as imap:
        imap.login("outside", mail_flow.users["outside"])
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "HEADER", TOKEN_HEADER, token)
        assert len(found[0].split()) == 1
    message = BytesParser(policy=default_policy).parsebytes(raw)
    signature = str(message["DKIM-Signature"])
    assert "d=example.test" in signature and "s=cp1" in signature
    assert dkim.verify(raw, dnsfunc=_lab_dnsfunc(mail_flow))
    first_hop = str(message.get_all("Received")[0])
    assert "from submit.example.test (unknown [127.0.72.1])" in first_hop
    assert "by mx.outside.test" in first_hop


def test_submission_demands_tls_then_auth(mail_flow: MailFlow) -> None:
    """No AUTH before STARTTLS; after STARTTLS without AUTH the recipient is refused; a wrong
    password is refused (535)."""
    with smtplib.SMTP(*mail_flow.submission, timeout=5) as smtp:
        smtp.ehlo("client.example.test")
        assert not smtp.has_extn("auth")
        assert smtp.mail(mail_flow.sender_address)[0] >= 500  # encrypt: STARTTLS first
    with smtplib.SMTP(*mail_flow.submission, timeout=5) as smtp:
        smtp.starttls(context=_tls(mail_flow))
        smtp.ehlo("client.example.test")
        assert smtp.has_extn("auth")
        smtp.mail(mail_flow.sender_address)
        assert smtp.rcpt(mail_flow.outside_address)[0] >= 500
        smtp.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login("sender", "not-the-password")
        assert refused.value.smtp_code == 535


def test_a_changed_key_in_dns_breaks_the_signature_at_once(mail_flow: MailFlow) -> None:
    """publish_mismatched_dkim_key() is served at once (no stale cache): the same message
    fails; restore_dns() brings the pass back; set_spf() is served at once too."""
    token = _token()
    _submit(mail_flow, mail_flow.submission, token)
    raw = mail_flow.wait_for_message("outside", "INBOX", token, within=10)
    assert dkim.verify(raw, dnsfunc=_lab_dnsfunc(mail_flow))
    mail_flow.publish_mismatched_dkim_key()
    assert not dkim.verify(raw, dnsfunc=_lab_dnsfunc(mail_flow))
    mail_flow.set_spf("v=spf1 -all")
    assert _txt(mail_flow, "example.test") == ["v=spf1 -all"]
    mail_flow.restore_dns()
    assert dkim.verify(raw, dnsfunc=_lab_dnsfunc(mail_flow))
    assert _txt(mail_flow, "example.test") == ["v=spf1 ip4:127.0.72.1 -all"]


def test_unlisted_relay_sends_from_an_address_spf_does_not_name(mail_flow: MailFlow) -> None:
    """127.0.72.9:587 is the same signing service, but its mail leaves from 127.0.72.9."""
    token = _token()
    _submit(mail_flow, mail_flow.submission_unlisted, token)
    raw = mail_flow.wait_for_message("outside", "INBOX", token, within=10)
    message = BytesParser(policy=default_policy).parsebytes(raw)
    assert "(unknown [127.0.72.9])" in str(message.get_all("Received")[0])
    assert dkim.verify(raw, dnsfunc=_lab_dnsfunc(mail_flow))
    assert "127.0.72.9" not in " ".join(_txt(mail_flow, "example.test"))


def test_imap_down_refuses_then_comes_back_with_the_same_mail(mail_flow: MailFlow) -> None:
    """stop_imap() refuses connections on 143 at once; start_imap() brings the same
    mailboxes back. The dead address refuses too."""
    token = _token()
    _send_inbound(mail_flow, mail_flow.inbox_address, token)
    mail_flow.wait_for_message("canary", "INBOX", token, within=10)
    with mail_flow.imap_down():
        for address in (mail_flow.imap, mail_flow.imaps):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(address, timeout=2).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(mail_flow.imap_dead, timeout=2).close()
    assert len(_imap_search(mail_flow, "canary", "INBOX", token)) == 1
