"""The drill world on loopback, observed with dnspython, httpx and the cockpit's own probes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from cockpit.auth.dkim_check import parse_key_record
from cockpit.auth.findings import auth_findings, choose_asker
from cockpit.config import Config, load_config_text
from cockpit.dns.sweep import sweep
from cockpit.dns.watch import watched_names
from cockpit.drill import DrillError, DrillWorld, Timings, drill_config_text
from cockpit.drill.responder import CachingResolver, authoritative_responder
from cockpit.drill.zonestore import ZoneStore
from cockpit.model import Status

FAST = Timings(record_ttl=3, negative_ttl=2, policy_ttl=6)
DOMAIN = "drill.example"
PRIMARY_MX = "10 mx1.primary.drill.example"
SECONDARY_MX = "10 mx1.secondary.drill.example"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def world() -> Iterator[DrillWorld]:
    drill = DrillWorld(timings=FAST, resolver_cache_ages=(0.0, 1.0, 2.0))
    drill.start()
    drill.fail_primary()
    try:
        yield drill
    finally:
        drill.stop()


def drill_config(world: DrillWorld, tmp_path: Path, **options: object) -> Config:
    return load_config_text(drill_config_text(world, tmp_path / "incidents", **options))


def split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    assert host.startswith("127.")
    return host, int(port)


def ask(address: str, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    host, port = split(address)
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=2)
    return dns.query.udp(query, host, port=port, timeout=2)


def mx_sweep(config: Config):  # noqa: ANN201 - a SweepResult
    only_mx = [item for item in watched_names(config) if item.check == "MX"]
    return asyncio.run(sweep(config, watched=only_mx))


# --- config -------------------------------------------------------------------------------


def test_config_loads_and_points_at_the_world(world: DrillWorld, tmp_path: Path) -> None:
    config = drill_config(world, tmp_path)
    assert config.domain.name == DOMAIN
    assert [region.name for region in config.regions] == ["primary", "secondary"]
    assert [resolver.name for resolver in config.dns.resolvers] == [
        "drill-r1",
        "drill-r2",
        "drill-r3",
    ]
    assert [str(a) for a in config.dns.authoritative] == [world.authoritative_address]
    queue = config.regions[0].queues[0]
    assert (queue.kind, queue.path, queue.interval) == ("json", "depth", 5)
    assert queue.url == world.queue_url("primary")
    assert config.dns.interval == 5 and config.dns.timeout == 1 and config.auth.interval == 15
    assert config.incident.dir == tmp_path / "incidents"


# --- the authoritative server ---------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True])
def test_authoritative_answers_with_aa_and_soa_on_negatives(world: DrillWorld, tcp: bool) -> None:
    address = world.authoritative_address
    reply = ask(address, DOMAIN, "MX", tcp=tcp)
    assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
    assert sorted(rd.to_text() for rd in reply.answer[0]) == [
        "10 mx1.primary.drill.example.",
        "20 mx2.primary.drill.example.",
    ]
    assert reply.answer[0].ttl == FAST.record_ttl
    for name, rdtype, rcode in (
        (f"nowhere.{DOMAIN}", "A", dns.rcode.NXDOMAIN),
        (DOMAIN, "AAAA", dns.rcode.NOERROR),  # NODATA
        (f"primary.{DOMAIN}", "A", dns.rcode.NOERROR),  # an empty non-terminal
    ):
        negative = ask(address, name, rdtype, tcp=tcp)
        assert negative.rcode() == rcode and not negative.answer
        assert negative.flags & dns.flags.AA
        (soa,) = negative.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == FAST.negative_ttl
    outside = ask(address, "example.com", "A", tcp=tcp)
    assert outside.rcode() == dns.rcode.REFUSED and not outside.flags & dns.flags.AA


def test_switch_bumps_the_serial_and_flips_the_authoritative_at_once(world: DrillWorld) -> None:
    def serial() -> int:
        return ask(world.authoritative_address, DOMAIN, "SOA").answer[0][0].serial

    assert serial() == world.serial == 1
    assert world.switch_to("secondary") == 2
    assert serial() == 2
    mx = ask(world.authoritative_address, DOMAIN, "MX").answer[0]
    assert {rd.exchange.to_text() for rd in mx} == {
        "mx1.secondary.drill.example.",
        "mx2.secondary.drill.example.",
    }
    cname = ask(world.authoritative_address, f"autodiscover.{DOMAIN}", "CNAME").answer[0]
    assert cname[0].target.to_text() == "autodiscover.secondary.drill.example."
    with pytest.raises(DrillError):
        world.switch_to("tertiary")


def test_reverse_zone_and_large_dkim_record(world: DrillWorld) -> None:
    ptr = ask(world.authoritative_address, "11.78.0.127.in-addr.arpa", "PTR")
    assert ptr.answer[0][0].target.to_text() == "out.primary.drill.example."
    for selector in ("primary1", "secondary1"):
        reply = ask(world.authoritative_address, f"{selector}._domainkey.{DOMAIN}", "TXT", tcp=True)
        text = b"".join(reply.answer[0][0].strings).decode("ascii")
        published = parse_key_record(text)
        assert published.key_type == "rsa" and published.bits == 2048
        mine = world.dkim_public_key(selector)
        assert published.key.public_numbers() == mine.public_numbers()


# --- the resolvers ----------------------------------------------------------------------------


def test_resolvers_offer_recursion_and_count_ttls_down(world: DrillWorld) -> None:
    resolver = world.resolvers[0]
    first = ask(resolver.address, DOMAIN, "TXT")
    assert first.flags & dns.flags.RA and not first.flags & dns.flags.AA
    time.sleep(1.1)
    second = ask(resolver.address, DOMAIN, "TXT", tcp=True)
    assert first.answer[0].ttl - second.answer[0].ttl >= 1
    assert second.answer[0].ttl >= 1
    assert ask(resolver.address, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_resolver_cache_ages_differ_at_start(world: DrillWorld) -> None:
    ttls = [ask(r.address, DOMAIN, "MX").answer[0].ttl for r in world.resolvers]
    assert ttls[0] > ttls[1] > ttls[2] >= 1


def test_negative_answers_are_cached_for_the_soa_minimum() -> None:
    clock = FakeClock()
    store = ZoneStore(clock)
    soa = "@ 5 IN SOA ns1.drill.example. h.drill.example. {} 3600 600 86400 5\n@ 60 IN NS ns1\n"
    store.publish({DOMAIN: soa.format(1)})
    resolver = CachingResolver(store, clock, cache_age_at_start=0.0)

    def resolve() -> dns.message.Message:
        return resolver.respond(dns.message.make_query(f"new.{DOMAIN}", "A"))

    first = resolve()
    assert first.rcode() == dns.rcode.NXDOMAIN and first.authority[0].ttl == 5
    store.publish({DOMAIN: soa.format(2) + "new 30 IN A 127.0.0.9\n"})
    clock.advance(3)
    cached = resolve()
    assert cached.rcode() == dns.rcode.NXDOMAIN and cached.authority[0].ttl == 2
    assert authoritative_responder(store)(dns.message.make_query(f"new.{DOMAIN}", "A")).answer
    clock.advance(2)
    fresh = resolve()
    assert fresh.rcode() == dns.rcode.NOERROR and fresh.answer[0].ttl == 30


def test_cold_cache_reads_the_data_of_its_backdated_fetch() -> None:
    clock = FakeClock()
    store = ZoneStore(clock)
    zone = "@ 5 IN SOA ns1 h 1 3600 600 86400 5\n@ 60 IN NS ns1\nwww 10 IN A {}\n"
    store.publish({DOMAIN: zone.format("127.0.0.1")})
    clock.advance(4)
    store.publish({DOMAIN: zone.format("127.0.0.2")})
    clock.advance(1)
    query = dns.message.make_query(f"www.{DOMAIN}", "A")
    old = CachingResolver(store, clock, cache_age_at_start=7.0).respond(query)
    assert old.answer[0][0].address == "127.0.0.1" and old.answer[0].ttl == 3
    new = CachingResolver(store, clock, cache_age_at_start=0.0).respond(query)
    assert new.answer[0][0].address == "127.0.0.2" and new.answer[0].ttl == 10


def test_sweep_sees_primary_then_resolvers_converge_one_by_one(
    world: DrillWorld, tmp_path: Path
) -> None:
    config = drill_config(world, tmp_path)
    before = mx_sweep(config)
    assert len(before.observations) == len(world.resolvers)
    for observation in before.observations.values():
        assert observation.ok and PRIMARY_MX in observation.answers
    world.switch_to("secondary")
    switched_at = time.monotonic()
    converged_after: dict[str, float] = {}
    authoritative_flipped = False
    while len(converged_after) < len(world.resolvers) and time.monotonic() - switched_at < 6:
        result = mx_sweep(config)
        if not authoritative_flipped:
            (auth_view,) = result.authoritative_observations.values()
            assert SECONDARY_MX in auth_view.answers
            authoritative_flipped = True
        for (name, _key), observation in result.observations.items():
            if SECONDARY_MX in observation.answers and name not in converged_after:
                converged_after[name] = time.monotonic() - switched_at
        time.sleep(0.1)
    assert sorted(converged_after) == ["drill-r1", "drill-r2", "drill-r3"]
    # Older caches expire first: r3 (2 s old at start), then r2, then r1, about 1 s apart.
    order = sorted(converged_after, key=converged_after.__getitem__)
    assert order == ["drill-r3", "drill-r2", "drill-r1"]
    assert converged_after["drill-r1"] - converged_after["drill-r3"] >= 1.2
    assert converged_after["drill-r1"] <= FAST.record_ttl + 1


def test_default_resolvers_converge_over_tens_of_seconds() -> None:
    clock = FakeClock()
    drill = DrillWorld(clock=clock)
    drill.start()
    try:

        def mx_of(address: str) -> str:
            return ask(address, DOMAIN, "MX").answer[0][0].exchange.to_text()

        assert all(mx_of(r.address).endswith(".primary.drill.example.") for r in drill.resolvers)
        drill.switch_to("secondary")
        converged_after: dict[str, int] = {}
        for second in range(1, 41):
            clock.advance(1)
            for resolver in drill.resolvers:
                if resolver.name not in converged_after and "secondary" in mx_of(resolver.address):
                    converged_after[resolver.name] = second
    finally:
        drill.stop()
    assert converged_after == {"drill-r4": 8, "drill-r3": 15, "drill-r2": 23, "drill-r1": 30}


# --- garbage ------------------------------------------------------------------------------


def test_garbage_never_crashes_the_servers(world: DrillWorld) -> None:
    targets = [world.authoritative_address, world.resolvers[0].address]
    response = dns.message.make_response(dns.message.make_query(DOMAIN, "MX")).to_wire()
    junk = [b"", b"\x00", b"\xff" * 11, b"\x12\x34" + b"\xff" * 40, response, b"x" * 5000]
    for address in targets:
        host, port = split(address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(0.3)
            for datagram in junk:
                udp.sendto(datagram, (host, port))
            with pytest.raises(TimeoutError):
                udp.recvfrom(4096)
        for payload in (b"\xff\xff" + b"a" * 100, b"\x00\x20abc", b"\x00\x05abcde"):
            with socket.create_connection((host, port), timeout=2) as tcp:
                tcp.sendall(payload)
                tcp.shutdown(socket.SHUT_WR)
                assert tcp.recv(100) == b""
        odd = dns.message.make_query(DOMAIN, "ANY")
        assert dns.query.udp(odd, host, port=port, timeout=2).rcode() == dns.rcode.REFUSED
        notify = dns.message.make_query(DOMAIN, "SOA")
        notify.set_opcode(dns.opcode.NOTIFY)
        assert dns.query.udp(notify, host, port=port, timeout=2).rcode() == dns.rcode.NOTIMP
        assert ask(address, DOMAIN, "MX").answer
        assert ask(address, DOMAIN, "MX", tcp=True).answer


# --- the queues -----------------------------------------------------------------------------


def test_queue_grows_while_down_and_drains_after_the_switch() -> None:
    clock = FakeClock()
    drill = DrillWorld(clock=clock, seed=7)
    drill.start()
    try:
        drill.fail_primary()

        def depth(region: str) -> dict[str, object]:
            reply = httpx.get(drill.queue_url(region), timeout=2)
            assert reply.status_code == 200
            assert reply.headers["connection"] == "close"
            return reply.json()

        assert depth("primary")["depth"] == 0
        clock.advance(120)
        grown = depth("primary")
        assert 60 <= grown["depth"] <= 120
        assert 110 <= grown["oldest_age_s"] <= 120
        assert depth("secondary")["depth"] <= 4
        clock.advance(60)
        before_switch = depth("primary")["depth"]
        assert before_switch > grown["depth"]
        drill.switch_to("secondary")
        clock.advance(30)
        draining = depth("primary")["depth"]
        assert before_switch - 41 <= draining <= before_switch - 39
        clock.advance(600)
        assert depth("primary") == {"region": "primary", "depth": 0, "oldest_age_s": 0.0}
        base = drill.queue_base_url
        assert httpx.get(f"{base}/queue/nowhere", timeout=2).status_code == 404
        assert httpx.get(f"{base}/metrics", timeout=2).status_code == 404
        assert httpx.post(drill.queue_url("primary"), timeout=2).status_code == 405
        host, port = split(base.removeprefix("http://"))
        with socket.create_connection((host, port), timeout=2) as raw:
            raw.sendall(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        drill.stop()


# --- the cockpit's auth checks --------------------------------------------------------------


@pytest.mark.parametrize("via", ["drill-r2", "authoritative"])
def test_auth_checks_pass_against_the_drill(world: DrillWorld, tmp_path: Path, via: str) -> None:
    keys = world.write_dkim_private_keys(tmp_path / "keys")
    assert all(path.stat().st_mode & 0o077 == 0 for path in keys.values())
    config = drill_config(world, tmp_path, dkim_key_files=keys)

    async def run():  # noqa: ANN202
        asker = await choose_asker(config, via)
        return await auth_findings(config, "secondary", asker)

    findings = asyncio.run(run())
    by_check: dict[tuple[str, str], list[Status]] = {}
    for finding in findings:
        by_check.setdefault((finding.region, finding.check), []).append(finding.status)
    for region in ("primary", "secondary"):
        for check in ("spf", "dkim", "dmarc", "ptr", "tls-rpt", "mta-sts"):
            assert by_check[(region, check)] and set(by_check[(region, check)]) == {Status.OK}, (
                region,
                check,
                [f.summary for f in findings if f.check == check],
            )
        # Nothing listens on port 25 of the MX addresses (binding it needs root): the drill's
        # config skips smtp-tls (with DANE) rather than show a failure that means nothing.
        assert (region, "smtp-tls") not in by_check and (region, "dane") not in by_check
    dkim = [f for f in findings if f.check == "dkim"]
    assert all("private key matches" in f.summary for f in dkim)


# --- lifecycle ------------------------------------------------------------------------------


def test_stop_closes_every_port_and_start_twice_is_refused() -> None:
    drill = DrillWorld(timings=FAST, resolver_count=2)
    with drill:
        with pytest.raises(DrillError):
            drill.start()
        addresses = [drill.authoritative_address] + [r.address for r in drill.resolvers]
        http = split(drill.queue_base_url.removeprefix("http://"))
    drill.stop()
    for address in addresses:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(split(address), timeout=1).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(http, timeout=1).close()
    with pytest.raises(DrillError):
        _ = drill.authoritative_address


def test_the_drill_never_imports_textual() -> None:
    code = "import sys, cockpit.drill; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
