"""Quitting never waits for a thread stuck in a system call. A real `cockpit` on a pty: `e`
exports a long review into a FIFO whose reader never reads (the export's thread blocks in
write(), where nothing can cancel it), then `q`. Before, the process never ended: asyncio
joins its threads at the end. Now it ends EXIT_GRACE_S after the quit, saying why."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from pathlib import Path

from cockpit.ui.exit_watch import EXIT_GRACE_S
from tests.big_log import write_big_log
from tests.test_ui_drafts_hangup import Terminal


def _waiting_in(fd: int) -> int:
    """Bytes written into the pipe and not read yet."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def test_a_stuck_export_does_not_keep_the_cockpit_alive_after_quit(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    write_big_log(log, 3000)  # a review far larger than a pipe's 64 KiB buffer
    fifo = tmp_path / "inc.md"  # where the screen's export goes
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, but never reads
    terminal = Terminal(log)
    try:
        terminal.wait_for("Decide", within=60)
        time.sleep(1)
        terminal.type("e")
        # The export fills the pipe (64 KiB on Linux) and blocks: wait until it stopped.
        deadline = time.monotonic() + 60
        seen = -1
        while (now := _waiting_in(reader)) < 32768 or now != seen:
            assert time.monotonic() < deadline, now
            seen = now
            time.sleep(0.3)
        terminal.type("q")
        quit_at = time.monotonic()
        code = terminal.process.wait(timeout=EXIT_GRACE_S + 20)
        took = time.monotonic() - quit_at
        terminal.wait_for("did not end within", within=5)
    finally:
        terminal.end()
        os.close(reader)
    assert code == 0, code
    assert EXIT_GRACE_S - 1 <= took < EXIT_GRACE_S + 8, took
