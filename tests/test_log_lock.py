"""A writer stuck while it holds the log's lock (Ctrl+Z, a hung client) never makes another
writer wait without a limit or without saying who holds it. Real processes, real flock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.incident.log import IncidentLog
from cockpit.incident.log_lock import LockBusy, LockHolder
from tests.conftest import run_cockpit

HOLD = """
import sys, time
from cockpit.incident.log import IncidentLog
log = IncidentLog(sys.argv[1])
fd = log._lock()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "incident.jsonl"
    IncidentLog(path).append("note", "first", author="alice")
    return path


@pytest.fixture
def held(log_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the lock, then is suspended (SIGSTOP, as Ctrl+Z would)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(log_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        os.kill(child.pid, signal.SIGSTOP)
        yield child
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        child.wait(timeout=10)


def test_cockpit_log_waits_a_bounded_time_and_names_the_holder(
    log_path: Path, held: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    done = run_cockpit("log", str(log_path), "second", "--author", "bob", "--wait", "0.5")
    elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert f"waiting for the incident log: pid {held.pid} on " in done.stderr
    assert f"locked by pid {held.pid}" in done.stderr
    assert "stayed locked for 0.5 s; nothing was written" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 0.5 + 5  # the interpreter's start on a noisy machine, not the holder
    assert [entry.text for entry in IncidentLog(log_path).read().entries] == ["first"]


def test_an_append_in_process_raises_lock_busy_with_the_holder(
    log_path: Path, held: subprocess.Popen[str]
) -> None:
    told: list[LockHolder | None] = []
    log = IncidentLog(log_path, lock_wait=0.3, on_wait=told.append)
    started = time.monotonic()
    with pytest.raises(LockBusy) as caught:
        log.append("note", "second", author="bob")
    assert time.monotonic() - started < 0.3 + 0.5
    assert len(told) == 1 and told[0] is not None and told[0].pid == held.pid
    assert caught.value.holder is not None and caught.value.holder.pid == held.pid


def test_the_lock_is_taken_as_soon_as_the_holder_lets_go(
    log_path: Path, held: subprocess.Popen[str]
) -> None:
    os.kill(held.pid, signal.SIGCONT)
    held.kill()
    held.wait(timeout=10)
    done = run_cockpit("log", str(log_path), "second", "--author", "bob", "--wait", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "waiting" not in done.stderr


def test_a_stale_holder_line_names_no_one(log_path: Path, tmp_path: Path) -> None:
    """The lock file names a process that is gone; the real holder wrote nothing."""
    IncidentLog(log_path).append("note", "second", author="bob")  # leaves our own line
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock_path = log_path.with_name(log_path.name + ".lock")
    text = lock_path.read_text(encoding="utf-8")
    lock_path.write_text(text.replace(str(os.getpid()), gone.stdout.strip()), encoding="utf-8")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'r+');"
            " fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(lock_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy) as caught:
            IncidentLog(log_path, lock_wait=0.1).append("note", "third", author="bob")
        assert caught.value.holder is None
        assert "locked by another writer" in str(caught.value)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_a_writer_slipping_in_before_the_lock_is_seen_by_build(log_path: Path) -> None:
    """append_built reads before it locks; an entry appended in between must reach `build`."""

    class Racing(IncidentLog):
        raced = False

        def _entries_so_far(self):  # type: ignore[no-untyped-def]
            entries = super()._entries_so_far()
            if not self.raced:
                self.raced = True
                IncidentLog(log_path).append("note", "slipped in", author="eve")
            return entries

    seen: list[list[str]] = []

    def build(entries):  # type: ignore[no-untyped-def]
        seen.append([entry.text for entry in entries])
        return [("note", "built", {})]

    (entry,) = Racing(log_path).append_built(build, author="bob")
    assert seen == [["first", "slipped in"]]
    assert entry.seq == 3
