"""The pure core and the light commands never import textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
{body}
heavy = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print("TEXTUAL:" + ",".join(heavy))
"""


def _run(body: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(body=body)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "TEXTUAL:" in done.stdout, done.stderr
    return done.stdout.split("TEXTUAL:", 1)[1].strip()


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_textual(flag: str) -> None:
    body = (
        "from cockpit.cli import main\n"
        "try:\n"
        f"    main([{flag!r}])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
    )
    assert _run(body) == ""


def test_core_modules_do_not_import_textual() -> None:
    body = (
        "import cockpit.config, cockpit.safe_text, cockpit.errors\n"
        "import cockpit.incident.entry, cockpit.incident.log, cockpit.incident.phases\n"
        "import cockpit.incident.export_md, cockpit.incident.export_json, cockpit.incident.when\n"
        "import cockpit.commands.log_cmd, cockpit.commands.export_cmd\n"
        "import cockpit.commands.config_cmd, cockpit.model, cockpit.incident.review_marks\n"
    )
    assert _run(body) == ""
