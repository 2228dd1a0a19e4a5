"""The cockpit's probe core (LiveProbes), its loop thread (ProbeLoop), the severity
convention and the config keys the cockpit reads ([auth] interval, [ui] theme)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cockpit import compat
from cockpit.compat import UTC
from cockpit.config import ConfigError, load_config_text
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.probe_log import ProbeLogger
from cockpit.incident.severity import (
    SeverityError,
    current_severity,
    parse_severity,
    severity_entry,
)
from cockpit.live_probes import LiveProbes
from cockpit.model import Finding, Status
from cockpit.probe_loop import ProbeLoop
from cockpit.queue.sample import QueueSample, Reading
from tests.conftest import run_cockpit
from tests.dns_fakes import (
    CONFIG_TEXT,
    MX_PRIMARY,
    MX_SECONDARY,
    RESOLVERS,
    T0,
    auth,
    everyone,
    obs,
    sweep,
    watched,
)

QUEUE = """
  [[region.queue]]
  name = "eu-queue"
  kind = "command"
  command = ["/bin/echo", "1"]
  warn = 100
  crit = 1000
  interval = 5
"""


def config_with_queue():  # noqa: ANN201
    # The queue goes into the first region (after its keys, before the second [[region]]).
    first, rest = CONFIG_TEXT.split('[[region]]\nname = "secondary"', 1)
    return load_config_text(first + QUEUE + '\n[[region]]\nname = "secondary"' + rest)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def mx_sweep(
    resolver_mx: dict[str, tuple[str, ...]], authoritative_mx: tuple[str, ...], at: datetime
):  # noqa: ANN201, E501
    mx = watched("MX")
    answers = {}
    for spec in RESOLVERS:
        answers[(spec.name, mx.key)] = obs(
            mx, answers=resolver_mx[spec.name], server=spec.name, at=at
        )
    return sweep(answers, auth(mx, authoritative_mx, at=at), records=(mx,), started_at=at)


def test_sweeps_give_region_flips_and_convergence_as_probe_entries() -> None:
    clock = Clock()
    probes = LiveProbes(config_with_queue(), target="secondary", clock=clock)
    stale = {spec.name: MX_PRIMARY for spec in RESOLVERS}
    assert probes.took_sweep(mx_sweep(stale, MX_SECONDARY, T0)) == []  # nothing to compare yet
    clock.now = T0 + timedelta(seconds=30)
    one_flipped = {**stale, "Quad9": MX_SECONDARY}
    entries = probes.took_sweep(mx_sweep(one_flipped, MX_SECONDARY, clock.now))
    assert [e.data["event"] for e in entries] == ["resolver_region_changed"]
    assert entries[0].data["area"] == "dns" and "Quad9" in entries[0].text
    clock.now += timedelta(seconds=30)
    all_flipped = {spec.name: MX_SECONDARY for spec in RESOLVERS}
    events = [
        e.data["event"] for e in probes.took_sweep(mx_sweep(all_flipped, MX_SECONDARY, clock.now))
    ]
    assert "record_converged" in events
    found = probes.findings()
    assert any(f.area == "dns" and f.check == "MX" and f.status is Status.OK for f in found)


def test_a_new_target_judges_the_same_sweep_again() -> None:
    clock = Clock()
    probes = LiveProbes(config_with_queue(), target="primary", clock=clock)
    mx = watched("MX")
    probes.took_sweep(sweep(everyone(mx, MX_PRIMARY), auth(mx, MX_PRIMARY), records=(mx,)))
    before = {f.resolver: f.status for f in probes.findings() if f.check == "MX" and f.resolver}
    assert probes.set_target("secondary") and not probes.set_target("secondary")
    after = {f.resolver: f.status for f in probes.findings() if f.check == "MX" and f.resolver}
    assert set(before.values()) == {Status.OK}
    assert Status.OK not in set(after.values())


def test_queue_readings_cross_thresholds_and_a_failed_read_is_never_zero() -> None:
    clock = Clock()
    probes = LiveProbes(config_with_queue(), target="primary", clock=clock)
    sample = QueueSample("eu-queue", T0, 250, {"deferred": 250})
    entries = probes.took_reading("eu-queue", Reading("eu-queue", T0, sample))
    assert [e.data["event"] for e in entries] == ["depth_up"]
    assert entries[0].data["total"] == 250 and entries[0].data["evidence"]["limit"] == 100
    clock.now = T0 + timedelta(seconds=90)
    failed = probes.took_reading("eu-queue", Reading("eu-queue", clock.now, None, "timed out"))
    assert [e.data["event"] for e in failed] == ["source_unknown"]
    (finding,) = [f for f in probes.findings() if f.area == "queue"]
    assert finding.status is Status.UNKNOWN and finding.data["total"] is None
    with pytest.raises(KeyError, match="no queue source named"):
        probes.took_reading("nope", Reading("nope", T0, sample))


def dmarc(policy: str, region: str) -> Finding:
    data = {"check": "dmarc", "policy": policy, "domain": "example.com"}
    return Finding("auth", "dmarc", "_dmarc.example.com", Status.OK, "ok", region, None, data)


def test_auth_changes_and_the_dmarc_baseline_is_logged_once() -> None:
    probes = LiveProbes(config_with_queue(), target="primary", clock=Clock())
    first = probes.took_auth([dmarc("reject", "primary"), dmarc("reject", "secondary")])
    baselines = [e for e in first if e.data.get("event") == "dmarc_baseline"]
    assert len(baselines) == 1 and baselines[0].data["policy"] == "reject"
    assert probes.dmarc_baseline == "reject"
    failing = replace(dmarc("none", "primary"), status=Status.WARN, summary="policy changed")
    again = probes.took_auth([failing, dmarc("reject", "secondary")])
    assert [e.data["event"] for e in again] == ["status_changed"]


def test_a_baseline_already_in_the_log_is_not_logged_again() -> None:
    probes = LiveProbes(config_with_queue(), target="primary", clock=Clock())
    logged = Entry(
        seq=4,
        ts=T0,
        author="cockpit",
        origin={},
        kind="probe",
        text="baseline",
        data={"check": "dmarc", "policy": "quarantine"},
    )
    probes.learn_entries([logged])
    assert probes.dmarc_baseline == "quarantine"
    assert not [e for e in probes.took_auth([dmarc("reject", "primary")]) if "policy" in e.data]


def test_held_changes_are_released_by_tick_and_flush() -> None:
    clock = Clock()
    logger = ProbeLogger(min_interval_s=60, clock=clock)
    probes = LiveProbes(config_with_queue(), target="primary", clock=clock, logger=logger)
    sample = QueueSample("eu-queue", T0, 250)
    probes.took_reading("eu-queue", Reading("eu-queue", T0, sample))
    clock.now += timedelta(seconds=10)
    held = probes.took_reading(
        "eu-queue", Reading("eu-queue", clock.now, QueueSample("eu-queue", clock.now, 5))
    )
    assert held == []  # within the interval: held
    assert probes.tick() == []
    assert [e.data["event"] for e in probes.flush()] == ["depth_down"]


def test_probe_loop_runs_work_off_the_callers_thread_and_stops_quickly() -> None:
    loop = ProbeLoop()
    loop.start()
    caller = threading.get_ident()

    async def where() -> int:
        return threading.get_ident()

    async def main() -> None:
        assert await loop.run(where()) != caller
        hung = asyncio.ensure_future(loop.run(asyncio.sleep(3600)))
        await asyncio.sleep(0.05)
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung

    asyncio.run(main())
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 1.0 and not loop.running

    async def after() -> None:
        with pytest.raises(RuntimeError, match="not running"):
            await loop.run(where())

    asyncio.run(after())


def test_stop_cancels_work_still_running_on_the_loop() -> None:
    loop = ProbeLoop()
    loop.start()
    cancelled = threading.Event()

    async def long() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        task = asyncio.ensure_future(loop.run(long()))
        await asyncio.sleep(0.05)
        loop.stop()
        with pytest.raises((asyncio.CancelledError, RuntimeError)):
            await compat.wait_for(task, 2)

    asyncio.run(main())
    assert cancelled.is_set()


@pytest.mark.parametrize("typed", ["SEV2", "sev2", "2", " Sev 2 "])
def test_severity_spellings(typed: str) -> None:
    assert parse_severity(typed) == "SEV2"


@pytest.mark.parametrize("typed", ["", "SEV5", "0", "critical", "sev-1"])
def test_unknown_severities_are_refused_with_the_choices(typed: str) -> None:
    with pytest.raises(SeverityError, match="SEV1, SEV2, SEV3, SEV4"):
        parse_severity(typed)


def test_only_severity_entries_set_the_severity() -> None:
    def entry(seq: int, kind: str, data: dict[str, object]) -> Entry:
        return Entry(seq=seq, ts=T0, author="a", origin={}, kind=kind, text="t", data=data)

    kind, _text, data = severity_entry("SEV3")
    entries = [
        entry(1, kind, data),
        entry(2, "probe", {"severity": "SEV1"}),
        entry(3, "note", {"event": "severity", "severity": "SEV1"}),
        entry(4, "system", {"event": "severity", "severity": "bogus"}),
    ]
    assert current_severity(entries) == "SEV3"
    assert (
        current_severity([*entries, entry(5, kind, {"event": "severity", "severity": "SEV1"})])
        == "SEV1"
    )
    assert current_severity([]) is None


def test_cockpit_log_severity(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    done = run_cockpit("log", str(path), "--severity", "sev1", "--author", "bob")
    assert done.returncode == 0, done.stderr
    (entry,) = IncidentLog(path).read().entries
    assert entry.data == {"event": "severity", "severity": "SEV1"} and entry.author == "bob"
    bad = run_cockpit("log", str(path), "--severity", "urgent")
    assert bad.returncode != 0 and "--severity: unknown severity 'urgent'" in bad.stderr
    both = run_cockpit("log", str(path), "--severity", "2", "--title", "x")
    assert both.returncode != 0 and "an entry of their own" in both.stderr
    assert len(IncidentLog(path).read().entries) == 1


def test_auth_interval_and_ui_theme_keys() -> None:
    config = load_config_text(CONFIG_TEXT + '\n[auth]\ninterval = 30\n[ui]\ntheme = "light"\n')
    assert config.auth.interval == 30 and config.ui.theme == "light"
    default = load_config_text(CONFIG_TEXT)
    assert default.auth.interval == 60 and default.ui.theme is None
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG_TEXT + '\n[auth]\ninterval = 1\n[ui]\ntheme = "Dark Mode"\n')
    text = str(caught.value)
    assert "auth.interval" in text and "from 5 to 3600" in text
    assert "ui.theme" in text and "high-contrast" in text


def test_now_is_utc() -> None:
    assert datetime.now(UTC).tzinfo is UTC
