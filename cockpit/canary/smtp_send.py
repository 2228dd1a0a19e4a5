"""Sending the canary with smtplib, from a worker thread: to an MX host, or through submission.

    result = send_to_mx(hop, sending, watch=watch)               # inbound, as an MTA would
    result = send_to_submission(hop, sending, login, watch=watch) # outbound, logged in

Both connect to an address the caller looked up (through the cockpit's Asker: smtplib never
resolves a name, and the EHLO name is given, so no system resolver is asked), with a socket
timeout on every operation, a byte budget on replies and a `Watchdog` for the whole send.

MX (inbound): EHLO (HELO when EHLO is refused), STARTTLS when offered, verified against the
system store plus [tls].ca_file and the MX host's name. MTA-to-MTA TLS is opportunistic: a
certificate that does not verify still carries the message (a second connection completes the
handshake without verifying) and `tls_verified` is False with the reason; a refused STARTTLS
goes on in clear. Then MAIL, RCPT, DATA.

Submission (outbound): implicit TLS or STARTTLS, both required and verified; without them the
password is never sent. Then AUTH (smtplib picks CRAM-MD5, PLAIN or LOGIN), MAIL, RCPT, DATA.

`SendResult.error_kind`: None (accepted), "connect" (no connection, no greeting, a timeout:
the caller tries the next address), "refused" (a 4xx/5xx reply at EHLO, AUTH, MAIL, RCPT or
DATA: final), "tls" (a handshake that failed), "protocol" (not SMTP, or too much of it).
Server replies are kept cleaned and at most MAX_REPLY characters; a password never appears
(smtplib's debug output is off, and a reply that echoes the login is scrubbed).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass, replace
from typing import Any

from cockpit.auth.tlsinfo import inspection_context
from cockpit.canary.headers import shown
from cockpit.canary.secrets import Secret
from cockpit.canary.watchdog import Watchdog
from cockpit.config.values import BadValue, parse_hostname

__all__ = ["Login", "SendResult", "Sending", "SmtpHop", "send_to_mx", "send_to_submission"]

CONNECT_TIMEOUT = 10.0
OPERATION_TIMEOUT = 30.0
"""Seconds one SMTP reply may take (the end of DATA waits for the receiver's filters)."""
MAX_REPLY = 200
MAX_CONVERSATION_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class SmtpHop:
    """Where to send: the host's name (for TLS and reports), one address of it, the port."""

    host: str
    ip: str
    port: int
    tls: str = "opportunistic"
    """"opportunistic" (MX), "starttls" or "implicit" (submission)."""


@dataclass(frozen=True, slots=True)
class Sending:
    """What to send, and how the cockpit names itself."""

    helo: str
    mail_from: str
    rcpt_to: str
    message: bytes
    context: ssl.SSLContext
    """A verifying context (system store plus [tls].ca_file, hostname checked)."""


@dataclass(frozen=True, slots=True)
class Login:
    user: str
    secret: Secret


@dataclass(frozen=True, slots=True)
class SendResult:
    host: str
    ip: str
    port: int
    accepted: bool = False
    tls: bool = False
    tls_verified: bool | None = None
    tls_note: str | None = None
    """Why the certificate did not verify (opportunistic TLS went on)."""
    code: int | None = None
    reply: str = ""
    """The last reply, cleaned, at most MAX_REPLY characters."""
    step: str = "connect"
    """The SMTP step reached: connect, ehlo, starttls, auth, mail, rcpt, data, done."""
    error_kind: str | None = None
    error: str | None = None
    local_ip: str | None = None
    server_name: str | None = None
    """The name the server gave itself in its EHLO (or HELO) reply, lower case, when it is a
    host name: the name it writes as `by` in its Received header."""

    def smtp_data(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ip": self.ip,
            "port": self.port,
            "tls": self.tls,
            "tls_verified": self.tls_verified,
            "reply": self.reply,
        }


class _Refused(Exception):
    def __init__(self, step: str, code: int, text: str) -> None:
        super().__init__(step)
        self.step, self.code, self.text = step, code, text


class _CappedFile:
    """smtplib's reply reader with a byte budget for the whole conversation."""

    def __init__(self, inner: Any, budget: list[int]) -> None:
        self._inner, self._budget = inner, budget

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._inner.readline(limit)
        self._budget[0] -= len(line)
        if self._budget[0] < 0:
            raise OSError("the server sent more than the canary reads")
        return line

    def close(self) -> None:
        self._inner.close()


class _PinnedMixin:
    """Connects to a chosen address whatever host name smtplib is given."""

    _pinned_ip: str
    _watch: Watchdog
    _budget: list[int]
    sock: socket.socket | None
    file: Any

    def _pinned_socket(self, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((self._pinned_ip, port), timeout)
        self._watch.track(sock)
        return sock

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = _CappedFile(self.sock.makefile("rb"), self._budget)
        return super().getreply()  # type: ignore[misc,no-any-return]


class _PinnedSMTP(_PinnedMixin, smtplib.SMTP):
    def __init__(self, ip: str, watch: Watchdog, **options: Any) -> None:
        self._pinned_ip, self._watch, self._budget = ip, watch, [MAX_CONVERSATION_BYTES]
        super().__init__(**options)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._pinned_socket(port, timeout)


class _PinnedSMTPSSL(_PinnedMixin, smtplib.SMTP_SSL):
    def __init__(self, ip: str, watch: Watchdog, **options: Any) -> None:
        self._pinned_ip, self._watch, self._budget = ip, watch, [MAX_CONVERSATION_BYTES]
        super().__init__(**options)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        wrapped = self.context.wrap_socket(
            self._pinned_socket(port, timeout),
            server_hostname=self._host,  # type: ignore[attr-defined]
        )
        self._watch.track(wrapped)
        return wrapped


def _text(reply: bytes | str, secret: Secret | None = None, user: str = "") -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if secret is not None:
        text = secret.scrub(text, user=user)
    return shown(text.replace("\n", " "), MAX_REPLY)


def _check(step: str, reply: tuple[int, bytes], ok: tuple[int, ...]) -> None:
    code, text = reply
    if code not in ok:
        raise _Refused(step, code, _text(text))


def _connect(
    hop: SmtpHop, sending: Sending, watch: Watchdog, context: ssl.SSLContext | None
) -> smtplib.SMTP:
    options: dict[str, Any] = {
        "host": hop.host,
        "port": hop.port,
        "local_hostname": sending.helo,
        "timeout": watch.left(CONNECT_TIMEOUT),
    }
    if hop.tls == "implicit":
        return _PinnedSMTPSSL(hop.ip, watch, context=context, **options)
    return _PinnedSMTP(hop.ip, watch, **options)


def _hello(smtp: smtplib.SMTP, watch: Watchdog) -> str | None:
    """EHLO (HELO when refused); the server's own name from its reply, when one is given."""
    assert smtp.sock is not None
    smtp.sock.settimeout(watch.left(OPERATION_TIMEOUT))
    code, text = smtp.ehlo()
    if code != 250:
        code, text = smtp.helo()
        _check("ehlo", (code, text), (250,))
    first = text.split(b"\n", 1)[0].split(b" ", 1)[0].decode("ascii", "replace")
    try:
        return parse_hostname(first[:300])
    except BadValue:  # an address, a greeting without a name, garbage: no name
        return None


def _open(
    hop: SmtpHop, sending: Sending, watch: Watchdog, context: ssl.SSLContext
) -> tuple[smtplib.SMTP, SendResult]:
    """Connected, greeted, upgraded to TLS as `hop.tls` asks: (session, result so far)."""
    result = SendResult(hop.host, hop.ip, hop.port)
    smtp = _connect(hop, sending, watch, context if hop.tls == "implicit" else None)
    if smtp.sock is not None:
        with contextlib.suppress(OSError):
            result = replace(result, local_ip=str(smtp.sock.getsockname()[0]))
    if hop.tls == "implicit":
        result = replace(result, tls=True, tls_verified=context.verify_mode == ssl.CERT_REQUIRED)
    result = replace(result, step="ehlo")
    result = replace(result, server_name=_hello(smtp, watch))
    if hop.tls == "implicit":
        return smtp, result
    if not smtp.has_extn("starttls"):
        if hop.tls == "starttls":
            raise _Refused("starttls", 0, "STARTTLS is not offered: the password was not sent")
        return smtp, result
    result = replace(result, step="starttls")
    try:
        smtp.starttls(context=context)
    except smtplib.SMTPResponseException as refused:
        if hop.tls == "starttls":
            raise _Refused("starttls", refused.smtp_code, _text(refused.smtp_error)) from None
        reply = _text(f"{refused.smtp_code} {_text(refused.smtp_error)}")
        return smtp, replace(result, code=refused.smtp_code, reply=reply)
    watch.track(smtp.sock)
    result = replace(result, tls=True, tls_verified=context.verify_mode == ssl.CERT_REQUIRED)
    result = replace(result, server_name=_hello(smtp, watch) or result.server_name)
    return smtp, result


def _transfer(smtp: smtplib.SMTP, sending: Sending, watch: Watchdog) -> tuple[int, bytes]:
    assert smtp.sock is not None
    smtp.sock.settimeout(watch.left(OPERATION_TIMEOUT))
    _check("mail", smtp.mail(sending.mail_from), (250,))
    smtp.sock.settimeout(watch.left(OPERATION_TIMEOUT))
    _check("rcpt", smtp.rcpt(sending.rcpt_to), (250, 251))
    smtp.sock.settimeout(watch.left(OPERATION_TIMEOUT))
    try:
        reply = smtp.data(sending.message)
    except smtplib.SMTPDataError as refused:
        raise _Refused("data", refused.smtp_code, _text(refused.smtp_error)) from None
    _check("data", reply, (250,))
    return reply


def _quit(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(Exception):
        if smtp.sock is not None:
            smtp.sock.settimeout(2.0)
        smtp.quit()
    with contextlib.suppress(Exception):
        smtp.close()


def _run(
    hop: SmtpHop,
    sending: Sending,
    watch: Watchdog,
    login: Login | None,
    context: ssl.SSLContext,
) -> SendResult:
    smtp: smtplib.SMTP | None = None
    result = SendResult(hop.host, hop.ip, hop.port)
    try:
        smtp, result = _open(hop, sending, watch, context)
        if login is not None:
            result = replace(result, step="auth")
            _authenticate(smtp, login, watch)
        result = replace(result, step="mail")
        code, text = _transfer(smtp, sending, watch)
        reply = _text(f"{code} {_text(text)}")
        return replace(result, accepted=True, step="done", code=code, reply=reply)
    except _Refused as refused:
        secret, user = (login.secret, login.user) if login else (None, "")
        text = secret.scrub(refused.text, user=user) if secret else refused.text
        reply = _text(f"{refused.code} {text}" if refused.code else text)
        return replace(
            result,
            step=refused.step,
            code=refused.code or None,
            reply=reply,
            error_kind="refused",
            # a reply code: the server refused; none: the cockpit would not go on (no TLS)
            error=f"{refused.step.upper()} refused: {reply}" if refused.code else reply,
        )
    except ssl.SSLCertVerificationError as failed:
        note = shown(str(failed.verify_message or failed.reason or "not verified"), 160)
        return replace(result, error_kind="tls", error=f"certificate not trusted: {note}")
    except smtplib.SMTPConnectError as refused:
        if refused.smtp_code < 0:  # smtplib's code for a line that is not an SMTP reply
            reply = _text(refused.smtp_error)
            return replace(result, reply=reply, error_kind="connect", error="no SMTP greeting")
        reply = _text(f"{refused.smtp_code} {_text(refused.smtp_error)}")
        return replace(
            result,
            code=refused.smtp_code,
            reply=reply,
            error_kind="connect",
            error=f"greeting refused: {reply}",
        )
    except (ssl.SSLError, smtplib.SMTPServerDisconnected, OSError) as failed:
        return replace(result, **_broken(result.step, failed, watch))
    except smtplib.SMTPException as failed:
        reason = _text(str(failed), login.secret if login else None)
        return replace(result, error_kind="protocol", error=f"{result.step}: {reason}")
    finally:
        _quit(smtp)


def _broken(step: str, failed: BaseException, watch: Watchdog) -> dict[str, str]:
    if watch.stopped:
        return {"error_kind": "connect", "error": "no complete conversation before the deadline"}
    if isinstance(failed, TimeoutError | socket.timeout):
        return {"error_kind": "connect", "error": f"no reply in time at {step.upper()}"}
    if isinstance(failed, ssl.SSLError):
        return {"error_kind": "tls", "error": f"TLS handshake failed: {shown(failed, 160)}"}
    text = failed.strerror if isinstance(failed, OSError) and failed.strerror else str(failed)
    text = shown(text or type(failed).__name__, 160)
    text = text[:1].lower() + text[1:]
    if step == "connect":
        return {"error_kind": "connect", "error": text}
    kind = "connect" if step == "ehlo" else "protocol"
    return {"error_kind": kind, "error": f"at {step.upper()}: {text}"}


def _authenticate(smtp: smtplib.SMTP, login: Login, watch: Watchdog) -> None:
    """One AUTH attempt, PLAIN (RFC 4616) or else LOGIN: only ever over TLS (see _open)."""
    assert smtp.sock is not None
    smtp.sock.settimeout(watch.left(OPERATION_TIMEOUT))
    if not smtp.has_extn("auth"):
        raise _Refused("auth", 0, "the submission service offers no AUTH")
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    chosen = next((name for name in ("PLAIN", "LOGIN") if name in offered), None)
    if chosen is None:
        raise _Refused("auth", 0, "no AUTH mechanism in common (PLAIN, LOGIN)")
    method = smtp.auth_plain if chosen == "PLAIN" else smtp.auth_login
    smtp.user, smtp.password = login.user, login.secret.reveal()  # type: ignore[attr-defined]
    try:
        smtp.auth(chosen, method)
    except smtplib.SMTPAuthenticationError as refused:
        text = login.secret.scrub(_text(refused.smtp_error), user=login.user)
        raise _Refused("auth", refused.smtp_code, text) from None
    finally:
        smtp.user, smtp.password = "", ""  # type: ignore[attr-defined]


def send_to_mx(hop: SmtpHop, sending: Sending, *, watch: Watchdog) -> SendResult:
    """One attempt at one MX address (see the module docstring). Blocking."""
    result = _run(hop, sending, watch, None, sending.context)
    if result.error_kind != "tls" or not (result.error or "").startswith("certificate not"):
        return result
    # Opportunistic TLS: the message goes anyway, over a handshake that is not verified.
    note = result.error.removeprefix("certificate not trusted: ")
    second = _run(hop, sending, watch, None, inspection_context())
    return replace(second, tls_verified=False if second.tls else None, tls_note=note)


def send_to_submission(
    hop: SmtpHop, sending: Sending, login: Login, *, watch: Watchdog
) -> SendResult:
    """One attempt at one submission address, logged in (see the module docstring)."""
    result = _run(hop, sending, watch, login, sending.context)
    if result.error_kind == "tls" and result.error and "not trusted" in result.error:
        return replace(result, error=f"{result.error}; the password was not sent")
    return result
