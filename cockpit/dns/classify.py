"""Judge one resolver's answer: which region it sends people to, or whether it is still stale.

Two ways, chosen by WatchedName.judge:
- BY_REGION (MX, webmail A/AAAA, autodiscover CNAME/SRV): every target of the answer is looked up
  in `targets_by_region`. All targets in one region -> REGION; targets of several regions and no
  region shared by all -> MIXED (a split brain for that resolver); any target of no configured
  region -> UNEXPECTED (a typo or a hijack).
- BY_AUTHORITATIVE (TXT, TLSA, PTR, extra records): the answer is compared with what the
  authoritative servers serve now (`authoritative_view`): the same -> CURRENT, different ->
  STALE. With no authoritative view there is nothing to compare with: FAILED, with that reason.
  While the authoritative servers disagree no value is current: an answer is STALE, "the
  authoritative servers disagree" (the view's value is only a majority or the first in order).

An answer served from an expired cache entry (serve-stale: EDE 3 or 19, ede.STALE_ANSWER_CODES)
keeps its verdict; `served_stale` names it, for the findings and the propagation: the resolver
could not reach the authoritative servers, and will not clear it by its TTL.

Either way NXDOMAIN/NODATA -> MISSING (the reason says which), and a resolver that could not tell
(TIMEOUT, NETWORK_ERROR, SERVFAIL, REFUSED, MALFORMED, OTHER_RCODE) -> FAILED with its reason,
which names any extended DNS error (RFC 8914) it sent. One SERVFAIL is not "could not tell":
with an extended error that says DNSSEC validation failed (ede.DNSSEC_FAILURE_CODES) it is
BOGUS, "DNSSEC bogus (EDE 7 Signature Expired: <text>)": that validating resolver rejects the
zone's data and will go on rejecting it, for everyone behind it, until the zone is repaired.

An authoritative that serves only a CNAME into a zone held elsewhere (Outcome.CHAIN_ONLY: a
DKIM selector delegated to a mail provider) vouches for the chain, not for the records at its
end: the view then holds that chain (`AuthoritativeView.chain_only`), and a resolver is judged
by its own chain: the same CNAMEs -> CURRENT (or MISSING when the provider has nothing), other
CNAMEs -> STALE. A resolver that itself gives only a chain could not tell: FAILED.

A TXT name can be shared (SPF at the apex): with `txt_prefix` only the strings starting with it
(case-insensitively, followed by a space or the end, as RFC 7208 reads "v=spf1") count, and an
answer with none of them counts as NODATA.

When every target belongs to several regions (a host shared by regions) the verdict is REGION,
`regions` lists every region shared by all targets and `region` is the first in config order;
"points at region X" is therefore `verdict is REGION and X in regions`.

Answers are data: escape characters and markup stay verbatim in reasons (cut to one bounded
line); making them safe to show is the display's job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cockpit.compat import StrEnum
from cockpit.dns.ede import dnssec_failure, ede_label, stale_answer
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import Judge, WatchedName, answer_targets

SUMMARY_CHARS = 120
"""Longest summary or reason, in characters, "…" included."""
VALUE_CHARS = 80
"""Longest single value (a TXT string, a host name) quoted inside a reason."""

USABLE_OUTCOMES = frozenset({Outcome.ANSWER, Outcome.NXDOMAIN, Outcome.NODATA})
NEGATIVE_OUTCOMES = frozenset({Outcome.NXDOMAIN, Outcome.NODATA})

_LINE_BREAKS = str.maketrans(
    {
        "\n": "\\n",
        "\r": "\\r",
        "\v": "\\v",
        "\f": "\\f",
        "\x1c": "\\x1c",
        "\x1d": "\\x1d",
        "\x1e": "\\x1e",
        "\x85": "\\x85",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


class Verdict(StrEnum):
    REGION = "region"
    MIXED = "mixed"
    UNEXPECTED = "unexpected"
    MISSING = "missing"
    CURRENT = "current"
    """BY_AUTHORITATIVE: the same as what the authoritative servers serve now."""
    STALE = "stale"
    """BY_AUTHORITATIVE: differs from it (an old value still cached)."""
    FAILED = "failed"
    """The resolver could not tell (or, for BY_AUTHORITATIVE, there is nothing to compare with)."""
    BOGUS = "bogus"
    """A validating resolver answered SERVFAIL with a DNSSEC extended error: it refuses the
    name (an outage behind it, which waiting does not end)."""


@dataclass(frozen=True, slots=True)
class Classified:
    verdict: Verdict
    region: str | None
    """The single region pointed at (REGION), else None."""
    regions: tuple[str, ...]
    """REGION: the regions every target belongs to; otherwise every region seen among targets."""
    unexpected: tuple[str, ...]
    """Targets of no configured region."""
    reason: str
    """One bounded line a commander understands."""


@dataclass(frozen=True, slots=True)
class AuthoritativeView:
    answers: tuple[str, ...] | None
    """The agreed normalised answer set (empty when negative); None when no server answered
    usably. When servers disagree, the value most servers serve (ties: config order)."""
    outcome: Outcome | None
    """The agreed outcome (ANSWER/NXDOMAIN/NODATA) or None."""
    negative: bool
    """The authoritative says the name/type does not exist."""
    disagreements: tuple[str, ...]
    """One line per server that differs, empty when all agree."""
    classified: Classified | None
    """For BY_REGION records: what the authoritative answer points at."""
    chain: tuple[str, ...] | None = None
    """The CNAME chain of the agreed value, as the first server serving it gave it (empty for
    no CNAME); None without a view. Tells which link of a resolver's stale chain is stale."""

    @property
    def chain_only(self) -> bool:
        """The authoritative servers serve only a CNAME chain into a zone served elsewhere."""
        return self.outcome is Outcome.CHAIN_ONLY


@dataclass(frozen=True, slots=True)
class ServerValue:
    """What one authoritative server serves for one record."""

    spec: ServerSpec
    label: str
    """"authoritative NAME-OR-IP", as findings name it."""
    observation: Observation | None
    outcome: Outcome | None
    """The effective outcome (see `effective_outcome`); None when it could not tell."""
    answers: tuple[str, ...]
    """The relevant normalised answers (empty unless ANSWER)."""
    chain: tuple[str, ...] = ()
    """CHAIN_ONLY: the CNAME chain it serves (which is its whole value); empty otherwise."""

    @property
    def value(self) -> tuple[Outcome | None, tuple[str, ...], tuple[str, ...]]:
        """What is compared between servers: outcome, answers and (CHAIN_ONLY) the chain."""
        return self.outcome, self.answers, self.chain


NO_VIEW = AuthoritativeView(None, None, False, (), None)


# --- text helpers shared by propagation, events and findings ---------------------------------


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` on one line (line breaks shown as escapes) and at most `limit` characters."""
    text = text.translate(_LINE_BREAKS)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def quote(value: str) -> str:
    return f'"{one_line(value, VALUE_CHARS)}"'


def quote_values(values: Sequence[str], most: int = 3) -> str:
    """Quoted values, the first `most` of them, for a reason."""
    shown = ", ".join(quote(value) for value in values[:most])
    if len(values) > most:
        shown += f" and {len(values) - most} more"
    return shown


def bounded_answers(answers: Sequence[str], most: int = 32, chars: int = 512) -> list[str]:
    """Answers for `data`: at most `most`, each at most `chars` characters (kept verbatim)."""
    kept = [answer if len(answer) <= chars else answer[: chars - 1] + "…" for answer in answers]
    if len(kept) > most:
        kept = kept[:most] + [f"…[{len(kept) - most} more]"]
    return kept


def authoritative_label(spec: ServerSpec) -> str:
    return f"authoritative {spec.name or spec.ip}"


def failure_reason(obs: Observation) -> str:
    """Why a resolver could not tell, one line, distinct for every failure outcome."""
    if obs.outcome is Outcome.TIMEOUT:
        attempts = f"{obs.attempts} attempt" + ("s" if obs.attempts != 1 else "")
        return one_line(f"timeout after {attempts}")
    labels = {
        Outcome.UNOBSERVED: "not observed",
        Outcome.NETWORK_ERROR: "network error",
        Outcome.SERVFAIL: "SERVFAIL",
        Outcome.REFUSED: "REFUSED",
        Outcome.MALFORMED: "malformed reply",
        Outcome.OTHER_RCODE: f"rcode {obs.rcode or 'unknown'}",
        Outcome.CHAIN_ONLY: "CNAME only",
        Outcome.REFERRAL: "not authoritative",
    }
    label = labels.get(obs.outcome, str(obs.outcome))
    error = obs.error or ""
    if obs.ede and "EDE " not in error:
        # An Observation built without query.py's reason: name the extended error anyway.
        extended = ede_label(obs.ede[0])
        error = f"{error} ({extended})" if error else extended
    if not error:
        return one_line(label)
    if label.casefold() in error.casefold():
        return one_line(error)
    return one_line(f"{label}: {error}")


def bogus_reason(obs: Observation) -> str | None:
    """ "DNSSEC bogus (EDE 7 Signature Expired: <text>)" when `obs` is a validating
    resolver's SERVFAIL for a DNSSEC failure; None otherwise."""
    if obs.outcome is not Outcome.SERVFAIL:
        return None
    error = dnssec_failure(obs.ede)
    if error is None:
        return None
    return one_line(f"DNSSEC bogus ({ede_label(error)})")


# --- what counts in an answer ---------------------------------------------------------------


def _matches_prefix(text: str, prefix: str) -> bool:
    head = text[: len(prefix)]
    if head.casefold() != prefix.casefold():
        return False
    return len(text) == len(prefix) or text[len(prefix)] == " "


def relevant_answers(watched: WatchedName, obs: Observation) -> tuple[str, ...]:
    """The answers that count for this check, sorted and unique."""
    if obs.outcome is not Outcome.ANSWER:
        return ()
    answers: Iterable[str] = obs.answers
    if watched.txt_prefix:
        answers = (a for a in obs.answers if _matches_prefix(a, watched.txt_prefix))
    return tuple(sorted(set(answers)))


def effective_outcome(watched: WatchedName, obs: Observation) -> Outcome:
    """The outcome, except that an ANSWER with nothing that counts is NODATA."""
    if obs.outcome is Outcome.ANSWER and not relevant_answers(watched, obs):
        return Outcome.NODATA
    return obs.outcome


def _missing_reason(watched: WatchedName, obs: Observation, outcome: Outcome) -> str:
    name = one_line(obs.qname or watched.name, VALUE_CHARS)
    if obs.outcome is Outcome.ANSWER and watched.txt_prefix:
        count = len(obs.answers)
        return one_line(
            f"no {watched.txt_prefix} record among {count} TXT record"
            + ("s" if count != 1 else "")
            + f" at {name} (NODATA for {watched.check})"
        )
    if obs.outcome is Outcome.ANSWER:
        return one_line(f"empty {watched.rdtype} answer for {name} (NODATA)")
    if outcome is Outcome.NXDOMAIN:
        return one_line(f"{name} does not exist (NXDOMAIN)")
    return one_line(f"{name} exists but has no {watched.rdtype} records (NODATA)")


# --- BY_REGION -----------------------------------------------------------------------------


def normalise_target(rdtype: str, answer: str) -> str:
    target = answer_targets(rdtype, answer).strip()
    if target != ".":
        target = target.rstrip(".").lower()
    if rdtype in ("A", "AAAA"):
        try:
            target = ipaddress.ip_address(target).compressed
        except ValueError:
            pass
    return target


def _region_lookup(watched: WatchedName) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for region, targets in watched.targets_by_region.items():
        for target in targets:
            owners.setdefault(normalise_target(watched.rdtype, target), []).append(region)
    return owners


def classify_targets(
    watched: WatchedName, answers: Sequence[str], chain: Sequence[str] = ()
) -> Classified:
    """REGION, MIXED, UNEXPECTED or MISSING for a BY_REGION answer set."""
    targets = tuple(dict.fromkeys(normalise_target(watched.rdtype, a) for a in answers))
    if not targets:
        return Classified(Verdict.MISSING, None, (), (), f"empty {watched.rdtype} answer")
    lookup = _region_lookup(watched)
    order = list(watched.targets_by_region)
    owners = {target: lookup.get(target, []) for target in targets}
    unexpected = tuple(t for t in targets if not owners[t])
    seen = tuple(r for r in order if any(r in owners[t] for t in targets))
    common = tuple(r for r in order if all(r in owners[t] for t in targets))
    via = f" via {' -> '.join(one_line(link, VALUE_CHARS) for link in chain)}" if chain else ""
    if unexpected:
        reason = f"answers {_listing(targets, owners)}{via}"
        return Classified(Verdict.UNEXPECTED, None, seen, unexpected, one_line(reason))
    if common:
        reason = f"answers {_listing(targets, owners)}{via}"
        return Classified(Verdict.REGION, common[0], common, (), one_line(reason))
    reason = f"split answer: {_listing(targets, owners)}{via}"
    return Classified(Verdict.MIXED, None, seen, (), one_line(reason))


def _listing(targets: Sequence[str], owners: dict[str, list[str]]) -> str:
    def label(target: str) -> str:
        return "/".join(owners[target]) or "no configured region"

    labels = {label(target) for target in targets}
    shown = [one_line(t, VALUE_CHARS) for t in targets[:4]]
    more = f" and {len(targets) - 4} more" if len(targets) > 4 else ""
    if len(labels) == 1:
        return f"{', '.join(shown)}{more} ({labels.pop()})"
    parts = [f"{one_line(t, VALUE_CHARS)} ({label(t)})" for t in targets[:4]]
    return ", ".join(parts) + more


# --- the authoritative side ----------------------------------------------------------------


def server_values(sweep: SweepResult, watched: WatchedName) -> tuple[ServerValue, ...]:
    """What every authoritative server serves for `watched`, in sweep order."""
    values: list[ServerValue] = []
    for spec in sweep.authoritative:
        obs = sweep.authoritative_observations.get((spec.name, watched.key))
        outcome: Outcome | None = None
        answers: tuple[str, ...] = ()
        chain: tuple[str, ...] = ()
        # Only an authoritative answer (AA set) is the truth; a referral or a cached answer
        # from a server that is not authoritative for this name says nothing about it.
        if obs is not None and obs.authoritative_answer:
            if obs.outcome in USABLE_OUTCOMES:
                outcome = effective_outcome(watched, obs)
                answers = relevant_answers(watched, obs) if outcome is Outcome.ANSWER else ()
            elif obs.outcome is Outcome.CHAIN_ONLY and obs.cname_chain:
                outcome, chain = Outcome.CHAIN_ONLY, obs.cname_chain
        values.append(ServerValue(spec, authoritative_label(spec), obs, outcome, answers, chain))
    return tuple(values)


def describe_chain(chain: Sequence[str]) -> str:
    """ "CNAME -> a.provider.test (served elsewhere)", bounded."""
    if not chain:
        return "a CNAME into a zone served elsewhere"
    links = " -> ".join(one_line(link, VALUE_CHARS) for link in chain[:4])
    more = f" and {len(chain) - 4} more" if len(chain) > 4 else ""
    return f"CNAME -> {links}{more} (served elsewhere)"


def describe_value(
    watched: WatchedName, outcome: Outcome, answers: Sequence[str], chain: Sequence[str] = ()
) -> str:
    """What a server serves, for a reason: targets with regions, quoted values, NXDOMAIN, or
    (CHAIN_ONLY) the CNAME chain it hands on."""
    if outcome is Outcome.CHAIN_ONLY:
        return describe_chain(chain)
    if outcome in NEGATIVE_OUTCOMES:
        return f"no {watched.check} record ({outcome.value.upper()})"
    if watched.judge is Judge.BY_REGION:
        return classify_targets(watched, answers).reason.removeprefix("answers ")
    return quote_values(answers)


def authoritative_view(sweep: SweepResult, watched: WatchedName) -> AuthoritativeView:
    if sweep.authoritative_error is not None or not sweep.authoritative:
        return NO_VIEW
    values = server_values(sweep, watched)
    usable = [(value.label, value.outcome, value.answers, value.chain) for value in values]
    usable = [row for row in usable if row[1] is not None]
    if not usable:
        return NO_VIEW
    counts: dict[tuple[Outcome, tuple[str, ...], tuple[str, ...]], int] = {}
    for _, outcome, answers, served_chain in usable:
        assert outcome is not None
        key = (outcome, answers, served_chain)
        counts[key] = counts.get(key, 0) + 1
    # The value most servers serve; on a tie the first seen (sweep order), as max() keeps it.
    agreed = max(counts, key=lambda value: counts[value])
    agreed_outcome, agreed_answers, agreed_chain = agreed
    agreed_text = describe_value(watched, *agreed)
    disagreements = tuple(
        one_line(
            f"{label} serves {describe_value(watched, outcome, answers, served_chain)}"
            f" while others serve {agreed_text}"
        )
        for label, outcome, answers, served_chain in usable
        if outcome is not None and (outcome, answers, served_chain) != agreed
    )
    negative = agreed_outcome in NEGATIVE_OUTCOMES
    chain = next(
        (
            value.observation.cname_chain
            for value in values
            if value.observation is not None and value.value == agreed
        ),
        (),
    )
    classified: Classified | None = None
    if watched.judge is Judge.BY_REGION and agreed_outcome is Outcome.CHAIN_ONLY:
        # The targets are served elsewhere: no region to tell from here.
        classified = Classified(Verdict.FAILED, None, (), (), one_line(f"serves {agreed_text}"))
    elif watched.judge is Judge.BY_REGION:
        if negative:
            classified = Classified(
                Verdict.MISSING, None, (), (), one_line(f"serves {agreed_text}")
            )
        else:
            classified = classify_targets(watched, agreed_answers)
    return AuthoritativeView(
        agreed_answers, agreed_outcome, negative, disagreements, classified, chain
    )


# --- one resolver's answer -----------------------------------------------------------------


def served_stale(obs: Observation) -> str | None:
    """ "served stale (EDE 3 Stale Answer)" when a usable answer came from an expired cache
    entry (ede.STALE_ANSWER_CODES): the resolver could not refresh it, and its TTL promises
    nothing. None otherwise. The server's EDE text is left out (the reason stays short)."""
    if obs.outcome not in USABLE_OUTCOMES:
        return None
    error = stale_answer(obs.ede)
    if error is None:
        return None
    return f"served stale ({ede_label((error[0], ''))})"


def classify(watched: WatchedName, obs: Observation, view: AuthoritativeView) -> Classified:
    if obs.region_seen is not None and obs.outcome is Outcome.ANSWER:
        return _judged_elsewhere(watched, obs)
    if obs.outcome not in USABLE_OUTCOMES:
        bogus = bogus_reason(obs)
        if bogus is not None:
            return Classified(Verdict.BOGUS, None, (), (), bogus)
        return Classified(Verdict.FAILED, None, (), (), failure_reason(obs))
    outcome = effective_outcome(watched, obs)
    if view.chain_only and watched.judge is Judge.BY_AUTHORITATIVE:
        moved = _moved_link(obs, view)
        if moved is not None:
            return Classified(Verdict.STALE, None, (), (), moved)
    if outcome in NEGATIVE_OUTCOMES:
        return Classified(Verdict.MISSING, None, (), (), _missing_reason(watched, obs, outcome))
    answers = relevant_answers(watched, obs)
    if view.chain_only and watched.judge is Judge.BY_AUTHORITATIVE:
        via = " -> ".join(one_line(link, VALUE_CHARS) for link in obs.cname_chain[:4])
        return Classified(
            Verdict.CURRENT, None, (), (), one_line(f"answers {quote_values(answers)} via {via}")
        )
    if watched.judge is Judge.BY_REGION:
        chain = obs.cname_chain if watched.rdtype != "CNAME" else ()
        return classify_targets(watched, answers, chain)
    shown = quote_values(answers)
    if view.outcome is None:
        reason = f"answers {shown}; no authoritative view to compare with"
        return Classified(Verdict.FAILED, None, (), (), one_line(reason))
    if view.disagreements:
        # The view's value is only the majority (on a tie, the first server in config order):
        # no answer is known to be current while the servers serve different ones.
        reason = f"answers {shown}; the authoritative servers disagree"
        return Classified(Verdict.STALE, None, (), (), one_line(reason))
    if view.negative:
        reason = f"still answers {shown}; the authoritative servers now serve none"
        return Classified(Verdict.STALE, None, (), (), one_line(reason))
    if answers == view.answers:
        return Classified(Verdict.CURRENT, None, (), (), one_line(f"answers {shown}"))
    current = quote_values(view.answers or ())
    reason = f"still answers {shown}; the authoritative servers now serve {current}"
    return Classified(Verdict.STALE, None, (), (), one_line(reason))


def _judged_elsewhere(watched: WatchedName, obs: Observation) -> Classified:
    """An answer a prober elsewhere checked against the regions' targets (region_seen)."""
    how = one_line(obs.raw_answers[0], VALUE_CHARS) if obs.raw_answers else "a prober"
    region = obs.region_seen
    if watched.judge is not Judge.BY_REGION:
        return Classified(
            Verdict.FAILED, None, (), (), one_line(f"not comparable: only judged by {how}")
        )
    if region and region in watched.targets_by_region:
        reason = f"answers {region}'s targets (judged by {how})"
        return Classified(Verdict.REGION, region, (region,), (), one_line(reason))
    reason = f"answers no single region's targets (mixed or unlisted; judged by {how})"
    return Classified(Verdict.UNEXPECTED, None, (), (), one_line(reason))


def _moved_link(obs: Observation, view: AuthoritativeView) -> str | None:
    """Against a CHAIN_ONLY view: why this resolver's chain is not the authoritative one (a
    link that differs, or a chain that stops short of it), or None when it follows it."""
    served = view.chain or ()
    mine = obs.cname_chain
    if mine[: len(served)] == served:
        return None

    def links(chain: Sequence[str]) -> str:
        return describe_chain(chain).removesuffix(" (served elsewhere)")

    # Short, so the TTL of the stale link still fits the summary after it.
    have = f"still follows {links(mine)}" if mine else "still has no CNAME"
    return one_line(f"{have}; authoritative now: {links(served)}")


def points_at(classified: Classified, region: str) -> bool:
    """True when the answer sends everyone to `region`."""
    return classified.verdict is Verdict.REGION and region in classified.regions
