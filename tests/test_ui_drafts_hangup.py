"""The terminal goes away with a form open: a real `cockpit` on a real pseudo-terminal, whose
terminal side is closed (the kernel's hangup, as when the SSH session or tmux pane dies) or which
gets SIGTERM. What was typed is kept as a draft beside the log; nothing is written to the log.
Every wait is bounded."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from cockpit.incident.drafts import list_drafts
from cockpit.incident.log import IncidentLog
from tests.conftest import PROJECT_ROOT
from tests.test_log_lock import HOLD
from tests.test_ui_app import write_incident

LAUNCH = """
import fcntl, os, sys, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # this pty is the session's terminal: its hangup is ours
os.execv(sys.executable, [sys.executable, "-m", "cockpit", *sys.argv[1:]])
"""
TYPED = "Hangup keeps this"
_ESCAPES = re.compile(
    rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)"
)


class Terminal:
    """The terminal side of a pty running cockpit; its output is read all along (a full pty
    buffer would stall the app)."""

    def __init__(self, log: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color"}
        env.pop("COCKPIT_DEBUG", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "--incident", str(log), "--author", "alice"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            cwd=PROJECT_ROOT,
            env=env,
        )
        os.close(slave)
        self.master: int | None = master
        self._output = bytearray()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set() and self.master is not None:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self._output.extend(chunk)

    def screen_text(self) -> str:
        return _ESCAPES.sub(b"", bytes(self._output)).decode("utf-8", "replace")

    def wait_for(self, text: str, within: float) -> None:
        deadline = time.monotonic() + within
        while text not in self.screen_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                tail = self.screen_text()[-600:]
                raise AssertionError(f"{text!r} not shown within {within:g} s; last: {tail!r}")
            time.sleep(0.05)

    def type(self, keys: str) -> None:
        assert self.master is not None
        os.write(self.master, keys.encode())

    def hang_up(self) -> None:
        """Close the terminal side: the kernel hangs up the session (SIGHUP)."""
        self._stop.set()
        self._reader.join(5)
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.hang_up()


@pytest.mark.parametrize("how", ["hangup", "SIGTERM"])
def test_a_form_open_when_the_terminal_goes_away_is_kept_as_a_draft(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = IncidentLog(path).read().entries
    terminal = Terminal(path)
    try:
        terminal.wait_for("Decide", within=30)  # the footer: the screen is up
        time.sleep(0.5)
        terminal.type("d")
        terminal.wait_for("Record a decision", within=10)
        terminal.type(TYPED)
        terminal.wait_for(TYPED, within=10)
        if how == "hangup":
            terminal.hang_up()
        else:
            os.kill(terminal.process.pid, signal.SIGTERM)
        ended = terminal.process.wait(timeout=15)
    finally:
        terminal.end()
    assert IncidentLog(path).read().entries == before
    listing = list_drafts(path)
    assert listing.problems == ()
    (draft,) = listing.drafts
    assert (draft.kind, draft.fields["text"], draft.author) == ("decision", TYPED, "alice")
    why, signum = {"hangup": ("terminal went away", signal.SIGHUP),
                   "SIGTERM": ("stopped (SIGTERM)", signal.SIGTERM)}[how]  # fmt: skip
    assert draft.why == why
    assert ended == -signum, "the signal took its usual course: the process ended"


def test_a_write_waiting_for_the_lock_when_the_terminal_goes_away_never_lands(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = IncidentLog(path).read().entries
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    terminal: Terminal | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)
        terminal = Terminal(path)
        terminal.wait_for("Decide", within=30)
        time.sleep(0.5)
        terminal.type("d")
        terminal.wait_for("Record a decision", within=10)
        terminal.type(TYPED + "\r")
        terminal.wait_for("waiting to write", within=10)
        terminal.hang_up()
        ended = terminal.process.wait(timeout=15)
    finally:
        if terminal is not None:
            terminal.end()
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
        holder.wait(timeout=10)
    time.sleep(0.5)  # the lock is free: a write that had not given up would land now
    assert ended == -signal.SIGHUP
    assert IncidentLog(path).read().entries == before
    (draft,) = list_drafts(path).drafts
    assert (draft.fields["text"], draft.why) == (
        TYPED,
        "terminal went away while waiting for the lock",
    )
