"""The verdict on one service observation: status, a one-line summary, certificate facts.

    ok       greeted (220, * OK / * PREAUTH, +OK; HTTP 2xx/3xx; tcp: connected) within the
             limits, TLS (where asked) with a trusted certificate for the host
    warn     slower than the endpoint's warn_ms; a 4xx SMTP greeting other than 421; EHLO
             refused after a 220 (a sender falls back to HELO); HTTP 4xx; a certificate that
             expires within EXPIRY_WARN_DAYS; on smtp (every MX host): STARTTLS not offered or
             refused (mail still flows, in the clear)
    fail     refused, timed out, a 5xx or 421 greeting, * BYE, -ERR, HTTP 5xx, not the
             protocol (garbage, too much), a failed handshake, a certificate expired, not
             trusted or not naming the host; on submission, imap and pop3 configured with
             tls = "starttls": STARTTLS/STLS not offered or refused (clients cannot log in safely)
    unknown  cockpit could not try (a [tls] ca_file that cannot be loaded)

The summary starts with the finding's subject, names the reply code and the time taken, and
holds server text only cut short and made safe (`cockpit.safe_text.clean`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cockpit.model import Status, worst
from cockpit.safe_text import clean
from cockpit.service.observation import ServiceObservation
from cockpit.service.tls import tls_verdict

MAX_SUMMARY = 240
MAX_SERVER_TEXT = 80
"""Characters of server text (a greeting, a refusal) quoted in a summary."""
PROTOCOL_NAMES = {
    "smtp": "SMTP",
    "submission": "SMTP",
    "imap": "IMAP",
    "pop3": "POP3",
    "https": "HTTP",
    "tcp": "TCP",
}
SMTP_KINDS = frozenset({"smtp", "submission"})


def duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _server_text(text: str) -> str:
    cut = text[:MAX_SERVER_TEXT] + ("…" if len(text) > MAX_SERVER_TEXT else "")
    return clean(cut)


def _greeting_text(observation: ServiceObservation) -> str:
    """The greeting's text after its code (SMTP "421 4.3.2 busy" -> "4.3.2 busy")."""
    if not observation.reply:
        return ""
    first = observation.reply[0]
    code = observation.code or ""
    if first.upper().startswith(code.upper()):
        first = first[len(code) :]
    return _server_text(first.lstrip(" -"))


def _greets(observation: ServiceObservation) -> str:
    verb = "answers" if observation.kind == "https" else "greets"
    return f"{verb} {clean(observation.code)} in {duration(observation.latency_ms)}"


def _refusal(observation: ServiceObservation) -> tuple[Status, str]:
    """A greeting that refuses (error_kind "rejected")."""
    code = observation.code or ""
    took = duration(observation.latency_ms)
    text = _greeting_text(observation)
    if observation.kind in SMTP_KINDS and code.isdigit():
        if code == "220":  # greeted, then EHLO refused: a sender falls back to HELO
            last = observation.capabilities[-1] if observation.capabilities else ""
            return Status.WARN, f"greets 220 in {took}, but EHLO is refused: {_server_text(last)}"
        status = Status.WARN if code.startswith("4") and code != "421" else Status.FAIL
        meaning = " (service not available)" if code == "421" else ""
        return status, f"{code} greeting in {took}{meaning}: {text}"
    if observation.greeted and code in ("* OK", "* PREAUTH", "+OK"):
        return Status.FAIL, f"greets {code} in {took}, then {_server_text(observation.error or '')}"
    return Status.FAIL, f"{code} greeting in {took}: {text}"


def _failure(observation: ServiceObservation, timeout: float) -> tuple[Status, str]:
    """Status and reason for an observation with an error_kind."""
    kind = observation.error_kind
    # Errors are one line of at most 200 characters (server text in them already cut short).
    error = clean((observation.error or "")[:200])
    greets = _greets(observation) if observation.greeted else ""
    lenient = observation.kind == "smtp"  # every MX host; mail still flows in the clear
    if kind == "setup":
        return Status.UNKNOWN, f"could not check: {error}"
    if kind == "connect":
        return Status.FAIL, error.rsplit(": ", 1)[-1].lower() if ": " in error else error
    if kind == "timeout":
        if greets:
            return Status.FAIL, f"{greets}, then no answer within {timeout:g} s"
        return Status.FAIL, f"no answer within {timeout:g} s"
    if kind == "rejected":
        return _refusal(observation)
    if kind == "protocol":
        if greets:
            return Status.FAIL, f"{greets}, then {error}"
        name = PROTOCOL_NAMES.get(observation.kind, observation.kind)
        return Status.FAIL, f"does not speak {name}: {error}"
    if kind == "no-starttls":
        status = Status.WARN if lenient else Status.FAIL
        return status, f"{greets}, but STARTTLS is not offered"
    if kind == "starttls-refused":
        status = Status.WARN if lenient else Status.FAIL
        return status, f"{greets}, but {error}"
    if kind == "tls":
        return Status.FAIL, f"{greets}, but {error}" if greets else error
    return Status.FAIL, f"{greets}: {error}" if greets else error


def _http_status(observation: ServiceObservation) -> Status:
    status = int((observation.code or "HTTP 0").split()[-1])
    if 200 <= status < 400:
        return Status.OK
    if 400 <= status < 500:
        return Status.WARN
    return Status.FAIL


def _tls_done(observation: ServiceObservation) -> str:
    if observation.tls is None:
        return ""
    return ", STARTTLS ok" if observation.tls_mode == "starttls" else ", TLS ok"


def judge(
    observation: ServiceObservation,
    *,
    subject: str,
    warn_ms: int | None,
    timeout: float,
    now: datetime,
) -> tuple[Status, str, dict[str, Any]]:
    """Status, summary and certificate facts (for the data) of one observation."""
    facts: dict[str, Any] = {}
    tls_status, tls_reason = Status.OK, ""
    if observation.tls is not None:
        tls_status, tls_reason, facts = tls_verdict(observation.tls, observation.host, now)
    if observation.error_kind == "tls" and tls_status is Status.FAIL:
        # The handshake failed on the certificate: its facts say why better than the library.
        greets = f"{_greets(observation)}, but " if observation.greeted else ""
        return Status.FAIL, _summary(subject, greets + tls_reason), facts
    if observation.error_kind is not None:
        status, reason = _failure(observation, timeout)
        if tls_status is Status.FAIL and observation.error_kind != "setup":
            status, reason = Status.FAIL, f"{reason}; {tls_reason}"
        return status, _summary(subject, reason), facts
    if observation.kind == "tcp":
        status, reason = Status.OK, f"accepts a connection in {duration(observation.latency_ms)}"
    elif observation.kind == "https":
        status, reason = _http_status(observation), _greets(observation)
        location = dict(observation.extra).get("location")
        if location and status is Status.OK and observation.code != "HTTP 200":
            reason += f" (to {_server_text(str(location))})"
    else:
        status, reason = Status.OK, _greets(observation)
    reason += _tls_done(observation) if tls_status is Status.OK else ""
    if tls_status is not Status.OK:
        reason += f", but {tls_reason}" if status is Status.OK else f"; {tls_reason}"
    status = worst([status, tls_status])
    slow = (
        warn_ms is not None
        and observation.latency_ms is not None
        and observation.latency_ms > warn_ms
    )
    if slow:
        reason += f"; slower than {warn_ms} ms"
        status = worst([status, Status.WARN])
    return status, _summary(subject, reason), facts


def _summary(subject: str, reason: str) -> str:
    """ "mx1:25 greets 220 in 4 ms, ..." or "mx1:25: connection refused", bounded and clean."""
    joiner = " " if reason.startswith(("greets", "answers", "accepts")) else ": "
    text = clean(f"{subject}{joiner}{reason}")
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"
