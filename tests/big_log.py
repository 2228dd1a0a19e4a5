"""A realistic big incident log, written straight to a file (tests and bench/bench_open_big_log).

Most entries are `probe` entries shaped like `cockpit.incident.probe_log` makes them (DNS
resolver and record changes, queue thresholds) with evidence of a few hundred bytes up to
EVIDENCE_BYTES; among them notes, checklist ticks, phases, a failover decision, role handoffs,
the severity and the title, spread over the log so that the true state needs all of it:

    title     "EU mail region down"           (seq 1)
    severity  SEV2, raised to SEV1 later
    commander alice (near the start), handed to carol in the middle (HANDOFF_AT)
    phases    impact, detected, declared early; routed at ROUTED_AT (after the decision)
    target    secondary (the failover decision at DECISION_AT)
    ticks     confirm-scope, freeze-changes, declare, cutover done
    last      a note "LAST_TEXT"

The mark (`<log>.mark`) is written for the last entry, as a writer would have left it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit.compat import UTC
from cockpit.incident.checklist import CHECK_KIND
from cockpit.incident.entry import Entry, format_ts
from cockpit.incident.log_mark import write_mark
from cockpit.incident.probe_log import EVIDENCE_BYTES, bound_evidence

START = datetime(2026, 11, 27, 13, 50, tzinfo=UTC)
TITLE = "EU mail region down"
LAST_TEXT = "the last entry of the big log"
FINAL_PHASE = "routed"
FINAL_TARGET = "secondary"
FINAL_COMMANDER = "carol"
FINAL_SEVERITY = "SEV1"
DONE_STEPS = ("confirm-scope", "freeze-changes", "declare", "cutover")

_COCKPIT_ORIGIN = {"host": "ops1", "tty": "/dev/pts/3", "ssh_client": "10.1.2.3", "tmux": "%3"}
_PEOPLE = {
    "alice": {"host": "ops1", "tty": "/dev/pts/4", "ssh_client": "10.1.2.4"},
    "bob": {"host": "ops2", "tty": "/dev/pts/1", "ssh_client": "10.1.2.5"},
    "carol": {"host": "laptop-carol", "tty": "/dev/pts/0"},
}
_RESOLVERS = [f"r{index}.resolvers.example" for index in range(30)]
_RECORDS = [
    "MX example.com",
    "A mail.example.com",
    "CNAME autodiscover.example.com",
    "TXT example.com",
    "TXT _dmarc.example.com",
    "TXT s1._domainkey.example.com",
]
_REGIONS = ("primary", "secondary")
_NOTED_STEPS = (
    "evidence-queue",
    "evidence-smtp",
    "evidence-dns",
    "evidence-storage",
    "evidence-auth",
    "inform-users",
)


def _words(rng: random.Random, count: int) -> str:
    vocabulary = (
        "deferred",
        "timeout",
        "421",
        "TLS",
        "mx1",
        "mx2",
        "queue",
        "users",
        "bounce",
        "resolver",
        "answer",
        "stale",
        "cache",
        "eu-west",
        "4.3.2",
        "connection",
    )
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def _dns_probe(rng: random.Random, at: datetime) -> tuple[str, dict[str, Any]]:
    resolver, record = rng.choice(_RESOLVERS), rng.choice(_RECORDS)
    region = rng.choice(_REGIONS)
    answers = [
        f"10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8, 24)))
    ]
    evidence = {
        "before": {
            "outcome": "answer",
            "answers": answers[:2],
            "ttl": rng.randint(1, 3600),
            "region": _REGIONS[0],
            "verdict": "stale",
        },
        "after": {
            "outcome": "answer",
            "answers": answers,
            "ttl": rng.randint(1, 3600),
            "region": region,
            "verdict": "current",
            "latency_ms": rng.randint(1, 900),
            "rcode": "NOERROR",
            "flags": "QR RD RA",
        },
        "chain": [
            f"{record.split()[-1]} CNAME edge{i}.cdn.example"
            for i in range(rng.choice((0, 0, 0, 1, 2, 4)))
        ],
    }
    key = f"dns|resolver|{record}|{resolver}"
    data = {
        "area": "dns",
        "event": "resolver_region_changed",
        "status": None,
        "subject": record,
        "server": resolver,
        "evidence": bound_evidence(evidence, EVIDENCE_BYTES),
        "dedupe_key": key,
        "probe_id": f"{rng.getrandbits(64):016x}",
        "observed_at": at.isoformat(),
    }
    return f"{resolver} {record}: now answers {region}", data


def _queue_probe(rng: random.Random, at: datetime) -> tuple[str, dict[str, Any]]:
    region = rng.choice(_REGIONS)
    source = f"{region}-postqueue"
    depth = {
        "active": rng.randint(0, 500),
        "deferred": rng.randint(0, 90000),
        "hold": rng.randint(0, 10),
        "incoming": rng.randint(0, 200),
    }
    evidence = {
        "backlog": depth,
        "reasons": [
            {
                "reason": f"4.4.1 connect to mx{i}.example.net: {_words(rng, 4)}",
                "count": rng.randint(1, 5000),
            }
            for i in range(rng.choice((0, 1, 1, 2, 3, 5)))
        ],
        "domains": [
            {"domain": f"d{i}.example.org", "count": rng.randint(1, 900)}
            for i in range(rng.choice((0, 0, 1, 2, 4, 10)))
        ],
        "oldest_s": rng.randint(0, 9000),
    }
    data = {
        "area": "queue",
        "event": "depth_up",
        "status": rng.choice(("ok", "warn", "fail")),
        "subject": source,
        "region": region,
        **depth,
        "evidence": bound_evidence(evidence, EVIDENCE_BYTES),
        "dedupe_key": f"queue|depth|{source}|{region}",
        "probe_id": f"{rng.getrandbits(64):016x}",
        "observed_at": at.isoformat(),
    }
    return f"{source}: depth crossed a threshold upwards", data


class _Writer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("wb")
        self.seq = 0
        self.last_line = b""

    def add(self, at: datetime, author: str, kind: str, text: str, data: dict[str, Any]) -> None:
        self.seq += 1
        origin = _COCKPIT_ORIGIN if author == "cockpit" else _PEOPLE.get(author, _COCKPIT_ORIGIN)
        line = Entry(self.seq, at, author, origin, kind, text, data).to_json_line()
        self.file.write(line)
        self.last_line = line


def _planned(count: int) -> dict[int, tuple[str, str, str, dict[str, Any]]]:
    """seq -> (author, kind, text, data) of the entries that make the state."""

    def at(minutes: int) -> str:
        return format_ts(START + timedelta(minutes=minutes))

    def tick(step: str, title: str) -> tuple[str, str, str, dict[str, Any]]:
        return (
            "alice",
            CHECK_KIND,
            f"Done: {title}",
            {"step": step, "result": "done", "title": title},
        )

    def role(holder: str, previous: str | None) -> tuple[str, str, str, dict[str, Any]]:
        data: dict[str, Any] = {"event": "role", "role": "commander", "holder": holder}
        if previous:
            data["previous"] = previous
        return holder, "system", f"{holder} takes the commander role", data

    middle = count // 2
    return {
        1: ("alice", "system", "title set", {"event": "title", "title": TITLE}),
        2: ("alice", "system", "severity set to SEV2", {"event": "severity", "severity": "SEV2"}),
        3: role("alice", None),
        5: ("alice", "phase", f"impact at {at(0)}", {"phase": "impact", "at": at(0)}),
        8: (
            "cockpit",
            "phase",
            f"detected at {at(2)}",
            {"phase": "detected", "at": at(2), "source": "probe"},
        ),
        12: tick("confirm-scope", "Confirm the scope of the outage"),
        14: tick("freeze-changes", "Freeze changes that are not part of the failover"),
        20: tick("declare", "Declare the incident and open its channel"),
        21: (
            "alice",
            "phase",
            f"declared at {at(9)}",
            {"phase": "declared", "at": at(9), "step": "declare"},
        ),
        count // 3: (
            "bob",
            "system",
            "severity set to SEV1",
            {"event": "severity", "severity": FINAL_SEVERITY},
        ),
        middle: role(FINAL_COMMANDER, "alice"),
        middle + 10: (
            "carol",
            "decision",
            "Fail over to secondary",
            {
                "why": "primary storage lost",
                "approver": "dave",
                "target_region": FINAL_TARGET,
                "previous_region": "primary",
            },
        ),
        middle + 400: tick("cutover", "Cut over: change the fewest records, not everything"),
        middle + 401: (
            "alice",
            "phase",
            f"routed at {at(120)}",
            {"phase": FINAL_PHASE, "at": at(120), "step": "cutover"},
        ),
        count: ("bob", "note", LAST_TEXT, {}),
    }


def write_big_log(path: Path, count: int, *, seed: int = 13) -> None:
    """Write a `count`-entry log at `path` (and its mark); see the module docstring."""
    rng = random.Random(seed)
    planned = _planned(count)
    writer = _Writer(path)
    try:
        for seq in range(1, count + 1):
            at = START + timedelta(milliseconds=seq * 700)
            if seq in planned:
                author, kind, text, data = planned[seq]
                writer.add(at, author, kind, text, data)
                continue
            roll = rng.random()
            if roll < 0.60:
                writer.add(at, "cockpit", "probe", *_dns_probe(rng, at))
            elif roll < 0.85:
                writer.add(at, "cockpit", "probe", *_queue_probe(rng, at))
            elif roll < 0.998:
                author = rng.choice(tuple(_PEOPLE))
                writer.add(at, author, "note", _words(rng, rng.randint(3, 40)), {})
            else:
                step = rng.choice(_NOTED_STEPS)
                writer.add(
                    at,
                    "alice",
                    CHECK_KIND,
                    f"Note on step: {step}",
                    {"step": step, "result": "note", "note": _words(rng, rng.randint(3, 20))},
                )
    finally:
        writer.file.close()
    write_mark(path, writer.seq, writer.last_line)


CONFIG_TEXT = """
[domain]
name = "example.com"

[[region]]
name = "primary"
mx = ["mx1.example.com"]

[[region]]
name = "secondary"
mx = ["mx1.backup.example.com"]
"""
"""A config whose regions the big log names (the probes are not run with it)."""
