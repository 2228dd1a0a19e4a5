"""Every CLI error carries exactly one "cockpit: error: " prefix (once "cockpit: error: cockpit:
no config file found"), and `cockpit config check` refuses a theme that does not exist."""

from __future__ import annotations

from pathlib import Path
from subprocess import CompletedProcess

import pytest

from cockpit.errors import ConfigProblem
from tests.conftest import PROJECT_ROOT, run_cockpit

GOOD = """\
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    # PYTHONPATH: this checkout's cockpit, whatever the current directory; no config is found
    # by the search (empty cwd, empty XDG directory, no $COCKPIT_CONFIG).
    quiet = {"XDG_CONFIG_HOME": str(cwd / "xdg"), "COCKPIT_CONFIG": ""}
    return run_cockpit(
        *args,
        cwd=cwd,
        env={"PYTHONPATH": str(PROJECT_ROOT), **quiet, **(env or {})},
        stdin="",
        timeout=30,
    )


def assert_one_prefix(done: CompletedProcess[str]) -> None:
    lines = done.stderr.splitlines()
    assert lines, "no error message"
    for line in lines:
        if line.startswith("usage:") or line.startswith(" "):
            continue
        assert line.startswith("cockpit: error: "), line
        assert line.count("cockpit:") == 1, line
        assert "error: error" not in line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected_code", "says"),
    [
        (("config", "check"), 2, "no config file found; looked in: --config FILE"),
        (("check",), 3, "no config file found"),
        (("check", "--json"), 3, "no config file found"),
        (("config", "check", "--config", "bad.toml"), 2, "bad.toml:1:8: not valid TOML"),
        (("check", "--config", "bad.toml"), 3, "bad.toml:1:8: not valid TOML"),
        (("--config", "bad.toml"), 2, "bad.toml:1:8: not valid TOML"),
        (("log", "x.jsonl", "hi", "--config", "bad.toml"), 2, "bad.toml:1:8"),
        (("config", "check", "--config", "missing.toml"), 2, "missing.toml: config file not found"),
        (("log", "adir", "hi"), 2, "adir: cannot read the incident log"),
        (("log", "x.jsonl", "hi", "--at", "soon"), 2, "--at: 'soon' is not a time"),
        (("export", "nothere.jsonl"), 2, "no incident log at nothere.jsonl"),
        (("export", "adir"), 2, "adir: cannot read the incident log"),
        (("export", "x.jsonl", "-o", ""), 2, "-o: expected a file name (or - for standard output)"),
        (("replay", "nothere.jsonl"), 2, "nothere.jsonl: no such incident log"),
        (("replay", "adir"), 2, "adir: is a directory, not a regular file; name an incident log"),
        (("--incident", "adir"), 2, "--incident adir: that is a directory"),
        (("check", "--only", "nonsense"), 3, "--only: expected a comma-separated list"),
    ],
)
def test_every_error_has_one_prefix(
    tmp_path: Path, args: tuple[str, ...], expected_code: int, says: str
) -> None:
    (tmp_path / "bad.toml").write_text("[domain\n", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    done = run(*args, cwd=tmp_path)
    assert done.returncode == expected_code, done.stderr
    assert_one_prefix(done)
    assert f"cockpit: error: {says}" in done.stderr, done.stderr
    assert not (tmp_path / "x.jsonl").exists()  # nothing was written on the way out


def test_a_problem_without_a_file_reads_as_its_message() -> None:
    assert str(ConfigProblem("", "", "no config file found")) == "no config file found"
    assert str(ConfigProblem("", "ui.theme", "bad")) == "ui.theme: bad"
    assert str(ConfigProblem("c.toml", "ui.theme", "bad", line=3)) == "c.toml:3: ui.theme: bad"


# --- [ui] theme in `cockpit config check` ------------------------------------------------------


def test_config_check_refuses_an_unknown_theme_naming_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(GOOD + '\n[ui]\ntheme = "drak"\n', encoding="utf-8")
    done = run("config", "check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert_one_prefix(done)
    [line] = done.stderr.splitlines()
    assert line == (
        f"cockpit: error: {config}:13: ui.theme: unknown theme 'drak' (did you mean 'dark'?);"
        " expected one of colorblind, dark, high-contrast, light"
    )


@pytest.mark.parametrize("theme", ["dark", "light", "high-contrast", "colorblind"])
def test_config_check_accepts_every_known_theme(tmp_path: Path, theme: str) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(GOOD + f'\n[ui]\ntheme = "{theme}"\n', encoding="utf-8")
    done = run("config", "check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")


def test_config_check_without_a_theme_is_ok(tmp_path: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(GOOD, encoding="utf-8")
    done = run("config", "check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
