"""`cockpit check --only queue` end to end: a fresh process reading real commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import run_cockpit


def config(tmp_path: Path, depth_program: str, *, warn: int = 100, crit: int = 1000) -> Path:
    path = tmp_path / "cockpit.toml"
    path.write_text(
        f"""
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

  [[region.queue]]
  name = "mx1"
  kind = "command"
  command = [{json.dumps(sys.executable)}, "-c", {json.dumps(depth_program)}]
  timeout = 5
  warn = {warn}
  crit = {crit}

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
""",
        encoding="utf-8",
    )
    return path


def check(path: Path) -> tuple[int, dict[str, Any]]:
    done = run_cockpit("check", "--config", str(path), "--only", "queue", "--json", timeout=30)
    assert done.returncode != 3, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_depth_under_warn_is_ok(tmp_path: Path) -> None:
    code, document = check(config(tmp_path, "print(42)"))
    [finding] = document["findings"]
    assert code == 0
    assert (finding["area"], finding["check"], finding["subject"]) == ("queue", "depth", "mx1")
    assert finding["region"] == "primary" and finding["status"] == "ok"
    assert finding["data"]["total"] == 42


def test_thresholds_give_warn_and_fail(tmp_path: Path) -> None:
    code, document = check(config(tmp_path, "print(500)"))
    assert (code, document["findings"][0]["status"]) == (1, "warn")
    code, document = check(config(tmp_path, "print(5000)"))
    assert (code, document["findings"][0]["status"]) == (2, "fail")


def test_a_failing_source_is_unknown_never_zero(tmp_path: Path) -> None:
    program = (
        "import sys; sys.stderr.write('ssh: connect to host mx1 port 22: refused\\n');"
        " sys.exit(255)"
    )
    code, document = check(config(tmp_path, program))
    [finding] = document["findings"]
    assert code == 1 and finding["status"] == "unknown"
    assert finding["data"]["total"] is None
    assert "255" in finding["summary"] and "refused" in finding["summary"]
