"""A long review written on two cores (cockpit.commands.export_parallel) is byte for byte the
review written in one go, whether the child makes the timeline or dies trying.

The forks happen in a fresh interpreter: write_parallel rightly refuses to fork a process
with other threads, and a pytest-xdist worker has some."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from cockpit.commands.export_parallel import write_parallel
from cockpit.incident.export_md import markdown_parts, render_markdown
from cockpit.incident.log import IncidentLog, read_log
from tests.hostile_data import CORPUS

WRITE = """
import os, signal, sys
from cockpit.commands import export_parallel
from cockpit.incident.export_md import markdown_parts
from cockpit.incident.log import read_log
log, out, child = sys.argv[1:4]
if child == "dies":
    export_parallel._child = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
result = read_log(log)
parts, timeline = markdown_parts(result.entries, result.problems, name="incident")
with open(out, "wb") as handle:
    assert export_parallel.write_parallel(handle, parts, timeline), "no fork"
"""


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "incident.jsonl"
    log = IncidentLog(path)
    log.append("system", "EU mail outage", {"title": "EU mail outage"}, author="alice")
    impact = {"phase": "impact", "at": "2026-12-01T10:00:00.000Z"}
    log.append("phase", "impact", impact, author="alice")
    for number in range(300):
        log.append("note", f"{number}: {CORPUS[number % len(CORPUS)].payload}", {}, author="bob")
        evidence = {"resolver": f"r{number % 7}", "before": {"outcome": "answer"}}
        data = {"area": "dns", "subject": "example.com MX", "status": "ok", "evidence": evidence}
        log.append("probe", f"resolver r{number % 7} now answers eu", data, author="cockpit")
    return path


def expected(log_path: Path) -> bytes:
    result = read_log(log_path)
    return render_markdown(result.entries, result.problems, name="incident").encode()


@pytest.mark.parametrize("child", ["works", "dies"])
def test_two_cores_write_the_same_bytes_as_one(log_path: Path, tmp_path: Path, child: str) -> None:
    out = tmp_path / "review.md"
    done = subprocess.run(
        [sys.executable, "-c", WRITE, str(log_path), str(out), child],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == expected(log_path)


def test_no_fork_with_another_thread_running(log_path: Path) -> None:
    result = read_log(log_path)
    parts, timeline = markdown_parts(result.entries, result.problems, name="incident")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with tempfile.TemporaryFile() as out:
            assert not write_parallel(out, parts, timeline)
            assert out.tell() == 0  # nothing written: the caller writes it in one go
    finally:
        stop.set()
        other.join()


def test_the_export_command_forks_for_a_long_log_and_writes_the_same(
    tmp_path: Path, log_path: Path
) -> None:
    out = tmp_path / "review.md"
    code = (
        "import sys; from cockpit.commands import export_parallel as p;"
        " p.PARALLEL_FROM_ENTRIES = 10; from cockpit.cli import main;"
        f" sys.exit(main(['export', {str(log_path)!r}, '-o', {str(out)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == expected(log_path)
