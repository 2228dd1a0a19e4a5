"""A log that lost entries it had acknowledged (an older copy renamed over it, truncation,
deletion, another file of the same length) is refused by the next writer and reported as an
error by readers and the export; a torn tail stays a warning. Real files, real `cockpit`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.log_mark import LostEntries, mark_path
from tests.conftest import run_cockpit


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "incident.jsonl"
    log = IncidentLog(path)
    for text in ("one", "two", "three"):
        log.append("note", text, author="alice")
    return path


def _texts(path: Path) -> list[str]:
    return [entry.text for entry in read_log(path).entries]


def _older_copy(path: Path) -> None:
    """Keep a copy after seq 3, append seq 4 and 5, then rename the copy over the log."""
    copy = path.with_name("copy.jsonl")
    shutil.copyfile(path, copy)
    log = IncidentLog(path)
    log.append("note", "four", author="bob")
    log.append("note", "five", author="bob")
    os.replace(copy, path)


def _truncated(path: Path) -> None:
    IncidentLog(path).append("note", "four", author="bob")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))


def _deleted(path: Path) -> None:
    path.unlink()


def _same_length_other_entries(path: Path) -> None:
    other = path.with_name("other.jsonl")
    log = IncidentLog(other)
    for text in ("uno", "dos", "tres"):
        log.append("note", text, author="carol")
    os.replace(other, path)


LOSSES = [
    pytest.param(_older_copy, "now ends at seq 3, but entries up to seq 5", id="older-copy"),
    pytest.param(_truncated, "now ends at seq 2, but entries up to seq 4", id="truncated"),
    pytest.param(_deleted, "it is gone, but entries up to seq 3", id="deleted"),
    pytest.param(_same_length_other_entries, "its entry seq 3 is not the one", id="replaced"),
]


@pytest.mark.parametrize(("lose", "says"), LOSSES)
def test_the_next_writer_refuses_and_names_what_is_missing(
    log_path: Path,
    lose,
    says: str,  # noqa: ANN001
) -> None:
    lose(log_path)
    before = log_path.read_bytes() if log_path.exists() else None
    done = run_cockpit("log", str(log_path), "after the loss", "--author", "dave")
    assert done.returncode != 0
    assert says in done.stderr, done.stderr
    assert "nothing was written" in done.stderr
    assert "Traceback" not in done.stderr
    after = log_path.read_bytes() if log_path.exists() else None
    assert after == before  # not even an empty new log for a deleted one
    with pytest.raises(LostEntries):
        IncidentLog(log_path).append("note", "in process", author="dave")


@pytest.mark.parametrize(("lose", "says"), [p for p in LOSSES if p.id != "deleted"])
def test_readers_and_the_export_call_it_an_error(
    log_path: Path,
    lose,
    says: str,  # noqa: ANN001
) -> None:
    lose(log_path)
    result = read_log(log_path)
    # Readers compare the seqs, and the line at the mark's seq with the one acknowledged.
    said = "replaced" if "not the one" in says else "lost acknowledged entries"
    assert any(said in p.message and says in p.message for p in result.errors)
    export = run_cockpit("export", str(log_path))
    assert said in export.stdout and said in export.stderr
    assert "**Error: this timeline is incomplete.**" in export.stdout
    # Said first, before the summary a reader would otherwise take as complete.
    assert export.stdout.index("this timeline is incomplete") < export.stdout.index("## Summary")
    as_json = run_cockpit("export", str(log_path), "--format", "json")
    document = json.loads(as_json.stdout)
    assert any(says in reason for reason in document["incomplete"])
    assert any(
        p["severity"] == "error" and p["line"] is None and says in p["message"]
        for p in document["problems"]
    )


def test_an_export_of_a_whole_log_or_a_torn_tail_claims_no_loss(log_path: Path) -> None:
    """The incomplete section is for acknowledged entries lost, not for any warning."""
    with log_path.open("ab") as file:
        file.write(b'{"seq": 4, "ts": "2026-12-05T06:00:00.000Z", "auth')
    export = run_cockpit("export", str(log_path))
    assert "this timeline is incomplete" not in export.stdout
    assert "lost acknowledged" not in export.stdout
    assert "last line incomplete" in export.stdout  # the torn tail, as a warning
    document = json.loads(run_cockpit("export", str(log_path), "--format", "json").stdout)
    assert "incomplete" not in document
    assert not [p for p in document["problems"] if p["severity"] == "error"]


def test_a_torn_tail_is_still_a_warning_and_the_next_append_goes_on(log_path: Path) -> None:
    with log_path.open("ab") as file:
        file.write(b'{"seq": 4, "ts": "2026-12-05T06:00:00.000Z", "auth')
    entry = IncidentLog(log_path).append("note", "four", author="bob")
    assert entry.seq == 5  # seq 4 is the recovery entry naming the fragment
    result = read_log(log_path)
    assert not result.errors
    assert _texts(log_path)[-1] == "four"


def test_a_log_ahead_of_its_mark_is_fine(log_path: Path) -> None:
    """A writer died between its append and the mark, or one that keeps no mark wrote."""
    mark = mark_path(log_path)
    saved = mark.read_bytes()
    IncidentLog(log_path).append("note", "four", author="bob")
    mark.write_bytes(saved)  # the mark still says seq 3
    assert IncidentLog(log_path).append("note", "five", author="bob").seq == 5
    assert not read_log(log_path).errors


def test_a_garbled_mark_claims_nothing(log_path: Path) -> None:
    mark_path(log_path).write_bytes(b"\x00garbage")
    assert IncidentLog(log_path).append("note", "four", author="bob").seq == 4
    assert not read_log(log_path).errors
