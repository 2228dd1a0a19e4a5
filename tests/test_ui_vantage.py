"""A vantage that never answers (an ssh host that accepts the connection and then says
nothing) on the cockpit screen, against the real DNS lab: the local sweep shows on time, keys
act at once, the vantage becomes one unknown column with the reason once its timeout is up,
and quitting waits for nothing and leaves no ssh process behind."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.incident.log import IncidentLog
from cockpit.ui.app import CockpitApp
from cockpit.ui.dns_pane import DnsPane
from tests.lab import missing_in_lab, pids_running
from tests.lab.dnslab import LabFactory
from tests.pilot_wait import wait_for
from tests.test_dns_sweep import lab_zones, write_config

pytest_plugins = ["tests.lab.dnslab"]
pytestmark = pytest.mark.anyio

MARKER = "cockpit-silent-vantage"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def silent_ssh_port() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts connections and never sends a byte: ssh waits
    for a banner that never comes (what a hung host or a black-holing firewall does)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        server.close()


async def test_a_silent_vantage_delays_nothing_and_shows_as_one_unknown_column(
    dns_lab: LabFactory, tmp_path: Path, silent_ssh_port: int
) -> None:
    if shutil.which("ssh") is None:
        missing_in_lab("the ssh client is not installed (Debian openssh-client)")
    lab = dns_lab(lab_zones("primary"), resolver_count=2)
    path = write_config(tmp_path, lab, timeout=1.0)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    path.write_text(
        path.read_text()
        + f"""
[[vantage]]
name = "office"
location = "a silent host"
kind = "ssh"
host = "nobody@127.0.0.1"
ssh_options = ["-p", "{silent_ssh_port}", "-o", "UserKnownHostsFile={known_hosts}",
               "-o", "StrictHostKeyChecking=yes", "-F", "/dev/null", "-o", "SetEnv=X={MARKER}"]
resolvers = ["127.0.0.1"]
timeout = 3
interval = 30
"""
    )
    config = load_config(path)
    log_path = tmp_path / "inc.jsonl"
    IncidentLog(log_path).append("system", "opened", {}, author="alice")
    app = CockpitApp(log_path, author="alice", config=config)
    started = time.monotonic()
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(DnsPane)
        await wait_for(pilot, "the local sweep", lambda: pane._sweep is not None, 10)
        local_at = time.monotonic() - started
        assert local_at < 3.0, f"the local sweep waited for the vantage ({local_at:.1f} s)"
        for key, zoomed in (("1", True), ("escape", False)):
            pressed = time.monotonic()
            await pilot.press(key)
            await wait_for(
                pilot,
                f"zoom after {key}",
                lambda z=zoomed: (app.screen.maximized is not None) == z,
                1,
            )
            assert time.monotonic() - pressed < 1.0

        def vantage_column() -> bool:
            sweep = pane._sweep
            return sweep is not None and any(s.name == "@ office" for s in sweep.resolvers)

        await wait_for(pilot, "the vantage's unknown column", vantage_column, 10)
        sweep = pane._sweep
        assert sweep is not None
        seen = [obs for (name, _), obs in sweep.observations.items() if name == "@ office"]
        assert seen and all(not obs.ok for obs in seen)
        assert all(
            "office" in (obs.error or "") or "timed out" in (obs.error or "") for obs in seen
        )
        quit_started = time.monotonic()
    assert time.monotonic() - quit_started < 4.0, "quitting waits for no vantage"
    deadline = time.monotonic() + 3
    while pids_running(MARKER) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_running(MARKER) == [], "no ssh process is left behind"
