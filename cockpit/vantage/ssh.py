"""Look from an ssh vantage: dig runs over there, over ONE multiplexed ssh connection.

    look = await look_ssh(vantage, config, watched, control_dir=Path("/run/user/0/cockpit-ssh"))
    await close_masters(control_dir, config.vantages)   # when the cockpit exits

One look, all within `vantage.timeout` seconds (a budget, spent in this order):
  1. the master connection: `ssh -O check` on its socket, else a new master
     (`ssh -f -N -o ControlMaster=yes -o ControlPersist=...`); every later command is a session
     on it (`-o ControlMaster=no`: when the master is gone a command falls back to a
     connection of its own rather than starting a second master);
  2. `cat /etc/resolv.conf` there, unless the vantage names its `resolvers`: then exactly those
     are asked; else that file's nameservers plus the [[dns.resolver]] entries whose address
     is public (a private address means something else seen from another network);
  3. one `dig ... -f -` per resolver, at most MAX_SESSIONS at once (sshd's MaxSessions is 10),
     every question of that resolver on its standard input (dig_batch.py); dig's +time per
     question is what is left of the budget shared out among the questions.

The remote command line is read by the remote shell, so it holds constant tokens only
(dig_batch.DIG_COMMAND, `cat /etc/resolv.conf`); every value from the config travels as data
on dig's standard input.

The master is started by this module rather than by the first command of a look: it is a
process that outlives the command, and a ProxyCommand/ProxyJump it starts would hold the
pipes of cockpit.queue.runner open (the runner would then kill the proxy, and with it the
connection). So the master's standard error goes to a file in the control directory, its
other streams to /dev/null, and ssh puts it in a session of its own. It ends at close_masters
(`ssh -O exit`); when the cockpit ends otherwise (SIGHUP, SIGTERM, an exception), its pid
(from `ssh -O check`) is ended by cockpit.children, if its command line still names its
socket. Only after a kill -9 does it live on, for ControlPersist idle seconds. A dead network
ends it after ServerAliveCountMax missed keepalives, so the next look reconnects.

A session's standard streams are passed to the master (ssh's multiplexing passes file
descriptors), so a dig cut short at its timeout (a frozen resolver) leaves the master holding
our pipes until that dig ends over there: within about (questions x dig's +time), which the
budget bounds. The runner stops waiting for them after 2 x 0.5 s (KILL_ALLOWANCE keeps that
inside the budget) and closes them once the master lets go, or when close_masters ends it.

The control directory holds the sockets: private (0700, ours; created so, its mode mended,
refused when it belongs to someone else or is not a directory), and short enough for a unix
socket path (each socket is named by a 12-character hash of the vantage).

A vantage that cannot be used at all (ssh missing, host key unknown or changed, key refused,
connection refused or timed out, dig missing over there) gives its one unknown row
(model.unreachable_look) with "ssh exit 255: Host key verification failed." or the like. One
resolver whose dig fails only fails its own row, and the look carries a note saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import re
import signal
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from cockpit import children
from cockpit.compat import UTC
from cockpit.config import Config
from cockpit.config.model import ServerAddress, Vantage
from cockpit.dns.observation import Outcome, ServerSpec
from cockpit.dns.watch import WatchedName
from cockpit.queue.runner import CommandResult, run_command
from cockpit.safe_text import clean
from cockpit.vantage.dig_batch import DIG_COMMAND, plan_batch, read_batch
from cockpit.vantage.model import VantageLook, VantageRow, row_name, unreachable_look
from cockpit.vantage.resolv_conf import nameservers

MAX_SESSIONS = 8
"""dig processes at once over one master (sshd refuses sessions past its MaxSessions, 10)."""
MAX_DIG_OUTPUT = 1 << 20
"""Bytes of dig output kept per resolver; a flood past it is killed (and shown as such)."""
MAX_RESOLV_CONF = 64 * 1024
SOCKET_PATH_LIMIT = 104
"""sun_path on BSD and macOS (108 on Linux); ssh binds `<ControlPath>.<16 random chars>` first."""
_SSH_TEMP_SUFFIX = 17
_CLOSE_TIMEOUT_S = 3.0
_REASON_CHARS = 200
RESOLV_CONF_COMMAND = ("cat", "/etc/resolv.conf")
KILL_ALLOWANCE = 1.1
"""Seconds kept back from a dig's share of the budget: a dig cut short at its timeout costs
the runner up to 2 x 0.5 s more, waiting for pipes the master still holds (see above)."""
_DIG_NO_REPLY = 9
"""dig's exit status when its last question got no reply: that row says so already."""

Clock = Callable[[], datetime]


class VantageUnusable(Exception):
    """The vantage cannot be used at all; the message is the reason its one row shows."""


def _one_line(text: str) -> str:
    return " ".join(clean(text).split())[:_REASON_CHARS]


def control_path(control_dir: Path, vantage: Vantage) -> Path:
    """The master's socket: a short hash of what makes the connection (name, host, options)."""
    key = "\0".join([vantage.name, vantage.host or "", *vantage.ssh_options])
    return control_dir / hashlib.sha256(key.encode()).hexdigest()[:12]


def ensure_control_dir(control_dir: Path) -> None:
    """Make `control_dir` exist as a private directory of ours, or say why it cannot be."""
    longest = len(os.fsencode(control_dir)) + 1 + 12 + _SSH_TEMP_SUFFIX
    if longest >= SOCKET_PATH_LIMIT:
        raise VantageUnusable(f"the ssh control directory {control_dir} is too long for a socket")
    try:
        control_dir.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as error:
        reason = f"cannot make the ssh control directory {control_dir}: {error}"
        raise VantageUnusable(_one_line(reason)) from None
    found = os.lstat(control_dir)
    if not stat.S_ISDIR(found.st_mode):
        raise VantageUnusable(f"the ssh control directory {control_dir} is not a directory")
    if found.st_uid != os.getuid():
        raise VantageUnusable(
            f"the ssh control directory {control_dir} belongs to uid {found.st_uid}, not to us"
        )
    if stat.S_IMODE(found.st_mode) != 0o700:
        os.chmod(control_dir, 0o700)


def ssh_argv(
    vantage: Vantage,
    control_dir: Path,
    remote: Sequence[str],
    *,
    ssh_program: str = "ssh",
    connect_timeout: float = 5.0,
    master: bool = False,
) -> list[str]:
    """ssh's argv: the cockpit's options first (ssh keeps the first value of each), the
    vantage's options, then the destination and the constant remote command."""
    persist = int(min(600.0, max(30.0, 2 * vantage.interval + vantage.timeout)))
    own = [
        ("BatchMode", "yes"),
        ("ControlMaster", "yes" if master else "no"),
        ("ControlPath", str(control_path(control_dir, vantage))),
        ("ControlPersist", str(persist)),
        ("ConnectTimeout", str(max(1, int(connect_timeout)))),
        ("ServerAliveInterval", str(max(1, int(vantage.timeout)))),
        ("ServerAliveCountMax", "2"),
    ]
    options = [item for name, value in own for item in ("-o", f"{name}={value}")]
    flags = ["-f", "-N"] if master else []
    return [ssh_program, *options, *flags, *vantage.ssh_options, "--", vantage.host or "", *remote]


def _failure(program: str, returncode: int | None, last_line: str) -> str:
    head = f"{program} exit {returncode}" if returncode is not None else program
    return _one_line(f"{head}: {last_line}" if last_line else head)


async def _master_running(vantage: Vantage, control_dir: Path, ssh_program: str) -> bool:
    """Whether the master answers on its socket (`ssh -O check`). Its pid, which the answer
    gives, is registered with cockpit.children, so that the master ends with the cockpit
    however it ends (it lives in a session of its own, outside every group we end)."""
    path = control_path(control_dir, vantage)
    marker = _control_option(path)
    if not path.exists():
        children.ended_process(marker)
        return False
    argv = [ssh_program, "-o", marker, "-O", "check", "--", vantage.host or ""]
    result = await run_command(argv, timeout=_CLOSE_TIMEOUT_S)
    if result.ok:
        pid = re.search(r"pid=(\d+)", result.stderr_tail)
        if pid is not None:
            children.started_process(marker, int(pid.group(1)))
        return True
    children.ended_process(marker)
    with contextlib.suppress(OSError):
        path.unlink()  # a socket left by a dead master: a new master could not bind it
    return False


async def _start_master(
    vantage: Vantage, control_dir: Path, ssh_program: str, seconds: float
) -> None:
    """Start the master (see the module docstring); VantageUnusable when ssh says no."""
    log = control_path(control_dir, vantage).with_suffix(".log")
    argv = ssh_argv(
        vantage, control_dir, (), ssh_program=ssh_program, connect_timeout=seconds, master=True
    )
    with open(log, "wb") as stderr:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as error:
            what = "no such program" if isinstance(error, FileNotFoundError) else "cannot run"
            raise VantageUnusable(_one_line(f"{what}: {ssh_program}")) from None
    children.started(process.pid)
    try:
        returncode = await asyncio.wait_for(process.wait(), max(0.1, seconds))
    except (TimeoutError, asyncio.CancelledError) as stop:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(process.wait()), 1.0)
        if isinstance(stop, asyncio.CancelledError):
            raise
        raise VantageUnusable(
            f"ssh to {vantage.host}: no connection within {seconds:.1f} s"
        ) from None
    finally:
        children.ended(process.pid)
    reason = _last_line(log)
    log.unlink(missing_ok=True)
    if returncode != 0:
        raise VantageUnusable(_failure("ssh", returncode, reason))


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 2048))
            tail = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in clean(tail, multiline=True).splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass(frozen=True, slots=True)
class _Target:
    label: str
    address: ServerAddress


def _label(address: ServerAddress, config: Config) -> str:
    for resolver in config.dns.resolvers:
        if resolver.address == address:
            return resolver.name
    return str(address)


def _targets(vantage: Vantage, config: Config, remote: Iterable[str]) -> list[_Target]:
    """Who is asked from there: the vantage's resolvers, else the remote nameservers plus the
    configured resolvers with a public address; once each, labelled by their config name."""
    if vantage.resolvers is not None:
        addresses = list(vantage.resolvers)
    else:
        addresses = [ServerAddress(ip) for ip in remote]
        addresses += [
            resolver.address
            for resolver in config.dns.resolvers
            if ipaddress.ip_address(resolver.address.ip).is_global
        ]
    unique = list(dict.fromkeys(addresses))
    return [_Target(_label(address, config), address) for address in unique]


def _is_dig_missing(result: CommandResult) -> bool:
    line = result.last_stderr_line.lower()
    return result.returncode == 127 or (
        result.returncode not in (None, 0) and "dig" in line and "not found" in line
    )


class _Look:
    """One look in progress: the budget, the argv maker and what was noted on the way."""

    def __init__(self, vantage: Vantage, control_dir: Path, ssh_program: str, clock: Clock) -> None:
        self.vantage = vantage
        self.control_dir = control_dir
        self.ssh_program = ssh_program
        self.clock = clock
        self.deadline = time.monotonic() + vantage.timeout
        self.notes: list[str] = []

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def argv(self, remote: Sequence[str]) -> list[str]:
        return ssh_argv(
            self.vantage,
            self.control_dir,
            remote,
            ssh_program=self.ssh_program,
            connect_timeout=self.left(),
        )

    async def connect(self) -> None:
        ensure_control_dir(self.control_dir)
        if not await _master_running(self.vantage, self.control_dir, self.ssh_program):
            await _start_master(self.vantage, self.control_dir, self.ssh_program, self.left())
            # Its pid, for cockpit.children (ssh -f forked it; the process we started is gone).
            await _master_running(self.vantage, self.control_dir, self.ssh_program)

    async def remote_nameservers(self) -> tuple[str, ...]:
        result = await run_command(
            self.argv(RESOLV_CONF_COMMAND), timeout=self.left(), max_output=MAX_RESOLV_CONF
        )
        if result.returncode == 255 or result.timed_out:
            raise VantageUnusable(_failure("ssh", result.returncode, result.last_stderr_line))
        if not result.ok and not result.too_large:
            self.notes.append(_one_line(f"/etc/resolv.conf: {result.error}"))
        return nameservers(result.stdout.decode("utf-8", errors="replace"))

    async def row(
        self, target: _Target, watched: Sequence[WatchedName]
    ) -> tuple[VantageRow, CommandResult]:
        name = row_name(target.label, self.vantage.name)
        spec = ServerSpec(name, target.address.ip, target.address.port)
        seconds = max(0.2, self.left() - KILL_ALLOWANCE)
        time_s = int(max(1.0, seconds / max(1, len(watched))))
        batch = plan_batch(spec, watched, time_s)
        result = await run_command(
            self.argv(DIG_COMMAND),
            timeout=seconds,
            max_output=MAX_DIG_OUTPUT,
            stdin=batch.stdin,
        )
        missing = None if result.ok else _missing(result, target.label)
        if result.error is not None and result.returncode != _DIG_NO_REPLY:
            self.notes.append(_one_line(f"resolver {target.label}: {result.error}"))
        observations = read_batch(result.stdout, batch, at=self.clock(), missing=missing)
        mapping = {question.key: obs for question, obs in zip(watched, observations, strict=True)}
        return VantageRow(spec, MappingProxyType(mapping)), result


def _missing(result: CommandResult, label: str) -> tuple[Outcome, str]:
    """The outcome and reason of the questions a failed dig left without a block."""
    if result.timed_out:
        return Outcome.TIMEOUT, f"no reply from {label} within the look's budget ({result.error})"
    if result.too_large:
        return Outcome.MALFORMED, f"dig's output from there was cut: {result.error}"
    if result.returncode == 255:
        return Outcome.NETWORK_ERROR, _failure("ssh", 255, result.last_stderr_line)
    return Outcome.MALFORMED, _failure("dig", result.returncode, result.last_stderr_line)


async def look_ssh(
    vantage: Vantage,
    config: Config,
    watched: Sequence[WatchedName],
    *,
    control_dir: Path,
    clock: Clock | None = None,
    ssh_program: str = "ssh",
) -> VantageLook:
    """One look from an ssh vantage (see the module docstring); never raises but for
    cancellation, and returns within `vantage.timeout` plus scheduling noise."""
    now = clock or (lambda: datetime.now(UTC))
    started = now()
    look = _Look(vantage, control_dir, ssh_program, now)
    questions = tuple(watched)
    try:
        await look.connect()
        remote = () if vantage.resolvers is not None else await look.remote_nameservers()
        targets = _targets(vantage, config, remote)
        if not targets:
            raise VantageUnusable(
                f"no resolver to ask from {vantage.name}: none in its /etc/resolv.conf"
            )
        gate = asyncio.Semaphore(MAX_SESSIONS)

        async def one(target: _Target) -> tuple[VantageRow, CommandResult]:
            async with gate:
                return await look.row(target, questions)

        done = await asyncio.gather(*(one(target) for target in targets))
        results = [result for _, result in done]
        if all(_is_dig_missing(result) for result in results):
            raise VantageUnusable(
                f"dig is not installed on {vantage.host}: "
                + _failure("dig", results[0].returncode, results[0].last_stderr_line)
            )
        if all(result.returncode == 255 for result in results):
            raise VantageUnusable(_failure("ssh", 255, results[0].last_stderr_line))
    except VantageUnusable as unusable:
        return unreachable_look(
            vantage.name,
            vantage.kind,
            vantage.location,
            clean(vantage.host or vantage.name)[:_REASON_CHARS],
            questions,
            _one_line(str(unusable)),
            started,
            now(),
        )
    return VantageLook(
        vantage.name,
        vantage.kind,
        vantage.location,
        started,
        now(),
        rows=tuple(row for row, _ in done),
        notes=tuple(look.notes),
    )


async def close_masters(
    control_dir: Path, vantages: Iterable[Vantage], *, ssh_program: str = "ssh"
) -> None:
    """End the master connection of every ssh vantage (`ssh -O exit`), each within a few
    seconds; a master that ignores it is killed when its pid is one of ours (`-O check`)."""

    async def close(vantage: Vantage) -> None:
        path = control_path(control_dir, vantage)
        if not path.exists():
            return
        base = [ssh_program, "-o", _control_option(path)]
        target = ["--", vantage.host or ""]
        await run_command([*base, "-O", "exit", *target], timeout=_CLOSE_TIMEOUT_S)
        for _ in range(20):
            if not path.exists():
                children.ended_process(_control_option(path))
                return
            await asyncio.sleep(0.05)
        check = await run_command([*base, "-O", "check", *target], timeout=_CLOSE_TIMEOUT_S)
        _kill_master(check.stderr_tail, path)
        children.ended_process(_control_option(path))

    await asyncio.gather(*(close(v) for v in vantages if v.kind == "ssh" and v.host))


def _control_option(path: Path) -> str:
    """The -o option naming the master's socket: also what marks the master's command line."""
    return f"ControlPath={path}"


def _kill_master(check_output: str, path: Path) -> None:
    """SIGTERM the pid `ssh -O check` named, if that process is our master on `path`."""
    match = re.search(r"pid=(\d+)", check_output)
    if match is None:
        return
    pid = int(match.group(1))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if _control_option(path).encode() in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
