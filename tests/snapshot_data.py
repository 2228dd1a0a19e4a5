"""Fixed data for the cockpit snapshot tests: a frozen clock, an incident log written with fixed
timestamps, and hand-built DNS, queue and auth results (no probes, no network).

Everything here is a pure function of the constants below, so two runs draw the same screen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cockpit.compat import UTC
from cockpit.config.model import QueueSource
from cockpit.dns.observation import Outcome
from cockpit.dns.sweep_model import SweepResult
from cockpit.incident.entry import Entry, format_ts
from cockpit.model import Finding, Status
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import QueueSample, Reading
from tests.dns_fakes import MX_PRIMARY, MX_SECONDARY, SPF, SPF_NEW, auth, obs, sweep, watched

NOW = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)
"""The frozen clock: every widget that asks for the time gets this."""
IMPACT_AT = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
SWEEP_AT = NOW - timedelta(seconds=60)
"""The DNS sweep started a minute ago: TTLs of 300 s show 240 s left."""
LOG_NAME = "2026-11-27-eu-storage.jsonl"
TITLE = "EU storage outage"
SEVERITY = "SEV2"
TARGET = "secondary"
AUTHOR = "alice"
"""Who sits at this cockpit (the header's @name)."""
COMMANDER = "bob"
ORIGIN = MappingProxyType({"host": "ops1", "tty": "/dev/pts/3"})


def frozen_clock() -> datetime:
    return NOW


# --- the incident log -----------------------------------------------------------------------


def _at(minute: int, second: int = 0) -> datetime:
    return IMPACT_AT + timedelta(minutes=minute, seconds=second)


def incident_entries() -> list[Entry]:
    """Title, impact, the commander role, declared, severity, a checklist tick, a failover
    decision and a probe entry, seq 1..N at fixed times."""
    raw: list[tuple[datetime, str, str, str, dict[str, Any]]] = [
        (_at(3), "bob", "system", "title set", {"event": "title", "title": TITLE}),
        (
            _at(4),
            "bob",
            "phase",
            "impact at 14:00",
            {"phase": "impact", "at": format_ts(_at(0))},
        ),
        (
            _at(9),
            "bob",
            "system",
            "bob takes the commander role",
            {"event": "role", "role": "commander", "holder": COMMANDER},
        ),
        (
            _at(10),
            "bob",
            "phase",
            "declared at 14:10",
            {"phase": "declared", "at": format_ts(_at(10))},
        ),
        (
            _at(10, 30),
            "bob",
            "system",
            f"severity set to {SEVERITY}",
            {"event": "severity", "severity": SEVERITY},
        ),
        (
            _at(12),
            "carol",
            "check",
            "Done: Confirm the scope of the outage",
            {"step": "confirm-scope", "result": "done", "title": "Confirm the scope of the outage"},
        ),
        (
            _at(18),
            "carol",
            "decision",
            "Fail over to secondary",
            {
                "why": "EU storage cluster down, no ETA",
                "approver": "dave",
                "target_region": TARGET,
                "previous_region": "primary",
            },
        ),
        (
            _at(21, 30),
            "cockpit",
            "probe",
            "dns MX example.com at Quad9: stale (primary)",
            {
                "area": "dns",
                "event": "record_changed",
                "status": "warn",
                "subject": "example.com MX",
                "server": "Quad9",
                "dedupe_key": "dns|Quad9|example.com MX",
            },
        ),
    ]
    return [
        Entry(seq, ts, author, ORIGIN, kind, text, data)
        for seq, (ts, author, kind, text, data) in enumerate(raw, start=1)
    ]


def write_incident_log(directory: Path) -> Path:
    """The log file, written byte for byte (IncidentLog.append would stamp the real time)."""
    path = directory / LOG_NAME
    path.write_bytes(b"".join(entry.to_json_line() for entry in incident_entries()))
    return path


# --- DNS -------------------------------------------------------------------------------------


def dns_sweep() -> SweepResult:
    """MX half-way through a failover to secondary (one resolver stale, one timing out), the
    webmail A record converged, SPF still the old value at one resolver and SERVFAIL at another,
    DMARC not yet visible (NXDOMAIN cached) although the authoritative servers have it."""
    at = SWEEP_AT
    mx = watched("MX")
    webmail = watched("webmail.example.com A")
    spf = watched("SPF")
    dmarc = watched("DMARC")
    dmarc_text = ("v=DMARC1; p=quarantine",)
    resolver_answers = {
        ("Cloudflare", mx.key): obs(mx, Outcome.ANSWER, MX_SECONDARY, server="Cloudflare", at=at),
        ("Quad9", mx.key): obs(mx, Outcome.ANSWER, MX_PRIMARY, server="Quad9", at=at),
        ("Office", mx.key): dataclasses.replace(
            obs(mx, Outcome.TIMEOUT, server="Office", at=at, attempts=2, error="no reply in 2 s"),
            latency_ms=None,
        ),
        ("Cloudflare", webmail.key): obs(
            webmail, Outcome.ANSWER, ("198.51.100.20",), server="Cloudflare", at=at
        ),
        ("Quad9", webmail.key): obs(
            webmail, Outcome.ANSWER, ("198.51.100.20",), server="Quad9", at=at
        ),
        ("Office", webmail.key): obs(
            webmail, Outcome.ANSWER, ("198.51.100.20",), server="Office", at=at, ttl=60
        ),
        ("Cloudflare", spf.key): obs(spf, Outcome.ANSWER, (SPF_NEW,), server="Cloudflare", at=at),
        ("Quad9", spf.key): obs(spf, Outcome.ANSWER, (SPF,), server="Quad9", at=at),
        ("Office", spf.key): obs(spf, Outcome.SERVFAIL, server="Office", at=at),
        ("Cloudflare", dmarc.key): obs(dmarc, Outcome.NXDOMAIN, server="Cloudflare", at=at),
        ("Quad9", dmarc.key): obs(dmarc, Outcome.NXDOMAIN, server="Quad9", at=at),
        ("Office", dmarc.key): obs(dmarc, Outcome.NXDOMAIN, server="Office", at=at),
    }
    auth_answers = {
        **auth(mx, MX_SECONDARY, at=at),
        **auth(webmail, ("198.51.100.20",), at=at),
        **auth(spf, (SPF_NEW,), at=at),
        **auth(dmarc, dmarc_text, at=at),
    }
    return sweep(
        resolver_answers,
        auth_answers,
        records=(mx, webmail, spf, dmarc),
        started_at=at,
    )


# --- queues ----------------------------------------------------------------------------------

QueueRow = tuple[QueueSource, str, QueueHistory]


def _source(name: str, *, warn: int | None = None, crit: int | None = None) -> QueueSource:
    return QueueSource(
        name=name, kind="postqueue", command=("postqueue", "-j"), warn=warn, crit=crit
    )


def _reading(name: str, seconds_ago: float, total: int, oldest_s: float | None) -> Reading:
    at = NOW - timedelta(seconds=seconds_ago)
    active = min(total, 40)
    by_queue = MappingProxyType({"active": active, "deferred": total - active})
    return Reading(name, at, QueueSample(name, at, total, by_queue, oldest_age_s=oldest_s))


def queue_rows() -> list[QueueRow]:
    """primary mx1 unknown since its last read failed (last good value kept), secondary's relay
    growing past its warn threshold, primary mx2 draining."""
    lost_source = _source("mx1", warn=5000, crit=20000)
    lost = QueueHistory(lost_source, "primary")
    for step, total in enumerate((2400, 2450, 2480)):
        lost.add(_reading("mx1", 300 - step * 15, total, 1500.0))
    lost.add(
        Reading(
            "mx1",
            NOW - timedelta(seconds=15),
            None,
            "exit 255: ssh: connect to host mx1 port 22: Connection refused",
        )
    )

    growing_source = _source("relay-us", warn=5000, crit=20000)
    growing = QueueHistory(growing_source, "secondary")
    growing_totals = (3100, 3300, 3650, 3900, 4300, 4600, 4950, 5200, 5600, 6100, 6500, 7000)
    for step, total in enumerate(growing_totals):
        seconds_ago = (len(growing_totals) - 1 - step) * 15
        growing.add(_reading("relay-us", seconds_ago, total, 900.0 + step * 15))

    draining_source = _source("mx2", warn=5000, crit=20000)
    draining = QueueHistory(draining_source, "primary")
    for step, total in enumerate((620, 560, 505, 450, 390, 340)):
        draining.add(_reading("mx2", (5 - step) * 15, total, 420.0))

    return [
        (lost_source, "primary", lost),
        (growing_source, "secondary", growing),
        (draining_source, "primary", draining),
    ]


# --- auth and the checklist's probe findings ---------------------------------------------------


def auth_findings() -> list[Finding]:
    """ok, warn, fail and unknown across the two regions; DKIM fails in the target region."""
    return [
        Finding("auth", "spf", "example.com", Status.OK, "pass", "primary"),
        Finding("auth", "dkim", "eu1", Status.OK, "key found", "primary"),
        Finding("auth", "dmarc", "example.com", Status.OK, "p=quarantine", "primary"),
        Finding("auth", "ptr", "203.0.113.10", Status.OK, "mx1.example.com", "primary"),
        Finding("auth", "smtp-tls", "mx1.example.com", Status.UNKNOWN, "timeout", "primary"),
        Finding("auth", "spf", "example.com", Status.OK, "pass", TARGET),
        Finding("auth", "spf-lookups", "example.com", Status.WARN, "9 lookups", TARGET),
        Finding(
            "auth",
            "dkim",
            "us1",
            Status.FAIL,
            "no key at us1._domainkey.example.com",
            TARGET,
            data={"evidence": "NXDOMAIN from ns1, ns2"},
        ),
        Finding("auth", "dmarc", "example.com", Status.OK, "p=quarantine", TARGET),
        Finding("auth", "mta-sts", "example.com", Status.UNKNOWN, "timeout", TARGET),
        Finding("auth", "webmail", "webmail.example.com", Status.OK, "200 OK", TARGET),
    ]


def checklist_findings() -> list[Finding]:
    """What the checklist's auto hints judge, seen a minute ago: the target region's MX is not
    converged (no hint for the cutover); "mail flows again" waits for the routed phase."""
    return [
        Finding(
            "dns", "MX", "example.com", Status.WARN, "1/3 converged", TARGET, observed_at=SWEEP_AT
        ),
        Finding(
            "queue",
            "depth",
            "relay-us",
            Status.WARN,
            "7,000 (warn 5,000)",
            TARGET,
            observed_at=SWEEP_AT,
        ),
        *(dataclasses.replace(finding, observed_at=SWEEP_AT) for finding in auth_findings()),
    ]


def region_findings() -> list[Finding]:
    """What the region strip shows: the primary refuses mail, the secondary takes it but its
    replication is behind, and its control plane is still standby."""
    seen = NOW - timedelta(seconds=20)
    return [
        Finding(
            "service",
            "smtp",
            "mx1.example.com:25",
            Status.FAIL,
            "mx1.example.com:25 greets 421 in 4 ms: 4.3.2 service not available",
            "primary",
            data={"mx": True},
            observed_at=_at(2),
        ),
        Finding(
            "service",
            "smtp",
            "mx2.example.com:25",
            Status.OK,
            "mx2.example.com:25 greets 220 in 6 ms, STARTTLS ok",
            TARGET,
            data={"mx": True},
            observed_at=seen,
        ),
        Finding(
            "replication",
            "lag",
            "us-store",
            Status.WARN,
            "2 min behind (warn 30 s)",
            TARGET,
            data={"lag_s": 120.0},
            observed_at=seen,
        ),
        Finding(
            "authority",
            "role",
            "us-control",
            Status.OK,
            "standby",
            TARGET,
            data={"role": "standby"},
            observed_at=seen,
        ),
    ]


def pane_data() -> tuple[SweepResult, Sequence[QueueRow], list[Finding], list[Finding]]:
    return dns_sweep(), queue_rows(), auth_findings(), checklist_findings()
