"""ssh vantages against real OpenSSH servers (tests/lab/sshd.py) and the DNS lab.

site-a runs its sessions on this host and asks the DNS lab's resolvers; site-b runs them in a
network namespace whose own resolver it finds in its own /etc/resolv.conf.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cockpit.config import Config, load_config_text
from cockpit.dns.observation import Outcome
from cockpit.dns.watch import Judge, WatchedName
from cockpit.vantage.model import VantageLook, unreachable_row_name
from cockpit.vantage.ssh import close_masters, control_path, look_ssh
from tests.lab import pids_running
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

if TYPE_CHECKING:  # imported by pytest_plugins: importing it here first would skip its rewrite
    from tests.lab.sshd import SshLab, SshLabFactory

pytest_plugins = ["tests.lab.dnslab", "tests.lab.sshd"]

ZONE = "example.test"
OLD = zone_text(ZONE, 1, 30, ["@ MX 10 mx1", "mx1 A 127.0.0.25"])
NEW = zone_text(ZONE, 2, 30, ["@ MX 10 mx2", "mx1 A 127.0.0.26"])
WATCHED = [
    WatchedName(ZONE, "MX", "MX", Judge.BY_REGION),
    WatchedName(f"mx1.{ZONE}", "A", "A", Judge.BY_AUTHORITATIVE),
]
MANY = WATCHED + [
    WatchedName(f"n{n}.{ZONE}", "A", "A", Judge.BY_AUTHORITATIVE, required=False) for n in range(6)
]


@pytest.fixture(scope="module")
def dns(dns_lab_module: LabFactory) -> DnsLab:
    return dns_lab_module({ZONE: OLD}, 2)


@pytest.fixture(scope="module")
def ssh(ssh_lab_module: SshLabFactory) -> SshLab:
    return ssh_lab_module({ZONE: OLD})


@pytest.fixture(scope="module")
def control_dir() -> Iterator[Path]:
    """Short (a unix socket path), and not made yet: look_ssh makes it 0700."""
    parent = Path(tempfile.mkdtemp(prefix="ckv-"))
    yield parent / "c"
    for marker in pids_running(str(parent)):  # a test that failed before close_masters
        os.kill(marker, 9)
    shutil.rmtree(parent, ignore_errors=True)


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def make_config(dns: DnsLab, vantages: str) -> Config:
    return load_config_text(config_text(dns, vantages))


def config_text(dns: DnsLab, vantages: str) -> str:
    resolvers = "".join(
        f'[[dns.resolver]]\nname = "{name}"\naddress = "{ip}:{port}"\n'
        for name, ip, port in dns.resolvers
    )
    base = textwrap.dedent(
        f"""\
        [domain]
        name = "{ZONE}"
        [[region]]
        name = "primary"
        mx = ["mx1.{ZONE}"]
        [[region]]
        name = "secondary"
        mx = ["mx2.{ZONE}"]
        """
    )
    return base + resolvers + textwrap.dedent(vantages)


def vantage_text(name: str, host: str, options: list[str], **extra: object) -> str:
    lines = [f'[[vantage]]\nname = "{name}"\nkind = "ssh"\nhost = "{host}"']
    lines.append(f"ssh_options = {toml_list(options)}")
    for key, value in extra.items():
        shown = toml_list(value) if isinstance(value, list) else str(value)
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def address(dns: DnsLab, index: int) -> str:
    _, ip, port = dns.resolvers[index]
    return f"{ip}:{port}"


def mx(look: VantageLook, row: str) -> tuple[str, ...]:
    rows = {item.spec.name: item for item in look.rows}
    return rows[row].observations[f"{ZONE} MX"].answers


async def look_all(config: Config, control_dir: Path, watched: list[WatchedName] = WATCHED):  # noqa: ANN201
    return await asyncio.gather(
        *(look_ssh(v, config, watched, control_dir=control_dir) for v in config.vantages)
    )


async def settle(config: Config, control_dir: Path) -> None:
    """End the masters, then let the runner's transports see their pipes close (a session
    cut short leaves them with the master until it ends), before the loop closes."""
    await close_masters(control_dir, config.vantages)
    await asyncio.sleep(0.3)


def test_one_site_stale_the_other_fresh_over_one_connection_each(
    dns: DnsLab, ssh: SshLab, control_dir: Path
) -> None:
    config = make_config(
        dns,
        vantage_text(
            "site-a", ssh.site_a.destination, ssh.site_a.options(), resolvers=[address(dns, 0)]
        )
        + vantage_text("site-b", ssh.site_b.destination, ssh.site_b.options()),
    )
    sessions = (ssh.site_a.sessions(), ssh.site_b.sessions())
    started = time.monotonic()
    first = asyncio.run(look_all(config, control_dir))
    first_s = time.monotonic() - started
    assert [look.error for look in first] == [None, None]
    assert [row.spec.name for row in first[0].rows] == ["lab-r1 @ site-a"]
    assert [row.spec.name for row in first[1].rows] == ["127.0.0.1 @ site-b"]
    assert (first[1].rows[0].spec.ip, first[1].rows[0].spec.port) == ("127.0.0.1", 53)
    assert (first[0].rows[0].spec.ip, first[0].rows[0].spec.port) == dns.resolver_address(0)
    assert (
        mx(first[0], "lab-r1 @ site-a")
        == mx(first[1], "127.0.0.1 @ site-b")
        == ("10 mx1.example.test",)
    )
    assert stat.S_IMODE(control_dir.stat().st_mode) == 0o700

    dns.set_zone(ZONE, NEW)
    dns.reload()
    ssh.site_b_dns.set_zone(ZONE, NEW)
    dns.flush(0)  # site-a's resolver is fresh; site-b's keeps its cached answer
    started = time.monotonic()
    second = asyncio.run(look_all(config, control_dir))
    second_s = time.monotonic() - started
    assert mx(second[0], "lab-r1 @ site-a") == ("10 mx2.example.test",)
    assert mx(second[1], "127.0.0.1 @ site-b") == ("10 mx1.example.test",)
    # One master connection per site for both looks; every command was a session on it.
    assert (ssh.site_a.sessions(), ssh.site_b.sessions()) == (sessions[0] + 1, sessions[1] + 1)
    assert second_s < first_s + 0.5, (first_s, second_s)
    asyncio.run(close_masters(control_dir, config.vantages))
    assert pids_running(str(control_dir)) == []
    assert not control_path(control_dir, config.vantages[0]).exists()


def test_an_unknown_host_key_is_a_clear_unknown_row(
    dns: DnsLab, ssh: SshLab, control_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = ssh.site_a.options(known_hosts=empty)
    config = make_config(
        dns, vantage_text("stranger", ssh.site_a.destination, options, resolvers=[address(dns, 0)])
    )
    (look,) = asyncio.run(look_all(config, control_dir))
    assert look.error == "ssh exit 255: Host key verification failed."
    assert [row.spec.name for row in look.rows] == [unreachable_row_name("stranger")]
    observations = look.rows[0].observations.values()
    assert all(o.outcome is Outcome.NETWORK_ERROR and o.error == look.error for o in observations)
    assert pids_running(str(control_dir)) == []


def test_dig_missing_over_there_makes_the_vantage_unusable(
    dns: DnsLab, ssh: SshLab, control_dir: Path
) -> None:
    options = ssh.site_a.options("nodig")
    config = make_config(
        dns, vantage_text("bare", ssh.site_a.destination, options, resolvers=[address(dns, 0)])
    )
    (look,) = asyncio.run(look_all(config, control_dir))
    assert look.error is not None
    assert look.error.startswith("dig is not installed on root@127.0.22.11: dig exit 127")
    assert "not found" in look.error
    asyncio.run(close_masters(control_dir, config.vantages))


def test_ssh_missing_here_makes_the_vantage_unusable(dns: DnsLab, control_dir: Path) -> None:
    config = make_config(dns, vantage_text("x", "root@127.0.22.11", [], resolvers=["127.0.0.1"]))
    look = asyncio.run(
        look_ssh(
            config.vantages[0], config, WATCHED, control_dir=control_dir, ssh_program="/nope/ssh"
        )
    )
    assert look.error == "no such program: /nope/ssh"


def test_a_frozen_resolver_times_out_its_row_within_the_budget(
    dns: DnsLab, ssh: SshLab, control_dir: Path
) -> None:
    config = make_config(
        dns,
        vantage_text(
            "site-a",
            ssh.site_a.destination,
            ssh.site_a.options(),
            resolvers=[address(dns, 0), address(dns, 1)],
            timeout=3,
        )
        + vantage_text("site-b", ssh.site_b.destination, ssh.site_b.options(), timeout=3),
    )

    async def scenario() -> tuple[list[VantageLook], float]:
        await look_all(config, control_dir)  # masters up: the timing below is the looks'
        dns.freeze(1)
        try:
            started = time.monotonic()
            looks = await look_all(config, control_dir, MANY)
            elapsed = time.monotonic() - started
        finally:
            dns.thaw(1)
        await settle(config, control_dir)
        return looks, elapsed

    (site_a, site_b), elapsed = asyncio.run(scenario())
    assert elapsed < 3 + 0.5, elapsed
    rows = {row.spec.name: row for row in site_a.rows}
    frozen = rows["lab-r2 @ site-a"].observations
    assert all(o.outcome is Outcome.TIMEOUT for o in frozen.values())
    assert any("within the look's budget" in (o.error or "") for o in frozen.values())
    assert rows["lab-r1 @ site-a"].observations[f"{ZONE} MX"].outcome is Outcome.ANSWER
    assert site_b.rows[0].observations[f"{ZONE} MX"].outcome is Outcome.ANSWER
    assert any(note.startswith("resolver lab-r2: timed out") for note in site_a.notes)


def test_hostile_dig_output_is_bounded_and_never_an_answer(
    dns: DnsLab, ssh: SshLab, control_dir: Path
) -> None:
    options = ssh.site_a.options("fakedig")
    config = make_config(
        dns, vantage_text("evil", ssh.site_a.destination, options, resolvers=[address(dns, 0)])
    )
    (look,) = asyncio.run(look_all(config, control_dir))
    assert look.error is None
    (row,) = look.rows
    for observation in row.observations.values():
        assert observation.outcome is Outcome.MALFORMED and observation.answers == ()
        assert observation.error is not None and len(observation.error) <= 200
        assert "\x1b" not in observation.error and "\x07" not in observation.error
    assert any("output larger than 1 MiB (killed)" in note for note in look.notes)
    asyncio.run(close_masters(control_dir, config.vantages))


def test_a_cancelled_look_and_close_masters_leave_no_ssh_behind(
    dns: DnsLab, ssh: SshLab, control_dir: Path
) -> None:
    config = make_config(
        dns,
        vantage_text(
            "site-a",
            ssh.site_a.destination,
            ssh.site_a.options(),
            resolvers=[address(dns, 1)],
            timeout=4,
        ),
    )

    async def cancelled() -> list[int]:
        task = asyncio.create_task(look_all(config, control_dir, MANY))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        mine = set(pids_running(str(control_dir)))
        clients = [pid for pid in pids_running("ControlMaster=no") if pid in mine]
        await settle(config, control_dir)
        return clients

    dns.freeze(1)
    try:
        assert asyncio.run(cancelled()) == []
    finally:
        dns.thaw(1)
    assert pids_running(str(control_dir)) == []


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_cockpit_ended_by_a_signal_leaves_no_ssh_master_behind(
    dns: DnsLab, ssh: SshLab, tmp_path: Path, signum: int
) -> None:
    """The master lives in a session of its own (ssh -f): no process group cockpit ends holds
    it. A `cockpit check` ended while its look waits on a frozen resolver ends it too."""
    runtime = Path(tempfile.mkdtemp(prefix="ckr-"))  # short: the sockets' directory is in it
    control = runtime / "cockpit-ssh"
    vantage = vantage_text(
        "site-a", ssh.site_a.destination, ssh.site_a.options(), resolvers=[address(dns, 1)],
        timeout=8,
    )  # fmt: skip
    path = tmp_path / "cockpit.toml"
    path.write_text(config_text(dns, vantage))
    argv = [sys.executable, "-m", "cockpit", "check", "--only", "dns", "--config", str(path)]
    dns.freeze(1)
    cockpit = subprocess.Popen(
        argv,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Until the look's dig sessions run: the master is up, gone to the background.
        deadline = time.monotonic() + 10
        while not [pid for pid in pids_running(str(control)) if _is_session(pid)]:
            assert time.monotonic() < deadline, "no dig session started over the master"
            assert cockpit.poll() is None, cockpit.stderr.read() if cockpit.stderr else ""
            time.sleep(0.05)
        os.kill(cockpit.pid, signum)
        cockpit.wait(timeout=10)
        assert cockpit.returncode == -signum
        deadline = time.monotonic() + 3
        while pids_running(str(control)):
            assert time.monotonic() < deadline, f"left running: {pids_running(str(control))}"
            time.sleep(0.05)
    finally:
        dns.thaw(1)
        if cockpit.poll() is None:
            cockpit.kill()
            cockpit.wait(timeout=10)
        for pid in pids_running(str(control)):
            os.kill(pid, 9)
        shutil.rmtree(runtime, ignore_errors=True)


def _is_session(pid: int) -> bool:
    try:
        return b"ControlMaster=no" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
