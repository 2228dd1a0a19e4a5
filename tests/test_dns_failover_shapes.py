"""Failover shapes a mail team meets, on real nsd and unbound: one table per verdict rule.

The world (tests/lab/failover_world.py): example.test with a primary region (IPv6, autodiscover)
and a DR region (secondary) without either. Each row publishes a zone, lets resolvers cache it,
publishes the next one, and judges one sweep (as `cockpit check --only dns` does); where a rule
is about time, the row then waits and shows on the real caches that the estimate holds.

Rules (issue 12, "DNS verdicts"):
- a record type the target region does not have: its absence is the converged answer;
- a CNAME chain stays cached as long as the CNAME that holds the stale part;
- a resolver's cached negative answer lasts as long as its SOA's TTL (unbound's cache-min-ttl);
- a target in no region (a local override) fails and never gets an estimate.
DNSSEC bogus at validating resolvers has its own signed lab: test_dns_failover_dnssec.py.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import fromisoformat
from cockpit.config import load_config
from cockpit.dns.classify import NO_VIEW, authoritative_view
from cockpit.dns.observation import Outcome
from cockpit.dns.propagation import TTL_GRANULARITY, record_propagation, stale_ttl
from cockpit.dns.sweep_model import SweepResult
from cockpit.model import Status
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.failover_world import (
    AUTODISCOVER,
    BASE_RECORDS,
    WEBMAIL,
    ZONE,
    active_records,
    answers_by_resolver,
    ask_resolver,
    check_of,
    propagation_of,
    sleep_until,
    sweep_findings,
    switch,
    warm,
    world_zones,
    write_world_config,
)
from tests.lab.resolver_options import PLAIN, ResolverOptions
from tests.test_check_cli import check_json

pytest_plugins = ["tests.lab.dnslab"]

FRESH, STALE = "lab-r1", ("lab-r2", "lab-r3")
"""Every row flushes lab-r1 after the change; the others keep what they cached before it."""


def split_key(key: str) -> tuple[str, str]:
    name, rdtype = key.split()
    return name, rdtype


# --- a record type the target region does not have -----------------------------------------------


@dataclass(frozen=True)
class AbsenceRow:
    before: str
    """The region active before the change (its records are what the stale caches hold)."""
    after: tuple[str, ...]
    target: str
    key: str
    check: str
    fresh: tuple[Status, str]
    """Status and summary of the flushed resolver."""
    stale: tuple[Status, str]
    authoritative: Status
    propagation: Status
    """Right after the change."""
    settled: Status
    """Once every cache could have expired."""


SECONDARY_NOW = tuple(active_records("secondary"))
AAAA_KEY = f"{WEBMAIL} AAAA"
ABSENCE_ROWS = [
    pytest.param(
        AbsenceRow(
            "primary",
            SECONDARY_NOW,
            "secondary",
            AAAA_KEY,
            "AAAA",
            (Status.OK, "secondary has no AAAA: none is correct (NODATA)"),
            (Status.WARN, "still answers 2001:db8:10::1 (primary)"),
            Status.OK,
            Status.WARN,
            Status.OK,
        ),
        id="webmail-aaaa-dr-region-without-ipv6",
    ),
    pytest.param(
        AbsenceRow(
            "primary",
            SECONDARY_NOW,
            "secondary",
            f"{AUTODISCOVER} CNAME",
            "CNAME",
            (Status.OK, "secondary has no CNAME: none is correct (NXDOMAIN)"),
            (Status.WARN, "still answers autodiscover.eu.example.test (primary)"),
            Status.OK,
            Status.WARN,
            Status.OK,
        ),
        id="autodiscover-cname-dr-region-without-autodiscover",
    ),
    pytest.param(
        AbsenceRow(
            "primary",
            SECONDARY_NOW,
            "secondary",
            f"_autodiscover._tcp.{ZONE} SRV",
            "SRV",
            (Status.OK, "secondary has no SRV: none is correct (NXDOMAIN)"),
            (Status.WARN, "autodiscover.eu.example.test (primary)"),
            Status.OK,
            Status.WARN,
            Status.OK,
        ),
        id="autodiscover-srv-dr-region-without-autodiscover",
    ),
    pytest.param(
        AbsenceRow(
            "primary",
            (*SECONDARY_NOW, "webmail AAAA 2001:db8:10::1"),
            "secondary",
            AAAA_KEY,
            "AAAA",
            (Status.WARN, "still answers 2001:db8:10::1 (primary)"),
            (Status.WARN, "still answers 2001:db8:10::1 (primary)"),
            Status.WARN,
            Status.FAIL,
            Status.FAIL,
        ),
        id="primary-aaaa-left-behind-is-blocked",
    ),
    pytest.param(
        AbsenceRow(
            "secondary",
            tuple(active_records("primary")),
            "primary",
            AAAA_KEY,
            "AAAA",
            (Status.OK, "answers 2001:db8:10::1 (primary)"),
            (Status.WARN, "NODATA still cached"),
            Status.OK,
            Status.WARN,
            Status.OK,
        ),
        id="failback-to-the-region-with-ipv6-nodata-is-stale",
    ),
]


@pytest.mark.parametrize("row", ABSENCE_ROWS)
def test_a_type_the_target_region_lacks_is_converged_when_absent(
    row: AbsenceRow, dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(world_zones(active_records(row.before), ttl=3, negative_ttl=3), 3)
    config = load_config(write_world_config(tmp_path, lab))
    name, rdtype = split_key(row.key)
    warm(lab, name, rdtype)
    switch(lab, world_zones(row.after, serial=2, ttl=3, negative_ttl=3))
    lab.flush(0)
    result, findings = sweep_findings(config, row.target)

    answers = answers_by_resolver(findings, row.check, name)
    for resolvers, (status, summary) in (((FRESH,), row.fresh), (STALE, row.stale)):
        for resolver in resolvers:
            assert answers[resolver].status is status, answers[resolver]
            assert summary in answers[resolver].summary, answers[resolver]
    [authoritative] = [f for r, f in answers.items() if r.startswith("authoritative")]
    assert authoritative.status is row.authoritative, authoritative
    before = propagation_of(findings, row.key)
    assert before.status is row.propagation, before
    warned = [r for r in (FRESH, *STALE) if answers[r].status is Status.WARN]
    assert before.data["stale_resolvers"] == warned
    if row.propagation is Status.WARN:
        assert before.data["estimate"] is not None and before.data["share"] == pytest.approx(1 / 3)
    else:
        assert before.data["estimate"] is None and before.data["blocked_by"] == "primary"

    # Until the estimate (the old caches are gone by then), or every TTL when there is none.
    estimate = before.data["estimate"]
    if estimate is not None:
        sleep_until(fromisoformat(estimate))
    else:
        sleep_until(result.finished_at + timedelta(seconds=3) + TTL_GRANULARITY)
    _, after = sweep_findings(config, row.target)
    assert propagation_of(after, row.key).status is row.settled
    if row.settled is Status.OK:
        # Every record as the target region must have it: `cockpit check` would exit 0.
        assert [f for f in after if f.status is not Status.OK] == []


# --- a CNAME chain stays cached as long as the CNAME ----------------------------------------------


@dataclass(frozen=True)
class ChainRow:
    before: tuple[str, ...]
    after: tuple[str, ...]
    key: str
    target: str
    held_link: int | None
    """Index of the CNAME link (cname_ttls) holding the stale part; None: the final RRset."""
    base: tuple[str, ...] = BASE_RECORDS


MAILHOST = zone_text(
    "mailhost.test",
    1,
    1,
    [
        'p1.dkim.eu 1 TXT "v=DKIM1; k=ed25519; p=EUjlV3ztwT9ZxEbmXB0vX2Vn6n7yGq3Fs5Zt7cY1fo="',
        'p1.dkim.us 1 TXT "v=DKIM1; k=ed25519; p=USk3ZkQ1o8lUqQb5x2hS1zq8K3m6Vt0u9YwJ4rNcE="',
    ],
)
ADDRESSES = ("webmail.eu 1 A 127.0.10.1", "webmail.us 1 A 127.0.10.2", "@ MX 10 mx2")
WITHOUT_P1 = tuple(line for line in BASE_RECORDS if not line.startswith("p1._domainkey"))
CHAIN_ROWS = [
    pytest.param(
        ChainRow(
            ("webmail 4 CNAME webmail.eu", *ADDRESSES),
            ("webmail 4 CNAME webmail.us", *ADDRESSES),
            f"{WEBMAIL} A",
            "secondary",
            0,
        ),
        id="webmail-cname-moved-to-the-dr-host",
    ),
    pytest.param(
        ChainRow(
            ("webmail 4 CNAME front", "front 3 CNAME webmail.eu", *ADDRESSES),
            ("webmail 4 CNAME front", "front 3 CNAME webmail.us", *ADDRESSES),
            f"{WEBMAIL} A",
            "secondary",
            1,
        ),
        id="second-link-of-a-chain-moved",
    ),
    pytest.param(
        ChainRow(
            ("webmail 4 CNAME lb", "lb 1 A 127.0.10.1", "@ MX 10 mx2"),
            ("webmail 4 CNAME lb", "lb 1 A 127.0.10.2", "@ MX 10 mx2"),
            f"{WEBMAIL} A",
            "secondary",
            None,
        ),
        id="only-the-address-behind-the-cname-changed",
    ),
    pytest.param(
        ChainRow(
            ("p1._domainkey 4 CNAME p1.dkim.eu.mailhost.test.", "@ MX 10 mx1"),
            ("p1._domainkey 4 CNAME p1.dkim.us.mailhost.test.", "@ MX 10 mx1"),
            f"p1._domainkey.{ZONE} TXT",
            "primary",
            0,
            WITHOUT_P1,
        ),
        id="dkim-cname-to-the-mail-provider-moved",
    ),
]


def chain_lab(dns_lab: LabFactory, row: ChainRow) -> DnsLab:
    lab = dns_lab({**world_zones(row.before, base=row.base), "mailhost.test": MAILHOST}, 3)
    warm(lab, *split_key(row.key))
    switch(lab, world_zones(row.after, serial=2, base=row.base))
    lab.flush(0)
    return lab


@pytest.mark.parametrize("row", CHAIN_ROWS)
def test_a_stale_chain_is_held_by_the_ttl_of_the_link_that_moved(
    row: ChainRow, dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = chain_lab(dns_lab, row)
    config = load_config(write_world_config(tmp_path, lab))
    result, findings = sweep_findings(config, row.target)
    watched = next(w for w in result.watched if w.key == row.key)
    view = authoritative_view(result, watched)
    progress = record_propagation(result, watched, row.target)
    assert progress.stale_resolvers == STALE, progress

    answers = answers_by_resolver(findings, watched.check, watched.name)
    for resolver in STALE:
        seen = result.observations[(resolver, row.key)]
        assert seen.cname_chain and len(seen.cname_ttls) == len(seen.cname_chain)
        held = seen.final_ttl if row.held_link is None else seen.cname_ttls[row.held_link]
        assert held is not None and progress.stale_ttls[resolver] == held
        assert (held > seen.ttl) if row.held_link is not None else (held == seen.ttl)
        shown = answers[resolver]
        assert shown.data["stale_ttl"] == held, shown.data
        assert f"TTL {held} s" in shown.summary or shown.summary.endswith("…"), shown
        # Without an authoritative chain to compare with: the largest TTL, never earlier.
        assert stale_ttl(seen, NO_VIEW) == max(*seen.cname_ttls, seen.final_ttl or 0)
        assert stale_ttl(seen, view) == held
    stale_seen = [result.observations[(resolver, row.key)] for resolver in STALE]
    assert progress.estimate == max(
        seen.observed_at
        + timedelta(seconds=progress.stale_ttls[seen.server_name] or 0)
        + TTL_GRANULARITY
        for seen in stale_seen
    )

    # What the shortest TTL of the chain promised has passed: the real cache proves the rule.
    sleep_until(
        max(seen.observed_at + timedelta(seconds=seen.ttl or 0) for seen in stale_seen)
        + TTL_GRANULARITY
    )
    again = ask_resolver(lab, 1, watched.name, watched.rdtype)
    if row.held_link is not None:
        assert again.cname_chain == stale_seen[0].cname_chain, "still following the old CNAME"
    else:
        assert again.answers == view.answers, "the address behind the CNAME was fetched again"
    assert progress.estimate is not None
    sleep_until(progress.estimate)
    _, settled = sweep_findings(config, row.target)
    assert propagation_of(settled, row.key).status is Status.OK


COUNTDOWN_ADDRESSES = ("webmail.eu 3 A 127.0.10.1", "webmail.us 3 A 127.0.10.2", "@ MX 10 mx2")
COUNTDOWN_ROW = ChainRow(
    ("webmail 8 CNAME webmail.eu", *COUNTDOWN_ADDRESSES),
    ("webmail 8 CNAME webmail.us", *COUNTDOWN_ADDRESSES),
    f"{WEBMAIL} A",
    "secondary",
    0,
)
"""The first chain row with room in its TTLs: resolvers count a TTL down in whole seconds, so an
address cached with a TTL of 1 reads 0 as soon as the sweep falls in the next second after the
warm-up (one run in several), and here the address's own countdown must still be running."""


@pytest.mark.anyio
async def test_the_countdown_of_a_stale_cname_cell_is_the_cname_s(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    from cockpit.ui.dns_pane import DnsPane
    from tests.test_ui_panes import PaneApp, cell, row_of

    row = COUNTDOWN_ROW

    def stale_sweep() -> SweepResult:  # in a thread: the sweep runs its own event loop
        lab = chain_lab(dns_lab, row)
        return sweep_findings(load_config(write_world_config(tmp_path, lab)), row.target)[0]

    result = await asyncio.to_thread(stale_sweep)
    now = result.finished_at + timedelta(seconds=1)
    pane = DnsPane(clock=lambda: now, domain=ZONE)
    async with PaneApp(pane).run_test(size=(160, 30)) as pilot:
        pane.show_sweep(result, row.target)
        await pilot.pause()
        line = row_of(pane.table, row.key)  # rows are ordered worst first
        for column, resolver in enumerate(STALE, start=3):
            seen = result.observations[(resolver, row.key)]
            left = math.ceil(seen.cname_ttls[0] - (now - seen.observed_at).total_seconds())
            assert left > (seen.ttl or 0) - 1 >= 0
            assert cell(pane.table, line, column) == f"! warn primary {left}s"


# --- a resolver's cached negative answer lasts as long as its SOA's TTL -------------------------


FLOOR = 6
"""unbound cache-min-ttl on lab-r2; the zone's SOA minimum (negative TTL) is 2 s."""


@dataclass(frozen=True)
class NegativeRow:
    before: tuple[str, ...]
    after: tuple[str, ...]
    key: str
    kind: Outcome
    base: tuple[str, ...] = BASE_RECORDS


NEGATIVE_ROWS = [
    pytest.param(
        NegativeRow(
            tuple(active_records("secondary")),
            tuple(active_records("primary")),
            f"{AUTODISCOVER} CNAME",
            Outcome.NXDOMAIN,
        ),
        id="autodiscover-published-again-at-failback",
    ),
    pytest.param(
        NegativeRow(
            tuple(active_records("secondary")),
            tuple(active_records("primary")),
            AAAA_KEY,
            Outcome.NODATA,
        ),
        id="webmail-aaaa-published-again-at-failback",
    ),
    pytest.param(
        NegativeRow(
            tuple(active_records("primary")),
            tuple(active_records("primary")),
            f"s1._domainkey.{ZONE} TXT",
            Outcome.NXDOMAIN,
            tuple(line for line in BASE_RECORDS if not line.startswith("s1.")),
        ),
        id="dkim-selector-published-after-first-lookups",
    ),
]


@pytest.mark.parametrize("row", NEGATIVE_ROWS)
def test_a_resolver_keeps_a_negative_answer_for_its_soa_ttl(
    row: NegativeRow, dns_lab: LabFactory, tmp_path: Path
) -> None:
    options = [PLAIN, ResolverOptions(cache_min_ttl=FLOOR), PLAIN]
    before = world_zones(row.before, base=row.base, negative_ttl=2)
    lab = dns_lab(before, 3, resolver_options=options)
    config = load_config(write_world_config(tmp_path, lab))
    name, rdtype = split_key(row.key)
    cached = warm(lab, name, rdtype)
    # Measured: unbound 1.17 applies cache-min-ttl to negative answers, and says so in the SOA.
    assert [seen.outcome for seen in cached] == [row.kind] * 3
    assert [seen.ttl for seen in cached] == [2, FLOOR, 2]
    switch(lab, world_zones(row.after, serial=2, negative_ttl=2))
    lab.flush(0)
    result, findings = sweep_findings(config, "primary")

    floored = result.observations[("lab-r2", row.key)]
    assert floored.outcome is row.kind and not floored.authoritative_answer
    assert floored.ttl is not None and 2 < floored.ttl <= FLOOR and floored.final_ttl == floored.ttl
    answer = answers_by_resolver(findings, check_of(result, row.key), name)["lab-r2"]
    assert answer.status is Status.WARN and f"negative TTL {floored.ttl} s" in answer.summary
    progress = propagation_of(findings, row.key)
    assert progress.status is Status.WARN and "lab-r2" in progress.data["stale_resolvers"]
    estimate = fromisoformat(progress.data["estimate"])
    assert estimate >= floored.observed_at + timedelta(seconds=floored.ttl)

    # The zone's negative TTL has run out: min(SOA TTL, minimum) would call lab-r2 fresh now.
    sleep_until(cached[1].observed_at + timedelta(seconds=2) + TTL_GRANULARITY)
    assert ask_resolver(lab, 1, name, rdtype).outcome is row.kind, "lab-r2 still denies it"
    assert ask_resolver(lab, 2, name, rdtype).outcome is Outcome.ANSWER
    sleep_until(estimate)
    _, settled = sweep_findings(config, "primary")
    assert propagation_of(settled, row.key).status is Status.OK


# --- a target in no region: an override does not expire like a cache ---------------------------


@dataclass(frozen=True)
class OverrideRow:
    before: str
    after: str
    key: str
    override: str
    """A local-data record on lab-r2, as a corporate resolver or a hijack carries it."""
    shown: str
    stale_too: bool
    """lab-r3 also holds the old region's answer (a normal cache) besides the override."""


OVERRIDE_ROWS = [
    pytest.param(
        OverrideRow(
            "primary",
            "secondary",
            f"{WEBMAIL} A",
            f"{WEBMAIL}. 300 IN A 127.0.66.6",
            "127.0.66.6 (no configured region)",
            True,
        ),
        id="webmail-override-beside-a-normal-stale-cache",
    ),
    pytest.param(
        OverrideRow(
            "primary",
            "secondary",
            f"{ZONE} MX",
            f"{ZONE}. 300 IN MX 10 mx9.evil.test.",
            "mx9.evil.test (no configured region)",
            False,
        ),
        id="mx-hijacked-at-one-resolver",
    ),
    pytest.param(
        OverrideRow(
            "primary",
            "primary",
            f"{AUTODISCOVER} CNAME",
            f"{AUTODISCOVER}. 300 IN CNAME autodiscover.attacker.test.",
            "autodiscover.attacker.test (no configured region)",
            False,
        ),
        id="autodiscover-cname-override",
    ),
]


@pytest.mark.parametrize("row", OVERRIDE_ROWS)
def test_a_target_in_no_region_fails_and_gets_no_estimate(
    row: OverrideRow, dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(world_zones(active_records(row.before), ttl=2), 3)
    config = load_config(write_world_config(tmp_path, lab))
    name, rdtype = split_key(row.key)
    warm(lab, name, rdtype)
    switch(lab, world_zones(active_records(row.after), serial=2, ttl=2))
    lab.flush(0)
    if not row.stale_too:
        lab.flush(2)
    lab.control(1, "local_data", row.override)
    for attempt in range(2):  # now, and again once every TTL in the zone has run out
        result, findings = sweep_findings(config, row.after)
        check = check_of(result, row.key)
        overridden = answers_by_resolver(findings, check, name)["lab-r2"]
        assert overridden.status is Status.FAIL and row.shown in overridden.summary, overridden
        progress = propagation_of(findings, row.key)
        assert progress.status is Status.FAIL and progress.data["estimate"] is None, progress
        assert progress.data["no_region_resolvers"] == ["lab-r2"]
        assert "no estimate: lab-r2 answers a target in no region" in progress.summary
        assert "fresh by" not in progress.summary
        if attempt == 0:
            assert ("lab-r3" in progress.data["stale_resolvers"]) is row.stale_too
            sleep_until(result.finished_at + timedelta(seconds=2) + TTL_GRANULARITY)


# --- end to end: `cockpit check --only dns --json` ---------------------------------------------


def test_check_after_a_failover_to_a_region_without_ipv6(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(world_zones(active_records("primary"), ttl=30), 3)
    config = write_world_config(tmp_path, lab)
    warm(lab, WEBMAIL, "AAAA")
    switch(lab, world_zones(SECONDARY_NOW, serial=2, ttl=30))
    lab.flush(0)
    code, document = check_json(config, "--target", "secondary")
    assert (code, document["summary"]["fail"]) == (1, 0), failing(document)
    aaaa = {f["resolver"]: f for f in document["findings"] if f["check"] == "AAAA"}
    assert aaaa[FRESH]["status"] == "ok" and "none is correct" in aaaa[FRESH]["summary"]
    for resolver in STALE:
        assert aaaa[resolver]["status"] == "warn" and "(primary)" in aaaa[resolver]["summary"]
    [progress] = [f for f in document["findings"] if f["subject"] == AAAA_KEY]
    assert progress["status"] == "warn" and progress["data"]["estimate"] is not None

    for index in (1, 2):
        lab.flush(index)
    code, document = check_json(config, "--target", "secondary")
    assert code == 0, failing(document)


def failing(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["status"] != "ok"]
