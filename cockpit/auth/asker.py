"""How auth checks ask DNS: through one chosen server of the DNS layer.

A check is given an `Asker` bound to one server: a recursive resolver (stale or fresh) or an
authoritative server (recursion off). Every lookup goes through `cockpit.dns.query`, so it gets
the same timeouts, retry, TCP fallback and distinct failure states as the propagation sweep.
Libraries that do their own lookups synchronously (pyspf, dkimpy) run in a worker thread and
call `ask_blocking`, which hands the question back to the event loop.

`RunAsker` is an Asker for one auth run only (auth_findings makes a new one per call), which
asks each question once: see its doc.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Observation, ServerSpec
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
        # query() is bounded by its timeout, retry included; the extra second is a backstop.
        return future.result(timeout=self.timeout + 1)


@dataclass(frozen=True, slots=True)
class RunAsker(Asker):
    """The same server, for ONE auth run: create it inside that run and let it go with it.

    A question (exact name and type) asked while the same one is in flight waits for it and
    gets the same Observation; a finished answer that gave a verdict (ANSWER, NODATA, NXDOMAIN)
    is given again. One that gave none (timeout, SERVFAIL, ...) is forgotten, so the next ask
    of it goes to the server again, as it would without this.
    """

    _asked: dict[tuple[str, str], asyncio.Future[Observation]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _unanswered: dict[tuple[str, str], Observation] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def unanswered(self) -> tuple[Observation, ...]:
        """The questions of this run the server gave no verdict on (timeout, SERVFAIL, ...),
        the latest attempt of each: evidence that an `unknown` came from this server."""
        return tuple(self._unanswered.values())

    @classmethod
    def for_one_run(cls, asker: Asker) -> RunAsker:
        return cls(asker.server, asker.timeout, asker.recursion_desired)

    async def ask(self, name: str, rdtype: str) -> Observation:
        key = (name, rdtype)
        shared = self._asked.get(key)
        if shared is None:
            # Asker.ask by name: zero-argument super() does not work in a slots dataclass.
            shared = asyncio.ensure_future(Asker.ask(self, name, rdtype))
            self._asked[key] = shared
            shared.add_done_callback(functools.partial(self._forget_unless_verdict, key))
        # Shielded: one waiter cancelled must not cancel the question for the others.
        return await asyncio.shield(shared)

    def _forget_unless_verdict(
        self, key: tuple[str, str], done: asyncio.Future[Observation]
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            verdict = False
        else:
            verdict = done.result().outcome not in NO_VERDICT_OUTCOMES
            if not verdict:
                self._unanswered[key] = done.result()
        if not verdict and self._asked.get(key) is done:
            del self._asked[key]


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
