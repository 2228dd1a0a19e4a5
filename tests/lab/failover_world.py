"""A mail domain with a primary region and a smaller DR region, for failover-shape tests.

    zones = world_zones(active_records("primary"))       # example.test as primary serves it
    lab = dns_lab(zones, 3)
    config = load_config(write_world_config(tmp_path, lab))
    findings = findings_from_sweep(run_sweep(config), "secondary")

The regions differ the way real ones do: the primary has IPv6 and autodiscover, the DR region
(secondary) has neither, so what each must answer differs per record type. Every address a
client could connect to is in 127.0.0.0/8; the IPv6 addresses are documentation addresses that
only ever appear in DNS answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from cockpit.compat import UTC
from cockpit.config import Config
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Observation, ServerSpec
from cockpit.dns.query import QueryJob, query, query_many
from cockpit.dns.sweep import sweep
from cockpit.dns.sweep_model import SweepResult
from cockpit.model import Finding
from tests.lab.dnslab import DnsLab, zone_text

ZONE = "example.test"
WEBMAIL = f"webmail.{ZONE}"
AUTODISCOVER = f"autodiscover.{ZONE}"
TIMEOUT = 1.0
"""Per question: a validating resolver answers in milliseconds, a busy machine needs slack."""

WEBMAIL_ADDRESSES = {"primary": ("127.0.10.1", "2001:db8:10::1"), "secondary": ("127.0.10.2",)}
MX_HOST = {"primary": "mx1", "secondary": "mx2"}
AUTODISCOVER_TARGETS = {"primary": (f"autodiscover.eu.{ZONE}",), "secondary": ()}

BASE_RECORDS = (
    "mx1 A 127.0.0.25",
    "mx2 A 127.0.0.26",
    '@ TXT "v=spf1 ip4:127.0.20.0/24 -all"',
    '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"',
    'p1._domainkey TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="',
    's1._domainkey TXT "v=DKIM1; k=ed25519; p=lAvhSWwl3lX6l0VLnMQ3mJ6ZGwH8GtELr6cwzbUJ1Yk="',
    "autodiscover.eu A 127.0.10.11",
)
"""What stays the same whichever region is active."""


def active_records(region: str) -> list[str]:
    """MX, webmail A/AAAA and autodiscover as `region` publishes them when it is active."""
    records = [f"@ MX 10 {MX_HOST[region]}"]
    for address in WEBMAIL_ADDRESSES[region]:
        records.append(f"webmail {'AAAA' if ':' in address else 'A'} {address}")
    for target in AUTODISCOVER_TARGETS[region]:
        records.append(f"autodiscover CNAME {target}.")
        records.append(f"_autodiscover._tcp SRV 0 0 443 {target}.")
    return records


def world_zones(
    records: Sequence[str],
    *,
    serial: int = 1,
    ttl: int = 2,
    negative_ttl: int = 2,
    soa_ttl: int = 30,
    base: Sequence[str] = BASE_RECORDS,
) -> dict[str, str]:
    """example.test with `base` and `records` (zone-file lines relative to the origin)."""
    text = zone_text(
        ZONE, serial, ttl, [*base, *records], negative_ttl=negative_ttl, soa_ttl=soa_ttl
    )
    return {ZONE: text}


def world_config_text(lab: DnsLab, *, timeout: float = TIMEOUT) -> str:
    """The TOML config: both regions, every lab resolver, the lab's nsd as authoritative."""

    def strings(values: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    ip, port = lab.authoritative
    text = f'[incident]\ndir = "incidents"\n\n[domain]\nname = "{ZONE}"\n'
    for region, selector in (("primary", "p1"), ("secondary", "s1")):
        text += (
            f'\n[[region]]\nname = "{region}"\n'
            f'mx = ["{MX_HOST[region]}.{ZONE}"]\n'
            f'dkim_selectors = ["{selector}"]\n'
            f'webmail_url = "https://{WEBMAIL}/"\n'
            f"webmail_addresses = {strings(WEBMAIL_ADDRESSES[region])}\n"
        )
        if AUTODISCOVER_TARGETS[region]:
            text += f"autodiscover_targets = {strings(AUTODISCOVER_TARGETS[region])}\n"
    text += f'\n[dns]\ntimeout = {timeout}\nauthoritative = ["{ip}:{port}"]\n'
    for name, resolver_ip, resolver_port in lab.resolvers:
        text += f'\n[[dns.resolver]]\nname = "{name}"\naddress = "{resolver_ip}:{resolver_port}"\n'
    return text


def write_world_config(directory: Path, lab: DnsLab, *, timeout: float = TIMEOUT) -> Path:
    path = directory / "cockpit.toml"
    path.write_text(world_config_text(lab, timeout=timeout), encoding="utf-8")
    return path


def run_sweep(config: Config) -> SweepResult:
    return asyncio.run(sweep(config))


def answers_by_resolver(findings: list[Finding], check: str, subject: str) -> dict[str, Finding]:
    """The per-server findings of one record, by resolver (authoritative ones included)."""
    return {
        f.resolver: f
        for f in findings
        if f.check == check and f.subject == subject and f.resolver is not None
    }


def check_of(result: SweepResult, key: str) -> str:
    """What `cockpit check` calls the record of WatchedName.key `key` (A and AAAA share a name)."""
    return next(watched.check for watched in result.watched if watched.key == key)


def propagation_of(findings: list[Finding], key: str) -> Finding:
    [found] = [f for f in findings if f.check == "propagation" and f.subject == key]
    return found


def warm(lab: DnsLab, name: str, rdtype: str) -> list[Observation]:
    """Ask every lab resolver once, so each caches the answer as it is now."""
    jobs = [
        QueryJob(ServerSpec(resolver, ip, port), name, rdtype, TIMEOUT, resolver)
        for resolver, ip, port in lab.resolvers
    ]
    return asyncio.run(query_many(jobs, limit=len(jobs)))


def ask_resolver(lab: DnsLab, index: int, name: str, rdtype: str) -> Observation:
    resolver, ip, port = lab.resolvers[index]
    return asyncio.run(query(ServerSpec(resolver, ip, port), name, rdtype, timeout=TIMEOUT))


def switch(lab: DnsLab, zones: Mapping[str, str]) -> None:
    """Publish new zone texts (each with a higher serial) and wait until nsd serves them."""
    for zone, text in zones.items():
        lab.set_zone(zone, text)
    lab.reload()


def sleep_until(moment: datetime, margin: float = 0.3) -> None:
    """Until `moment` (UTC) has passed, plus `margin` seconds of scheduling slack."""
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + margin)


def sweep_findings(config: Config, target: str) -> tuple[SweepResult, list[Finding]]:
    result = run_sweep(config)
    return result, findings_from_sweep(result, target)
