"""How far a record has propagated, and when the stale caches will have expired.

Per resolver, an answer is one of:
- converged: it gives the target answer. BY_REGION: it points at the target region (or, for a
  record that is not required and that the authoritative servers no longer serve, it is absent
  too). BY_AUTHORITATIVE: it equals what the authoritative servers serve now (absent included).
- stale: it gives anything else (another region, a split or unexpected answer, an old value, or
  a cached NXDOMAIN/NODATA while the authoritative servers serve data).
- unknown: the resolver could not tell, was not asked, or (BY_AUTHORITATIVE) there is no
  authoritative view to compare with. Never counted as converged.

The estimate is the latest moment a stale cache can still serve the old answer: the maximum of
observed_at + ttl over the stale resolvers (for a cached NXDOMAIN/NODATA its ttl is the negative
TTL from the SOA). There is none (None) when:
- every resolver is converged (reason "converged");
- the authoritative servers do not serve the target yet (BY_REGION): "blocked: authoritative still
  serves REGION", with `blocked` set and `blocked_by` naming the region when there is one;
- there is no authoritative view (reason "no authoritative view: ...");
- the authoritative servers disagree on a BY_AUTHORITATIVE record, or a stale resolver gave no TTL;
- only unknown resolvers are left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

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
    server_values,
)
from cockpit.dns.observation import Observation, Outcome
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import Judge, WatchedName


class ResolverState(StrEnum):
    CONVERGED = "converged"
    STALE = "stale"
    UNKNOWN = "unknown"


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
    if classified.verdict is Verdict.FAILED:
        return ResolverState.UNKNOWN
    have_view = view.outcome is not None
    if watched.judge is Judge.BY_REGION:
        absent_is_target = have_view and view.negative and not watched.required
        if classified.verdict is Verdict.MISSING:
            if absent_is_target:
                return ResolverState.CONVERGED
            if not have_view and not watched.required:
                return ResolverState.UNKNOWN
            return ResolverState.STALE
        if points_at(classified, target) and not absent_is_target:
            return ResolverState.CONVERGED
        return ResolverState.STALE
    if classified.verdict is Verdict.CURRENT:
        return ResolverState.CONVERGED
    if classified.verdict is Verdict.MISSING:
        if not have_view:
            return ResolverState.UNKNOWN
        return ResolverState.CONVERGED if view.negative else ResolverState.STALE
    return ResolverState.STALE


def _blocking(
    sweep: SweepResult, watched: WatchedName, view: AuthoritativeView, target: str
) -> tuple[str | None, str] | None:
    """(blocked_by, reason) when the authoritative servers do not serve the target yet."""
    if watched.judge is not Judge.BY_REGION or view.outcome is None:
        return None
    named = bool(view.disagreements)
    for value in server_values(sweep, watched):
        if value.outcome is None:
            continue
        who = value.label if named else "authoritative"
        if value.outcome is not Outcome.ANSWER:
            if watched.required:
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


def stale_until(obs: Observation) -> datetime | None:
    """The latest moment this cached answer can still be served: observed_at + ttl + 1 s."""
    if obs.ttl is None:
        return None
    return obs.observed_at + timedelta(seconds=obs.ttl) + TTL_GRANULARITY


def record_propagation(sweep: SweepResult, watched: WatchedName, target: str) -> Propagation:
    view = authoritative_view(sweep, watched)
    converged: list[str] = []
    stale: list[tuple[str, Observation]] = []
    unknown: list[str] = []
    for spec in sweep.resolvers:
        obs = sweep.observations.get((spec.name, watched.key))
        if obs is None:
            unknown.append(spec.name)
            continue
        state = resolver_state(watched, classify(watched, obs, view), view, target)
        if state is ResolverState.CONVERGED:
            converged.append(spec.name)
        elif state is ResolverState.STALE:
            stale.append((spec.name, obs))
        else:
            unknown.append(spec.name)
    total = len(sweep.resolvers)
    share = len(converged) / total if total else 0.0
    stale_names = tuple(name for name, _ in stale)
    blocking = _blocking(sweep, watched, view, target)
    estimate: datetime | None = None
    blocked_by: str | None = None
    if view.outcome is None:
        why = sweep.authoritative_error or (
            "no authoritative servers" if not sweep.authoritative else "no usable answer"
        )
        reason = f"no authoritative view: {why}"
    elif blocking is not None:
        blocked_by, reason = blocking
    elif total == 0:
        reason = "no resolvers asked"
    elif len(converged) == total:
        reason = "converged"
    elif not stale:
        reason = f"{len(unknown)} of {total} resolvers could not tell: {', '.join(unknown)}"
    elif watched.judge is Judge.BY_AUTHORITATIVE and view.disagreements:
        reason = "no estimate: the authoritative servers disagree"
    else:
        estimate, reason = _estimate(stale, sweep.started_at)
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
    )


def _estimate(
    stale: list[tuple[str, Observation]], reference: datetime
) -> tuple[datetime | None, str]:
    moments: list[datetime] = []
    for name, obs in stale:
        moment = stale_until(obs)
        if moment is None:
            return None, f"no estimate: {name} reported no TTL"
        moments.append(moment)
    latest = max(moments)
    return latest, f"all caches fresh by {clock(latest, reference)}"


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
