"""The cockpit's probe runner against the real DNS lab: sweeps reach the DNS pane on their
interval and never overlap, and a frozen resolver or a hung queue command freezes neither the
keys nor the clock, nor delays quitting, nor leaves a process behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.probe_runner import ProbeRunner
from cockpit.ui.queue_pane import QueuePane
from tests.lab.dnslab import DnsLab, LabFactory
from tests.pilot_wait import wait_for
from tests.test_dns_sweep import lab_zones, write_config

pytest_plugins = ["tests.lab.dnslab"]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


MARKER = "cockpit-hung-queue-test"


def probe_config(tmp_path: Path, lab: DnsLab, *, hung_queue: bool = False) -> Path:
    # A frozen resolver costs a whole query timeout (2 s): a key that waited on it would
    # take longer than the 1 s the keys below are allowed, even on a busy machine.
    path = write_config(tmp_path, lab, timeout=2.0)
    text = path.read_text().replace("[dns]\n", "[dns]\ninterval = 1\n", 1)
    if hung_queue:
        # A queue command that never answers (a dead ssh hop), killed at its timeout or exit.
        queue = f"""
  [[region.queue]]
  name = "hung"
  kind = "command"
  command = ["{sys.executable}", "-c", "import time; time.sleep(30)", "{MARKER}"]
  timeout = 20
  interval = 1
"""
        text = text.replace(
            '[[region]]\nname = "secondary"', queue + '\n[[region]]\nname = "secondary"', 1
        )
    path.write_text(text)
    return path


def marker_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if MARKER.encode() in cmdline.split(b"\0"):
                found.append(int(entry))
    return found


async def test_sweeps_repeat_on_their_interval_without_overlapping(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"), resolver_count=2)
    config = load_config(probe_config(tmp_path, lab))
    log_path = tmp_path / "inc.jsonl"
    IncidentLog(log_path).append("system", "opened", {}, author="alice")
    app = CockpitApp(log_path, author="alice", config=config)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(DnsPane)
        seen = []
        deadline = time.monotonic() + 8
        while len(seen) < 3 and time.monotonic() < deadline:
            if pane._sweep is not None and (not seen or pane._sweep is not seen[-1]):
                seen.append(pane._sweep)
            await pilot.pause(0.05)
        assert len(seen) == 3, "three sweeps within 8 s at a 1 s interval"
        for earlier, later in zip(seen, seen[1:], strict=False):
            assert later.started_at >= earlier.finished_at  # never overlapping
        assert app.query_one(ProbeRunner).target == "primary" and pane._target == "primary"
        assert "last sweep" in str(pane.progress.render())


async def test_a_frozen_resolver_and_a_hung_queue_freeze_nothing(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"), resolver_count=2)
    lab.freeze(0)
    try:
        config = load_config(probe_config(tmp_path, lab, hung_queue=True))
        log_path = tmp_path / "inc.jsonl"
        IncidentLog(log_path).append("system", "opened", {}, author="alice")
        app = CockpitApp(log_path, author="alice", config=config)
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.query_one(DnsPane)
            await wait_for(pilot, "a first sweep", lambda: pane._sweep is not None, 10)
            await wait_for(pilot, "the hung queue command", lambda: bool(marker_processes()), 5)
            # While the queue command hangs and a resolver never answers, keys act at once.
            for key, zoomed in (("2", True), ("escape", False), ("1", True), ("escape", False)):
                started = time.monotonic()
                await pilot.press(key)
                await wait_for(
                    pilot,
                    f"zoom after {key}",
                    lambda z=zoomed: (app.screen.maximized is not None) == z,
                    1,
                )
                assert time.monotonic() - started < 1.0
            row = " ".join(str(cell) for cell in app.query_one(QueuePane).table.get_row_at(0))
            assert "unknown" in row and "no reading yet" in row, row  # never a 0 while it hangs
            quit_started = time.monotonic()
        assert time.monotonic() - quit_started < 4.0, "quitting waits for no hung probe"
    finally:
        lab.thaw(0)
    deadline = time.monotonic() + 3
    while marker_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker_processes() == [], "the hung queue command was killed at exit"
