"""The vantage commands as a user runs them: `cockpit vantage blackbox-modules` and
`cockpit check` with a vantage that cannot be used (an ssh host whose key is not known)."""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
import time
from pathlib import Path

import yaml

from tests.conftest import run_cockpit
from tests.lab import missing_in_lab

CONFIG = textwrap.dedent(
    """\
    [domain]
    name = "example.test"

    [[region]]
    name = "eu"
    mx = ["mx1.eu.example.test"]

    [[region]]
    name = "us"
    mx = ["mx1.us.example.test"]

    [dns]
    timeout = 1

    [[dns.resolver]]
    name = "nowhere"
    address = "127.0.0.1:9"
    """
)


def write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "cockpit.toml"
    path.write_text(CONFIG + textwrap.dedent(extra))
    return path


def test_blackbox_modules_and_the_scrape_config_are_printed_for_the_config(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """\
        [[vantage]]
        name = "sites"
        kind = "prometheus"
        url = "http://127.0.0.1:9"
        job = "edge"
        site_label = "pop"
        """,
    )
    modules = run_cockpit("vantage", "blackbox-modules", "--config", str(path))
    assert modules.returncode == 0, modules.stderr
    parsed = yaml.safe_load(modules.stdout)
    names = list(parsed["modules"])
    assert any("_eu_" in name for name in names) and any("_us_" in name for name in names)
    assert all(name.startswith("cockpit_") for name in names)
    scrape = run_cockpit("vantage", "blackbox-modules", "--scrape-config", "--config", str(path))
    assert scrape.returncode == 0, scrape.stderr
    assert "pop" in scrape.stdout and "edge" in scrape.stdout
    yaml.safe_load(scrape.stdout)


def test_without_a_prometheus_vantage_the_scrape_config_says_it_uses_defaults(
    tmp_path: Path,
) -> None:
    scrape = run_cockpit(
        "vantage", "blackbox-modules", "--scrape-config", "--config", str(write(tmp_path))
    )
    assert scrape.returncode == 0, scrape.stderr
    assert "no [[vantage]] of kind prometheus" in scrape.stderr
    assert "Traceback" not in scrape.stderr


def test_check_shows_a_hung_vantage_as_unknown_with_ssh_s_reason(tmp_path: Path) -> None:
    if shutil.which("ssh") is None or shutil.which("sshd") is None:
        missing_in_lab("the ssh client and server are needed (Debian openssh-client/-server)")
    # A listener that never sends an ssh banner (a hung host): ssh gives up at its connect
    # timeout, which the look sets inside the vantage's budget, and exits 255 saying why.
    # (An unknown host key against a real sshd is in test_vantage_ssh.py.)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text("")
    path = write(
        tmp_path,
        f"""\
        [[vantage]]
        name = "office"
        kind = "ssh"
        host = "root@127.0.0.1"
        ssh_options = ["-F", "/dev/null", "-p", "{port}", "-o", "UserKnownHostsFile={known}",
                       "-o", "StrictHostKeyChecking=yes"]
        resolvers = ["127.0.0.1:9"]
        timeout = 2
        """,
    )
    started = time.monotonic()
    try:
        done = run_cockpit("check", "--only", "dns", "--json", "--config", str(path), timeout=30)
    finally:
        server.close()
    took = time.monotonic() - started
    document = json.loads(done.stdout)
    vantage = [f for f in document["findings"] if f["check"] == "vantage"]
    assert len(vantage) == 1 and vantage[0]["status"] == "unknown", vantage
    assert "ssh exit 255" in vantage[0]["summary"], vantage[0]["summary"]
    assert "timed out" in vantage[0]["summary"], vantage[0]["summary"]
    assert vantage[0]["summary"].startswith("nothing seen from the vantage office: ")
    rows = {f.get("resolver") for f in document["findings"] if f.get("resolver")}
    assert "@ office" in rows, rows
    assert done.returncode == 1, done.stderr  # unknown, never ok
    assert took < 10, f"check took {took:.1f} s with a 2 s vantage timeout"
