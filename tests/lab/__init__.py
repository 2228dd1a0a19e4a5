"""Real servers on loopback for the integration tests (see /work/shared/lab-notes.md).

This package holds what any lab needs: free ports, and ServerProcess, a foreground server that
dies with pytest, shows its log tail when it fails, and leaves no process behind when stopped.
dnslab.py builds the DNS lab (nsd and unbound) on it.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Test modules import the lab before pytest loads it as a plugin: rewrite its asserts anyway.
pytest.register_assert_rewrite(__name__ + ".dnslab")

Address = tuple[str, int]
ProbeResult = TypeVar("ProbeResult")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class LabError(RuntimeError):
    """A lab server did not start, reload or answer; the message carries its log tail."""


def missing_in_lab(reason: str) -> None:
    """Something a real-server test needs is missing: skip here, but fail under CI=true,
    where every real server must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def find_program(name: str) -> str | None:
    """The path of a server program, looking in the sbin directories too (root's PATH may not)."""
    return shutil.which(name, path=_SEARCH_PATH)


def free_port(ip: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `ip`, chosen by the OS (closed again on return)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((ip, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((ip, port))
                except OSError:
                    continue
                return port
    raise LabError(f"no free UDP+TCP port on {ip}")


def _die_with_parent() -> None:
    """In the child: the kernel kills this server if pytest itself dies (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pids_running(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (forked children keep their argv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return found


class ServerProcess:
    """One foreground server started with `config` in its argv (which makes that argv unique)."""

    def __init__(self, name: str, argv: list[str], config: Path, logs: Sequence[Path]):
        self.name = name
        self.config = config
        self.logs = tuple(logs)
        with open(self.logs[0], "ab") as output:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        parts = []
        for path in self.logs:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            parts.append(f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def wait_until(
        self, probe: Callable[[], ProbeResult], what: str, within: float = 5.0
    ) -> ProbeResult:
        """Call `probe` until it returns instead of raising OSError or LabError (bounded)."""
        deadline = time.monotonic() + within
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if not self.running():
                raise LabError(
                    f"{self.name} exited with status {self.popen.returncode}\n" + self.log_tail()
                )
            try:
                return probe()
            except (OSError, LabError) as error:
                last_error = f"{type(error).__name__}: {error}"
                time.sleep(0.02)
        raise LabError(
            f"{self.name}: {what} not within {within:g} s ({last_error})\n{self.log_tail()}"
        )

    def control(self, argv: list[str]) -> str:
        """Run `CONTROL -c CONF COMMAND...` (nsd-control, unbound-control); LabError if it fails."""
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise LabError(
                f"{' '.join(argv[3:])} on {self.name} failed ({done.returncode}): "
                f"{done.stdout.strip()} {done.stderr.strip()}\n{self.log_tail()}"
            )
        return done.stdout

    def signal(self, signum: int) -> None:
        if self.running():
            self.popen.send_signal(signum)

    def stop(self) -> None:
        if self.running():
            self.popen.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            self.popen.terminate()
            try:
                self.popen.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=3)
        for pid in pids_running(str(self.config)):  # children that outlived their parent
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def guard_loopback(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make every socket connect/sendto of this process assert its target is in 127.0.0.0/8
    (nothing reaches the internet or the system resolver); returns the targets seen."""
    reached: list[Any] = []
    real_connect, real_sendto = socket.socket.connect, socket.socket.sendto
    loopback = ipaddress.ip_network("127.0.0.0/8")

    def check(address: Any) -> None:
        reached.append(address)
        if isinstance(address, tuple):
            assert ipaddress.ip_address(address[0]) in loopback, f"a test tried {address}"

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        check(args[-1])
        return real_sendto(self, data, *args)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    return reached
