"""SPF of the hop that received the canary, evaluated by pyspf through the cockpit's resolver.

    verdict = await spf_verdict(asker, hop_ip, hop_helo, sender, from_domain=..., aspf="r")

The IP and HELO are what the receiving hop recorded (path_check.receiving_hop); the identity is
the envelope sender (the delivered Return-Path, else the cockpit's own MAIL FROM). check_host
is cockpit.auth.spf_check's: pyspf's lookups are routed per thread through the Asker
(`routed_through`, `DnsLookupAdapter`), so a lookup that could not be made is a temperror,
never a silent "none".

    pass -> ok    fail, permerror -> fail    softfail, neutral, none -> warn    temperror -> unknown

`aligned` in the data says whether the envelope domain aligns with the From domain (relaxed:
the same organizational domain; strict when DMARC says aspf=s), whatever the result.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import aligned
from cockpit.auth.spf_check import check_host
from cockpit.canary.headers import shown
from cockpit.canary.verdict import Verdict
from cockpit.model import Status

__all__ = ["SPF_STATUS", "judge_spf", "spf_verdict"]

SPF_STATUS = {
    "pass": Status.OK,
    "fail": Status.FAIL,
    "permerror": Status.FAIL,
    "softfail": Status.WARN,
    "neutral": Status.WARN,
    "none": Status.WARN,
    "temperror": Status.UNKNOWN,
}


def _domain(sender: str | None) -> str | None:
    if not sender or "@" not in sender:
        return None
    return sender.rpartition("@")[2].rstrip(".").lower() or None


def judge_spf(
    *,
    ip: str | None,
    helo: str | None,
    mail_from_domain: str | None,
    result: str | None,
    explanation: str,
    spf_aligned: bool,
) -> Verdict:
    """The `spf` verdict from check_host's result (None: not evaluated, `explanation` says why)."""
    data: dict[str, Any] = {
        "ip": ip,
        "helo": None if helo is None else shown(helo, 120),
        "mail_from_domain": mail_from_domain,
        "result": result,
        "aligned": spf_aligned,
    }
    if result is None:
        return Verdict(
            Status.UNKNOWN, f"SPF not evaluated: {explanation}", "SPF not evaluated", data
        )
    status = SPF_STATUS.get(result, Status.UNKNOWN)
    who = f"{ip} (HELO {shown(helo or '?', 80)}) for {shown(mail_from_domain or '?', 80)}"
    summary = f"SPF {result}: {who}"
    if status is not Status.OK and explanation:
        summary += f": {shown(explanation, 160)}"
    elif status is Status.OK:
        summary += ", aligned with From" if spf_aligned else ", not aligned with From"
    return Verdict(status, summary, f"SPF {result}", data)


async def spf_verdict(
    asker: Asker,
    ip: str | None,
    helo: str | None,
    sender: str | None,
    *,
    from_domain: str | None,
    aspf: str = "r",
) -> Verdict:
    """check_host for the relaying `ip` and `sender`, through `asker` (see the module doc)."""
    mail_from_domain = _domain(sender)
    spf_aligned = bool(
        from_domain and mail_from_domain and aligned(from_domain, mail_from_domain, aspf)
    )
    if ip is None:
        return judge_spf(
            ip=None,
            helo=helo,
            mail_from_domain=mail_from_domain,
            result=None,
            explanation="the receiving hop recorded no relaying IP address",
            spf_aligned=spf_aligned,
        )
    if sender is None or mail_from_domain is None:
        sender = f"postmaster@{helo}" if helo else None
    if sender is None:
        return judge_spf(
            ip=ip,
            helo=helo,
            mail_from_domain=None,
            result=None,
            explanation="no envelope sender and no HELO name to check",
            spf_aligned=False,
        )
    loop = asyncio.get_running_loop()
    ask = functools.partial(asker.ask_blocking, loop)
    seen = await asyncio.to_thread(check_host, ask, ip, sender, helo or "unknown")
    return judge_spf(
        ip=ip,
        helo=helo,
        mail_from_domain=mail_from_domain,
        result=seen.result,
        explanation=seen.explanation,
        spf_aligned=spf_aligned,
    )
