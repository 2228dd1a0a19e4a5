"""`cockpit check --only service --json` end to end: a fresh process probing a real Postfix.

Postfix listens on 127.0.95.1 and .3 (STARTTLS with a trustme certificate), nothing on .2; the
MX names resolve through a real DNS lab named in the config file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from cockpit.compat import UTC, fromisoformat
from tests.conftest import run_cockpit
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.postfix import Listener, PostfixFactory

pytest_plugins = ["tests.lab.dnslab", "tests.lab.postfix_lab"]

ZONE = "cli.test"


@dataclass
class Lab:
    dns: DnsLab
    ca_file: Path


@pytest.fixture(scope="module")
def lab(
    dns_lab_module: LabFactory,
    postfix_lab_module: PostfixFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    ca = trustme.CA()

    def listener(name: str) -> Listener:
        leaf = ca.issue_cert(name)
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return Listener(cert_pem=chain, key_pem=leaf.private_key_pem.bytes())

    postfix_lab_module(
        {"127.0.95.1": listener(f"mx1.{ZONE}"), "127.0.95.3": listener(f"mx3.{ZONE}")}
    )
    records = ["mx1 A 127.0.95.1", "mx2 A 127.0.95.2", "mx3 A 127.0.95.3"]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=1)
    ca_file = tmp_path_factory.mktemp("cli-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield Lab(dns, ca_file)


def write_config(lab: Lab, tmp_path: Path, secondary_mx: str) -> Path:
    name, ip, port = lab.dns.resolvers[0]
    path = tmp_path / "cockpit.toml"
    path.write_text(
        f"""
[domain]
name = "{ZONE}"
[tls]
ca_file = {json.dumps(str(lab.ca_file))}
[service]
timeout = 3
[[dns.resolver]]
name = "{name}"
address = "{ip}:{port}"
[[region]]
name = "primary"
mx = ["mx1.{ZONE}"]
  [[region.endpoint]]
  kind = "tcp"
  address = "127.0.95.1:25"
[[region]]
name = "secondary"
mx = ["{secondary_mx}.{ZONE}"]
""",
        encoding="utf-8",
    )
    return path


def check(path: Path) -> tuple[int, dict[str, Any]]:
    done = run_cockpit(
        "check", "--config", str(path), "--only", "service", "--json", cwd=path.parent, timeout=30
    )
    assert done.returncode != 3, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_one_region_refusing_mail_exits_2(lab: Lab, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    code, document = check(write_config(lab, tmp_path, "mx2"))
    findings = document["findings"]
    assert code == 2
    assert [(f["region"], f["check"], f["subject"], f["status"]) for f in findings] == [
        ("primary", "smtp", f"mx1.{ZONE}:25", "ok"),
        ("primary", "tcp", "127.0.95.1:25", "ok"),
        ("secondary", "smtp", f"mx2.{ZONE}:25", "fail"),
    ]
    for finding in findings:
        assert finding["area"] == "service"
        assert set(finding) >= {"check", "subject", "region", "status", "summary", "data"}
        assert fromisoformat(finding["observed_at"]) >= before
    ok, _tcp, refused = findings
    assert ok["summary"].startswith(f"mx1.{ZONE}:25 greets 220 in ")
    assert ok["data"]["mx"] is True and ok["data"]["tls"]["chain_verified"] is True
    assert ok["data"]["address"] == "127.0.95.1" and ok["data"]["latency_ms"] > 0
    assert refused["summary"] == f"mx2.{ZONE}:25: connection refused"
    assert refused["data"]["error_kind"] == "connect"
    assert document["summary"]["fail"] == 1 and document["summary"]["ok"] == 2


def test_every_region_taking_mail_exits_0(lab: Lab, tmp_path: Path) -> None:
    code, document = check(write_config(lab, tmp_path, "mx3"))
    assert code == 0, document
    assert {f["status"] for f in document["findings"]} == {"ok"}
