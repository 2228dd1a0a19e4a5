"""The SPF record judged as a whole (RFC 7208): the rules behind the `spf-lookups` verdict.

Our reading, rule by rule (the worst one found names the verdict; `data` keeps them all):

fail
  - no SPF record at the domain; several SPF records at one name;
  - more than 10 lookup terms, or more than 2 void lookups, in the worst case over every branch
    (4.6.4). Targets with macros (`exists:%{i}._spf.%{d}`, `a:%{d}`) are expanded for each of
    the region's sending IPs (pyspf's own expansion) and asked: an IP whose evaluation would
    pass the void limit fails the record, naming the void term and what it expanded to;
  - an include or redirect loop;
  - an include: or redirect= target without an SPF record (or that does not exist): check_host
    gives permerror for every sender that reaches it (5.2, 6.1);
  - a domain-spec that is not one (7.1): its last label must be a top label (letters, digits
    and inner hyphens, not all digits) or a macro, e.g. `include:_spf.example.com~all`, two
    strings joined without a space, is a syntax error: permerror, and the name is not asked;
  - an unknown or malformed term;
  - `+all` as the record's final word (its own, or that of the record its redirect= leads to),
    or in an included record (the include then matches every host): any host passes SPF, and
    passes DMARC through alignment (RFC 7489 4.2).
warn
  - `?all` as the final word: a forged message is neutral, never rejected;
  - no `all` and no redirect=: the default result is neutral (4.7);
  - 9 or 10 lookups (one include more breaks the record).
unknown
  - a question could not be answered (and nothing seen already breaks a limit); a tree too large.
ok otherwise (`~all` and `-all` alike).

A redirect= next to an `all` is never followed (6.1); the summary says so whatever the verdict.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import spf  # type: ignore[import-untyped]  # pyspf ships no type hints

from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Status

if TYPE_CHECKING:
    from cockpit.auth.spf_walk import Walk

MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
WARN_LOOKUPS = 9

_TOPLABEL = re.compile(r"(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9])\Z", re.IGNORECASE)
_MACRO_EXPAND = re.compile(r"%\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}|%%|%_|%-", re.IGNORECASE)
_MACRO_END = re.compile(r"%\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}\Z|%%\Z|%_\Z|%-\Z", re.IGNORECASE)

Ask = Callable[[str, str], Awaitable[Observation | None]]


def domain_spec_problem(spec: str) -> str | None:
    """Why `spec` is not an RFC 7208 7.1 domain-spec, or None when it is one."""
    text = spec.rstrip(".") if not spec.endswith("%.") else spec
    if not text:
        return "it is empty"
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        return "it holds a space or a control character"
    if "%" in text:
        rest = _MACRO_EXPAND.sub("", text)
        if "%" in rest:
            return "it holds an unknown or malformed macro"
        if _MACRO_END.search(spec.rstrip(".")):
            return None
    last = text.rsplit(".", 1)
    if len(last) == 1:
        return f"{text!r} has no top label (a domain-spec ends in '.' and a top label)"
    if not _TOPLABEL.match(last[1]):
        return f"its last label {last[1]!r} is not a top label (letters, digits, inner hyphens)"
    return None


def final_word(walk: Walk, domain: str) -> tuple[str | None, list[str]]:
    """The qualifier of the `all` that ends evaluation of `domain`'s record (following
    redirect= only where the record has no `all`), and the redirect chain taken."""
    chain: list[str] = []
    current = domain
    while current not in walk.all_of and current in walk.redirect_of:
        target = walk.redirect_of[current]
        if target in chain or target == domain or len(chain) > 10:
            break
        chain.append(target)
        current = target
    return walk.all_of.get(current), chain


async def macro_voids(
    walk: Walk, ask: Ask, domain: str, ips: tuple[str, ...], helo: str
) -> dict[str, list[str]]:
    """For each sending IP, the macro terms that expand to a void lookup, asked all at once."""
    sender = f"postmaster@{domain}"
    plans: list[tuple[str, str, str, str]] = []  # (ip, term label, name, rdtype)
    for ip in ips:
        query = spf.query(i=ip, s=sender, h=helo)
        for name, target, where in walk.macro_terms:
            query.d = where
            try:
                expanded = query.expand(target).rstrip(".").lower()
            except (spf.PermError, spf.TempError, ValueError) as error:
                walk.problems.append(f"{where}: {name}:{target} cannot be expanded: {error}")
                continue
            rdtype = "MX" if name == "mx" else "A" if name == "exists" or ":" not in ip else "AAAA"
            plans.append((ip, f"{name}:{target} (in {where}) -> {expanded}", expanded, rdtype))
    seen = await asyncio.gather(*(ask(name, rdtype) for _ip, _label, name, rdtype in plans))
    voids: dict[str, list[str]] = {ip: [] for ip in ips}
    for (ip, label, name, rdtype), observation in zip(plans, seen, strict=True):
        if observation is None:
            continue
        if observation.outcome in (Outcome.NODATA, Outcome.NXDOMAIN) or (
            observation.outcome is Outcome.ANSWER and not observation.answers
        ):
            voids[ip].append(f"{label}: no {rdtype} records")
        elif observation.outcome is not Outcome.ANSWER:
            reason = f"{name}/{rdtype}: {observation.reason}"
            if reason not in walk.unanswered:
                walk.unanswered.append(reason)
    return {ip: terms for ip, terms in voids.items() if terms}


def record_verdict(domain: str, walk: Walk) -> tuple[Status, str]:
    """The whole record's status and one-line summary (see the module docstring)."""
    status, summary = _verdict(domain, walk)
    ignored = [d for d, target in walk.redirect_of.items() if d in walk.all_of]
    if ignored:
        where = ignored[0]
        summary += (
            f"; redirect={walk.redirect_of[where]} in {where} is ignored: an 'all' comes first"
        )
    return status, summary


def _verdict(domain: str, walk: Walk) -> tuple[Status, str]:
    bound = " at least" if walk.truncated or walk.unanswered else ""
    if domain in walk.missing_records and walk.lookups == 0:
        return Status.FAIL, f"{domain} has no SPF record"
    if walk.lookups > MAX_LOOKUPS:
        via = walk.breaking_path[0]
        detail = "" if len(walk.breaking_path) == 1 else f" (lookup 11 is {walk.breaking_term})"
        return Status.FAIL, (
            f"SPF of {domain} needs{bound} {walk.lookups} DNS lookups (limit {MAX_LOOKUPS}): "
            f"{via} takes it past the limit{detail}"
        )
    if walk.loops:
        kind = "a redirect" if walk.loops[0].startswith("redirect") else "an include"
        return Status.FAIL, f"SPF of {domain} has {kind} loop: {walk.loops[0]}"
    if walk.void_lookups > MAX_VOID_LOOKUPS:
        return Status.FAIL, (
            f"SPF of {domain} has{bound} {walk.void_lookups} void lookups "
            f"(limit {MAX_VOID_LOOKUPS}): {', '.join(walk.void_terms)}"
        )
    worst = _worst_macro_voids(walk)
    if worst is not None:
        ip, terms = worst
        total = walk.void_lookups + len(terms)
        return Status.FAIL, (
            f"SPF of {domain} has {total} void lookups for {ip} (limit {MAX_VOID_LOOKUPS}): "
            f"{', '.join([*walk.void_terms, *terms])}"
        )
    if walk.missing_records:
        missing = walk.missing_records[0]
        return Status.FAIL, (
            f"SPF of {domain} reaches {missing}, which has no SPF record: permerror for every "
            "sender that gets there"
        )
    if walk.problems:
        return Status.FAIL, f"SPF of {domain} is broken: {walk.problems[0]}"
    qualifier, redirects = final_word(walk, domain)
    via = f" (through redirect={redirects[-1]})" if redirects else ""
    if qualifier == "+":
        return Status.FAIL, (
            f"SPF of {domain} ends in +all{via}: any host passes SPF, and DMARC through alignment"
        )
    passing = [d for d, q in walk.all_of.items() if q == "+" and d != domain and d not in redirects]
    if passing:
        return Status.FAIL, (
            f"SPF of {domain} includes {passing[0]}, which ends in +all: the include matches "
            "any host, so any host passes"
        )
    if walk.unanswered:
        so_far = f" (at least {walk.lookups} so far)" if walk.lookups else ""
        return Status.UNKNOWN, f"SPF lookup count of {domain} unknown{so_far}: {walk.unanswered[0]}"
    if walk.truncated:
        return Status.UNKNOWN, (
            f"SPF tree of {domain} too large to walk (at least {walk.lookups} lookups)"
        )
    if qualifier == "?":
        return Status.WARN, (
            f"SPF of {domain} ends in ?all{via}: forged mail is neutral, never rejected"
        )
    if qualifier is None:
        return Status.WARN, (
            f"SPF of {domain} has no 'all' and no redirect=: other hosts get the default "
            "result, neutral (never rejected)"
        )
    if walk.lookups >= WARN_LOOKUPS:
        return Status.WARN, (
            f"SPF of {domain} needs {walk.lookups} of {MAX_LOOKUPS} allowed DNS lookups"
        )
    summary = (
        f"SPF of {domain} needs {walk.lookups} of {MAX_LOOKUPS} DNS lookups, "
        f"{walk.void_lookups} void"
    )
    if walk.macro_terms and not walk.macro_ips:
        summary += " (macro targets not counted: the region lists no sending IPs)"
    return Status.OK, summary


def _worst_macro_voids(walk: Walk) -> tuple[str, list[str]] | None:
    if not walk.macro_voids:
        return None
    ip, terms = max(walk.macro_voids.items(), key=lambda item: len(item[1]))
    if walk.void_lookups + len(terms) > MAX_VOID_LOOKUPS:
        return ip, terms
    return None
