"""The cases of test_dns_truth.py against real servers (nsd and unbound on loopback): a real
referral, a real NS set with hosts that have no address, a real serve-stale answer.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.dane_check import dane_findings
from cockpit.auth.smtp_probe import SmtpResult
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Outcome, ServerSpec
from cockpit.dns.propagation import record_propagation, serial_view
from cockpit.dns.query import query
from cockpit.dns.sweep import SOURCE_NS_SET, discover_authoritative, sweep
from cockpit.dns.watch import watched_names
from cockpit.model import Status
from tests.lab import guard_loopback
from tests.lab.dnslab import Authoritative, LabFactory
from tests.test_dns_sweep import (
    MX_KEY,
    TIMEOUT,
    ZONE,
    _port_53_address,
    config_for,
    lab_zones,
)

pytest_plugins = ["tests.lab.dnslab"]

CHILD = f"child.{ZONE}"
TLSA_HOST = f"mx.{CHILD}"
TLSA_NAME = f"_25._tcp.{TLSA_HOST}"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    guard_loopback(monkeypatch)
    yield


def test_nsd_refers_a_delegated_child_and_dane_says_unknown(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """nsd serves example.test and delegates child.example.test elsewhere: asked with recursion
    off about a TLSA record in the child, it answers with a referral (NOERROR, no AA, the
    child's NS): not "no TLSA published"."""
    delegation = [f"child NS ns.{CHILD}.", "ns.child A 127.0.0.99"]
    lab = dns_lab(lab_zones("primary", extra=delegation), resolver_count=1)
    nsd = ServerSpec("nsd", *lab.authoritative)
    seen = asyncio.run(query(nsd, TLSA_NAME, "TLSA", timeout=TIMEOUT, recursion_desired=False))
    assert seen.outcome is Outcome.REFERRAL and not seen.authoritative_answer
    assert seen.error == (
        f"referral to ns.{CHILD} ({CHILD}): the server is not authoritative for {TLSA_NAME}"
    )

    config = config_for(tmp_path, lab)
    asker = Asker(nsd, TIMEOUT, recursion_desired=False)
    result = SmtpResult(
        host=TLSA_HOST, address="127.0.26.9", banner_code=220, chain_der=(b"x",), verified=True
    )
    [finding] = asyncio.run(dane_findings(config.regions[1], asker, {TLSA_HOST: (result,)}))
    assert finding.status is Status.UNKNOWN
    assert f"referral to ns.{CHILD}" in finding.summary


def test_ns_hosts_without_an_address_are_kept_with_the_reason(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """No [dns].authoritative: ns1 resolves (an nsd on port 53 of its own address); ns2 is in
    the zone's NS set but has no address record (NXDOMAIN); ns3 is a name every lab resolver
    refuses. Neither is dropped: each has an unknown SOA row saying why."""
    live_ip = _port_53_address()
    lame = [f"@ NS ns2.{ZONE}.", "@ NS ns3.elsewhere.example."]
    zones = lab_zones("primary", extra=lame)
    zones[ZONE] = zones[ZONE].replace("ns1 IN A 127.0.0.1", f"ns1 IN A {live_ip}")
    lab = dns_lab(zones, resolver_count=2)
    control_dir = Path(tempfile.mkdtemp(prefix="nsd53-"))
    port_53 = Authoritative(tmp_path / "nsd53", zones, control_dir, "nsd53")
    port_53.address = (live_ip, 53)
    try:
        port_53.launch()
        port_53.wait_until_serving()
        config = config_for(tmp_path, lab, authoritative=[])
        resolvers = [ServerSpec(*resolver) for resolver in lab.resolvers]
        found = asyncio.run(discover_authoritative(config, resolvers, timeout=TIMEOUT))
        mx = [w for w in watched_names(config) if w.key == MX_KEY]
        result = asyncio.run(sweep(config, watched=mx))
    finally:
        port_53.stop()
    assert (found.source, found.reason) == (SOURCE_NS_SET, None)
    assert found.servers == (ServerSpec(f"ns1.{ZONE}", live_ip, 53),)
    assert set(found.unresolved) == {f"ns2.{ZONE}", "ns3.elsewhere.example"}
    assert found.unresolved[f"ns2.{ZONE}"].startswith("no address found (A NXDOMAIN from lab-r")
    assert "AAAA REFUSED from lab-r1, lab-r2" in found.unresolved["ns3.elsewhere.example"]

    # The same hosts (which resolver's NXDOMAIN wins the race may differ between the two).
    assert set(result.authoritative_unresolved) == set(found.unresolved)
    findings = findings_from_sweep(result, "primary")
    soa = {f.resolver: f for f in findings if f.check == "SOA"}
    assert soa[f"authoritative ns1.{ZONE}"].status is Status.OK
    for host in (f"ns2.{ZONE}", "ns3.elsewhere.example"):
        row = soa[f"authoritative {host}"]
        assert row.status is Status.UNKNOWN and "not asked, no address found" in row.summary
    assert serial_view(result).reason.endswith(f"no serial from ns2.{ZONE}, ns3.elsewhere.example")


def test_a_serve_stale_answer_is_named_and_never_estimated(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """unbound with serve-expired and EDE: the primary zone's nsd stops after the MX was
    cached, the TTL (3 s) runs out, and unbound serves the expired MX with EDE 3. The
    authoritative view (a second nsd) already serves the secondary region."""
    lab = dns_lab(lab_zones("primary"), resolver_count=1)
    for option in ("serve-expired:", "ede:", "ede-serve-expired:"):
        lab.control(0, "set_option", option, "yes")
    secondary = lab.add_authoritative(lab_zones("secondary", serial=2))
    config = config_for(tmp_path, lab, authoritative=[secondary.address])
    mx = [w for w in watched_names(config) if w.key == MX_KEY]
    resolver = ServerSpec(*lab.resolvers[0])
    cached = asyncio.run(query(resolver, ZONE, "MX", timeout=TIMEOUT))
    assert cached.ok and cached.ede == ()
    lab.primary.stop()  # the zone's only server is gone: unbound cannot refresh the MX
    # unbound serves a record at TTL 0 until its clock's next second: wait past that.
    time.sleep((cached.ttl or 3) + 1.5)
    result = asyncio.run(sweep(config, watched=mx))
    seen = result.observations[(resolver.name, MX_KEY)]
    assert seen.outcome is Outcome.ANSWER and seen.answers == ("10 mx1.example.test",)
    assert [code for code, _ in seen.ede] == [3], seen
    findings = findings_from_sweep(result, "secondary")
    row = next(f for f in findings if f.check == "MX" and f.resolver == resolver.name)
    assert row.status is Status.WARN
    assert row.summary.startswith("served stale (EDE 3 Stale Answer): still answers mx1")
    assert "TTL" not in row.summary
    p = record_propagation(result, mx[0], "secondary")
    assert p.estimate is None and p.served_stale_resolvers == (resolver.name,)
    assert "fresh by" not in p.reason and "stale answers (EDE 3 Stale Answer)" in p.reason
