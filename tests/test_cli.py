"""The `cockpit` command as a user types it: exit codes, messages, the entries it writes."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.compat import UTC
from cockpit.incident.log import read_log
from tests.conftest import PROJECT_ROOT, run_cockpit

CONFIG = """\
[incident]
author = "config-author"

[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cockpit.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No config from the developer's machine leaks into a test.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCKPIT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("USER", "env-user")


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("cockpit ")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("config", "log", "export"):
        assert command in out


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    done = run_cockpit("--version")
    assert done.returncode == 0 and done.stdout.startswith("cockpit ")
    script = Path(PROJECT_ROOT / ".venv" / "bin" / "cockpit")
    if script.exists():
        import subprocess

        assert subprocess.run([str(script), "--version"], capture_output=True).returncode == 0


def test_log_creates_the_file_and_prints_seq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "incidents" / "eu.jsonl"
    assert main(["log", str(log_path), "queue growing on mx1"]) == 0
    assert capsys.readouterr().out == "1\n"
    assert main(["log", str(log_path), "second note", "--author", "bob"]) == 0
    assert capsys.readouterr().out == "2\n"
    entries = read_log(log_path).entries
    assert [(e.seq, e.kind, e.author, e.text) for e in entries] == [
        (1, "note", "env-user", "queue growing on mx1"),
        (2, "note", "bob", "second note"),
    ]
    assert entries[0].origin.get("host")


def test_log_text_may_come_after_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "late.jsonl"
    assert main(["log", str(log_path), "--role", "commander", "taking over from dana"]) == 0
    assert main(["log", str(log_path), "--decision", "--why", "EU down", "Fail over to US"]) == 0
    entries = read_log(log_path).entries
    assert [(e.kind, e.text) for e in entries] == [
        ("system", "taking over from dana"),
        ("decision", "Fail over to US"),
    ]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["log", str(log_path), "--role", "scribe", "two", "words"])
    assert stop.value.code == 2
    assert "unrecognized arguments: two words" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["log", str(log_path), "first", "--lesson", "second"])
    assert "unrecognized arguments: second" in capsys.readouterr().err
    assert len(read_log(log_path).entries) == 2


def test_author_from_config(config_file: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    assert main(["log", str(log_path), "hello", "--config", str(config_file)]) == 0
    assert read_log(log_path).entries[0].author == "config-author"


def test_decision_with_target_region(config_file: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    code = main(
        [
            "log",
            str(log_path),
            "Fail over to secondary",
            "--decision",
            "--why",
            "primary storage down",
            "--approver",
            "carol",
            "--target-region",
            "secondary",
            "--config",
            str(config_file),
        ]
    )
    assert code == 0
    entry = read_log(log_path).entries[0]
    assert entry.kind == "decision"
    assert entry.data == {
        "why": "primary storage down",
        "approver": "carol",
        "target_region": "secondary",
        "previous_region": "primary",
    }


def test_unknown_target_region_is_refused(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "a.jsonl"
    code = main(
        [
            "log",
            str(log_path),
            "go",
            "--decision",
            "--target-region",
            "tertiary",
            "--config",
            str(config_file),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "tertiary" in err and "primary, secondary" in err
    assert not log_path.exists()


def test_phase_then_correction(tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    now = datetime.now(UTC)
    first = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    second = (now - timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        main(["log", str(log_path), "users report bounces", "--phase", "impact", "--at", first])
        == 0
    )
    assert (
        main(["log", str(log_path), "earlier than we thought", "--phase", "impact", "--at", second])
        == 0
    )
    phase, correction = read_log(log_path).entries
    assert phase.kind == "phase" and phase.data["phase"] == "impact"
    assert phase.data["at"] == first.replace("Z", ".000Z")
    assert correction.kind == "correction"
    assert correction.data["corrects_seq"] == 1
    assert correction.data["at"] == second.replace("Z", ".000Z")
    assert correction.data["previous_at"] == phase.data["at"]


def test_phase_with_clock_time_today(tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    now = datetime.now(UTC)
    if (now.hour, now.minute, now.second) >= (23, 59, 58):  # HH:MM must stay in today
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    earlier = now - timedelta(minutes=2)
    if earlier.date() != now.date():  # just after midnight: the current minute, then
        earlier = now.replace(second=0, microsecond=0)
    assert (
        main(["log", str(log_path), "--phase", "detected", "--at", earlier.strftime("%H:%M")]) == 0
    )
    entry = read_log(log_path).entries[0]
    assert entry.data["at"] == earlier.strftime("%Y-%m-%dT%H:%M:00.000Z")
    assert "detected" in entry.text


def test_lesson_and_title(tmp_path: Path) -> None:
    log_path = tmp_path / "a.jsonl"
    assert main(["log", str(log_path), "--title", "EU mail outage"]) == 0
    assert main(["log", str(log_path), "TTL of MX was 1 h: lower it to 300 s", "--lesson"]) == 0
    title, lesson = read_log(log_path).entries
    assert title.kind == "system" and title.data["title"] == "EU mail outage"
    assert lesson.data["tags"] == ["lesson"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--why", "because"], "--why only go with --decision"),
        (["--target-region", "x"], "--target-region only go with --decision"),
        (["--decision", "--phase", "routed"], "two entries"),
        (["--phase", "lunch"], "unknown phase 'lunch'"),
        (["--at", "25:00"], "not a time of day"),
        (["--at", "yesterday"], "not a time"),
        (["--at", "2999-01-01T00:00:00Z"], "in the future"),
        (["--at", "2026-11-27T10:00:00"], "not a time"),
    ],
)
def test_bad_log_flags_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    log_path = tmp_path / "a.jsonl"
    assert main(["log", str(log_path), "text", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not log_path.exists()


def test_empty_text_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", str(tmp_path / "a.jsonl"), "   "]) == 2
    assert "TEXT is required" in capsys.readouterr().err


def test_log_into_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cockpit("log", str(tmp_path), "note")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(tmp_path) in done.stderr


def test_the_screen_on_a_fifo_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    """`cockpit --incident FIFO` waited for a writer forever before any screen came up."""
    fifo = tmp_path / "inc.jsonl"
    os.mkfifo(fifo)
    done = run_cockpit("--incident", str(fifo), timeout=20)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert f"--incident {fifo}: not a regular file; name a log file" in done.stderr


def test_export_markdown_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_path = tmp_path / "eu-outage.jsonl"
    main(["log", str(log_path), "first"])
    main(["log", str(log_path), "declared", "--phase", "declared"])
    capsys.readouterr()
    assert main(["export", str(log_path)]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# Post-incident review: eu")
    assert "first" in markdown
    out_file = tmp_path / "out" / "t.md"
    out_file.parent.mkdir()
    assert main(["export", str(log_path), "-o", str(out_file)]) == 0
    assert out_file.read_text() == markdown
    assert main(["export", str(log_path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in document["entries"]] == [1, 2]


def test_export_lists_a_few_problems_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "damaged.jsonl"
    main(["log", str(log_path), "first"])
    lines = log_path.read_bytes().splitlines()
    record = json.loads(lines[0])
    for seq in range(2, 27):
        lines.append(json.dumps({**record, "seq": seq, "kind": f"vote{seq}"}).encode())
    lines[5:5] = [b"{damaged", b"[1]"]  # two errors, among the warnings
    log_path.write_bytes(b"\n".join(lines) + b"\n")
    capsys.readouterr()
    assert main(["export", str(log_path), "-o", str(tmp_path / "review.md")]) == 0
    said = capsys.readouterr().err.splitlines()
    assert sum("unknown kind" in line for line in said) == 10
    assert sum("damaged line" in line for line in said) == 2
    assert said[-2].endswith(
        'and 15 more warnings, each listed in the review\'s "Log integrity" section'
    )
    review = (tmp_path / "review.md").read_text()
    assert all(f"unknown kind 'vote{seq}'" in review for seq in range(2, 27))


def test_export_refuses_to_overwrite_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "a.jsonl"
    main(["log", str(log_path), "first"])
    before = log_path.read_bytes()
    assert main(["export", str(log_path), "-o", str(log_path)]) == 2
    assert "incident log itself" in capsys.readouterr().err
    assert log_path.read_bytes() == before


def test_export_of_a_missing_log(tmp_path: Path) -> None:
    done = run_cockpit("export", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "nope.jsonl" in done.stderr and "Traceback" not in done.stderr


def test_config_check_ok_and_errors(tmp_path: Path, config_file: Path) -> None:
    done = run_cockpit("config", "check", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace('name = "secondary"', 'name = "secondary"\nsendng_ips = []'))
    done = run_cockpit("config", "check", "--config", str(bad))
    assert done.returncode == 2
    assert "region[1]" in done.stderr and "sending_ips" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_check_finds_the_file_by_search(tmp_path: Path, config_file: Path) -> None:
    done = run_cockpit(
        "config", "check", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "x")}
    )
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cockpit(
        "config",
        "check",
        cwd=elsewhere,
        env={"XDG_CONFIG_HOME": str(tmp_path / "x"), "COCKPIT_CONFIG": str(config_file)},
    )
    assert done.returncode == 0, done.stderr


def test_config_check_without_any_config(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cockpit(
        "config",
        "check",
        cwd=empty,
        env={"XDG_CONFIG_HOME": str(tmp_path / "x"), "COCKPIT_CONFIG": ""},
    )
    assert done.returncode == 2
    assert "no config file found" in done.stderr


def test_example_config_checks_ok(project_root: Path) -> None:
    done = run_cockpit("config", "check", "--config", str(project_root / "config.example.toml"))
    assert done.returncode == 0, done.stderr


def test_control_characters_in_arguments_never_reach_the_terminal(tmp_path: Path) -> None:
    done = run_cockpit("log", str(tmp_path / "a.jsonl"), "x", "--phase", "\x1b]0;pwned\x07")
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
