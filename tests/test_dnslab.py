"""The DNS lab itself: real nsd and unbound on loopback, with caches that really go stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import dns.zone
import pytest

from tests.lab import LabError, dnslab, pids_running
from tests.lab.dnslab import DnsLab, LabFactory, ask, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
TTL = 3


def _a_record(address: tuple[str, int], name: str = "www.example.test") -> tuple[str, int]:
    """(address, TTL) of the single A record `address` answers for `name`."""
    reply = ask(address, name, "A")
    assert reply.rcode() == dns.rcode.NOERROR, reply
    (rrset,) = reply.answer
    (rdata,) = rrset
    return rdata.address, rrset.ttl


def _www_zone(serial: int, address: str) -> str:
    return zone_text(ZONE, serial, TTL, [f"www A {address}"])


def test_zone_text_is_a_valid_zone_with_soa_minimum_as_negative_ttl() -> None:
    text = zone_text(ZONE, 42, 5, ["@ MX 10 mx", "mx A 127.0.0.25"], negative_ttl=7, soa_ttl=60)
    zone = dns.zone.from_text(text, origin=ZONE + ".", relativize=False)
    soa = zone.find_rdataset(ZONE + ".", "SOA")
    assert soa.ttl == 60
    assert (soa[0].serial, soa[0].minimum) == (42, 7)
    assert zone.find_rdataset(ZONE + ".", "NS")[0].target.to_text() == "ns1.example.test."
    assert zone.find_rdataset("mx.example.test.", "A").ttl == 5


def test_every_lab_address_is_loopback(dns_lab: LabFactory) -> None:
    lab = dns_lab({ZONE: _www_zone(1, "127.0.0.80")}, resolver_count=3)
    addresses = [lab.authoritative[0], *(ip for _, ip, _ in lab.resolvers)]
    assert all(ip.startswith("127.") for ip in addresses), addresses
    assert len({ip for _, ip, _ in lab.resolvers}) == 3
    assert [name for name, _, _ in lab.resolvers] == ["lab-r1", "lab-r2", "lab-r3"]


def test_staleness_is_real_until_the_ttl_runs_out(dns_lab: LabFactory) -> None:
    lab = dns_lab({ZONE: _www_zone(1, "127.0.0.80")}, resolver_count=3)
    resolvers = [lab.resolver_address(index) for index in range(3)]
    assert [_a_record(r)[0] for r in resolvers] == ["127.0.0.80"] * 3
    cached_at = time.monotonic()

    lab.set_zone(ZONE, _www_zone(2, "127.0.0.81"))
    lab.reload()
    assert _a_record(lab.authoritative)[0] == "127.0.0.81", "nsd serves the new zone"

    time.sleep(1.1)
    stale_address, stale_ttl = _a_record(resolvers[0])
    assert stale_address == "127.0.0.80", "an unflushed resolver keeps the old answer"
    assert stale_ttl < TTL, "and its TTL counts down"

    lab.flush(1)
    assert _a_record(resolvers[1]) == ("127.0.0.81", TTL), "a flushed resolver asks again"

    time.sleep(max(0.0, cached_at + TTL + 1.0 - time.monotonic()))
    after_ttl = [_a_record(r) for r in resolvers]
    assert [address for address, _ in after_ttl] == ["127.0.0.81"] * 3, after_ttl


def test_freeze_makes_a_resolver_time_out_and_thaw_brings_it_back(dns_lab: LabFactory) -> None:
    lab = dns_lab({ZONE: _www_zone(1, "127.0.0.80")}, resolver_count=2)
    lab.freeze(0)
    try:
        with pytest.raises(dns.exception.Timeout):
            ask(lab.resolver_address(0), "www.example.test", "A", timeout=0.3)
        assert _a_record(lab.resolver_address(1))[0] == "127.0.0.80"
    finally:
        lab.thaw(0)
    assert _a_record(lab.resolver_address(0))[0] == "127.0.0.80"


def test_a_second_authoritative_serves_its_own_serial(dns_lab: LabFactory) -> None:
    lab = dns_lab({ZONE: _www_zone(1, "127.0.0.80")}, resolver_count=2)
    other = lab.add_authoritative({ZONE: _www_zone(7, "127.0.0.87")})
    assert other.address != lab.authoritative
    serials = [ask(a, ZONE, "SOA").answer[0][0].serial for a in (lab.authoritative, other.address)]
    assert serials == [1, 7]

    lab.point_resolver(1, ZONE, other.address)
    assert _a_record(lab.resolver_address(0))[0] == "127.0.0.80"
    assert _a_record(lab.resolver_address(1))[0] == "127.0.0.87"


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    dnslab.require_dns_servers()
    lab = DnsLab(tmp_path / "lab", {ZONE: _www_zone(1, "127.0.0.80")}, resolver_count=2)
    with lab:
        lab.freeze(1)  # stop() must thaw it first, or SIGTERM would wait forever
        lab.reload()  # nsd forks a new server process at every reload
        assert pids_running(str(tmp_path / "lab"))
    lab.stop()  # a second stop is harmless
    assert pids_running(str(tmp_path / "lab")) == []


def test_a_broken_zone_fails_the_start_with_the_server_log(tmp_path: Path) -> None:
    dnslab.require_dns_servers()
    broken = zone_text(ZONE, 1, TTL, ["www A not-an-address"])
    lab = DnsLab(tmp_path / "lab", {ZONE: broken}, resolver_count=1)
    with pytest.raises(LabError, match="a zone file error") as failure:
        lab.start()
    assert "invalid IPv4 address" in str(failure.value)
    assert pids_running(str(tmp_path / "lab")) == []


def test_missing_servers_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnslab, "SERVER_PROGRAMS", ("nsd", "no-such-dns-server-program"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-dns-server-program"):
        dnslab.require_dns_servers()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="tests/debian-packages.txt"):
        dnslab.require_dns_servers()
    assert os.environ.get("CI") is None
