"""How long does a sweep take with vantages, next to one vantage alone and the local sweep?

    .venv/bin/python -m bench.bench_vantage [--vantages 3] [--resolvers 10] [--rounds 5]

Starts the DNS lab (nsd plus 10 unbound on loopback) and the ssh lab (a real sshd,
tests/lab/sshd.py; needs root, sshd, ip, nsd, unbound, dig), and configures 3 ssh vantages on
it (each its own multiplexed connection, as three sites would be), each asking the 10 lab
resolvers the 12 watched records over ssh. Then, with warm caches, it times:
  (a) the local sweep alone (the same 10 resolvers x 12 records, asked from here);
  (b) each vantage's look alone; the slowest of them is "the slowest vantage's round trip";
  (c) what `cockpit check --only dns` does: the local sweep and every look at once.
Target: (c) at most 1.5 x ((b) slowest + (a)). Also printed: (c) against one vantage alone,
and the first look of each vantage, which sets up its ssh connection.

It runs twice: on plain loopback, and with each site behind a relay that delays every byte
by half of --rtt (default 40 ms) each way, as a site in another network is. On loopback the
sites' sshd and dig run on this machine's cores beside the cockpit, so (c) is bound by the CPU
of all four parties (printed with each figure); a real site's sshd and dig run on that site.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_dns_sweep import REGIONS, ZONES  # noqa: E402
from cockpit.config import Config, load_config_text  # noqa: E402
from cockpit.dns.sweep import sweep  # noqa: E402
from cockpit.dns.watch import watched_names  # noqa: E402
from cockpit.vantage.look import look_all, look_one  # noqa: E402
from cockpit.vantage.merge import merge_looks  # noqa: E402
from cockpit.vantage.ssh import close_masters  # noqa: E402
from tests.lab import free_port  # noqa: E402
from tests.lab.dnslab import DnsLab  # noqa: E402
from tests.lab.sshd import SshLab, require_ssh_lab  # noqa: E402

TARGET_RATIO = 1.5

LIGHT_USER = "cockpit-bench"
"""The bench's sessions log in as a user whose shell is /bin/sh: root's bash here reads a
.bashrc that runs `pyenv init` (about 0.1 s of CPU per session), and on this 2-core machine
the "remote" side shares the CPU with the cockpit; a site's own host would not."""


def light_user() -> str:
    """LIGHT_USER, made (a system user, /bin/sh, no home) when missing; root if that fails."""
    if subprocess.run(["id", LIGHT_USER], capture_output=True).returncode == 0:
        subprocess.run(["usermod", "-p", "*", LIGHT_USER], capture_output=True)
        return LIGHT_USER
    # Password "*": no password login, but not a locked account ("!"), which sshd without
    # PAM refuses even for a key.
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", "-p", "*", LIGHT_USER],
        capture_output=True,
    )
    return LIGHT_USER if made.returncode == 0 else "root"


RELAY_NET = "127.0.23."


class Relay:
    """TCP relays on 127.0.23.N, one per site, that hold every chunk back by `delay` seconds
    in each direction (order kept), on a thread of their own."""

    def __init__(self, target: tuple[str, int], count: int, delay: float) -> None:
        self.target, self.delay = target, delay
        self.addresses = [
            (f"{RELAY_NET}{n + 1}", free_port(f"{RELAY_NET}{n + 1}")) for n in range(count)
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def later() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not chunk:
                    writer.close()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.ensure_future(later())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        except OSError:
            pass
        queue.put_nowait((time.monotonic() + self.delay, b""))
        with contextlib.suppress(OSError):
            await sender

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:  # the relay is closing: end quietly
            for stream in (writer, up_writer):
                stream.close()

    def __enter__(self) -> Relay:
        self._thread.start()
        for ip, port in self.addresses:
            future = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(self._serve, ip, port), self._loop
            )
            future.result(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def bench_config(
    dns: DnsLab, ssh: SshLab, vantages: int, through: Sequence[tuple[str, int]] = ()
) -> Config:
    auth_ip, auth_port = dns.authoritative
    text = REGIONS + f'[dns]\ntimeout = 2\nauthoritative = ["{auth_ip}:{auth_port}"]\n'
    addresses = [f"{ip}:{port}" for _, ip, port in dns.resolvers]
    for name, address in zip([r[0] for r in dns.resolvers], addresses, strict=True):
        text += f'[[dns.resolver]]\nname = "{name}"\naddress = "{address}"\n'
    resolvers = ", ".join(f'"{address}"' for address in addresses)
    site = ssh.site_a
    for number in range(1, vantages + 1):
        options, host = site.options("plain"), site.ip
        if through:  # the relay's address, and its own known_hosts line for the site's key
            host, port = through[number - 1]
            known = site.workdir / f"known_hosts.relay{number}"
            key = site.known_hosts.read_text().split(None, 1)[1]
            known.write_text(f"[{host}]:{port} {key}")
            options = site.options("plain", known_hosts=known)
            options[options.index("-p") + 1] = str(port)
        listed = ", ".join(f'"{option}"' for option in options)
        text += (
            f'[[vantage]]\nname = "site{number}"\nkind = "ssh"\n'
            f'host = "{site.user}@{host}"\nssh_options = [{listed}]\n'
            f"resolvers = [{resolvers}]\ntimeout = 10\ninterval = 30\n"
        )
    return load_config_text(text)


CPU_SPENT: dict[str, list[tuple[float, float]]] = {}
"""label -> (CPU seconds of the whole machine, of this process and its children) per run."""


def _machine_cpu() -> float:
    """CPU seconds all cores spent so far (user, nice, system, irq, softirq), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    ticks = sum(int(fields[index]) for index in (0, 1, 2, 5, 6))
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], Awaitable[Any]], label: str = "") -> tuple[float, Any]:
    machine, own = _machine_cpu(), _own_cpu()
    started = time.perf_counter()
    result = asyncio.run(run())  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    if label:
        CPU_SPENT.setdefault(label, []).append((_machine_cpu() - machine, _own_cpu() - own))
    return seconds, result


def _cpu_text(label: str) -> str:
    spent = CPU_SPENT.get(label, [])
    if not spent:
        return ""
    machine = median([pair[0] for pair in spent])
    own = median([pair[1] for pair in spent])
    return f"; CPU {machine * 1000:.0f} ms on all cores, {own * 1000:.0f} ms ours and ssh's"


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vantages", type=int, default=3)
    parser.add_argument("--resolvers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rtt", type=float, default=40.0, help="the relayed sites' RTT, ms")
    args = parser.parse_args()
    require_ssh_lab_or_exit()
    with tempfile.TemporaryDirectory(prefix="bench-vantage-") as tmp:
        work = Path(tmp)
        control = Path(tempfile.mkdtemp(prefix="ckb-")) / "s"
        zones = ZONES  # the DNS sweep bench's domain: 12 watched records
        with DnsLab(work / "dns", zones, args.resolvers) as dns, SshLab(work / "ssh", zones) as ssh:
            ssh.site_a.user = light_user()
            # sshd reads authorized_keys as that user: let it through the lab's directories.
            for part in (work, work / "ssh", ssh.site_a.workdir):
                part.chmod(0o755)
            (ssh.site_a.workdir / "authorized_keys").chmod(0o644)
            config = bench_config(dns, ssh, args.vantages)
            target = (ssh.site_a.ip, ssh.site_a.port)
            with Relay(target, args.vantages, args.rtt / 2000) as relay:
                far = bench_config(dns, ssh, args.vantages, relay.addresses)
                watched = watched_names(config)
                print(f"sessions log in as {ssh.site_a.user}")
                print(
                    f"{args.vantages} ssh vantages x {args.resolvers} resolvers x {len(watched)}"
                    f" records ({args.vantages * args.resolvers * len(watched)} questions over"
                    f" ssh, {args.resolvers * len(watched)} local)"
                )
                for label, setup in (("loopback", config), (f"{args.rtt:g} ms RTT", far)):
                    print(f"\n== sites on {label}")
                    CPU_SPENT.clear()
                    try:
                        run_rounds(setup, control, args.rounds)
                    finally:
                        asyncio.run(close_masters(control, setup.vantages))
    return 0


def require_ssh_lab_or_exit() -> None:
    try:
        require_ssh_lab()
    except BaseException as error:  # pytest's skip/fail outside pytest: say why and stop
        print(f"cannot run: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_rounds(config: Config, control: Path, rounds: int) -> None:
    first: list[float] = []
    for vantage in config.vantages:  # cold: each sets up its ssh master
        seconds, look = timed(lambda v=vantage: look_one(v, config, control_dir=control))
        assert look.error is None, look.error
        first.append(seconds)
    local: list[float] = []
    alone: dict[str, list[float]] = {vantage.name: [] for vantage in config.vantages}
    together: list[float] = []
    for _ in range(rounds):
        seconds, _ = timed(lambda: sweep(config), "local")
        local.append(seconds)
        for vantage in config.vantages:
            seconds, look = timed(lambda v=vantage: look_one(v, config, control_dir=control), "one")
            assert look.error is None and not look.notes, (look.error, look.notes)
            alone[vantage.name].append(seconds)

        async def everything() -> object:
            local_sweep, looks = await asyncio.gather(
                sweep(config), look_all(config, control_dir=control)
            )
            return merge_looks(local_sweep, looks)

        seconds, merged = timed(everything, "all")
        together.append(seconds)
        rows = sum(1 for spec in merged.resolvers if " @ " in spec.name)
        assert rows == len(config.vantages) * len(config.dns.resolvers), rows
    slowest = max(median(values) for values in alone.values())
    one = median(next(iter(alone.values())))
    both = median(together)
    budget = TARGET_RATIO * (slowest + median(local))
    print(f"(a) local sweep alone:          {median(local) * 1000:6.1f} ms{_cpu_text('local')}")
    for name, values in alone.items():
        print(f"(b) {name} look alone:         {median(values) * 1000:6.1f} ms{_cpu_text('one')}")
    print(f"    first look (ssh set-up):    {', '.join(f'{s * 1000:.0f} ms' for s in first)}")
    print(f"(c) local sweep and every look: {both * 1000:6.1f} ms{_cpu_text('all')}")
    cores = os.cpu_count() or 1
    print(
        f"    (here the sites' sshd and dig share this machine's {cores} cores with the"
        " cockpit: (c) cannot take less than its CPU divided by the cores)"
    )
    verdict = "ok" if both <= budget else "TOO SLOW"
    print(
        f"(c) / ((b) slowest + (a)): {both / (slowest + median(local)):.2f}"
        f" (target at most {TARGET_RATIO}: {verdict})"
    )
    print(f"(c) / one vantage alone: {both / one:.2f}")


if __name__ == "__main__":
    sys.exit(main())
