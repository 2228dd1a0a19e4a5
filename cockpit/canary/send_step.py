"""The sending step of a canary run: which hosts, in which order, and what their answers mean.

    sent = await send_inbound(canary, region, mx_port, asker, sending, deadline=...)
    sent = await send_outbound(canary, asker, sending, login, deadline=...)
    sent.result, sent.status, sent.error, sent.handed_to

Names are looked up through the cockpit's Asker (an IP literal needs none), never the system
resolver. Inbound tries the region's MX hosts in config order, each address of each (at most
MAX_ADDRESSES), as a remote sender would: a host that cannot be reached, does not greet or
breaks the TLS handshake is passed over for the next; a 4xx/5xx reply to EHLO, MAIL, RCPT or
DATA is the answer (the run fails with it). Outbound sends through the canary's submission host.

    accepted                                      status None (the run goes on)
    refused at SMTP; no host accepted             fail, with the reply or every host's reason
    a name lookup that could not tell and no
    host refused or accepted                      unknown (the cockpit could not try them all)

The blocking conversations run in worker threads, each under a Watchdog whose deadline is the
whole step's; cancelling the run stops the thread's conversation at once.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cockpit.auth.asker import Asker
from cockpit.auth.https_probe import resolve_host
from cockpit.canary.headers import shown
from cockpit.canary.smtp_send import (
    Login,
    Sending,
    SendResult,
    SmtpHop,
    send_to_mx,
    send_to_submission,
)
from cockpit.canary.watchdog import Watchdog
from cockpit.config.model import Canary, Region
from cockpit.dns.observation import Outcome
from cockpit.model import Status

__all__ = [
    "MAX_ADDRESSES",
    "HostLookup",
    "SendOutcome",
    "in_thread",
    "look_up",
    "send_inbound",
    "send_outbound",
]

MAX_ADDRESSES = 2
"""Addresses tried per host (IPv4 first, as the lookup gives them)."""

T = TypeVar("T")


async def in_thread(watch: Watchdog, work: Callable[[Watchdog], T]) -> T:
    """`work(watch)` in a worker thread under `watch`; cancelled, it stops the conversation."""
    with watch:
        try:
            return await asyncio.to_thread(work, watch)
        except asyncio.CancelledError:
            watch.stop()
            raise


@dataclass(frozen=True, slots=True)
class HostLookup:
    host: str
    addresses: tuple[str, ...] = ()
    unknown: str | None = None
    """Why the lookup could not tell (None: it could)."""
    missing: str | None = None
    """Why there is no address (NXDOMAIN, no A/AAAA)."""
    asked: bool = False
    """A DNS question went out (False for an IP literal)."""


async def look_up(asker: Asker, host: str) -> HostLookup:
    """The addresses of `host` through `asker`; an IP literal is its own address."""
    try:
        return HostLookup(host, (str(ipaddress.ip_address(host)),))
    except ValueError:
        pass
    found = await resolve_host(asker, host)
    if found.unknown_reason is not None:
        return HostLookup(host, unknown=shown(found.unknown_reason, 160), asked=True)
    if not found.addresses:
        seen = await asker.ask(host, "A")  # a run's RunAsker answers this from memory
        missing = "does not exist" if seen.outcome is Outcome.NXDOMAIN else "has no address"
        return HostLookup(host, missing=f"{host} {missing}", asked=True)
    return HostLookup(host, found.addresses[:MAX_ADDRESSES], asked=True)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: SendResult | None
    """The accepting (or refusing) conversation; the last one tried when none answered."""
    status: Status | None = None
    """None: accepted. FAIL: refused, or no host took it. UNKNOWN: could not try them all."""
    error: str | None = None
    handed_to: str | None = None
    asked_dns: bool = False


def _outcome(
    tries: list[str],
    unknown: list[str],
    last: SendResult | None,
    what: str,
    asked: bool,
) -> SendOutcome:
    reasons = "; ".join([*unknown, *tries][:6]) or "nothing to try"
    if unknown:
        return SendOutcome(
            last, Status.UNKNOWN, f"could not try every {what}: {reasons}", None, asked
        )
    return SendOutcome(last, Status.FAIL, reasons, None, asked)


async def send_inbound(
    region: Region,
    port: int,
    asker: Asker,
    sending: Sending,
    *,
    deadline: float,
) -> SendOutcome:
    """The message to the first MX host of `region` that takes it (see the module docstring)."""
    tries: list[str] = []
    unknown: list[str] = []
    last: SendResult | None = None
    asked = False
    for mx in region.mx:
        found = await look_up(asker, mx)
        asked = asked or found.asked
        if found.unknown is not None:
            unknown.append(f"could not look up {mx}: {found.unknown}")
            continue
        if found.missing is not None:
            tries.append(found.missing)
            continue
        for ip in found.addresses:
            hop = SmtpHop(mx, ip, port)
            result = await in_thread(
                Watchdog(deadline), functools.partial(_to_mx, hop=hop, sending=sending)
            )
            last = result
            if result.accepted or result.error_kind == "refused":
                status = None if result.accepted else Status.FAIL
                error = None if result.accepted else f"refused by {mx} [{ip}]: {result.error}"
                return SendOutcome(result, status, error, mx, asked)
            tries.append(f"{mx} [{ip}]:{port}: {result.error}")
    outcome = _outcome(tries, unknown, last, "MX host", asked)
    if outcome.status is Status.FAIL:
        name = shown(region.name, 60)
        return SendOutcome(
            last, Status.FAIL, f"no MX of region {name} accepted: {outcome.error}", None, asked
        )
    return outcome


def _to_mx(watch: Watchdog, *, hop: SmtpHop, sending: Sending) -> SendResult:
    return send_to_mx(hop, sending, watch=watch)


def _to_submission(watch: Watchdog, *, hop: SmtpHop, sending: Sending, login: Login) -> SendResult:
    return send_to_submission(hop, sending, login, watch=watch)


async def send_outbound(
    canary: Canary,
    asker: Asker,
    sending: Sending,
    login: Login,
    *,
    deadline: float,
) -> SendOutcome:
    """The message through the canary's submission service, logged in."""
    assert canary.submission_host is not None and canary.submission_port is not None
    host, port = canary.submission_host, canary.submission_port
    found = await look_up(asker, host)
    if found.unknown is not None:
        return SendOutcome(
            None, Status.UNKNOWN, f"could not look up {host}: {found.unknown}", None, found.asked
        )
    if found.missing is not None:
        return SendOutcome(None, Status.FAIL, found.missing, None, found.asked)
    tries: list[str] = []
    last: SendResult | None = None
    for ip in found.addresses:
        hop = SmtpHop(host, ip, port, tls=canary.submission_tls or "starttls")
        work = functools.partial(_to_submission, hop=hop, sending=sending, login=login)
        result = await in_thread(Watchdog(deadline), work)
        last = result
        if result.accepted:
            return SendOutcome(result, None, None, host, found.asked)
        if result.error_kind in ("refused", "tls", "protocol"):
            error = f"submission {host} [{ip}]:{port}: {result.error}"
            return SendOutcome(result, Status.FAIL, error, host, found.asked)
        tries.append(f"{host} [{ip}]:{port}: {result.error}")
    return SendOutcome(last, Status.FAIL, "; ".join(tries), None, found.asked)
