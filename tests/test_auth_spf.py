"""SPF checks against the real DNS lab: nsd serves the records, unbound resolves them.

One lab serves the whole module (records never change here); the frozen-resolver test freezes a
resolver no other test uses and thaws it in `finally`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime

import pytest

from cockpit.auth.asker import Asker
from cockpit.auth.spf_check import finding_from_verdicts, spf_findings
from cockpit.auth.spf_walk import finding_from_walk, walk_spf
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.model import Finding, Status
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
TIMEOUT = 0.5
OWN_IP = "127.0.20.1"
OTHER_IP = "127.0.20.9"
A_EIGHT_TIMES = " ".join(["a:h.example.test"] * 8)

RECORDS = [
    "h A 127.0.0.99",
    f'soft TXT "v=spf1 ip4:{OWN_IP} ~all"',
    f'hard TXT "v=spf1 ip4:{OWN_IP} -all"',
    'hard TXT "some-site-verification=abc"',
    f'inc8 TXT "v=spf1 {A_EIGHT_TIMES} -all"',
    'inc1 TXT "v=spf1 ip4:127.0.30.1 -all"',
    'two TXT "v=spf1 a:h.example.test a:h.example.test -all"',
    # 9 + include:two (10) + the first a: inside "two" is lookup 11
    'deep TXT "v=spf1 include:inc8.example.test include:two.example.test -all"',
    # 1 (a) + 1 (include) + 8 = 10: at the limit
    f'ten TXT "v=spf1 ip4:{OWN_IP} a:h.example.test include:inc8.example.test -all"',
    # ... and one include more makes 11: OWN_IP matches first and passes, others permerror
    f'eleven TXT "v=spf1 ip4:{OWN_IP} a:h.example.test include:inc8.example.test '
    'include:inc1.example.test -all"',
    'loop TXT "v=spf1 include:loop2.example.test -all"',
    'loop2 TXT "v=spf1 include:loop.example.test -all"',
    f'void TXT "v=spf1 ip4:{OWN_IP} a:nx1.example.test a:nx2.example.test a:nx3.example.test -all"',
]


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> DnsLab:
    return dns_lab_module({ZONE: zone_text(ZONE, 1, 60, RECORDS)}, resolver_count=2)


def _config(domain: str, ips: Sequence[str]) -> tuple[Config, Region]:
    region = Region("primary", ("mx1.example.test",), tuple(ips), helo="mx1.example.test")
    other = Region("secondary", ("mx2.example.test",), ("127.0.20.2",))
    config = hand_config(f"{domain}.{ZONE}", (region, other))
    return config, region


def _asker(lab: DnsLab, index: int = 0) -> Asker:
    name, ip, port = lab.resolvers[index]
    return Asker(ServerSpec(name, ip, port), timeout=TIMEOUT)


def _run(lab: DnsLab, domain: str, ips: Sequence[str], index: int = 0) -> dict[str, Finding]:
    config, region = _config(domain, ips)
    findings = asyncio.run(spf_findings(config, region, _asker(lab, index)))
    assert all(f.area == "auth" and f.region == "primary" for f in findings)
    return {finding.check: finding for finding in findings}


def _results(finding: Finding) -> dict[str, str]:
    return {entry["ip"]: entry["result"] for entry in finding.data["results"]}


def test_own_ip_passes(lab: DnsLab) -> None:
    found = _run(lab, "hard", [OWN_IP])
    assert found["spf"].status is Status.OK, found["spf"].summary
    assert _results(found["spf"]) == {OWN_IP: "pass"}
    assert found["spf-lookups"].status is Status.OK
    assert found["spf-lookups"].data["lookups"] == 0


@pytest.mark.parametrize(("domain", "result"), [("soft", "softfail"), ("hard", "fail")])
def test_ip_outside_the_record_fails(lab: DnsLab, domain: str, result: str) -> None:
    found = _run(lab, domain, [OWN_IP, OTHER_IP])
    assert _results(found["spf"]) == {OWN_IP: "pass", OTHER_IP: result}
    assert found["spf"].status is Status.FAIL
    assert f"{OTHER_IP} {result}" in found["spf"].summary


def test_exactly_ten_lookups_warns(lab: DnsLab) -> None:
    found = _run(lab, "ten", [OWN_IP, OTHER_IP])
    walk = found["spf-lookups"]
    assert walk.status is Status.WARN, walk.summary
    assert walk.data["lookups"] == 10
    assert "10 of 10" in walk.summary
    # pyspf agrees: 10 is allowed, so the other IP is a plain fail, not a permerror
    assert _results(found["spf"]) == {OWN_IP: "pass", OTHER_IP: "fail"}


def test_eleven_lookups_fail_naming_the_include(lab: DnsLab) -> None:
    found = _run(lab, "eleven", [OWN_IP, OTHER_IP])
    walk = found["spf-lookups"]
    assert walk.status is Status.FAIL
    assert walk.data["lookups"] == 11
    assert "include:inc1.example.test" in walk.summary
    assert walk.data["breaking_path"] == ["include:inc1.example.test"]
    # evaluation stops at the first match: the own IP passes, the other hits the limit
    assert _results(found["spf"]) == {OWN_IP: "pass", OTHER_IP: "permerror"}
    assert found["spf"].status is Status.FAIL


def test_nested_term_past_the_limit_names_the_top_include(lab: DnsLab) -> None:
    walk = _run(lab, "deep", [OWN_IP])["spf-lookups"]
    assert walk.status is Status.FAIL
    assert walk.data["lookups"] == 12
    assert walk.data["breaking_path"] == ["include:two.example.test", "a:h.example.test"]
    assert "include:two.example.test takes it past the limit" in walk.summary
    assert "two.example.test" in walk.data["breaking_term"]


def test_include_loop_fails_naming_it(lab: DnsLab) -> None:
    found = _run(lab, "loop", [OWN_IP])
    walk = found["spf-lookups"]
    assert walk.status is Status.FAIL
    assert "loop" in walk.summary and "include:loop.example.test" in walk.summary
    assert _results(found["spf"]) == {OWN_IP: "permerror"}


def test_three_void_lookups_fail(lab: DnsLab) -> None:
    found = _run(lab, "void", [OWN_IP, OTHER_IP])
    walk = found["spf-lookups"]
    assert walk.status is Status.FAIL, walk.summary
    assert walk.data["void_lookups"] == 3
    assert "a:nx3.example.test" in walk.data["breaking_void"]
    assert _results(found["spf"]) == {OWN_IP: "pass", OTHER_IP: "permerror"}


def test_missing_record_fails(lab: DnsLab) -> None:
    found = _run(lab, "nothing", [OWN_IP])
    assert _results(found["spf"]) == {OWN_IP: "none"}
    assert found["spf"].status is Status.FAIL
    assert found["spf-lookups"].status is Status.FAIL


def test_frozen_resolver_is_unknown_never_fail_or_none(lab: DnsLab) -> None:
    lab.freeze(1)
    try:
        started = time.monotonic()
        found = _run(lab, "hard", [OWN_IP, OTHER_IP], index=1)
        elapsed = time.monotonic() - started
    finally:
        lab.thaw(1)
    assert _results(found["spf"]) == {OWN_IP: "temperror", OTHER_IP: "temperror"}
    assert found["spf"].status is Status.UNKNOWN
    assert "no reply" in found["spf"].summary
    assert found["spf-lookups"].status is Status.UNKNOWN
    assert elapsed < 2 * TIMEOUT + 1.5  # a question costs one TIMEOUT, its retry included


def test_region_without_sending_ips_is_unknown() -> None:
    config, region = _config("hard", [])
    finding = finding_from_verdicts(config.domain.name, region, [], "lab-r1")
    assert finding.status is Status.UNKNOWN
    assert "no sending IPs" in finding.summary


# --- the walk, over an in-memory DNS: shapes the lab zone does not need -----------------------


class RecordAsker:
    """Answers from a dict {(name, type): records}; names in `silent` time out."""

    def __init__(self, records: dict[tuple[str, str], tuple[str, ...]], silent: Sequence[str] = ()):
        self.server = ServerSpec("mem", "127.0.0.1", 53)
        self.records = records
        self.silent = set(silent)
        self.asked: list[tuple[str, str]] = []

    async def ask(self, name: str, rdtype: str) -> Observation:
        self.asked.append((name, rdtype))
        if name in self.silent:
            outcome, rcode, error = Outcome.TIMEOUT, None, f"no reply for {name}"
        elif (name, rdtype) in self.records:
            outcome, rcode, error = Outcome.ANSWER, "NOERROR", None
        else:
            outcome, rcode, error = Outcome.NXDOMAIN, "NXDOMAIN", "NXDOMAIN"
        return Observation(
            server_name="mem",
            server="127.0.0.1:53",
            qname=name,
            rdtype=rdtype,
            outcome=outcome,
            rcode=rcode,
            answers=self.records.get((name, rdtype), ()),
            raw_answers=(),
            ttl=None,
            cname_chain=(),
            latency_ms=None,
            observed_at=datetime.now(UTC),
            error=error,
        )


Table = dict[tuple[str, str], tuple[str, ...]]
H_RECORDS: Table = {("h.test", "A"): ("127.0.0.9",), ("h.test", "MX"): ("10 h.test",)}


def _spf(records: dict[str, str], extra: Table | None = None) -> Table:
    """One TXT record per name in `records`, plus `extra` records of any type."""
    return {**{(name, "TXT"): (text,) for name, text in records.items()}, **(extra or {})}


def _walk(asker: RecordAsker, domain: str = "d.test") -> Finding:
    config, region = _config("x", [OWN_IP])
    walk = asyncio.run(walk_spf(domain, asker))  # type: ignore[arg-type]
    return finding_from_walk(domain, region, walk, "mem")


def test_walk_of_a_diamond_tree_is_bounded() -> None:
    records = {
        f"r{i}.test": f"v=spf1 include:r{i + 1}.test include:r{i + 1}.test -all" for i in range(30)
    }
    started = time.monotonic()
    finding = _walk(RecordAsker(_spf(records)), "r0.test")
    assert time.monotonic() - started < 2
    assert finding.status is Status.FAIL
    assert finding.data["truncated"] is True
    assert finding.data["queries"] <= 40


def test_redirect_counts_only_without_all() -> None:
    records = {
        "d.test": "v=spf1 a:h.test redirect=r.test",
        "r.test": "v=spf1 mx:h.test -all redirect=never.test",
    }
    asker = RecordAsker(_spf(records, H_RECORDS))
    finding = _walk(asker)
    assert finding.status is Status.OK, finding.summary
    terms = ["d.test: a:h.test", "d.test: redirect=r.test", "r.test: mx:h.test"]
    assert finding.data["terms"] == terms
    assert ("never.test", "TXT") not in asker.asked


def test_macros_and_ptr_count_but_are_not_resolved() -> None:
    asker = RecordAsker(_spf({"d.test": "v=spf1 ptr exists:%{i}.x.test a:%{d} -all"}))
    finding = _walk(asker)
    assert finding.data["lookups"] == 3 and finding.data["void_lookups"] == 0
    assert asker.asked == [("d.test", "TXT")]


def test_unanswered_question_is_unknown_unless_the_limit_is_already_broken() -> None:
    under = _walk(RecordAsker(_spf({"d.test": "v=spf1 include:slow.test -all"}), ["slow.test"]))
    assert under.status is Status.UNKNOWN
    assert "no reply for slow.test" in under.summary
    many = " ".join(["a:h.test"] * 11)
    over = RecordAsker(
        _spf({"d.test": f"v=spf1 {many} include:slow.test -all"}, H_RECORDS), ["slow.test"]
    )
    assert _walk(over).status is Status.FAIL


def test_two_spf_records_fail() -> None:
    asker = RecordAsker({("d.test", "TXT"): ("v=spf1 -all", "v=spf1 +all")})
    finding = _walk(asker)
    assert finding.status is Status.FAIL
    assert "2 SPF records" in finding.summary


def test_include_without_a_record_is_a_void_lookup_and_a_permerror() -> None:
    """Issue 12: check_host gives permerror for every sender reaching it (RFC 7208 5.2)."""
    finding = _walk(RecordAsker(_spf({"d.test": "v=spf1 include:gone.test -all"})))
    assert finding.status is Status.FAIL
    assert finding.data["void_lookups"] == 1
    assert finding.data["missing_records"] == ["gone.test"]
