"""The cockpit in a real terminal: time to the first frame, and what it costs while idle.

    .venv/bin/python bench/bench_ui_tmux.py [--runs 5] [--seconds 60] [--settle 10]

Everything runs in detached tmux sessions of 80x24 on a tmux server of its own (`tmux -L`),
with TERM=xterm-256color and HOME/XDG_CONFIG_HOME in a temporary directory. The bench starts
the DNS lab (tests/lab/dnslab.py: nsd plus unbound on loopback; needs root, nsd and unbound)
and points the cockpit at it, so every pane is live: [dns] interval 5 s, [auth] interval 5 s,
and per region one queue source of kind "command" (`/bin/echo 42`) read every 5 s.

1. Start: wall time from just before `tmux new-session` to the first frame seen by
   `tmux capture-pane` (polled every 10 ms), median of --runs, interleaved with:
     floor      a bare interpreter that prints one line (tmux, the process and the polling);
     Textual    a minimal Textual app (one Static and a Footer): the framework's own start;
     top        `top`, the reference (first frame: its "load average" and "Tasks" lines);
     cockpit    first frame: the header shows the incident's title and the clock, the footer
                the keys.
   Target: cockpit under 0.6 s. The CPU each process had used by its first frame is shown
   too: on a busy machine the wall time grows, the CPU time hardly.
2. Idle: the cockpit, `top -d 5` and the probes alone side by side, at the same time, for
   --seconds. The probes alone are the floor under the cockpit's CPU: a process without a
   screen that runs the same sweep, auth checks and queue reads on the same intervals. CPU is
   utime+stime of each process and its children (/proc/PID/stat) over the window, as a share
   of one core; bytes are what the process wrote to its terminal (`tmux pipe-pane -o`),
   counted after the first frame and a settle period (the first sweep, auth run and queue
   reads), with the start-up bytes reported apart. Targets: cockpit under 2 % of one core
   and under 2 KB/s. The window's output is split by the screen row each write went to (after
   a cursor move), which shows what repaints: at 80x24 row 1 is the header, the last the
   footer.
The load average is printed before and after: on a busy machine every figure grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.config import Config, QueueSource, load_config  # noqa: E402
from cockpit.incident.log import IncidentLog  # noqa: E402
from tests.lab.dnslab import DnsLab, zone_text  # noqa: E402

WIDTH, HEIGHT = 80, 24
POLL_SECONDS = 0.01
FIRST_FRAME_TIMEOUT = 15.0
REFRESH_SECONDS = 5
TARGET_START_SECONDS = 0.6
TARGET_CPU_PERCENT = 2.0
TARGET_BYTES_PER_SECOND = 2048.0
COCKPIT = ROOT / ".venv" / "bin" / "cockpit"
TITLE = "bench-ui"
"""The incident log's stem: the header shows it as the title."""

ZONE = "example.test"
REVERSE = "20.0.127.in-addr.arpa"
ZONES = {
    ZONE: zone_text(
        ZONE,
        1,
        300,
        [
            "@ MX 10 mx1",
            "mx1 A 127.0.0.25",
            "mx2 A 127.0.0.26",
            "webmail A 127.0.10.1",
            '@ TXT "v=spf1 ip4:127.0.20.0/24 -all"',
            '_dmarc TXT "v=DMARC1; p=reject"',
            'p1._domainkey TXT "v=DKIM1; k=rsa; p=AAAA"',
            's1._domainkey TXT "v=DKIM1; k=rsa; p=BBBB"',
        ],
    ),
    REVERSE: zone_text(REVERSE, 1, 300, ["1 PTR mx1.example.test.", "2 PTR mx2.example.test."]),
}
REGIONS = [
    ("primary", "mx1", "127.0.20.1", "p1", "127.0.10.1"),
    ("secondary", "mx2", "127.0.20.2", "s1", "127.0.10.2"),
]
TEXTUAL_APP = """
from textual.app import App
from textual.widgets import Footer, Static
class Minimal(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        yield Static("minimal textual app")
        yield Footer()
Minimal().run()
"""

FrameSeen = Callable[[list[str]], bool]


# ---- tmux ---------------------------------------------------------------------------------------


class Tmux:
    """A tmux server of our own (`-L socket`), so no other session is ever touched."""

    def __init__(self, socket: str, workdir: Path, env: Mapping[str, str]) -> None:
        self.socket = socket
        self.env = dict(env)
        self.conf = workdir / "tmux.conf"
        # tmux sets TERM in a pane from default-terminal, whatever `-e` says.
        self.conf.write_text('set -g default-terminal "xterm-256color"\n', encoding="utf-8")

    def _argv(self, *args: str) -> list[str]:
        return ["tmux", "-u", "-L", self.socket, "-f", str(self.conf), *args]

    def run(self, *args: str) -> str:
        return subprocess.run(self._argv(*args), capture_output=True, text=True, check=True).stdout

    def _env_args(self) -> list[str]:
        return [arg for key, value in self.env.items() for arg in ("-e", f"{key}={value}")]

    def new_session(self, name: str, argv: Sequence[str]) -> None:
        size = ["-x", str(WIDTH), "-y", str(HEIGHT)]
        self.run("new-session", "-d", *size, "-s", name, *self._env_args(), "--", *argv)

    def respawn(self, name: str, argv: Sequence[str]) -> None:
        self.run("respawn-pane", "-k", "-t", name, *self._env_args(), "--", *argv)

    def pipe_output(self, name: str, path: Path) -> None:
        """Append everything the pane's process writes to its terminal to `path`."""
        self.run("pipe-pane", "-o", "-t", name, f"exec cat >> {shlex.quote(str(path))}")

    def capture(self, name: str) -> list[str]:
        return self.run("capture-pane", "-p", "-t", name).splitlines()

    def pane_pid(self, name: str) -> int:
        return int(self.run("list-panes", "-t", name, "-F", "#{pane_pid}").split()[0])

    def kill_session(self, name: str) -> None:
        subprocess.run(self._argv("kill-session", "-t", name), capture_output=True, check=False)

    def kill_server(self) -> None:
        subprocess.run(self._argv("kill-server"), capture_output=True, check=False)


class NoFrame(RuntimeError):
    """The first frame did not show within FIRST_FRAME_TIMEOUT."""


def wait_for_frame(tmux: Tmux, name: str, seen: FrameSeen, started: float) -> float:
    """Seconds from `started` until `seen` holds for the pane's screen."""
    deadline = started + FIRST_FRAME_TIMEOUT
    while time.perf_counter() < deadline:
        if seen(tmux.capture(name)):
            return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    screen = "\n".join(line for line in tmux.capture(name) if line.strip()) or "(blank)"
    raise NoFrame(f"no first frame within {FIRST_FRAME_TIMEOUT:g} s; the screen:\n{screen}")


def wait_gone(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def cockpit_frame(lines: list[str]) -> bool:
    """The header names the incident and shows the clock, and the footer shows the keys.

    A narrow header puts the title on a line of its own, the clock on the next.
    """
    shown = [line for line in lines if line.strip()]
    return (
        len(shown) >= 3
        and TITLE in shown[0]
        and any("UTC" in line for line in shown[:2])
        and "palette" in shown[-1]
    )


def drill_frame(lines: list[str]) -> bool:
    """The drill's header (DRILL and the clock) and the footer's keys."""
    shown = [line for line in lines if line.strip()]
    return (
        len(shown) >= 3
        and "DRILL" in shown[0]
        and any("UTC" in line for line in shown[:2])
        and "palette" in shown[-1]
    )


def top_frame(lines: list[str]) -> bool:
    text = "\n".join(lines)
    return "load average" in text and "Tasks:" in text


def text_frame(marker: str) -> FrameSeen:
    return lambda lines: any(marker in line for line in lines)


# ---- /proc --------------------------------------------------------------------------------------


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """utime+stime of `pid`, of its reaped children, and of its live descendants."""
    fields = _stat_fields(pid)
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    pending = _children(pid)
    while pending:
        child = pending.pop()
        try:
            ticks += sum(int(value) for value in _stat_fields(child)[11:13])
            pending += _children(child)
        except (OSError, ValueError):
            continue  # gone in between: its time is in its parent's cutime now
    return ticks / TICKS_PER_SECOND


# ---- the cockpit's files ------------------------------------------------------------------------


def write_config(directory: Path, lab: DnsLab) -> Path:
    auth_ip, auth_port = lab.authoritative
    text = f'[incident]\ndir = "incidents"\n\n[domain]\nname = "{ZONE}"\n'
    for region, mx, sending_ip, selector, webmail_ip in REGIONS:
        text += f"""
[[region]]
name = "{region}"
mx = ["{mx}.{ZONE}"]
sending_ips = ["{sending_ip}"]
dkim_selectors = ["{selector}"]
webmail_url = "https://webmail.{ZONE}/"
webmail_addresses = ["{webmail_ip}"]

  [[region.queue]]
  name = "{region}-depth"
  kind = "command"
  command = ["/bin/echo", "42"]
  interval = {REFRESH_SECONDS}
"""
    text += f"""
[dns]
interval = {REFRESH_SECONDS}
timeout = 1.0
authoritative = ["{auth_ip}:{auth_port}"]

[auth]
interval = {REFRESH_SECONDS}
"""
    for name, ip, port in lab.resolvers:
        text += f'\n[[dns.resolver]]\nname = "{name}"\naddress = "{ip}:{port}"\n'
    path = directory / "cockpit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def new_log(directory: Path, run: str) -> Path:
    path = directory / "incidents" / run / f"{TITLE}.jsonl"
    IncidentLog(path).append("system", "bench", {}, author="bench")
    return path


def cockpit_argv(log: Path, config: Path) -> list[str]:
    return [str(COCKPIT), "--incident", str(log), "--config", str(config)]


# ---- the probes alone ---------------------------------------------------------------------------


async def probe_forever(config: Config) -> None:
    """The cockpit's probes without a screen: each runs again `interval` after it finished."""
    from cockpit.auth.findings import auth_findings, choose_asker
    from cockpit.dns.sweep import sweep
    from cockpit.queue.findings import read_guarded

    async def every(seconds: float, run: Callable[[], Awaitable[object]]) -> None:
        while True:
            await run()
            await asyncio.sleep(seconds)

    async def check_auth() -> None:
        asker = await choose_asker(config, None)
        await auth_findings(config, config.regions[0].name, asker)

    def reader(source: QueueSource) -> Callable[[], Awaitable[object]]:
        return lambda: read_guarded(source)

    runs = [every(config.dns.interval, lambda: sweep(config))]
    runs.append(every(config.auth.interval, check_auth))
    for region in config.regions:
        runs += [every(source.interval, reader(source)) for source in region.queues]
    await asyncio.gather(*runs)


@contextmanager
def probes_alone(config: Path) -> Iterator[int]:
    """This bench in --probes-alone mode, in a process of its own; yields its PID."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--probes-alone", str(config)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- 1. start -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartCase:
    label: str
    argv: Callable[[int], list[str]]
    """The command for run number N (the cockpit gets a fresh log each time)."""
    seen: FrameSeen


@dataclass(frozen=True)
class Started:
    wall: float
    """Seconds from just before `tmux new-session` to the first frame seen."""
    cpu: float
    """CPU seconds the process had used when its first frame was seen: unlike the wall time,
    it hardly grows on a busy machine."""


def time_start(tmux: Tmux, case: StartCase, run: int) -> Started:
    name = f"start-{run}"
    argv = case.argv(run)
    started = time.perf_counter()
    tmux.new_session(name, argv)
    pid = tmux.pane_pid(name)
    try:
        wall = wait_for_frame(tmux, name, case.seen, started)
        return Started(wall, cpu_seconds(pid))
    finally:
        tmux.kill_session(name)
        wait_gone(pid)


def bench_start(tmux: Tmux, cases: Sequence[StartCase], runs: int) -> dict[str, list[Started]]:
    """The first frame of each case, --runs times; a run that never shows one is reported."""
    time_start(tmux, cases[-1], 0)  # warm the page cache and .pyc files
    times: dict[str, list[Started]] = {case.label: [] for case in cases}
    for run in range(1, runs + 1):  # interleaved, so drift hits every case alike
        for case in cases:
            try:
                times[case.label].append(time_start(tmux, case, run))
            except NoFrame as missing:
                print(f"{case.label}, run {run}: {missing}")
    return times


def report_start(times: dict[str, list[Started]], runs: int) -> None:
    top = statistics.median(run.wall for run in times["top"]) if times["top"] else float("nan")
    print(f"\n1. start to first frame ({WIDTH}x{HEIGHT}), {runs} runs each")
    print(f"{'command':34} {'median':>9} {'min':>9} {'max':>9} {'vs top':>8} {'CPU used':>10}")
    for label, started in times.items():
        if not started:
            print(f"{label:34} no run showed a first frame")
            continue
        walls = [run.wall for run in started]
        median = statistics.median(walls)
        cpu = statistics.median(run.cpu for run in started)
        missing = f"  ({runs - len(started)} without a frame)" if len(started) < runs else ""
        print(
            f"{label:34} {median * 1000:6.0f} ms {min(walls) * 1000:6.0f} ms"
            f" {max(walls) * 1000:6.0f} ms {median / top:7.2f}x {cpu * 1000:7.0f} ms{missing}"
        )
    if times["cockpit"]:
        cockpit = statistics.median(run.wall for run in times["cockpit"])
        print(
            f"cockpit: median {cockpit * 1000:.0f} ms, target {TARGET_START_SECONDS * 1000:.0f}"
            f" ms: {verdict(cockpit < TARGET_START_SECONDS)}"
        )


# ---- 2. idle ------------------------------------------------------------------------------------


@dataclass
class Idle:
    label: str
    session: str
    pipe: Path
    pid: int = 0
    start_bytes: int = 0
    settle_bytes: int = 0
    window_bytes: int = 0
    cpu: float = 0.0
    window: bytes = b""


CURSOR_ROW = re.compile(rb"\x1b\[(\d+)(?:;\d+)?H")


def bytes_by_row(output: bytes) -> Counter[int]:
    """Bytes written after each cursor move, by screen row (1-based; 0: before any move)."""
    rows: Counter[int] = Counter()
    row, last = 0, 0
    for match in CURSOR_ROW.finditer(output):
        rows[row] += match.start() - last
        row, last = int(match.group(1)), match.start()
    rows[row] += len(output) - last
    return rows


def bench_idle(
    tmux: Tmux,
    sessions: Sequence[tuple[Idle, list[str], FrameSeen]],
    floor: Idle,
    seconds: float,
    settle: float,
) -> None:
    """Start `sessions` (the pipe first), settle, then measure them and `floor` (a bare PID)."""
    for idle, _argv, _seen in sessions:
        # A placeholder first, so the pipe is there before the real process writes a byte.
        tmux.new_session(idle.session, ["sleep", "86400"])
        tmux.pipe_output(idle.session, idle.pipe)
    for idle, argv, seen in sessions:
        started = time.perf_counter()
        tmux.respawn(idle.session, argv)
        wait_for_frame(tmux, idle.session, seen, started)
        time.sleep(0.05)  # let `cat` catch up with the pane
        idle.start_bytes = idle.pipe.stat().st_size
        idle.pid = tmux.pane_pid(idle.session)
    time.sleep(settle)
    shown = [idle for idle, _, _ in sessions]
    offsets = {idle.label: idle.pipe.stat().st_size for idle in shown}
    cpu = {idle.label: cpu_seconds(idle.pid) for idle in [*shown, floor]}
    started = time.perf_counter()
    time.sleep(seconds)
    for idle in [*shown, floor]:
        idle.cpu = cpu_seconds(idle.pid) - cpu[idle.label]
    wall = time.perf_counter() - started
    for idle in shown:
        size = idle.pipe.stat().st_size
        idle.settle_bytes = offsets[idle.label] - idle.start_bytes
        idle.window_bytes = size - offsets[idle.label]
        with idle.pipe.open("rb") as output:
            output.seek(offsets[idle.label])
            idle.window = output.read(idle.window_bytes)
    for idle in [*shown, floor]:
        idle.cpu /= wall
    report_idle(shown, floor, wall, settle)


def report_idle(shown: Sequence[Idle], floor: Idle, wall: float, settle: float) -> None:
    cockpit, top = shown
    print(f"\n2. idle, all panes live at a {REFRESH_SECONDS} s refresh, {wall:.1f} s side by side")
    print(
        f"{'':26} {'CPU (one core)':>15} {'bytes/s':>9} {'start-up bytes':>15} {'settle bytes':>13}"
    )
    for idle in shown:
        print(
            f"{idle.label:26} {idle.cpu * 100:14.2f}% {idle.window_bytes / wall:9.0f}"
            f" {idle.start_bytes:15} {idle.settle_bytes:13}"
        )
    print(f"{floor.label:26} {floor.cpu * 100:14.2f}% {'-':>9} {'-':>15} {'-':>13}")
    # top may use less than one clock tick in a short window: say so rather than divide by 0.
    cpu_ratio = f"{cockpit.cpu / top.cpu:14.1f}x" if top.cpu else f"{'top < 1 tick':>15}"
    bytes_ratio = cockpit.window_bytes / top.window_bytes if top.window_bytes else float("inf")
    print(f"{'cockpit / top':26} {cpu_ratio} {bytes_ratio:8.1f}x")
    if floor.cpu:
        print(f"{'cockpit / probes alone':26} {cockpit.cpu / floor.cpu:14.1f}x")
    print(
        f"the screen's share (cockpit - probes alone): {(cockpit.cpu - floor.cpu) * 100:.2f} %"
        " of one core"
    )
    print(f"(settle: {settle:g} s between the first frame and the window, not counted)")
    cpu_percent, rate = cockpit.cpu * 100, cockpit.window_bytes / wall
    print(
        f"cockpit CPU {cpu_percent:.2f} %, target < {TARGET_CPU_PERCENT:g} %:"
        f" {verdict(cpu_percent < TARGET_CPU_PERCENT)}"
    )
    print(
        f"cockpit output {rate:.0f} B/s, target < {TARGET_BYTES_PER_SECOND:.0f} B/s:"
        f" {verdict(rate < TARGET_BYTES_PER_SECOND)}"
    )
    rows = bytes_by_row(cockpit.window)
    print("cockpit output in the window by screen row (1 = top, 24 = bottom), top 8:")
    for row, count in rows.most_common(8):
        print(f"  row {row:2}: {count / wall:7.0f} B/s")


def print_load(when: str) -> None:
    one, five, _ = os.getloadavg()
    print(f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")


def verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


# ---- main ---------------------------------------------------------------------------------------


@contextmanager
def tmux_server(workdir: Path, env: Mapping[str, str]) -> Iterator[Tmux]:
    tmux = Tmux(f"bench-ui-{os.getpid()}", workdir, env)
    # A session that outlives the measured ones keeps the server up: no run pays its start.
    tmux.new_session("keeper", ["sleep", "86400"])
    try:
        yield tmux
    finally:
        tmux.kill_server()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="start runs per command")
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--resolvers", type=int, default=4, help="unbound processes")
    parser.add_argument("--probes-alone", metavar="CONFIG", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.probes_alone:
        asyncio.run(probe_forever(load_config(options.probes_alone)))
        return 0
    for program in ("tmux", "top"):
        if shutil.which(program) is None:
            print(f"{program} is not installed")
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    home = workdir / "home"
    (home / ".config").mkdir(parents=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "TERM": "xterm-256color"}
    python = sys.executable
    try:
        with (
            DnsLab(workdir / "lab", ZONES, options.resolvers) as lab,
            tmux_server(workdir, env) as tmux,
        ):
            config = write_config(workdir, lab)
            print(f"DNS lab: nsd + {len(lab.resolvers)} unbound on loopback")
            print_load("before")
            cases = [
                StartCase(
                    "floor: python, print a line",
                    lambda _run: [python, "-c", "print('ready'); input()"],
                    text_frame("ready"),
                ),
                StartCase(
                    "minimal Textual app (reference)",
                    lambda _run: [python, "-c", TEXTUAL_APP],
                    text_frame("minimal textual app"),
                ),
                StartCase("top", lambda _run: ["top"], top_frame),
                StartCase(
                    "cockpit",
                    lambda run: cockpit_argv(new_log(workdir, f"start-{run}"), config),
                    cockpit_frame,
                ),
                StartCase(
                    "cockpit drill (world started too)",
                    lambda run: [
                        python,
                        "-m",
                        "cockpit",
                        "drill",
                        "--dir",
                        str(workdir / f"drill-{run}"),
                    ],
                    drill_frame,
                ),
            ]
            report_start(bench_start(tmux, cases, options.runs), options.runs)
            idle_cockpit = Idle("cockpit", "idle-cockpit", workdir / "cockpit.out")
            idle_top = Idle("top -d 5", "idle-top", workdir / "top.out")
            sessions = [
                (idle_cockpit, cockpit_argv(new_log(workdir, "idle"), config), cockpit_frame),
                (idle_top, ["top", "-d", str(REFRESH_SECONDS)], top_frame),
            ]
            with probes_alone(config) as pid:
                floor = Idle("probes alone (no screen)", "", workdir / "none", pid=pid)
                bench_idle(tmux, sessions, floor, options.seconds, options.settle)
            print_load("after")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
