"""Timeline lines: a backdated phase shows its own time, not only the time it was written."""

from __future__ import annotations

from pathlib import Path

from cockpit.incident.log import IncidentLog
from cockpit.ui.timeline_view import entry_line
from tests.conftest import run_cockpit


def lines_of(path: Path) -> list[str]:
    return [entry_line(entry).plain for entry in IncidentLog(path).read().entries]


def test_a_backdated_phase_shows_its_own_time(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    log.append(
        "phase",
        "the storage went away",
        {"phase": "impact", "at": "2000-01-01T09:15:30.000Z"},
        author="bob",
    )
    line = lines_of(path)[0]
    assert line.endswith("the storage went away [impact at 2000-01-01 09:15:30]"), line


def test_a_phase_at_its_writing_time_keeps_the_short_form(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    logged = run_cockpit("log", str(path), "--phase", "declared", "--author", "b")
    assert logged.returncode == 0, logged.stderr
    (line,) = lines_of(path)
    assert line.endswith("[declared]"), line


def test_cockpit_log_at_shows_the_typed_time_the_same_day(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    log.append("note", "first", author="bob")
    first = log.read().entries[0].ts
    at = first.replace(microsecond=0) - (first - first.replace(hour=0, minute=0, second=0))
    # Midnight of the day the log was written: same day, a different time.
    logged = run_cockpit(
        "log",
        str(path),
        "--phase",
        "impact",
        "--at",
        at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--author",
        "bob",
        "mail stopped",
    )
    assert logged.returncode == 0, logged.stderr
    line = lines_of(path)[-1]
    assert "mail stopped" in line and line.endswith("[impact at 00:00:00]"), line
    # A correction of the phase shows the corrected time the same way. It lies between midnight
    # and the first entry, so it is in the past whenever the test runs (just after midnight too).
    corrected = at + (first - at) / 2
    logged = run_cockpit(
        "log",
        str(path),
        "--phase",
        "impact",
        "--at",
        corrected.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--author",
        "bob",
        "earlier than we thought",
    )
    assert logged.returncode == 0, logged.stderr
    line = lines_of(path)[-1]
    assert line.endswith(f"[impact at {corrected:%H:%M:%S}]"), line


def test_a_key_entry_and_a_lesson_are_marked_in_words(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "incident.jsonl")
    log.append("note", "MX moved", {"tags": ["key"]}, author="a")
    log.append("note", "lower the TTL", {"tags": ["lesson"]}, author="a")
    log.append("note", "plain", {"tags": ["[red]key[/red]"]}, author="a")
    key, lesson, plain = (entry_line(entry).plain for entry in log.read().entries)
    assert "note [key] a: MX moved" in key
    assert "note [lesson] a: lower the TTL" in lesson
    assert "[key]" not in plain and "note a: plain" in plain


def test_review_marks_and_an_action_items_fields_are_shown_in_words(tmp_path: Path) -> None:
    log = IncidentLog(tmp_path / "incident.jsonl")
    log.append("note", "firmware update", {"tags": ["key", "cause"]}, author="a")
    log.append("note", "TTL was 1 h", {"tags": ["factor"]}, author="a")
    log.append("note", "12k deferred", {"tags": ["impact"]}, author="a")
    log.append("note", "drill paid off", {"tags": ["lesson", "went-well"]}, author="a")
    log.append("note", "pager was silent", {"tags": ["lesson", "went-badly"]}, author="a")
    log.append("note", "low traffic", {"tags": ["lesson", "lucky"]}, author="a")
    action = {"owner": "carol\x1b[31m", "due": "2026-12-15", "ticket": "OPS-1"}
    log.append("note", "alarm on storage", {"action": action, "tags": ["action"]}, author="a")
    log.append("note", "bare action", {"action": {}, "tags": ["action"]}, author="a")
    log.append("note", "odd action", {"action": ["x"], "tags": ["action"]}, author="a")
    lines = [entry_line(entry).plain for entry in log.read().entries]
    assert "note [key] [cause] a: firmware update" in lines[0]
    assert "note [factor] a: TTL was 1 h" in lines[1]
    assert "note [impact] a: 12k deferred" in lines[2]
    assert "note [lesson] [went well] a: drill paid off" in lines[3]
    assert "note [lesson] [went badly] a: pager was silent" in lines[4]
    assert "note [lesson] [lucky] a: low traffic" in lines[5]
    assert lines[6].endswith(
        "note [action] a: alarm on storage (owner carol\u241b[31m, due 2026-12-15, ticket OPS-1)"
    )
    assert lines[7].endswith("note [action] a: bare action")
    assert lines[8].endswith("note [action] a: odd action")
