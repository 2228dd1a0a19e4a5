"""The incident log on real files: writing, reading damage, torn tails, following, origin."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import re
import socket
import stat
import threading
import time
import tracemalloc
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cockpit import compat
from cockpit.compat import UTC
from cockpit.errors import IncidentLogError, LogWriteError
from cockpit.incident.entry import (
    MAX_ENTRY_BYTES,
    MAX_LINE_BYTES,
    TORN_LINE_EVENT,
    Entry,
    format_ts,
)
from cockpit.incident.log import (
    EntryParts,
    IncidentLog,
    LogFollower,
    ReadResult,
    follow,
    read_log,
)
from cockpit.incident.origin import current_origin
from tests.full_disk import refused_over_size_limit

ORIGIN = {"host": "ops1", "tty": "/dev/pts/3"}
T0 = datetime(2026, 11, 27, 14, 2, 3, 456000, tzinfo=UTC)
TS_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def line(seq: int, text: str = "", kind: str = "note", **data: object) -> bytes:
    """The JSON line of an entry, as a writer would append it."""
    entry = Entry(
        seq=seq,
        ts=T0 + timedelta(seconds=seq),
        author="alice",
        origin=ORIGIN,
        kind=kind,
        text=text or f"entry {seq}",
        data=data,
    )
    return entry.to_json_line()


def write_lines(path: Path, *lines: bytes) -> None:
    path.write_bytes(b"".join(lines))


def seqs(result: ReadResult) -> list[int]:
    return [entry.seq for entry in result.entries]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "incident.jsonl"


@pytest.fixture
def log(log_path: Path) -> IncidentLog:
    return IncidentLog(log_path)


# --- writing ---------------------------------------------------------------------------------


def test_round_trip(log: IncidentLog) -> None:
    written = [
        log.append("note", "Inbound queue growing on mx1", author="alice", origin=ORIGIN),
        log.append(
            "decision",
            "Fail over to secondary",
            {"why": "primary is down", "target_region": "eu-2", "tags": ["lesson"]},
            author="bob",
            origin={"host": "ops2", "ssh_client": "10.1.2.3"},
        ),
        log.append("phase", "detected", {"phase": "detected", "at": format_ts(T0)}, author="alice"),
        log.append("note", 'ünïcode ✓ and "quotes"\nand a newline', author="carol"),
    ]
    result = log.read()
    assert result.problems == []
    assert [dataclasses.replace(entry, line=0) for entry in result.entries] == written
    assert [entry.line for entry in result.entries] == [1, 2, 3, 4]
    assert result.entries[1].tags == ("lesson",)
    assert written[2].origin == current_origin()
    assert log.exists()
    assert read_log(log.path) == result


def test_file_lock_and_new_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "incidents" / "2026" / "eu.jsonl"
    old_umask = os.umask(0o002)
    try:
        log = IncidentLog(path)
        log.append("note", "first", author="alice", origin=ORIGIN)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log.lock_path == tmp_path / "incidents" / "2026" / "eu.jsonl.lock"
    assert stat.S_IMODE(log.lock_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "incidents").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "incidents" / "2026").stat().st_mode) == 0o700


def test_seq_counts_up_and_ts_is_rfc3339_milliseconds_in_seq_order(
    log: IncidentLog, log_path: Path
) -> None:
    returned = [log.append("note", f"n{i}", author="alice", origin=ORIGIN) for i in range(60)]
    assert [entry.seq for entry in returned] == list(range(1, 61))
    raw_records = [json.loads(raw) for raw in log_path.read_bytes().splitlines()]
    assert [record["seq"] for record in raw_records] == list(range(1, 61))
    assert all(TS_PATTERN.match(record["ts"]) for record in raw_records)
    times = [entry.ts for entry in log.read().entries]
    assert times == sorted(times)
    assert times == [entry.ts for entry in returned]  # what append returns is what reads back


def test_a_second_writer_object_continues_the_seq(log_path: Path) -> None:
    first, second = IncidentLog(log_path), IncidentLog(log_path)
    for i in range(5):
        first.append("note", f"a{i}", {"pad": "x" * 50_000 * (i % 2)}, author="a", origin=ORIGIN)
        second.append("note", f"b{i}", author="b", origin=ORIGIN)
    result = read_log(log_path)
    assert result.problems == []
    assert seqs(result) == list(range(1, 11))


def test_ts_never_goes_back_even_if_the_clock_does(log: IncidentLog, log_path: Path) -> None:
    future = datetime(2100, 1, 1, tzinfo=UTC)
    log_path.write_bytes(Entry(1, future, "alice", ORIGIN, "note", "fast clock").to_json_line())
    entry = log.append("note", "now", author="alice", origin=ORIGIN)
    assert entry.seq == 2
    assert entry.ts == future


def test_oversized_entry_is_refused_and_nothing_is_written(
    log: IncidentLog, log_path: Path
) -> None:
    with pytest.raises(LogWriteError, match=rf"larger than the {MAX_ENTRY_BYTES}-byte limit"):
        log.append("note", "x" * MAX_ENTRY_BYTES, author="alice", origin=ORIGIN)
    assert not log_path.exists()
    log.append("note", "small", author="alice", origin=ORIGIN)
    before = log_path.read_bytes()
    with pytest.raises(LogWriteError, match=r"it is \d+ bytes") as caught:
        log.append("note", "big", {"blob": "é" * MAX_ENTRY_BYTES}, author="alice", origin=ORIGIN)
    assert str(log_path) in str(caught.value)
    assert log_path.read_bytes() == before
    assert seqs(log.read()) == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "", "text": "t", "author": "a"}, "kind must be a non-empty string"),
        ({"kind": 3, "text": "t", "author": "a"}, "kind must be a non-empty string"),
        ({"kind": "note", "text": b"t", "author": "a"}, "text must be a string"),
        ({"kind": "note", "text": "t", "author": ""}, "author must be a non-empty string"),
        ({"kind": "note", "text": "t", "author": "a", "data": {"s": {1, 2}}}, "not JSON"),
        ({"kind": "note", "text": "t", "author": "a", "data": {"x": float("nan")}}, "not JSON"),
        ({"kind": "note", "text": "t", "author": "a", "data": ["not", "a", "mapping"]}, "mapping"),
        ({"kind": "note", "text": "t", "author": "a", "origin": {"host": 1}}, "origin"),
    ],
)
def test_invalid_entries_are_refused_before_anything_is_written(
    log: IncidentLog, log_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(LogWriteError, match=message):
        log.append(**kwargs)  # type: ignore[arg-type]
    assert not log_path.exists()


def test_data_is_copied_as_plain_json(log: IncidentLog) -> None:
    data = {"targets": ("mx1", "mx2"), "nested": {"n": 1}}
    entry = log.append("check", "copied", data, author="alice", origin=ORIGIN)
    data["nested"]["n"] = 2  # type: ignore[index]
    assert entry.data == {"targets": ["mx1", "mx2"], "nested": {"n": 1}}
    assert log.read().entries[0].data == entry.data


def test_any_kind_may_be_written_and_reads_back_with_a_warning(log: IncidentLog) -> None:
    log.append("note", "known", author="alice", origin=ORIGIN)
    log.append("retro", "a kind from a newer cockpit", author="alice", origin=ORIGIN)
    result = log.read()
    assert [entry.kind for entry in result.entries] == ["note", "retro"]
    assert result.errors == []
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 2)]
    assert "unknown kind 'retro'" in result.problems[0].message


def test_parent_is_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    for path in (tmp_path / "plain" / "incident.jsonl", tmp_path / "plain" / "sub" / "i.jsonl"):
        with pytest.raises(IncidentLogError, match="Not a directory") as caught:
            IncidentLog(path).append("note", "x", author="alice", origin=ORIGIN)
        assert caught.value.path == str(path)


def test_log_path_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "incident.jsonl").mkdir()
    with pytest.raises(IncidentLogError, match="Is a directory"):
        IncidentLog(tmp_path / "incident.jsonl").append("note", "x", author="a", origin=ORIGIN)
    with pytest.raises(IncidentLogError, match="not a regular file"):
        read_log(tmp_path / "incident.jsonl")


def test_lock_file_cannot_be_created(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    (tmp_path / "incident.jsonl.lock").mkdir()
    with pytest.raises(IncidentLogError, match="cannot open the lock file"):
        IncidentLog(path).append("note", "x", author="alice", origin=ORIGIN)


def test_missing_log_is_a_clear_error(log_path: Path) -> None:
    with pytest.raises(IncidentLogError) as caught:
        read_log(log_path)
    assert str(caught.value) == f"no incident log at {log_path}"
    assert caught.value.path == str(log_path)
    assert not IncidentLog(log_path).exists()


def test_failed_write_is_cut_back_and_refused(log: IncidentLog, log_path: Path) -> None:
    """A real short write then EFBIG (RLIMIT_FSIZE) in a child: the partial line is removed."""
    for i in range(3):
        log.append("note", f"before {i}", author="alice", origin=ORIGIN)
    before = log_path.read_bytes()
    pad = {"pad": "x" * 100_000}
    message = refused_over_size_limit(
        len(before) + 1000,
        lambda: IncidentLog(log_path).append("note", "too big", pad, author="a", origin=ORIGIN),
    )
    assert "could not write the entry (File too large)" in message
    assert "the file is as it was before" in message
    assert log_path.read_bytes() == before
    entry = log.append("note", "after", author="alice", origin=ORIGIN)
    assert entry.seq == 4
    assert log.read().problems == []


# --- torn tails ------------------------------------------------------------------------------


def test_torn_tail_warns_and_keeps_every_complete_entry(log_path: Path) -> None:
    torn = line(4, "cut short")[:37]
    write_lines(log_path, line(1), line(2), line(3), torn)
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3]
    assert result.errors == []
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 4)]
    assert "last line incomplete, 37 bytes: a writer was interrupted" in result.problems[0].message


def test_reader_waits_for_a_line_being_written_under_the_lock(
    log: IncidentLog, log_path: Path
) -> None:
    """An unterminated last line while a writer holds the lock is not a torn line."""
    log.append("note", "first", author="alice", origin=ORIGIN)
    second = line(2, "second")
    results: list[ReadResult] = []
    lock_fd = os.open(log.lock_path, os.O_RDWR)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        with log_path.open("ab") as file:
            file.write(second[:30])
            file.flush()
            reader = threading.Thread(target=lambda: results.append(read_log(log_path)))
            reader.start()
            time.sleep(0.2)
            assert reader.is_alive()  # waiting for the writer, not reporting a torn line
            file.write(second[30:])
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        reader.join(timeout=5)
    finally:
        os.close(lock_fd)
    assert seqs(results[0]) == [1, 2]
    assert results[0].problems == []


def test_next_append_terminates_a_torn_tail_and_records_it(
    log: IncidentLog, log_path: Path
) -> None:
    torn = line(4, "cut short")[:37]
    write_lines(log_path, line(1), line(2), line(3), torn)
    before = log_path.read_bytes()
    entry = log.append("note", "after the crash", author="bob", origin=ORIGIN)
    after = log_path.read_bytes()
    assert after.startswith(before + b"\n")  # the fragment's bytes are kept as they are
    lines = after.splitlines()
    assert len(lines) == 6
    recovery = json.loads(lines[4])
    assert recovery["kind"] == "system"
    assert recovery["seq"] == 4  # the torn entry was never acknowledged: its seq is reused
    assert recovery["data"] == {"event": TORN_LINE_EVENT, "line": 4, "bytes": 37}
    assert "incomplete line 4 (37 bytes)" in recovery["text"]
    assert entry.seq == 5
    assert json.loads(lines[5])["text"] == "after the crash"
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3, 4, 5]
    assert result.errors == []
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 4)]
    assert "recovered at seq 4" in result.problems[0].message


def test_append_built_after_a_crash_sees_the_entries_and_does_not_wait_on_itself(
    log: IncidentLog, log_path: Path
) -> None:
    """append_built reads under the writers' lock: a torn last line is read as torn at once
    (not waited on as a line still being written), and the next append recovers it."""
    torn = line(4, "cut short")[:37]
    write_lines(log_path, line(1), line(2), line(3), torn)
    seen: list[int] = []

    def build(entries: Sequence[Entry]) -> list[EntryParts]:
        seen.extend(entry.seq for entry in entries)
        return [("note", f"after {len(entries)} entries", None)]

    started = time.monotonic()
    (entry,) = log.append_built(build, author="bob", origin=ORIGIN)
    assert time.monotonic() - started < 1.0
    assert seen == [1, 2, 3]
    assert entry.seq == 5 and entry.text == "after 3 entries"
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3, 4, 5] and result.errors == []


def test_append_built_that_refuses_or_returns_nothing_writes_nothing(log_path: Path) -> None:
    log = IncidentLog(log_path)

    def refuse(_entries: Sequence[Entry]) -> list[EntryParts]:
        raise ValueError("not now")

    with pytest.raises(ValueError, match="not now"):
        log.append_built(refuse, author="bob")
    assert log.append_built(lambda _entries: [], author="bob") == []
    assert not log_path.exists()
    log.append("note", "first", author="bob")
    assert log.append_built(lambda _entries: [], author="bob") == []
    assert seqs(read_log(log_path)) == [1]


def test_torn_tail_that_is_a_whole_entry_but_its_newline(log: IncidentLog, log_path: Path) -> None:
    write_lines(log_path, line(1), line(2)[:-1])
    assert seqs(read_log(log_path)) == [1]
    log.append("note", "next", author="bob", origin=ORIGIN)
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3]
    assert result.entries[1].kind == "system"
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 2)]


def test_several_fragments_after_the_last_entry_are_recovered_together(
    log: IncidentLog, log_path: Path
) -> None:
    """A recovery write can itself be interrupted: "\\n" written, its system entry cut."""
    write_lines(log_path, line(1), line(2, "cut")[:30] + b"\n", line(2, "system")[:50])
    log.append("note", "next", author="bob", origin=ORIGIN)
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3]
    assert result.entries[1].data["earlier"] == [{"line": 2, "bytes": 30}]
    assert result.errors == []
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 2), ("warning", 3)]


def test_file_of_only_a_fragment(log: IncidentLog, log_path: Path) -> None:
    write_lines(log_path, line(1)[:20])
    log.append("note", "first real entry", author="bob", origin=ORIGIN)
    result = read_log(log_path)
    assert seqs(result) == [1, 2]
    assert result.errors == []


def test_recovery_entry_that_names_another_line_does_not_hide_damage(log_path: Path) -> None:
    recovery = line(3, "recovered", kind="system", event=TORN_LINE_EVENT, line=2, bytes=5)
    write_lines(log_path, line(1), line(2), b"junk\n", recovery)
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3]
    assert [(p.severity, p.line) for p in result.problems] == [("error", 3)]


# --- reading damage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damaged", "reason"),
    [
        (b"garbage that is not json", "not JSON"),
        (line(3)[:40], "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (line(3).replace(b'"seq":3', b'"seq":"3"').rstrip(b"\n"), "'seq' must be a positive"),
        (line(3).replace(b'"ts":"', b'"ts":"yesterday ').rstrip(b"\n"), "RFC 3339"),
        (b"", "empty line"),
    ],
)
def test_mid_file_damage_is_an_error_with_its_line(
    log_path: Path, damaged: bytes, reason: str
) -> None:
    write_lines(log_path, line(1), line(2), damaged + b"\n", line(3), line(4))
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3, 4]
    assert [(p.severity, p.line) for p in result.problems] == [("error", 3)]
    assert reason in result.problems[0].message


def test_seq_duplicates_gaps_and_decreases_are_errors(log_path: Path) -> None:
    write_lines(log_path, line(1), line(2), line(2), line(3), line(5), line(4), line(5))
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 2, 3, 5, 4, 5]
    assert [(p.severity, p.line) for p in result.problems] == [
        ("error", 3),
        ("error", 5),
        ("error", 6),
    ]
    duplicate, gap, back = (p.message for p in result.problems)
    assert "duplicate seq 2: line 2 has it too" in duplicate
    assert "5 follows 3" in gap and "seq 4 missing" in gap
    assert "goes back: 4 follows 5" in back


def test_seq_must_start_at_one(log_path: Path) -> None:
    write_lines(log_path, line(3), line(4))
    assert [(p.severity, p.line) for p in read_log(log_path).problems] == [("error", 1)]


def test_invalid_utf8_is_a_warning_and_the_entry_is_kept(log_path: Path) -> None:
    bad = line(2, "caf\u00e9 ok").replace("é".encode(), b"\xff\xfe")
    write_lines(log_path, line(1), bad, line(3))
    result = read_log(log_path)
    assert seqs(result) == [1, 2, 3]
    assert result.entries[1].text == "caf\ufffd\ufffd ok"
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 2)]


def test_giant_line_is_reported_not_loaded(log_path: Path) -> None:
    giant_size = 10 * 1024 * 1024
    with log_path.open("wb") as file:
        file.write(line(1) + line(2))
        file.write(b'{"seq":3,"text":"' + b"x" * (giant_size - 17) + b"\n")
        file.write(line(3) + line(4))
    tracemalloc.start()
    try:
        result = read_log(log_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seqs(result) == [1, 2, 3, 4]
    assert [(p.severity, p.line) for p in result.problems] == [("error", 3)]
    assert f"the line is {giant_size} bytes, larger than the {MAX_LINE_BYTES}-byte limit" in (
        result.problems[0].message
    )
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while reading past a 10 MB line"


def test_long_line_under_the_limit_is_read(log_path: Path) -> None:
    long_text = "y" * (2 * 1024 * 1024)
    write_lines(log_path, line(1), line(2, long_text), line(3))
    result = read_log(log_path)
    assert result.problems == []
    assert result.entries[1].text == long_text


def test_append_after_a_giant_last_line_stays_lean(log: IncidentLog, log_path: Path) -> None:
    with log_path.open("wb") as file:
        file.write(line(1))
        file.write(b"z" * (10 * 1024 * 1024) + b"\n")
    tracemalloc.start()
    try:
        entry = log.append("note", "after the giant", author="alice", origin=ORIGIN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry.seq == 3
    assert peak < 4 * 1024 * 1024
    assert read_log(log_path).errors == []


def test_append_reads_only_the_end_of_a_big_log(log_path: Path) -> None:
    with log_path.open("wb") as file:
        file.writelines(line(seq, f"entry {seq} " + "t" * 200) for seq in range(1, 50_001))
    size = log_path.stat().st_size
    tracemalloc.start()
    try:
        entry = IncidentLog(log_path).append("note", "last", author="alice", origin=ORIGIN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entry.seq == 50_001
    assert peak < 256 * 1024, f"peak {peak} bytes for one append to a {size}-byte log"


def test_empty_file_reads_as_empty(log_path: Path) -> None:
    log_path.touch()
    assert read_log(log_path) == ReadResult([], [])
    assert IncidentLog(log_path).append("note", "x", author="a", origin=ORIGIN).seq == 1


# --- following -------------------------------------------------------------------------------


def test_follower_sees_new_entries_and_waits_for_partial_lines(log_path: Path) -> None:
    follower = LogFollower(log_path)
    assert follower.poll() == ReadResult([], [])  # no file yet
    log = IncidentLog(log_path)
    log.append("note", "one", author="alice", origin=ORIGIN)
    log.append("note", "two", author="alice", origin=ORIGIN)
    assert [e.text for e in follower.poll().entries] == ["one", "two"]
    assert follower.poll() == ReadResult([], [])
    third = line(3, "three")
    with log_path.open("ab") as file:
        file.write(third[:25])
        file.flush()
        assert follower.poll() == ReadResult([], [])  # a line still being written waits
        file.write(third[25:])
    polled = follower.poll()
    assert [(e.seq, e.text, e.line) for e in polled.entries] == [(3, "three", 3)]
    assert polled.problems == []


def test_follower_reports_a_truncated_file_and_reads_it_again(log_path: Path) -> None:
    write_lines(log_path, line(1), line(2), line(3))
    follower = LogFollower(log_path)
    assert seqs(follower.poll()) == [1, 2, 3]
    write_lines(log_path, line(1))
    polled = follower.poll()
    assert seqs(polled) == [1]
    assert [p.severity for p in polled.problems] == ["error"]
    assert "truncated or rewritten" in polled.problems[0].message


def test_follower_reports_a_replaced_or_removed_file(log_path: Path, tmp_path: Path) -> None:
    write_lines(log_path, line(1), line(2))
    follower = LogFollower(log_path)
    assert seqs(follower.poll()) == [1, 2]
    other = tmp_path / "other.jsonl"
    write_lines(other, line(1, "new file"), line(2), line(3))
    os.replace(other, log_path)
    polled = follower.poll()
    assert [e.text for e in polled.entries][:1] == ["new file"]
    assert seqs(polled) == [1, 2, 3]
    assert "replaced by another file" in polled.errors[0].message
    log_path.unlink()
    gone = follower.poll()
    assert gone.entries == [] and "removed or renamed" in gone.errors[0].message
    assert follower.poll() == ReadResult([], [])


def test_follower_sees_a_recovered_fragment_as_a_warning(log_path: Path) -> None:
    write_lines(log_path, line(1), line(2)[:33])
    follower = LogFollower(log_path)
    assert seqs(follower.poll()) == [1]
    IncidentLog(log_path).append("note", "after", author="alice", origin=ORIGIN)
    polled = follower.poll()
    assert seqs(polled) == [2, 3]
    assert [(p.severity, p.line) for p in polled.problems] == [("warning", 2)]


def test_follower_holds_trailing_damage_for_one_poll(log_path: Path) -> None:
    write_lines(log_path, line(1), b"junk\n")
    follower = LogFollower(log_path)
    first = follower.poll()
    assert seqs(first) == [1] and first.problems == []
    later = follower.poll()
    assert [(p.severity, p.line) for p in later.problems] == [("error", 2)]


def test_async_follow_yields_new_entries(log_path: Path) -> None:
    async def first_two() -> list[str]:
        texts: list[str] = []
        stream = follow(log_path, interval=0.01)
        log = IncidentLog(log_path)
        log.append("note", "one", author="alice", origin=ORIGIN)
        async for result in stream:
            texts.extend(entry.text for entry in result.entries)
            if len(texts) == 1:
                log.append("note", "two", author="alice", origin=ORIGIN)
            if len(texts) == 2:
                break
        await stream.aclose()
        return texts

    assert asyncio.run(compat.wait_for(first_two(), timeout=10)) == ["one", "two"]


# --- origin ----------------------------------------------------------------------------------


def test_origin_from_ssh_and_tmux() -> None:
    env = {"SSH_CLIENT": "10.1.2.3 51234 22", "TMUX_PANE": "%3"}
    origin = current_origin(env)
    assert origin["host"] == socket.gethostname()
    assert origin["ssh_client"] == "10.1.2.3"
    assert origin["tmux_pane"] == "%3"
    connection = current_origin({"SSH_CONNECTION": "2001:db8::7 51234 2001:db8::1 22"})
    assert connection["ssh_client"] == "2001:db8::7"


def test_origin_without_ssh_or_tmux() -> None:
    origin = current_origin({})
    assert "ssh_client" not in origin and "tmux_pane" not in origin
    has_tty = any(os.isatty(fd) for fd in (0, 1, 2))
    assert ("tty" in origin) == has_tty


def test_origin_is_cleaned_and_never_raises() -> None:
    origin = current_origin({"SSH_CLIENT": "\x1b[31m10.0.0.1 1 2", "TMUX_PANE": "\x07" * 3})
    assert origin["ssh_client"] == "[31m10.0.0.1"
    assert "tmux_pane" not in origin


def test_a_cut_mending_write_reads_as_interrupted_not_as_damage(tmp_path: Path) -> None:
    """The writer died twice: once mid-entry, then again while fencing that fragment off.
    Until the next append, the lines after the last entry are an interrupted write."""
    path = tmp_path / "incident.jsonl"
    log = IncidentLog(path)
    log.append("note", "first", author="a", origin={"host": "h"})
    with path.open("ab") as file:
        file.write(b'{"seq":2,"ts":"2026-11-27T14:00:00.000Z","author":"a","te')  # torn entry
        file.write(b'\n{"seq":2,"ts":"2026-11-27T14:00:01.000Z","kind":"sys')  # torn mending
    result = read_log(path)
    assert [e.text for e in result.entries] == ["first"]
    assert result.errors == []
    assert {p.line for p in result.warnings} == {2, 3}
    log.append("note", "second", author="a", origin={"host": "h"})
    after = read_log(path)
    assert after.errors == []
    assert [e.text for e in after.entries if e.kind == "note"] == ["first", "second"]
