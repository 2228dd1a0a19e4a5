"""`cockpit check` end to end: a fresh process, a config file, real nsd and unbound on loopback.

Exit status: 0 every finding ok, 1 the worst is warn or unknown, 2 the worst is fail, 3 could
not run.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import WIDE_TERMINAL, run_cockpit
from tests.lab.dnslab import DnsLab, LabFactory
from tests.test_dns_sweep import (
    HOSTILE_TXT,
    MX_KEY,
    ZONE,
    lab_zones,
    resolver_names,
    write_config,
)

pytest_plugins = ["tests.lab.dnslab"]

FINDING_KEYS = {"area", "check", "subject", "region", "status", "summary", "data"}
STATUSES = {"ok", "warn", "fail", "unknown"}
HOSTILE_NAME = f"hostile.{ZONE}"
STALE_TTL = 20


def check(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # CI=true: the lab must never be skipped, here or in the child.
    # These tests are about the DNS area; the auth checks have their own tests.
    return run_cockpit(
        "check",
        "--config",
        str(config),
        "--only",
        "dns",
        *args,
        env={"CI": "true", **WIDE_TERMINAL},
        timeout=30,
    )


def check_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = check(config, "--json", *args)
    assert done.returncode != 3, done.stderr
    return done.returncode, json.loads(done.stdout)


def mx_by_resolver(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        finding["resolver"]: finding
        for finding in document["findings"]
        if finding["check"] == "MX" and "resolver" in finding
    }


def switch_to(lab: DnsLab, region: str, **options: Any) -> None:
    lab.set_zone(ZONE, lab_zones(region, serial=2, **options)[ZONE])
    lab.reload(ZONE)


def test_all_ok_is_exit_0_with_a_complete_json_document(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = write_config(tmp_path, lab)
    code, document = check_json(config, "--target", "primary")

    assert code == 0, [f for f in document["findings"] if f["status"] != "ok"]
    assert document["target"] == "primary"
    findings = document["findings"]
    assert findings
    for finding in findings:
        assert FINDING_KEYS <= set(finding), finding
        assert finding["area"] == "dns" and finding["status"] in STATUSES
        assert isinstance(finding["summary"], str) and finding["summary"]
        if finding["check"] != "propagation":
            assert finding.get("resolver"), f"a per-server finding without resolver: {finding}"
    assert set(mx_by_resolver(document)) >= set(resolver_names(lab))
    assert document["summary"] == {
        **{status: Counter(f["status"] for f in findings).get(status, 0) for status in STATUSES},
        "skipped": len(document["skipped"]),
    }
    assert document["summary"]["ok"] == len(findings)
    [mx_propagation] = [
        f for f in findings if f["check"] == "propagation" and f["subject"] == MX_KEY
    ]
    assert mx_propagation["data"]["share"] == 1.0


def test_a_stale_resolver_is_exit_1(dns_lab: LabFactory, tmp_path: Path) -> None:
    # A longer TTL: two process starts must fit in it, however busy the machine.
    lab = dns_lab(lab_zones("primary", ttl=STALE_TTL))
    config = write_config(tmp_path, lab)
    assert check_json(config, "--target", "primary")[0] == 0  # every cache holds primary now
    switch_to(lab, "secondary", ttl=STALE_TTL)
    lab.flush(0)
    code, document = check_json(config, "--target", "secondary")

    assert code == 1, document["summary"]
    assert document["summary"]["fail"] == 0 and document["summary"]["warn"] > 0
    names = resolver_names(lab)
    mx = mx_by_resolver(document)
    assert (mx[names[0]]["status"], mx[names[0]]["region"]) == ("ok", "secondary")
    for name in names[1:]:
        assert (mx[name]["status"], mx[name]["region"]) == ("warn", "primary"), mx[name]
        assert 0 < mx[name]["data"]["ttl"] <= STALE_TTL


def test_an_mx_at_an_unexpected_host_is_exit_2(dns_lab: LabFactory, tmp_path: Path) -> None:
    lab = dns_lab(lab_zones("primary", mx="mx9.evil.test."))
    config = write_config(tmp_path, lab)
    code, document = check_json(config, "--target", "primary")

    assert code == 2, document["summary"]
    mx = mx_by_resolver(document)
    for name in resolver_names(lab):
        assert mx[name]["status"] == "fail" and "mx9.evil.test" in mx[name]["summary"]


def test_the_table_shows_statuses_and_no_escape_from_the_data(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary", extra=[HOSTILE_TXT]))
    config = write_config(tmp_path, lab, records=[(HOSTILE_NAME, "TXT")])
    code, document = check_json(config, "--target", "primary")
    hostile = [f for f in document["findings"] if f["subject"] == HOSTILE_NAME]
    assert hostile and any("\x1b[31m" in answer for answer in hostile[0]["data"]["answers"])

    done = check(config, "--target", "primary")
    assert done.returncode == code == 0, done.stdout
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    assert "ok" in done.stdout and "target region: primary" in done.stdout
    assert "[bold]" in done.stdout, "markup in data is shown as text, not applied"
    assert "␛" in done.stdout, "the escape character is shown as a visible mark"


# U+009B (C1 CSI), U+202E (right-to-left override) and DEL, as UTF-8 in a TXT record.
C1_NAME = f"c1.{ZONE}"
C1_TXT = 'c1 TXT "v=spf1 \\194\\1552J \\226\\128\\174gnp.exe \\127 -all"'


def test_the_json_on_stdout_has_no_raw_c1_bidi_or_del_from_the_data(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """json.dumps escapes only U+0000-U+001F: the C1 controls, bidi controls and DEL a DNS
    answer carries reach stdout as \\uXXXX escapes (the JSON means the same)."""
    lab = dns_lab(lab_zones("primary", extra=[C1_TXT]))
    config = write_config(tmp_path, lab, records=[(C1_NAME, "TXT")])
    done = check(config, "--json", "--target", "primary")
    assert done.returncode != 3, done.stderr
    for raw in ("\u009b", "\u202e", "\x7f"):
        assert raw not in done.stdout, repr(raw)
    document = json.loads(done.stdout)
    answers = [
        answer
        for finding in document["findings"]
        if finding["subject"] == C1_NAME
        for answer in finding["data"].get("answers") or ()
    ]
    assert any("\u009b" in answer and "\u202e" in answer for answer in answers), answers


def test_a_bad_config_is_exit_3(tmp_path: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text("[domain\nname = 'example.test'\n", encoding="utf-8")
    done = check(config, "--json")
    # --json: the error as JSON on stdout (a monitor reads stdout), the message on stderr too
    assert done.returncode == 3 and json.loads(done.stdout)["error"]["kind"] == "config"
    assert "cockpit: error" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_target_is_exit_3(dns_lab: LabFactory, tmp_path: Path) -> None:
    lab = dns_lab(lab_zones("primary"), resolver_count=1)
    config = write_config(tmp_path, lab)
    done = check(config, "--json", "--target", "tertiary")
    assert done.returncode == 3 and json.loads(done.stdout)["error"]["kind"] == "usage"
    assert "no region named 'tertiary'" in done.stderr


def test_target_comes_from_the_latest_failover_decision_else_the_first_region(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("secondary"))
    config = write_config(tmp_path, lab)
    code, document = check_json(config)
    assert document["target"] == "primary"  # no incident log yet: the first region
    # Target primary while the authoritative serves secondary: blocked, a failure.
    assert code == 2
    [mx_propagation] = [
        f for f in document["findings"] if f["check"] == "propagation" and f["subject"] == MX_KEY
    ]
    assert mx_propagation["status"] == "fail"
    assert mx_propagation["data"]["blocked_by"] == "secondary"

    incident = tmp_path / "incidents" / "2026-11-27-eu.jsonl"  # [incident].dir by default
    logged = run_cockpit(
        "log",
        str(incident),
        "Fail over to secondary",
        "--decision",
        "--target-region",
        "secondary",
        "--config",
        str(config),
    )
    assert logged.returncode == 0, logged.stderr
    code, document = check_json(config)
    assert document["target"] == "secondary"
    assert code == 0, [f for f in document["findings"] if f["status"] != "ok"]

    # --target wins over the log; --incident names another log explicitly.
    code, document = check_json(config, "--target", "primary")
    assert document["target"] == "primary"
    other = tmp_path / "elsewhere.jsonl"
    run_cockpit("log", str(other), "note only")
    _, document = check_json(config, "--incident", str(other))
    assert document["target"] == "primary"


def test_check_of_a_drill_log_uses_the_config_beside_it(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """`cockpit check --incident LOG` with no --config takes LOG.config.toml (a drill's
    world) before the search; a link planted in its place is refused (exit 3)."""
    lab = dns_lab(lab_zones("secondary"))
    config = write_config(tmp_path, lab)
    incident = tmp_path / "drill.jsonl"
    beside = Path(f"{incident}.config.toml")
    beside.write_text(config.read_text())
    logged = run_cockpit(
        "log", str(incident), "Fail over", "--decision", "--target-region", "secondary",
        "--config", str(beside),
    )  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    done = run_cockpit(
        "check", "--incident", str(incident), "--only", "dns", "--json",
        env={"CI": "true", "COCKPIT_CONFIG": str(tmp_path / "absent.toml")}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["target"] == "secondary"
    beside.unlink()
    beside.symlink_to(config)
    done = run_cockpit(
        "check", "--incident", str(incident), "--only", "dns",
        env={"CI": "true"}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 3 and "symbolic link" in done.stderr, done.stderr
