"""DMARC of the delivered canary: the From domain's policy, and alignment from DKIM and SPF.

    policy = await lookup_policy(asker, from_domain)          # the record, or why there is none
    verdict = judge_dmarc(policy, from_domain, dkim_pass_aligned=..., spf_pass_aligned=...)

The record is looked up through the cockpit's Asker at _dmarc.FROM-DOMAIN, then at the
organizational domain's (RFC 7489 6.6.3; the organizational domain and the record parser are
cockpit.auth.dmarc_check's). The sp= of an organizational record applies to a subdomain.
DMARC passes when a DKIM signature passes aligned or SPF passes aligned (RFC 7489 4.2; the
alignment modes are the record's adkim/aspf).

    pass                                   ok
    fail, p=reject or p=quarantine         fail
    fail, p=none                           warn (nothing is enforced)
    no record (or one receivers ignore)    warn
    the lookup could not tell; or not passing while DKIM or SPF could not tell   unknown
    no single From address                 fail (DMARC cannot pass)
    no From read before the header cut     unknown (the cockpit did not see it)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import (
    DmarcRecord,
    DmarcSyntaxError,
    organizational_domain,
    parse_dmarc,
)
from cockpit.canary.headers import shown
from cockpit.canary.verdict import Verdict
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Status

__all__ = ["DmarcPolicy", "judge_dmarc", "lookup_policy"]

_DMARC_RECORD = re.compile(r"\s*v\s*=\s*dmarc1\s*(;|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """What the lookup found: a record and the policy that applies, or why there is none."""

    record: DmarcRecord | None
    policy: str | None
    """p=, or sp= for a subdomain under an organizational record; None without a record."""
    unknown_reason: str | None = None
    """Set when a lookup could not tell (timeout, SERVFAIL, ...)."""
    missing_reason: str | None = None
    """Why receivers apply no DMARC (no record, several, a broken one)."""

    @property
    def adkim(self) -> str:
        return self.record.adkim if self.record else "r"

    @property
    def aspf(self) -> str:
        return self.record.aspf if self.record else "r"


async def lookup_policy(asker: Asker, from_domain: str) -> DmarcPolicy:
    """The DMARC policy for mail From `from_domain` (see the module docstring)."""
    names = [f"_dmarc.{from_domain}"]
    org = organizational_domain(from_domain)
    if org != from_domain:
        names.append(f"_dmarc.{org}")
    for index, name in enumerate(names):
        seen = await asker.ask(name, "TXT")
        if seen.outcome in NO_VERDICT_OUTCOMES:
            return DmarcPolicy(None, None, unknown_reason=f"{name}: {seen.reason}")
        records = [text for text in seen.answers if _DMARC_RECORD.match(text)] if seen.ok else []
        if len(records) > 1:
            return DmarcPolicy(
                None, None, missing_reason=f"{len(records)} records at {name} (ignored)"
            )
        if not records:
            continue
        try:
            record = parse_dmarc(records[0])
        except DmarcSyntaxError as error:
            return DmarcPolicy(
                None, None, missing_reason=f"the record at {name} is invalid ({error})"
            )
        subdomain = index > 0 and record.subdomain_policy is not None
        return DmarcPolicy(record, record.subdomain_policy if subdomain else record.policy)
    return DmarcPolicy(None, None, missing_reason=f"no DMARC record at {' or '.join(names)}")


def judge_dmarc(
    policy: DmarcPolicy | None,
    from_domain: str | None,
    *,
    dkim_pass_aligned: bool,
    spf_pass_aligned: bool,
    undecided: str | None = None,
    headers_cut: bool = False,
) -> Verdict:
    """The `dmarc` verdict. `undecided`: which of DKIM and SPF could not tell, if any;
    `headers_cut`: the header block was cut before the end (a From may be past the cut)."""
    data: dict[str, Any] = {
        "from_domain": from_domain,
        "policy": None if policy is None else policy.policy,
        "result": None,
        "dkim_aligned": dkim_pass_aligned,
        "spf_aligned": spf_pass_aligned,
    }

    def verdict(status: Status, result: str, summary: str, brief: str) -> Verdict:
        data["result"] = result
        return Verdict(status, summary, brief, data)

    if from_domain is None and headers_cut:
        return verdict(
            Status.UNKNOWN,
            "none",
            "the delivered message's header block is too big to read whole: no From address"
            " was read before the cut, so DMARC was not judged",
            "DMARC unknown (headers cut)",
        )
    if from_domain is None or policy is None:
        return verdict(
            Status.FAIL,
            "fail",
            "the delivered message has no single From address: DMARC cannot pass",
            "DMARC fail (no single From)",
        )
    domain = shown(from_domain, 80)
    if policy.unknown_reason is not None:
        reason = shown(policy.unknown_reason, 160)
        return verdict(
            Status.UNKNOWN,
            "temperror",
            f"DMARC of {domain} could not be looked up: {reason}",
            "DMARC unknown (lookup failed)",
        )
    passed = dkim_pass_aligned or spf_pass_aligned
    through = " and ".join(
        name for name, ok in (("DKIM", dkim_pass_aligned), ("SPF", spf_pass_aligned)) if ok
    )
    if policy.record is None:
        missing = shown(policy.missing_reason or "no record", 160)
        outcome = f" (aligned {through} pass)" if passed else ""
        return verdict(
            Status.WARN,
            "none",
            f"no DMARC policy for {domain}: {missing}; receivers apply none{outcome}",
            "no DMARC record",
        )
    applied = f"p={policy.policy}"
    if passed:
        return verdict(
            Status.OK,
            "pass",
            f"DMARC pass for {domain} ({applied}): aligned {through} pass",
            "DMARC pass",
        )
    if undecided is not None:
        return verdict(
            Status.UNKNOWN,
            "temperror",
            f"DMARC of {domain} ({applied}) not judged: {undecided} could not tell",
            "DMARC unknown",
        )
    status = Status.WARN if policy.policy == "none" else Status.FAIL
    enforced = "" if policy.policy == "none" else f": receivers {_action(policy.policy)} it"
    return verdict(
        status,
        "fail",
        f"DMARC fail for {domain} ({applied}): neither DKIM nor SPF passed aligned{enforced}",
        f"DMARC fail ({applied})",
    )


def _action(policy: str | None) -> str:
    return "reject" if policy == "reject" else "quarantine"
