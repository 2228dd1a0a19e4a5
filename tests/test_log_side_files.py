"""The files cockpit keeps beside an incident log (`.lock`, `.mark`, `.probes.lock`) are never
followed through a symbolic link, never waited on as a FIFO, and never anything but regular
files; and a lock file removed or replaced while a writer holds it never lets two writers
append at once. Real files, symlinks, FIFOs and processes (fork, subprocesses)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cockpit.errors import LogWriteError
from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.log_files import SideFileError
from cockpit.incident.probe_writer import ProbeWriterLock
from tests.conftest import run_cockpit

VICTIM_TEXT = "precious line 1\nprecious line 2\n" * 20


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "inc.jsonl"
    IncidentLog(path).append("note", "first", author="alice")
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


def side(log_path: Path, suffix: str) -> Path:
    return log_path.with_name(log_path.name + suffix)


def texts(log_path: Path) -> list[str]:
    return [entry.text for entry in read_log(log_path).entries]


def in_child(call: Callable[[], str], within: float = 10.0) -> str:
    """`call()` run in a forked child: what it returned, or its exception as "Name: message".
    AssertionError when it has not finished within `within` seconds (it hung; it is killed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        try:
            said = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
            said = f"{type(exc).__name__}: {exc}"
        os.write(write_end, said.encode("utf-8", "backslashreplace")[:60000])
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + within
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"still blocked after {within:g} s (the child was killed)")
            time.sleep(0.02)
        return os.read(read_end, 65536).decode("utf-8")
    finally:
        os.close(read_end)


# ---- symbolic links ---------------------------------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_symlink_at_the_lock_file_is_refused_and_never_written_through(
    log_path: Path, victim: Path, dangling: bool
) -> None:
    side(log_path, ".lock").unlink()
    if dangling:
        victim.unlink()
    side(log_path, ".lock").symlink_to(victim)
    with pytest.raises(LogWriteError) as caught:
        IncidentLog(log_path).append("note", "second", author="bob")
    message = str(caught.value)
    assert f"{side(log_path, '.lock')}: it is a symbolic link, not a regular file" in message
    assert "nothing was written" in message
    if dangling:
        assert not victim.exists()  # its target is not created either
    else:
        assert victim.read_text() == VICTIM_TEXT
    assert texts(log_path) == ["first"]


def test_a_symlink_at_the_mark_is_refused_even_between_one_writers_appends(
    log_path: Path, victim: Path
) -> None:
    log = IncidentLog(log_path)
    log.append("note", "second", author="bob")  # this object's own append: tail not re-read
    side(log_path, ".mark").unlink()
    side(log_path, ".mark").symlink_to(victim)
    for writer in (log, IncidentLog(log_path)):
        with pytest.raises(LogWriteError, match="inc.jsonl.mark is a symbolic link"):
            writer.append("note", "third", author="bob")
    assert victim.read_text() == VICTIM_TEXT
    assert texts(log_path) == ["first", "second"]
    problems = [str(problem) for problem in read_log(log_path).problems]
    assert len(problems) == 1
    assert "warning: " in problems[0] and "inc.jsonl.mark is a symbolic link" in problems[0]
    assert "lost entries cannot be checked" in problems[0]


def test_the_probe_writer_lock_is_never_a_link_nor_a_fifo(log_path: Path, victim: Path) -> None:
    lock = side(log_path, ".probes.lock")
    lock.symlink_to(victim)
    with pytest.raises(SideFileError, match="probes.lock is a symbolic link"):
        ProbeWriterLock(log_path).try_hold()
    assert victim.read_text() == VICTIM_TEXT
    lock.unlink()
    os.mkfifo(lock)

    def try_hold() -> str:
        ProbeWriterLock(log_path).try_hold()
        return "held"

    assert "probes.lock is a FIFO, not a regular file" in in_child(try_hold)


# ---- FIFOs ------------------------------------------------------------------------------------


def test_a_fifo_at_the_mark_never_hangs_an_append_a_read_or_the_export(log_path: Path) -> None:
    side(log_path, ".mark").unlink()
    os.mkfifo(side(log_path, ".mark"))

    def append() -> str:
        return str(IncidentLog(log_path).append("note", "second", author="bob").seq)

    refused = in_child(append)
    assert refused.startswith("LogWriteError: ")
    assert "inc.jsonl.mark is a FIFO, not a regular file" in refused
    assert "nothing was written" in refused

    def read() -> str:
        result = read_log(log_path)
        return repr(([e.text for e in result.entries], [str(p) for p in result.problems]))

    said = in_child(read)
    assert said.startswith("(['first'], ['warning: ")
    assert "inc.jsonl.mark is a FIFO" in said
    done = run_cockpit("export", str(log_path), timeout=20)
    assert done.returncode == 0, done.stderr
    assert "inc.jsonl.mark is a FIFO" in done.stderr
    assert done.stdout.startswith("# Post-incident review: inc")
    assert texts(log_path) == ["first"]


def test_a_fifo_at_the_lock_file_never_hangs_a_writer_or_a_reader_of_a_torn_tail(
    log_path: Path,
) -> None:
    with open(log_path, "ab") as file:
        file.write(b'{"seq": 2, "ts": "2026-11-27T14:0')  # a writer killed mid-line
    side(log_path, ".lock").unlink()
    os.mkfifo(side(log_path, ".lock"))

    def append() -> str:
        return str(IncidentLog(log_path).append("note", "second", author="bob").seq)

    refused = in_child(append)
    assert "cannot open the lock file" in refused
    assert "it is a FIFO, not a regular file" in refused

    def read() -> str:
        result = read_log(log_path)
        return repr(([e.text for e in result.entries], [str(p) for p in result.problems]))

    said = in_child(read)
    assert said.startswith("(['first'], ")
    assert "last line incomplete" in said


# ---- the lock file removed or replaced while held ---------------------------------------------

WAITER = """
import sys
from cockpit.incident.log import IncidentLog
log = IncidentLog(sys.argv[1], lock_wait=60, on_wait=lambda holder: print("waiting", flush=True))
print(log.append("note", "from the waiter", author="bob").seq, flush=True)
"""

# A writer stopped in the middle of its append: it holds the lock and has opened the log (as
# IncidentLog.append does), then waits for a line on stdin before it writes.
MID_APPEND = """
import sys
from cockpit.errors import LogWriteError
from cockpit.incident.log import IncidentLog
log = IncidentLog(sys.argv[1])
lock_fd = log._lock()
print("locked", flush=True)
if sys.argv[2] == "opened":
    log_fd = log._open_log()
    print("opened", flush=True)
sys.stdin.readline()
try:
    if sys.argv[2] != "opened":
        log_fd = log._open_log()
    draft = log._draft("note", "from A", None, author="alice", origin=None)
    print(log._append_locked(log_fd, [draft])[0].seq, flush=True)
except LogWriteError as exc:
    print("refused:", exc, flush=True)
"""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait(timeout=10)


def start(processes: list[subprocess.Popen[str]], code: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    return process


def said(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


def test_a_waiter_whose_lock_file_was_replaced_takes_the_new_one(
    log_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """The lock-file idiom: a writer that opened `.lock` and waited on it, then got its flock
    after the file was removed and another made (and held), must not write."""
    holder = start(processes, MID_APPEND, str(log_path), "locked")
    assert said(holder) == "locked"
    waiter = start(processes, WAITER, str(log_path))
    assert said(waiter) == "waiting"  # it has the old lock file open and polls it
    lock = side(log_path, ".lock")
    lock.unlink()
    new_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(new_fd, fcntl.LOCK_EX)  # someone holds the lock file now at the path
        holder.kill()  # the old lock file is let go
        holder.wait(timeout=10)
        time.sleep(1.0)
        assert waiter.poll() is None, "the waiter wrote while the lock at the path was held"
        assert texts(log_path) == ["first"]
    finally:
        fcntl.flock(new_fd, fcntl.LOCK_UN)
        os.close(new_fd)
    assert said(waiter) == "2"
    assert waiter.wait(timeout=10) == 0
    assert texts(log_path) == ["first", "from the waiter"]


def test_a_lock_file_removed_mid_append_never_lets_a_second_writer_in(
    log_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    writer_a = start(processes, MID_APPEND, str(log_path), "opened")
    assert said(writer_a) == "locked" and said(writer_a) == "opened"
    side(log_path, ".lock").unlink()  # "a stale lock"
    with pytest.raises(LogWriteError) as caught:
        IncidentLog(log_path, lock_wait=1).append("note", "from B", author="bob")
    assert "another writer is writing the incident log" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert writer_a.stdin is not None
    writer_a.stdin.write("go\n")
    writer_a.stdin.flush()
    assert said(writer_a) == "2"
    assert writer_a.wait(timeout=10) == 0  # its append over: its descriptors are closed
    assert IncidentLog(log_path, lock_wait=1).append("note", "from B", author="bob").seq == 3
    result = read_log(log_path)
    assert [(e.seq, e.text) for e in result.entries] == [
        (1, "first"),
        (2, "from A"),
        (3, "from B"),
    ]
    assert result.problems == []


def test_a_writer_whose_lock_file_was_replaced_before_it_wrote_refuses(
    log_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    writer_a = start(processes, MID_APPEND, str(log_path), "locked")
    assert said(writer_a) == "locked"
    side(log_path, ".lock").unlink()
    assert IncidentLog(log_path, lock_wait=1).append("note", "from B", author="bob").seq == 2
    assert writer_a.stdin is not None
    writer_a.stdin.write("go\n")
    writer_a.stdin.flush()
    answer = said(writer_a)
    assert answer.startswith("refused: ")
    assert "the lock file inc.jsonl.lock was removed or replaced while this writer held it" in (
        answer
    )
    result = read_log(log_path)
    assert [(e.seq, e.text) for e in result.entries] == [(1, "first"), (2, "from B")]
    assert result.problems == []


# ---- the log itself ---------------------------------------------------------------------------


def test_a_log_path_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """Writing through a link could append to any file the link names (someone else's)."""
    target = tmp_path / "someone-elses.txt"
    target.write_text("setting=1\n")
    link = tmp_path / "inc.jsonl"
    link.symlink_to(target)
    done = run_cockpit("log", str(link), "a note", timeout=20)
    assert done.returncode == 2, done.stderr
    assert "it is a symbolic link (cockpit never writes through one)" in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_text() == "setting=1\n"
    assert not (tmp_path / "inc.jsonl.mark").exists()


def test_a_file_that_is_not_a_log_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A review written beside the log (tab completion picks inc.md): nothing is appended."""
    review = tmp_path / "inc.md"
    review.write_text("# Review\n\n| a | b |\n")
    done = run_cockpit("log", str(review), "a note", timeout=20)
    assert done.returncode == 2, done.stderr
    assert "not an incident log: the file holds no entry and does not begin like one" in (
        done.stderr
    )
    assert review.read_text() == "# Review\n\n| a | b |\n"


def test_a_log_whose_only_line_was_cut_short_is_still_written(tmp_path: Path) -> None:
    """The first writer was killed mid-line: the next append fences it off, as before."""
    path = tmp_path / "inc.jsonl"
    path.write_bytes(b'{"seq":1,"ts":"2026-12-06T10:00:00.0')
    entry = IncidentLog(path).append("note", "after the cut", author="alice")
    assert entry.seq == 2
    [recovered, note] = IncidentLog(path).read().entries
    assert recovered.kind == "system" and note.text == "after the cut"
