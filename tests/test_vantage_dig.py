"""dig's batch output read back as Observations: real dig against the DNS lab, compared with
cockpit.dns.query asking the same resolver, then hostile output (no servers for those).

Also the pure readers of the batch lines and of a remote /etc/resolv.conf.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from datetime import datetime

import pytest

from cockpit.compat import UTC
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.query import query
from cockpit.dns.watch import Judge, WatchedName
from cockpit.vantage.dig_batch import (
    DIG_COMMAND,
    MAX_LINE_CHARS,
    Batch,
    plan_batch,
    question_refusal,
    read_batch,
)
from cockpit.vantage.resolv_conf import MAX_NAMESERVERS, nameservers
from tests.lab import find_program, free_port, missing_in_lab
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RECORDS = [
    "@ MX 10 mx1",
    "@ MX 20 mx2",
    "mx1 A 127.0.0.25",
    "www CNAME alias",
    "alias CNAME web",
    "web A 127.0.0.80",
    "web A 127.0.0.81",
    '@ TXT "v=spf1 -all"',
    'long TXT "a b" "c\\"d" "\\027[31m"',
    "nodata A 127.0.0.9",
    "loop CNAME loop2",
    "loop2 CNAME loop",
]
QUESTIONS = [
    ("example.test", "MX"),
    ("www.example.test", "A"),
    ("www.example.test", "CNAME"),
    ("example.test", "TXT"),
    ("long.example.test", "TXT"),
    ("nope.example.test", "A"),
    ("nodata.example.test", "MX"),
    ("loop.example.test", "A"),
]


def watched(pairs: Sequence[tuple[str, str]]) -> list[WatchedName]:
    return [WatchedName(name, rdtype, rdtype, Judge.BY_AUTHORITATIVE) for name, rdtype in pairs]


def run_dig(batch: Batch, timeout: float = 20) -> bytes:
    if find_program("dig") is None:
        missing_in_lab("these tests need dig (Debian package bind9-dnsutils)")
    return subprocess.run(
        list(DIG_COMMAND), input=batch.stdin, capture_output=True, timeout=timeout, check=False
    ).stdout


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> DnsLab:
    return dns_lab_module({"example.test": zone_text("example.test", 1, 30, RECORDS)}, 3)


def spec_of(lab: DnsLab, index: int = 0) -> ServerSpec:
    name, ip, port = lab.resolvers[index]
    return ServerSpec(f"{name} @ test", ip, port)


def assert_same(remote: Observation, local: Observation) -> None:
    assert remote.outcome is local.outcome, (remote, local)
    assert (remote.rcode, remote.answers, remote.cname_chain) == (
        local.rcode,
        local.answers,
        local.cname_chain,
    )
    assert remote.error == local.error
    assert remote.authoritative_answer == local.authoritative_answer
    assert remote.soa_serial == local.soa_serial
    for mine, theirs in ((remote.ttl, local.ttl), (remote.final_ttl, local.final_ttl)):
        assert (mine is None) == (theirs is None)
        if mine is not None and theirs is not None:
            assert abs(mine - theirs) <= 1  # the resolver's TTLs count down between the two
    assert len(remote.cname_ttls) == len(local.cname_ttls)


def test_each_outcome_reads_as_a_local_query_sees_it(lab: DnsLab) -> None:
    spec = spec_of(lab)
    batch = plan_batch(spec, watched(QUESTIONS), time_s=2)
    observations = read_batch(run_dig(batch), batch, at=AT)
    assert [(o.qname, o.rdtype) for o in observations] == QUESTIONS
    for observation, (name, rdtype) in zip(observations, QUESTIONS, strict=True):
        local = asyncio.run(query(spec, name, rdtype, timeout=2, server_name=spec.name))
        assert_same(observation, local)
        assert observation.server_name == spec.name and observation.server == spec.address
        assert observation.observed_at == AT
    by_key = {(o.qname, o.rdtype): o for o in observations}
    assert by_key["www.example.test", "A"].answers == ("127.0.0.80", "127.0.0.81")
    assert by_key["www.example.test", "A"].cname_chain == ("alias.example.test", "web.example.test")
    assert by_key["long.example.test", "TXT"].answers == ('a bc"d\x1b[31m',)  # data, kept as is
    outcomes = [o.outcome for o in observations]
    assert outcomes == [
        Outcome.ANSWER, Outcome.ANSWER, Outcome.ANSWER, Outcome.ANSWER, Outcome.ANSWER,
        Outcome.NXDOMAIN, Outcome.NODATA, Outcome.SERVFAIL,
    ]  # fmt: skip
    assert by_key["nope.example.test", "A"].final_ttl is not None  # the SOA's negative TTL
    assert all(o.latency_ms is not None for o in observations)


def test_a_frozen_resolver_times_out_question_by_question(lab: DnsLab) -> None:
    batch = plan_batch(spec_of(lab, 2), watched(QUESTIONS[:2]), time_s=1)
    lab.freeze(2)
    try:
        observations = read_batch(run_dig(batch), batch, at=AT)
    finally:
        lab.thaw(2)
    assert [o.outcome for o in observations] == [Outcome.TIMEOUT, Outcome.TIMEOUT]
    assert observations[0].error == f"no reply from {spec_of(lab, 2).address} within 1 s"


def test_nothing_listening_is_a_network_error() -> None:
    spec = ServerSpec("gone @ test", "127.0.53.99", free_port("127.0.53.99"))
    batch = plan_batch(spec, watched(QUESTIONS[:2]), time_s=1)
    observations = read_batch(run_dig(batch), batch, at=AT)
    assert [o.outcome for o in observations] == [Outcome.NETWORK_ERROR] * 2
    assert "connection refused" in (observations[0].error or "")


def test_an_unsafe_question_is_never_sent_and_the_others_keep_their_answers(
    lab: DnsLab,
) -> None:
    pairs = [("example.test", "MX"), ("-f.example.test", "A"), ("a b.example.test", "A")]
    pairs += [("x\x1b[2J.example.test", "A"), ("example.test", "MX ANY"), ("web.example.test", "A")]
    batch = plan_batch(spec_of(lab), watched(pairs), time_s=2)
    assert batch.sent == 2
    assert b"-f.example" not in batch.stdin and b"\x1b" not in batch.stdin
    observations = read_batch(run_dig(batch), batch, at=AT)
    assert [o.outcome for o in observations] == [
        Outcome.ANSWER, Outcome.MALFORMED, Outcome.MALFORMED, Outcome.MALFORMED,
        Outcome.MALFORMED, Outcome.ANSWER,
    ]  # fmt: skip
    assert "\x1b" not in (observations[3].error or "")


def test_the_batch_line_asks_an_absolute_name_with_one_try() -> None:
    batch = plan_batch(ServerSpec("r", "2001:db8::53", 5353), watched([("example.com", "MX")]), 3)
    assert batch.stdin == b"@2001:db8::53 -p 5353 -t MX -q example.com. +time=3 +tries=1\n"
    assert plan_batch(ServerSpec("r", "10.0.0.1"), [], 0).time_s == 1
    assert question_refusal("_dmarc.example.com", "TXT") is None
    assert question_refusal("+short", "A") is not None
    assert question_refusal("example.com", "NOTATYPE") is not None


def test_dig_stopped_midway_leaves_the_rest_as_failures(lab: DnsLab) -> None:
    batch = plan_batch(spec_of(lab), watched(QUESTIONS[:3]), time_s=2)
    output = run_dig(batch).decode()
    cut = output[: output.index("; <<>> DiG", output.index(";; ANSWER SECTION"))]
    stopped = (Outcome.TIMEOUT, "no reply within the look's budget")
    observations = read_batch(cut, batch, at=AT, missing=stopped)
    assert [o.outcome for o in observations] == [Outcome.ANSWER, Outcome.TIMEOUT, Outcome.TIMEOUT]
    assert observations[1].error == "no reply within the look's budget"
    default = read_batch(cut, batch, at=AT)
    assert default[2].outcome is Outcome.MALFORMED
    assert default[2].error == "dig's output has no answer to this question"


# Hostile output: what a broken or malicious remote (or a fake dig) prints.

ONE = watched([("example.test", "MX")])
SPEC = ServerSpec("r @ x", "10.0.0.53")


def block(batch: Batch, *body: str) -> str:
    head = f"; <<>> DiG 9.18 <<>> {batch.lines[0]}\n;; Got answer:\n"
    head += ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr rd ra; QUERY: 1\n"
    return head + ";; ANSWER SECTION:\n" + "".join(f"{line}\n" for line in body)


def only(output: str) -> Observation:
    batch = plan_batch(SPEC, ONE, 1)
    (observation,) = read_batch(output, batch, at=AT)
    assert observation.error is None or (
        len(observation.error) <= 200 and "\x1b" not in observation.error
    )
    return observation


@pytest.mark.parametrize(
    "body",
    [
        "example.test. 300 IN MX 10 \x1b]0;pwned\x07evil.",
        "example.test. 300 IN MX ten mx1.example.test.",
        "example.test. -5 IN MX 10 mx1.example.test.",
        "example.test. 300 IN NOPE 10 mx1.example.test.",
        "example.test. 300 IN MX",
        "example.test. 300 IN MX 10 " + "a" * (MAX_LINE_CHARS + 10),
    ],
)
def test_an_unreadable_record_is_malformed_never_an_answer(body: str) -> None:
    batch = plan_batch(SPEC, ONE, 1)
    observation = only(block(batch, body))
    assert observation.outcome is Outcome.MALFORMED
    assert observation.answers == ()


def test_garbage_and_escapes_without_a_block_are_bounded_failures() -> None:
    noise = "\x1b[2J\x1b]0;title\x07" + "A" * 3_000_000 + "\n" + "\x00\xff junk\n" * 1000
    observation = only(noise)
    assert observation.outcome is Outcome.MALFORMED
    assert observation.error is not None and "dig's output has no answer" in observation.error


def test_a_block_for_another_question_is_never_taken_for_ours() -> None:
    batch = plan_batch(SPEC, ONE, 1)
    other = block(batch, "example.test. 300 IN MX 10 evil.example.").replace(
        "-q example.test.", "-q evil.test."
    )
    assert only(other).outcome is Outcome.MALFORMED
    repeated = block(batch, "example.test. 300 IN MX 10 mx1.example.test.") * 3
    assert only(repeated).answers == ("10 mx1.example.test",)


def test_a_flood_of_records_is_capped() -> None:
    batch = plan_batch(SPEC, ONE, 1)
    records = [f"example.test. 300 IN MX {n} mx{n}.example.test." for n in range(2000)]
    observation = only(block(batch, *records))
    assert observation.outcome is Outcome.ANSWER
    assert observation.answers_capped and len(observation.answers) <= 256
    assert len(observation.raw_answers) <= 257


def test_an_unknown_status_and_an_extended_error() -> None:
    batch = plan_batch(SPEC, ONE, 1)
    assert only(block(batch).replace("NOERROR", "WHATEVER")).outcome is Outcome.MALFORMED
    servfail = (
        block(batch)
        .replace("NOERROR", "SERVFAIL")
        .replace(
            ";; ANSWER SECTION:\n",
            ";; OPT PSEUDOSECTION:\n; EDE: 9 (DNSKEY Missing): (no key for example.test)\n",
        )
    )
    observation = only(servfail)
    assert observation.outcome is Outcome.SERVFAIL
    assert observation.ede == ((9, "no key for example.test"),)
    assert observation.error is not None and "DNSSEC validation failed" in observation.error
    # An extended error code past 16 bits is not one: left out, never a crash of the look.
    hostile = only(servfail.replace("EDE: 9 ", "EDE: 99999 "))
    assert hostile.outcome is Outcome.SERVFAIL and hostile.ede == ()


# A remote /etc/resolv.conf


def test_resolv_conf_nameservers() -> None:
    text = (
        "# generated\nsearch example.com\nnameserver 10.1.0.53\n  nameserver 10.1.0.54 # b\n"
        "nameserver 10.1.0.53\n;nameserver 10.9.9.9\nnameserver fe80::1%eth0\n"
        "nameserver fe80::2%\x1b[31m\nnameserver 2001:DB8:0::53\nnameserver resolver.example\n"
        "nameserver 1.1.1.1%eth0\noptions ndots:2\n"
    )
    assert nameservers(text) == (
        "10.1.0.53", "10.1.0.54", "fe80::1%eth0", "fe80::2", "2001:db8::53", "1.1.1.1",
    )  # fmt: skip


def test_resolv_conf_is_bounded() -> None:
    many = "".join(f"nameserver 10.0.0.{n}\n" for n in range(50))
    assert len(nameservers(many)) == MAX_NAMESERVERS
    assert nameservers("nameserver " + "1" * 5000 + "\n") == ()
    assert nameservers("x" * 100_000 + "\nnameserver 10.0.0.1\n") == ()
    assert nameservers("") == ()
