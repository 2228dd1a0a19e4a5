"""DNSSEC at validating resolvers, on a signed lab zone: a bogus answer is an outage.

The lab (tests/lab/dnssec_zone.py, resolver_options.py): example.test signed with a KSK and a
ZSK made here, nsd serving it, two unbound resolvers validating it from a trust anchor (DS)
with extended DNS errors on, and one that does not validate. Each row publishes the zone the
way a signer or a provider move breaks it and judges one sweep, as `cockpit check --only dns`.

Rule (issue 12): a validating resolver's SERVFAIL with a DNSSEC extended error (RFC 8914) is
`fail` for that resolver with the EDE code and text as the reason, and the propagation of the
record is `fail` with no estimate: waiting does not fix it. A SERVFAIL without EDE, or with an
EDE that is not about DNSSEC, stays `unknown` (the EDE named in the reason).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.dns.classify import SUMMARY_CHARS
from cockpit.dns.ede import DNSSEC_FAILURE_CODES, EDE_TEXT_CHARS
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import ServerSpec
from cockpit.dns.sweep import sweep
from cockpit.model import Status
from tests.lab import dnssec_zone
from tests.lab.dnslab import DnsLab, LabFactory
from tests.lab.ede_responder import ServfailResolver
from tests.lab.failover_world import (
    ZONE,
    active_records,
    answers_by_resolver,
    check_of,
    propagation_of,
    sweep_findings,
    switch,
    world_zones,
    write_world_config,
)
from tests.lab.resolver_options import PLAIN, ResolverOptions
from tests.test_check_cli import check_json

pytest_plugins = ["tests.lab.dnslab"]

VALIDATING = ("lab-r1", "lab-r2")
"""The signed lab: lab-r1 and lab-r2 validate (as most large receivers do), lab-r3 does not."""
SERIALS = iter(range(2, 1000))
Publish = Callable[[str, dnssec_zone.ZoneKeys], str]


@pytest.fixture(scope="module")
def zone_keys() -> dnssec_zone.ZoneKeys:
    return dnssec_zone.zone_keys(ZONE)


@pytest.fixture(scope="module")
def signed_lab(dns_lab_module: LabFactory, zone_keys: dnssec_zone.ZoneKeys) -> DnsLab:
    text = dnssec_zone.sign_zone_text(signed_world(1), ZONE, zone_keys)
    validating = ResolverOptions(validate=True)
    return dns_lab_module(
        {ZONE: text},
        3,
        resolver_options=[validating, validating, PLAIN],
        trust_anchors={ZONE: dnssec_zone.trust_anchor(zone_keys)},
    )


def signed_world(serial: int) -> str:
    return world_zones(active_records("primary"), serial=serial, ttl=30)[ZONE]


def publish(lab: DnsLab, keys: dnssec_zone.ZoneKeys, how: Publish) -> None:
    """Serve `how(unsigned zone, keys)` with a new serial, every cache emptied."""
    switch(lab, {ZONE: how(signed_world(next(SERIALS)), keys)})
    for index in range(3):
        lab.flush(index)


def signed(text: str, keys: dnssec_zone.ZoneKeys) -> str:
    return dnssec_zone.sign_zone_text(text, ZONE, keys)


SPF_KEY, MX_KEY = f"{ZONE} TXT", f"{ZONE} MX"
NEW_SPF = '@ TXT "v=spf1 ip4:127.0.20.0/24 include:spf.mailhost.test -all"'


@dataclass(frozen=True)
class BogusRow:
    how: Publish
    key: str | None
    """The record whose EDE is checked exactly; None: nothing may be bogus."""
    code: int | None
    everything: bool
    """Every watched record is bogus (keys or signatures of the whole zone), not only `key`."""


BOGUS_ROWS = [
    pytest.param(BogusRow(signed, None, None, False), id="signed-and-valid-is-all-green"),
    pytest.param(
        BogusRow(lambda text, keys: dnssec_zone.expired_signatures(text, ZONE, keys),
                 MX_KEY, 7, True),
        id="signer-stopped-re-signing-signatures-expired",
    ),
    pytest.param(
        BogusRow(lambda text, keys: dnssec_zone.tamper(signed(text, keys), ZONE, NEW_SPF),
                 SPF_KEY, 6, False),
        id="spf-edited-after-signing",
    ),
    pytest.param(
        BogusRow(lambda text, keys: dnssec_zone.without_rrsigs(signed(text, keys), ZONE, "@", "MX"),
                 MX_KEY, 10, False),
        id="provider-serves-mx-without-rrsig",
    ),
    pytest.param(
        BogusRow(lambda text, keys: dnssec_zone.without_dnskey(signed(text, keys), ZONE),
                 MX_KEY, 9, True),
        id="keys-not-carried-over-in-a-provider-move",
    ),
]


@pytest.mark.parametrize("row", BOGUS_ROWS)
def test_dnssec_bogus_at_a_validating_resolver_is_an_outage(
    row: BogusRow, signed_lab: DnsLab, zone_keys: dnssec_zone.ZoneKeys, tmp_path: Path
) -> None:
    publish(signed_lab, zone_keys, row.how)
    config = load_config(write_world_config(tmp_path, signed_lab))
    result, findings = sweep_findings(config, "primary")

    for watched in result.watched:
        answers = answers_by_resolver(findings, watched.check, watched.name)
        bogus = row.everything or watched.key == row.key
        for resolver in VALIDATING:
            found = answers[resolver]
            if bogus:
                assert found.status is Status.FAIL, found
                assert found.summary.startswith("DNSSEC bogus (EDE "), found
                assert found.data["ede"][0][0] in DNSSEC_FAILURE_CODES
            else:
                assert found.status is Status.OK, found
        assert answers["lab-r3"].status is Status.OK, answers["lab-r3"]
    if row.key is None:
        assert [f for f in findings if f.status is not Status.OK] == []
        return
    name = row.key.split()[0]
    check = check_of(result, row.key)
    for resolver in VALIDATING:
        found = answers_by_resolver(findings, check, name)[resolver]
        [(code, text)] = found.data["ede"]
        assert code == row.code and text.startswith("validation failure <"), found.data
        assert found.summary.startswith(f"DNSSEC bogus (EDE {row.code} "), found
    progress = propagation_of(findings, row.key)
    assert progress.status is Status.FAIL and progress.data["estimate"] is None, progress
    assert progress.data["bogus_resolvers"] == list(VALIDATING)
    assert progress.data["share"] == pytest.approx(1 / 3)
    assert "fail DNSSEC validation" in progress.summary
    assert "waiting will not fix it" in progress.summary


HOSTILE_TEXT = "\x1b[31m[bold]forged[/bold]\nsecond line " + "y" * 600
WIRE_ROWS = [
    pytest.param([], Status.UNKNOWN, "its source is down, lame or broken", id="servfail-no-ede"),
    pytest.param([(22, "no reachable authority at example.test")], Status.UNKNOWN,
                 "EDE 22 No Reachable Authority: no reachable", id="ede-22-stays-unknown"),
    pytest.param([(23, "")], Status.UNKNOWN, "(SERVFAIL, EDE 23 Network Error)",
                 id="ede-23-without-text-stays-unknown"),
    pytest.param([(22, ""), (9, "no DNSKEY rrset for example.test")], Status.FAIL,
                 "DNSSEC bogus (EDE 9 DNSKEY Missing: no DNSKEY rrset for example.test)",
                 id="dnssec-code-after-another-code"),
    pytest.param([(6, HOSTILE_TEXT)], Status.FAIL, "DNSSEC bogus (EDE 6 DNSSEC Bogus: \x1b[31m",
                 id="hostile-ede-text-kept-bounded-on-one-line"),
]


@pytest.mark.parametrize(("errors", "status", "summary"), WIRE_ROWS)
def test_extended_errors_off_the_wire(
    errors: list[tuple[int, str]], status: Status, summary: str, dns_lab: LabFactory,
    tmp_path: Path,
) -> None:
    lab = dns_lab(world_zones(active_records("primary")), 1)
    config = load_config(write_world_config(tmp_path, lab))
    [(name, ip, port)] = lab.resolvers
    with ServfailResolver("127.0.53.90", errors) as odd:
        resolvers = [ServerSpec(name, ip, port), ServerSpec("odd", *odd.address)]
        result = asyncio.run(sweep(config, resolvers=resolvers))
    findings = findings_from_sweep(result, "primary")
    found = answers_by_resolver(findings, "MX", ZONE)["odd"]
    assert found.status is status and summary in found.summary, found
    assert "\n" not in found.summary and len(found.summary) <= SUMMARY_CHARS
    kept = found.data.get("ede", [])
    assert [code for code, _ in kept] == [code for code, _ in errors]
    for (_, text), (_, sent) in zip(kept, errors, strict=True):
        assert len(text) <= EDE_TEXT_CHARS and text[:40] == sent[:40], "verbatim, bounded"
    progress = propagation_of(findings, MX_KEY)
    if status is Status.FAIL:
        assert progress.status is Status.FAIL and progress.data["estimate"] is None
        assert progress.data["bogus_resolvers"] == ["odd"]
    else:
        assert progress.status is Status.UNKNOWN and "could not tell: odd" in progress.summary


# --- end to end: `cockpit check --only dns --json` ---------------------------------------------


def test_check_with_expired_signatures_at_validating_resolvers(
    signed_lab: DnsLab, zone_keys: dnssec_zone.ZoneKeys, tmp_path: Path
) -> None:
    publish(signed_lab, zone_keys, BOGUS_ROWS[1].values[0].how)
    code, document = check_json(write_world_config(tmp_path, signed_lab), "--target", "primary")
    assert code == 2, document["summary"]
    mx = {f["resolver"]: f for f in document["findings"] if f["check"] == "MX"}
    for resolver in VALIDATING:
        assert mx[resolver]["status"] == "fail", mx[resolver]
        assert mx[resolver]["summary"].startswith("DNSSEC bogus (EDE ")
        assert mx[resolver]["data"]["ede"][0][0] in DNSSEC_FAILURE_CODES
    assert mx["lab-r3"]["status"] == "ok"
    [progress] = [f for f in document["findings"] if f["subject"] == MX_KEY]
    assert progress["status"] == "fail" and progress["data"]["estimate"] is None
    assert "waiting will not fix it" in progress["summary"]
    json.dumps(document)
