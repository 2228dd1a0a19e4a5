"""https: one GET of the endpoint's path at one address: status and certificate.

The request is cockpit.auth.https_probe's `probe_https`: SNI and Host are the configured host,
the certificate is verified against the system store plus [tls].ca_file (name included),
redirects are never followed and at most MAX_BODY bytes of body are read (then dropped: only
the size is kept). When the certificate does not verify, probe_https reads it again without
verifying so its facts can be shown; `asyncio.timeout` keeps that second look inside the
probe's time too.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from cockpit import compat
from cockpit.auth.https_probe import HttpsResult, probe_https
from cockpit.compat import UTC
from cockpit.service.observation import ServiceObservation, TlsSeen
from cockpit.service.session import Target

MAX_BODY = 4096
_SECOND_LOOK_MARGIN = 0.1
"""probe_https gets this much less than the probe's time (at most a tenth of it), so it ends
by itself first; `asyncio.timeout` at the full time only cuts its second look short."""


def url_of(target: Target, path: str) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"https://{host}:{target.port}{path if path.startswith('/') else '/' + path}"


async def probe_https_service(
    target: Target, ip: str, path: str, *, timeout: float, ca_file: Path | None
) -> ServiceObservation:
    """GET `path` of `target` at `ip`, within `timeout` seconds in all."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    url = url_of(target, path)
    try:
        async with compat.timeout(timeout):
            inner = timeout - min(_SECOND_LOOK_MARGIN, timeout / 10)
            result = await probe_https(url, ip, ca_file=ca_file, timeout=inner, max_body=MAX_BODY)
    except TimeoutError:
        result = HttpsResult(
            url=url,
            ip=ip,
            host=target.host,
            error_kind="timeout",
            error=f"no complete answer within {timeout:g} s",
        )
    return observation_of(target, result, started_at, (time.monotonic() - started) * 1000)


def observation_of(
    target: Target, result: HttpsResult, started_at: datetime, elapsed_ms: float
) -> ServiceObservation:
    """The service view of one HTTPS request."""
    tls = None
    if result.cert is not None or result.verify_error is not None:
        verified = result.error_kind != "tls"
        tls = TlsSeen(verified=verified, verify_error=result.verify_error, cert=result.cert)
    extra: dict[str, object] = {"url": result.url}
    if result.status is not None:
        extra["body_bytes"] = len(result.body)
        extra["body_capped"] = result.body_too_big
        location = result.header("location")
        if location is not None:
            extra["location"] = location[:256]
    status_line = () if result.status is None else (f"HTTP {result.status}",)
    return ServiceObservation(
        kind=target.kind,
        host=target.host,
        address=result.ip,
        port=target.port,
        tls_mode=target.tls_mode,
        started_at=started_at,
        code=None if result.status is None else f"HTTP {result.status}",
        reply=status_line,
        latency_ms=result.latency_ms,
        elapsed_ms=elapsed_ms,
        tls=tls,
        error_kind=result.error_kind,
        error=result.error,
        extra=tuple(extra.items()),
    )
