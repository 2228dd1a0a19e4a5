"""The SPF record walked as check_host would walk it, worst case, once per sending IP.

RFC 7208 4.6.4 allows at most 10 terms that cause DNS queries (include, a, mx, ptr, exists and
the redirect modifier) and at most 2 void lookups (an answer with no records, or NXDOMAIN) per
evaluation; past either, check_host gives permerror. Evaluation stops at the first mechanism
that matches, so a record can pass for one IP and permerror for another: the walk counts the
worst case, every term of every branch in evaluation order (up to the first `all` of each
record: terms after it are never evaluated, 5.1; a redirect= next to an `all` neither, 6.1).

One pass per evaluation context, because what a lookup returns can depend on the connecting
host: a pass per configured sending IP expands macro targets (`exists:%{i}._spf.%{d}`,
`include:%{ir}.%{v}._spf.%{d}`) with pyspf's own expansion (sender postmaster@domain, the
region's HELO, as the `spf` check uses), asks a:, and the address lookups of mx hosts and ptr
names, for that IP's family, and resolves ptr through the IP's reverse name. With no sending
IPs there is one pass per address family and targets that depend on the host (macros, ptr) are
counted as lookups but never asked, so their void lookups are missing from the count (said so).

What counts as void is what pyspf counts: a lookup of a mechanism's target, of each mx host and
ptr name, or of an include/redirect target's TXT, that comes back empty. A target holding TXT
records but no SPF one is not a void lookup, but it is a permerror all the same.

Bounded: passes share one cache, MAX_QUERIES questions, TIME_BUDGET seconds, MAX_DEPTH nested
records and MAX_COUNTED_LOOKUPS counted terms a pass; a walk cut short says so and its counts are
then lower bounds. The questions of one record's terms are asked together (counted in order
afterwards), so a frozen resolver costs one Asker timeout per level of the tree, not per term.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from datetime import datetime

import spf  # type: ignore[import-untyped]  # pyspf ships no type hints

from cockpit.auth.asker import Asker
from cockpit.auth.spf_syntax import (
    LOOKUP_MECHANISMS,
    Term,
    dns_name_problem,
    is_spf_record,
    parse_record,
)
from cockpit.auth.spf_tree import Pass, Record, Walk
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding

AREA = "auth"
CHECK = "spf-lookups"
MAX_DEPTH = 12
MAX_QUERIES = 160
TIME_BUDGET = 20.0
"""Seconds the walk may spend asking, all passes together."""
MAX_COUNTED_LOOKUPS = 100
"""Past this many counted lookups a pass stops: answers are cached, so a tree that includes the
same records many times over would otherwise be walked without end in sight."""
MAX_HOSTS = 10
"""MX hosts (more is a permerror) and ptr names (more are ignored) looked up per term (4.6.4)."""

_VERDICT = frozenset({Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN})


class _Shared:
    """The cache, budget and parsed records every pass of one walk shares."""

    def __init__(self, asker: Asker, time_budget: float):
        self.asker = asker
        self.deadline = time.monotonic() + time_budget
        self.queries = 0
        self.budget_spent = False
        self.asked: dict[tuple[str, str], asyncio.Task[Observation]] = {}
        self.records: dict[str, Record] = {}
        self.reading: dict[str, asyncio.Task[Record]] = {}

    async def ask(self, name: str, rdtype: str) -> Observation | None:
        """The Observation (one question per name and type), or None when the budget is spent."""
        key = (name, rdtype)
        task = self.asked.get(key)
        if task is None:
            if self.queries >= MAX_QUERIES or time.monotonic() > self.deadline:
                self.budget_spent = True
                return None
            self.queries += 1
            task = asyncio.ensure_future(self.asker.ask(name, rdtype))
            self.asked[key] = task
        return await task

    async def record(self, domain: str) -> Record:
        task = self.reading.get(domain)
        if task is None:
            task = self.reading[domain] = asyncio.ensure_future(self._read(domain))
        return await task

    async def _read(self, domain: str) -> Record:
        observation = await self.ask(domain, "TXT")
        if observation is None:
            record = Record("not-asked")
        elif observation.outcome not in _VERDICT:
            record = Record("unanswered", detail=f"{domain}/TXT: {observation.reason}")
        elif observation.outcome is Outcome.NXDOMAIN:
            record = Record("nxdomain")
        else:
            texts = [text for text in observation.answers if is_spf_record(text)]
            if len(texts) > 1:
                record = Record("several", detail=str(len(texts)))
            elif texts:
                terms, errors = parse_record(texts[0])
                record = Record("spf", terms, tuple(errors))
            else:
                record = Record("other-txt" if observation.answers else "nodata")
        self.records[domain] = record
        return record


def _why_void(observation: Observation, name: str, rdtype: str) -> str:
    if observation.outcome is Outcome.NXDOMAIN:
        return f"{name} does not exist"
    return f"{name} has no {rdtype} records"


class _Walker:
    """One pass over the tree, in evaluation order."""

    def __init__(self, shared: _Shared, pass_: Pass, domain: str, helo: str):
        self.shared = shared
        self.p = pass_
        self.query: spf.query | None = None
        if pass_.ip is not None:
            try:
                self.query = spf.query(i=pass_.ip, s=f"postmaster@{domain}", h=helo)
            except spf.PermError:  # config gives normalised IPs; else macros stay unexpanded
                self.query = None
        self.expanded: dict[tuple[str, str], str | None] = {}

    def answered(self, observation: Observation, what: str) -> bool:
        """True for ANSWER/NODATA/NXDOMAIN; otherwise note the question as unanswered."""
        if observation.outcome in _VERDICT:
            return True
        reason = f"{what}: {observation.reason}"
        if reason not in self.p.unanswered:
            self.p.unanswered.append(reason)
        return False

    async def ask_void(self, name: str, rdtype: str, label: str) -> Observation | None:
        """Ask; count a void lookup for an empty answer. None unless answered with records."""
        observation = await self.shared.ask(name, rdtype)
        if observation is None:
            self.p.truncated = True
            return None
        if not self.answered(observation, f"{name}/{rdtype}"):
            return None
        if not observation.answers:
            self.p.count_void(f"{label}: {_why_void(observation, name, rdtype)}")
            return None
        return observation

    def target(self, term: Term, domain: str) -> str | None:
        """The name `term` asks about in this pass (macros expanded); None when it depends on
        a host this pass does not know, or on the validated reverse name (%{p})."""
        key = (domain, term.text)
        if key in self.expanded:
            return self.expanded[key]
        spec = term.spec if term.spec is not None else domain
        name: str | None = spec.rstrip(".").lower()
        if term.has_macro:
            name = None
            if self.query is None or "%{p" in spec.lower():
                why = (
                    "no sending IP to expand it for"
                    if self.query is None
                    else "%{p} (the validated reverse name) is not resolved"
                )
                self.p.uncounted.append(f"{term.shown} (in {domain}): {why}")
            else:
                self.query.d = domain
                try:
                    name = str(self.query.expand(spec)).rstrip(".").lower()
                except (spf.PermError, spf.TempError, ValueError) as error:
                    self.p.errors.append(("bad-term", f"{term.shown} cannot be expanded: {error}"))
        self.expanded[key] = name
        return name

    def first_question(self, term: Term, domain: str) -> tuple[str, str] | None:
        if term.name == "ptr":
            return None if self.p.ip is None else (self.reverse_name(), "PTR")
        name = self.target(term, domain)
        if name is None or dns_name_problem(name):
            return None
        rdtype = {"include": "TXT", "redirect": "TXT", "mx": "MX", "exists": "A"}
        return name, rdtype.get(term.name, self.p.family)

    def reverse_name(self) -> str:
        assert self.p.ip is not None
        address = ipaddress.ip_address(self.p.ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return address.ipv4_mapped.reverse_pointer
        return address.reverse_pointer

    async def visit(self, domain: str, chain: list[str], path: list[str]) -> None:
        """Count the terms of `domain`'s record (read already) in evaluation order."""
        if len(chain) > MAX_DEPTH:
            self.p.truncated = True
            return
        record = self.shared.records[domain]
        found = [(rule, f"{domain}: {text}") for rule, text in record.errors]
        found += [
            (t.problem_rule or "bad-term", f"{domain}: {t.problem}")
            for t in record.terms
            if t.problem
        ]
        self.p.errors.extend(error for error in found if error not in self.p.errors)
        counted = _counted_terms(record.terms)
        questions = [q for t in counted if not t.problem and (q := self.first_question(t, domain))]
        await asyncio.gather(*(self.shared.ask(name, rdtype) for name, rdtype in questions))
        chain = [*chain, domain]
        for term in counted:
            if self.p.lookups >= MAX_COUNTED_LOOKUPS:
                self.p.truncated = True
                return
            self.p.count_lookup(domain, term.text, path)
            if not term.problem:
                await self.follow(term, domain, chain, path)

    async def follow(self, term: Term, domain: str, chain: list[str], path: list[str]) -> None:
        label = f"{term.shown} (in {domain})"
        if term.name == "ptr":
            await self.ptr(label)
            return
        name = self.target(term, domain)
        if name is None:
            if term.name in ("include", "redirect"):
                self.p.targets[(domain, term.text)] = None
            return
        problem = dns_name_problem(name)
        if term.name in ("include", "redirect"):
            self.p.targets[(domain, term.text)] = name
            if problem:
                self.p.missing.append((label, name, f"{problem}, so it has no SPF record"))
            elif name in chain:
                self.p.loops.append(label)
            else:
                await self.include(label, name, chain, [*path, term.text])
        elif problem:
            self.p.never_match.append(f"{label}: {name} {problem}")
        elif term.name == "mx":
            await self.mx(label, name)
        else:
            rdtype = "A" if term.name == "exists" else self.p.family
            await self.ask_void(name, rdtype, label)

    async def include(self, label: str, name: str, chain: list[str], path: list[str]) -> None:
        record = await self.shared.record(name)
        if record.state == "spf":
            await self.visit(name, chain, path)
        elif record.state in ("nxdomain", "nodata", "other-txt"):
            why = {"nxdomain": "does not exist", "nodata": "has no SPF record (no TXT records)"}
            self.p.missing.append((label, name, why.get(record.state, "has no SPF record")))
            if record.state != "other-txt":  # a TXT answer, even without SPF, is not void
                void = {"nxdomain": "does not exist", "nodata": "has no TXT records"}
                self.p.count_void(f"{label}: {name} {void[record.state]}")
        elif record.state == "several":
            self.p.errors.append(("several-records", f"{name} has {record.detail} SPF records"))
        elif record.state == "unanswered":
            if record.detail not in self.p.unanswered:
                self.p.unanswered.append(record.detail)
        else:
            self.p.truncated = True

    async def mx(self, label: str, name: str) -> None:
        observation = await self.ask_void(name, "MX", label)
        if observation is None:
            return
        exchanges = sorted(_mx_exchange(text) for text in observation.answers)
        if len(exchanges) > MAX_HOSTS:
            self.p.errors.append(
                ("mx-hosts", f"{label}: {name} has {len(exchanges)} MX hosts (more than 10)")
            )
        hosts = [host for _pref, host in exchanges[:MAX_HOSTS] if host]
        await self.hosts(hosts, label, "MX host")

    async def ptr(self, label: str) -> None:
        if self.p.ip is None:
            self.p.uncounted.append(f"{label}: needs the connecting IP")
            return
        observation = await self.ask_void(self.reverse_name(), "PTR", label)
        if observation is not None:
            names = [text.rstrip(".").lower() for text in observation.answers[:MAX_HOSTS]]
            await self.hosts(names, label, "PTR name")

    async def hosts(self, hosts: list[str], label: str, kind: str) -> None:
        """The address lookups of mx hosts or ptr names: asked together, counted in order."""
        family = self.p.family
        await asyncio.gather(*(self.shared.ask(host, family) for host in hosts))
        for host in hosts:
            await self.ask_void(host, family, f"{label}, {kind}")


def _mx_exchange(text: str) -> tuple[int, str]:
    preference, _, host = text.partition(" ")
    host = host.rstrip(".").lower()  # a null MX (RFC 7505) is ".": never looked up
    number = preference.isascii() and preference.isdigit()
    return (int(preference) if number else 0, host)


def _counted_terms(terms: tuple[Term, ...]) -> list[Term]:
    """The terms evaluation reaches that cause lookups: mechanisms before the first `all`,
    then redirect= when there is no `all` (6.1)."""
    counted: list[Term] = []
    for term in terms:
        if term.modifier:
            continue
        if term.name == "all":
            return counted
        if term.name in LOOKUP_MECHANISMS:
            counted.append(term)
    redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
    return [*counted, redirect] if redirect is not None else counted


async def walk_spf(
    domain: str,
    asker: Asker,
    families: tuple[str, ...] = ("A",),
    time_budget: float = TIME_BUDGET,
    *,
    ips: tuple[str, ...] = (),
    helo: str | None = None,
) -> Walk:
    """Walk the SPF tree of `domain`: one pass per sending IP in `ips` (macros expanded for
    each), or with none, one per address family in `families` ("A", "AAAA")."""
    domain = domain.rstrip(".").lower()
    started = datetime.now(UTC)
    shared = _Shared(asker, time_budget)
    if ips:
        passes = [Pass(ip, _family(ip)) for ip in ips]
    else:
        passes = [Pass(None, family) for family in families or ("A",)]
    top = await shared.record(domain)
    if top.state == "spf":
        walkers = [_Walker(shared, p, domain, helo or domain) for p in passes]
        await asyncio.gather(*(walker.visit(domain, [], []) for walker in walkers))
    elif top.state == "several":
        passes[0].errors.append(("several-records", f"{domain} has {top.detail} SPF records"))
    elif top.state == "unanswered":
        passes[0].unanswered.append(top.detail)
    elif top.state == "not-asked":
        passes[0].truncated = True
    records = dict(shared.records)
    return Walk(domain, passes, records, shared.queries, shared.budget_spent, ips, started)


def _family(ip: str) -> str:
    """The address type check_host asks for `ip` (an IPv4-mapped IPv6 address is IPv4)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "A"
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped
    return "AAAA" if address.version == 6 and not mapped else "A"


def _families(region: Region) -> tuple[str, ...]:
    families = {_family(ip) for ip in region.sending_ips}
    return tuple(sorted(families)) or ("A",)


def finding_from_walk(domain: str, region: Region, walk: Walk, resolver: str | None) -> Finding:
    """The record-level verdict (rules in spf_rules.py), with every count and problem as data."""
    from cockpit.auth.spf_rules import record_verdict

    verdict = record_verdict(walk)
    data = {
        "domain": domain,
        **walk.to_json(),
        "problems": [problem.to_json() for problem in verdict.problems],
        "notes": [note.to_json() for note in verdict.notes],
    }
    return Finding(
        AREA,
        CHECK,
        domain,
        verdict.status,
        verdict.summary,
        region.name,
        resolver,
        data,
        walk.observed_at,
    )


async def spf_lookups_finding(config: Config, region: Region, asker: Asker) -> Finding:
    domain = config.domain.name
    ips = tuple(region.sending_ips)
    walk = await walk_spf(domain, asker, _families(region), ips=ips, helo=region.helo)
    return finding_from_walk(domain, region, walk, asker.server.name)
