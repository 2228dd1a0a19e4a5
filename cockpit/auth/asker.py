"""How auth checks ask DNS: through one chosen server of the DNS layer.

A check is given an `Asker` bound to one server: a recursive resolver (stale or fresh) or an
authoritative server (recursion off). Every lookup goes through `cockpit.dns.query`, so it gets
the same timeouts, retry, TCP fallback and distinct failure states as the propagation sweep.
Libraries that do their own lookups synchronously (pyspf, dkimpy) run in a worker thread and
call `ask_blocking`, which hands the question back to the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cockpit.dns.observation import Observation, ServerSpec
from cockpit.dns.query import query
from cockpit.model import Finding, Status


@dataclass(frozen=True, slots=True)
class Asker:
    server: ServerSpec
    timeout: float
    recursion_desired: bool = True
    """False when `server` is an authoritative server."""

    async def ask(self, name: str, rdtype: str) -> Observation:
        return await query(
            self.server,
            name,
            rdtype,
            timeout=self.timeout,
            server_name=self.server.name,
            recursion_desired=self.recursion_desired,
        )

    def ask_blocking(self, loop: asyncio.AbstractEventLoop, name: str, rdtype: str) -> Observation:
        """From a worker thread (never from the loop's own thread): ask and wait."""
        future = asyncio.run_coroutine_threadsafe(self.ask(name, rdtype), loop)
        # query() is bounded by (1 + retries) x timeout; the extra second is only a backstop.
        return future.result(timeout=2 * self.timeout + 1)


def auth_finding(
    asker: Asker,
    region: str,
    check: str,
    subject: str,
    status: Status,
    summary: str,
    data: dict[str, Any],
) -> Finding:
    """A finding of the auth area, naming the DNS server its lookups went through."""
    return Finding(
        area="auth",
        check=check,
        subject=subject,
        status=status,
        summary=summary,
        region=region,
        resolver=asker.server.name,
        data=data,
    )
