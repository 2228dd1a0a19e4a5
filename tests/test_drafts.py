"""Drafts beside the log (cockpit.incident.drafts), on real files: kept whole and private,
listed back, discarded; every file that is not a usable draft is named with a reason, never a
traceback; a full disk (a real tmpfs) still takes a draft through the reserve; and a pending
write ends either written or kept, never both."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.compat import UTC
from cockpit.incident.drafts import (
    MAX_DRAFT_BYTES,
    RESERVE_BYTES,
    DraftError,
    PendingWrites,
    discard_draft,
    drafts_dir,
    list_drafts,
    reserve_space,
    save_draft,
)
from cockpit.incident.log import IncidentLog
from tests.full_disk import fill, small_tmpfs

WHEN = datetime(2026, 11, 27, 14, 31, 5, tzinfo=UTC)
DECISION = {"text": "Fail over to secondary", "why": "storage down", "approver": "carol",
            "target": "secondary"}  # fmt: skip


def keep(log: Path, kind: str = "decision", **fields: str) -> str:
    return save_draft(
        log, kind, fields or DECISION, author="alice", why="could not write: disk full", now=WHEN
    ).id


def test_a_draft_is_kept_private_and_durable_and_reads_back_as_typed(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    draft = save_draft(log, "decision", DECISION, author="alice", why="terminal went away")
    directory = drafts_dir(log)
    assert directory == tmp_path / "inc.jsonl.drafts"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (file,) = directory.iterdir()
    assert file.name == f"{draft.id}.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert json.loads(file.read_text())["fields"] == DECISION
    listing = list_drafts(log)
    assert listing.problems == ()
    assert listing.drafts == (draft,)
    assert listing.drafts[0].first_line() == "Fail over to secondary"
    assert not log.exists(), "a draft never creates or touches the log"


def test_drafts_list_oldest_first_and_discard_removes_one(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    early = save_draft(log, "severity", {"text": "SEV1"}, author="a", why="x", now=WHEN)
    late = save_draft(
        log, "role", {"text": "commander"}, author="b", why="y", now=WHEN.replace(minute=40)
    )
    assert [d.id for d in list_drafts(log).drafts] == [early.id, late.id]
    assert discard_draft(log, early.id) is True
    assert discard_draft(log, early.id) is False  # already gone: not an error
    assert [d.id for d in list_drafts(log).drafts] == [late.id]


def test_no_drafts_directory_is_no_drafts(tmp_path: Path) -> None:
    assert list_drafts(tmp_path / "inc.jsonl").drafts == ()
    assert discard_draft(tmp_path / "inc.jsonl", "20261127T143105Z-0a0b0c0d") is False


@pytest.mark.parametrize("bad_id", ["../inc.jsonl", "x", "20261127T143105Z-0a0b0c0d/../y", ""])
def test_discard_takes_only_a_draft_id(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(DraftError, match="not a draft id"):
        discard_draft(tmp_path / "inc.jsonl", bad_id)


def test_what_cannot_be_kept_is_refused_with_a_reason(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    with pytest.raises(DraftError, match="larger than"):
        save_draft(log, "note", {"text": "x" * MAX_DRAFT_BYTES}, author="a", why="w")
    with pytest.raises(DraftError, match="kind"):
        save_draft(log, "../evil", {"text": "x"}, author="a", why="w")
    with pytest.raises(DraftError, match="typed fields"):
        save_draft(log, "note", {}, author="a", why="w")


# ---- files that are not usable drafts: a clear reason each, never a traceback --------------

Plant = Callable[[Path, Path], None]


def _garbage(directory: Path, _log: Path) -> None:
    (directory / "20261127T143105Z-00000001.json").write_bytes(b'{"format": "cockpit-dr\xff')


def _not_json_object(directory: Path, _log: Path) -> None:
    (directory / "20261127T143105Z-00000002.json").write_text("[1, 2]")


def _foreign_format(directory: Path, _log: Path) -> None:
    (directory / "20261127T143105Z-00000003.json").write_text('{"format": "other", "id": 1}')


def _renamed(directory: Path, log: Path) -> None:
    draft_id = keep(log)
    os.rename(directory / f"{draft_id}.json", directory / "20261127T143105Z-00000004.json")


def _field_not_text(directory: Path, log: Path) -> None:
    draft_id = keep(log)
    path = directory / f"{draft_id}.json"
    data = json.loads(path.read_text())
    data["fields"]["text"] = {"nested": True}
    path.write_text(json.dumps(data))


def _other_log(directory: Path, log: Path) -> None:
    keep(log.with_name("other.jsonl"))
    (source,) = drafts_dir(log.with_name("other.jsonl")).iterdir()
    os.rename(source, directory / source.name)


def _symlink(directory: Path, _log: Path) -> None:
    os.symlink("/etc/passwd", directory / "20261127T143105Z-00000005.json")


def _fifo(directory: Path, _log: Path) -> None:
    os.mkfifo(directory / "20261127T143105Z-00000006.json")  # would block a plain open()


def _huge(directory: Path, _log: Path) -> None:
    with open(directory / "20261127T143105Z-00000007.json", "wb") as file:
        file.truncate(MAX_DRAFT_BYTES + 1)


def _stray(directory: Path, _log: Path) -> None:
    (directory / "notes.txt").write_text("mine")


BAD_FILES: list[tuple[str, Plant, str]] = [
    ("damaged-json", _garbage, "not a readable draft (damaged"),
    ("json-not-object", _not_json_object, "not a cockpit draft"),
    ("foreign-format", _foreign_format, "not a cockpit draft"),
    ("id-mismatch", _renamed, "id does not match its file name"),
    ("field-not-text", _field_not_text, "field text is not text"),
    ("another-log", _other_log, "a draft of another log ('other.jsonl')"),
    ("symlink", _symlink, "a symlink, not a draft: not followed"),
    ("fifo", _fifo, "not a regular file"),
    ("oversized", _huge, "more than a draft can be"),
    ("stray-name", _stray, "not a draft (unexpected name)"),
]


@pytest.mark.parametrize(("plant", "reason"), [row[1:] for row in BAD_FILES],
                         ids=[row[0] for row in BAD_FILES])  # fmt: skip
def test_a_file_that_is_not_a_usable_draft_is_named_with_why(
    tmp_path: Path, plant: Plant, reason: str
) -> None:
    log = tmp_path / "inc.jsonl"
    good = keep(log, "severity", text="SEV1")
    directory = drafts_dir(log)
    plant(directory, log)
    listing = list_drafts(log)
    assert [d.id for d in listing.drafts] == [good], "the good draft is still offered"
    (problem,) = listing.problems
    assert problem.startswith(str(directory) + "/")
    assert reason in problem


def test_a_symlinked_drafts_directory_is_never_followed(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.symlink(elsewhere, drafts_dir(log))
    with pytest.raises(DraftError, match="not a directory"):
        keep(log)
    assert list(elsewhere.iterdir()) == []
    (problem,) = list_drafts(log).problems
    assert "not a directory (a symlink or a file)" in problem


def test_a_drafts_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    keep(log)
    os.chmod(drafts_dir(log), 0o777)
    (problem,) = list_drafts(log).problems
    assert "writable by others (mode 0777)" in problem
    with pytest.raises(DraftError, match="writable by others"):
        keep(log)


def test_a_draft_file_left_by_a_killed_save_is_never_read(tmp_path: Path) -> None:
    log = tmp_path / "inc.jsonl"
    keep(log)
    (drafts_dir(log) / ".20261127T143105Z-00000009.json.4242.tmp").write_text('{"half')
    listing = list_drafts(log)
    assert len(listing.drafts) == 1 and listing.problems == ()


# ---- a full disk (a real tmpfs, filled) --------------------------------------------------


def test_a_full_disk_still_takes_a_draft_through_the_reserve(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        log = disk / "inc.jsonl"
        IncidentLog(log).append("note", "opened", author="alice")
        assert reserve_space(log) is None
        assert (drafts_dir(log) / ".reserve").stat().st_size == RESERVE_BYTES
        fill(disk)
        with pytest.raises(OSError):
            (disk / "one-more").write_bytes(b"x" * 8192)
        draft = save_draft(log, "decision", DECISION, author="alice", why="could not write")
        assert [d.id for d in list_drafts(log).drafts] == [draft.id]
        assert not (drafts_dir(log) / ".reserve").exists(), "the reserve was given back"
        # The reserve is spent once the disk is full again: a draft then says why it is not kept.
        fill(disk)
        with pytest.raises(DraftError, match="No space left on device"):
            save_draft(log, "note", {"text": "more"}, author="alice", why="x")
        assert [d.id for d in list_drafts(log).drafts] == [draft.id]
        assert not [p for p in drafts_dir(log).iterdir() if p.name.endswith(".tmp")]


# ---- pending writes: written or kept, never both ------------------------------------------


def test_quitting_takes_only_writes_that_have_not_started() -> None:
    pending = PendingWrites()
    started = pending.begin("decision", {"text": "a"}, "decision")
    waiting = pending.begin("severity", {"text": "SEV1"}, "severity")
    assert pending.start_writing(started)
    taken = pending.take_waiting()
    assert [p.kind for p in taken] == ["severity"]
    assert pending.start_writing(waiting) is False, "a taken write must not be written"
    assert pending.end(waiting) is None
    assert pending.end(started) is not None  # the writer still owns the one it started


def test_a_write_and_a_quit_racing_end_with_exactly_one_owner() -> None:
    def race() -> tuple[bool, bool]:
        pending = PendingWrites()
        token = pending.begin("note", {"text": "x"}, "note")
        written: list[bool] = []
        writer = threading.Thread(target=lambda: written.append(pending.start_writing(token)))
        writer.start()
        kept = bool(pending.take_waiting())
        writer.join(5)
        return written == [True], kept

    for _ in range(200):
        written, kept = race()
        assert written != kept


def test_drafts_module_does_not_import_textual() -> None:
    code = (
        "import sys, cockpit.incident.drafts\n"
        "print(any(m.startswith('textual') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
