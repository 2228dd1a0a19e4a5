"""The cockpit's probes: DNS sweeps, auth checks, service probes, and queue, replication-lag and
role reads, each on its own schedule.

`ProbeRunner` is an invisible widget. Its workers only wait on coroutines that run on a
`ProbeLoop` (a thread of its own), then post a result message to the runner itself; the
handlers fold the result into `LiveProbes`, post what the panes should show to the app,
append the probe entries to the log (thread worker), and schedule the next run with
`set_timer` once this one is over, so two sweeps of one kind never overlap. A slow
resolver or a hung queue command delays only its own next run.

Intervals come from the config: `[dns].interval`, `[auth].interval`, `[service].interval`, and
each queue, replication and role source's and each `[[canary]]`'s own `interval` (a canary
sends one real message per run: cockpit.canary). `set_target` (a failover decision)
judges everything against the new target at once and runs the auth checks again immediately.

Detection: the first failing service, queue, replication or authority finding is written once
per incident as a "first_alarm" probe entry (and the `detected` phase when none is set), built
under the log's lock from what the log holds then (cockpit.incident.detection). At a failover
decision the lag each replication source showed then is written once (cockpit.incident.rpo).

With several cockpits on one incident, each probes and shows; the one holding the probe-writer
lock (cockpit.incident.probe_writer) appends the probe entries, the others keep theirs queued
(cockpit.incident.probe_outbox) until the log shows them, try the lock every TAKEOVER_S and
write what the log still lacks once they hold it. Entries that cannot be written (a full disk)
stay queued and are written, with their observation times, when writing works again;
ProbeBacklog tells the app how many wait.

Messages to the app (all bubble): SweepProgress, SweepShown, AuthShown, QueueShown,
RegionsShown, CanariesShown, FindingsShown, ProbeBacklog, and LogAppendFailed when probe
entries cannot be written (once per reason; the timeline shows the written ones at its next poll).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from cockpit.config import Config
from cockpit.config.model import CANARY_TARGET
from cockpit.errors import CockpitError
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.probe_writer import TAKEOVER_S, ProbeWriterLock
from cockpit.model import Finding, Status
from cockpit.probe_loop import ProbeLoop
from cockpit.safe_text import clean
from cockpit.ui.ui_messages import LogAppendFailed

if TYPE_CHECKING:
    from cockpit.auth.mtasts_history import PolicySeen
    from cockpit.authority.sources import RoleReading
    from cockpit.canary.board import CanaryRow
    from cockpit.dns.sweep_model import SweepResult
    from cockpit.incident.log import EntryParts
    from cockpit.incident.probe_log import ProbeEntry
    from cockpit.incident.probe_outbox import ProbeOutbox
    from cockpit.live_probes import LiveProbes, QueueTrack
    from cockpit.queue.sample import Reading
    from cockpit.replication.sources import LagReading
    from cockpit.vantage.model import VantageLook

PROBE_AUTHOR = "cockpit"
"""The author of every probe entry."""
CANARY_RERUN_S = 0.5
"""A canary due again while it ran (routing moved) starts this soon after its run ends."""
HELD_RELEASE_S = 15.0
"""How often held (rate-limited) probe changes are looked at, with no result coming in."""

# ---- messages the runner posts to itself (from its workers) -----------------------------------


@dataclass
class _SweepDone(Message, bubble=False):
    sweep: SweepResult | None
    error: str | None = None


@dataclass
class _LookDone(Message, bubble=False):
    look: VantageLook


@dataclass
class _AuthDone(Message, bubble=False):
    findings: list[Finding]
    target: str
    started: datetime


@dataclass
class _ServiceDone(Message, bubble=False):
    findings: list[Finding]
    started: datetime


@dataclass
class _LagDone(Message, bubble=False):
    source: str
    reading: LagReading


@dataclass
class _RoleDone(Message, bubble=False):
    source: str
    reading: RoleReading


@dataclass
class _QueueDone(Message, bubble=False):
    source: str
    reading: Reading


@dataclass
class _CanaryDone(Message, bubble=False):
    name: str
    findings: list[Finding]
    started: datetime


@dataclass
class _Flushed(Message, bubble=False):
    writer: bool
    waiting: int
    error: str | None


@dataclass
class _Retry(Message, bubble=False):
    then: Callable[[], None]


class _ModulesLoaded(Message, bubble=False):
    """The probes' modules are imported (on the probe loop's thread): the probes can start."""


# ---- messages for the app ---------------------------------------------------------------------


@dataclass
class SweepProgress(Message):
    """A sweep in progress: `done` of `total` questions answered."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SweepProgress)


@dataclass
class SweepShown(Message):
    """The DNS pane shows `sweep` judged against `target` (or the failure, when no sweep)."""

    sweep: SweepResult | None
    target: str
    error: str | None = None


@dataclass
class AuthShown(Message):
    findings: Sequence[Finding]


@dataclass
class QueueShown(Message):
    tracks: Sequence[QueueTrack]
    now: datetime


@dataclass
class RegionsShown(Message):
    """Service, replication and authority findings: what the region rows show."""

    findings: Sequence[Finding]
    at: datetime

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RegionsShown)


@dataclass
class CanariesShown(Message):
    """The latest run of every canary (cockpit.canary.board), for the canary lines."""

    rows: Sequence[CanaryRow]
    now: datetime

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CanariesShown)


@dataclass
class ProbeBacklog(Message):
    """`waiting` probe entries could not be written (`error` says why); 0 and None: all
    written."""

    waiting: int
    error: str | None = None


@dataclass
class FindingsShown(Message):
    """Everything the probes know now, for the checklist's `auto` conditions."""

    findings: Sequence[Finding]
    at: datetime
    target: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FindingsShown)


PROBE_MODULES = (
    "cockpit.live_probes",
    "cockpit.incident.probe_outbox",
    "cockpit.dns.sweep",
    "cockpit.auth.findings",
    "cockpit.service.findings",
)
"""What every probe run imports: dnspython, httpx, cryptography and the checks built on them."""


def probe_modules(config: Config) -> list[str]:
    """The modules the probes `config` asks for will import (a few hundred ms of CPU)."""
    names = list(PROBE_MODULES)
    regions = config.regions
    if any(region.queues for region in regions):
        names.append("cockpit.queue.findings")
    if any(region.replication for region in regions):
        names.append("cockpit.replication.sources")
    if any(region.roles for region in regions):
        names.append("cockpit.authority.sources")
    if config.canaries:
        names.append("cockpit.canary.findings")
    if config.vantages:
        names += ["cockpit.vantage.look", "cockpit.vantage.merge", "cockpit.vantage.findings"]
        kinds = {vantage.kind for vantage in config.vantages}
        names += [f"cockpit.vantage.{'ssh' if kind == 'ssh' else 'prometheus'}" for kind in kinds]
    return names


async def _import_all(names: Sequence[str]) -> None:
    """Import `names`, run on the probe loop: the screen's thread is not held up by it."""
    for name in names:
        import_module(name)


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return clean(f"{type(error).__name__}: {text}" if text else type(error).__name__)[:300]


class ProbeRunner(Widget):
    """Runs the probes on their schedules; see the module docstring."""

    DEFAULT_CSS = "ProbeRunner { display: none; }"

    def __init__(
        self,
        config: Config,
        log: IncidentLog,
        *,
        target: str,
        clock: Callable[[], datetime],
        write_log: bool = True,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(id=id)
        self.config = config
        self.incident_log = log
        self.clock = clock
        self.write_log = write_log
        self._initial_target = target
        self._live: LiveProbes | None = None
        self._loop = ProbeLoop()
        self._waiting: dict[str, Timer] = {}
        self._canaries_running: set[str] = set()
        self._canaries_due: set[str] = set()
        """Canaries to run again as soon as their run in progress ends (routing moved)."""
        self._write_lock = threading.Lock()
        """One writing worker at a time, in order."""
        self._rpo_due = False
        """A failover decision has no data-at-risk entry yet: each lag read tries again (the
        entry waits for every source of the target region to be read once)."""
        self._writer = ProbeWriterLock(log.path)
        self._outbox: ProbeOutbox | None = None
        self._flushing = False
        self._last_error: str | None = None
        self._started = False
        self._entries_to_learn: Sequence[Entry] | None = None
        """The log's entries that came while the probes' modules were still loading."""

    @property
    def live(self) -> LiveProbes:
        """What the probes have seen (made on first use: its imports load dnspython)."""
        if self._live is None:
            from cockpit.incident.probe_log import ProbeLogger
            from cockpit.live_probes import LiveProbes

            # Not folded here: the outbox folds what it writes together (probe_outbox.py).
            logger = ProbeLogger(
                clock=self.clock, burst=None, min_interval_s=self.config.incident.probe_interval
            )
            self._live = LiveProbes(
                self.config, target=self._initial_target, clock=self.clock, logger=logger
            )
        return self._live

    @property
    def target(self) -> str:
        return self._live.target if self._live is not None else self._initial_target

    def on_mount(self) -> None:
        # The first frame comes first: the probes start right after it, once their modules
        # are imported on the probe loop's thread (keys pressed meanwhile act at once).
        self.call_after_refresh(self._load_modules)

    def _load_modules(self) -> None:
        if not self.is_attached:
            return
        self._loop.start()
        self._import_modules()

    @work(exclusive=True, exit_on_error=False, group="probe-start")
    async def _import_modules(self) -> None:
        try:
            await self._loop.run(_import_all(probe_modules(self.config)))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - each probe imports its own again and says why
            pass
        self.post_message(_ModulesLoaded())

    @on(_ModulesLoaded)
    def _start(self) -> None:
        if not self.is_attached or self._started:
            return
        self._started = True
        if self._entries_to_learn is not None:
            entries, self._entries_to_learn = self._entries_to_learn, None
            self.learn_entries(entries)
        if self.live.queues:  # every source shows at once, as unknown until its first read
            self.post_message(QueueShown(self.live.queue_tracks(), self.clock()))
        self._sweep()
        self._check_auth()
        self._check_service()
        for track in self.live.queue_tracks():
            self._read_queue(track.source.name)
        for name in self.live.replication_sources:
            self._read_lag(name)
        for name in self.live.role_sources:
            self._read_role(name)
        for canary in self.config.canaries:
            self._send_canary(canary.name)
        for vantage in self.config.vantages:
            self._look(vantage.name)
        self.set_interval(HELD_RELEASE_S, self._release_held, name="probe-held")
        self.set_interval(TAKEOVER_S, self._tick_writer, name="probe-writer")

    def on_unmount(self) -> None:
        for timer in self._waiting.values():
            timer.stop()
        self._close_ssh()
        self._loop.stop()
        if self._live is not None and self.write_log:
            self.outbox.put(self._live.flush())
            if self._write_lock.acquire(timeout=1.0):
                try:
                    self._final_write()
                finally:
                    self._write_lock.release()
        self._writer.release()

    # ---- scheduling ---------------------------------------------------------------------------

    def _again(self, name: str, seconds: float, run: Callable[[], object]) -> None:
        """Run `run` in `seconds`, replacing any run of `name` already waiting."""
        waiting = self._waiting.pop(name, None)
        if waiting is not None:
            waiting.stop()
        if self.is_attached:
            self._waiting[name] = self.set_timer(seconds, run, name=f"probe-{name}")

    # ---- DNS ----------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="probe-dns")
    async def _sweep(self) -> None:
        from cockpit.dns.sweep import sweep

        def progress(done: int, total: int) -> None:
            self.post_message(SweepProgress(done, total))

        try:
            result = await self._loop.run(sweep(self.config, progress=progress))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the cockpit says why and sweeps again
            self.post_message(_SweepDone(None, f"sweep failed: {_reason(error)}"))
            return
        self.post_message(_SweepDone(result))

    @on(_SweepDone)
    def _swept(self, message: _SweepDone) -> None:
        if message.sweep is not None:
            self._append(self.live.took_sweep(message.sweep))
        self.post_message(SweepShown(self.live.sweep, self.target, message.error))
        self._show_findings()
        self._again("dns", self.config.dns.interval, self._sweep)

    # ---- vantages -----------------------------------------------------------------------------

    def _look(self, name: str) -> None:
        self.run_worker(
            self._look_run(name), group=f"probe-vantage-{name}", exclusive=True, exit_on_error=False
        )

    async def _look_run(self, name: str) -> None:
        from cockpit.vantage.look import look_one

        vantage = next(v for v in self.config.vantages if v.name == name)
        # look_one never raises for the vantage's trouble and ends within its timeout.
        look = await self._loop.run(look_one(vantage, self.config))
        self.post_message(_LookDone(look))

    @on(_LookDone)
    def _looked(self, message: _LookDone) -> None:
        self._append(self.live.took_look(message.look))
        if self.live.sweep is not None:
            self.post_message(SweepShown(self.live.sweep, self.target, None))
        self._show_findings()
        self._show_regions()
        vantage = next(v for v in self.config.vantages if v.name == message.look.vantage)
        self._again(f"vantage-{vantage.name}", vantage.interval, lambda: self._look(vantage.name))

    def _close_ssh(self) -> None:
        """End the ssh connections the looks keep open (bounded: at most about a second)."""
        vantages = [v for v in self.config.vantages if v.kind == "ssh"]
        if not vantages or not self._loop.running:
            return
        from cockpit.vantage.look import control_dir_for
        from cockpit.vantage.ssh import close_masters

        self._loop.run_blocking(close_masters(control_dir_for(), vantages), timeout=1.5)

    # ---- auth ---------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="probe-auth")
    async def _check_auth(self) -> None:
        target = self.target
        started = self.clock()
        try:
            findings = await self._loop.run(
                self._auth_run(target, self.live.dmarc_baseline, self.live.mtasts_history())
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one unknown per region, with the reason
            reason = f"auth checks could not run: {_reason(error)}"
            findings = [
                Finding("auth", "auth", region.name, Status.UNKNOWN, reason, region=region.name)
                for region in self.config.regions
            ]
        self.post_message(_AuthDone(findings, target, started))

    async def _auth_run(
        self, target: str, baseline: str | None, mtasts_seen: Sequence[PolicySeen]
    ) -> list[Finding]:
        from cockpit.auth.findings import auth_findings, choose_asker

        asker = await choose_asker(self.config, None)
        return await auth_findings(
            self.config, target, asker, dmarc_baseline=baseline, mtasts_history=mtasts_seen
        )

    @on(_AuthDone)
    def _auth_checked(self, message: _AuthDone) -> None:
        if message.target == self.target:
            self._append(self.live.took_auth(message.findings, started=message.started))
            self.post_message(AuthShown(message.findings))
            self._show_findings()
        self._again("auth", self.config.auth.interval, self._check_auth)

    # ---- queues -------------------------------------------------------------------------------

    def _read_queue(self, name: str) -> None:
        self.run_worker(
            self._queue_run(name), group=f"probe-queue-{name}", exclusive=True, exit_on_error=False
        )

    async def _queue_run(self, name: str) -> None:
        from cockpit.queue.findings import read_guarded

        source = self.live.queues[name].source
        reading = await self._loop.run(read_guarded(source))
        self.post_message(_QueueDone(name, reading))

    @on(_QueueDone)
    def _queue_read(self, message: _QueueDone) -> None:
        self._append(self.live.took_reading(message.source, message.reading))
        self.post_message(QueueShown(self.live.queue_tracks(), self.clock()))
        self._show_findings()
        self._raise_alarm()
        track = self.live.queues[message.source]
        self._again(f"queue-{message.source}", track.source.interval, self._reader(message.source))

    def _reader(self, name: str) -> Callable[[], None]:
        return lambda: self._read_queue(name)

    # ---- service probes -----------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="probe-service")
    async def _check_service(self) -> None:
        from cockpit.service.findings import service_findings

        started = self.clock()
        try:
            findings = await self._loop.run(service_findings(self.config))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one unknown per region, with the reason
            reason = f"service probes could not run: {_reason(error)}"
            findings = [
                Finding("service", "service", region.name, Status.UNKNOWN, reason, region.name)
                for region in self.config.regions
            ]
        self.post_message(_ServiceDone(findings, started))

    @on(_ServiceDone)
    def _service_checked(self, message: _ServiceDone) -> None:
        self._append(self.live.took_service(message.findings, started=message.started))
        self._show_regions()
        self._again("service", self.config.service.interval, self._check_service)

    # ---- replication lag and roles ------------------------------------------------------------

    def _read_lag(self, name: str) -> None:
        self.run_worker(
            self._lag_run(name), group=f"probe-lag-{name}", exclusive=True, exit_on_error=False
        )

    async def _lag_run(self, name: str) -> None:
        from cockpit.replication.sources import read_lag

        source = self.live.replication_sources[name][0]
        reading = await self._loop.run(read_lag(source))
        self.post_message(_LagDone(name, reading))

    @on(_LagDone)
    def _lag_read(self, message: _LagDone) -> None:
        self._append(self.live.took_lag(message.source, message.reading))
        self._show_regions()
        if self._rpo_due and self.write_log:
            self._write_built(self._rpo_parts)
        source = self.live.replication_sources[message.source][0]
        self._again(
            f"lag-{message.source}", source.interval, self._runner(self._read_lag, message.source)
        )

    def _read_role(self, name: str) -> None:
        self.run_worker(
            self._role_run(name), group=f"probe-role-{name}", exclusive=True, exit_on_error=False
        )

    async def _role_run(self, name: str) -> None:
        from cockpit.authority.sources import read_role

        source = self.live.role_sources[name][0]
        reading = await self._loop.run(read_role(source))
        self.post_message(_RoleDone(name, reading))

    @on(_RoleDone)
    def _role_read(self, message: _RoleDone) -> None:
        self._append(self.live.took_role(message.source, message.reading))
        self._show_regions()
        source = self.live.role_sources[message.source][0]
        self._again(
            f"role-{message.source}", source.interval, self._runner(self._read_role, message.source)
        )

    # ---- canaries ------------------------------------------------------------------------------

    def _send_canary(self, name: str) -> None:
        self._canaries_running.add(name)
        self.run_worker(
            self._canary_run(name),
            group=f"probe-canary-{name}",
            exclusive=True,
            exit_on_error=False,
            description=f"canary {name}",
        )

    async def _canary_run(self, name: str) -> None:
        from cockpit.auth.findings import choose_asker
        from cockpit.canary.findings import canary_unknown, run_canary

        canary = next(canary for canary in self.config.canaries if canary.name == name)
        started = self.clock()
        try:
            asker = await self._loop.run(choose_asker(self.config, None))
            findings = await self._loop.run(
                run_canary(self.config, canary, self.target, asker, clock=self.clock)
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the run says unknown, with the reason
            reason = f"canary {name} could not run: {_reason(error)}"
            findings = [canary_unknown(self.config, canary, self.target, reason, started)]
        self.post_message(_CanaryDone(name, findings, started))

    @on(_CanaryDone)
    def _canary_done(self, message: _CanaryDone) -> None:
        self._canaries_running.discard(message.name)
        self._append(self.live.took_canary(message.name, message.findings, started=message.started))
        self.post_message(CanariesShown(self.live.canaries.rows(), self.clock()))
        self._show_regions()
        canary = next(c for c in self.config.canaries if c.name == message.name)
        soon = message.name in self._canaries_due
        self._canaries_due.discard(message.name)
        self._again(
            f"canary-{message.name}",
            CANARY_RERUN_S if soon else canary.interval,
            self._runner(self._send_canary, message.name),
        )

    def _canaries_now(self, *, only_target: bool) -> None:
        """Run the canaries again now (a run in progress finishes first, then the next starts
        at once): routing moved, so only runs after it can prove mail flows. With
        `only_target`, just those following the target region (a new failover decision)."""
        for canary in self.config.canaries:
            if only_target and canary.region != CANARY_TARGET:
                continue
            if canary.name in self._canaries_running:
                self._canaries_due.add(canary.name)
            else:
                self._again(
                    f"canary-{canary.name}",
                    CANARY_RERUN_S,
                    self._runner(self._send_canary, canary.name),
                )

    @staticmethod
    def _runner(read: Callable[[str], None], name: str) -> Callable[[], None]:
        return lambda: read(name)

    def _show_regions(self) -> None:
        self.post_message(RegionsShown(self.live.region_findings(), self.clock()))
        self._show_findings()
        self._raise_alarm()

    # ---- target, findings, log ----------------------------------------------------------------

    def set_target(self, region: str) -> None:
        """Judge everything against `region` now; run the auth checks again at once."""
        if self._live is None:
            self._initial_target = region  # not started yet: the first runs use it
            return
        if not self.live.set_target(region):
            return
        self._canaries_now(only_target=True)
        self.post_message(SweepShown(self.live.sweep, region))
        self._show_findings()
        self._check_auth()

    def learn_entries(self, entries: Sequence[Entry]) -> None:
        """Take the log's state: the DMARC baseline, the decision and routed times (authority
        is judged again when they moved), a first alarm raised elsewhere; and record the data
        at risk of a new failover decision."""
        if not self._started:  # learnt as the probes start
            self._entries_to_learn = entries
            return
        live = self.live
        before = (live.decided_target, live.decided_at, live.routed_at)
        live.learn_entries(entries)
        if (live.decided_target, live.decided_at, live.routed_at) != before:
            first_look = before[1] is None and before[2] is None  # the log as it was at start
            if live.routed_at not in (None, before[2]) and not first_look:
                self._canaries_now(only_target=False)  # a new routing: prove it afresh
            self._append(live.judge_authority())
            self._append(live.canary_proofs())  # a run that ended before the log was read
            self._show_regions()
            if live.decided_at is not None and live.replication_sources and self.write_log:
                self._rpo_due = True
                self._write_built(self._rpo_parts)

    def _rpo_parts(self, entries: Sequence[Entry]) -> list[EntryParts]:
        from cockpit.incident.rpo import rpo_parts, rpo_recorded

        if rpo_recorded(entries):
            self._rpo_due = False
            return []
        configured = {name: region for name, (_, region) in self.live.replication_sources.items()}
        return list(rpo_parts(entries, self.live.lags_seen(), configured))

    def _raise_alarm(self) -> None:
        from cockpit.incident.detection import first_alarm_parts

        alarm = self.live.take_alarm()
        if alarm is None or not self.write_log:
            return

        def build(entries: Sequence[Entry]) -> list[EntryParts]:
            return list(first_alarm_parts(entries, alarm))

        def not_written() -> None:
            # A full disk, ...: raised again with the next results, so the alarm and its
            # observation time reach the log once writing works again.
            self.live.rearm_alarm(alarm)

        self._write_built(build, not_written)

    @work(thread=True, exclusive=False, exit_on_error=False, group="probe-log")
    def _write_built(
        self,
        build: Callable[[Sequence[Entry]], list[EntryParts]],
        not_written: Callable[[], None] | None = None,
    ) -> None:
        """Append what `build` makes of the log (thread worker); on failure say why, and call
        `not_written` on the screen's thread. Every cockpit on the incident does this: `build`
        looks at the log under its lock, so the first alarm (or the lag at a decision) is
        written once whichever cockpit gets there first, even when the writer of the probe
        entries has died."""
        try:
            with self._write_lock:
                self.incident_log.append_built(build, author=PROBE_AUTHOR)
        except (CockpitError, OSError) as error:
            if not_written is not None:
                self.post_message(_Retry(not_written))
            self.post_message(LogAppendFailed(f"probe entry not written: {error}"))

    @on(_Retry)
    def _retry_later(self, message: _Retry) -> None:
        message.then()

    def _show_findings(self) -> None:
        self.post_message(FindingsShown(self.live.findings(), self.clock(), self.target))

    def _release_held(self) -> None:
        self._append(self.live.tick())

    # ---- probe entries to the log -------------------------------------------------------------

    @property
    def outbox(self) -> ProbeOutbox:
        """The probe entries waiting for the log (see cockpit.incident.probe_outbox)."""
        if self._outbox is None:
            from cockpit.incident.probe_outbox import ProbeOutbox, agreement_window

            self._outbox = ProbeOutbox(
                clock=self.clock,
                window_s=agreement_window(self.config),
                grace_s=agreement_window(self.config)
                + self.config.incident.probe_interval
                + HELD_RELEASE_S,
            )
        return self._outbox

    def _append(self, entries: list[ProbeEntry]) -> None:
        if entries and self.write_log:
            self.outbox.put(entries)
            self._tick_writer()

    def _tick_writer(self) -> None:
        """Every TAKEOVER_S and after every result: take the probe-writer lock when the cockpit
        holding it has gone, and write what waits (one writing worker at a time)."""
        if not self.write_log or self._flushing or not self.is_attached:
            return
        if self._writer.held and not self.outbox.due(writer=True):
            return
        self._flushing = True
        self._flush_outbox()

    @work(thread=True, exclusive=False, exit_on_error=False, group="probe-outbox")
    def _flush_outbox(self) -> None:
        error: str | None = None
        try:
            with self._write_lock:
                error = self._flush_now()
        finally:
            writer = self._writer.held
            count = self.outbox.waiting if writer else self.outbox.overdue()
            self.post_message(_Flushed(writer, count, error))

    def _flush_now(self) -> str | None:
        """Write what waits when this cockpit is the writer (or holds what the writer did not
        write in time); None when nothing failed."""
        outbox = self.outbox
        try:
            writer = self._writer.try_hold()
        except OSError as error:
            writer = False
            if not outbox.due(writer=False):
                return f"cannot take the probe-writer lock {self._writer.path}: {error}"
        if not outbox.due(writer=writer):
            return None
        try:
            written = self.incident_log.append_built(
                lambda entries: outbox.build(entries, writer=writer), author=PROBE_AUTHOR
            )
        except (CockpitError, OSError) as error:
            return str(error)
        outbox.written(written)
        return None

    @on(_Flushed)
    def _flushed(self, message: _Flushed) -> None:
        self._flushing = False
        waiting = message.waiting if message.error is not None else 0
        self.post_message(ProbeBacklog(waiting, message.error))
        if message.error is not None and message.error != self._last_error:
            self.post_message(
                LogAppendFailed(f"{message.waiting} probe entries not written: {message.error}")
            )
        self._last_error = message.error

    def _final_write(self) -> None:
        """At quit: what waits is written when the log's lock is free right now (never waited
        for: quitting is never held up), without reading the log again."""
        if not self._writer.held:
            return
        log = IncidentLog(self.incident_log.path, lock_wait=0)
        try:
            for kind, text, data in self.outbox.build([], writer=True):
                log.append(kind, text, data, author=PROBE_AUTHOR)
        except (CockpitError, OSError):
            return  # nobody is left to tell; another cockpit on the incident writes its own
