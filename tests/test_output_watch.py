"""The screen's output lost for good (its reader died: `cockpit | tee` whose tee ended) ends
the cockpit by itself, instead of leaving it waiting for ever to hand Textual's dead writer
thread a frame (keys, timers and signal handlers no longer ran; a SIGTERM given to another
thread was never handled, and one input thread spun a core).

A real process: the screen's output (Textual writes to stderr) goes into a pipe whose reader
closes after the first 600 bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def test_a_screen_whose_output_reader_died_ends_by_itself(tmp_path: Path) -> None:
    cockpit = Path(sys.executable).parent / "cockpit"
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(cockpit), "--incident", str(tmp_path / "inc.jsonl"), "--author", "t"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        assert proc.stdout is not None
        assert len(proc.stdout.read(600)) == 600  # the screen was drawing
        proc.stdout.close()  # the reader dies
        started = time.monotonic()
        code = proc.wait(timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 141, code  # as SIGPIPE would, after keeping drafts and ending children
    assert took < 5, took
