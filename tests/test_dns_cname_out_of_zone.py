"""A watched record that is a CNAME into a zone another authoritative serves, on real nsd/unbound.

`s1._domainkey.example.test CNAME s1.dkim.provider.test`, with provider.test on a second nsd:
our nsd (asked without recursion) answers the CNAME alone. That is not NODATA: it vouches for
the chain, the provider for the TXT at its end (Outcome.CHAIN_ONLY). Rules (issue 12):
- the authoritative finding is ok, "serves CNAME -> ... ; the target is served elsewhere";
- a resolver following the same chain is current; one following another chain is stale for
  the TTL of the CNAME that moved, and the estimate holds on the real caches;
- a real NODATA or NXDOMAIN (SOA of our zone in the authority section) stays what it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Outcome, ServerSpec
from cockpit.dns.propagation import TTL_GRANULARITY
from cockpit.dns.query import query
from cockpit.model import Status
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.failover_world import (
    BASE_RECORDS,
    ZONE,
    active_records,
    answers_by_resolver,
    propagation_of,
    sleep_until,
    sweep_findings,
    switch,
    warm,
    world_zones,
    write_world_config,
)
from tests.test_check_cli import check_json

pytest_plugins = ["tests.lab.dnslab"]

PROVIDER = "provider.test"
DKIM = f"s1._domainkey.{ZONE}"
DKIM_KEY = f"{DKIM} TXT"
KEY_S1 = '"v=DKIM1; k=ed25519; p=lAvhSWwl3lX6l0VLnMQ3mJ6ZGwH8GtELr6cwzbUJ1Yk="'
KEY_S2 = '"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="'
BASE = tuple(line for line in BASE_RECORDS if not line.startswith("s1._domainkey"))
"""The world without its own s1 selector: the rows publish it as a CNAME to the provider."""
FRESH, STALE = "lab-r1", ("lab-r2", "lab-r3")


def provider_zone(serial: int = 1) -> dict[str, str]:
    records = [f"s1.dkim TXT {KEY_S1}", f"s2.dkim TXT {KEY_S2}", "other A 127.0.30.1"]
    return {PROVIDER: zone_text(PROVIDER, serial, 30, records, negative_ttl=30)}


def ours(*records: str, serial: int = 1) -> dict[str, str]:
    return world_zones(active_records("secondary"), serial=serial, base=(*BASE, *records))


def two_servers(dns_lab: LabFactory, zones: dict[str, str]) -> DnsLab:
    """example.test on the lab's nsd, provider.test on a second nsd every resolver asks."""
    lab = dns_lab(zones, 3)
    provider = lab.add_authoritative(provider_zone())
    for index in range(len(lab.resolvers)):
        lab.point_resolver(index, PROVIDER, provider.address)
    return lab


# --- what our authoritative says, asked without recursion --------------------------------------


@dataclass(frozen=True)
class ShapeRow:
    records: tuple[str, ...]
    qname: str
    outcome: Outcome
    chain: tuple[str, ...]


SHAPE_ROWS = [
    pytest.param(
        ShapeRow(("s1._domainkey CNAME s1.dkim.provider.test.",), DKIM, Outcome.CHAIN_ONLY,
                 ("s1.dkim.provider.test",)),
        id="cname-to-a-provider-zone-is-chain-only",
    ),
    pytest.param(
        ShapeRow(("s1._domainkey CNAME hop.example.test.", "hop CNAME s1.dkim.provider.test."),
                 DKIM, Outcome.CHAIN_ONLY, ("hop.example.test", "s1.dkim.provider.test")),
        id="in-zone-hop-then-out-is-chain-only",
    ),
    pytest.param(
        ShapeRow(("s1._domainkey CNAME key.example.test.", f"key TXT {KEY_S1}"), DKIM,
                 Outcome.ANSWER, ("key.example.test",)),
        id="cname-inside-the-zone-is-an-answer",
    ),
    pytest.param(
        ShapeRow(("s1._domainkey CNAME key.example.test.", "key A 127.0.30.2"), DKIM,
                 Outcome.NODATA, ("key.example.test",)),
        id="cname-inside-the-zone-without-txt-stays-nodata",
    ),
    pytest.param(
        ShapeRow(("s1._domainkey A 127.0.30.3",), DKIM, Outcome.NODATA, ()),
        id="name-without-txt-stays-nodata",
    ),
    pytest.param(
        ShapeRow(("s1._domainkey CNAME gone.example.test.",), DKIM, Outcome.NXDOMAIN,
                 ("gone.example.test",)),
        id="cname-to-a-missing-name-in-the-zone-stays-nxdomain",
    ),
]


@pytest.mark.parametrize("row", SHAPE_ROWS)
def test_the_authoritative_reply_shape(row: ShapeRow, dns_lab: LabFactory) -> None:
    lab = dns_lab(ours(*row.records), 0)
    ip, port = lab.authoritative
    seen = asyncio.run(
        query(ServerSpec("nsd", ip, port), row.qname, "TXT", timeout=1.0, recursion_desired=False)
    )
    assert (seen.outcome, seen.cname_chain) == (row.outcome, row.chain), seen
    assert seen.authoritative_answer
    if row.outcome is Outcome.CHAIN_ONLY:
        # Auth checks asking through it read "could not tell", never "no record".
        assert seen.outcome in NO_VERDICT_OUTCOMES and not seen.ok and seen.answers == ()
        assert seen.error is not None and "served elsewhere" in seen.error
        assert seen.cname_ttls and seen.final_ttl is None


# --- the DNS verdicts ----------------------------------------------------------------------------


def test_a_cname_to_a_provider_is_neither_red_nor_a_promise(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = two_servers(dns_lab, ours("s1._domainkey CNAME s1.dkim.provider.test."))
    config_path = write_world_config(tmp_path, lab)
    result, findings = sweep_findings(load_config(config_path), "secondary")
    answers = answers_by_resolver(findings, "DKIM", DKIM)
    [(label, authoritative)] = [(k, f) for k, f in answers.items() if k.startswith("authoritative")]
    assert authoritative.status is Status.OK, authoritative
    assert authoritative.summary == (
        "serves CNAME -> s1.dkim.provider.test; the target is served elsewhere"
    ), label
    for resolver in (FRESH, *STALE):
        assert answers[resolver].status is Status.OK, answers[resolver]
        assert answers[resolver].data["verdict"] == "current"
        assert "via s1.dkim.provider.test" in answers[resolver].summary
    progress = propagation_of(findings, DKIM_KEY)
    assert progress.status is Status.OK and "fresh by" not in progress.summary, progress
    assert progress.data["estimate"] is None
    assert not [f for f in findings if f.status is Status.FAIL]

    code, document = check_json(config_path, "--only", "dns", "--target", "secondary")
    assert code != 2 and document["summary"]["fail"] == 0, document["summary"]


def test_a_moved_cname_is_stale_for_the_cname_s_ttl(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = two_servers(dns_lab, ours("s1._domainkey 4 CNAME s1.dkim.provider.test."))
    config = load_config(write_world_config(tmp_path, lab))
    warm(lab, DKIM, "TXT")
    switch(lab, ours("s1._domainkey 4 CNAME s2.dkim.provider.test.", serial=2))
    lab.flush(0)
    result, findings = sweep_findings(config, "secondary")

    answers = answers_by_resolver(findings, "DKIM", DKIM)
    assert answers[FRESH].status is Status.OK and answers[FRESH].data["verdict"] == "current"
    for resolver in STALE:
        shown = answers[resolver]
        seen = result.observations[(resolver, DKIM_KEY)]
        assert seen.cname_chain == ("s1.dkim.provider.test",)
        assert (shown.status, shown.data["verdict"]) == (Status.WARN, "stale"), shown
        assert "still follows CNAME -> s1.dkim.provider.test" in shown.summary
        # The provider's TXT lives 30 s; the moved CNAME (ours, 4 s) is what holds it.
        assert shown.data["stale_ttl"] == seen.cname_ttls[0] <= 4
        assert f"TTL {seen.cname_ttls[0]} s (CNAME)" in shown.summary
    progress = propagation_of(findings, DKIM_KEY)
    assert progress.status is Status.WARN and progress.data["stale_resolvers"] == list(STALE)
    estimate = max(
        result.observations[(r, DKIM_KEY)].observed_at
        + timedelta(seconds=result.observations[(r, DKIM_KEY)].cname_ttls[0])
        + TTL_GRANULARITY
        for r in STALE
    )
    assert progress.data["estimate"] == estimate.isoformat()
    assert not [f for f in findings if f.status is Status.FAIL]

    # The promise holds on the real caches: once the old CNAME expired, all follow the new one.
    sleep_until(estimate)
    _, settled = sweep_findings(config, "secondary")
    assert propagation_of(settled, DKIM_KEY).status is Status.OK
    for resolver in (FRESH, *STALE):
        assert answers_by_resolver(settled, "DKIM", DKIM)[resolver].data["cname_chain"] == [
            "s2.dkim.provider.test"
        ]
