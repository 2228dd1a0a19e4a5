"""PTR per sending IP: forward-confirmed reverse DNS that matches the region's HELO name.

For every sending IP of a region, `ptr_findings` asks one server (an `Asker`) and reports one
Finding (area "auth", check "ptr", subject the IP):

    no PTR record                               fail   receivers reject or junk such mail
    no PTR name resolves back to the IP         fail   not forward-confirmed (FCrDNS)
    confirmed, and a PTR name is the HELO name,
      or the HELO name resolves to the IP       ok
    confirmed, but the HELO name does not match warn
    a lookup that could not tell                unknown (timeout, SERVFAIL, ...), never fail
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import dns.exception
import dns.reversename

from cockpit.auth.asker import Asker, auth_finding
from cockpit.config.model import Config, Region
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Finding, Status

MAX_PTR_NAMES = 8
"""PTR names followed per IP; more are reported but not resolved."""


async def ptr_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """One `ptr` Finding per sending IP of `region` (see the module doc)."""
    if not region.sending_ips:
        return [
            auth_finding(
                asker,
                region.name,
                "ptr",
                region.name,
                Status.UNKNOWN,
                f"no sending IPs configured for region {region.name}: nothing checked",
                {"domain": config.domain.name},
            )
        ]
    checks = [_ip_finding(region, ip, asker) for ip in region.sending_ips]
    return list(await asyncio.gather(*checks))


async def _ip_finding(region: Region, ip: str, asker: Asker) -> Finding:
    data: dict[str, Any] = {"ip": ip, "helo": region.helo}

    def finding(status: Status, summary: str) -> Finding:
        return auth_finding(asker, region.name, "ptr", ip, status, f"{ip}: {summary}", data)

    try:
        address = ipaddress.ip_address(ip)
        reverse = dns.reversename.from_address(address.compressed)
    except (ValueError, dns.exception.DNSException):
        return finding(Status.UNKNOWN, "not an IP address cockpit can look up")
    rdtype = "A" if address.version == 4 else "AAAA"
    reverse_name = reverse.to_text(omit_final_dot=True)
    data["reverse_name"] = reverse_name
    seen = await asker.ask(reverse_name, "PTR")
    data["outcome"] = seen.outcome.value
    if seen.outcome in NO_VERDICT_OUTCOMES:
        return finding(Status.UNKNOWN, f"could not look up the PTR record: {seen.reason}")
    if not seen.ok or not seen.answers:
        return finding(
            Status.FAIL, "no PTR record: receivers reject or junk mail from an IP without one"
        )
    names = list(seen.answers[:MAX_PTR_NAMES])
    data["ptr_names"] = list(seen.answers)
    forwards = await asyncio.gather(*(asker.ask(name, rdtype) for name in names))
    confirmed = [name for name, fwd in zip(names, forwards, strict=True) if ip in fwd.answers]
    data["forward"] = {
        name: list(fwd.answers) if fwd.ok else fwd.outcome.value
        for name, fwd in zip(names, forwards, strict=True)
    }
    data["forward_confirmed"] = confirmed
    if not confirmed:
        undecided = [fwd for fwd in forwards if fwd.outcome in NO_VERDICT_OUTCOMES]
        if undecided:
            reason = f"{undecided[0].qname}/{rdtype}: {undecided[0].reason}"
            return finding(Status.UNKNOWN, f"could not confirm the PTR name: {reason}")
        shown = ", ".join(names[:3])
        return finding(
            Status.FAIL,
            f"PTR {shown} does not resolve back to {ip} (not forward-confirmed)",
        )
    ptr_name = confirmed[0]
    helo = region.helo
    if helo is None:
        data["helo_match"] = None
        return finding(Status.OK, f"PTR {ptr_name} forward-confirmed (no HELO name configured)")
    if helo in confirmed:
        data["helo_match"] = "ptr"
        return finding(Status.OK, f"PTR {ptr_name} forward-confirmed and equal to the HELO name")
    helo_seen = await asker.ask(helo, rdtype)
    data["helo_addresses"] = list(helo_seen.answers) if helo_seen.ok else helo_seen.outcome.value
    if helo_seen.ok and ip in helo_seen.answers:
        data["helo_match"] = "forward"
        return finding(
            Status.OK, f"PTR {ptr_name} forward-confirmed; HELO name {helo} resolves to {ip}"
        )
    if helo_seen.outcome in NO_VERDICT_OUTCOMES:
        return finding(
            Status.UNKNOWN,
            f"PTR {ptr_name} forward-confirmed; could not look up HELO name {helo}: "
            f"{helo_seen.reason}",
        )
    data["helo_match"] = False
    return finding(
        Status.WARN,
        f"PTR {ptr_name} forward-confirmed but the HELO name {helo} neither equals it "
        f"nor resolves to {ip}: some receivers score this as spam",
    )
