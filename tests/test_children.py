"""No orphans: when cockpit ends (SIGHUP from a killed tmux pane, SIGTERM, a normal exit), the
queue, replication and role commands it started end with it, children included. Real
processes: a `cockpit check` whose queue command hangs (a wrapper with a child of its own, as
`ssh ... postqueue -j` would), ended by a signal while the command runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_queue_sources import _wait_gone

HANGING = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "120"])
with open(sys.argv[1], "w") as f:
    f.write(f"{child.pid}\\n")
time.sleep(120)
"""


def _config(tmp_path: Path, pid_file: Path) -> Path:
    path = tmp_path / "cockpit.toml"
    program = tmp_path / "hanging_queue.py"
    program.write_text(HANGING, encoding="utf-8")
    command = [sys.executable, str(program), str(pid_file)]
    path.write_text(
        f"""
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

  [[region.queue]]
  name = "mx1"
  kind = "command"
  command = {json.dumps(command)}
  timeout = 100

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
""",
        encoding="utf-8",
    )
    return path


def _wait_for(path: Path, within: float = 10.0) -> int:
    end = time.monotonic() + within
    while time.monotonic() < end:
        text = path.read_text() if path.exists() else ""
        if text.strip():
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_signal_ends_every_command_cockpit_started(tmp_path: Path, signum: int) -> None:
    pid_file = tmp_path / "child.pid"
    cockpit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cockpit",
            "check",
            "--config",
            str(_config(tmp_path, pid_file)),
            "--only",
            "queue",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        grandchild = _wait_for(pid_file)
        os.kill(cockpit.pid, signum)
        cockpit.wait(timeout=10)
        assert cockpit.returncode == -signum  # the signal's usual course: the process ended
        assert _wait_gone(grandchild, within=2.0), "the queue command's child outlived cockpit"
    finally:
        if cockpit.poll() is None:
            cockpit.kill()
            cockpit.wait(timeout=10)
        try:
            os.kill(_wait_for(pid_file, within=0.1), signal.SIGKILL)
        except (ProcessLookupError, AssertionError):
            pass


LIVES_ON = "import sys, time; time.sleep(float(sys.argv[1]))"


def test_a_process_that_lives_on_by_itself_is_ended_only_while_it_is_still_ours() -> None:
    """As an ssh master: ended at the end if its command line still holds its marker; a pid
    that now belongs to another process (the master died, the pid was reused) is left."""
    from cockpit import children

    ours = subprocess.Popen([sys.executable, "-c", LIVES_ON, "30", "ControlPath=/x/ours"])
    other = subprocess.Popen([sys.executable, "-c", LIVES_ON, "30", "something else"])
    gone = subprocess.Popen([sys.executable, "-c", LIVES_ON, "30", "ControlPath=/x/gone"])
    try:
        children.started_process("ControlPath=/x/ours", ours.pid)
        children.started_process("ControlPath=/x/reused", other.pid)
        children.started_process("ControlPath=/x/gone", gone.pid)
        children.ended_process("ControlPath=/x/gone")  # closed by close_masters meanwhile
        children.end_all()
        assert ours.wait(timeout=5) == -signal.SIGTERM
        time.sleep(0.2)
        assert other.poll() is None and gone.poll() is None
        assert children.live_processes() == {}
    finally:
        for process in (ours, other, gone):
            process.kill()
            process.wait(timeout=5)
