"""The SPF lookup budget: a walk of the whole include/redirect tree, every branch.

RFC 7208 4.6.4 allows at most 10 terms that cause DNS queries (include, a, mx, ptr, exists and
the redirect modifier) and at most 2 void lookups (no records or NXDOMAIN) per evaluation; past
either, check_host gives permerror. Evaluation stops at the first mechanism that matches, so a
record can pass for one IP and permerror for another: the walk counts the worst case, every
term of every branch, in evaluation order, and names the term at which the count passes 10.

What it counts as void: an include or redirect target without an SPF record (an include of it
is a permerror when reached), and a:, mx: and exists: targets (literal names, no macros) whose
lookup comes back empty for a family the region sends from. Targets with macros (%{...}) and
ptr depend on the connecting IP: they are counted as lookups, never as void. The A lookups of
each MX host are not made (they do not count towards the 10).

Bounded: at most MAX_DEPTH nested records, MAX_QUERIES questions, MAX_COUNTED_LOOKUPS counted
terms and TIME_BUDGET seconds; a walk cut short says so and its counts are then lower bounds.
A question that could not be answered (timeout, SERVFAIL) makes the result unknown unless what
was seen already breaks a limit.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from cockpit.auth.asker import Asker
from cockpit.auth.spf_rules import (
    MAX_LOOKUPS,
    MAX_VOID_LOOKUPS,
    domain_spec_problem,
    record_verdict,
)
from cockpit.config.model import Config, Region
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding

AREA = "auth"
CHECK = "spf-lookups"
MAX_DEPTH = 12
MAX_QUERIES = 120
TIME_BUDGET = 20.0
"""Seconds the walk may spend asking (questions are asked one at a time, in evaluation order)."""
MAX_COUNTED_LOOKUPS = 100
"""Past this many counted lookups the walk stops: answers are cached, so a tree that includes
the same records many times over would otherwise be walked without end in sight."""

LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
OTHER_MECHANISMS = frozenset({"all", "ip4", "ip6"})
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^[+\-~?]?([a-z][a-z0-9_.\-]*)(?::([^/]*))?(/.*)?$", re.IGNORECASE)


def is_spf_record(text: str) -> bool:
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


@dataclass
class Walk:
    """What the walk found; counts are worst-case totals over every branch."""

    lookups: int = 0
    void_lookups: int = 0
    breaking_term: str | None = None
    """The term at which the lookup count passed MAX_LOOKUPS."""
    breaking_path: list[str] = field(default_factory=list)
    """The include/redirect chain from the top record to the breaking term."""
    breaking_void: str | None = None
    """The lookup at which the void count passed MAX_VOID_LOOKUPS."""
    void_terms: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    """"include:x" (or redirect=x) terms that lead back into their own chain."""
    missing_records: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Permanent errors in records (several SPF records, unknown mechanisms, ...)."""
    unanswered: list[str] = field(default_factory=list)
    """Questions that could not be answered, with the reason."""
    terms: list[str] = field(default_factory=list)
    """Every counted lookup, "domain: term", in order."""
    truncated: bool = False
    queries: int = 0
    all_of: dict[str, str] = field(default_factory=dict)
    """Domain -> the qualifier of its `all` mechanism ("+", "-", "~", "?")."""
    redirect_of: dict[str, str] = field(default_factory=dict)
    """Domain -> its redirect= target (kept even when an `all` makes it unreachable)."""
    macro_terms: list[tuple[str, str, str]] = field(default_factory=list)
    """(mechanism, target with macros, the domain whose record holds it) for a/mx/exists."""
    macro_ips: tuple[str, ...] = ()
    """The sending IPs for which macro targets were expanded and asked."""
    macro_voids: dict[str, list[str]] = field(default_factory=dict)
    """Sending IP -> the macro terms that are void when that IP connects (see spf_rules)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "lookup_limit": MAX_LOOKUPS,
            "void_limit": MAX_VOID_LOOKUPS,
            "breaking_term": self.breaking_term,
            "breaking_path": list(self.breaking_path),
            "breaking_void": self.breaking_void,
            "void_terms": list(self.void_terms),
            "loops": list(self.loops),
            "missing_records": list(self.missing_records),
            "problems": list(self.problems),
            "unanswered": list(self.unanswered),
            "terms": list(self.terms),
            "truncated": self.truncated,
            "queries": self.queries,
            "all": dict(self.all_of),
            "macro_terms": [
                f"{name}:{target} (in {where})" for name, target, where in self.macro_terms
            ],
            "macro_voids": {ip: list(terms) for ip, terms in self.macro_voids.items()},
        }


class _Walker:
    def __init__(self, asker: Asker, families: tuple[str, ...], time_budget: float):
        self.asker = asker
        self.families = families
        self.walk = Walk()
        self.deadline = time.monotonic() + time_budget
        self.cache: dict[tuple[str, str], Observation] = {}

    async def ask(self, name: str, rdtype: str) -> Observation | None:
        """The Observation, or None when the budget of questions or time is spent."""
        key = (name, rdtype)
        if key in self.cache:
            return self.cache[key]
        if self.walk.queries >= MAX_QUERIES or time.monotonic() > self.deadline:
            self.walk.truncated = True
            return None
        self.walk.queries += 1
        observation = await self.asker.ask(name, rdtype)
        self.cache[key] = observation
        return observation

    def answered(self, observation: Observation, what: str) -> bool:
        """True for ANSWER/NODATA/NXDOMAIN; otherwise note the question as unanswered."""
        if observation.outcome in (Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN):
            return True
        reason = f"{what}: {observation.reason}"
        if reason not in self.walk.unanswered:
            self.walk.unanswered.append(reason)
        return False

    def count_lookup(self, domain: str, term: str, path: list[str]) -> None:
        walk = self.walk
        walk.lookups += 1
        walk.terms.append(f"{domain}: {term}")
        if walk.lookups == MAX_LOOKUPS + 1:
            walk.breaking_term = f"{term} (in {domain})"
            walk.breaking_path = [*path, term]

    def count_void(self, what: str) -> None:
        walk = self.walk
        walk.void_lookups += 1
        walk.void_terms.append(what)
        if walk.void_lookups == MAX_VOID_LOOKUPS + 1:
            walk.breaking_void = what

    async def record(self, domain: str) -> str | bool:
        """The SPF record of `domain`; False when it has none, True when it could not be read
        (or holds several: a problem noted already)."""
        observation = await self.ask(domain, "TXT")
        if observation is None or not self.answered(observation, f"{domain}/TXT"):
            return True
        records = [text for text in observation.answers if is_spf_record(text)]
        if len(records) > 1:
            self.walk.problems.append(f"{domain} has {len(records)} SPF records")
            return True
        return records[0] if records else False

    async def visit(self, domain: str, chain: list[str], path: list[str]) -> bool:
        """Walk the record of `domain`; False only when it surely has no SPF record."""
        if len(chain) > MAX_DEPTH:
            self.walk.truncated = True
            return True
        text = await self.record(domain)
        if not isinstance(text, str):
            return text
        chain = [*chain, domain]
        redirect: str | None = None
        has_all = False
        for term in text.split()[1:]:
            if self.walk.lookups >= MAX_COUNTED_LOOKUPS:
                self.walk.truncated = True
                return True
            modifier = _MODIFIER.match(term)
            if modifier:
                if modifier.group(1).lower() == "redirect":
                    redirect = modifier.group(2)
                    self.walk.redirect_of[domain] = redirect.rstrip(".").lower()
                continue
            mechanism = _MECHANISM.match(term)
            name = mechanism.group(1).lower() if mechanism else ""
            if mechanism is None or name not in LOOKUP_MECHANISMS | OTHER_MECHANISMS:
                self.walk.problems.append(f"{domain}: unknown or malformed term {term!r}")
                continue
            if name == "all" and not has_all:
                self.walk.all_of[domain] = term[0] if term[0] in "+-~?" else "+"
            has_all = has_all or name == "all"
            if name not in LOOKUP_MECHANISMS:
                continue
            self.count_lookup(domain, term, path)
            target = (mechanism.group(2) or "").rstrip(".").lower()
            problem = domain_spec_problem(mechanism.group(2)) if mechanism.group(2) else None
            if problem is not None:
                self.walk.problems.append(f"{domain}: invalid domain-spec in {term!r}: {problem}")
                continue
            await self.follow(name, target or domain, term, chain, path)
        if redirect is not None and not has_all:  # "all" makes redirect unreachable (6.1)
            term = f"redirect={redirect}"
            problem = domain_spec_problem(redirect)
            if problem is not None:
                self.walk.problems.append(f"{domain}: invalid domain-spec in {term!r}: {problem}")
                return True
            self.count_lookup(domain, term, path)
            await self.follow("redirect", redirect.rstrip(".").lower(), term, chain, path)
        return True

    async def follow(
        self, name: str, target: str, term: str, chain: list[str], path: list[str]
    ) -> None:
        if "%" in target and name in ("a", "mx", "exists"):
            self.walk.macro_terms.append((name, target, chain[-1]))
            return  # depends on the connecting IP: resolved per sending IP (spf_rules)
        if "%" in target or name == "ptr" or not target:
            return  # depends on the connecting IP: counted, not resolved
        if name in ("include", "redirect"):
            if target in chain:
                self.walk.loops.append(f"{term} (in {chain[-1]})")
                return
            if not await self.visit(target, chain, [*path, term]):
                self.walk.missing_records.append(target)
                self.count_void(f"{term} (in {chain[-1]}): no SPF record")
            return
        types = ("MX",) if name == "mx" else ("A",) if name == "exists" else self.families
        for rdtype in types:
            observation = await self.ask(target, rdtype)
            if observation is None:
                return
            if self.answered(observation, f"{target}/{rdtype}") and not observation.answers:
                self.count_void(f"{term} (in {chain[-1]}): no {rdtype} records")


async def walk_spf(
    domain: str,
    asker: Asker,
    families: tuple[str, ...] = ("A",),
    time_budget: float = TIME_BUDGET,
    *,
    ips: tuple[str, ...] = (),
    helo: str | None = None,
) -> Walk:
    """Walk the SPF tree of `domain`; `families` are the address types the region sends from.

    With `ips`, the targets with macros are expanded and asked for each of them (all at
    once), so their void lookups count in that IP's worst case (`Walk.macro_voids`)."""
    walker = _Walker(asker, families, time_budget)
    if not await walker.visit(domain.rstrip(".").lower(), [], []):
        walker.walk.missing_records.append(domain)
    if ips and walker.walk.macro_terms:
        from cockpit.auth.spf_rules import macro_voids

        walker.walk.macro_ips = ips
        walker.walk.macro_voids = await macro_voids(
            walker.walk, walker.ask, domain, ips, helo or domain
        )
    return walker.walk


def _families(region: Region) -> tuple[str, ...]:
    families = {"AAAA" if ":" in ip else "A" for ip in region.sending_ips}
    return tuple(sorted(families)) or ("A",)


def finding_from_walk(domain: str, region: Region, walk: Walk, resolver: str | None) -> Finding:
    """The record-level verdict (rules in spf_rules.py), with every count and problem as data."""
    status, summary = record_verdict(domain, walk)
    data = {"domain": domain, **walk.to_json()}
    return Finding(AREA, CHECK, domain, status, summary, region.name, resolver, data)


async def spf_lookups_finding(config: Config, region: Region, asker: Asker) -> Finding:
    domain = config.domain.name
    ips = tuple(region.sending_ips)
    walk = await walk_spf(domain, asker, _families(region), ips=ips, helo=region.helo)
    return finding_from_walk(domain, region, walk, asker.server.name)
