"""One sweep as Findings (`cockpit check --json`), without I/O.

Order: SOA findings (one per authoritative server, or one "authoritative" unknown finding when
there is no authoritative view); then per watched record: one finding per authoritative server,
one per resolver (config order), and the "propagation" finding.

Status rules for an answer (resolver or authoritative server):
- ok: the target answer (BY_REGION: points at the target region; BY_AUTHORITATIVE: the value the
  authoritative servers serve now); an absent record that is not required ("not published");
  an absent BY_REGION record whose target region has no targets of its type in the config
  ("secondary has no AAAA: none is correct"; WatchedName.absent_in), from a resolver or an
  authoritative server alike.
  An authoritative server that serves only a CNAME into a zone held elsewhere (a DKIM selector
  at a mail provider) is ok too, "serves CNAME -> NAME (served elsewhere)": it vouches for the
  chain, and resolvers are judged by whether they follow the same one.
- warn: another configured region (propagation pending; also where the target region has none
  of this type: a left-over AAAA of the old region); a split answer (MIXED), with or without
  the target region: it sends some people to each, which a cache will resolve when it expires;
  a stale value (BY_AUTHORITATIVE), and any answer while the authoritative servers disagree
  on it (no value is current then); a cached NXDOMAIN/NODATA while the authoritative serves data;
  an answer served from an expired cache (EDE 3/19, serve-stale), even the target one: the
  summary starts "served stale (EDE 3 Stale Answer): " and shows no TTL;
  an authoritative server that disagrees with the others; SOA serial skew. The TTL shown with a
  stale answer is the one of the link holding the stale part (propagation.stale_ttl: a moved
  CNAME's, not the record's at the end of the chain).
- fail: targets of no configured region; a required record that is absent (and the authoritative
  has nothing either, or there is no authoritative view to say otherwise); more than one record
  with the txt_prefix (two SPF records: receivers return permerror); DNSSEC bogus: a validating
  resolver's SERVFAIL with a DNSSEC extended error (RFC 8914), "DNSSEC bogus (EDE 7 Signature
  Expired: <text>)", an outage for everyone behind that resolver.
- unknown: the resolver could not tell (timeout, network error, SERVFAIL without a DNSSEC
  extended error (any other EDE is named in the reason), REFUSED, malformed, other rcode, a
  referral or an empty answer it does not vouch for: Outcome.REFERRAL), was not asked, or a
  BY_AUTHORITATIVE answer has no authoritative view to compare with; an authoritative server's
  answer without the AA flag (not its own zone's data); an NS host that was not asked because
  none of its addresses was found (its SOA row says why).

The propagation finding: ok when every resolver gives the target answer; fail when blocked (the
authoritative servers serve a non-target region, unexpected data, or nothing for a required
record that the target region has) or when some resolver will not converge by waiting (DNSSEC
bogus, or a target in no region: an override or hijack), with no estimate; warn while some are
stale; unknown when the rest could not tell (or there is no authoritative view and no resolver
is stale).
"""

from __future__ import annotations

from typing import Any

from cockpit.dns.classify import (
    NEGATIVE_OUTCOMES,
    USABLE_OUTCOMES,
    VALUE_CHARS,
    AuthoritativeView,
    Classified,
    Verdict,
    authoritative_label,
    authoritative_view,
    bounded_answers,
    classify,
    classify_targets,
    describe_chain,
    describe_value,
    failure_reason,
    one_line,
    points_at,
    quote_values,
    relevant_answers,
    served_stale,
    server_values,
)
from cockpit.dns.observation import Observation, Outcome
from cockpit.dns.propagation import Propagation, record_propagation, serial_view, stale_ttl
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import Judge, WatchedName
from cockpit.model import Finding, Status

AREA = "dns"


def findings_from_sweep(sweep: SweepResult, target: str) -> list[Finding]:
    findings = _soa_findings(sweep)
    for watched in sweep.watched:
        view = authoritative_view(sweep, watched)
        findings += _authoritative_findings(sweep, watched, view, target)
        for spec in sweep.resolvers_asked(watched.key):
            obs = sweep.observations.get((spec.name, watched.key))
            findings.append(_answer_finding(watched, obs, view, target, spec.name))
        findings.append(_propagation_finding(record_propagation(sweep, watched, target), target))
    return findings


def _domain(sweep: SweepResult) -> str:
    for obs in sweep.serials.values():
        return obs.qname
    for watched in sweep.watched:
        if watched.check == "MX":
            return watched.name
    return sweep.watched[0].name if sweep.watched else ""


def _soa_findings(sweep: SweepResult) -> list[Finding]:
    domain = _domain(sweep)
    if sweep.authoritative_error is not None or not sweep.authoritative:
        reason = sweep.authoritative_error or "no authoritative servers to ask"
        summary = one_line(f"no authoritative view: {reason}")
        return [
            Finding(
                AREA,
                "authoritative",
                domain,
                Status.UNKNOWN,
                summary,
                data={"reason": reason, "source": sweep.authoritative_source},
            )
        ]
    view = serial_view(sweep)
    findings: list[Finding] = []
    for spec in sweep.authoritative:
        serial = view.serials.get(spec.name)
        obs = sweep.serials.get(spec.name)
        if serial is None:
            status = Status.UNKNOWN
            why = failure_reason(obs) if obs is not None and not obs.ok else "no SOA serial"
            summary = f"serial unknown: {why}"
        elif view.skew:
            status, summary = Status.WARN, f"serial {serial}; {view.reason}"
        else:
            status, summary = Status.OK, f"serial {serial}"
        data = {"serial": serial, "serials": dict(view.serials), "skew": view.skew}
        findings.append(
            Finding(
                AREA,
                "SOA",
                domain,
                status,
                one_line(summary),
                resolver=authoritative_label(spec),
                data=data,
            )
        )
    for host, why in sweep.authoritative_unresolved.items():
        # An NS host that was never asked: the view above is missing it.
        data = {"serial": None, "serials": dict(view.serials), "skew": view.skew}
        findings.append(
            Finding(
                AREA,
                "SOA",
                domain,
                Status.UNKNOWN,
                one_line(f"serial unknown: not asked, {why}"),
                resolver=f"authoritative {host}",
                data={**data, "unresolved": True, "reason": why},
            )
        )
    return findings


def _authoritative_findings(
    sweep: SweepResult, watched: WatchedName, view: AuthoritativeView, target: str
) -> list[Finding]:
    if sweep.authoritative_error is not None:
        return []
    agreed = (view.outcome, view.answers, view.chain if view.chain_only else ())
    findings: list[Finding] = []
    values = server_values(sweep, watched)
    for value in values:
        finding = _answer_finding(
            watched, value.observation, view, target, value.label, authoritative=True
        )
        if value.outcome is not None and view.outcome is not None and view.disagreements:
            status = Status.FAIL if finding.status is Status.FAIL else Status.WARN
            others = _short(watched, view.outcome, view.answers or (), agreed[2] or ())
            if value.value != agreed:
                mine = _short(watched, value.outcome, value.answers, value.chain)
                summary = f"serves {mine} while other authoritative servers serve {others}"
            else:
                differing = [
                    other.label
                    for other in values
                    if other.outcome is not None and other.value != agreed
                ]
                summary = f"serves {others}, but {', '.join(differing)} differ"
            data = {**finding.data, "disagrees": True}
            finding = Finding(
                AREA,
                finding.check,
                finding.subject,
                status,
                one_line(summary),
                region=finding.region,
                resolver=finding.resolver,
                data=data,
                observed_at=finding.observed_at,
            )
        findings.append(finding)
    return findings


def _short(
    watched: WatchedName,
    outcome: Outcome,
    answers: tuple[str, ...],
    chain: tuple[str, ...] = (),
) -> str:
    """What a server serves, briefly: a region for BY_REGION answers, quoted values otherwise
    (a CNAME chain for CHAIN_ONLY)."""
    if outcome is Outcome.ANSWER and watched.judge is Judge.BY_REGION:
        classified = classify_targets(watched, answers)
        if classified.verdict is Verdict.REGION:
            return "/".join(classified.regions)
        if classified.verdict is Verdict.MIXED:
            return f"a mix of {', '.join(classified.regions)}"
    return describe_value(watched, outcome, answers, chain)


def _answer_finding(
    watched: WatchedName,
    obs: Observation | None,
    view: AuthoritativeView,
    target: str,
    resolver: str,
    *,
    authoritative: bool = False,
) -> Finding:
    def finding(status: Status, summary: str, region: str | None, data: dict[str, Any]) -> Finding:
        # Its region is where the answer points; data.target is the region it was judged
        # against (what a checklist's region=TARGET asks about), and its time is the answer's
        # own (a vantage's row may be older than the sweep it joined).
        return Finding(
            AREA,
            watched.check,
            watched.name,
            status,
            one_line(summary),
            region=region,
            resolver=resolver,
            data={**data, "target": target},
            observed_at=None if obs is None else obs.observed_at,
        )

    if obs is None:
        return finding(Status.UNKNOWN, "not asked in this sweep", None, {"verdict": None})
    if authoritative and obs.outcome in USABLE_OUTCOMES and not obs.authoritative_answer:
        # Not its own zone's data (a cached copy, or a server that lost the zone): the view
        # leaves it out (server_values), and so does its row.
        name = one_line(obs.qname or watched.name, VALUE_CHARS)
        summary = f"answered without the AA flag: the server is not authoritative for {name}"
        classified = Classified(Verdict.FAILED, None, (), (), one_line(summary))
        return finding(Status.UNKNOWN, summary, None, _data(watched, obs, classified, view))
    if authoritative and obs.outcome is Outcome.CHAIN_ONLY and obs.authoritative_answer:
        # It vouches for the CNAMEs only; the records at their end are another zone's.
        chain = describe_chain(obs.cname_chain).removesuffix(" (served elsewhere)")
        summary = f"serves {chain}; the target is served elsewhere"
        classified = Classified(Verdict.CURRENT, None, (), (), one_line(summary))
        return finding(Status.OK, summary, None, _data(watched, obs, classified, view))
    classified = classify(watched, obs, view)
    if authoritative and classified.verdict in (Verdict.CURRENT, Verdict.STALE):
        # An authoritative server is the reference itself: its own answer is current.
        shown = quote_values(relevant_answers(watched, obs))
        classified = Classified(Verdict.CURRENT, None, (), (), one_line(f"answers {shown}"))
    status, summary = _judge(watched, obs, classified, view, target, authoritative)
    stale = served_stale(obs)
    if stale is not None:
        # First, so the bounded summary never cuts it off; and even the target answer is no
        # sign of health: the resolver cannot refresh it.
        summary = f"{stale}: {summary}"
        status = Status.WARN if status is Status.OK else status
    region = None
    if classified.verdict is Verdict.REGION:
        region = target if target in classified.regions else classified.region
    return finding(status, summary, region, _data(watched, obs, classified, view))


def _judge(
    watched: WatchedName,
    obs: Observation,
    classified: Classified,
    view: AuthoritativeView,
    target: str,
    authoritative: bool,
) -> tuple[Status, str]:
    verdict = classified.verdict
    ttl = _ttl_text(obs, view)
    answers = relevant_answers(watched, obs)
    if watched.txt_prefix and len(answers) > 1:
        return Status.FAIL, (f"{len(answers)} {watched.check} records: receivers return permerror")
    if verdict is Verdict.BOGUS:
        return Status.FAIL, classified.reason
    if verdict is Verdict.FAILED:
        return Status.UNKNOWN, classified.reason
    if verdict is Verdict.MISSING:
        return _judge_missing(watched, obs, classified, view, target, authoritative)
    if verdict is Verdict.UNEXPECTED:
        return Status.FAIL, f"{classified.reason}{ttl}"
    if verdict is Verdict.MIXED:
        return Status.WARN, f"{classified.reason}{ttl}"
    if verdict is Verdict.REGION:
        if points_at(classified, target):
            return Status.OK, classified.reason
        if authoritative:
            return Status.WARN, f"still serves {classified.reason.removeprefix('answers ')}{ttl}"
        return Status.WARN, f"still {classified.reason}{ttl}"
    if verdict is Verdict.CURRENT:
        return Status.OK, classified.reason if not authoritative else (
            f"serves {classified.reason.removeprefix('answers ')}"
        )
    return Status.WARN, f"{classified.reason}{ttl}"  # STALE


def _ttl_text(obs: Observation, view: AuthoritativeView) -> str:
    """ ", TTL 3600 s (CNAME)" with the TTL of the link holding a stale part (stale_ttl);
    nothing for an answer served stale, whose TTL promises nothing."""
    if served_stale(obs) is not None:
        return ""
    held = stale_ttl(obs, view)
    if held is None:
        return ""
    # The held link is a CNAME when it is not the final RRset's TTL (a TTL equal to the
    # final one cannot be told apart: then no label rather than a wrong one).
    final = obs.final_ttl if obs.final_ttl is not None else obs.ttl
    link = " (CNAME)" if obs.cname_chain and held != final else ""
    return f", TTL {held} s{link}"


def _judge_missing(
    watched: WatchedName,
    obs: Observation,
    classified: Classified,
    view: AuthoritativeView,
    target: str,
    authoritative: bool,
) -> tuple[Status, str]:
    kind = "NXDOMAIN" if obs.outcome is Outcome.NXDOMAIN else "NODATA"
    if watched.absent_in(target):
        return Status.OK, f"{target} has no {watched.rdtype}: none is correct ({kind})"
    held = None if served_stale(obs) is not None else stale_ttl(obs, view)
    ttl = f", negative TTL {held} s" if held is not None else ""
    authoritative_has_data = view.outcome is Outcome.ANSWER
    if not authoritative and view.disagreements and watched.judge is Judge.BY_AUTHORITATIVE:
        # Whether it is absent now depends on which authoritative server is right.
        return Status.WARN, f"{kind}{ttl}; the authoritative servers disagree"
    if not authoritative and authoritative_has_data:
        return Status.WARN, f"{kind} still cached{ttl}; the authoritative servers serve data"
    if not watched.required:
        return Status.OK, f"not published ({classified.reason})"
    return Status.FAIL, classified.reason


def _data(
    watched: WatchedName, obs: Observation, classified: Classified, view: AuthoritativeView
) -> dict[str, Any]:
    answers = relevant_answers(watched, obs)
    data: dict[str, Any] = {
        "verdict": classified.verdict.value,
        "outcome": obs.outcome.value,
        "rcode": obs.rcode,
        "answers": bounded_answers(answers),
        "ttl": obs.ttl,
        "observed_at": obs.observed_at.isoformat(),
        "server": obs.server,
        "regions": list(classified.regions),
        "unexpected": bounded_answers(classified.unexpected, most=8, chars=256),
        "cname_chain": bounded_answers(obs.cname_chain, most=8, chars=256),
        "latency_ms": obs.latency_ms,
        "attempts": obs.attempts,
        "error": obs.error,
    }
    if obs.outcome in NEGATIVE_OUTCOMES or obs.outcome in (Outcome.ANSWER, Outcome.CHAIN_ONLY):
        data["authoritative_answer"] = obs.authoritative_answer
    if obs.answers_capped:
        data["answers_capped"] = True
    if obs.cname_chain:
        # Per link, and the one holding what differs from the authoritative servers' answer.
        data["cname_ttls"] = list(obs.cname_ttls[:8])
        data["final_ttl"] = obs.final_ttl
        data["stale_ttl"] = stale_ttl(obs, view)
    if obs.ede:
        data["ede"] = [[code, text] for code, text in obs.ede]
    return data


def _propagation_finding(propagation: Propagation, target: str) -> Finding:
    if propagation.is_converged:
        status = Status.OK
    elif propagation.blocked or propagation.never_clears:
        status = Status.FAIL
    elif propagation.stale_resolvers:
        status = Status.WARN
    else:
        status = Status.UNKNOWN
    summary = f"{propagation.converged}/{propagation.total} resolvers: {propagation.reason}"
    data = {
        "converged": propagation.converged,
        "resolvers": propagation.total,
        "share": propagation.share,
        "estimate": None if propagation.estimate is None else propagation.estimate.isoformat(),
        "blocked_by": propagation.blocked_by,
        "stale_resolvers": list(propagation.stale_resolvers),
        "unknown_resolvers": list(propagation.unknown_resolvers),
    }
    # Only when there are some, as answers_capped: most records never have them.
    if propagation.bogus_resolvers:
        data["bogus_resolvers"] = list(propagation.bogus_resolvers)
    if propagation.no_region_resolvers:
        data["no_region_resolvers"] = list(propagation.no_region_resolvers)
    if propagation.served_stale_resolvers:
        data["served_stale_resolvers"] = list(propagation.served_stale_resolvers)
    return Finding(
        AREA, "propagation", propagation.key, status, one_line(summary), region=target, data=data
    )
