"""One bounded SMTP conversation with STARTTLS at one address: banner, EHLO, STARTTLS, QUIT.

    probe_smtp(host, ip, helo=..., ca_file=...) -> SmtpResult      never raises for network trouble

Two keyword options serve the region service probes (cockpit/service/) without changing what
the auth checks get by default: `implicit_tls=True` speaks TLS from the first byte (submission
on port 465), and `starttls=False` ends the conversation after EHLO without asking for TLS
(an endpoint configured with tls = "none").

Everything the server sends is untrusted and bounded: one overall deadline, a timeout per read,
at most MAX_REPLY_LINES lines and MAX_REPLY_BYTES bytes per reply. Replies are kept as data
(decoded, never interpreted); making them safe to show is the display layer's job.

The certificate is checked in two steps, so its facts are known even when it is not trusted:
the handshake verifies the chain against the system store plus `[tls].ca_file` (the name is
checked separately by the caller, against the MX host); when that handshake fails verification,
a second conversation completes the handshake without verifying, to read what is presented.
"""

from __future__ import annotations

import _ssl
import asyncio
import contextlib
import os
import re
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cockpit import compat
from cockpit.auth.tlsinfo import inspection_context, trust_context

SMTP_PORT = 25
MAX_REPLY_BYTES = 4096
MAX_REPLY_LINES = 100
DEFAULT_TIMEOUT = 15.0
DEFAULT_READ_TIMEOUT = 10.0
_DEADLINE_MARGIN = 0.05
"""Reads stop this long before the overall deadline, so their partial results survive it."""
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])(.*)$", re.DOTALL)
_HELO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
FALLBACK_HELO = "cockpit.invalid"


@dataclass(frozen=True, slots=True)
class SmtpResult:
    """What one SMTP conversation at one address showed. `error_kind` is None when it all worked.

    error_kind: "setup" (cockpit could not try: bad ca_file), "connect", "timeout",
    "rejected" (banner or EHLO refused with 4xx/5xx), "protocol" (not valid SMTP, or too much),
    "no-starttls", "starttls-refused", "tls" (the handshake itself failed).
    """

    host: str
    address: str
    port: int = SMTP_PORT
    banner: tuple[str, ...] = ()
    banner_code: int | None = None
    ehlo: tuple[str, ...] = ()
    starttls_offered: bool | None = None
    """None when the conversation ended before EHLO was answered."""
    chain_der: tuple[bytes, ...] = ()
    """The certificates the server presented, leaf first (DER)."""
    verified: bool | None = None
    """True: the chain verified against the trust store; None: no handshake took place."""
    verify_error: str | None = None
    tls_version: str | None = None
    latency_ms: float | None = None
    """Time from connecting to the end of the banner."""
    error_kind: str | None = None
    error: str | None = None

    def evidence(self) -> dict[str, object]:
        """Bounded facts for a Finding's data (certificates are described by the caller)."""
        data: dict[str, object] = {"address": self.address, "port": self.port}
        if self.banner:
            data["banner"] = list(self.banner)
        if self.ehlo:
            data["ehlo"] = list(self.ehlo)
        if self.starttls_offered is not None:
            data["starttls_offered"] = self.starttls_offered
        if self.tls_version is not None:
            data["tls_version"] = self.tls_version
        if self.verified is not None:
            data["chain_verified"] = self.verified
        if self.verify_error is not None:
            data["verify_error"] = self.verify_error
        if self.latency_ms is not None:
            data["latency_ms"] = round(self.latency_ms, 1)
        if self.error_kind is not None:
            data["error_kind"] = self.error_kind
        if self.error is not None:
            data["error"] = self.error
        return data


class _Stop(Exception):
    """Ends a conversation early with an error kind and a one-line reason."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


async def _read_reply(
    reader: asyncio.StreamReader, read_timeout: float, deadline: float
) -> tuple[int, list[str]]:
    """One (possibly multi-line) reply: its code and its lines, bounded in count and size.

    Each read waits at most `read_timeout`, and never past `deadline` (monotonic), so a
    conversation that runs out of time still returns what it saw.
    """
    lines: list[str] = []
    size = 0
    code: bytes | None = None
    while True:
        try:
            raw = await compat.wait_for(reader.readline(), _wait(read_timeout, deadline))
        except ValueError:  # longer than the stream's limit (MAX_REPLY_BYTES)
            raise _Stop("protocol", f"reply line longer than {MAX_REPLY_BYTES} bytes") from None
        except TimeoutError:
            raise _Stop("timeout", "no reply in time") from None
        except ConnectionError as error:
            raise _Stop("protocol", f"the connection broke: {error}"[:200]) from None
        if not raw:
            raise _Stop("protocol", "the server closed the connection")
        size += len(raw)
        if size > MAX_REPLY_BYTES or len(lines) >= MAX_REPLY_LINES:
            raise _Stop(
                "protocol", f"reply longer than {MAX_REPLY_BYTES} bytes or {MAX_REPLY_LINES} lines"
            )
        match = _REPLY_LINE.match(raw.rstrip(b"\r\n"))
        text = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        lines.append(text)
        if match is None or (code is not None and match.group(1) != code):
            raise _Stop("protocol", "the reply is not SMTP")
        code = match.group(1)
        if match.group(2) == b" ":
            return int(code), lines


def _chain(ssl_object: ssl.SSLObject | None) -> tuple[bytes, ...]:
    """Every certificate the server presented, leaf first.

    Python 3.13 has `get_unverified_chain()`; 3.11 and 3.12 have it only on the private
    `_sslobj`. Without either, only the leaf is known.
    """
    if ssl_object is None:
        return ()
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            certificates = getter() or []
            ders = [
                c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER)
                for c in certificates
            ]
            if ders:
                return tuple(ders)
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _wait(read_timeout: float, deadline: float) -> float:
    return max(0.01, min(read_timeout, deadline - time.monotonic() - _DEADLINE_MARGIN))


async def _handshake(
    result: SmtpResult,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    read_timeout: float,
    deadline: float,
) -> SmtpResult:
    """TLS on the open connection (after STARTTLS, or first for implicit TLS), with its facts.

    A certificate that does not verify raises ssl.SSLCertVerificationError (the caller then
    reads it with an inspection context); any other handshake failure stops with "tls".
    """
    try:
        await compat.start_tls(
            writer,
            context,
            server_hostname=result.host,
            ssl_handshake_timeout=_wait(read_timeout, deadline),
        )
    except ssl.SSLCertVerificationError:
        raise
    except (ssl.SSLError, ConnectionError) as error:
        raise _Stop("tls", f"TLS handshake failed: {error}"[:200]) from None
    ssl_object = writer.get_extra_info("ssl_object")
    return replace(
        result,
        chain_der=_chain(ssl_object),
        verified=context.verify_mode == ssl.CERT_REQUIRED,
        tls_version=ssl_object.version() if ssl_object is not None else None,
    )


async def _converse(
    base: SmtpResult,
    helo: str,
    context: ssl.SSLContext,
    read_timeout: float,
    deadline: float,
    *,
    implicit_tls: bool = False,
    starttls: bool = True,
) -> SmtpResult:
    """Banner, EHLO, STARTTLS with `context`, QUIT. Raises _Stop, OSError, ssl errors.

    `implicit_tls`: the handshake comes first and STARTTLS is never asked for; `starttls`
    False: no TLS at all, the conversation ends after EHLO.
    """
    result = base
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(base.address, base.port, limit=MAX_REPLY_BYTES)
    try:
        if implicit_tls:
            result = await _handshake(result, writer, context, read_timeout, deadline)
        code, banner = await _read_reply(reader, read_timeout, deadline)
        result = replace(
            result,
            banner=tuple(banner),
            banner_code=code,
            latency_ms=(time.monotonic() - started) * 1000,
        )
        if code != 220:
            await _quit(writer, reader, deadline)
            raise _Stop("rejected", f"the banner is a refusal ({code})")
        writer.write(f"EHLO {helo}\r\n".encode("ascii", errors="replace"))
        code, ehlo = await _read_reply(reader, read_timeout, deadline)
        offered = any(line[4:].strip().upper() == "STARTTLS" for line in ehlo[1:])
        result = replace(result, ehlo=tuple(ehlo), starttls_offered=code == 250 and offered)
        if code != 250:
            await _quit(writer, reader, deadline)
            raise _Stop("rejected", f"EHLO was refused ({code})")
        if implicit_tls or not starttls:
            await _quit(writer, reader, deadline)
            return result
        if not offered:
            await _quit(writer, reader, deadline)
            raise _Stop("no-starttls", "STARTTLS is not offered")
        writer.write(b"STARTTLS\r\n")
        code, _lines = await _read_reply(reader, read_timeout, deadline)
        if code != 220:
            await _quit(writer, reader, deadline)
            raise _Stop("starttls-refused", f"STARTTLS was refused ({code})")
        result = await _handshake(result, writer, context, read_timeout, deadline)
        await _quit(writer, reader, deadline)
        return result
    except _Stop as stop:
        raise _Stopped(replace(result, error_kind=stop.kind, error=stop.reason)) from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await compat.wait_for(writer.wait_closed(), 1.0)


class _Stopped(Exception):
    """A conversation that ended early, with what it had seen so far."""

    def __init__(self, result: SmtpResult):
        super().__init__(result.error)
        self.result = result


async def _quit(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, deadline: float
) -> None:
    """Say goodbye; whatever the server answers (or not) changes nothing."""
    with contextlib.suppress(Exception):
        writer.write(b"QUIT\r\n")
        await _read_reply(reader, 1.0, deadline)


async def probe_smtp(
    host: str,
    ip: str,
    *,
    helo: str,
    ca_file: Path | None,
    port: int = SMTP_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    implicit_tls: bool = False,
    starttls: bool = True,
) -> SmtpResult:
    """Talk SMTP to `ip`:`port` as a client of MX `host`, within `timeout` seconds in all.

    `implicit_tls`: TLS from the first byte (port 465), STARTTLS never asked for; `starttls`
    False (and no implicit TLS): no TLS at all, and `ca_file` is not read.
    """
    base = SmtpResult(host=host.rstrip(".").lower(), address=ip, port=port)
    if not _HELO_NAME.fullmatch(helo):  # never let a name carry a second command
        helo = FALLBACK_HELO
    uses_tls = implicit_tls or starttls
    try:
        # The name is checked by the caller against the MX host; here only the chain and dates.
        verifying = (
            trust_context(ca_file, check_hostname=False) if uses_tls else inspection_context()
        )
    except (OSError, ssl.SSLError) as error:
        return replace(
            base, error_kind="setup", error=f"cannot load [tls].ca_file {ca_file}: {error}"[:200]
        )
    read_timeout = min(read_timeout, timeout)
    deadline = time.monotonic() + timeout

    async def converse(context: ssl.SSLContext) -> SmtpResult:
        return await _converse(
            base,
            helo,
            context,
            read_timeout,
            deadline,
            implicit_tls=implicit_tls,
            starttls=starttls,
        )

    try:
        async with compat.timeout(timeout):
            try:
                return await converse(verifying)
            except ssl.SSLCertVerificationError as error:
                reason = str(error.verify_message or error.reason or error)[:200]
            try:
                inspected = await converse(inspection_context())
            except _Stopped as stopped:
                raise _Stopped(
                    replace(stopped.result, verified=False, verify_error=reason)
                ) from None
            return replace(inspected, verified=False, verify_error=reason)
    except _Stopped as stopped:
        return stopped.result
    except TimeoutError:
        return replace(
            base, error_kind="timeout", error=f"no complete conversation within {timeout:g} s"
        )
    except OSError as error:
        # asyncio's strerror repeats the address ("Connect call failed (...)"): name the errno.
        text = (
            os.strerror(error.errno)
            if error.errno
            else error.strerror or str(error) or type(error).__name__
        )
        return replace(
            base, error_kind="connect", error=f"cannot connect to {ip}:{port}: {text}"[:200]
        )
