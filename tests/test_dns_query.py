"""cockpit.dns: one question to one server, against real nsd and unbound on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dns.rdata
import pytest

from cockpit.compat import UTC
from cockpit.dns import Observation, Outcome, QueryJob, ServerSpec, query_many
from cockpit.dns.normalize import (
    MAX_RECORDS,
    MAX_TEXT_CHARS,
    cap_text,
    normalize_rdata,
    normalize_records,
)
from cockpit.dns.query import query
from tests.lab import free_port, guard_loopback
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
REVERSE = "53.0.127.in-addr.arpa"
FROZEN = 3  # the one resolver tests may freeze
TLSA_HEX = "AB" * 32
BIG_TXT_COUNT = 400  # ~63 KB of TXT: far over 1232 bytes, just under the 64 KiB message limit
RECORDS = [
    "@ MX 10 mx1",
    "@ MX 20 MX2.Example.TEST.",
    '@ TXT "v=spf1 " "ip4:127.0.0.0/8 -all"',
    "mx1 A 127.0.0.25",
    "mx1 AAAA 2001:DB8:0:0::25",
    "mx2 A 127.0.0.26",
    "www CNAME mx1",
    "_submission._tcp SRV 0 5 587 MX1",
    f"_25._tcp.mx1 TLSA 3 1 1 {TLSA_HEX}",
    "loop-a CNAME loop-b",
    "loop-b CNAME loop-a",
    *(f"hop{i} CNAME hop{i + 1}" for i in range(9)),
    "hop9 A 127.0.0.9",
    *(f'big TXT "{i:04d}{"x" * 140}"' for i in range(BIG_TXT_COUNT)),
    'hostile TXT "\\027[31mred\\027[0m [bold]x[/bold] [@click=quit]"',
    "hostile MX 10 \\027[1m[bold]boom",
    "ttlfall 4 A 127.0.0.44",
]
ZONES = {
    ZONE: zone_text(ZONE, 1, 30, RECORDS, negative_ttl=3, soa_ttl=60),
    REVERSE: zone_text(REVERSE, 1, 30, ["25 PTR MX1.example.test."]),
}


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> DnsLab:
    dead_authoritative = ("127.0.0.1", free_port())
    return dns_lab_module(ZONES, resolver_count=4, stubs={"dead.test": dead_authoritative})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every socket this process connects or sends to must be in 127.0.0.0/8."""
    yield guard_loopback(monkeypatch)


def resolver(lab: DnsLab, index: int = 0) -> ServerSpec:
    return ServerSpec(*lab.resolvers[index])


def ask(
    server: ServerSpec | tuple[str, int], qname: str, rdtype: str, **options: Any
) -> Observation:
    options.setdefault("timeout", 2.0)
    return asyncio.run(query(server, qname, rdtype, **options))


def ask_authoritative(lab: DnsLab, qname: str, rdtype: str) -> Observation:
    return ask(lab.authoritative, qname, rdtype, recursion_desired=False)


# --- answers, normalised ------------------------------------------------------------------------


def test_mx_answer_is_normalised_and_described(lab: DnsLab, loopback_only: list[Any]) -> None:
    before = datetime.now(UTC)
    seen = ask(resolver(lab), "Example.TEST", "mx", server_name="eu-1")
    assert seen.outcome is Outcome.ANSWER and seen.ok
    assert seen.answers == ("10 mx1.example.test", "20 mx2.example.test")
    assert (seen.qname, seen.rdtype, seen.rcode) == ("example.test", "MX", "NOERROR")
    _, ip, port = lab.resolvers[0]
    assert (seen.server_name, seen.server) == ("eu-1", f"{ip}:{port}")
    assert seen.error is None and seen.attempts == 1 and not seen.truncated_retry
    assert not seen.authoritative_answer, "a resolver's answer is not authoritative"
    assert seen.ttl is not None and 0 < seen.ttl <= 30
    assert seen.latency_ms is not None and 0 < seen.latency_ms < 1000
    assert before <= seen.observed_at <= datetime.now(UTC) and seen.observed_at.tzinfo is not None
    assert len(seen.raw_answers) == 2 and all(" IN MX " in line for line in seen.raw_answers)
    assert (ip, port) in loopback_only, "the loopback guard saw the query"

    direct = ask_authoritative(lab, "example.test", "MX")
    assert direct.answers == seen.answers and direct.authoritative_answer and direct.ttl == 30


def test_addresses_are_canonical(lab: DnsLab) -> None:
    assert ask(resolver(lab), "mx1.example.test", "AAAA").answers == ("2001:db8::25",)
    assert ask(resolver(lab), "mx1.example.test.", "A").answers == ("127.0.0.25",)


def test_multi_string_spf_is_concatenated_as_data(lab: DnsLab) -> None:
    seen = ask(resolver(lab), "example.test", "TXT")
    assert seen.answers == ("v=spf1 ip4:127.0.0.0/8 -all",)
    assert seen.raw_answers == ('example.test. 30 IN TXT "v=spf1 " "ip4:127.0.0.0/8 -all"',)


def test_cname_is_followed_to_the_requested_type(lab: DnsLab) -> None:
    seen = ask(resolver(lab, 1), "www.example.test", "A")
    assert seen.outcome is Outcome.ANSWER
    assert seen.cname_chain == ("mx1.example.test",)
    assert seen.answers == ("127.0.0.25",)
    assert len(seen.raw_answers) == 2  # the CNAME and the A record, as received
    assert ask(resolver(lab, 1), "www.example.test", "CNAME").answers == ("mx1.example.test",)


def test_srv_tlsa_and_ptr(lab: DnsLab) -> None:
    srv = ask(resolver(lab), "_submission._tcp.example.test", "SRV")
    assert srv.answers == ("0 5 587 mx1.example.test",)
    tlsa = ask(resolver(lab), "_25._tcp.mx1.example.test", "TLSA")
    assert tlsa.answers == (f"3 1 1 {TLSA_HEX.lower()}",)
    ptr = ask(resolver(lab), "25.53.0.127.in-addr.arpa", "PTR")
    assert ptr.answers == ("mx1.example.test",)


def test_hostile_text_is_kept_verbatim_as_data(lab: DnsLab) -> None:
    txt = ask(resolver(lab), "hostile.example.test", "TXT")
    assert txt.answers == ("\x1b[31mred\x1b[0m [bold]x[/bold] [@click=quit]",)
    mx = ask(resolver(lab), "hostile.example.test", "MX")
    assert mx.answers == ("10 \\027[1m[bold]boom.example.test",), "names stay in escaped form"


# --- hostile sizes and chains -------------------------------------------------------------------


@pytest.mark.parametrize("via", ["resolver", "authoritative"])
def test_a_64k_txt_rrset_comes_over_tcp_and_is_capped(lab: DnsLab, via: str) -> None:
    if via == "resolver":
        seen = ask(resolver(lab), "big.example.test", "TXT")
    else:
        seen = ask_authoritative(lab, "big.example.test", "TXT")
    assert seen.outcome is Outcome.ANSWER
    assert seen.truncated_retry, "the UDP reply had TC set; the answer came over TCP"
    assert len(seen.answers) == MAX_RECORDS and seen.answers_capped
    assert seen.answers[0].startswith("0000x") and seen.answers == tuple(sorted(seen.answers))
    assert len(seen.raw_answers) == MAX_RECORDS + 1
    assert seen.raw_answers[-1] == f"...[{BIG_TXT_COUNT - MAX_RECORDS} more records not kept]"


def test_cname_loop_is_servfail_from_unbound_and_malformed_from_nsd(lab: DnsLab) -> None:
    via_resolver = ask(resolver(lab), "loop-a.example.test", "A")
    assert via_resolver.outcome is Outcome.SERVFAIL, "unbound gives up on the loop itself"
    assert via_resolver.raw_answers == ()

    direct = ask_authoritative(lab, "loop-a.example.test", "A")
    assert direct.outcome is Outcome.MALFORMED and direct.rcode == "NOERROR"
    assert direct.error is not None and direct.error.startswith("CNAME loop")
    assert direct.cname_chain == ("loop-b.example.test",)
    assert direct.answers == () and len(direct.raw_answers) == 2


def test_cname_chains_are_bounded_at_eight_links(lab: DnsLab) -> None:
    eight = ask(resolver(lab), "hop1.example.test", "A")
    assert eight.outcome is Outcome.ANSWER and len(eight.cname_chain) == 8
    assert eight.answers == ("127.0.0.9",)
    nine = ask(resolver(lab), "hop0.example.test", "A")
    assert nine.outcome is Outcome.MALFORMED, "unbound follows 9 links; we stop at 8"
    assert nine.error == "CNAME chain longer than 8 links" and nine.answers == ()


# --- every kind of no -----------------------------------------------------------------------------


def test_nxdomain_carries_the_negative_ttl_from_the_soa(lab: DnsLab) -> None:
    direct = ask_authoritative(lab, "nope.example.test", "A")
    assert direct.outcome is Outcome.NXDOMAIN and direct.rcode == "NXDOMAIN"
    assert direct.ttl == 3, "min(SOA TTL 60, SOA minimum 3)"
    assert direct.soa_serial == 1 and direct.authoritative_answer
    seen = ask(resolver(lab, 1), "nope.example.test", "A")
    assert seen.outcome is Outcome.NXDOMAIN and seen.ttl is not None and 0 < seen.ttl <= 3
    assert seen.error == "nope.example.test does not exist (NXDOMAIN)"


def test_nodata_is_not_nxdomain(lab: DnsLab) -> None:
    seen = ask(resolver(lab), "mx1.example.test", "MX")
    assert seen.outcome is Outcome.NODATA and seen.rcode == "NOERROR"
    assert seen.answers == () and seen.soa_serial == 1
    assert seen.ttl is not None and 0 < seen.ttl <= 3
    assert seen.error == "mx1.example.test exists but has no MX records (NODATA)"


def test_servfail_when_the_authoritative_is_dead(lab: DnsLab) -> None:
    started = time.perf_counter()
    seen = ask(resolver(lab, 2), "mail.dead.test", "MX", timeout=4.0)
    assert seen.outcome is Outcome.SERVFAIL and seen.rcode == "SERVFAIL"
    assert seen.error is not None and "SERVFAIL" in seen.error
    assert time.perf_counter() - started < 4.0


def test_refused_for_names_outside_the_lab(lab: DnsLab) -> None:
    seen = ask(resolver(lab), "example.com", "A")
    assert seen.outcome is Outcome.REFUSED and seen.rcode == "REFUSED"
    assert seen.ttl is None and seen.answers == ()


def test_a_frozen_resolver_times_out_within_one_timeout_retry_included(lab: DnsLab) -> None:
    lab.freeze(FROZEN)
    try:
        started = time.perf_counter()
        seen = ask(resolver(lab, FROZEN), "example.test", "MX", timeout=0.4)
        elapsed = time.perf_counter() - started
    finally:
        lab.thaw(FROZEN)
    assert seen.outcome is Outcome.TIMEOUT and seen.rcode is None
    assert seen.attempts == 2 and seen.latency_ms is None
    assert seen.error is not None and "within 0.4 s (2 attempts)" in seen.error
    # The retry goes out at half the budget: the whole question costs one timeout, not two.
    assert 0.4 <= elapsed < 0.4 * 1.1 + 0.1


def test_nothing_listening_is_a_network_error_at_once() -> None:
    dead = ServerSpec("nobody", "127.0.0.1", free_port())
    started = time.perf_counter()
    seen = ask(dead, "example.test", "MX", timeout=1.0)
    elapsed = time.perf_counter() - started
    # The UDP socket is connected, so the kernel's "port unreachable" ends each attempt at once.
    assert seen.outcome is Outcome.NETWORK_ERROR and seen.attempts == 2
    assert seen.error is not None and "connection refused" in seen.error
    assert elapsed < 0.5


def test_bad_questions_and_addresses_are_observations_not_exceptions() -> None:
    bad_name = ask(("127.0.0.1", 9), "bad..name", "A")
    assert bad_name.outcome is Outcome.MALFORMED and bad_name.error is not None
    bad_type = ask(("127.0.0.1", 9), "example.test", "NOPE")
    assert bad_type.outcome is Outcome.MALFORMED and "NOPE" in str(bad_type.error)
    not_ip = ask(("mail.example.test", 53), "example.test", "A")
    assert not_ip.outcome is Outcome.NETWORK_ERROR and "not a server address" in str(not_ip.error)


# --- time -----------------------------------------------------------------------------------------


def test_ttl_as_returned_by_the_resolver_falls(lab: DnsLab) -> None:
    first = ask(resolver(lab), "ttlfall.example.test", "A")
    time.sleep(1.1)
    second = ask(resolver(lab), "ttlfall.example.test", "A")
    assert first.answers == second.answers == ("127.0.0.44",)
    assert first.ttl is not None and second.ttl is not None
    assert first.ttl <= 4 and second.ttl < first.ttl
    assert second.observed_at - first.observed_at >= timedelta(seconds=1)


def test_query_many_is_not_held_up_by_a_frozen_resolver(lab: DnsLab) -> None:
    names = ["example.test", "mx1.example.test", "www.example.test"]
    rdtypes = ["MX", "A", "A"]
    jobs = [
        QueryJob(resolver(lab, index), name, rdtype, timeout=0.5)
        for index in (0, 1, 2, FROZEN)
        for name, rdtype in zip(names, rdtypes, strict=True)
    ]
    lab.freeze(FROZEN)
    try:
        started = time.perf_counter()
        seen = asyncio.run(query_many(jobs, limit=16))
        elapsed = time.perf_counter() - started
    finally:
        lab.thaw(FROZEN)
    assert [(o.server_name, o.qname) for o in seen] == [
        (job.server.name, job.qname) for job in jobs if isinstance(job.server, ServerSpec)
    ]
    healthy, frozen = seen[:9], seen[9:]
    assert all(o.outcome is Outcome.ANSWER for o in healthy), healthy
    assert [o.answers for o in healthy[:3]] == [
        ("10 mx1.example.test", "20 mx2.example.test"),
        ("127.0.0.25",),
        ("127.0.0.25",),
    ]
    assert all(o.outcome is Outcome.TIMEOUT and o.attempts == 2 for o in frozen)
    assert elapsed < 0.5 + 0.4, f"the sweep took {elapsed:.2f} s"


def test_query_many_keeps_job_order_under_a_small_limit(lab: DnsLab) -> None:
    names = [f"hop{i}.example.test" for i in range(1, 10)]
    jobs = [QueryJob(resolver(lab, i % 3), name, "A", timeout=1.0) for i, name in enumerate(names)]
    seen = asyncio.run(query_many(jobs, limit=2))
    assert [o.qname for o in seen] == names
    assert [len(o.cname_chain) for o in seen] == list(range(8, -1, -1))
    with pytest.raises(ValueError):
        asyncio.run(query_many(jobs, limit=0))


# --- normalisation, pure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rdtype", "text", "expected"),
    [
        ("A", "127.0.0.1", "127.0.0.1"),
        ("AAAA", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("MX", "10 MX.Example.COM.", "10 mx.example.com"),
        ("MX", "0 .", "0 ."),
        ("TXT", '"v=spf1 " "-all"', "v=spf1 -all"),
        ("TXT", '"\\255\\254ok"', "\\xff\\xfeok"),
        ("SRV", "1 2 443 Host.Example.", "1 2 443 host.example"),
        ("TLSA", f"3 1 1 {TLSA_HEX}", f"3 1 1 {TLSA_HEX.lower()}"),
        ("PTR", "MX.Example.", "mx.example"),
        ("CNAME", "Target.Example.", "target.example"),
        ("NS", "NS1.Example.", "ns1.example"),
        ("SOA", "NS1.X. Host.X. 7 3600 600 86400 30", "ns1.x host.x 7 3600 600 86400 30"),
        ("CAA", '0 issue "ca.example"', '0 issue "ca.example"'),
    ],
)
def test_normalize_rdata(rdtype: str, text: str, expected: str) -> None:
    assert normalize_rdata(rdtype, dns.rdata.from_text("IN", rdtype, text)) == expected


def test_normalize_rdata_refuses_a_record_of_another_type() -> None:
    with pytest.raises(ValueError):
        normalize_rdata("MX", dns.rdata.from_text("IN", "A", "127.0.0.1"))


def test_caps_are_bounded_and_visible() -> None:
    short, cut = cap_text("abc")
    assert (short, cut) == ("abc", False)
    long_text, cut = cap_text("y" * 10_000)
    assert cut and len(long_text) == MAX_TEXT_CHARS and long_text.endswith("[cut 10000 chars]")
    many = [dns.rdata.from_text("IN", "TXT", f'"{i:05d}"') for i in range(MAX_RECORDS + 44)]
    kept, capped = normalize_records("TXT", many)
    assert capped and len(kept) == MAX_RECORDS and kept[0] == "00000"
    kept, capped = normalize_records("TXT", many[:3])
    assert not capped and kept == ("00000", "00001", "00002")
