"""Several processes appending to one incident log at once, and a follower watching it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cockpit.incident.log import LogFollower, read_log
from cockpit.incident.runbook import BUILTIN_STEPS

CHILD = Path(__file__).with_name("log_writer_child.py")
WRITERS = 8
APPENDS_EACH = 500


def start_writer(path: Path, writer: str, count: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(path), writer, str(count), *extra],
        stdin=subprocess.PIPE if "--wait-stdin" in extra else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_eight_processes_append_without_loss_or_interleaving(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    started = time.perf_counter()
    writers = [start_writer(path, f"w{n}", APPENDS_EACH) for n in range(WRITERS)]
    acknowledged: dict[int, str] = {}
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        for ack in out.splitlines():
            seq, text = ack.split(" ", 1)
            assert int(seq) not in acknowledged, f"seq {seq} acknowledged twice"
            acknowledged[int(seq)] = text
    elapsed = time.perf_counter() - started

    total = WRITERS * APPENDS_EACH
    result = read_log(path)
    assert result.problems == []
    assert [entry.seq for entry in result.entries] == list(range(1, total + 1))
    assert len(path.read_bytes().splitlines()) == total  # every line a whole entry
    texts = [entry.text for entry in result.entries]
    expected = {f"w{n} {i}" for n in range(WRITERS) for i in range(APPENDS_EACH)}
    assert len(texts) == len(set(texts)) and set(texts) == expected
    assert {entry.seq: entry.text for entry in result.entries} == acknowledged
    for entry in result.entries:  # each writer's own entries keep its order
        assert entry.data["i"] == int(entry.text.split()[1])
    print(f"\n{total} appends from {WRITERS} processes in {elapsed:.2f} s")


def test_follower_sees_another_process_entry_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    follower = LogFollower(path)
    writer = start_writer(path, "other", 3, "--wait-stdin")
    assert writer.stdin is not None and writer.stdout is not None
    seen: list[str] = []
    try:
        assert writer.stdout.readline() == "ready\n"
        for index in range(3):
            writer.stdin.write("go\n")
            writer.stdin.flush()
            asked = time.monotonic()
            while f"other {index}" not in seen:
                assert time.monotonic() - asked < 1.0, f"entry {index} not seen within 1 s"
                time.sleep(0.05)
                result = follower.poll()
                assert result.problems == []
                seen.extend(entry.text for entry in result.entries)
            print(f"\nentry {index} seen {time.monotonic() - asked:.3f} s after it was asked for")
        writer.stdin.close()
        assert writer.wait(timeout=10) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert seen == ["other 0", "other 1", "other 2"]


TICK_CHILD = Path(__file__).with_name("log_tick_child.py")


def test_several_processes_ticking_one_step_give_one_done(tmp_path: Path) -> None:
    """Five people tick the same step at the same moment: one "done", four "already-done".

    Each tick reads the log and pauses 0.1 s before appending; without the read and the
    append under one lock, every one of them would see the step open and write "done".
    """
    path = tmp_path / "incident.jsonl"
    step_id = BUILTIN_STEPS[0].id
    authors = [f"person{n}" for n in range(5)]
    ticks = [
        subprocess.Popen(
            [sys.executable, str(TICK_CHILD), str(path), author, step_id, "0.1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for author in authors
    ]
    try:
        for tick in ticks:
            assert tick.stdout is not None and tick.stdout.readline() == "ready\n"
        for tick in ticks:
            assert tick.stdin is not None
            tick.stdin.write("go\n")
            tick.stdin.flush()
        for tick in ticks:
            _out, err = tick.communicate(timeout=30)
            assert tick.returncode == 0, err
    finally:
        for tick in ticks:
            if tick.poll() is None:
                tick.kill()
                tick.wait()
    result = read_log(path)
    assert result.problems == []
    results = [entry.data["result"] for entry in result.entries]
    assert sorted(results) == ["already-done"] * 4 + ["done"]
    done = next(entry for entry in result.entries if entry.data["result"] == "done")
    for entry in result.entries:
        if entry.data["result"] == "already-done":
            assert entry.data["done_by"] == done.author
            assert entry.data["done_seq"] == done.seq


def test_role_taken_from_several_shells_at_once_names_each_previous_holder(
    tmp_path: Path,
) -> None:
    """`cockpit log --role commander` from four shells at once: each names the one before."""
    path = tmp_path / "incident.jsonl"
    env = {**os.environ, "COCKPIT_CONFIG": "", "HOME": str(tmp_path)}
    takers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cockpit",
                "log",
                str(path),
                "--role",
                "commander",
                "--author",
                f"cmd{n}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    for taker in takers:
        _out, err = taker.communicate(timeout=60)
        assert taker.returncode == 0, err
    result = read_log(path)
    assert result.problems == []
    previous = None
    for entry in result.entries:
        assert entry.data.get("previous") == previous
        previous = entry.data["holder"]
