"""smtp and submission: greeting, EHLO, STARTTLS (or implicit TLS), QUIT; never AUTH or MAIL.

The conversation is cockpit.auth.smtp_probe's (the same bounds: one deadline, a timeout per
read, MAX_REPLY_BYTES per reply); this module picks its TLS mode and turns its SmtpResult into
a ServiceObservation:

    tls = "starttls"   STARTTLS when offered (not offered: error_kind "no-starttls")
    tls = "implicit"   TLS from the first byte (submission on 465), no STARTTLS
    tls = "none"       no TLS at all: the conversation ends after EHLO
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from cockpit.auth.smtp_probe import SmtpResult, probe_smtp
from cockpit.compat import UTC
from cockpit.service.observation import ServiceObservation
from cockpit.service.session import Target
from cockpit.service.tls import seen_from_der


async def probe_smtp_service(
    target: Target, ip: str, *, timeout: float, ca_file: Path | None, helo: str
) -> ServiceObservation:
    """One SMTP (or submission) probe of `target` at `ip`, within `timeout` seconds in all."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    result = await probe_smtp(
        target.host,
        ip,
        helo=helo,
        ca_file=ca_file,
        port=target.port,
        timeout=timeout,
        read_timeout=timeout,
        implicit_tls=target.tls_mode == "implicit",
        starttls=target.tls_mode == "starttls",
    )
    return observation_of(target, result, started_at, (time.monotonic() - started) * 1000)


def observation_of(
    target: Target, result: SmtpResult, started_at: datetime, elapsed_ms: float
) -> ServiceObservation:
    """The service view of one SMTP conversation."""
    tls = None
    if result.chain_der:
        tls = seen_from_der(
            result.chain_der[0],
            version=result.tls_version,
            verified=bool(result.verified),
            verify_error=result.verify_error,
        )
    return ServiceObservation(
        kind=target.kind,
        host=target.host,
        address=result.address,
        port=result.port,
        tls_mode=target.tls_mode,
        started_at=started_at,
        code=None if result.banner_code is None else str(result.banner_code),
        reply=result.banner,
        capabilities=result.ehlo,
        latency_ms=result.latency_ms,
        elapsed_ms=elapsed_ms,
        starttls_offered=result.starttls_offered if target.tls_mode == "starttls" else None,
        tls=tls,
        error_kind=result.error_kind,
        error=result.error,
    )
