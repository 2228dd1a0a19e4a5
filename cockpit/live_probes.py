"""What the cockpit's probes have seen so far, and what of it goes into the incident log.

`LiveProbes` is the pure core behind the cockpit's workers: the workers do the I/O (a DNS
sweep, the auth checks, the service probes, one queue, replication or role read) and hand each
result here; this module keeps the latest picture, turns changes into events (dns.events,
queue.events, finding_changes) and lets a `ProbeLogger` decide which of them to append. It
never does I/O and never imports textual.

    probes = LiveProbes(config, target="secondary", clock=utc_now)
    entries = probes.took_sweep(sweep)            # ProbeEntry list to append as kind "probe"
    entries = probes.took_auth(findings)
    entries = probes.took_service(findings)
    entries = probes.took_reading("eu-postfix", reading)
    entries = probes.took_lag("eu-store", lag_reading)
    entries = probes.took_role("eu-control", role_reading)
    entries = probes.took_canary("eu-in", findings)   # one canary run (cockpit.canary)
    entries = probes.took_look(look)              # one look from a [[vantage]] (cockpit.vantage)
    alarm = probes.take_alarm()                   # the incident's first alarm, once (detection)
    probes.findings()                            # everything known now, for checklist `auto`
    probes.set_target("primary")                  # a failover decision moved the target

A vantage's rows join the DNS picture: `sweep` is the latest local sweep with the latest look
from every vantage merged in (cockpit.vantage.merge), whichever arrived last, so a slow or dead
vantage never holds up the local rows, and each row's change is logged once, when it is seen.

Every finding handed out carries `observed_at`: when the observation behind it began (a
sweep's start, a read's start), so automation can tell evidence seen after a decision from
evidence seen before it.

The DMARC baseline (see auth.dmarc_check, "Baseline contract"): the first auth result that
reads a DMARC policy gives one entry {"check": "dmarc", "policy": P, "domain": D}, unless the
log already has one (`learn_entries`); `dmarc_baseline` is then what the auth checks compare to.

The MTA-STS policy (see auth.mtasts_history, "Policy contract"): an auth result whose `mta-sts`
finding reports a fetched policy gives one entry {"check": "mta-sts", "event": "mtasts_policy",
"policy_id", "policy_sha256", "max_age", "domain"} whenever its (id, digest) pair differs from
the last one logged; `mtasts_history()` (the log's entries as `learn_entries` last read them,
plus the one logged here since, until the log shows it) is what the auth checks compare to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cockpit.canary.board import CanaryBoard
from cockpit.config.model import Config, QueueSource, ReplicationSource, RoleSource
from cockpit.dns.sweep_model import SweepResult
from cockpit.incident.delivery_proof import proven_canaries
from cockpit.incident.detection import Alarm, AlarmWatch, has_first_alarm
from cockpit.incident.entry import Entry
from cockpit.incident.finding_changes import auth_changes, canary_proof_entry, finding_changes
from cockpit.incident.probe_log import ProbeEntry, ProbeLogger
from cockpit.incident.rpo import LagSeen
from cockpit.model import Finding
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import Reading

if TYPE_CHECKING:
    from cockpit.auth.mtasts_history import PolicySeen
    from cockpit.authority.sources import RoleReading
    from cockpit.replication.sources import LagReading
    from cockpit.vantage.model import VantageLook

__all__ = ["LiveProbes", "QueueTrack"]

LAG_HISTORY = 20
"""Lag readings kept per replication source: enough to find the one at a failover decision."""


@dataclass(frozen=True, slots=True)
class QueueTrack:
    """One queue source, the region it belongs to, and its history so far."""

    source: QueueSource
    region: str
    history: QueueHistory


class LiveProbes:
    """The latest sweep, auth findings and queue histories; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        target: str,
        clock: Callable[[], datetime],
        logger: ProbeLogger | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self._clock = clock
        self.logger = logger if logger is not None else ProbeLogger(clock=clock)
        self.sweep: SweepResult | None = None
        """The latest local sweep with every vantage's latest look merged in."""
        self.local_sweep: SweepResult | None = None
        """The latest local sweep alone."""
        self.looks: dict[str, VantageLook] = {}
        """The latest look from each vantage, by name."""
        self._vantage_findings: list[Finding] | None = None
        self._vantage_services: list[Finding] | None = None
        self.auth: list[Finding] | None = None
        self.auth_at: datetime | None = None
        self.queues: dict[str, QueueTrack] = {
            source.name: QueueTrack(source, region.name, QueueHistory(source, region.name))
            for region in config.regions
            for source in region.queues
        }
        self._dns_judged: tuple[SweepResult, str, list[Finding]] | None = None
        self.dmarc_baseline: str | None = None
        """The DMARC policy at the incident's start, once known (from the log or logged here)."""
        self._mtasts_logged: tuple[PolicySeen, ...] = ()
        """The MTA-STS policies the log holds, as `learn_entries` last read them."""
        self._mtasts_pending: PolicySeen | None = None
        """The policy pair logged here that the log has not shown yet."""
        self.service: list[Finding] | None = None
        """The latest service probe findings (every MX host and endpoint of every region)."""
        self.replication_sources: dict[str, tuple[ReplicationSource, str]] = {
            source.name: (source, region.name)
            for region in config.regions
            for source in region.replication
        }
        self.lags: dict[str, deque[LagReading]] = {}
        self._lag_findings: dict[str, Finding] = {}
        self.role_sources: dict[str, tuple[RoleSource, str]] = {
            source.name: (source, region.name)
            for region in config.regions
            for source in region.roles
        }
        self.roles: dict[str, RoleReading] = {}
        self.authority: list[Finding] | None = None
        self.canaries = CanaryBoard()
        """The latest run of every canary and its round-trip history."""
        self.decided_target: str | None = None
        """The region the latest failover decision in the log names; None before one."""
        self.decided_at: datetime | None = None
        self.routed_at: datetime | None = None
        self._proven: set[tuple[str, datetime]] = set()
        """(canary, routed time): mail flow after that routing is in the log already."""
        self._alarms = AlarmWatch()
        self._alarm: Alarm | None = None

    # ---- results in ---------------------------------------------------------------------------

    def learn_entries(self, entries: Iterable[Entry]) -> None:
        """Take what the log already knows: the DMARC baseline, so it is logged only once, and
        the MTA-STS policies it saw (every entry of the log is expected, in any order)."""
        from cockpit.auth.dmarc_check import dmarc_baseline
        from cockpit.authority.findings import decision_context

        entries = list(entries)
        if self.dmarc_baseline is None:
            self.dmarc_baseline = dmarc_baseline(entries, self.config.domain.name)
        self._learn_mtasts(entries)
        if not self._alarms.raised and has_first_alarm(entries):
            self._alarms.raised = True  # another cockpit (or an earlier run) raised it
            self._alarm = None
        # The same reading of the log as `cockpit check --only authority` makes.
        context = decision_context(entries)
        self.decided_target, self.decided_at = context.target, context.decided_at
        self.routed_at = context.routed_at
        routed = self.routed_at
        unproven = [c.name for c in self.config.canaries if (c.name, routed) not in self._proven]
        if routed is not None and unproven:  # once all are proven the log needs no more scans
            self._proven |= {(name, routed) for name in proven_canaries(entries, routed)}

    def set_target(self, region: str) -> bool:
        """Judge against `region` from now on; True when that changed anything."""
        if region == self.target:
            return False
        self.target = region
        return True

    def took_sweep(self, sweep: SweepResult) -> list[ProbeEntry]:
        """Keep `sweep`; the probe entries for what changed since the previous one."""
        self.local_sweep = sweep
        return self._merged_picture()

    def took_look(self, look: VantageLook) -> list[ProbeEntry]:
        """Keep the latest look from one vantage; the entries for what changed: its rows (once
        a local sweep is there to join), its own status and the service probes it saw."""
        from cockpit.vantage.findings import vantage_findings, vantage_service_findings

        self.looks[look.vantage] = look
        found = vantage_findings(self.looks.values())
        services = vantage_service_findings(self.looks.values())
        entries = self.logger.offer(
            [
                *finding_changes("dns", self._vantage_findings, found),
                *finding_changes("service", self._vantage_services, services),
            ]
        )
        self._vantage_findings, self._vantage_services = found, services
        return [*entries, *self._merged_picture()]

    def _merged_picture(self) -> list[ProbeEntry]:
        from cockpit.dns.events import diff_sweeps

        if self.local_sweep is None:
            return []
        merged = self.local_sweep
        if self.looks:
            from cockpit.vantage.merge import merge_looks

            merged = merge_looks(self.local_sweep, self.looks.values())
        events = diff_sweeps(self.sweep, merged, self.target)
        self.sweep = merged
        return self.logger.offer(events)

    def took_auth(
        self, findings: Sequence[Finding], *, started: datetime | None = None
    ) -> list[ProbeEntry]:
        """Keep `findings` (of a run that began at `started`); the entries for checks that
        changed status (and the DMARC baseline)."""
        self.auth_at = self._clock()
        began = started or self.auth_at
        current = [_observed(finding, began) for finding in findings]
        changes = auth_changes(self.auth, current)
        self.auth = current
        entries = self.logger.offer(changes)
        recorded = [self._dmarc_baseline_entry(current), self._mtasts_policy_entry(current)]
        return [*entries, *(entry for entry in recorded if entry is not None)]

    def took_reading(self, source_name: str, reading: Reading) -> list[ProbeEntry]:
        """Add `reading` to its source's history; the entries for the crossings it caused."""
        from cockpit.queue.events import record
        from cockpit.queue.findings import finding_for

        track = self.queues.get(source_name)
        if track is None:
            raise KeyError(f"no queue source named {source_name!r} in the config")
        entries = self.logger.offer(record(track.history, reading))
        self._watch([_queue_finding(finding_for, track, reading.at)], reading.at)
        return entries

    def took_service(
        self, findings: Sequence[Finding], *, started: datetime | None = None
    ) -> list[ProbeEntry]:
        """Keep the service probes' `findings`; the entries for probes that changed status."""
        began = started or self._clock()
        current = [_observed(finding, began) for finding in findings]
        entries = self.logger.offer(finding_changes("service", self.service, current))
        self.service = current
        self._watch(current, began)
        return entries

    def took_canary(
        self, name: str, findings: Sequence[Finding], *, started: datetime | None = None
    ) -> list[ProbeEntry]:
        """Keep one run of canary `name`; the entries for its checks that changed status."""
        began = started or self._clock()
        current = [_observed(finding, began) for finding in findings]
        previous = self.canaries.took(name, current)
        changes = finding_changes("canary", previous, current)
        return self.logger.offer([*changes, *self._canary_proof(name, current, changes)])

    def canary_proofs(self) -> list[ProbeEntry]:
        """Proof entries for the latest run of every canary (call when the routed time was
        learnt: a run that ended before the log was read may already prove the routing)."""
        latest = self.canaries.latest()
        return self.logger.offer(
            [
                proof
                for name, found in latest.items()
                for proof in self._canary_proof(name, found, [])
            ]
        )

    def _canary_proof(
        self, name: str, current: Sequence[Finding], changes: Sequence[ProbeEntry]
    ) -> list[ProbeEntry]:
        """The entry proving mail flows after routing: the first ok run of canary `name`
        after the routed time, once per routing (none when the log holds one already, or
        when this run's own change to ok says it)."""
        routed = self.routed_at
        run = next((f for f in current if f.check in ("inbound", "outbound")), None)
        if routed is None or run is None or (name, routed) in self._proven:
            return []
        entry = canary_proof_entry(run, routed, self.decided_target)
        if entry is None:
            return []
        self._proven.add((name, routed))
        said = any(
            change.data.get("status") == "ok"
            and isinstance(change.data.get("evidence"), dict)
            and change.data["evidence"].get("check") == run.check
            for change in changes
        )
        return [] if said else [entry]

    def took_lag(self, source_name: str, reading: LagReading) -> list[ProbeEntry]:
        """Add a replication lag reading; the entries for a source whose status changed."""
        from cockpit.replication.findings import lag_finding

        source, region = self._replication(source_name)
        history = self.lags.setdefault(source_name, deque(maxlen=LAG_HISTORY))
        last_good = next((old for old in reversed(history) if old.lag_s is not None), None)
        history.append(reading)
        finding = _observed(
            lag_finding(source, region, reading, last_good=last_good),
            reading.at - timedelta(seconds=reading.elapsed_s),
        )
        previous = list(self._lag_findings.values()) if self._lag_findings else None
        self._lag_findings[source_name] = finding
        current = list(self._lag_findings.values())
        entries = self.logger.offer(finding_changes("replication", previous, current))
        self._watch([finding], reading.at)
        return entries

    def took_role(self, source_name: str, reading: RoleReading) -> list[ProbeEntry]:
        """Keep a role reading and judge authority again; the entries for what changed."""
        self._role(source_name)
        self.roles[source_name] = reading
        return self.judge_authority()

    def judge_authority(self) -> list[ProbeEntry]:
        """Judge region authority on the roles read so far (also when the decision or the
        routed phase changed); the entries for findings that changed status."""
        if not self.roles:
            return []
        from cockpit.authority.judge import judge_authority

        now = self._clock()
        current = judge_authority(
            self.config,
            dict(self.roles),
            target=self.decided_target,
            decided_at=self.decided_at,
            routed_at=self.routed_at,
            now=now,
        )
        entries = self.logger.offer(finding_changes("authority", self.authority, current))
        self.authority = current
        self._watch(current, now)
        return entries

    def lags_seen(self) -> list[LagSeen]:
        """Every lag reading kept, per source, for the data at risk at a failover decision."""
        return [
            LagSeen(
                name, self.replication_sources[name][1], reading.lag_s, reading.at, reading.error
            )
            for name, history in self.lags.items()
            for reading in history
        ]

    def take_alarm(self) -> Alarm | None:
        """The incident's first alarm, once (None before it, and after it was taken)."""
        alarm, self._alarm = self._alarm, None
        return alarm

    def rearm_alarm(self, alarm: Alarm) -> None:
        """Hand back an alarm that could not be written: `take_alarm` gives it again."""
        if self._alarm is None:
            self._alarm = alarm

    def _watch(self, findings: Iterable[Finding], fallback_at: datetime) -> None:
        alarm = self._alarms.observe(findings, fallback_at=fallback_at)
        if alarm is not None:
            self._alarm = alarm

    def _replication(self, name: str) -> tuple[ReplicationSource, str]:
        found = self.replication_sources.get(name)
        if found is None:
            raise KeyError(f"no replication source named {name!r} in the config")
        return found

    def _role(self, name: str) -> tuple[RoleSource, str]:
        found = self.role_sources.get(name)
        if found is None:
            raise KeyError(f"no role source named {name!r} in the config")
        return found

    def tick(self) -> list[ProbeEntry]:
        """Held changes whose interval ended (call it now and then, even with no results)."""
        return self.logger.offer(())

    def flush(self) -> list[ProbeEntry]:
        """Every held change, now (the cockpit is closing)."""
        return self.logger.flush()

    # ---- the picture out ----------------------------------------------------------------------

    def queue_tracks(self) -> list[QueueTrack]:
        return list(self.queues.values())

    def findings(self) -> list[Finding]:
        """Every finding known now: DNS against the target, auth, one per queue source read,
        service, replication and authority; each with its observation time."""
        from cockpit.dns.findings_pure import findings_from_sweep
        from cockpit.queue.findings import finding_for

        found: list[Finding] = []
        if self.sweep is not None:
            cached = self._dns_judged
            if cached is None or cached[0] is not self.sweep or cached[1] != self.target:
                # Judged once per sweep and target, not again for every queue or auth result.
                judged = findings_from_sweep(self.sweep, self.target)
                began = self.sweep.started_at
                cached = (self.sweep, self.target, [_observed(f, began) for f in judged])
                self._dns_judged = cached
            found += cached[2]
        if self.auth is not None:
            found += self.auth
        now = self._clock()
        for track in self.queues.values():
            if track.history.latest is not None:
                found.append(_queue_finding(finding_for, track, now))
        found += self.service or []
        found += self._vantage_findings or []
        found += self._vantage_services or []
        found += self._lag_findings.values()
        found += self.authority or []
        found += self.canaries.findings()
        return found

    def region_findings(self) -> list[Finding]:
        """What the region rows show: service, replication, authority and canary findings."""
        return [
            *(self.service or []),
            *(self._vantage_services or []),
            *self._lag_findings.values(),
            *(self.authority or []),
            *self.canaries.findings(),
        ]

    # ---- the DMARC baseline -------------------------------------------------------------------

    def _dmarc_baseline_entry(self, findings: Iterable[Finding]) -> ProbeEntry | None:
        if self.dmarc_baseline is not None:
            return None
        for finding in findings:
            policy = finding.data.get("policy") if finding.check == "dmarc" else None
            if isinstance(policy, str) and policy:
                self.dmarc_baseline = policy.lower()
                domain = self.config.domain.name
                return ProbeEntry(
                    f"DMARC policy of {domain} at the start: p={policy}",
                    {
                        "area": "auth",
                        "event": "dmarc_baseline",
                        "check": "dmarc",
                        "policy": policy,
                        "domain": domain,
                        "subject": f"_dmarc.{domain}",
                        "status": None,
                    },
                )
        return None

    # ---- the MTA-STS policy history ----------------------------------------------------------

    def mtasts_history(self) -> tuple[PolicySeen, ...]:
        """The MTA-STS policies seen during the incident, oldest first, for the auth checks."""
        logged, pending = self._mtasts_logged, self._mtasts_pending
        if pending is None or (logged and logged[-1].pair == pending.pair):
            return logged
        return (*logged, pending)

    def _learn_mtasts(self, entries: Sequence[Entry]) -> None:
        from cockpit.auth.mtasts_history import policy_history

        logged = policy_history(entries, self.config.domain.name)
        self._mtasts_logged = logged
        pending = self._mtasts_pending
        if pending is not None and logged and logged[-1].pair == pending.pair:
            self._mtasts_pending = None  # the log has it now

    def _mtasts_policy_entry(self, findings: Iterable[Finding]) -> ProbeEntry | None:
        from cockpit.auth.mtasts_history import policy_entry_data, seen_in_finding

        domain = self.config.domain.name
        for finding in findings:
            seen = seen_in_finding(finding.data) if finding.check == "mta-sts" else None
            if seen is None:
                continue
            history = self.mtasts_history()
            if history and history[-1].pair == seen.pair:
                return None
            self._mtasts_pending = replace(seen, seen_at=self._clock())
            return ProbeEntry(
                f"MTA-STS policy of {domain}: id {seen.policy_id}, content "
                f"sha256 {seen.policy_sha256[:12]}",
                policy_entry_data(domain, seen),
            )
        return None


def _observed(finding: Finding, began: datetime) -> Finding:
    """`finding` with `observed_at`, `began` when it does not say itself."""
    return finding if finding.observed_at is not None else replace(finding, observed_at=began)


def _queue_finding(
    finding_for: Callable[[QueueSource, str | None, QueueHistory, datetime], Finding],
    track: QueueTrack,
    now: datetime,
) -> Finding:
    """The finding for a queue track, observed when its latest read began."""
    finding = finding_for(track.source, track.region, track.history, now)
    latest = track.history.latest
    if latest is None:
        return finding
    return _observed(finding, latest.at - timedelta(seconds=latest.elapsed_s))
