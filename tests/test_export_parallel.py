"""A long review written on two cores (cockpit.commands.export_parallel, with the probe parts
made by a child forked before the read: export_early) is byte for byte the review written in
one go, whether the children do their share, die trying, or read another log than ours.

The forks happen in a fresh interpreter: write_parallel rightly refuses to fork a process
with other threads, and a pytest-xdist worker has some."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cockpit.commands.export_parallel import write_parallel
from cockpit.incident.export_md import markdown_parts, render_markdown
from cockpit.incident.log import IncidentLog, read_log
from tests.hostile_data import CORPUS

WRITE = """
import os, signal, sys
from cockpit.commands import export_parallel
from cockpit.incident import export_md
from cockpit.incident.export_md import markdown_parts
from cockpit.incident.log import read_log
log, out, child = sys.argv[1:4]
export_md.TIMELINE_PIECE_ROWS = 40  # many pieces for the two to share
if child == "dies":
    export_parallel._child = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
if child == "dies-midway":  # after it has taken three pieces and made two
    take, taken = export_parallel._Queue.take, []
    def dying(self, *, from_back):
        if from_back:
            taken.append(1)
            if len(taken) == 4:
                os.kill(os.getpid(), signal.SIGKILL)
        return take(self, from_back=from_back)
    export_parallel._Queue.take = dying
result = read_log(log)
parts, timeline = markdown_parts(result.entries, result.problems, name="incident")
with open(out, "wb") as handle:
    assert export_parallel.write_parallel(handle, parts, timeline), "no fork"
"""

EARLY = """
import os, signal, sys
from pathlib import Path
from cockpit.commands import export_early, export_parallel
from cockpit.incident.export_md import markdown_parts
from cockpit.incident.log import read_log
log, out, child = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
export_early.EARLY_FROM_BYTES = 0
if child == "dies":
    export_early._child = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
early = export_early.start_probe_parts(log)
assert early is not None, "no fork"
if child == "appended-to":  # a probe entry the child did not see
    with log.open("ab") as handle:
        handle.write(sys.argv[4].encode() + b"\\n")
if child == "rewritten":  # in place: the same seqs on the same lines, another text
    with log.open("r+b") as handle:
        text = handle.read()
        handle.seek(0)
        handle.write(text.replace(b"now answers eu", b"now answers us"))
try:
    result = read_log(log)
    parts, timeline = markdown_parts(
        result.entries, result.problems, name="incident", make_probe_parts=early.parts
    )
    with open(out, "wb") as handle:
        export_parallel.write_review(handle, parts, timeline, entries=len(result.entries))
finally:
    early.close()
print("taken" if early.taken else "made here")
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


@pytest.mark.parametrize("child", ["works", "dies", "dies-midway"])
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
        " p.PARALLEL_FROM_ENTRIES = 10; from cockpit.commands import export_early as e;"
        " e.EARLY_FROM_BYTES = 0; from cockpit.cli import main;"
        f" sys.exit(main(['export', {str(log_path)!r}, '-o', {str(out)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == expected(log_path)


def _early(log: Path, out: Path, child: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", EARLY, str(log), str(out), child, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("child", "outcome"), [("works", "taken"), ("dies", "made here")])
def test_the_early_childs_probe_parts_are_the_ones_we_would_make(
    log_path: Path, tmp_path: Path, child: str, outcome: str
) -> None:
    out = tmp_path / "review.md"
    assert _early(log_path, out, child) == outcome
    assert out.read_bytes() == expected(log_path)


def test_a_probe_appended_after_the_fork_is_in_the_review(log_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "incident.jsonl"
    log.write_bytes(log_path.read_bytes())
    last = read_log(log).entries[-1]
    late = {**json.loads(last.to_json_line()), "seq": last.seq + 1, "text": "late probe"}
    out = tmp_path / "review.md"
    assert _early(log, out, "appended-to", json.dumps(late)) == "made here"
    assert "late probe" in out.read_text()
    assert out.read_bytes() == expected(log)


def test_a_probe_the_childs_filter_misses_is_in_the_review(log_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "incident.jsonl"
    escaped = {
        "seq": 1,
        "ts": "2026-12-01T09:00:00.000Z",
        "author": "cockpit",
        "origin": {},
        "kind": "KIND",
        "text": "escaped kind",
        "data": {"status": "ok"},
    }
    lines = [json.dumps(escaped).replace('"KIND"', r'"pr\u006fbe"')]  # "probe", escaped
    for entry in read_log(log_path).entries:
        record = json.loads(entry.to_json_line())
        lines.append(json.dumps({**record, "seq": record["seq"] + 1}))
    log.write_text("\n".join(lines) + "\n")
    assert read_log(log).entries[0].kind == "probe"
    out = tmp_path / "review.md"
    assert _early(log, out, "works") == "made here"
    assert out.read_bytes() == expected(log)


def test_a_log_rewritten_in_place_since_the_fork_is_read_again(
    log_path: Path, tmp_path: Path
) -> None:
    log = tmp_path / "incident.jsonl"
    log.write_bytes(log_path.read_bytes())
    os.utime(log, ns=(10**18, 10**18))  # written long before the fork
    out = tmp_path / "review.md"
    assert _early(log, out, "rewritten") == "made here"
    assert "now answers us" in out.read_text() and "now answers eu" not in out.read_text()
    assert out.read_bytes() == expected(log)


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


HANGING = """
import os, sys, time
from cockpit.commands import export_early, export_parallel
export_early.EARLY_FROM_BYTES = 0
export_parallel.PARALLEL_FROM_ENTRIES = 10
which = sys.argv[1]
def hang(*args):
    time.sleep(120)
    os._exit(0)
if which == "early":
    export_early._child = hang
else:
    export_parallel._child = hang
from cockpit.cli import main
sys.argv[1:] = sys.argv[2:]
sys.exit(main())  # as the cockpit command does (argv None: it installs cockpit.children)
"""


@pytest.mark.parametrize("which", ["early", "timeline"])
def test_the_forks_end_when_the_export_is_terminated(
    log_path: Path, tmp_path: Path, which: str
) -> None:
    """SIGTERM (a closed session) ends the export's children too, as every process cockpit
    starts (cockpit.children): none is left to finish its share for nobody."""
    out = tmp_path / "review.md"
    process = subprocess.Popen(
        [sys.executable, "-c", HANGING, which, "export", str(log_path), "-o", str(out)],
        stderr=subprocess.DEVNULL,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    wanted = 1 if which == "early" else 2
    while process.poll() is None and len(seen) < wanted and time.monotonic() < deadline:
        seen |= _children(process.pid)
        time.sleep(0.01)
    assert len(seen) == wanted, seen
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    deadline = time.monotonic() + 5
    while not all(_gone(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(_gone(pid) for pid in seen), seen
    assert not out.exists()
