"""Service probes of MX hosts: a real Postfix on 127.0.91.x:25, names through a real DNS lab.

One Postfix instance serves three listeners (a trusted certificate for the host, a certificate
for another name, no STARTTLS); a second one is started and stopped in a test. Small asyncio
servers play what Postfix cannot be made to be: silent, 421, 450, 5 MB of garbage. Nothing
listens on 127.0.91.9 (connection refused).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from cockpit.auth.asker import Asker
from cockpit.config import Config, Region, load_config_text
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from cockpit.service.findings import region_service_findings, service_findings
from cockpit.service.observation import MAX_KEPT_CHARS, MAX_KEPT_LINES
from tests.lab import free_port
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.mail_fakes import FakeServers, Handler, garbage, one_line, silent, smtp_greeter
from tests.lab.postfix import Listener, PostfixFactory

pytest_plugins = ["tests.lab.dnslab", "tests.lab.postfix_lab"]

ZONE = "svc.test"
HOSTS = {
    "mx1": "127.0.91.1",  # Postfix, trusted certificate for mx1.svc.test
    "mx2": "127.0.91.2",  # Postfix, certificate for another name
    "mx3": "127.0.91.3",  # Postfix, no STARTTLS
    "stopped": "127.0.91.4",  # a Postfix started, then stopped, in one test
    "silent": "127.0.91.5",  # asyncio fakes from here on
    "busy": "127.0.91.6",
    "later": "127.0.91.7",
    "garbage": "127.0.91.8",
    "refused": "127.0.91.9",  # nothing listens
}


@dataclass
class Lab:
    dns: DnsLab
    ca_file: Path
    ca: trustme.CA

    def resolver(self, index: int = 0) -> tuple[str, str, int]:
        return self.dns.resolvers[index]


def listener(ca: trustme.CA, *names: str) -> Listener:
    leaf = ca.issue_cert(*names)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return Listener(cert_pem=chain, key_pem=leaf.private_key_pem.bytes())


@pytest.fixture(scope="module")
def lab(
    dns_lab_module: LabFactory,
    postfix_lab_module: PostfixFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    ca = trustme.CA()
    postfix_lab_module(
        {
            HOSTS["mx1"]: listener(ca, "mx1.svc.test", "twice.svc.test"),
            HOSTS["mx2"]: listener(ca, "other.svc.test"),
            HOSTS["mx3"]: Listener(),
        }
    )
    records = [f"{name} A {ip}" for name, ip in HOSTS.items()]
    records += [
        "twice A 127.0.91.1",
        "twice A 127.0.91.9",
        "backup A 127.0.91.3",
        'noaddress TXT "no A here"',
    ]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=2)
    ca_file = tmp_path_factory.mktemp("service-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield Lab(dns, ca_file, ca)


def config_for(
    lab: Lab,
    *hosts: str,
    timeout: float = 3.0,
    resolver: tuple[str, str, int] | None = None,
    ca_file: Path | None = None,
    extra: str = "",
) -> Config:
    name, ip, port = resolver or lab.resolver()
    mx = ", ".join(json.dumps(f"{host}.{ZONE}") for host in hosts)
    return load_config_text(
        f"""
[domain]
name = "{ZONE}"
[tls]
ca_file = {json.dumps(str(ca_file or lab.ca_file))}
[dns]
timeout = 1
[service]
timeout = {timeout}
helo = "probe.svc.test"
[[dns.resolver]]
name = "{name}"
address = "{ip}:{port}"
[[region]]
name = "primary"
mx = [{mx}]
{extra}
[[region]]
name = "secondary"
mx = ["backup.{ZONE}"]
"""
    )


def probe(config: Config) -> dict[str, Finding]:
    """The primary region's findings by subject."""
    findings = asyncio.run(region_service_findings(config, config.regions[0]))
    assert all(f.area == "service" and f.region == "primary" for f in findings)
    return {f.subject: f for f in findings}


def probe_with_fake(
    lab: Lab, host: str, handler: Handler, timeout: float = 3.0
) -> tuple[Finding, float]:
    async def run() -> tuple[Finding, float]:
        async with FakeServers() as servers:
            await servers.serve(handler, HOSTS[host], 25)
            config = config_for(lab, host, timeout=timeout)
            started = time.monotonic()
            [finding] = await region_service_findings(config, config.regions[0])
            return finding, time.monotonic() - started

    return asyncio.run(run())


# --- real Postfix ------------------------------------------------------------------------------


def test_postfix_with_a_trusted_certificate_is_ok(lab: Lab) -> None:
    found = probe(config_for(lab, "mx1"))["mx1.svc.test:25"]
    assert found.status is Status.OK, found.summary
    assert (found.check, found.resolver) == ("smtp", lab.resolver()[0])
    assert found.summary.startswith("mx1.svc.test:25 greets 220 in ")
    assert found.summary.endswith("STARTTLS ok")
    data = found.data
    assert data["mx"] is True and data["kind"] == "smtp" and data["port"] == 25
    assert data["address"] == HOSTS["mx1"] and data["code"] == "220"
    assert data["reply"][0].startswith("220 ") and data["starttls_offered"] is True
    assert data["tls"]["chain_verified"] is True and data["name_matches"] is True
    assert data["certificate"]["dns_names"] == ["mx1.svc.test", "twice.svc.test"]
    assert 0 < data["latency_ms"] <= data["elapsed_ms"] < 3000
    assert data["error_kind"] is None
    assert found.observed_at is not None and found.observed_at.tzinfo is not None


def test_wrong_name_fails_and_no_starttls_warns(lab: Lab) -> None:
    found = probe(config_for(lab, "mx2", "mx3"))
    wrong = found["mx2.svc.test:25"]
    assert wrong.status is Status.FAIL and "other.svc.test" in wrong.summary
    assert wrong.data["name_matches"] is False and wrong.data["code"] == "220"
    plain = found["mx3.svc.test:25"]
    assert plain.status is Status.WARN, plain.summary
    assert "STARTTLS is not offered" in plain.summary and "220" in plain.summary
    assert plain.data["starttls_offered"] is False and plain.data["error_kind"] == "no-starttls"


def test_without_the_private_ca_the_certificate_is_not_trusted(lab: Lab, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    found = probe(config_for(lab, "mx1", ca_file=other_ca))["mx1.svc.test:25"]
    assert found.status is Status.FAIL and "not trusted" in found.summary
    assert found.data["tls"]["chain_verified"] is False
    assert found.data["certificate"]["dns_names"][0] == "mx1.svc.test"


def test_an_unreadable_ca_file_is_unknown(lab: Lab, tmp_path: Path) -> None:
    found = probe(config_for(lab, "mx1", ca_file=tmp_path / "missing.pem"))["mx1.svc.test:25"]
    assert found.status is Status.UNKNOWN and "ca_file" in found.summary


def test_a_stopped_postfix_is_refused(lab: Lab, postfix_lab: PostfixFactory) -> None:
    running = postfix_lab({HOSTS["stopped"]: listener(lab.ca, "stopped.svc.test")})
    config = config_for(lab, "stopped")
    assert probe(config)["stopped.svc.test:25"].status is Status.OK
    running.stop()
    found = probe(config)["stopped.svc.test:25"]
    assert found.status is Status.FAIL
    assert found.summary == "stopped.svc.test:25: connection refused"
    assert found.data["error_kind"] == "connect" and found.data["code"] is None


def test_each_address_of_a_host_is_its_own_finding(lab: Lab) -> None:
    found = probe(config_for(lab, "twice"))
    assert list(found) == ["twice.svc.test:25 (127.0.91.1)", "twice.svc.test:25 (127.0.91.9)"]
    good, refused = found.values()
    assert good.status is Status.OK and refused.status is Status.FAIL
    assert refused.summary == "twice.svc.test:25 (127.0.91.9): connection refused"
    assert good.data["addresses_total"] == 2 and good.data["addresses_capped"] is False


def test_every_region_in_config_order(lab: Lab) -> None:
    config = config_for(
        lab,
        "mx3",
        "mx1",
        extra=f'[[region.endpoint]]\nkind = "tcp"\naddress = "{HOSTS["mx1"]}:25"\n',
    )
    findings = asyncio.run(service_findings(config))
    assert [(f.region, f.check, f.subject) for f in findings] == [
        ("primary", "smtp", "mx3.svc.test:25"),
        ("primary", "smtp", "mx1.svc.test:25"),
        ("primary", "tcp", "127.0.91.1:25"),
        ("secondary", "smtp", "backup.svc.test:25"),
    ]
    assert findings[2].resolver is None and findings[2].data["mx"] is False


def test_an_smtp_endpoint_on_an_mx_host_is_that_mx_probe(lab: Lab) -> None:
    endpoint = f'[[region.endpoint]]\nkind = "smtp"\naddress = "mx3.{ZONE}"\ntls = "none"\n'
    found = probe(config_for(lab, "mx3", extra=endpoint))
    assert list(found) == ["mx3.svc.test:25"]
    plain = found["mx3.svc.test:25"]
    assert plain.status is Status.OK and plain.data["mx"] is True
    assert plain.data["tls_mode"] == "none" and "starttls_offered" not in plain.data


# --- names through the DNS lab ----------------------------------------------------------------


def test_a_name_that_does_not_exist_fails(lab: Lab) -> None:
    config = config_for(lab, "nothere", "noaddress")
    found = probe(config)
    assert found["nothere.svc.test:25"].status is Status.FAIL
    assert "does not exist (NXDOMAIN)" in found["nothere.svc.test:25"].summary
    assert found["noaddress.svc.test:25"].status is Status.FAIL
    assert "has no address" in found["noaddress.svc.test:25"].summary


def test_a_dead_or_frozen_resolver_is_unknown(lab: Lab) -> None:
    dead = ("dead", "127.0.53.250", free_port("127.0.53.250"))
    lab.dns.freeze(1)
    try:

        async def both() -> list[list[Finding]]:
            configs = [
                config_for(lab, "mx1", resolver=dead),
                config_for(lab, "mx1", resolver=lab.resolver(1)),
            ]
            return list(
                await asyncio.gather(*(region_service_findings(c, c.regions[0]) for c in configs))
            )

        started = time.monotonic()
        [[down], [frozen]] = asyncio.run(both())
        elapsed = time.monotonic() - started
    finally:
        lab.dns.thaw(1)
    for finding in (down, frozen):
        assert finding.status is Status.UNKNOWN, finding.summary
        assert "could not look up mx1.svc.test" in finding.summary
        assert finding.data["dns_error"]
    assert "timeout" in frozen.summary.lower() or "no reply" in frozen.summary.lower()
    assert elapsed < 1.0 * 1.1 + 1.5  # the DNS timeout (its retry included), plus margin


def test_a_name_outside_the_lab_zones_is_unknown(lab: Lab) -> None:
    config = config_for(lab, "mx1")
    asker = Asker(ServerSpec(*lab.resolver()), timeout=1.0)
    other = Region(name="primary", mx=("mx.elsewhere.example",))
    [finding] = asyncio.run(region_service_findings(config, other, asker))
    assert finding.status is Status.UNKNOWN and "REFUSED" in finding.summary.upper()


# --- misbehaving servers ----------------------------------------------------------------------


def test_a_server_that_never_speaks_fails_within_the_timeout(lab: Lab) -> None:
    finding, elapsed = probe_with_fake(lab, "silent", silent, timeout=1.5)
    assert finding.status is Status.FAIL
    assert finding.summary == "silent.svc.test:25: no answer within 1.5 s"
    assert finding.data["error_kind"] == "timeout"
    assert elapsed < 1.5 + 1.0


def test_a_421_greeting_fails_and_a_450_greeting_warns(lab: Lab) -> None:
    busy, _ = probe_with_fake(lab, "busy", one_line("421 4.3.2 Service not available"))
    assert busy.status is Status.FAIL
    assert busy.summary.startswith("busy.svc.test:25: 421 greeting in ")
    assert busy.summary.endswith("(service not available): 4.3.2 Service not available")
    assert busy.data["code"] == "421" and busy.data["error_kind"] == "rejected"
    later, _ = probe_with_fake(lab, "later", smtp_greeter("450 4.7.1 try again later"))
    assert later.status is Status.WARN, later.summary
    assert "450 greeting" in later.summary and later.data["code"] == "450"
    refusing, _ = probe_with_fake(lab, "later", one_line("554 5.7.1 no mail here"))
    assert refusing.status is Status.FAIL and "554 greeting" in refusing.summary


def test_five_megabytes_of_garbage_fail_fast_and_stay_small(lab: Lab) -> None:
    for handler in (garbage(), garbage(newline_every=3000)):
        finding, elapsed = probe_with_fake(lab, "garbage", handler, timeout=3.0)
        assert finding.status is Status.FAIL
        assert "does not speak SMTP" in finding.summary
        assert finding.data["error_kind"] == "protocol"
        assert elapsed < 1.5
        assert len(json.dumps(finding.data)) < 8 * 1024
        assert len(finding.data["reply"]) <= MAX_KEPT_LINES
        assert all(len(line) <= MAX_KEPT_CHARS for line in finding.data["reply"])


HOSTILE = "\x1b]0;owned\x07\x1b[31mred\u202eevil [bold]x[/bold]"


def test_server_text_is_data_and_the_summary_is_clean(lab: Lab) -> None:
    finding, _ = probe_with_fake(lab, "busy", one_line(f"421 {HOSTILE}"))
    assert finding.status is Status.FAIL
    assert "\x1b" not in finding.summary and "\u202e" not in finding.summary
    assert "\x07" not in finding.summary
    assert finding.data["reply"] == [f"421 {HOSTILE}"]
