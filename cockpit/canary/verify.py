"""Every check of one delivered canary: path, DKIM, SPF and DMARC, plus trusted receivers' own
Authentication-Results. The DNS questions go through the cockpit's Asker.

    checked = await verify_delivered(raw, sent, asker)
    checked.verdicts["dkim"], ["spf"], ["dmarc"], ["path"]      # Verdicts (verdict.py)
    checked.auth_results                                        # authres.py's data

Order: the headers are read once (bounded, headers.py); the DMARC record is looked up first,
because its adkim/aspf decide what "aligned" means for DKIM and SPF; then DKIM (dkimpy, in a
worker thread) and SPF (pyspf, in a worker thread) run at once. The SPF hop is the receiving
hop path_check picks; inbound, when the MX recorded no address, the cockpit's own source
address and HELO stand in (it knows what it connected from).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import aligned
from cockpit.canary.authres import auth_results
from cockpit.canary.dkim_verify import judge_dkim, verify_signatures
from cockpit.canary.dmarc_verify import DmarcPolicy, judge_dmarc, lookup_policy
from cockpit.canary.headers import from_domain, read_headers, single_address
from cockpit.canary.path_check import PathContext, judge_path, receiving_hop
from cockpit.canary.received import received_hops
from cockpit.canary.spf_verify import spf_verdict
from cockpit.canary.verdict import Verdict
from cockpit.config.model import Region

__all__ = ["Checked", "SentFacts", "verify_delivered"]


@dataclass(frozen=True, slots=True)
class SentFacts:
    """What the cockpit knows of how it sent the message."""

    direction: str
    region: Region
    regions: tuple[Region, ...]
    envelope_sender: str
    handed_to: str | None = None
    """The MX (inbound) or submission (outbound) host the message was handed to."""
    own_ip: str | None = None
    """The cockpit's source address on that connection."""
    server_name: str | None = None
    """The name that host gave itself in its EHLO reply (what it writes as `by`)."""
    own_helo: str | None = None
    trusted_authserv_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Checked:
    verdicts: dict[str, Verdict]
    auth_results: list[dict[str, Any]] = field(default_factory=list)


async def verify_delivered(raw: bytes, sent: SentFacts, asker: Asker) -> Checked:
    """The four verdicts and the trusted Authentication-Results of `raw` (see module doc)."""
    headers = read_headers(raw)
    hops = received_hops(headers)
    where = PathContext.of(
        sent.direction,
        sent.region,
        sent.regions,
        handed_to=sent.handed_to,
        own_ip=sent.own_ip,
        server_name=sent.server_name,
    )
    path = judge_path(hops, where)
    hop = receiving_hop(hops, where)
    author_domain = from_domain(headers)
    policy: DmarcPolicy | None = None
    if author_domain is not None:
        policy = await lookup_policy(asker, author_domain)
    adkim = policy.adkim if policy else "r"
    aspf = policy.aspf if policy else "r"
    ip = hop.ip if hop else None
    helo = hop.helo if hop else None
    if sent.direction == "inbound" and ip is None:
        ip, helo = sent.own_ip, helo or sent.own_helo
    sender = single_address(headers.first("return-path")) or sent.envelope_sender
    loop = asyncio.get_running_loop()
    signatures, spf = await asyncio.gather(
        asyncio.to_thread(verify_signatures, raw, asker, loop),
        spf_verdict(asker, ip, helo, sender, from_domain=author_domain, aspf=aspf),
    )
    dkim = judge_dkim(
        signatures,
        from_domain=author_domain,
        direction=sent.direction,
        region=sent.region.name,
        adkim=adkim,
        region_selectors=sent.region.dkim_selectors,
    )
    dkim_pass_aligned = any(
        s.result == "pass" and author_domain and s.d and aligned(author_domain, s.d, adkim)
        for s in signatures
    )
    spf_pass_aligned = spf.data.get("result") == "pass" and bool(spf.data.get("aligned"))
    undecided = [
        name
        for name, temporary in (
            ("DKIM", any(s.result == "temperror" for s in signatures)),
            ("SPF", spf.data.get("result") in ("temperror", None)),
        )
        if temporary
    ]
    dmarc = judge_dmarc(
        policy,
        author_domain,
        dkim_pass_aligned=bool(dkim_pass_aligned),
        spf_pass_aligned=spf_pass_aligned,
        undecided=" and ".join(undecided) or None,
        headers_cut=headers.truncated,
    )
    verdicts = {"dkim": dkim, "spf": spf, "dmarc": dmarc, "path": path}
    return Checked(verdicts, auth_results(headers, sent.trusted_authserv_ids))
