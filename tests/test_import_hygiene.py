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
        "import cockpit.vantage.look, cockpit.vantage.merge, cockpit.vantage.findings\n"
        "import cockpit.vantage.ssh, cockpit.vantage.prometheus, cockpit.vantage.blackbox\n"
        "import cockpit.commands.vantage_cmd, cockpit.live_probes\n"
    )
    assert _run(body) == ""


PROBE_LIBRARIES = (
    "httpx",
    "dns",
    "cryptography",
    "dkim",
    "nacl",
    "spf",
    "publicsuffixlist",
    "prometheus_client",
    "textual_serve",
    "aiohttp",
)
"""What the probes and `cockpit serve` use; the cockpit's first frame needs none of them."""

PROBE_MODULES = (
    "cockpit.live_probes",
    "cockpit.incident.probe_log",
    "cockpit.incident.probe_outbox",
    "cockpit.dns.sweep",
    "cockpit.auth",
    "cockpit.service",
    "cockpit.queue.findings",
    "cockpit.canary.findings",
)
"""The probes' own code: imported on the probe thread once the first frame is up."""

LOADED = """
import sys
{body}
wanted = {wanted!r}
found = sorted(m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in wanted))
print("LOADED:" + ",".join(found))
"""


def _loaded(body: str, wanted: tuple[str, ...]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(body=body, wanted=wanted)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "LOADED:" in done.stdout, done.stderr
    return done.stdout.split("LOADED:", 1)[1].strip()


def test_config_loading_imports_no_probe_code() -> None:
    config = (
        '[domain]\nname = "example.test"\n'
        '[[region]]\nname = "primary"\nmx = ["mx1.example.test"]\n'
        '[[region]]\nname = "secondary"\nmx = ["mx2.example.test"]\n'
    )
    body = f"from cockpit.config import load_config_text\nload_config_text({config!r})\n"
    assert _loaded(body, PROBE_LIBRARIES + PROBE_MODULES) == ""


def test_the_cockpit_screen_starts_without_probe_code() -> None:
    """What `cockpit --config C --incident LOG` imports before its first frame."""
    body = (
        "import cockpit.commands.ui_cmd, cockpit.commands.common, cockpit.commands.drill_cmd\n"
        "import cockpit.config, cockpit.theme_data, cockpit.glyphs\n"
        "import cockpit.ui.app\n"
    )
    # TextArea (a key's check for a text field imports it) and Rich's emoji table (markup
    # parsing) are not needed for the first frame either.
    wanted = (*PROBE_LIBRARIES, *PROBE_MODULES, "textual.widgets._text_area", "rich._emoji_codes")
    assert _loaded(body, wanted) == ""
