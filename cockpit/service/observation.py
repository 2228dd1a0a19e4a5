"""What one service probe at one address saw: plain, bounded data, never interpreted here.

Everything a server sent (greeting, capability lines) is untrusted: it is kept as text, cut to
MAX_KEPT_LINES lines of MAX_KEPT_CHARS characters each, and made safe only where it is shown
(`cockpit.safe_text.clean`, in judge.py's summaries and the display layer).

error_kind (None when the conversation went as far as it should):
    setup             cockpit could not try (a [tls] ca_file that cannot be loaded)
    connect           the connection was refused or could not be made
    timeout           no (complete) answer within the probe's time
    rejected          the greeting (or EHLO, CAPABILITY) was a refusal: 4xx/5xx, * BYE, -ERR
    protocol          what came back is not the protocol, or is too much of it
    no-starttls       TLS was asked for with STARTTLS/STLS and the server does not offer it
    starttls-refused  the server offered STARTTLS, then refused it
    tls               the TLS handshake itself failed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.auth.tlsinfo import CertFacts

MAX_KEPT_LINES = 12
"""Reply lines kept per reply in a finding's data."""
MAX_KEPT_CHARS = 256
"""Characters kept per reply line in a finding's data."""


def kept_lines(lines: tuple[str, ...] | list[str]) -> list[str]:
    """At most MAX_KEPT_LINES lines, each cut to MAX_KEPT_CHARS characters (still untrusted)."""
    return [line[:MAX_KEPT_CHARS] for line in lines[:MAX_KEPT_LINES]]


@dataclass(frozen=True, slots=True)
class TlsSeen:
    """One completed TLS handshake: what the server presented and whether it verified."""

    version: str | None = None
    verified: bool = False
    """The chain verified against the system store plus [tls].ca_file (the name is judged
    separately, against the configured host)."""
    verify_error: str | None = None
    cert: CertFacts | None = None
    """The leaf certificate; None when none was presented or it could not be read."""
    ip_names: tuple[str, ...] = ()
    """IP addresses in the certificate's subjectAltName (for an endpoint given by address)."""


@dataclass(frozen=True, slots=True)
class ServiceObservation:
    """One probe of one service at one address."""

    kind: str
    """smtp, submission, imap, pop3, https or tcp."""
    host: str
    """The configured host name (or IP literal): what the certificate must name."""
    address: str
    port: int
    tls_mode: str
    """starttls, implicit or none."""
    started_at: datetime
    """UTC, when the probe started."""
    code: str | None = None
    """The greeting's code: "220", "* OK", "+OK", "HTTP 200"; None when none came."""
    reply: tuple[str, ...] = ()
    """The greeting (or HTTP status line and a few headers), bounded."""
    capabilities: tuple[str, ...] = ()
    """The EHLO, CAPABILITY or CAPA reply, bounded."""
    latency_ms: float | None = None
    """From connecting to the end of the greeting (tcp: to the connection, and handshake)."""
    elapsed_ms: float | None = None
    """The whole probe."""
    starttls_offered: bool | None = None
    """None when not asked (or the conversation ended first)."""
    tls: TlsSeen | None = None
    """None when no handshake completed."""
    error_kind: str | None = None
    error: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    """Kind-specific facts for the data (https: body size, redirect target)."""

    @property
    def greeted(self) -> bool:
        return self.code is not None

    def data(self) -> dict[str, Any]:
        """The raw observation for a Finding's data (bounded; certificate facts are added by
        the judge, which knows the time)."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "tls_mode": self.tls_mode,
            "code": self.code,
            "reply": kept_lines(self.reply),
        }
        if self.capabilities:
            data["capabilities"] = kept_lines(self.capabilities)
        if self.latency_ms is not None:
            data["latency_ms"] = round(self.latency_ms, 1)
        if self.elapsed_ms is not None:
            data["elapsed_ms"] = round(self.elapsed_ms, 1)
        if self.starttls_offered is not None:
            data["starttls_offered"] = self.starttls_offered
        if self.tls is not None:
            data["tls"] = {
                "version": self.tls.version,
                "chain_verified": self.tls.verified,
                "verify_error": self.tls.verify_error,
            }
        data["error_kind"] = self.error_kind
        data["error"] = self.error
        data.update(self.extra)
        return data
