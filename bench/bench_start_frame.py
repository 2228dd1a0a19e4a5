"""Time to the first painted frame of the whole `cockpit` process in a pseudo-terminal, side by
side with an empty Textual app.

    .venv/bin/python bench/bench_start_frame.py [--runs 5] [--entries 100000] [--before REF]

Each case is a fresh process on a pseudo-terminal of 120x40 (TERM=xterm-256color; HOME and
the XDG directories in a scratch directory, the working directory a scratch one too):

  empty     an empty Textual app (one Static): the framework's own start, the reference;
  small     `cockpit --config C --incident LOG` with a small log (a title, a phase, a note);
  big       the same with a --entries log (tests/big_log.py), then `?` pressed as soon as the
            first frame is seen: when the help overlay shows, the key has acted.

The config has two regions and probes that need no network: its resolver and authoritative
server are a closed port on 127.0.0.1 (every DNS question is refused at once, and the MX
hosts the service probes would try are looked up there), every auth check is skipped, and no
queue, replication, role or canary source is configured.

First frame: the first chunk read from the terminal, after the switch to the alternate
screen, that completes the app's header text in the output (the reference prints a marker;
the cockpit's header shows the log's file name until the log is read, then its title: either
counts). Times are wall seconds from just before the process is spawned; the CPU the process
had used by then (utime+stime, /proc/PID/stat) is shown too: on a busy machine wall time grows,
CPU time hardly (it is read just after that chunk, in clock ticks of 10 ms). Each log is a
fresh copy per run (the cockpit appends its probe entries).

Big log only: "key acts" is when the help overlay was first complete on the screen (seconds
from spawn), "key delay" the time from the key to it, and "title" when the log's own title
was first whole on the screen (the overlay covers part of the header, so it is closed with
Escape first: a title drawn under the overlay counts once the overlay has gone).
--entries 0 leaves the big log out.

Every case runs --runs times, interleaved (one of each per round, so load on the machine hits
them alike); the best run of each is reported, with its ratio to the empty app's. After each
measurement the process is asked to quit (`q`, then `y` should it ask), then SIGTERM, then
SIGKILL to its process group: nothing is left running.

--before REF: the same cockpit cases once more with the `cockpit` package of git REF (taken
with `git archive` into the scratch directory and put first on PYTHONPATH; no git state
changes), so before and after are measured in one run on one machine.
Targets: first frame <= 0.5 s (small log), <= 1.5 s (big log), the key acting within 1.5 s.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, ROWS = 120, 40
ALT_SCREEN = b"\x1b[?1049h"
TIMEOUT_S = 30.0
TARGET_SMALL_S = 0.5
TARGET_BIG_S = 1.5
REFERENCE_MARKER = "startup-reference-app"
SMALL_STEM = "bench-small-incident"
SMALL_TITLE = "Bench small incident"
BIG_STEM = "bench-big-incident"
LOG_ARGUMENT = "{log}"
HELP_TEXT = "Keys: Escape or ? closes"
"""The help overlay's first line (cockpit.ui.help_screen)."""

REFERENCE_APP = f"""
from textual.app import App, ComposeResult
from textual.widgets import Static


class Reference(App[None]):
    def compose(self) -> ComposeResult:
        yield Static({REFERENCE_MARKER!r})


Reference().run()
"""

CONFIG_TEMPLATE = """
[domain]
name = "example.test"

[dns]
timeout = 0.5
authoritative = ["127.0.0.1:{port}"]

[[dns.resolver]]
name = "closed-loopback"
address = "127.0.0.1:{port}"

[auth]
skip = ["spf", "dkim", "dmarc", "ptr", "tls-rpt", "mta-sts", "smtp-tls", "webmail", "idp"]

[service]
timeout = 1

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


@dataclass
class Run:
    """One process's figures (seconds from spawn; None: not seen within TIMEOUT_S)."""

    frame_s: float | None = None
    frame_cpu_s: float | None = None
    key_s: float | None = None
    """When the help overlay showed (the key was pressed at the first frame)."""
    key_delay_s: float | None = None
    """From the key press to the overlay."""
    title_s: float | None = None
    """When the log's own title was on screen whole (the big log's first look read); the
    help overlay covers part of the header, so it is closed (Escape) before this is waited
    for: a title drawn under the overlay counts when the overlay has gone."""
    ended: str = ""
    """How the process ended: quit, confirmed, SIGTERM or SIGKILL."""


@dataclass
class Case:
    label: str
    argv: list[str]
    markers: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    log_source: Path | None = None
    """Copied to a fresh directory before each run; LOG_ARGUMENT in `argv` names the copy."""
    press_key: bool = False
    title: str | None = None
    quit_keys: tuple[bytes, ...] = (b"q", b"y")


def _closed_port() -> int:
    """A loopback port nothing listens on (DNS questions to it are refused at once)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _set_size(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))


class Terminal:
    """A process on a pseudo-terminal whose output is read (and timed) as it comes."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = os.openpty()
        _set_size(slave)
        self.master = master
        self.output = bytearray()
        self.chunks: list[tuple[int, float]] = []
        """(offset where each chunk read ends, seconds since spawn when it was read)."""
        self.started = time.perf_counter()
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: killed as one at the end
            close_fds=True,
        )
        os.close(slave)

    def since(self) -> float:
        return time.perf_counter() - self.started

    def read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every writer has gone
            return False
        self.output.extend(chunk)
        self.chunks.append((len(self.output), self.since()))
        return bool(chunk)

    def wait_for(self, texts: Sequence[bytes], start: int, deadline: float) -> float | None:
        """Seconds since spawn when one of `texts` was first complete in the output after
        offset `start`: when the chunk that completed it was read (it may have been read
        while something else was waited for)."""
        while self.since() < deadline:
            ends = [
                found + len(text) for text in texts if (found := self.output.find(text, start)) >= 0
            ]
            if ends:
                end = min(ends)
                return next(at for offset, at in self.chunks if offset >= end)
            if not self.read(0.05):
                return None
        return None

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, quit_keys: Sequence[bytes]) -> str:
        """Quit the process (its keys first, then signals) and close the terminal."""
        ended = ""
        for index, keys in enumerate(quit_keys):
            try:
                self.send(keys)
            except OSError:
                break
            if self._drain_until_exit(3.0):
                ended = "quit" if index == 0 else "confirmed"
                break
        for signum, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL")):
            if ended:
                break
            self._signal_group(signum)
            if self._drain_until_exit(5.0):
                ended = name
        # Whatever the process started (probe commands) goes with its group.
        self._signal_group(signal.SIGTERM)
        os.close(self.master)
        return ended

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _drain_until_exit(self, seconds: float) -> bool:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                return True
            self.read(0.05)
        return self.process.poll() is not None


def run_case(case: Case, cwd: Path) -> Run:
    argv = list(case.argv)
    directory: Path | None = None
    if case.log_source is not None:
        # A fresh directory each run: the log and its mark, no drafts or locks of a last run.
        directory = Path(tempfile.mkdtemp(prefix="run-", dir=cwd))
        target = directory / case.log_source.name
        for suffix in ("", ".mark"):
            source = Path(f"{case.log_source}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{target}{suffix}")
        argv = [str(target) if word == LOG_ARGUMENT else word for word in argv]
    run = Run()
    terminal = Terminal(argv, case.env, cwd)
    try:
        markers = [marker.encode() for marker in case.markers]
        alt = terminal.wait_for([ALT_SCREEN], 0, TIMEOUT_S)
        if alt is not None:
            start = terminal.output.find(ALT_SCREEN)
            run.frame_s = terminal.wait_for(markers, start, TIMEOUT_S)
            run.frame_cpu_s = _cpu_seconds(terminal.process.pid)
        if run.frame_s is not None and case.press_key:
            pressed_at = len(terminal.output)
            pressed = terminal.since()
            terminal.send(b"?")
            run.key_s = terminal.wait_for([HELP_TEXT.encode()], pressed_at, TIMEOUT_S)
            if run.key_s is not None:
                run.key_delay_s = run.key_s - pressed
        if run.frame_s is not None and case.title is not None:
            if case.press_key:  # the overlay covers part of the header: closed first
                terminal.send(b"\x1b")
            run.title_s = terminal.wait_for([case.title.encode()], 0, TIMEOUT_S)
    finally:
        run.ended = terminal.finish(case.quit_keys)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    return run


def _best(values: Sequence[float | None]) -> float | None:
    seen = [value for value in values if value is not None]
    return min(seen) if seen else None


def _env(home: Path, pythonpath: Path | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEXTUAL", "COCKPIT", "PYTHON")) and key not in ("COLUMNS", "LINES")
    }
    env.update(
        TERM="xterm-256color",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _cockpit_command() -> list[str]:
    script = Path(sys.executable).parent / "cockpit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cockpit"]


def _git_archive(ref: str, target: Path) -> Path:
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "cockpit"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _write_small_log(path: Path) -> None:
    from cockpit.incident.log import IncidentLog

    log = IncidentLog(path)
    log.append("system", f"incident log opened: {path.stem}", {"event": "opened"}, author="bench")
    log.append("title", SMALL_TITLE, {"title": SMALL_TITLE}, author="bench")
    log.append("phase", "impact", {"phase": "impact"}, author="bench")
    log.append("note", "inbound queue growing on mx1", {}, author="bench")


def _cases(scratch: Path, entries: int, before: Path | None) -> list[Case]:
    from tests import big_log

    home = scratch / "home"
    home.mkdir()
    config = scratch / "cockpit.toml"
    config.write_text(CONFIG_TEMPLATE.format(port=_closed_port()), encoding="utf-8")
    reference = scratch / "reference_app.py"
    reference.write_text(REFERENCE_APP, encoding="utf-8")
    small = scratch / "sources" / f"{SMALL_STEM}.jsonl"
    small.parent.mkdir()
    _write_small_log(small)
    big = scratch / "sources" / f"{BIG_STEM}.jsonl"
    if entries:
        print(f"writing a {entries:,}-entry log ...", flush=True)
        big_log.write_big_log(big, entries)

    cases = [
        Case(
            "empty Textual app",
            [sys.executable, str(reference)],
            (REFERENCE_MARKER,),
            env=_env(home, None),
            quit_keys=(b"\x11",),  # ctrl+q
        )
    ]
    codes: list[tuple[str, Path | None]] = [("", ROOT)]
    if before is not None:
        codes.append((" (before)", before))
    for suffix, code in codes:
        logs = [(SMALL_STEM, small, False, None, "small log")]
        if entries:
            logs.append((BIG_STEM, big, True, big_log.TITLE, f"{entries:,} entries"))
        for stem, source, key, title, label in logs:
            argv = [*_cockpit_command(), "--config", str(config), "--incident", LOG_ARGUMENT]
            markers = (stem, SMALL_TITLE) if stem == SMALL_STEM else (stem, big_log.TITLE)
            cases.append(
                Case(
                    f"cockpit, {label}{suffix}",
                    argv,
                    markers,
                    env=_env(home, code),
                    log_source=source,
                    press_key=key,
                    title=title,
                )
            )
    return cases


def _cell(value: float | None, reference: float | None = None) -> str:
    if value is None:
        return f"{'-':>8}"
    text = f"{value:8.3f}"
    if reference:
        text += f" {value / reference:5.1f}x"
    return text


def report(cases: list[Case], results: dict[str, list[Run]], runs: int) -> bool:
    reference = results[cases[0].label]
    ref_frame = _best([run.frame_s for run in reference])
    ref_cpu = _best([run.frame_cpu_s for run in reference])
    print(
        f"\nfirst painted frame, {COLUMNS}x{ROWS} pty, best of {runs} "
        f"(seconds from spawn; ratio to the empty app)"
    )
    print(f"  {'':36}{'wall':>15}{'CPU':>15}{'key acts':>15}{'key delay':>10}{'title':>10}")
    met = True
    for case in cases:
        done = results[case.label]
        frame = _best([run.frame_s for run in done])
        cpu = _best([run.frame_cpu_s for run in done])
        key = _best([run.key_s for run in done])
        delay = _best([run.key_delay_s for run in done])
        title = _best([run.title_s for run in done])
        print(
            f"  {case.label:36}{_cell(frame, ref_frame):>15}{_cell(cpu, ref_cpu):>15}"
            f"{_cell(key, ref_frame) if case.press_key else '':>15}"
            f"{_cell(delay) if case.press_key else '':>10}"
            f"{_cell(title) if case.title else '':>10}"
        )
        endings = sorted({run.ended for run in done} - {"quit", "confirmed"})
        if endings:
            print(f"  {'':36}ended by {', '.join(endings)}")
        if case.label.startswith("cockpit") and "(before)" not in case.label:
            target = TARGET_BIG_S if case.press_key else TARGET_SMALL_S
            met = met and frame is not None and frame <= target
            if case.press_key:
                met = met and key is not None and key <= TARGET_BIG_S
    print(
        f"targets: small log <= {TARGET_SMALL_S:g} s, big log (and its key) <= "
        f"{TARGET_BIG_S:g} s: {'met' if met else 'MISSED'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--entries", type=int, default=100_000, help="the big log's entries (0: no big log)"
    )
    parser.add_argument("--before", metavar="REF", help="also run the cockpit of git REF")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-start-") as scratch_name:
        scratch = Path(scratch_name)
        before = _git_archive(args.before, scratch / "before") if args.before else None
        cases = _cases(scratch, args.entries, before)
        for case in cases:  # warm the page cache and the .pyc files
            run_case(case, scratch)
        results: dict[str, list[Run]] = {case.label: [] for case in cases}
        for round_index in range(args.runs):
            for case in cases:
                results[case.label].append(run_case(case, scratch))
            print(f"round {round_index + 1}/{args.runs} done", flush=True)
        met = report(cases, results, args.runs)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
