"""The delivered message's DKIM signatures, verified by the cockpit itself with dkimpy.

    results = verify_signatures(raw, asker, loop)     # from a worker thread (blocking)
    verdict = judge_dkim(results, from_domain=..., direction=..., region=..., adkim="r")

Each DKIM-Signature (at most MAX_SIGNATURES, topmost first, as dkimpy counts them) is verified
with `dkim.DKIM(raw).verify(idx=i, dnsfunc=...)`; the key lookup goes through the cockpit's
Asker (never the system resolver), as cockpit.auth.dkim_check does. Results (RFC 8601 names):

    pass        the signature verifies
    fail        it does not (the body or the signed headers changed, or another key)
    permerror   a signature or key record that cannot be used: malformed, no key published,
                a revoked or too short key
    temperror   the key lookup could not be made (timeout, SERVFAIL, ...): never a failure

Verdict: an aligned passing signature (d= in the From's organizational domain, or the same
name when DMARC asks for strict alignment) is `ok`; else a failing one is `fail`; else a lookup
that could not tell is `unknown`; a passing signature that is not aligned `warn`s. No signature
at all: `fail` outbound ("left region X unsigned"), `ok` inbound (the cockpit sends inbound
canaries unsigned, so DMARC rests on SPF). Outbound, a signature whose selector is not one of
the region's `dkim_selectors` (when it lists any) `warn`s: another region may have signed it.

dkimpy gets a logger that drops everything, and its exception texts (which can quote keys) are
never shown: only their meaning is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dkim

from cockpit.auth.asker import Asker
from cockpit.auth.dkim_check import RecordError, parse_tag_list
from cockpit.auth.dmarc_check import aligned
from cockpit.canary.headers import shown
from cockpit.canary.verdict import Verdict
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Observation, Outcome
from cockpit.model import Status

__all__ = ["MAX_SIGNATURES", "SignatureResult", "judge_dkim", "verify_signatures"]

MAX_SIGNATURES = 8


def _silent_logger() -> Any:
    import logging

    logger = logging.Logger("cockpit.canary.dkimpy", level=logging.CRITICAL + 1)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


_SILENT = _silent_logger()


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """One signature: its d= and s= (None when unreadable), the result, and why."""

    d: str | None
    s: str | None
    result: str
    reason: str


def _tags(value: bytes) -> tuple[str | None, str | None]:
    try:
        tags = parse_tag_list(value.decode("ascii", "replace")[:8192])
    except RecordError:
        return None, None
    domain = tags.get("d", "").strip().rstrip(".").lower()[:253] or None
    selector = tags.get("s", "").strip().lower()[:253] or None
    return domain, selector


def _after_false(lookups: list[Observation], texts: list[str | None]) -> tuple[str, str]:
    """Why verify() said False: it swallows lookup and key errors, so they are told apart here."""
    if not lookups:
        return "permerror", "the signature cannot be used"
    last = lookups[-1]
    if last.outcome in NO_VERDICT_OUTCOMES:
        return "temperror", f"the key lookup got {last.outcome.value}"
    if last.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or not texts[-1]:
        return "permerror", f"no key published at {shown(last.qname, 120)}"
    try:
        dkim.evaluate_pk(last.qname.encode("ascii", "replace"), texts[-1].encode())
    except Exception:  # noqa: BLE001 - dkimpy's key errors quote the key: only the fact counts
        return "permerror", "the published key record cannot be used"
    return "fail", "the signature does not verify"


def _verify_one(
    verifier: dkim.DKIM, index: int, asker: Asker, loop: asyncio.AbstractEventLoop
) -> tuple[str, str]:
    lookups: list[Observation] = []
    texts: list[str | None] = []

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        qname = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            seen = asker.ask_blocking(loop, qname.rstrip("."), "TXT")
        except Exception as error:  # noqa: BLE001 - the backstop timeout: no verdict
            raise dkim.DnsTimeoutError(type(error).__name__) from None
        lookups.append(seen)
        if seen.ok and seen.answers:
            texts.append(seen.answers[0])
            return seen.answers[0].encode("utf-8", "replace")
        texts.append(None)
        if seen.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
            return None
        raise dkim.DnsTimeoutError(seen.outcome.value)

    try:
        verified = verifier.verify(idx=index, dnsfunc=dnsfunc)
    except dkim.ValidationError as error:
        if "body hash" in str(error):
            return "fail", "the body hash does not match (the body changed)"
        return "permerror", "the signature is malformed or expired"
    except dkim.KeyFormatError:
        return "permerror", "the published key cannot be used (too short or malformed)"
    except dkim.DKIMException:
        return "permerror", "the signature cannot be used"
    except Exception as error:  # noqa: BLE001 - dkimpy's own bugs: could not tell
        if lookups and lookups[-1].outcome in NO_VERDICT_OUTCOMES:
            return "temperror", f"the key lookup got {lookups[-1].outcome.value}"
        return "permerror", f"dkimpy failed ({type(error).__name__})"
    if verified:
        return "pass", "the signature verifies"
    return _after_false(lookups, texts)


def verify_signatures(
    raw: bytes, asker: Asker, loop: asyncio.AbstractEventLoop
) -> list[SignatureResult]:
    """Every signature's result, topmost first (blocking: run it in a worker thread)."""
    try:
        verifier = dkim.DKIM(raw, logger=_SILENT, timeout=asker.timeout)
    except Exception:  # noqa: BLE001 - a message dkimpy cannot even split
        return [SignatureResult(None, None, "permerror", "the message cannot be parsed")]
    values = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(values[:MAX_SIGNATURES]):
        domain, selector = _tags(value)
        result, reason = _verify_one(verifier, index, asker, loop)
        results.append(SignatureResult(domain, selector, result, reason))
    return results


def judge_dkim(
    results: Sequence[SignatureResult],
    *,
    from_domain: str | None,
    direction: str,
    region: str,
    adkim: str = "r",
    region_selectors: Sequence[str] = (),
) -> Verdict:
    """The `dkim` verdict (see the module docstring)."""

    def is_aligned(result: SignatureResult) -> bool:
        return bool(from_domain and result.d and aligned(from_domain, result.d, adkim))

    data: dict[str, Any] = {
        "signatures": [
            {
                "d": None if r.d is None else shown(r.d, 120),
                "s": None if r.s is None else shown(r.s, 120),
                "result": r.result,
                "aligned": is_aligned(r),
            }
            for r in results
        ],
        "from_domain": from_domain,
    }
    region_shown = shown(region, 60)

    def named(result: SignatureResult) -> str:
        return f"d={shown(result.d or '?', 80)} s={shown(result.s or '?', 60)}"

    def verdict(status: Status, summary: str, brief: str) -> Verdict:
        return Verdict(status, summary, brief, data)

    passing = [r for r in results if r.result == "pass" and is_aligned(r)]
    failing = [r for r in results if r.result in ("fail", "permerror")]
    undecided = [r for r in results if r.result == "temperror"]
    if passing:
        best = passing[0]
        domain = shown(best.d or "?", 80)
        foreign = direction == "outbound" and region_selectors and best.s not in region_selectors
        if foreign:
            return verdict(
                Status.WARN,
                f"DKIM pass ({named(best)}, aligned) but s={shown(best.s or '?', 60)} is not a"
                f" selector of region {region_shown}: another region may have signed it",
                f"DKIM pass with a selector not of region {region_shown}",
            )
        return verdict(
            Status.OK,
            f"DKIM pass: {named(best)}, aligned with From {shown(from_domain or '?', 80)}",
            f"DKIM pass ({domain}, aligned)",
        )
    if failing:
        worst = failing[0]
        return verdict(
            Status.FAIL,
            f"DKIM {worst.result}: {named(worst)}: {worst.reason}",
            f"DKIM {worst.result} ({shown(worst.d or '?', 80)}: {worst.reason})",
        )
    if undecided:
        first = undecided[0]
        return verdict(
            Status.UNKNOWN,
            f"DKIM could not be verified: {named(first)}: {first.reason}",
            f"DKIM unknown ({first.reason})",
        )
    if results:
        first = results[0]
        return verdict(
            Status.WARN,
            f"DKIM pass only for {named(first)}, not aligned with From"
            f" {shown(from_domain or '?', 80)}: DMARC cannot rest on it",
            f"DKIM pass but not aligned ({shown(first.d or '?', 80)})",
        )
    if direction == "outbound":
        return verdict(
            Status.FAIL,
            f"no DKIM signature: the message left region {region_shown} unsigned",
            f"DKIM: left region {region_shown} unsigned",
        )
    return verdict(
        Status.OK,
        "not DKIM-signed, as sent (the cockpit sends inbound canaries unsigned; DMARC rests on"
        " SPF)",
        "unsigned as sent",
    )
