"""What the cockpit's probes have seen so far, and what of it goes into the incident log.

`LiveProbes` is the pure core behind the cockpit's workers: the workers do the I/O (a DNS
sweep, the auth checks, one queue read) and hand each result here; this module keeps the
latest picture, turns changes into events (dns.events, queue.events, auth_changes) and lets a
`ProbeLogger` decide which of them to append. It never does I/O and never imports textual.

    probes = LiveProbes(config, target="secondary", clock=utc_now)
    entries = probes.took_sweep(sweep)            # ProbeEntry list to append as kind "probe"
    entries = probes.took_auth(findings)
    entries = probes.took_reading("eu-postfix", reading)
    probes.findings()                            # everything known now, for checklist `auto`
    probes.set_target("primary")                  # a failover decision moved the target

The DMARC baseline (see auth.dmarc_check, "Baseline contract"): the first auth result that
reads a DMARC policy gives one entry {"check": "dmarc", "policy": P, "domain": D}, unless the
log already has one (`learn_entries`); `dmarc_baseline` is then what the auth checks compare to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cockpit.config.model import Config, QueueSource
from cockpit.dns.sweep_model import SweepResult
from cockpit.incident.entry import Entry
from cockpit.incident.probe_log import ProbeEntry, ProbeLogger, auth_changes
from cockpit.model import Finding
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import Reading

__all__ = ["LiveProbes", "QueueTrack"]


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

    # ---- results in ---------------------------------------------------------------------------

    def learn_entries(self, entries: Iterable[Entry]) -> None:
        """Take what the log already knows: the DMARC baseline, so it is logged only once."""
        from cockpit.auth.dmarc_check import dmarc_baseline

        if self.dmarc_baseline is None:
            self.dmarc_baseline = dmarc_baseline(entries, self.config.domain.name)

    def set_target(self, region: str) -> bool:
        """Judge against `region` from now on; True when that changed anything."""
        if region == self.target:
            return False
        self.target = region
        return True

    def took_sweep(self, sweep: SweepResult) -> list[ProbeEntry]:
        """Keep `sweep`; the probe entries for what changed since the previous one."""
        from cockpit.dns.events import diff_sweeps

        events = diff_sweeps(self.sweep, sweep, self.target)
        self.sweep = sweep
        return self.logger.offer(events)

    def took_auth(self, findings: Sequence[Finding]) -> list[ProbeEntry]:
        """Keep `findings`; the entries for checks that changed status (and the DMARC baseline)."""
        current = list(findings)
        changes = auth_changes(self.auth, current)
        self.auth = current
        self.auth_at = self._clock()
        entries = self.logger.offer(changes)
        baseline = self._dmarc_baseline_entry(current)
        return [*entries, baseline] if baseline is not None else entries

    def took_reading(self, source_name: str, reading: Reading) -> list[ProbeEntry]:
        """Add `reading` to its source's history; the entries for the crossings it caused."""
        from cockpit.queue.events import record

        track = self.queues.get(source_name)
        if track is None:
            raise KeyError(f"no queue source named {source_name!r} in the config")
        return self.logger.offer(record(track.history, reading))

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
        """Every finding known now: DNS against the target, auth, one per queue source read."""
        from cockpit.dns.findings_pure import findings_from_sweep
        from cockpit.queue.findings import finding_for

        found: list[Finding] = []
        if self.sweep is not None:
            cached = self._dns_judged
            if cached is None or cached[0] is not self.sweep or cached[1] != self.target:
                # Judged once per sweep and target, not again for every queue or auth result.
                cached = (self.sweep, self.target, findings_from_sweep(self.sweep, self.target))
                self._dns_judged = cached
            found += cached[2]
        if self.auth is not None:
            found += self.auth
        now = self._clock()
        for track in self.queues.values():
            if track.history.latest is not None:
                found.append(finding_for(track.source, track.region, track.history, now))
        return found

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
