"""The service status rules on hand-made observations (pure: no sockets)."""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import trustme

from cockpit.compat import UTC
from cockpit.model import Status
from cockpit.service.imap_check import capability_words, greeting_status
from cockpit.service.judge import judge
from cockpit.service.observation import MAX_KEPT_CHARS, MAX_KEPT_LINES, ServiceObservation
from cockpit.service.pop3_check import status_word
from cockpit.service.tls import seen_from_der

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def observation(kind: str = "smtp", **fields: object) -> ServiceObservation:
    base = ServiceObservation(
        kind=kind,
        host="mx1.example.test",
        address="127.0.0.5",
        port=25,
        tls_mode="starttls",
        started_at=NOW,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def verdict(seen: ServiceObservation, warn_ms: int | None = None) -> tuple[Status, str]:
    status, summary, _facts = judge(
        seen, subject="mx1.example.test:25", warn_ms=warn_ms, timeout=5.0, now=NOW
    )
    return status, summary


def greeting(code: str, text: str) -> ServiceObservation:
    return observation(
        code=code, reply=(f"{code} {text}",), latency_ms=12.0, error_kind="rejected", error="x"
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("421", Status.FAIL), ("450", Status.WARN), ("451", Status.WARN), ("554", Status.FAIL)],
)
def test_smtp_greeting_codes(code: str, status: Status) -> None:
    found, summary = verdict(greeting(code, "4.3.2 try later"))
    assert found is status
    assert summary.startswith(f"mx1.example.test:25: {code} greeting in 12 ms")


def test_starttls_missing_warns_on_smtp_and_fails_elsewhere() -> None:
    missing = observation(
        code="220", latency_ms=3.0, starttls_offered=False, error_kind="no-starttls", error="x"
    )
    assert verdict(missing) == (
        Status.WARN,
        "mx1.example.test:25 greets 220 in 3 ms, but STARTTLS is not offered",
    )
    for kind, code in (("submission", "220"), ("imap", "* OK"), ("pop3", "+OK")):
        assert verdict(replace(missing, kind=kind, code=code))[0] is Status.FAIL


def test_slow_greeting_warns_only_past_warn_ms() -> None:
    fine = observation(code="220", latency_ms=120.0)
    assert verdict(fine, warn_ms=200) == (Status.OK, "mx1.example.test:25 greets 220 in 120 ms")
    status, summary = verdict(fine, warn_ms=100)
    assert status is Status.WARN and summary.endswith("; slower than 100 ms")
    assert verdict(replace(fine, latency_ms=2500.0))[1].endswith("greets 220 in 2.5 s")


def test_only_a_setup_problem_is_unknown() -> None:
    for kind in ("connect", "timeout", "protocol", "tls", "starttls-refused"):
        seen = observation(error_kind=kind, error="cannot connect to 127.0.0.5:25: Boom")
        assert verdict(seen)[0] in (Status.FAIL, Status.WARN), kind
    setup = observation(error_kind="setup", error="cannot load [tls].ca_file /x: missing")
    assert verdict(setup) == (
        Status.UNKNOWN,
        "mx1.example.test:25: could not check: cannot load [tls].ca_file /x: missing",
    )


def certificate(ca: trustme.CA, name: str, not_after: datetime) -> bytes:
    leaf = ca.issue_cert(name, not_before=not_after - timedelta(days=90), not_after=not_after)
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


@pytest.mark.parametrize(
    ("name", "days", "verified", "status", "words"),
    [
        ("mx1.example.test", 60, True, Status.OK, "STARTTLS ok"),
        ("mx1.example.test", 5, True, Status.WARN, "certificate expires in 5 days"),
        ("mx1.example.test", -1, False, Status.FAIL, "certificate expired on"),
        ("mx1.example.test", 60, False, Status.FAIL, "certificate not trusted (self signed)"),
        ("other.example.test", 60, True, Status.FAIL, "certificate is for other.example.test"),
    ],
)
def test_certificates(name: str, days: int, verified: bool, status: Status, words: str) -> None:
    der = certificate(trustme.CA(), name, NOW + timedelta(days=days, hours=1))
    tls = seen_from_der(
        der,
        version="TLSv1.3",
        verified=verified,
        verify_error=None if verified else "self signed",
    )
    found, summary = verdict(observation(code="220", latency_ms=4.0, tls=tls))
    assert found is status and words in summary, summary


def test_data_keeps_server_text_bounded_and_raw() -> None:
    long_reply = tuple("220-" + "\x1b[31m" * 100 for _ in range(50))
    data = observation(code="220", reply=long_reply).data()
    assert len(data["reply"]) == MAX_KEPT_LINES
    assert all(len(line) == MAX_KEPT_CHARS for line in data["reply"])
    assert "\x1b" in data["reply"][0]  # data stays raw; summaries are cleaned


def test_protocol_words() -> None:
    assert greeting_status("* OK [CAPABILITY IMAP4rev1] ready") == "OK"
    assert greeting_status("* preauth welcome") == "PREAUTH"
    assert greeting_status("* BYE busy") == "BYE"
    assert greeting_status("+OK POP3") is None and greeting_status("220 smtp") is None
    assert capability_words(["* OK [CAPABILITY IMAP4rev1 STARTTLS] hi"]) == {
        "IMAP4REV1",
        "STARTTLS",
    }
    assert capability_words(["* CAPABILITY IMAP4rev1 AUTH=PLAIN", "a1 OK"]) == {
        "IMAP4REV1",
        "AUTH=PLAIN",
    }
    assert status_word("+OK ready") == "+OK" and status_word("-ERR no") == "-ERR"
    assert status_word("* OK") is None
