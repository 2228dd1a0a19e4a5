"""`cockpit log` for the post-incident review: --cause, --factor, --impact, --went and --action
(with --owner, --due, --ticket) as a user types them: the entries they write, how they combine
with --star and --lesson, and every refusal, with its message and exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cockpit.cli import main
from cockpit.incident.log import read_log
from tests.conftest import run_cockpit


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No config from the developer's machine leaks into a test.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCKPIT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("USER", "env-user")


def logged(log_path: Path, *argv: str) -> tuple[str, str, dict[str, Any]]:
    """Run `cockpit log LOG ARGV`, which must succeed: the (kind, text, data) it wrote."""
    assert main(["log", str(log_path), *argv]) == 0
    entry = read_log(log_path).entries[-1]
    return entry.kind, entry.text, dict(entry.data)


@pytest.mark.parametrize(
    ("flags", "tags"),
    [
        (["--cause"], ["cause"]),
        (["--factor"], ["factor"]),
        (["--impact"], ["impact"]),
        (["--went", "well"], ["lesson", "went-well"]),
        (["--went", "badly"], ["lesson", "went-badly"]),
        (["--went", "lucky"], ["lesson", "lucky"]),
        (["--went", " Lucky "], ["lesson", "lucky"]),
    ],
)
def test_each_review_flag_files_a_note_under_its_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], tags: list[str]
) -> None:
    log_path = tmp_path / "inc.jsonl"
    assert logged(log_path, "storage firmware update at 13:48", *flags) == (
        "note",
        "storage firmware update at 13:48",
        {"tags": tags},
    )
    assert capsys.readouterr().out == "1\n"


def test_an_action_item_with_and_without_its_fields(tmp_path: Path) -> None:
    log_path = tmp_path / "inc.jsonl"
    assert logged(log_path, "lower the MX TTL to 300 s", "--action") == (
        "note",
        "lower the MX TTL to 300 s",
        {"action": {}, "tags": ["action"]},
    )
    full = ["--owner", " carol ", "--due", "2026-12-15", "--ticket", "OPS-1234"]
    assert logged(log_path, "--action", *full, "add a storage alarm") == (
        "note",
        "add a storage alarm",
        {
            "action": {"owner": "carol", "due": "2026-12-15", "ticket": "OPS-1234"},
            "tags": ["action"],
        },
    )
    _kind, _text, data = logged(
        log_path, "page the storage team", "--action", "--due", "2028-02-29"
    )
    assert data == {"action": {"due": "2028-02-29"}, "tags": ["action"]}  # a leap day
    _kind, _text, data = logged(
        log_path, "runbook link", "--action", "--ticket", "https://tracker.example/OPS-9"
    )
    assert data["action"] == {"ticket": "https://tracker.example/OPS-9"}


@pytest.mark.parametrize(
    ("flags", "tags"),
    [
        (["--star", "--cause"], ["key", "cause"]),
        (["--cause", "--star"], ["key", "cause"]),
        (["--lesson", "--factor"], ["lesson", "factor"]),
        (["--lesson", "--went", "well"], ["lesson", "went-well"]),  # "lesson" once
        (["--star", "--went", "badly"], ["key", "lesson", "went-badly"]),
        (["--star", "--lesson", "--impact"], ["lesson", "key", "impact"]),
        (["--star", "--action"], ["key", "action"]),
    ],
)
def test_star_and_lesson_combine_with_a_review_flag(
    tmp_path: Path, flags: list[str], tags: list[str]
) -> None:
    _kind, _text, data = logged(tmp_path / "inc.jsonl", "text", *flags)
    assert data["tags"] == tags


def test_star_and_lesson_keep_their_own_behaviour(tmp_path: Path) -> None:
    log_path = tmp_path / "inc.jsonl"
    assert logged(log_path, "MX moved", "--star") == ("note", "MX moved", {"tags": ["key"]})
    assert logged(log_path, "keep the TTL low", "--lesson") == (
        "note",
        "keep the TTL low",
        {"tags": ["lesson"]},
    )
    kind, _text, data = logged(log_path, "mail flows", "--phase", "restored", "--star")
    assert kind == "phase" and data["tags"] == ["key"]


def test_a_review_note_may_be_backdated_and_text_may_follow_the_options(tmp_path: Path) -> None:
    log_path = tmp_path / "inc.jsonl"
    _kind, text, data = logged(
        log_path, "--impact", "--at", "2026-11-27T13:50:00Z", "12k messages deferred"
    )
    assert text == "12k messages deferred"
    assert data == {"at": "2026-11-27T13:50:00.000Z", "tags": ["impact"]}
    _kind, text, data = logged(log_path, "--action", "--owner", "dana", "rotate the DKIM key")
    assert (text, data["action"]) == ("rotate the DKIM key", {"owner": "dana"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # --owner, --due and --ticket belong to an action item
        (["text", "--owner", "carol"], "--owner only go with --action"),
        (
            ["text", "--due", "2026-12-15", "--ticket", "OPS-1"],
            "--due, --ticket only go with --action",
        ),
        (["text", "--cause", "--owner", "carol"], "--owner only go with --action"),
        # the due date: a real calendar date, written YYYY-MM-DD
        (
            ["text", "--action", "--due", "2026-02-30"],
            "--due: '2026-02-30' is not a calendar date: February 2026 has days 1 to 28",
        ),
        (
            ["text", "--action", "--due", "2026-04-31"],
            "--due: '2026-04-31' is not a calendar date: April 2026 has days 1 to 30",
        ),
        (
            ["text", "--action", "--due", "2026-13-01"],
            "--due: '2026-13-01' is not a calendar date: there is no month 13",
        ),
        (
            ["text", "--action", "--due", "0000-01-01"],
            "--due: '0000-01-01' is not a calendar date: there is no year 0",
        ),
        (
            ["text", "--action", "--due", "15/12/2026"],
            "--due: '15/12/2026' is not a date written YYYY-MM-DD (such as 2026-12-15)",
        ),
        (
            ["text", "--action", "--due", "2026-12-1"],
            "--due: '2026-12-1' is not a date written YYYY-MM-DD (such as 2026-12-15)",
        ),
        (
            ["text", "--action", "--due", "next friday"],
            "--due: 'next friday' is not a date written YYYY-MM-DD (such as 2026-12-15)",
        ),
        # owner and ticket: given means not blank, one plain line, bounded
        (
            ["text", "--action", "--owner", " "],
            "--owner is empty: give a value, or leave --owner out",
        ),
        (
            ["text", "--action", "--ticket", ""],
            "--ticket is empty: give a value, or leave --ticket out",
        ),
        (
            ["text", "--action", "--owner", "x" * 101],
            "--owner: 101 characters is too long; expected at most 100",
        ),
        (
            ["text", "--action", "--ticket", "T" * 201],
            "--ticket: 201 characters is too long; expected at most 200",
        ),
        (
            ["text", "--action", "--owner", "carol\nmallory"],
            "--owner: 'carol ↵ mallory' holds a line break, a control or an invisible"
            " character; expected one line of plain text",
        ),
        (
            ["text", "--action", "--ticket", "OPS-1\u202e"],
            "--ticket: 'OPS-1\ufffd' holds a line break",
        ),
        # --went names a heading
        (
            ["text", "--went", "meh"],
            "--went: unknown heading 'meh'; expected one of well, badly, lucky",
        ),
        (["text", "--went", ""], "--went: unknown heading ''; expected one of well, badly, lucky"),
        # one section of the review per note
        (
            ["text", "--cause", "--factor"],
            "--cause and --factor: a note goes under one section of the review;"
            " log one note for each",
        ),
        (
            ["text", "--impact", "--went", "well", "--action"],
            "--impact and --went and --action: a note goes under one section of the review",
        ),
        # a review note is a note, not a decision, phase, title, role or severity
        (
            ["text", "--cause", "--decision"],
            "--cause files a note for the review and --decision makes an entry of its own:"
            " log them one at a time",
        ),
        (
            ["text", "--factor", "--phase", "detected"],
            "--factor files a note for the review and --phase makes an entry of its own",
        ),
        (
            ["text", "--impact", "--phase", "impact"],
            "--impact files a note for the review and --phase makes an entry of its own",
        ),
        (
            ["--went", "well", "--title", "EU outage"],
            "--went files a note for the review and --title makes an entry of its own",
        ),
        (
            ["text", "--action", "--role", "commander"],
            "--action files a note for the review and --role makes an entry of its own",
        ),
        (
            ["text", "--action", "--severity", "SEV2"],
            "--action files a note for the review and --severity makes an entry of its own",
        ),
        # TEXT says what the note is
        (["--cause"], "--cause needs TEXT: what triggered the incident, or its root cause"),
        (["  ", "--factor"], "--factor needs TEXT: what contributed"),
        (["--impact"], "--impact needs TEXT: who was affected, and how much"),
        (["--went", "lucky"], "--went needs TEXT: the lesson"),
        (["--action", "--owner", "carol"], "--action needs TEXT: what is to be done"),
    ],
)
def test_bad_review_flags_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    log_path = tmp_path / "a.jsonl"
    assert main(["log", str(log_path), *argv]) == 2
    err = capsys.readouterr().err
    assert f"cockpit: error: {message}" in err, err
    assert "Traceback" not in err
    assert not log_path.exists()


def test_a_refused_review_flag_leaves_an_existing_log_as_it_was(tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    logged(log_path, "first")
    before = log_path.read_bytes()
    assert main(["log", str(log_path), "text", "--action", "--due", "2026-02-29"]) == 2
    assert log_path.read_bytes() == before


def test_control_characters_in_review_values_never_reach_the_terminal(tmp_path: Path) -> None:
    for argv in (
        ["--action", "--owner", "\x1b]0;pwned\x07"],
        ["--action", "--due", "\x1b[2J2026"],
        ["--went", "\x1b]52;c;ZXZpbA==\x07"],
    ):
        done = run_cockpit("log", str(tmp_path / "a.jsonl"), "x", *argv)
        assert done.returncode == 2, done.stderr
        assert "\x1b" not in done.stderr and "\x07" not in done.stderr
        assert "Traceback" not in done.stderr


def test_log_help_lists_the_review_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["log", "--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "post-incident review:" in out
    for shown in (
        "--cause",
        "--factor",
        "--impact",
        "--went {well,badly,lucky}",
        "--action",
        "--owner NAME",
        "--due YYYY-MM-DD",
        "--ticket ID",
        "the trigger or root cause",
        "a contributing factor",
        "who owns the action item (with --action)",
    ):
        assert shown in out, shown
