"""One bounded connection for the line-protocol probes (IMAP, POP3) and the tcp probe.

    observation = await run_session(target, ip, converse, timeout=5, ca_file=None)

`run_session` connects, makes the TLS handshake first for tls = "implicit", and hands a
`Session` to `converse`, which reads the greeting and says what it must (CAPABILITY, STARTTLS,
LOGOUT, ...). The whole probe (connect, every read, every handshake) fits in `timeout`: reads
stop a little before the deadline so what was seen survives, and `asyncio.timeout` is the
backstop. Network trouble never raises: it becomes the observation's error_kind.

Certificates are checked in two steps, as cockpit.auth.smtp_probe does: the handshake verifies
the chain (system store plus [tls].ca_file; the name is judged later against the configured
host); when that fails, a second conversation within the same deadline completes the handshake
without verifying, to read the certificate the server presents.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit import compat
from cockpit.auth.tlsinfo import inspection_context, trust_context
from cockpit.compat import UTC
from cockpit.service.lines import MAX_LINE_BYTES, LineReader, ProbeStop, wait_left
from cockpit.service.observation import ServiceObservation, TlsSeen
from cockpit.service.tls import seen_from_ssl

GOODBYE_SECONDS = 1.0
"""How long a LOGOUT/QUIT answer is waited for (never past the deadline): it changes nothing."""


@dataclass(frozen=True, slots=True)
class Target:
    """What to probe at each address: the kind, the configured host (what a certificate must
    name), the port and the TLS mode."""

    kind: str
    host: str
    port: int
    tls_mode: str


@dataclass
class Progress:
    """What a conversation has seen so far (kept when it ends early)."""

    code: str | None = None
    reply: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    starttls_offered: bool | None = None
    tls: TlsSeen | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Session:
    """An open connection: a bounded line reader, writes, the TLS upgrade, the goodbye."""

    def __init__(
        self,
        target: Target,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext | None,
        *,
        deadline: float,
        started: float,
        progress: Progress,
    ):
        self.target = target
        self.lines = LineReader(reader, deadline)
        self._writer = writer
        self._context = context
        self._deadline = deadline
        self._started = started
        self.progress = progress

    def greeted(self, code: str, lines: list[str]) -> None:
        """Record the greeting and the time it took from connecting."""
        self.progress.code = code
        self.progress.reply = lines
        self.progress.latency_ms = (time.monotonic() - self._started) * 1000

    def mark_connected(self) -> None:
        """For probes without a greeting (tcp): the latency is the connection (and handshake)."""
        self.progress.latency_ms = (time.monotonic() - self._started) * 1000

    async def send(self, line: str) -> None:
        """One command line (CRLF added); the text is cockpit's own, never a server's."""
        self._writer.write(line.encode("ascii") + b"\r\n")
        try:
            await compat.wait_for(self._writer.drain(), wait_left(self._deadline))
        except TimeoutError:
            raise ProbeStop("timeout", "the server stopped reading") from None
        except ConnectionError as error:
            raise ProbeStop("protocol", f"the connection broke: {error}") from None

    async def start_tls(self) -> None:
        """The handshake on this connection. Raises ssl.SSLCertVerificationError when the
        chain does not verify; other failures stop with "tls"."""
        if self._context is None:
            raise ProbeStop("setup", "TLS asked for without a TLS context")
        try:
            await compat.start_tls(
                self._writer,
                self._context,
                server_hostname=self.target.host,
                ssl_handshake_timeout=wait_left(self._deadline),
            )
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionError, TimeoutError) as error:
            reason = str(error) or type(error).__name__
            raise ProbeStop("tls", f"TLS handshake failed: {reason}") from None
        self.progress.tls = seen_from_ssl(self._writer.get_extra_info("ssl_object"), self._context)

    async def goodbye(self, command: str, is_last: Callable[[str], bool]) -> None:
        """Send `command` (LOGOUT, QUIT) and wait briefly for its answer; nothing it does counts."""
        with contextlib.suppress(ProbeStop, OSError):
            await self.send(command)
            soon = min(self._deadline, time.monotonic() + GOODBYE_SECONDS)
            await self.lines.until(soon).reply(is_last)


Conversation = Callable[[Session], Awaitable[None]]


async def run_session(
    target: Target,
    ip: str,
    converse: Conversation,
    *,
    timeout: float,
    ca_file: Path | None,
    uses_tls: bool,
) -> ServiceObservation:
    """Connect to `ip`:`target.port` and run `converse`, within `timeout` seconds in all.

    `uses_tls`: whether the conversation may need a handshake (implicit TLS or an upgrade);
    only then is `ca_file` read.
    """
    started_at = datetime.now(UTC)
    started = time.monotonic()
    base = ServiceObservation(
        kind=target.kind,
        host=target.host,
        address=ip,
        port=target.port,
        tls_mode=target.tls_mode,
        started_at=started_at,
    )
    context: ssl.SSLContext | None = None
    if uses_tls:
        try:
            context = trust_context(ca_file, check_hostname=False)
        except (OSError, ssl.SSLError) as error:
            reason = f"cannot load [tls].ca_file {ca_file}: {error}"[:200]
            return replace(base, error_kind="setup", error=reason, elapsed_ms=0.0)
    deadline = started + timeout
    progress = Progress()
    verify_reason: str | None = None
    error_kind: str | None = None
    error: str | None = None

    async def attempt(with_context: ssl.SSLContext | None) -> None:
        reader, writer = await asyncio.open_connection(ip, target.port, limit=MAX_LINE_BYTES)
        try:
            session = Session(
                target,
                reader,
                writer,
                with_context,
                deadline=deadline,
                started=started,
                progress=progress,
            )
            if target.tls_mode == "implicit" and with_context is not None:
                await session.start_tls()
            await converse(session)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await compat.wait_for(writer.wait_closed(), 1.0)

    try:
        async with compat.timeout(timeout):
            try:
                await attempt(context)
            except ssl.SSLCertVerificationError as failed:
                verify_reason = str(failed.verify_message or failed.reason or failed)[:200]
                progress = Progress()
                await attempt(inspection_context())
    except ProbeStop as stop:
        error_kind, error = stop.kind, stop.reason
    except TimeoutError:
        error_kind = "timeout"
        error = f"no answer within {timeout:g} s"
        if progress.code is not None:
            error = f"no complete conversation within {timeout:g} s"
    except ssl.SSLError as failed:  # the inspection handshake failed too
        error_kind, error = "tls", f"TLS handshake failed: {failed}"[:200]
    except OSError as failed:
        text = os.strerror(failed.errno) if failed.errno else str(failed) or type(failed).__name__
        error_kind, error = "connect", f"cannot connect to {ip}:{target.port}: {text}"[:200]
    tls = progress.tls
    if verify_reason is not None:
        tls = replace(tls or TlsSeen(), verified=False, verify_error=verify_reason)
    return replace(
        base,
        code=progress.code,
        reply=tuple(progress.reply),
        capabilities=tuple(progress.capabilities),
        latency_ms=progress.latency_ms,
        elapsed_ms=(time.monotonic() - started) * 1000,
        starttls_offered=progress.starttls_offered,
        tls=tls,
        error_kind=error_kind,
        error=error,
        extra=tuple(progress.extra.items()),
    )
