"""The built-in failover runbook as data, the `auto` condition grammar, and the config overlay.

A step is one thing the team does or checks, in one of three phases: "before" (before any
record is changed), "during" (the cutover itself) and "after" (proving the recovery). A step may
name an incident phase marker it sets when done (declared, routed, restored, verified) and an
`auto` condition: when fresh probe findings meet it, the cockpit offers to confirm the step.

The condition grammar (kept small on purpose; parsed and checked when the config loads):

    condition := group ("or" group)*
    group     := clause ("and" clause)*
    clause    := AREA "." CHECK [SUBJECT] ["region=" REGION] ["after=" EVENT] (OP STATUS | "drains")
    AREA      := a lower-case word: dns, auth, queue, service, replication, authority, ...
    CHECK     := the finding's check name (MX, spf, smtp, depth, ...) or "*" for any
    SUBJECT   := the finding's subject (a hostname, a queue name, ...) or "*" (the default)
    REGION    := a region name, or TARGET: the region the latest failover decision names
    EVENT     := decision (the latest failover decision, the one that named TARGET) | impact |
                 detected | declared | routed | restored | verified (the incident's phases, at
                 their effective time: a corrected phase counts at its corrected time)
    OP        := "==" (the status is exactly STATUS) | "<=" (no worse than STATUS, ok < warn < fail)
    STATUS    := ok | warn | fail
    drains    := the queue is not growing: queue.depth only (see below)

`region=` and `after=` may stand anywhere after AREA.CHECK, also at the end of the clause.
Examples: `dns.MX region=TARGET == ok`, `auth.spf == ok and auth.dmarc == ok`,
`service.smtp region=TARGET == ok after=routed`, `queue.depth region=TARGET drains after=routed`,
`auth.dkim == ok and auth.spf == ok or canary.outbound region=TARGET == ok` ("and" binds
tighter than "or": the condition holds when every clause of one group holds; the first group
that holds gives the evidence).

A clause holds when at least one finding matches it and every matching finding is evidence
that meets it. A finding is evidence only when
- its observation time (`Finding.observed_at`) is known: a finding of unknown time proves nothing;
- it was observed after EVENT (strictly), when the clause names one; an event that has not
  happened yet (no failover decision, routed not set) means the clause cannot hold yet;
- it is fresh: observed no longer ago than three times the interval its area is read at, and at
  least 60 s (`cockpit.incident.checklist_auto.freshness_bound`);
- its status is not unknown: a probe that could not tell is never taken as evidence.
`drains` holds for a queue.depth finding when the queue's recent samples (data.recent) hold at
least two observed after EVENT and the last of the newest (up to three) of them is no higher
than the first, give or take the messages in flight (5, or 5 % of the first, whichever is
larger): one sample, or none since the event (a dead region's empty queue), never drains.
With no failover decision in the log, a clause naming TARGET cannot hold: TARGET never falls
back to a default region. Names (area, check, subject, region) compare case-insensitively.

Implicit `after=`: a step that sets a phase is about something that happens after an earlier
event, so every clause of its condition that names no `after=` gets one: a step setting
`routed` gets after=decision, `restored` gets after=routed, `verified` gets after=restored
(IMPLICIT_AFTER). The step's condition is stored with it, so it reads as it is judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cockpit.incident.entry import PHASES

if TYPE_CHECKING:
    from cockpit.config.model import Config

__all__ = [
    "BUILTIN_STEPS",
    "CHECKLIST_PHASES",
    "EVENTS",
    "IMPLICIT_AFTER",
    "Clause",
    "Condition",
    "ConditionError",
    "REGION_NAME",
    "Step",
    "parse_condition",
    "parse_step_id",
    "steps_for",
    "with_implicit_after",
]

CHECKLIST_PHASES: tuple[str, ...] = ("before", "during", "after")
"""The checklist's own phases, in order (not the incident PHASES markers)."""

TARGET = "TARGET"
"""The region placeholder that stands for the current failover target."""

CONDITION_STATUSES: tuple[str, ...] = ("ok", "warn", "fail")
"""Statuses a condition may name; "unknown" is never a condition a probe can meet."""

DRAINS = "drains"
"""The operator that judges a queue's recent samples instead of a status."""

EVENTS: tuple[str, ...] = (
    "decision",
    "impact",
    "detected",
    "declared",
    "routed",
    "restored",
    "verified",
)
"""What `after=` may name: the latest failover decision, or an incident phase."""

IMPLICIT_AFTER: dict[str, str] = {
    "routed": "decision",
    "restored": "routed",
    "verified": "restored",
}
"""sets_phase -> the event every clause of that step's condition is judged after, unless the
clause names its own."""

MAX_CONDITION_LENGTH = 300
MAX_CLAUSES = 8

_STEP_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?")
_AREA = re.compile(r"[a-z][a-z0-9-]{0,19}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}|\*")
REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
"""What a region name looks like (also checked by the config)."""


class ConditionError(ValueError):
    """An `auto` condition that does not follow the grammar; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Clause:
    """One comparison: the findings of area.check (subject, region) against a status, or
    (op "drains") a queue's recent samples; only observations made after `after` count."""

    area: str
    check: str
    """The check name, or "*" for any check of the area."""
    subject: str
    """The subject, or "*" for any."""
    region: str | None
    """A region name, TARGET, or None for any region."""
    op: str
    """"==", "<=" or "drains"."""
    status: str | None
    """ok, warn or fail; None for "drains"."""
    after: str | None = None
    """One of EVENTS: only findings observed after it count; None: any time (fresh)."""

    def __str__(self) -> str:
        parts = [f"{self.area}.{self.check}"]
        if self.subject != "*":
            parts.append(self.subject)
        if self.region is not None:
            parts.append(f"region={self.region}")
        if self.after is not None:
            parts.append(f"after={self.after}")
        parts.append(self.op)
        if self.status is not None:
            parts.append(self.status)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Condition:
    """Clauses that must all hold; with "or", any one of several such groups."""

    clauses: tuple[Clause, ...]
    """The first group."""
    alternatives: tuple[tuple[Clause, ...], ...] = ()
    """The groups after each "or", judged like `clauses`."""

    @property
    def groups(self) -> tuple[tuple[Clause, ...], ...]:
        return (self.clauses, *self.alternatives)

    def __str__(self) -> str:
        return " or ".join(
            " and ".join(str(clause) for clause in group) for group in self.groups
        )


def _keyword(words: list[str], key: str) -> str | None:
    """Take `key=VALUE` out of `words` (wherever it stands); its value, or None."""
    found = [word for word in words if word.startswith(f"{key}=")]
    if len(found) > 1:
        raise ConditionError(f"{key}= is given twice")
    if not found:
        return None
    words.remove(found[0])
    return found[0].removeprefix(f"{key}=")


def _parse_clause(words: list[str]) -> Clause:
    words = list(words)
    region = _keyword(words, "region")
    if region is not None and region != TARGET and not REGION_NAME.fullmatch(region):
        raise ConditionError(f"expected a region name or TARGET, found {region[:40]!r}")
    after = _keyword(words, "after")
    if after is not None and after not in EVENTS:
        raise ConditionError(f"after= expects one of {', '.join(EVENTS)}, found {after[:40]!r}")
    if words and words[-1] == DRAINS:
        names, op, status = words[:-1], DRAINS, None
        if names and names[-1] in ("==", "<="):
            raise ConditionError(
                f"drains is not a status: write 'queue.depth drains', without {names[-1]}"
            )
    elif len(words) >= 3:
        *names, op, status = words
        if op == DRAINS:
            raise ConditionError(
                f"drains takes no status (found {status[:20]!r} after it): write"
                " 'queue.depth drains'"
            )
        if op not in ("==", "<="):
            raise ConditionError(f"expected == or <= before the status, found {op[:20]!r}")
        if status not in CONDITION_STATUSES:
            raise ConditionError(f"the status must be one of ok, warn, fail, found {status[:20]!r}")
    else:
        raise ConditionError(
            "expected AREA.CHECK [SUBJECT] [region=NAME] [after=EVENT] (OP STATUS | drains)"
        )
    if not names:
        raise ConditionError("expected AREA.CHECK before drains, such as queue.depth drains")
    head, *rest = names
    area, dot, check = head.partition(".")
    if not dot or not _AREA.fullmatch(area):
        raise ConditionError(f"expected AREA.CHECK such as dns.MX, found {head[:40]!r}")
    if not _NAME.fullmatch(check):
        raise ConditionError(f"expected a check name or * after {area}., found {check[:40]!r}")
    if op == DRAINS and (area != "queue" or check not in ("depth", "*")):
        raise ConditionError(
            f"drains judges a queue's depth over time: it needs queue.depth, found {head[:40]!r}"
        )
    subject = "*"
    for index, word in enumerate(rest):
        if index == 0 and _NAME.fullmatch(word):
            subject = word
        elif "=" in word:
            raise ConditionError(f"unexpected {word[:40]!r} (known: region=NAME, after=EVENT)")
        else:
            raise ConditionError(
                f"unexpected {word[:40]!r} (one subject after AREA.CHECK, then region= and after=)"
            )
    return Clause(area, check, subject, region, op, status, after)


def parse_condition(text: str) -> Condition:
    """Parse an `auto` condition (see the module docstring). Raises ConditionError."""
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"longer than {MAX_CONDITION_LENGTH} characters")
    alternatives: list[list[list[str]]] = [[[]]]
    for word in text.split():
        if word == "or":
            alternatives.append([[]])
        elif word == "and":
            alternatives[-1].append([])
        else:
            alternatives[-1][-1].append(word)
    if alternatives == [[[]]]:
        raise ConditionError("empty: expected a condition such as 'auth.spf == ok'")
    if sum(len(groups) for groups in alternatives) > MAX_CLAUSES:
        raise ConditionError(f"more than {MAX_CLAUSES} clauses")
    parsed = [tuple(_parse_clause(words) for words in groups) for groups in alternatives]
    return Condition(parsed[0], tuple(parsed[1:]))


def with_implicit_after(condition: Condition | None, sets_phase: str | None) -> Condition | None:
    """`condition` as a step setting `sets_phase` judges it: every clause without `after=`
    gets IMPLICIT_AFTER[sets_phase] (unchanged for a step setting no such phase)."""
    event = IMPLICIT_AFTER.get(sets_phase or "")
    if condition is None or event is None:
        return condition
    groups = [
        tuple(
            clause if clause.after is not None else replace(clause, after=event)
            for clause in group
        )
        for group in condition.groups
    ]
    return Condition(groups[0], tuple(groups[1:]))


def parse_step_id(text: str) -> str:
    """A step id: 1 to 48 lower-case letters, digits and inner hyphens. Raises ValueError."""
    if not _STEP_ID.fullmatch(text):
        raise ValueError(
            "a step id is 1 to 48 lower-case letters, digits and hyphens (not at either end)"
        )
    return text


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the checklist."""

    id: str
    phase: str
    """before, during or after (CHECKLIST_PHASES); "unknown" only for ids the log names that
    no step has."""
    title: str
    help: str
    auto: Condition | None
    sets_phase: str | None
    """One of the incident PHASES, set when the step is done; None for most steps."""


def _step(
    id: str,
    phase: str,
    title: str,
    help: str,
    auto: str | None = None,
    sets_phase: str | None = None,
) -> Step:
    assert phase in CHECKLIST_PHASES and (sets_phase is None or sets_phase in PHASES)
    return Step(
        parse_step_id(id),
        phase,
        title,
        help,
        with_implicit_after(None if auto is None else parse_condition(auto), sets_phase),
        sets_phase,
    )


BUILTIN_STEPS: tuple[Step, ...] = (
    # before: know what is broken and stop making it worse
    _step(
        "confirm-scope",
        "before",
        "Confirm the scope of the outage",
        "Find out who is hit: one region, the whole provider, or only some users or devices. "
        "The answer decides whether a failover is needed at all.",
    ),
    _step(
        "freeze-changes",
        "before",
        "Freeze changes that are not part of the fix",
        "Tell every team with access to DNS, mail routing or identity to hold their work, so "
        "each change made from now on is one the incident asked for.",
    ),
    _step(
        "declare",
        "before",
        "Declare the incident and open its channel",
        "Name the commander, open the incident chat or bridge, and say where decisions are "
        "recorded. Marks the incident as declared.",
        sets_phase="declared",
    ),
    # during: evidence first, then the smallest possible cutover
    _step(
        "evidence-queue",
        "during",
        "Evidence: queue depth",
        "Note how many messages wait in each queue and how old the oldest is, per region.",
    ),
    _step(
        "evidence-smtp",
        "during",
        "Evidence: SMTP rejection codes",
        "Collect the reply codes remote servers and our own edges return (4xx deferrals, 5xx "
        "refusals), with a sample of the text.",
    ),
    _step(
        "evidence-dns",
        "during",
        "Evidence: DNS propagation",
        "Record what public resolvers answer for MX, webmail and autodiscover today, before "
        "anything is changed.",
    ),
    _step(
        "evidence-storage",
        "during",
        "Evidence: storage health",
        "Check the mailbox stores and replicas: are they mounted, in sync, and how far behind?",
    ),
    _step(
        "evidence-auth",
        "during",
        "Evidence: authentication status",
        "Can users sign in (identity provider, directory sync)? Do SPF, DKIM and DMARC still "
        "pass for outgoing mail?",
    ),
    _step(
        "cutover",
        "during",
        "Cut over: change the fewest records, note the time",
        "Edit only the records the failover needs (usually MX, then webmail and autodiscover). "
        "Write down the minute the change went live. Marks traffic as routed.",
        auto="dns.MX region=TARGET == ok",
        sets_phase="routed",
    ),
    _step(
        "inform-users",
        "during",
        "Keep users informed through another channel",
        "Email may be down, so post updates by SMS, chat, status page or phone tree, and say "
        "where to ask for help.",
    ),
    _step(
        "mail-flowing",
        "during",
        "Mail flows again in the target region",
        "New messages arrive and leave through the target region and its queues drain (or an "
        "inbound and an outbound canary arrive ok through it). Marks service as restored.",
        auto=(
            "service.smtp region=TARGET == ok after=routed"
            " and queue.depth region=TARGET drains after=routed"
            " or canary.inbound region=TARGET == ok and canary.outbound region=TARGET == ok"
        ),
        sets_phase="restored",
    ),
    # after: prove the recovery before calling it one
    _step(
        "verify-delivery",
        "after",
        "Delivery works both ways",
        "Send messages in, out and between internal mailboxes, and see each one arrive. An "
        "inbound and an outbound canary that arrive ok through the target after routing do it.",
        auto=(
            "canary.inbound region=TARGET == ok after=routed"
            " and canary.outbound region=TARGET == ok after=routed"
        ),
    ),
    _step(
        "sample-mailboxes",
        "after",
        "Sample mailboxes: content and folders intact",
        "Pick a few mailboxes from several departments (leadership, finance, support, a "
        "service account). Compare folder trees, unread counts and recent items with what "
        "their owners expect.",
    ),
    _step(
        "shared-mailboxes",
        "after",
        "Shared mailboxes and delegation still work",
        "Open a shared mailbox as a member and send on behalf of someone who delegated access.",
    ),
    _step(
        "calendars",
        "after",
        "Calendars: invites and free/busy",
        "Create a meeting, accept it from another account and check that free/busy shows it.",
    ),
    _step(
        "search-index",
        "after",
        "Search finds recent and older mail",
        "Search for a message from today and one from last month; a lagging index is common "
        "right after a switch.",
    ),
    _step(
        "outbound-vs-sent",
        "after",
        "Outbound queues match sent items, no duplicates",
        "Compare what users sent during the switch with what the queues delivered, and look "
        "for messages that went out twice.",
    ),
    _step(
        "external-placement",
        "after",
        "External delivery and inbox placement",
        "Send to accounts at several outside providers: did it land in the inbox, in spam, or "
        "bounce with a code?",
    ),
    _step(
        "auth-alignment",
        "after",
        "TLS, PTR and SPF/DKIM/DMARC line up",
        "From the new sending path: STARTTLS is offered with a valid certificate, reverse DNS "
        "matches the HELO name, and SPF, DKIM and DMARC all pass and align. An outbound "
        "canary received ok after routing (signed, sent and aligned) shows the same.",
        auto=(
            "auth.spf region=TARGET after=routed == ok and auth.dkim region=TARGET"
            " after=routed == ok and auth.dmarc region=TARGET after=routed == ok"
            " or canary.outbound region=TARGET == ok after=routed"
            " and canary.dmarc region=TARGET == ok after=routed"
        ),
    ),
    _step(
        "webmail-cert",
        "after",
        "Webmail: expected certificate and headers",
        "Load webmail from a desktop browser and a phone; the certificate chain and the "
        "security headers should be the ones we publish.",
        auto="auth.webmail region=TARGET after=routed == ok",
    ),
    _step(
        "sample-restore",
        "after",
        "Restore a sample from backup",
        "Restore one mailbox or folder from the backup set to prove it can be read, not only "
        "that it exists.",
    ),
    _step(
        "declare-verified",
        "after",
        "Recovery verified",
        "Every check above is done or skipped with a reason. Marks the recovery as verified.",
        sets_phase="verified",
    ),
    _step(
        "lessons",
        "after",
        "Turn lessons into runbook edits",
        "For each surprise, write the change to this runbook, the diagrams or the scripts, and "
        "tag the log note as a lesson so it reaches the report.",
    ),
)
"""The built-in runbook, in order."""


def steps_for(config: Config | None) -> tuple[Step, ...]:
    """The checklist for `config`: the built-in steps, changed by `[checklist]`.

    A `[[checklist.step]]` whose id is a built-in one replaces that step where it stands; other
    steps are added after the last step of their phase (in file order). With
    `replace_builtin = true` only the config's steps are used, in file order.
    """
    if config is None:
        return BUILTIN_STEPS
    settings = config.checklist
    configured = tuple(
        Step(
            step.id,
            step.phase,
            step.title,
            step.help,
            with_implicit_after(step.auto, step.sets_phase),
            step.sets_phase,
        )
        for step in settings.steps
    )
    if settings.replace_builtin:
        return configured
    by_id = {step.id: step for step in configured}
    merged = [by_id.pop(step.id, step) for step in BUILTIN_STEPS]
    for added in by_id.values():
        last_of_phase = max(
            (index for index, step in enumerate(merged) if step.phase == added.phase),
            default=None,
        )
        if last_of_phase is None:
            later = CHECKLIST_PHASES[CHECKLIST_PHASES.index(added.phase) + 1 :]
            first_later = next(
                (index for index, step in enumerate(merged) if step.phase in later), len(merged)
            )
            merged.insert(first_later, added)
        else:
            merged.insert(last_of_phase + 1, added)
    return tuple(merged)
