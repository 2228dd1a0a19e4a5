"""What a walk of an SPF tree found (see spf_walk.py): the records read, once for all, and for
each evaluation context (a sending IP, or an address family) its counts, problems and where
its include: and redirect= terms led. Plain data; the rules read it in spf_rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.auth.spf_syntax import MAX_LOOKUPS, MAX_VOID_LOOKUPS, Term
from cockpit.compat import UTC


@dataclass(frozen=True, slots=True)
class Record:
    """What one name's TXT answer says about SPF."""

    state: str
    """"spf", "nxdomain", "nodata" (no TXT), "other-txt" (TXT but no SPF), "several",
    "unanswered" or "not-asked" (budget spent)."""
    terms: tuple[Term, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    detail: str = ""
    """How many SPF records ("several") or why unanswered."""


@dataclass
class Pass:
    """One evaluation context: a sending IP, or with none configured an address family."""

    ip: str | None
    family: str
    lookups: int = 0
    void_lookups: int = 0
    terms: list[str] = field(default_factory=list)
    """Every counted lookup, "domain: term", in order."""
    void_terms: list[str] = field(default_factory=list)
    breaking_term: str | None = None
    """The term at which the lookup count passed 10."""
    breaking_path: list[str] = field(default_factory=list)
    """The include/redirect chain from the top record to the breaking term."""
    breaking_void: str | None = None
    loops: list[str] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    """(term and where, target, why) for include/redirect targets without an SPF record."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(rule, text): permanent errors in records reached."""
    unanswered: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)
    """Terms that depend on the connecting host, counted but not asked in this pass."""
    never_match: list[str] = field(default_factory=list)
    targets: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(domain, include/redirect term) -> the name it led to (None: not resolved)."""
    truncated: bool = False

    def count_lookup(self, domain: str, term: str, path: list[str]) -> None:
        self.lookups += 1
        self.terms.append(f"{domain}: {term}")
        if self.lookups == MAX_LOOKUPS + 1:
            self.breaking_term = f"{term} (in {domain})"
            self.breaking_path = [*path, term]

    def count_void(self, what: str) -> None:
        self.void_lookups += 1
        self.void_terms.append(what)
        if self.void_lookups == MAX_VOID_LOOKUPS + 1:
            self.breaking_void = what

    def summary_json(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "void_terms": list(self.void_terms),
        }


def _merged(lists: Iterable[list[Any]]) -> list[Any]:
    merged: list[Any] = []
    for items in lists:
        merged.extend(item for item in items if item not in merged)
    return merged


@dataclass
class Walk:
    """The passes of one walk and what they share; counts are the worst pass's."""

    domain: str
    passes: list[Pass]
    records: dict[str, Record]
    queries: int
    budget_spent: bool
    ips: tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the walk began asking."""

    @property
    def top(self) -> Record:
        return self.records.get(self.domain, Record("not-asked"))

    @property
    def lookup_pass(self) -> Pass:
        return max(self.passes, key=lambda p: p.lookups)

    @property
    def void_pass(self) -> Pass:
        return max(self.passes, key=lambda p: p.void_lookups)

    @property
    def lookups(self) -> int:
        return self.lookup_pass.lookups

    @property
    def void_lookups(self) -> int:
        return self.void_pass.void_lookups

    @property
    def truncated(self) -> bool:
        return self.budget_spent or any(p.truncated for p in self.passes)

    def merged(self, name: str) -> list[Any]:
        return _merged(getattr(p, name) for p in self.passes)

    @property
    def missing_records(self) -> list[str]:
        top = [self.domain] if self.top.state in ("nxdomain", "nodata", "other-txt") else []
        return _merged([top, [target for _label, target, _why in self.merged("missing")]])

    def to_json(self) -> dict[str, Any]:
        lookup_pass, void_pass = self.lookup_pass, self.void_pass
        data: dict[str, Any] = {
            "lookups": lookup_pass.lookups,
            "void_lookups": void_pass.void_lookups,
            "lookup_limit": MAX_LOOKUPS,
            "void_limit": MAX_VOID_LOOKUPS,
            "breaking_term": lookup_pass.breaking_term,
            "breaking_path": list(lookup_pass.breaking_path),
            "breaking_void": void_pass.breaking_void,
            "void_terms": list(void_pass.void_terms),
            "terms": list(lookup_pass.terms),
            "loops": self.merged("loops"),
            "missing_records": self.missing_records,
            "errors": [text for _rule, text in self.merged("errors")],
            "unanswered": self.merged("unanswered"),
            "uncounted": self.merged("uncounted"),
            "truncated": self.truncated,
            "queries": self.queries,
        }
        if self.ips:
            data["per_ip"] = {p.ip: p.summary_json() for p in self.passes}
        return data
