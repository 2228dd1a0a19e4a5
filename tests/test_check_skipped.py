"""`cockpit check` lists the checks it did not run as `skipped` with the reason (table and JSON),
and with --json a run that cannot start still prints one JSON object: {"error": {...}}, exit 3."""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from cockpit.check_table import render_findings
from cockpit.commands.check_skipped import SkippedCheck, skipped_checks
from cockpit.config import load_config_text
from cockpit.model import Finding, Status
from tests.conftest import PROJECT_ROOT, WIDE_TERMINAL, run_cockpit

# No resolver answers on 127.0.0.1:1, so nothing here leaves the machine.
CONFIG = """\
[domain]
name = "example.test"

[dns]
timeout = 0.3

[[dns.resolver]]
name = "nowhere"
address = "127.0.0.1:1"

[auth]
skip = ["smtp-tls"]

[[region]]
name = "primary"
mx = ["mx1.example.test"]
webmail_url = "https://webmail.example.test/"

[[region.queue]]
name = "mx1"
kind = "command"
command = ["echo", "7"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> CompletedProcess[str]:
    # PYTHONPATH: this checkout's cockpit, whatever the current directory.
    env = {"PYTHONPATH": str(PROJECT_ROOT), **WIDE_TERMINAL, **(env or {})}
    return run_cockpit(*args, cwd=cwd, env=env)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "cockpit.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def reasons(skipped: list[SkippedCheck]) -> dict[tuple[str, str, str | None], str]:
    return {(s.area, s.check, s.region): s.reason for s in skipped}


def test_every_check_not_run_is_listed_with_its_reason() -> None:
    config = load_config_text(CONFIG)
    areas = ("dns", "auth", "queue", "service", "replication", "authority")
    found = reasons(skipped_checks(config, areas, canary_asked=False, default_run=True))
    assert found == {
        ("auth", "smtp-tls", "primary"): "named in [auth] skip",
        ("auth", "idp", "primary"): "region primary has no idp_url",
        ("auth", "smtp-tls", "secondary"): "named in [auth] skip",
        ("auth", "webmail", "secondary"): "region secondary has no webmail_url",
        ("auth", "idp", "secondary"): "region secondary has no idp_url",
        ("queue", "depth", "secondary"): "region secondary has no [[region.queue]]",
        ("replication", "lag", "primary"): "region primary has no [[region.replication]]",
        ("replication", "lag", "secondary"): "region secondary has no [[region.replication]]",
        ("authority", "role", "primary"): "region primary has no [[region.role]]",
        ("authority", "role", "secondary"): "region secondary has no [[region.role]]",
        ("canary", "canary", None): "no [[canary]] is configured",
    }


def test_only_the_areas_asked_for_are_listed() -> None:
    config = load_config_text(CONFIG)
    found = reasons(skipped_checks(config, ("queue",), canary_asked=False, default_run=False))
    assert found == {("queue", "depth", "secondary"): "region secondary has no [[region.queue]]"}
    assert skipped_checks(config, ("dns",), canary_asked=False, default_run=False) == []


@pytest.mark.usefixtures("wide_terminal")
def test_the_table_shows_skipped_rows_and_counts_them() -> None:
    ok = Finding("queue", "depth", "mx1", Status.OK, "7 messages", "primary", None, {})
    skipped = [SkippedCheck("auth", "smtp-tls", "primary", "named in [auth] skip")]
    text = render_findings(
        [ok], target="primary", target_origin="--target", ascii_only=True, skipped=skipped
    )
    [row] = [line for line in text.splitlines() if "smtp-tls" in line]
    assert "- skipped" in row and "named in [auth] skip" in row and "primary" in row
    assert text.rstrip().splitlines()[-1] == "1 ok, 0 warn, 0 fail, 0 unknown, 1 skipped"


def test_cockpit_check_lists_skipped_checks_in_the_table_and_the_json(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    table = run("check", "--config", str(config), "--only", "queue,auth")
    assert table.returncode == 1, table.stderr  # unknowns: no resolver answers
    assert "region secondary has no [[region.queue]]" in table.stdout
    summary = table.stdout.rstrip().splitlines()[-1]
    assert summary.endswith(", 6 skipped"), summary

    done = run("check", "--config", str(config), "--only", "queue", "--json")
    document = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr  # skipped checks never change the exit status
    assert [f["subject"] for f in document["findings"]] == ["mx1"]
    assert document["skipped"] == [
        {
            "area": "queue",
            "check": "depth",
            "region": "secondary",
            "status": "skipped",
            "reason": "region secondary has no [[region.queue]]",
        }
    ]
    assert document["summary"] == {"ok": 1, "warn": 0, "fail": 0, "unknown": 0, "skipped": 1}


def test_a_check_that_observed_nothing_is_not_all_ok(tmp_path: Path) -> None:
    """No replication or role source is configured: every check asked for is skipped and
    nothing was observed. Exit 1 (unknown), never 0: a monitor must not read it as fine."""
    config = write_config(tmp_path)
    done = run("check", "--config", str(config), "--only", "replication,authority", "--json")
    document = json.loads(done.stdout)
    assert document["findings"] == [] and document["skipped"], document
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "no findings: nothing was checked" in done.stderr


def test_a_plain_check_lists_the_canary_it_did_not_send(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = run("check", "--config", str(config), "--json")
    document = json.loads(done.stdout)
    canary = [s for s in document["skipped"] if s["area"] == "canary"]
    assert canary == [
        {
            "area": "canary",
            "check": "canary",
            "region": None,
            "status": "skipped",
            "reason": "no [[canary]] is configured",
        }
    ]
    assert document["summary"]["skipped"] == len(document["skipped"]) == 11


# --- --json when the check cannot run ------------------------------------------------------------


def no_config_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty, {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "COCKPIT_CONFIG": ""}


def test_json_with_no_config_prints_a_json_error_and_exits_3(tmp_path: Path) -> None:
    cwd, env = no_config_env(tmp_path)
    done = run("check", "--json", cwd=cwd, env=env)
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "config" and error["exit"] == 3
    assert error["message"].startswith("no config file found; looked in: --config FILE;")
    [problem] = error["problems"]
    assert problem["file"] is None and problem["key_path"] is None
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("cockpit: error: no config file found")


def test_json_with_a_broken_config_names_file_line_key_and_expectation(tmp_path: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(CONFIG.replace("timeout = 0.3", "timeout = -1"), encoding="utf-8")
    done = run("check", "--config", str(config), "--json")
    assert done.returncode == 3
    [problem] = json.loads(done.stdout)["error"]["problems"]
    assert problem["file"] == str(config) and problem["line"] == 5
    assert problem["key_path"] == "dns.timeout" and "expected" in problem["message"]


def test_json_with_a_refused_command_line_is_still_json(tmp_path: Path) -> None:
    done = run("check", "--json", "--no-such-option", cwd=tmp_path)
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    assert error == {
        "message": "unrecognized arguments: --no-such-option",
        "kind": "usage",
        "exit": 3,
    }


def test_without_json_nothing_goes_to_stdout_on_error(tmp_path: Path) -> None:
    cwd, env = no_config_env(tmp_path)
    done = run("check", cwd=cwd, env=env)
    assert (done.returncode, done.stdout) == (3, "")


def test_the_json_error_is_one_line_of_valid_json(tmp_path: Path) -> None:
    cwd, env = no_config_env(tmp_path)
    done = run("check", "--json", "--only", "nonsense", cwd=cwd, env=env)
    assert done.returncode == 3 and done.stdout.count("\n") == 1
    assert json.loads(done.stdout)["error"]["kind"] == "usage"


def test_json_with_an_unreadable_incident_log_names_the_path(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "adir").mkdir()
    done = run(
        "check",
        "--config",
        str(config),
        "--only",
        "queue",
        "--incident",
        "adir",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    assert (error["kind"], error["path"]) == ("incident_log", "adir")
    assert error["message"] == "adir: cannot read the incident log: not a regular file"
    assert done.stderr == f"cockpit: error: {error['message']}\n"


@pytest.mark.parametrize("as_json", [True, False])
def test_an_internal_error_is_could_not_run_and_still_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    """A bug is still "the check could not run" (3) for a monitor, with JSON on stdout under
    --json; the person reads what went wrong on stderr, never a traceback."""
    from cockpit.cli import main
    from cockpit.commands import check_cmd

    def broken(*args: object) -> None:
        raise RuntimeError("boom \x1b[31mred")

    monkeypatch.setattr(check_cmd, "_collect", broken)
    config = tmp_path / "cockpit.toml"
    config.write_text(CONFIG, encoding="utf-8")
    assert main(["check", "--config", str(config), *(["--json"] if as_json else [])]) == 3
    out, err = capsys.readouterr()
    assert err.startswith("cockpit: error: internal error: RuntimeError: boom ␛[31mred")
    if as_json:
        assert json.loads(out) == {
            "error": {
                "message": "internal error: RuntimeError: boom ␛[31mred",
                "kind": "internal",
                "exit": 3,
            }
        }
    else:
        assert out == ""
