"""How far a record has propagated, and when the stale caches will have expired.

Per resolver, an answer is one of:
- converged: it gives the target answer. BY_REGION: it points at the target region; or it is
  absent where absence is the target answer: the target region has no targets of this type
  (WatchedName.absent_in: a DR region without IPv6 has no AAAA), or the record is not required
  and the authoritative servers no longer serve it. BY_AUTHORITATIVE: it equals what the
  authoritative servers serve now (absent included); never while they disagree (which of
  their values is the target is not settled: every answer is then stale).
- stale: it gives anything else (another region, a split or unexpected answer, an old value, or
  a cached NXDOMAIN/NODATA while the authoritative servers serve data).
- bogus: a validating resolver rejects the name (SERVFAIL with a DNSSEC extended error).
  Neither converged nor stale: it will not clear by waiting.
- unknown: the resolver could not tell, was not asked, or (BY_AUTHORITATIVE) there is no
  authoritative view to compare with. Never counted as converged.

The estimate is the latest moment a stale cache can still serve the old answer: the maximum of
observed_at + stale_ttl + 1 s over the stale resolvers. `stale_ttl` is the TTL of the link that
holds the stale part (see its docstring): a resolver keeps following a cached CNAME until the
CNAME expires, whatever the TTL of the record it leads to; for a cached NXDOMAIN/NODATA it is the
negative TTL the resolver has left. There is none (None) when:
- every resolver is converged (reason "converged");
- the authoritative servers do not serve the target yet (BY_REGION): "blocked: authoritative still
  serves REGION", with `blocked` set and `blocked_by` naming the region when there is one;
- there is no authoritative view (reason "no authoritative view: ...");
- some resolver will not clear by waiting: it is bogus ("no estimate: R fails DNSSEC
  validation ...: waiting will not fix it"), or it answers a target of no configured region ("no
  estimate: R answers a target in no region (an override or hijack does not expire like a
  cache)"); these resolvers are listed in `bogus_resolvers` / `no_region_resolvers`;
- a stale resolver serves an expired cache entry (EDE 3/19, serve-stale: `served_stale_resolvers`,
  never converged, even with the target answer): its TTL says nothing about when it refreshes.
  It is left out of the estimate, and named first ("R serves stale answers (EDE 3 Stale
  Answer), no end known; the other caches fresh by ..."), or alone ("no estimate: ...");
- the authoritative servers disagree on a BY_AUTHORITATIVE record, or a stale resolver gave no TTL
  (against authoritative servers that serve only a CNAME into a zone served elsewhere, a stale
  resolver's TTL is the one of its first CNAME that differs from theirs; past their chain there
  is none to know);
- only unknown resolvers are left.
With NS hosts left out of the authoritative view (no address found: SweepResult.
authoritative_unresolved) the reason ends "; not asked, no address: NS HOST".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from cockpit.compat import UTC, StrEnum
from cockpit.dns.classify import (
    AuthoritativeView,
    Classified,
    Verdict,
    authoritative_view,
    classify,
    classify_targets,
    describe_value,
    one_line,
    points_at,
    served_stale,
    server_values,
)
from cockpit.dns.ede import dnssec_failure, ede_label, stale_answer
from cockpit.dns.observation import Observation, Outcome
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import Judge, WatchedName


class ResolverState(StrEnum):
    CONVERGED = "converged"
    STALE = "stale"
    BOGUS = "bogus"
    UNKNOWN = "unknown"


def _no_ttls() -> Mapping[str, int | None]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Propagation:
    key: str
    converged: int
    total: int
    share: float
    estimate: datetime | None
    blocked_by: str | None
    stale_resolvers: tuple[str, ...]
    unknown_resolvers: tuple[str, ...]
    reason: str
    blocked: bool = False
    """The authoritative servers do not serve the target (a region, unexpected data or nothing)."""
    bogus_resolvers: tuple[str, ...] = ()
    """Validating resolvers that reject the name (DNSSEC): not converged, not clearing."""
    no_region_resolvers: tuple[str, ...] = ()
    """Stale resolvers (also in `stale_resolvers`) answering a target of no configured region:
    an override or a hijack, which does not expire like a cache."""
    served_stale_resolvers: tuple[str, ...] = ()
    """Stale resolvers (also in `stale_resolvers`) whose answer came from an expired cache
    entry (EDE 3/19, serve-stale): never converged, even with the target answer, and left
    out of the estimate, as their TTL says nothing about when they refresh."""
    stale_ttls: Mapping[str, int | None] = field(default_factory=_no_ttls)
    """Stale resolver -> seconds from its observed_at that it can keep the stale part
    (`stale_ttl`); what the countdown of a stale cell counts."""

    @property
    def never_clears(self) -> bool:
        """Some resolver will not reach the target answer by waiting (bogus or no region)."""
        return bool(self.bogus_resolvers or self.no_region_resolvers)

    @property
    def is_converged(self) -> bool:
        return self.total > 0 and self.converged == self.total and not self.blocked


@dataclass(frozen=True, slots=True)
class SerialView:
    serials: Mapping[str, int | None]
    """Authoritative server name -> its SOA serial (None: could not tell), in sweep order."""
    skew: bool
    reason: str


def resolver_state(
    watched: WatchedName, classified: Classified, view: AuthoritativeView, target: str
) -> ResolverState:
    """Converged, stale or unknown: see the module docstring."""
    if classified.verdict is Verdict.BOGUS:
        return ResolverState.BOGUS
    if classified.verdict is Verdict.FAILED:
        return ResolverState.UNKNOWN
    have_view = view.outcome is not None
    if watched.judge is Judge.BY_REGION:
        if watched.absent_in(target):
            # The config gives the target no such record: none is the answer, anything else
            # (another region's address) is left over from before.
            return (
                ResolverState.CONVERGED
                if classified.verdict is Verdict.MISSING
                else ResolverState.STALE
            )
        absent_is_target = have_view and view.negative and not watched.required
        if classified.verdict is Verdict.MISSING and view.chain_only:
            # The authoritative hands the name on to a zone served elsewhere: nothing here
            # says whether that absence is old or current.
            return ResolverState.UNKNOWN
        if classified.verdict is Verdict.MISSING:
            if absent_is_target:
                return ResolverState.CONVERGED
            if not have_view and not watched.required:
                return ResolverState.UNKNOWN
            return ResolverState.STALE
        if points_at(classified, target) and not absent_is_target:
            return ResolverState.CONVERGED
        return ResolverState.STALE
    if view.disagreements:
        # Which value is current is not settled (see classify): nobody has converged yet.
        return ResolverState.STALE
    if classified.verdict is Verdict.CURRENT:
        return ResolverState.CONVERGED
    if classified.verdict is Verdict.MISSING:
        if not have_view:
            return ResolverState.UNKNOWN
        # Against a chain only (classify calls another chain STALE): it follows the same
        # CNAMEs, and what lies at their end is the other zone's to say.
        return ResolverState.CONVERGED if view.negative or view.chain_only else ResolverState.STALE
    return ResolverState.STALE


def _blocking(
    sweep: SweepResult, watched: WatchedName, view: AuthoritativeView, target: str
) -> tuple[str | None, str] | None:
    """(blocked_by, reason) when the authoritative servers do not serve the target yet."""
    if watched.judge is not Judge.BY_REGION or view.outcome is None:
        return None
    named = bool(view.disagreements)
    for value in server_values(sweep, watched):
        if value.outcome is None or value.outcome is Outcome.CHAIN_ONLY:
            # A CNAME into a zone served elsewhere: its targets are not ours to judge.
            continue
        who = value.label if named else "authoritative"
        if value.outcome is not Outcome.ANSWER:
            if watched.required and not watched.absent_in(target):
                shown = describe_value(watched, value.outcome, ())
                return None, one_line(f"blocked: {who} serves {shown}")
            continue
        classified = classify_targets(watched, value.answers)
        if points_at(classified, target):
            continue
        if classified.verdict is Verdict.REGION:
            return classified.region, one_line(f"blocked: {who} still serves {classified.region}")
        if classified.verdict is Verdict.MIXED:
            others = [r for r in classified.regions if r != target]
            shown = ", ".join(classified.regions)
            return (others[0] if others else None), one_line(
                f"blocked: {who} serves a mix of {shown}"
            )
        shown = classified.reason.removeprefix("answers ")
        return None, one_line(f"blocked: {who} serves {shown}")
    return None


def clock(moment: datetime, reference: datetime | None = None) -> str:
    """ "14:32:05 UTC", with the date when it is not the reference's day."""
    moment = moment.astimezone(UTC)
    if reference is not None and reference.astimezone(UTC).date() == moment.date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


TTL_GRANULARITY = timedelta(seconds=1)
"""A TTL on the wire is whole seconds, truncated, and resolvers (unbound) keep serving a
record at TTL 0 until their clock's next second: a cache can answer up to a second later."""


def stale_ttl(obs: Observation, view: AuthoritativeView) -> int | None:
    """Seconds from obs.observed_at that this resolver can keep serving the stale part.

    Without CNAMEs: the answer's TTL (a cached NXDOMAIN/NODATA: the negative TTL it has left).
    Through a CNAME chain, the TTL of the link that holds the stale part, found by comparing
    the chain with the authoritative servers' chain: the first CNAME that differs (a moved
    CNAME: the resolver re-fetches the old target's address from the CNAME it holds until that
    CNAME expires), or, when the chain is the same, the final RRset. When that cannot be told,
    the largest TTL of the links that may hold it: an estimate must never promise earlier than
    can be true. That is the whole chain without an authoritative view, and the rest of the
    resolver's chain where the authoritative chain stops short of it with no data (a CNAME to
    a name the servers do not answer for). Against authoritative servers that serve only the
    chain (CHAIN_ONLY), the first of their links that differs; None when none does (what lies
    beyond is served elsewhere). An Observation without per-link TTLs gives `ttl`."""
    final = obs.final_ttl if obs.final_ttl is not None else obs.ttl
    links = obs.cname_chain
    if not links:
        return final
    if len(obs.cname_ttls) != len(links):
        return obs.ttl
    tails = obs.cname_ttls if final is None else (*obs.cname_ttls, final)
    if view.chain_only and view.chain is not None:
        for index, link in enumerate(links[: len(view.chain)]):
            if view.chain[index] != link:
                return obs.cname_ttls[index]
        # The same CNAMEs as the authoritative: what follows them is served elsewhere, and
        # no TTL here says when it changes. A chain that stops short holds its final RRset.
        return final if len(links) < len(view.chain) else None
    if view.outcome is None or view.chain is None:
        return max(tails)
    for index, link in enumerate(links):
        if index >= len(view.chain) or view.chain[index] != link:
            if view.negative and view.chain and index == len(view.chain):
                return max(tails[index:])
            return obs.cname_ttls[index]
    return final


def stale_until(obs: Observation, ttl: int | None = None) -> datetime | None:
    """The latest moment this cached answer can still be served: observed_at + ttl + 1 s, with
    `ttl` the stale part's (stale_ttl; default obs.ttl)."""
    ttl = obs.ttl if ttl is None else ttl
    if ttl is None:
        return None
    return obs.observed_at + timedelta(seconds=ttl) + TTL_GRANULARITY


def _names(names: list[str], verb: str) -> str:
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"{shown} {verb if len(names) > 1 else verb + 's'}"


def _never_clears(bogus: list[tuple[str, Observation]], no_region: list[str]) -> str | None:
    """Why waiting will not converge these resolvers, or None. The EDE is named by its code
    only: its text (in each resolver's finding) would push the point out of a bounded line."""
    clauses = []
    if bogus:
        errors = [error for _, obs in bogus if (error := dnssec_failure(obs.ede)) is not None]
        code = f" ({ede_label((errors[0][0], ''))})" if errors else ""
        clauses.append(
            f"{_names([name for name, _ in bogus], 'fail')} DNSSEC validation{code}: "
            "waiting will not fix it"
        )
    if no_region:
        clauses.append(
            f"{_names(no_region, 'answer')} a target in no region (an override or hijack does "
            "not expire like a cache)"
        )
    return "; ".join(clauses) if clauses else None


def record_propagation(sweep: SweepResult, watched: WatchedName, target: str) -> Propagation:
    view = authoritative_view(sweep, watched)
    converged: list[str] = []
    stale: list[tuple[str, Observation]] = []
    stale_ttls: dict[str, int | None] = {}
    bogus: list[tuple[str, Observation]] = []
    no_region: list[str] = []
    unknown: list[str] = []
    served: list[tuple[str, Observation]] = []
    asked = sweep.resolvers_asked(watched.key)
    for spec in asked:
        obs = sweep.observations.get((spec.name, watched.key))
        if obs is None:
            unknown.append(spec.name)
            continue
        classified = classify(watched, obs, view)
        state = resolver_state(watched, classified, view, target)
        if state in (ResolverState.CONVERGED, ResolverState.STALE) and served_stale(obs):
            # It cannot refresh: even the target answer may be gone from its source.
            served.append((spec.name, obs))
            stale.append((spec.name, obs))
            stale_ttls[spec.name] = None
            continue
        if state is ResolverState.CONVERGED:
            converged.append(spec.name)
        elif state is ResolverState.STALE:
            stale.append((spec.name, obs))
            stale_ttls[spec.name] = stale_ttl(obs, view)
            if classified.verdict is Verdict.UNEXPECTED:
                no_region.append(spec.name)
        elif state is ResolverState.BOGUS:
            bogus.append((spec.name, obs))
        else:
            unknown.append(spec.name)
    total = len(asked)
    share = len(converged) / total if total else 0.0
    stale_names = tuple(name for name, _ in stale)
    blocking = _blocking(sweep, watched, view, target)
    never = _never_clears(bogus, no_region)
    estimate: datetime | None = None
    blocked_by: str | None = None
    if view.outcome is None:
        why = sweep.authoritative_error or (
            "no authoritative servers" if not sweep.authoritative else "no usable answer"
        )
        reason = f"no authoritative view: {why}" + (f"; {never}" if never else "")
    elif blocking is not None:
        blocked_by, reason = blocking
        reason += f"; {never}" if never else ""
    elif total == 0:
        reason = "no resolvers asked"
    elif watched.judge is Judge.BY_AUTHORITATIVE and view.disagreements:
        # Before "converged": matching one server's value is not matching the target.
        reason = "no estimate: the authoritative servers disagree" + (f"; {never}" if never else "")
    elif len(converged) == total:
        reason = "converged"
    elif never is not None:
        reason = f"no estimate: {never}"
    elif not stale:
        reason = f"{len(unknown)} of {total} resolvers could not tell: {', '.join(unknown)}"
    elif served:
        estimate, reason = _estimate_besides(served, stale, stale_ttls, sweep.started_at)
    else:
        estimate, reason = _estimate(stale, stale_ttls, sweep.started_at)
    if view.outcome is not None and sweep.authoritative_unresolved:
        # The view (and the blocked check) left these NS hosts out: say so with the verdict.
        unresolved = list(sweep.authoritative_unresolved)
        shown = ", ".join(unresolved[:2]) + (
            f" and {len(unresolved) - 2} more" if len(unresolved) > 2 else ""
        )
        reason += f"; not asked, no address: NS {shown}"
    return Propagation(
        key=watched.key,
        converged=len(converged),
        total=total,
        share=share,
        estimate=estimate,
        blocked_by=blocked_by,
        stale_resolvers=stale_names,
        unknown_resolvers=tuple(unknown),
        reason=one_line(reason),
        blocked=blocking is not None and view.outcome is not None,
        bogus_resolvers=tuple(name for name, _ in bogus),
        no_region_resolvers=tuple(no_region),
        served_stale_resolvers=tuple(name for name, _ in served),
        stale_ttls=MappingProxyType(stale_ttls),
    )


def _estimate(
    stale: list[tuple[str, Observation]],
    stale_ttls: Mapping[str, int | None],
    reference: datetime,
) -> tuple[datetime | None, str]:
    moments: list[datetime] = []
    for name, obs in stale:
        ttl = stale_ttls.get(name)
        moment = None if ttl is None else stale_until(obs, ttl)
        if moment is None:
            return None, f"no estimate: {name} reported no TTL"
        moments.append(moment)
    latest = max(moments)
    return latest, f"all caches fresh by {clock(latest, reference)}"


def _estimate_besides(
    served: list[tuple[str, Observation]],
    stale: list[tuple[str, Observation]],
    stale_ttls: Mapping[str, int | None],
    reference: datetime,
) -> tuple[datetime | None, str]:
    """The estimate without the resolvers serving stale answers (none can be made for them),
    and a reason that names them first."""
    errors = [error for _, obs in served if (error := stale_answer(obs.ede)) is not None]
    code = f" ({ede_label((errors[0][0], ''))})" if errors else ""
    names = [name for name, _ in served]
    clause = f"{_names(names, 'serve')} stale answers{code}, no end known"
    others = [(name, obs) for name, obs in stale if name not in names]
    if not others:
        return None, f"no estimate: {clause}"
    estimate, reason = _estimate(others, stale_ttls, reference)
    if estimate is None:
        return None, f"{reason}; {clause}"
    return estimate, f"{clause}; the other caches fresh by {clock(estimate, reference)}"


def _serial_of(obs: Observation | None) -> int | None:
    if obs is None or obs.outcome is not Outcome.ANSWER:
        return obs.soa_serial if obs is not None and obs.outcome is Outcome.NODATA else None
    for answer in obs.answers:
        parts = answer.split()
        if len(parts) == 7 and parts[2].isdigit():
            return int(parts[2])
    return obs.soa_serial


def serial_view(sweep: SweepResult) -> SerialView:
    names = [spec.name for spec in sweep.authoritative]
    names += [name for name in sweep.serials if name not in names]
    # NS hosts without an address were not asked: no serial from them either.
    names += [name for name in sweep.authoritative_unresolved if name not in names]
    serials = {name: _serial_of(sweep.serials.get(name)) for name in names}
    known = {serial for serial in serials.values() if serial is not None}
    missing = [name for name, serial in serials.items() if serial is None]
    skew = len(known) > 1
    if not names:
        reason = f"no authoritative servers: {sweep.authoritative_error or 'none found'}"
    elif not known:
        reason = "no authoritative server gave its SOA serial"
    elif skew:
        shown = ", ".join(
            f"{name} {serial}" for name, serial in serials.items() if serial is not None
        )
        reason = f"SOA serial skew: {shown}"
    else:
        count = len(names) - len(missing)
        reason = f"{count} authoritative server" + ("s" if count != 1 else "")
        reason += f" at serial {known.pop()}"
    if missing and len(missing) < len(names):
        reason += f"; no serial from {', '.join(missing)}"
    return SerialView(MappingProxyType(serials), skew, one_line(reason))
