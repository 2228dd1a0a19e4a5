"""How much memory does the cockpit hold after a 24-hour incident, samples every 10 s?

    .venv/bin/python -m bench.bench_memory_24h [--hours 24] [--every 30] [--checkpoint 3]
                                               [--tracemalloc]

Headless (Pilot, 160x48), no network, no probes: a simulated world hands the cockpit what its
probes would have seen, one step per 10 simulated seconds (8,640 steps for 24 h):
  - a DNS sweep of 10 resolvers x every watched record of 3 regions, plus 2 authoritative
    servers: a failover at hour 2 (authoritative MX, webmail, autodiscover and SPF switch to
    the secondary region; the resolvers follow one by one over ~25 min), a resolver that flaps
    between the two MX answers (hours 5-7), a resolver that times out on everything (hours
    9-10.5) and a DKIM key rotation at hour 14;
  - a queue reading per source, 2 sources per region (a `postqueue` one with per-queue counts,
    5 deferral reasons and 10 destination domains per sample, as `postqueue -j` gives, and a
    `command` one with a bare total): backlogs that grow, drain and cross thresholds, and one
    source failing for an hour (hours 12-13);
  - auth findings every 6th step (3 regions x 10 checks), with a few status changes.
Each result goes into `LiveProbes` exactly as ProbeRunner hands it over (took_sweep,
took_reading, took_auth, tick); the probe entries it returns are appended to the real incident
log (author "cockpit"), which the timeline pane follows; the panes get the messages the
runner posts (SweepShown, QueueShown, AuthShown, FindingsShown), routed by the app. With
`--every N` the panes are updated at every Nth step only (default 30: every 5 simulated
minutes; a full update costs 0.1-0.8 s of a loaded 2-core machine, which would make a day
take 15-60 min); every sample still goes into LiveProbes and every probe entry into the log,
and the timeline follows the log on its own timer.

Reported: RSS (VmRSS) after the imports, with an empty Textual App running (the reference,
started the same way), after the cockpit starts, every simulated 3 h and at the end; VmHWM;
log entries, timeline entries and lines held, QueueHistory lengths; the deep size of what the
cockpit keeps (queue histories, timeline, probe logger); the cost of one day of readings per
queue-source kind (tracemalloc); with --tracemalloc, the top 10 allocation sites by size at the
end and by growth since the start (slow). Target: RSS at the end under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import random
import sys
import tempfile
import time
import tracemalloc
import types
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cockpit.compat import UTC

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from textual.app import App  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from cockpit.config import Config, load_config_text  # noqa: E402
from cockpit.config.model import QueueSource  # noqa: E402
from cockpit.dns.observation import Observation, Outcome  # noqa: E402
from cockpit.dns.sweep import configured_resolvers  # noqa: E402
from cockpit.dns.sweep_model import SweepResult  # noqa: E402
from cockpit.dns.watch import Judge, WatchedName, watched_names  # noqa: E402
from cockpit.incident.entry import format_ts  # noqa: E402
from cockpit.incident.log import IncidentLog  # noqa: E402
from cockpit.incident.probe_log import ProbeEntry  # noqa: E402
from cockpit.live_probes import LiveProbes  # noqa: E402
from cockpit.model import Finding, Status  # noqa: E402
from cockpit.queue.history import QueueHistory  # noqa: E402
from cockpit.queue.sample import (  # noqa: E402
    DeferralReason,
    DestinationDomain,
    QueueSample,
    Reading,
)
from cockpit.ui.app import CockpitApp  # noqa: E402
from cockpit.ui.probe_runner import (  # noqa: E402
    PROBE_AUTHOR,
    AuthShown,
    FindingsShown,
    QueueShown,
    SweepShown,
)
from cockpit.ui.timeline_pane import TimelinePane  # noqa: E402
from tests.dns_fakes import AUTHORITATIVE, obs, sweep  # noqa: E402

TARGET_MB = 150.0
STEP_S = 10
AUTH_EVERY = 6
CHECKPOINT_H = 3
SIZE = (160, 48)
START = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
FAILOVER_H = 2.0
FLAP_H = (5.0, 7.0)
TIMEOUT_H = (9.0, 10.5)
QUEUE_DOWN_H = (12.0, 13.0)
DKIM_ROTATION_H = 14.0
RESOLVERS = (
    "Cloudflare",
    "Google",
    "Quad9",
    "OpenDNS",
    "AdGuard",
    "ControlD",
    "Office",
    "Lab",
    "ISP-A",
    "ISP-B",
)
FLAPPING = "Office"
TIMING_OUT = "ISP-A"
REGIONS: tuple[tuple[str, str, str], ...] = (
    # name, mx hosts (TOML list body), address block
    ("primary", '"mx1.example.com", "mx2.example.com"', "203.0.113"),
    ("secondary", '"mx1.backup.example.com"', "198.51.100"),
    ("tertiary", '"mx.tertiary.example.net"', "192.0.2"),
)
SELECTORS = {"primary": "eu1", "secondary": "us1", "tertiary": "ap1"}
SPF_OLD = "v=spf1 ip4:203.0.113.0/24 -all"
SPF_NEW = "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 -all"
CHECKS = ("spf", "dkim", "dmarc", "ptr", "mta-sts", "tls-rpt", "smtp-tls", "dane", "webmail", "idp")
REASONS = (
    "connect to {host}[{ip}]:25: Connection refused",
    "delivery temporarily suspended: connect to {host}[{ip}]:25: Connection timed out",
    "host {host}[{ip}] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)",
    "Host or domain name not found. Name service error for name={host} type=MX",
    "lost connection with {host}[{ip}] while receiving the initial server greeting",
)


# ---- figures ------------------------------------------------------------------------------------


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    found: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(rest.split()[0]) / 1024
    return found


def rss_mb() -> float:
    return proc_status()["VmRSS"]


_NOT_WALKED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def deep_size_mb(*roots: object) -> float:
    """Bytes reachable from `roots` (sys.getsizeof, each object once), modules and classes not
    followed. A rough but honest measure of what a structure keeps alive."""
    seen: set[int] = set()
    stack: list[object] = list(roots)
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, _NOT_WALKED):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        stack.extend(gc.get_referents(item))
    return total / 1e6


# ---- the config ---------------------------------------------------------------------------------


def config_text() -> str:
    parts = ['[domain]\nname = "example.com"\n']
    for name, mx, block in REGIONS:
        webmail = f'"{block}.20"' + (', "2001:db8:1::20"' if name == "primary" else "")
        parts.append(
            f"""
[[region]]
name = "{name}"
mx = [{mx}]
sending_ips = ["{block}.10", "{block}.11"]
dkim_selectors = ["{SELECTORS[name]}"]
webmail_url = "https://webmail.example.com/"
webmail_addresses = [{webmail}]
autodiscover_targets = ["autodiscover.{name}.example.com"]

  [[region.queue]]
  name = "{name}-mx"
  kind = "postqueue"
  command = ["true"]
  interval = {STEP_S}
  warn = 500
  crit = 5000
  age_warn = 1800
  age_crit = 14400

  [[region.queue]]
  name = "{name}-relay"
  kind = "command"
  command = ["true"]
  interval = {STEP_S}
  warn = 1000
  crit = 10000
"""
        )
    parts.append(f"\n[dns]\ninterval = {STEP_S}\n")
    for index, resolver in enumerate(RESOLVERS, start=1):
        parts.append(f'\n[[dns.resolver]]\nname = "{resolver}"\naddress = "192.0.2.{index}"\n')
    return "".join(parts)


# ---- the simulated world ------------------------------------------------------------------------


class SimClock:
    """The cockpit's clock: simulated time, moved by the driver."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def hours(step: int) -> float:
    return step * STEP_S / 3600


@dataclass
class World:
    """What the probes would see at each step; every object is built afresh, as a probe does."""

    config: Config
    rng: random.Random = field(default_factory=lambda: random.Random(24))
    watched: tuple[WatchedName, ...] = ()
    depths: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.watched = watched_names(self.config)
        self.resolvers = configured_resolvers(self.config)
        self.flip_at = {
            spec.name: FAILOVER_H + (index + 1) * 150 / 3600
            for index, spec in enumerate(self.resolvers)
        }
        self.sources = [
            (source, region.name) for region in self.config.regions for source in region.queues
        ]
        self.depths = {source.name: 20.0 for source, _ in self.sources}

    # -- DNS --

    def _region_answers(self, watched: WatchedName, region: str) -> tuple[str, ...]:
        config_region = self.config.region(region)
        assert config_region is not None
        if watched.rdtype == "MX":
            return tuple(f"{10 * (i + 1)} {host}" for i, host in enumerate(config_region.mx))
        if watched.rdtype == "SRV":
            return tuple(f"0 0 443 {t}" for t in config_region.autodiscover_targets)
        return tuple(sorted(watched.targets_by_region.get(region, ())))

    def _value(self, watched: WatchedName, new: bool, hour: float) -> tuple[str, ...]:
        """The answer of a BY_AUTHORITATIVE record; `new`: after the failover's changes."""
        if watched.check == "SPF":
            return (SPF_NEW if new else SPF_OLD,)
        if watched.check == "DKIM":
            generation = 2 if hour >= DKIM_ROTATION_H + 0.3 else 1
            return (f"v=DKIM1; k=rsa; p=MIIB{watched.name[:3]}{generation}" + "A" * 300,)
        if watched.check == "DMARC":
            return ("v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com",)
        if watched.check == "MTA-STS":
            return ("v=STSv1; id=20261127",)
        if watched.check == "TLS-RPT":
            return ("v=TLSRPTv1; rua=mailto:tls@example.com",)
        if watched.check == "TLSA":
            return ("3 1 1 " + "ab" * 32,)
        if watched.check == "PTR":
            return ("mx1.example.com",)
        return ("value",)

    def _answers(self, watched: WatchedName, new: bool, hour: float) -> tuple[str, ...]:
        if watched.judge is Judge.BY_REGION:
            return self._region_answers(watched, "secondary" if new else "primary")
        return self._value(watched, new, hour)

    def sweep(self, step: int, at: datetime) -> SweepResult:
        hour = hours(step)
        after_failover = hour >= FAILOVER_H
        resolver_answers: dict[tuple[str, str], Observation] = {}
        for spec in self.resolvers:
            new = hour >= self.flip_at[spec.name]
            timing_out = spec.name == TIMING_OUT and TIMEOUT_H[0] <= hour < TIMEOUT_H[1]
            for watched in self.watched:
                if timing_out:
                    observation = obs(
                        watched, Outcome.TIMEOUT, server=spec.name, at=at, error="no reply in 2 s"
                    )
                else:
                    flapped = (
                        spec.name == FLAPPING
                        and watched.rdtype == "MX"
                        and FLAP_H[0] <= hour < FLAP_H[1]
                        and (step // 3) % 2 == 1
                    )
                    # A resolver still caching the old DKIM key until its TTL runs out.
                    key_hour = hour - (self.flip_at[spec.name] - FAILOVER_H)
                    answers = self._answers(watched, new != flapped, key_hour)
                    ttl = 300 - (step * STEP_S) % 300
                    observation = obs(watched, Outcome.ANSWER, answers, server=spec.name, at=at)
                    observation = _with_ttl(observation, ttl)
                resolver_answers[(spec.name, watched.key)] = observation
        auth_answers = {
            (spec.name, watched.key): obs(
                watched,
                Outcome.ANSWER,
                self._answers(watched, after_failover, hour),
                server=spec.name,
                at=at,
            )
            for spec in AUTHORITATIVE
            for watched in self.watched
        }
        serial = 2026112701 + (1 if after_failover else 0) + (1 if hour >= DKIM_ROTATION_H else 0)
        return sweep(
            resolver_answers,
            auth_answers,
            records=self.watched,
            serials=(serial, serial),
            resolvers=self.resolvers,
            started_at=at,
        )

    # -- queues --

    def _target_depth(self, name: str, hour: float) -> float:
        region, _, kind = name.partition("-")
        scale = 1.0 if kind == "mx" else 1.6
        if region == "primary":
            if hour < FAILOVER_H:
                return scale * (200 + 3500 * hour)  # mail piles up at the dead region
            return scale * max(30.0, 7200 * math.exp(-(hour - FAILOVER_H) / 0.6))
        if region == "secondary" and FAILOVER_H <= hour < FAILOVER_H + 4:
            return scale * (40 + 2600 * math.sin(math.pi * (hour - FAILOVER_H) / 4))
        return scale * 40

    def readings(
        self, step: int, at: datetime, only: str | None = None
    ) -> Iterable[tuple[str, Reading]]:
        hour = hours(step)
        for source, _region in self.sources:
            name = source.name
            if only is not None and name != only:
                continue
            if name == "tertiary-mx" and QUEUE_DOWN_H[0] <= hour < QUEUE_DOWN_H[1]:
                error = f"exit 255: ssh: connect to host mx.tertiary.example.net port 22: {step}"
                yield name, Reading(name, at, None, error, elapsed_s=0.2)
                continue
            depth = self.depths[name]
            depth += (self._target_depth(name, hour) - depth) * 0.2
            self.depths[name] = depth
            total = max(0, int(depth + self.rng.gauss(0, 3 + depth * 0.02)))
            sample = (
                self._postqueue_sample(source, at, total, hour)
                if source.kind == "postqueue"
                else QueueSample(name, at, total)
            )
            yield name, Reading(name, at, sample, elapsed_s=0.05)

    def _postqueue_sample(
        self, source: QueueSource, at: datetime, total: int, hour: float
    ) -> QueueSample:
        """What parse_postqueue_json keeps of one read: fresh strings, as a JSON parse gives."""
        rng = self.rng
        deferred = int(total * 0.85)
        active = min(total - deferred, 100)
        by_queue = {
            "active": active,
            "deferred": deferred,
            "hold": 0,
            "incoming": max(0, total - deferred - active),
            "maildrop": 0,
        }
        reasons = tuple(
            DeferralReason(
                template.format(host=f"mx{rng.randint(1, 9)}.customer{i}.example", ip="192.0.2.9"),
                max(1, deferred // (2 + i)),
            )
            for i, template in enumerate(REASONS)
        )
        domains = tuple(
            DestinationDomain(
                f"customer{rng.randint(1, 400)}.example", max(1, total // (3 + i)), 60.0 * i
            )
            for i in range(10)
        )
        return QueueSample(
            source.name,
            at,
            total,
            MappingProxyType(by_queue),
            oldest_age_s=min(hour, 6.0) * 3600 if total else None,
            size_bytes=total * 48_000,
            deferral_reasons=reasons,
            top_domains=domains,
        )

    # -- auth --

    def auth(self, step: int) -> list[Finding]:
        hour = hours(step)
        findings: list[Finding] = []
        for region in self.config.regions:
            for check in CHECKS:
                status = Status.OK
                if region.name == "secondary" and check == "dkim" and hour < FAILOVER_H + 1:
                    status = Status.FAIL
                elif region.name == "tertiary" and check == "smtp-tls" and (step // 60) % 7 == 3:
                    status = Status.UNKNOWN
                elif check == "idp" and (step // 360) % 5 == 4:
                    status = Status.WARN
                data: dict[str, Any] = {"checked_at": f"step {step}"}
                if check == "dmarc":
                    data["policy"] = "quarantine"
                findings.append(
                    Finding(
                        "auth",
                        check,
                        region.name,
                        status,
                        f"{check} {status.value} at step {step}",
                        region=region.name,
                        data=data,
                    )
                )
        return findings


def _with_ttl(observation: Observation, ttl: int) -> Observation:
    return replace(observation, ttl=ttl)


# ---- the drive ----------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    hour: float
    rss: float
    hwm: float
    log_entries: int
    timeline_entries: int
    timeline_lines: int
    history: int
    elapsed: float


@dataclass
class Run:
    steps: int
    every: int
    checkpoint_steps: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    rss_started: float = 0.0
    log_entries: int = 0
    probe_entries: int = 0
    deep: dict[str, float] = field(default_factory=dict)
    histories: dict[str, int] = field(default_factory=dict)
    logger_keys: int = 0
    seconds: float = 0.0
    snapshot_start: tracemalloc.Snapshot | None = None
    snapshot_end: tracemalloc.Snapshot | None = None


async def drain(pilot: Pilot[None], app: App[None], most: int = 1000) -> None:
    """Let the app handle what was posted to it (and the screen catch up), without waiting for
    the process to go idle as `pilot.pause()` does (up to 1 s each time on a busy machine)."""
    for _ in range(most):
        await pilot.pause(0)
        if app._message_queue.empty():  # noqa: SLF001 - a bench looks inside
            return


async def settle(pilot: Pilot[None], timeline: TimelinePane, entries: int, within: float) -> None:
    """Wait (real time) until the timeline holds `entries` entries, or `within` seconds."""
    deadline = time.monotonic() + within
    while len(timeline.entries) < entries and time.monotonic() < deadline:
        await pilot.pause(0.1)


async def reference_rss() -> float:
    """RSS with an empty Textual App running, started as the cockpit is."""
    app: App[None] = App()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause(0.5)
        gc.collect()
        return rss_mb()


async def drive(run: Run, log_dir: Path, profile: bool) -> None:
    config = load_config_text(config_text())
    clock = SimClock(START)
    world = World(config)
    log_path = log_dir / "2026-11-27-memory-24h.jsonl"
    log = IncidentLog(log_path)

    def append(kind: str, text: str, data: dict[str, Any] | None = None, author: str = "") -> None:
        log.append(kind, text, data, author=author or "alice")
        run.log_entries += 1

    append("system", "title set", {"event": "title", "title": "24 h memory"})
    append("phase", "impact at 06:00", {"phase": "impact", "at": format_ts(START)})
    live = LiveProbes(config, target=config.regions[0].name, clock=clock)
    app = CockpitApp(log_path, author="alice", config=config, clock=clock, probes=False)

    def write(entries: list[ProbeEntry]) -> None:
        for entry in entries:
            append("probe", entry.text, entry.data, PROBE_AUTHOR)
        run.probe_entries += len(entries)

    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(TimelinePane)
        await settle(pilot, timeline, 2, 5.0)
        await pilot.pause(0.5)
        gc.collect()
        run.rss_started = rss_mb()
        if profile:
            run.snapshot_start = tracemalloc.take_snapshot()
        began = time.monotonic()
        run.checkpoints.append(_checkpoint(0.0, run, timeline, live, began))
        print_checkpoint_header()
        print_checkpoint(run.checkpoints[-1])
        decided = False
        for step in range(run.steps):
            at = START + timedelta(seconds=step * STEP_S)
            clock.now = at
            hour = hours(step)
            show = step % run.every == 0 or step == run.steps - 1
            if not decided and hour >= FAILOVER_H:
                decided = True
                append(*decision("secondary"))
                if live.set_target("secondary") and show:
                    app.post_message(SweepShown(live.sweep, live.target))
            write(live.tick())
            write(live.took_sweep(world.sweep(step, at)))
            if show:
                app.post_message(SweepShown(live.sweep, live.target))
                app.post_message(FindingsShown(live.findings(), clock(), live.target))
            for name, reading in world.readings(step, at):
                write(live.took_reading(name, reading))
                if show:
                    app.post_message(QueueShown(live.queue_tracks(), clock()))
                    app.post_message(FindingsShown(live.findings(), clock(), live.target))
            if step % AUTH_EVERY == 0:
                findings = world.auth(step)
                write(live.took_auth(findings))
                if show:
                    app.post_message(AuthShown(findings))
                    app.post_message(FindingsShown(live.findings(), clock(), live.target))
            if step % 180 == 179:  # a human note every 30 simulated minutes
                append("note", f"status call at {at:%H:%M}: still watching", None, "bob")
            if show:
                await drain(pilot, app)
            else:
                await asyncio.sleep(0)
            done = step + 1
            if done % run.checkpoint_steps == 0 or done == run.steps:
                await settle(pilot, timeline, run.log_entries, 10.0)
                gc.collect()
                run.checkpoints.append(_checkpoint(hours(done), run, timeline, live, began))
                print_checkpoint(run.checkpoints[-1], run.checkpoints[-2])
        run.seconds = time.monotonic() - began
        assert run.log_entries == len(log.read().entries)
        await settle(pilot, timeline, run.log_entries, 10.0)
        gc.collect()
        if profile:
            run.snapshot_end = tracemalloc.take_snapshot()
        run.histories = {name: len(track.history) for name, track in live.queues.items()}
        run.logger_keys = len(live.logger._keys)  # noqa: SLF001 - a bench looks inside
        # These walks allocate a lot themselves: every RSS and VmHWM figure reported as the
        # cockpit's was read before them (the last checkpoint).
        run.deep = {
            "queue histories (LiveProbes)": deep_size_mb(
                [track.history for track in live.queues.values()]
            ),
            "probe logger key state": deep_size_mb(live.logger._keys),  # noqa: SLF001
            "timeline entries (TimelinePane.entries)": deep_size_mb(timeline.entries),
            "timeline lines (RichLog.lines)": deep_size_mb(timeline.lines),
        }


def decision(region: str) -> tuple[str, str, dict[str, Any]]:
    """A failover decision entry (kind, text, data), as the decision form writes it."""
    data: dict[str, Any] = {
        "why": "primary storage down, no ETA",
        "approver": "carol",
        "target_region": region,
        "previous_region": "primary",
    }
    return "decision", f"Fail over to {region}", data


def _checkpoint(
    hour: float, run: Run, timeline: TimelinePane, live: LiveProbes, began: float
) -> Checkpoint:
    status = proc_status()
    longest = max((len(track.history) for track in live.queues.values()), default=0)
    return Checkpoint(
        hour,
        status["VmRSS"],
        status["VmHWM"],
        run.log_entries,
        len(timeline.entries),
        len(timeline.lines),
        longest,
        time.monotonic() - began,
    )


def print_checkpoint_header() -> None:
    print(
        f"  {'sim h':>5}  {'RSS MB':>7}  {'HWM MB':>7}  {'log':>6}  {'timeline':>8}  "
        f"{'lines':>6}  {'ring':>5}  {'real s':>6}  {'MB/h since last':>15}"
    )


def print_checkpoint(point: Checkpoint, previous: Checkpoint | None = None) -> None:
    rate = ""
    if previous is not None and point.hour > previous.hour:
        rate = f"{(point.rss - previous.rss) / (point.hour - previous.hour):+15.2f}"
    print(
        f"  {point.hour:5.1f}  {point.rss:7.1f}  {point.hwm:7.1f}  {point.log_entries:6,}  "
        f"{point.timeline_entries:8,}  {point.timeline_lines:6,}  {point.history:5,}  "
        f"{point.elapsed:6.0f}  {rate}",
        flush=True,
    )


# ---- what one day of readings costs, per kind ----------------------------------------------------


def ring_cost(config: Config) -> dict[str, tuple[int, float]]:
    """tracemalloc size of one full QueueHistory (a day at 10 s) per source kind: (len, MB)."""
    world = World(config)
    costs: dict[str, tuple[int, float]] = {}
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        for source, region in world.sources[:2]:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            history = QueueHistory(source, region)
            for step in range(history.maxlen):
                at = START + timedelta(seconds=step * STEP_S)
                for _name, reading in world.readings(step, at, only=source.name):
                    history.add(reading)
            gc.collect()
            costs[source.kind] = (len(history), (tracemalloc.get_traced_memory()[0] - before) / 1e6)
            del history
        # The floor for what the ring is read for (sparkline, rate): when and how many.
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        slim: deque[tuple[datetime, int | None]] = deque(maxlen=86400 // STEP_S)
        for step in range(86400 // STEP_S):
            slim.append((START + timedelta(seconds=step * STEP_S), step * 7 % 5000))
        costs["(at, total) floor"] = (
            len(slim),
            (tracemalloc.get_traced_memory()[0] - before) / 1e6,
        )
        del slim
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return costs


# ---- main ---------------------------------------------------------------------------------------


def top_lines(stats: Iterable[Any], show: Callable[[Any], str]) -> None:
    for stat in stats:
        print(f"    {show(stat)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument(
        "--every", type=int, default=30, help="update the panes every Nth step (default 30)"
    )
    parser.add_argument(
        "--checkpoint",
        type=float,
        default=CHECKPOINT_H,
        help=f"simulated hours between two RSS readings (default {CHECKPOINT_H})",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="top 10 allocation sites at the end (slow)"
    )
    args = parser.parse_args()
    steps = max(1, round(args.hours * 3600 / STEP_S))
    every = max(1, args.every)

    gc.collect()
    rss_imports = rss_mb()
    rss_reference = asyncio.run(reference_rss())
    if args.tracemalloc:
        tracemalloc.start(1)
    run = Run(steps, every, max(1, round(args.checkpoint * 3600 / STEP_S)))
    print(
        f"cockpit memory over {args.hours:g} simulated hours: {steps:,} steps of {STEP_S} s, "
        f"{len(RESOLVERS)} resolvers, 3 regions, 6 queue sources, auth every {AUTH_EVERY} steps; "
        f"panes updated every {every} step(s); tracemalloc {'on' if args.tracemalloc else 'off'}"
    )
    with tempfile.TemporaryDirectory(prefix="cockpit-mem-") as directory:
        asyncio.run(drive(run, Path(directory), args.tracemalloc))
    end = run.checkpoints[-1]
    config = load_config_text(config_text())
    costs = ring_cost(config)

    growth = end.rss - run.rss_started
    sim_hours = steps * STEP_S / 3600
    print()
    print(f"RSS after imports                 {rss_imports:8.1f} MB")
    print(
        f"RSS, empty Textual App running    {rss_reference:8.1f} MB  (reference: "
        f"+{rss_reference - rss_imports:.1f} MB over the imports)"
    )
    print(
        f"RSS, cockpit started              {run.rss_started:8.1f} MB  "
        f"({run.rss_started - rss_reference:+.1f} MB over the empty App)"
    )
    print(f"RSS at the end                    {end.rss:8.1f} MB")
    print(f"VmHWM (peak RSS) at the end       {end.hwm:8.1f} MB")
    print(
        f"growth over the run               {growth:8.1f} MB  "
        f"({growth / sim_hours:.2f} MB per simulated hour)"
    )
    print(f"RSS at the end / empty App        {end.rss / rss_reference:8.2f}x")
    print(
        f"log entries {run.log_entries:,} ({run.probe_entries:,} probe entries); timeline holds "
        f"{end.timeline_entries:,} entries in {end.timeline_lines:,} lines"
    )
    print(
        "QueueHistory lengths: "
        + ", ".join(f"{name} {length:,}" for name, length in run.histories.items())
        + f"; probe logger keys {run.logger_keys:,}"
    )
    print("what the cockpit keeps (deep sys.getsizeof):")
    for what, size in run.deep.items():
        print(f"    {what:42} {size:7.1f} MB")
    print("one full QueueHistory (a day at 10 s) per kind, tracemalloc:")
    for kind, (length, size) in costs.items():
        each = size * 1e6 / length
        print(f"    {kind:18} {length:,} readings {size:7.1f} MB ({each:,.0f} B each)")
    print(
        f"runtime {run.seconds:.0f} s for {steps:,} steps "
        f"({run.seconds / steps * 1000:.1f} ms per step, panes every {every})"
    )
    if run.snapshot_end is not None and run.snapshot_start is not None:
        print("tracemalloc, top 10 by size at the end:")
        top_lines(
            run.snapshot_end.statistics("lineno")[:10],
            lambda s: f"{s.size / 1e6:7.2f} MB {s.count:9,}  {s.traceback[0]}",
        )
        print("tracemalloc, top 10 by growth since the cockpit started:")
        top_lines(
            run.snapshot_end.compare_to(run.snapshot_start, "lineno")[:10],
            lambda s: f"{s.size_diff / 1e6:+7.2f} MB {s.count_diff:+9,}  {s.traceback[0]}",
        )
    if args.tracemalloc:
        print("no PASS/FAIL with --tracemalloc: its own bookkeeping is in the RSS above")
        return 0
    verdict = "PASS" if end.rss < TARGET_MB else "FAIL"
    print(f"{verdict}: RSS at the end {end.rss:.1f} MB (target: under {TARGET_MB:.0f} MB)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
