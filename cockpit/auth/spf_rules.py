"""The SPF record judged as a whole (RFC 7208): the rules behind the `spf-lookups` verdict.

Every rule that applies is listed in the finding's data (`problems`, `notes`, each with its
rule id and RFC section); the worst names the status and opens the summary. Our reading:

fail
  - no-record: no SPF record at the domain (the `spf` check says none for every IP);
  - several-records: two SPF records at one name reached: permerror (4.5);
  - lookup-limit: more than 10 lookup terms in the worst case over every branch (4.6.4);
  - loop: an include or redirect that leads back into its own chain;
  - void-limit: more than 2 void lookups in the worst case of one evaluation (4.6.4). A
    pass per sending IP expands macro targets (`exists:%{i}._spf.%{d}`) as check_host would
    and asks them, so an IP whose evaluation passes the limit fails the record, naming it and
    each void term with what it expanded to and why it is void;
  - target-without-spf: an include: or redirect= target without an SPF record, or that does
    not exist: permerror for every sender that reaches it (5.2, 6.1), never a mere warning;
  - invalid-domain-spec, bad-term, mx-hosts: a syntax error anywhere in a record reached
    (`include:_spf.example.com~all`, two TXT strings glued with no space, is one: 7.1), or an
    mx with more than 10 hosts: check_host gives permerror; a malformed name is never asked;
  - plus-all: `+all` (or a bare `all`) as the final word, of the record itself or of the
    record its redirect= leads to: any host passes SPF, so forged mail passes DMARC too
    through SPF alignment (RFC 7489 4.2);
  - include-passes-all: an include of a record that passes any host (its final word is +all,
    or it includes such a record): the include matches every host, so with the default `+`
    qualifier any host passes, whatever the top record's own `all` says (a `-include:` or
    `~include:` of it acts as `-all` or `~all`, and a `?include:` as `?all`);
  - per-ip-permerror (added by the `spf` check): check_host gave permerror for a configured IP.
unknown
  - unanswered, too-large: a question went unanswered, or the tree is too large to walk.
warn
  - neutral-all: `?all` as the final word (or a `?include:` of a record that passes any host):
    forged mail is neutral, never rejected, even when every configured IP passes before it;
    the `spf` check adds which configured IPs get neutral;
  - no-all: no `all` and no redirect=: other hosts get the default, neutral (4.7);
  - near-lookup-limit: 9 or 10 lookups (one include more breaks the record);
  - never-matches: a mechanism whose target cannot be a DNS name.
notes (never change the status)
  - redirect-ignored: a redirect= in a record that has an `all` is never used (6.1): said in
    the summary whatever the verdict;
  - void-count-incomplete: terms that depend on the connecting host (macros with no sending
    IP to expand them for, ptr, %{p}) count as lookups but their void lookups are not known;
  - ptr: the ptr mechanism, which 5.5 says not to use.
ok otherwise: `~all` and `-all` alike.

The statuses combine as everywhere in cockpit (`Status.severity`: fail > warn > unknown), so a
`?all` record whose walk was cut short reads warn with "unanswered" among the problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cockpit.auth.spf_syntax import MAX_LOOKUPS, MAX_VOID_LOOKUPS, glue_hint, shown
from cockpit.auth.spf_tree import Pass, Record, Walk
from cockpit.model import Status, worst
from cockpit.safe_text import clean

WARN_LOOKUPS = 9
MAX_SUMMARY = 600
SHOWN_VOIDS = 6

RULES: dict[str, str] = {
    "no-record": "RFC 7208 4.5",
    "several-records": "RFC 7208 4.5",
    "lookup-limit": "RFC 7208 4.6.4",
    "loop": "RFC 7208 4.6.4",
    "void-limit": "RFC 7208 4.6.4",
    "target-without-spf": "RFC 7208 5.2, 6.1",
    "invalid-domain-spec": "RFC 7208 7.1",
    "bad-term": "RFC 7208 4.6.1, 5, 6",
    "mx-hosts": "RFC 7208 4.6.4",
    "plus-all": "RFC 7208 5.1; RFC 7489 4.2",
    "include-passes-all": "RFC 7208 5.2; RFC 7489 4.2",
    "per-ip-permerror": "RFC 7208 2.6.7",
    "unanswered": "RFC 7208 4.6.4",
    "too-large": "RFC 7208 4.6.4",
    "neutral-all": "RFC 7208 2.6.2, 5.1",
    "no-all": "RFC 7208 4.7",
    "near-lookup-limit": "RFC 7208 4.6.4",
    "never-matches": "RFC 7208 5",
    "redirect-ignored": "RFC 7208 6.1",
    "void-count-incomplete": "RFC 7208 4.6.4",
    "ptr": "RFC 7208 5.5",
}
_IN_SUMMARY = ("redirect-ignored", "void-count-incomplete")
"""Notes the summary always carries."""


@dataclass(frozen=True, slots=True)
class Problem:
    rule: str
    status: Status
    """FAIL, UNKNOWN or WARN for a problem; OK for a note."""
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "rfc": RULES.get(self.rule, ""), "status": self.status.value,
                "text": self.text}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    summary: str
    problems: list[Problem]
    notes: list[Problem]


@dataclass(frozen=True, slots=True)
class FinalWord:
    """What evaluation gives a host no earlier mechanism matched."""

    qualifier: str
    """"+", "-", "~", "?", "default" (no all, no redirect: neutral) or "unresolved"."""
    steps: tuple[str, ...] = ()
    """The redirect= and include: terms evaluation went through to get there."""
    include_target: str | None = None
    """When an include that matches any host decided it: that include's target."""
    source: str = ""
    """The record whose `all` (or lack of one) decided it."""


_RANK = {"+": 5, "?": 4, "default": 3, "unresolved": 2, "~": 1, "-": 0}


def final_word(
    records: dict[str, Record], targets: dict[tuple[str, str], str | None], domain: str
) -> FinalWord:
    """The final word of `domain`'s record for a host no ip4/ip6/a/mx/... term matches:
    its first `all`, or an earlier include whose target passes any host (the include then
    matches with its own qualifier), or, with neither, what its redirect= leads to."""
    return _final(records, targets, domain, frozenset({domain}), ())


def _final(
    records: dict[str, Record],
    targets: dict[tuple[str, str], str | None],
    name: str,
    seen: frozenset[str],
    steps: tuple[str, ...],
) -> FinalWord:
    record = records.get(name)
    if record is None or record.state != "spf":
        return FinalWord("unresolved", steps, source=name)
    for term in record.terms:
        if term.modifier or term.problem:
            continue
        if term.name == "all":
            return FinalWord(term.qualifier, steps, source=name)
        target = targets.get((name, term.text)) if term.name == "include" else None
        if target and target not in seen:
            inner = _final(records, targets, target, seen | {target}, ())
            if inner.qualifier == "+":
                via = (*steps, term.shown, *inner.steps)
                return FinalWord(term.qualifier, via, target, inner.source)
    redirect = next((t for t in record.terms if t.modifier and t.name == "redirect"), None)
    if redirect is None:
        return FinalWord("default", steps, source=name)
    target = targets.get((name, redirect.text))
    if not target or target in seen or redirect.problem:
        return FinalWord("unresolved", (*steps, redirect.shown), source=name)
    return _final(records, targets, target, seen | {target}, (*steps, redirect.shown))


def record_verdict(walk: Walk) -> Verdict:
    """The whole record's status, summary, problems and notes (see the module docstring)."""
    problems = _problems(walk)
    notes = _notes(walk)
    status = worst([problem.status for problem in problems])
    if problems:
        head = next(problem for problem in problems if problem.status is status)
        summary = head.text
        others = list(dict.fromkeys(p.rule for p in problems if p is not head))
        if others:
            summary += f" (also: {', '.join(others)})"
    else:
        summary = (
            f"SPF of {walk.domain} needs {walk.lookups} of {MAX_LOOKUPS} DNS lookups, "
            f"{walk.void_lookups} void"
        )
    for note in notes:
        if note.rule in _IN_SUMMARY:
            summary += f"; {note.text}"
    return Verdict(status, clean(summary)[:MAX_SUMMARY], problems, notes)


def _problems(walk: Walk) -> list[Problem]:
    d = walk.domain
    top = walk.top
    if top.state in ("nxdomain", "nodata", "other-txt"):
        gone = " (the name does not exist)" if top.state == "nxdomain" else ""
        return [Problem("no-record", Status.FAIL, f"{d} has no SPF record{gone}")]
    found: list[Problem] = []
    unanswered: list[str] = walk.merged("unanswered")
    bound = " at least" if walk.truncated or unanswered else ""

    def fail(rule: str, text: str) -> None:
        found.append(Problem(rule, Status.FAIL, text))

    errors: list[tuple[str, str]] = walk.merged("errors")
    for rule, text in errors:
        if rule == "several-records":
            fail(rule, f"SPF of {d} is broken: {_here(d, text)} (permerror)")
    lookup_pass = walk.lookup_pass
    if lookup_pass.lookups > MAX_LOOKUPS:
        path = lookup_pass.breaking_path
        detail = "" if len(path) == 1 else f" (lookup 11 is {lookup_pass.breaking_term})"
        fail("lookup-limit", (
            f"SPF of {d} needs{bound} {lookup_pass.lookups} DNS lookups (limit {MAX_LOOKUPS}): "
            f"{shown(path[0])} takes it past the limit{detail}"
        ))
    for loop in walk.merged("loops"):
        kind = "a redirect" if loop.startswith("redirect") else "an include"
        fail("loop", f"SPF of {d} has {kind} loop: {loop}")
    if walk.void_lookups > MAX_VOID_LOOKUPS:
        fail("void-limit", _void_text(walk, walk.void_pass, bound))
    for label, target, why in walk.merged("missing"):
        fail("target-without-spf", (
            f"SPF of {d} reaches {target}, which {why}, through {label}: permerror for every "
            f"sender that gets there{glue_hint(target)}"
        ))
    for rule, text in errors:
        if rule != "several-records":
            fail(rule, f"SPF of {d} is broken: {_here(d, text)} (permerror)")
    finals = [final_word(walk.records, p.targets, d) for p in walk.passes]
    final = max(finals, key=lambda f: _RANK[f.qualifier])
    glued = next((t.shown for t in top.terms if not t.modifier and glue_hint(t.text)), None)
    found.extend(_final_word_problems(d, final, glued))
    if unanswered:
        so_far = f" (at least {walk.lookups} so far)" if walk.lookups else ""
        found.append(Problem(
            "unanswered", Status.UNKNOWN,
            f"SPF lookup count of {d} unknown{so_far}: {unanswered[0]}",
        ))
    if walk.truncated:
        found.append(Problem(
            "too-large", Status.UNKNOWN,
            f"SPF tree of {d} too large to walk (at least {walk.lookups} lookups)",
        ))
    if WARN_LOOKUPS <= walk.lookups <= MAX_LOOKUPS:
        found.append(Problem(
            "near-lookup-limit", Status.WARN,
            f"SPF of {d} needs {walk.lookups} of {MAX_LOOKUPS} allowed DNS lookups",
        ))
    for dead in walk.merged("never_match"):
        found.append(Problem("never-matches", Status.WARN, f"SPF of {d}: {dead}: never matches"))
    return found


def _here(domain: str, text: str) -> str:
    """`text` ("NAME: what") without NAME when it is the top record's own."""
    return text.removeprefix(f"{domain}: ")


def _void_text(walk: Walk, void_pass: Pass, bound: str) -> str:
    per_ip = void_pass.ip is not None and any(
        p.void_lookups <= MAX_VOID_LOOKUPS for p in walk.passes
    )
    whose = f" for {void_pass.ip}" if per_ip else ""
    terms = void_pass.void_terms
    listed = ", ".join(terms[:SHOWN_VOIDS]) + (", …" if len(terms) > SHOWN_VOIDS else "")
    return (
        f"SPF of {walk.domain} has{bound} {void_pass.void_lookups} void lookups{whose} "
        f"(limit {MAX_VOID_LOOKUPS}): {listed}"
    )


def _final_word_problems(d: str, final: FinalWord, glued: str | None) -> list[Problem]:
    """`glued`: a term of the top record that ends in an `all` glued onto it."""
    through = f" (through {', '.join(final.steps)})" if final.steps else ""
    target = final.include_target
    if final.qualifier == "+" and target is None:
        return [Problem("plus-all", Status.FAIL, (
            f"SPF of {d} ends in +all{through}: any host passes SPF, and DMARC through alignment"
        ))]
    if target is not None and final.qualifier in ("+", "?"):
        which = "ends in +all" if final.source == target else f"passes any host{through}"
        if final.qualifier == "+":
            return [Problem("include-passes-all", Status.FAIL, (
                f"SPF of {d} includes {target}, which {which}: the include matches any host, so "
                "any host passes SPF, and DMARC through alignment"
            ))]
        return [Problem("neutral-all", Status.WARN, (
            f"SPF of {d} includes {target} with '?', which {which}: every other host is "
            "neutral, forged mail is never rejected"
        ))]
    if final.qualifier == "?":
        return [Problem("neutral-all", Status.WARN, (
            f"SPF of {d} ends in ?all{through}: forged mail is neutral, never rejected"
        ))]
    if final.qualifier == "default":
        where = "and no redirect=" if not final.steps else f"in {final.source}{through}"
        hint = f" ({glued!r}{glue_hint(glued)})" if glued and not final.steps else ""
        return [Problem("no-all", Status.WARN, (
            f"SPF of {d} has no 'all' {where}: other hosts get the default result, neutral "
            f"(never rejected){hint}"
        ))]
    return []


def _notes(walk: Walk) -> list[Problem]:
    notes: list[Problem] = []
    for name, record in walk.records.items():
        if record.state != "spf" or not any(t.name == "all" for t in record.terms):
            continue
        for term in record.terms:
            if term.modifier and term.name == "redirect":
                notes.append(Problem("redirect-ignored", Status.OK, (
                    f"{term.shown} in {name} is ignored: the record has an 'all' (RFC 7208 6.1)"
                )))
    uncounted: list[str] = walk.merged("uncounted")
    if uncounted:
        macro = ["%" in item.split(" (in ")[0] for item in uncounted]
        kinds = [kind for kind, there in (("macro targets", any(macro)), ("ptr", not all(macro)))
                 if there]
        notes.append(Problem("void-count-incomplete", Status.OK, (
            f"void count excludes {' and '.join(kinds)} ({uncounted[0]})"
        )))
    if any(
        t.name == "ptr" and not t.modifier for r in walk.records.values() for t in r.terms
    ):
        notes.append(Problem("ptr", Status.OK, (
            f"SPF of {walk.domain} uses the ptr mechanism, which RFC 7208 5.5 says not to use"
        )))
    return notes
