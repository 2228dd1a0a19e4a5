"""Issue 13, the incident side of a big log: one shared list of entries per process
(cockpit.incident.log_so_far), read in slices, started over when the file is replaced, cut or
removed while the old list stays whole, and probe data kept packed without changing a byte
of what is written back or exported. Real files (tests/big_log.py), no mocks."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.errors import LogWriteError
from cockpit.incident.entry import Entry, entry_from_line
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.log_glance import read_state_entries, read_tail
from cockpit.incident.log_loss import common_prefix, loss_among, loss_of, missing_from, union
from cockpit.incident.log_recovery import write_recovery
from cockpit.incident.log_so_far import SharedEntries, SoFar, starts_over
from cockpit.incident.packed_data import DataPacker, PackedData
from cockpit.ui.state_entries import StateEntries
from tests.big_log import write_big_log
from tests.full_disk import fill, small_tmpfs

BIG = 3_000
"""Entries in the big log of these tests: every kind of entry, a few MB, well under a second."""


@pytest.fixture(scope="module")
def big_log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One big log written once for the module; tests copy it before changing it."""
    path = tmp_path_factory.mktemp("big") / "incident.jsonl"
    write_big_log(path, BIG)
    return path


@pytest.fixture
def big_log(big_log_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "incident.jsonl"
    shutil.copyfile(big_log_file, path)
    shutil.copyfile(big_log_file.with_name("incident.jsonl.mark"), tmp_path / "incident.jsonl.mark")
    return path


def _lines(entries: list[Entry] | tuple[Entry, ...]) -> list[bytes]:
    return [entry.to_json_line() for entry in entries]


def _read_all(shared: SharedEntries, max_bytes: int | None) -> SoFar:
    """Read to the end in `max_bytes` steps (bounded: a step always takes a whole line)."""
    for _ in range(100_000):
        so_far = shared.read(max_bytes)
        if so_far.at_end:
            return so_far
    raise AssertionError("the read never reached the end of the file")


# ---- one list, shared ------------------------------------------------------------------------


def test_entries_so_far_the_shared_read_and_append_built_hold_the_same_entry_objects(
    big_log: Path,
) -> None:
    log = IncidentLog(big_log)
    first = log.entries_so_far()
    assert len(first) == BIG
    so_far = log.read_so_far()
    assert so_far.count == BIG and so_far.at_end
    # The same Entry objects, not equal copies: the process holds the log once.
    assert all(a is b for a, b in zip(first, so_far.entries, strict=True))

    seen_by_build: list[Entry] = []

    def build(entries: Any) -> list[tuple[str, str, dict[str, Any]]]:
        seen_by_build[:] = list(entries)
        return [("note", "written against the shared list", {})]

    (written,) = log.append_built(build, author="alice")
    assert len(seen_by_build) == BIG
    assert all(a is b for a, b in zip(seen_by_build, first, strict=True))
    assert written.seq == BIG + 1

    after = log.entries_so_far()
    assert len(after) == BIG + 1 and after[-1].text == "written against the shared list"
    assert all(a is b for a, b in zip(after[:BIG], first, strict=True))
    # The list a reader held grew in place: one list, read on from where anyone got to.
    assert log.read_so_far().entries is so_far.entries
    assert _lines(after) == _lines(read_log(big_log).entries)


def test_a_snapshot_never_changes_when_the_shared_list_grows(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    log = IncidentLog(path)
    log.append("note", "one", author="alice")
    before = log.entries_so_far()
    log.append("note", "two", author="alice")
    assert [entry.text for entry in before] == ["one"]
    assert [entry.text for entry in log.entries_so_far()] == ["one", "two"]


# ---- reading in slices -----------------------------------------------------------------------


def _damage_the_middle(path: Path) -> None:
    """A damaged line, an empty line and a seq gap in the middle of the log."""
    lines = path.read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    lines[middle] = b'{"seq": broken\n'
    lines.insert(middle + 10, b"\n")
    del lines[middle + 20]
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize("max_bytes", [1, 4096, 64 * 1024, None])
@pytest.mark.parametrize("damaged", [False, True], ids=["clean", "damaged"])
def test_reading_in_slices_gives_what_read_log_gives(
    big_log: Path, max_bytes: int | None, damaged: bool
) -> None:
    if damaged:
        _damage_the_middle(big_log)
    whole = read_log(big_log)
    shared = SharedEntries(big_log)
    so_far = _read_all(shared, max_bytes)
    entries = so_far.snapshot()
    assert _lines(entries) == _lines(whole.entries)
    assert [entry.line for entry in entries] == [entry.line for entry in whole.entries]
    found = [(p.severity, p.message, p.line) for p in so_far.problems[: so_far.problem_count]]
    assert found == [(p.severity, p.message, p.line) for p in whole.problems]
    assert bool(found) == damaged


def test_slices_read_while_the_log_grows_miss_nothing(big_log: Path) -> None:
    shared = SharedEntries(big_log)
    log = IncidentLog(big_log)
    steps = 0
    while True:
        so_far = shared.read(16 * 1024)
        steps += 1
        if steps % 7 == 0 and steps <= 70:
            log.append("note", f"appended while reading, step {steps}", author="bob")
        if so_far.at_end and steps > 70:
            break
        assert steps < 10_000
    assert _lines(so_far.snapshot()) == _lines(read_log(big_log).entries)
    assert so_far.count == BIG + 10
    assert so_far.problem_count == 0


# ---- a new generation when the file is replaced, cut or removed ------------------------------


def _replaced_by_older_copy(path: Path, copy: Path) -> None:
    os.replace(copy, path)


def _truncated(path: Path, _copy: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    with path.open("r+b") as handle:
        handle.truncate(sum(len(line) for line in lines[: BIG // 2]))


def _removed(path: Path, _copy: Path) -> None:
    path.unlink()


LOSSES: list[Any] = [
    pytest.param(_replaced_by_older_copy, "replaced by another file", BIG - 100, id="replaced"),
    pytest.param(_truncated, "truncated or rewritten", BIG // 2, id="truncated"),
    pytest.param(_removed, "removed or renamed", 0, id="removed"),
]


@pytest.mark.parametrize(("lose", "says", "left"), LOSSES)
def test_a_lost_file_starts_a_new_generation_and_the_old_list_stays_whole(
    big_log: Path, lose: Callable[[Path, Path], None], says: str, left: int
) -> None:
    # An older copy: the log as it was 100 entries ago.
    copy = big_log.with_name("older.jsonl")
    lines = big_log.read_bytes().splitlines(keepends=True)
    copy.write_bytes(b"".join(lines[: BIG - 100]))

    shared = SharedEntries(big_log)
    before = shared.read()
    held = before.entries
    held_ids = [id(entry) for entry in held]
    held_lines = _lines(held)

    lose(big_log, copy)
    after = shared.read()

    assert after.generation == before.generation + 1
    assert after.entries is not held
    assert after.count == left
    new_problems = list(after.problems[before.problem_count : after.problem_count])
    assert [p for p in new_problems if starts_over(p)], new_problems
    assert any(says in p.message for p in new_problems)
    # The old generation's list is exactly as it was: a screen keeps what it showed.
    assert [id(entry) for entry in held] == held_ids
    assert _lines(held) == held_lines
    # What the file still holds is the start of what was held; the rest is named as lost.
    common = common_prefix(held, after.snapshot())
    assert common == left
    loss = loss_of(held, common)
    assert loss is not None and loss.first_seq == left + 1 and loss.last_seq == BIG
    assert loss.count == BIG - left


def test_a_removed_log_put_back_is_read_again_in_the_new_generation(big_log: Path) -> None:
    saved = big_log.with_name("saved.jsonl")
    shutil.copyfile(big_log, saved)
    shared = SharedEntries(big_log)
    first = shared.read()
    big_log.unlink()
    gone = shared.read()
    assert gone.count == 0 and gone.generation == first.generation + 1
    assert shared.read().problem_count == gone.problem_count  # said once, not at every read
    os.replace(saved, big_log)
    back = shared.read()
    assert back.generation == gone.generation and back.entries is gone.entries
    assert common_prefix(first.snapshot(), back.snapshot()) == BIG


def test_a_recovery_file_of_the_held_entries_is_a_valid_log(big_log: Path) -> None:
    shared = SharedEntries(big_log)
    held = shared.read().snapshot()
    big_log.write_bytes(b"")  # truncated to nothing
    assert shared.read().count == 0
    at = datetime(2026, 11, 27, 14, 30, 5, tzinfo=UTC)
    path = write_recovery(big_log, held, now=at)
    assert path == big_log.with_name("incident.jsonl.recovered-20261127T143005Z.jsonl")
    assert stat.S_ISREG(os.lstat(path).st_mode)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_bytes() == b"".join(_lines(held))
    again = read_log(path)
    assert _lines(again.entries) == _lines(held) and not again.problems
    # The same second again: the next free name; a symlink planted there is not written through.
    target = big_log.with_name("elsewhere")
    big_log.with_name("incident.jsonl.recovered-20261127T143005Z-2.jsonl").symlink_to(target)
    third = write_recovery(big_log, held[:10], now=at)
    assert third.name == "incident.jsonl.recovered-20261127T143005Z-3.jsonl"
    assert not target.exists() and len(read_log(third).entries) == 10


# ---- packed probe data -----------------------------------------------------------------------


def test_export_of_a_packed_read_is_byte_identical_to_one_from_read_log(big_log: Path) -> None:
    _damage_the_middle(big_log)
    whole = read_log(big_log)
    so_far = _read_all(SharedEntries(big_log), 256 * 1024)
    packed = so_far.snapshot()
    assert sum(isinstance(entry.data, PackedData) for entry in packed) > BIG // 2
    problems = list(so_far.problems[: so_far.problem_count])
    assert render_markdown(packed, problems, name="incident") == render_markdown(
        whole.entries, whole.problems, name="incident"
    )
    assert render_json(packed, problems, name="incident") == render_json(
        whole.entries, whole.problems, name="incident"
    )
    for mine, theirs in zip(packed, whole.entries, strict=True):
        assert mine == theirs  # Entry equality: a PackedData equals the dict it packs
        assert dict(mine.data) == theirs.data


def _probe_line(data: dict[str, Any]) -> bytes:
    record = {
        "seq": 1,
        "ts": "2026-11-27T14:00:00.000Z",
        "author": "cockpit",
        "origin": {"host": "ops1"},
        "kind": "probe",
        "text": "t",
        "data": data,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


# Data whose nested values a search by member name would confuse with another member of the
# same name whose value only compares equal (1 == 1.0 == True, 0 == -0.0 == False), written
# by cockpit or by a hand that spaced it out.
PACK_ROWS: list[Any] = [
    pytest.param({"a": {"n": [1]}, "n": [1.0]}, id="int-before-float"),
    pytest.param({"a": {"flags": [True]}, "flags": [1]}, id="bool-before-int"),
    pytest.param({"a": {"v": {"x": 0}}, "v": {"x": False}}, id="int-before-false"),
    pytest.param({"a": {"z": [0.0]}, "z": [-0.0]}, id="zero-before-negative-zero"),
    pytest.param({"evidence": {"evidence": {"evidence": [1]}}}, id="same-name-nested"),
    pytest.param({"x": [math.nan, math.inf, -math.inf]}, id="non-finite"),
    pytest.param(
        {"s": ['"evidence":[1]', "\\", "\u202e", "\x1b[31m"], "evidence": [2]}, id="quoted"
    ),
    pytest.param({"big": [10**30, 1e300, 2**53 + 1]}, id="big-numbers"),
    pytest.param({"empty": {}, "none": [], "null": None, "n": 3, "f": 2.5}, id="empties"),
    pytest.param({"origin": {"host": "ops1"}, "data": {"data": [1]}}, id="top-level-names"),
]


@pytest.mark.parametrize("data", PACK_ROWS)
@pytest.mark.parametrize("spaced", [False, True], ids=["compact", "spaced"])
def test_packed_data_writes_back_exactly_what_was_read(data: dict[str, Any], spaced: bool) -> None:
    raw = _probe_line(data)
    if spaced:
        raw = json.dumps(json.loads(raw), indent=None, separators=(", ", " : ")).encode()
    plain, _ = entry_from_line(raw, 1)
    packed, _ = entry_from_line(raw, 1, pack_probe_data=DataPacker().pack)
    assert plain is not None and packed is not None
    assert isinstance(packed.data, PackedData)
    assert packed.to_json_line() == plain.to_json_line()
    assert json.dumps(dict(packed.data)) == json.dumps(dict(plain.data))
    assert list(packed.data) == list(plain.data) and len(packed.data) == len(plain.data)


def test_packed_data_is_a_read_only_mapping_no_reader_can_change() -> None:
    data = {"area": "dns", "evidence": {"answers": ["10.0.0.1"]}, "count": 2}
    packer = DataPacker()
    packed = packer.pack(_probe_line(data).decode(), json.loads(_probe_line(data))["data"])
    assert isinstance(packed, PackedData)
    assert packed["area"] == "dns" and packed.get("missing", "d") == "d"
    assert "evidence" in packed and "missing" not in packed
    evidence = packed["evidence"]
    evidence["answers"].append("203.0.113.66")  # a reader's own copy
    assert packed["evidence"] == {"answers": ["10.0.0.1"]}
    with pytest.raises(KeyError):
        packed["missing"]
    with pytest.raises(TypeError):
        packed["area"] = "x"  # type: ignore[index]
    # Equal strings of the same key are shared between entries.
    again = packer.pack(_probe_line(data).decode(), json.loads(_probe_line(data))["data"])
    assert again["area"] is packed["area"]


def test_a_recovery_file_that_cannot_be_written_whole_is_not_left_behind(tmp_path: Path) -> None:
    """A real full disk (a small tmpfs, filled): LogWriteError, and no partial file remains."""
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        log_path = disk / "incident.jsonl"
        log = IncidentLog(log_path)
        for number in range(200):
            log.append("note", f"note {number} " + "x" * 200, author="alice")
        held = log.entries_so_far()
        fill(disk)
        with pytest.raises(LogWriteError, match="No space left on device") as raised:
            write_recovery(log_path, held)
        assert "nothing was kept" in str(raised.value)
        assert not list(disk.glob("incident.jsonl.recovered-*"))
        (disk / "filler").unlink()
        path = write_recovery(log_path, held)
        assert _lines(read_log(path).entries) == _lines(held)


def test_what_a_screen_took_at_open_is_checked_wherever_it_is_in_the_file(big_log: Path) -> None:
    """The tail and the state entries (log_glance) against the full read: all there in the
    same file, those after the cut named when an older copy took its place."""
    tail = read_tail(big_log, 300)
    state = read_state_entries(big_log).entries
    opened = union(tail, state, tail[:10])
    assert [e.seq for e in opened] == sorted({e.seq for e in [*tail, *state]})
    whole = read_log(big_log).entries
    missing, reach = missing_from(opened, whole)
    assert missing == [] and reach == BIG

    lines = big_log.read_bytes().splitlines(keepends=True)
    big_log.write_bytes(b"".join(lines[: BIG // 2]))
    missing, reach = missing_from(opened, read_log(big_log).entries)
    assert [e.seq for e in missing] == [e.seq for e in opened if e.seq > BIG // 2]
    assert reach == max(e.seq for e in opened if e.seq <= BIG // 2)
    loss = loss_among(missing)
    assert loss is not None and loss.last_seq == BIG and loss.count == len(missing)
    assert loss_among([]) is None

    # Entries not where seq N usually is (a line gone, so every later one moved up): found.
    shifted = [entry for entry in whole if entry.seq != opened[5].seq]
    missing, reach = missing_from(opened, shifted)
    assert missing == [opened[5]] and reach == len(shifted)
    # Another file with the same seqs is not the same log: nothing of it counts as held.
    other = [replace(entry, text=entry.text + " (other)") for entry in whole]
    missing, reach = missing_from(opened, other)
    assert len(missing) == len(opened) and reach == 0


# ---- the quick looks at a big log (log_glance) -----------------------------------------------


def _hand_written(seq: int, kind: str, spaced: bool) -> bytes:
    """A line not written by cockpit's own writer (another tool, a hand): same meaning."""
    record = {
        "kind": kind,
        "seq": seq,
        "ts": "2026-11-27T14:00:00.000Z",
        "author": 'eve "the editor"',
        "origin": {"host": "laptop", "note": "kind probe"},
        "text": "hand",
        "data": {"event": "title", "title": "by hand"} if kind == "system" else {},
    }
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(record, separators=separators).encode() + b"\n"


@pytest.mark.parametrize("spaced", [False, True], ids=["compact", "spaced"])
def test_the_quick_looks_agree_with_the_full_read(big_log: Path, spaced: bool) -> None:
    """read_state_entries gives every non-probe entry read_log gives (hand-written lines,
    a damaged line and a torn tail included), read_tail the last ones."""
    with big_log.open("ab") as handle:
        handle.write(_hand_written(BIG + 1, "system", spaced))
        handle.write(_hand_written(BIG + 2, "probe", spaced))
        handle.write(b'{"seq": broken\n')
        handle.write(_hand_written(BIG + 3, "note", spaced))
        handle.write(b'{"seq": 5004, "ts": "2026-11-27T15:00:00.000Z", "auth')  # torn tail
    whole = read_log(big_log).entries
    glance = read_state_entries(big_log)
    assert _lines(glance.entries) == _lines([e for e in whole if e.kind != "probe"])
    assert glance.lines == BIG + 4  # complete lines: the torn tail is not one
    for count in (1, 10, 2000):
        assert _lines(read_tail(big_log, count)) == _lines(whole[-count:])
    assert read_tail(big_log, 0) == []
    assert read_tail(big_log.with_name("none.jsonl"), 5) == []
    assert read_state_entries(big_log.with_name("none.jsonl")).entries == []


def test_state_entries_look_only_at_what_was_appended_to_the_same_list(tmp_path: Path) -> None:
    """The header and checklist recompute only when an entry that makes the state came."""
    path = tmp_path / "incident.jsonl"
    log = IncidentLog(path)
    log.append("system", "title", {"event": "title", "title": "T"}, author="alice")
    state = StateEntries()
    assert state.update(log.entries_so_far())
    log.append("probe", "r1 now answers secondary", {"area": "dns"}, author="cockpit")
    assert not state.update(log.entries_so_far())  # only a probe entry came
    log.append("note", "a note", author="bob")
    assert state.update(log.entries_so_far())
    assert [entry.text for entry in state.entries] == ["title", "a note"]
    assert not state.update(log.entries_so_far())  # nothing new
    # Another list (the file was read again): everything is looked at again.
    again = read_log(path).entries
    assert state.update(again)
    assert [entry.text for entry in state.entries] == ["title", "a note"]
    assert state.update([]) and state.entries == []
