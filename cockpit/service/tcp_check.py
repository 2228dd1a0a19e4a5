"""tcp: does the port accept a connection (and, with tls = "implicit", complete a handshake)?

Nothing is read or sent: a tcp endpoint names no protocol, so the connection (plus handshake)
is all there is to observe. tls = "starttls" has no meaning without a protocol: it is probed
as a plain connection (the observation keeps the configured mode).
"""

from __future__ import annotations

from pathlib import Path

from cockpit.service.observation import ServiceObservation
from cockpit.service.session import Session, Target, run_session


async def probe_tcp(
    target: Target, ip: str, *, timeout: float, ca_file: Path | None
) -> ServiceObservation:
    """Connect to `ip`:`target.port` (and handshake for implicit TLS) within `timeout` seconds."""
    return await run_session(
        target,
        ip,
        _converse,
        timeout=timeout,
        ca_file=ca_file,
        uses_tls=target.tls_mode == "implicit",
    )


async def _converse(session: Session) -> None:
    session.mark_connected()
