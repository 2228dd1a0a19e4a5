"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

WIDE_TERMINAL = {"COLUMNS": "140"}
"""A terminal width for tests that read `cockpit check`'s table, which is as wide as the
terminal ($COLUMNS first, then the terminal itself): the table never depends on who runs the
tests."""


def pytest_configure(config: pytest.Config) -> None:
    """No process of the suite inherits a terminal size through COLUMNS and LINES.

    pytest imports readline at start-up, and readline exports the size of its terminal (80x24
    without one) into the C environment: every pytest-xdist worker then starts with COLUMNS and
    LINES in os.environ, and so does every child started with the default environment (a tmux
    server). Textual asks $COLUMNS/$LINES before the terminal itself, so a cockpit started on a
    120x40 pty would lay itself out for 80x24, and `cockpit check` would fold its table to 80
    columns. A test that wants a size sets it (WIDE_TERMINAL, the size of its pty or tmux pane).
    """
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)  # this process's copy (a worker's, or the user's export)
        os.unsetenv(name)  # the C environment, which children started with env=None get


def run_cockpit(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m cockpit ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COCKPIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SHARED_LABS = {
    # The mail worlds of the canary: fixed loopback addresses on the real ports (SMTP on :25
    # and :587, IMAP on :143 and :993), as a canary config names them. One at a time.
    "test_lab_mail_flow.py": "mail-lab",
    "test_canary_mail_flow.py": "mail-lab",
    "test_canary_run.py": "mail-lab",
}
"""Test modules that must run on the same xdist worker, by group."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (tests/run: `-n 3 --dist loadgroup`) each test module runs whole on
    one worker: its module-scoped servers listen on the module's own fixed addresses and ports,
    which a second copy on another worker could not bind. Modules that share a lab (SHARED_LABS)
    run in one group. Without xdist (`-n 0`) nothing is marked."""
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return
    for item in items:
        module = item.path.name
        item.add_marker(pytest.mark.xdist_group(SHARED_LABS.get(module, module)))


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the internet: every socket connect/sendto must target 127.0.0.0/8."""
    from tests.lab import guard_loopback

    guard_loopback(monkeypatch)


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process sees a WIDE_TERMINAL (for tables rendered in the test itself)."""
    for name, value in WIDE_TERMINAL.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
