"""The SPF record judged as a whole (issue 12, RFC 7208): one table of record shapes per rule,
served by a real nsd and resolved by a real unbound.

Each rule has its zone lines (the shapes: LABEL's record and what it reaches) and its table:
a row names LABEL, the region's sending IPs, the record-level status, the rule id that must be
among the finding's problems and what the summary must say. Where check_host (pyspf) has a
per-IP say, the row names the configured IP it must give permerror for: the verdicts agree.
The count table compares the walk with pyspf's own counters for a host that matches nothing.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
import spf  # type: ignore[import-untyped]

from cockpit.auth.asker import Asker
from cockpit.auth.spf_check import (
    DnsLookupAdapter,
    agreeing_walk,
    routed_through,
    spf_findings,
)
from cockpit.config.model import Region
from cockpit.dns.observation import Observation, ServerSpec
from cockpit.model import Finding, Status
from tests.lab import free_port
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
REVERSE = "20.0.127.in-addr.arpa"
DEAD = "dead.test"
GLUED_TOP = "test-all"
BLACK_HOLE_IP = "127.0.20.53"
OWN = "127.0.20.1"
OTHER = "127.0.20.9"
V6 = "2001:db8::25"
"""Only data: SPF evaluates the address, nothing connects to it."""
HELO = "mx1.example.test"
TIMEOUT = 0.5


@dataclass(frozen=True)
class Shape:
    label: str
    """The domain is LABEL.example.test; its record and what it reaches are in the zone."""
    ips: tuple[str, ...]
    status: Status
    rule: str | None
    """A rule id that must be among the problems (None: there must be no problem)."""
    says: str
    permerror_for: str | None = None
    """A configured IP check_host must give permerror for."""


@dataclass(frozen=True)
class Counted:
    label: str
    ip: str
    lookups: int
    voids: int


def _txt(name: str, *strings: str) -> str:
    """A TXT line; several strings are joined by resolvers with no space between them."""
    return f"{name} TXT " + " ".join(f'"{text}"' for text in strings)


BOTH = (OWN, OTHER)
FAIL, WARN, OK = Status.FAIL, Status.WARN, Status.OK
MACRO = f"v=spf1 a:nx1.{ZONE} exists:%{{i}}.m1.{ZONE} exists:%{{i}}.m2.{ZONE} ip4:{OWN} -all"
PTR_VOID = f"v=spf1 ptr:{ZONE} a:nx1.{ZONE} a:nx2.{ZONE} ip4:{OWN} -all"

SHARED_ZONE = [
    "h A 127.0.0.99",
    "h AAAA 2001:db8::99",
    _txt("vendor", "v=spf1 ip4:127.0.40.0/24 -all"),
    _txt("nospf", "google-site-verification=abc123"),
    "hostonly A 127.0.0.98",
    _txt("plusall", f"v=spf1 ip4:{OWN} +all"),
    _txt("neutral", f"v=spf1 ip4:{OWN} ?all"),
    _txt("noall", f"v=spf1 ip4:{OWN}"),
    _txt("incplus", f"v=spf1 include:plusall.{ZONE} -all"),
    "mx4 MX 10 mx4a",
    "mx4 MX 20 mx4b",
    "mx4a A 127.0.0.25",
    "mx4b A 127.0.0.26",
    f"{OWN}.m1 A 127.0.0.2",
    f"{OWN}.m2 A 127.0.0.2",
    _txt("macro", MACRO),
    _txt("ptr-void", PTR_VOID),
]

# --- include:/redirect= targets without SPF, and domain-specs that are not ones: fail -------

PERMERROR_ZONE = [
    _txt("inc-verification", f"v=spf1 ip4:{OWN} include:nospf.{ZONE} -all"),
    _txt("inc-nxdomain", f"v=spf1 ip4:{OWN} include:nothere.{ZONE} -all"),
    _txt("inc-no-txt", f"v=spf1 ip4:{OWN} include:hostonly.{ZONE} ~all"),
    _txt("redir-verification", f"v=spf1 redirect=nospf.{ZONE}"),
    _txt("redir-nxdomain", f"v=spf1 ip4:{OWN} redirect=gone.{ZONE}"),
    _txt("nested-missing", f"v=spf1 ip4:{OWN} include:vendor-broken.{ZONE} -all"),
    _txt("vendor-broken", f"v=spf1 ip4:127.0.41.0/24 include:nothere.{ZONE} -all"),
    # two strings joined with no space: the qualifier of `all` glues onto the name before it
    _txt("glued-softfail", f"v=spf1 ip4:{OWN} include:vendor.{ZONE}", "~all"),
    _txt("glued-neutral", f"v=spf1 ip4:{OWN} a:h.{ZONE}", "?all"),
    _txt("glued-dash", f"v=spf1 ip4:{OWN} include:vendor.{ZONE}", "-all"),
    _txt("glued-mechanisms", f"v=spf1 a:h.{ZONE}", f"ip4:{OWN} -all"),
    _txt("numeric-top", f"v=spf1 ip4:{OWN} a:host.123 -all"),
    _txt("exp-only-macro", f"v=spf1 ip4:{OWN} exists:%{{c}}.rbl.{ZONE} -all"),
    _txt("bad-ip4", f"v=spf1 ip4:{OWN} ip4:127.0.20.300 -all"),
    _txt("two-redirects", f"v=spf1 redirect=vendor.{ZONE} redirect=vendor.{ZONE}"),
    _txt("nested-glued", f"v=spf1 ip4:{OWN} include:vendor-glued.{ZONE} -all"),
    _txt("vendor-glued", "v=spf1 ip4:127.0.42.0/24", "-all"),
    _txt("inc-twice", f"v=spf1 ip4:{OWN} include:twice.{ZONE} -all"),
    _txt("twice", "v=spf1 ip4:127.0.44.1 -all"),
    _txt("twice", "v=spf1 ip4:127.0.44.2 -all"),
]
PERMERRORS = [
    Shape("inc-verification", BOTH, FAIL, "target-without-spf",
          f"reaches nospf.{ZONE}, which has no SPF record", OTHER),
    Shape("inc-nxdomain", BOTH, FAIL, "target-without-spf",
          f"nothere.{ZONE}, which does not exist", OTHER),
    Shape("inc-no-txt", BOTH, FAIL, "target-without-spf",
          f"hostonly.{ZONE}, which has no SPF record (no TXT records)", OTHER),
    Shape("redir-verification", (OWN,), FAIL, "target-without-spf",
          f"nospf.{ZONE}, which has no SPF record, through redirect=nospf.{ZONE}", OWN),
    Shape("redir-nxdomain", BOTH, FAIL, "target-without-spf",
          f"gone.{ZONE}, which does not exist", OTHER),
    Shape("nested-missing", BOTH, FAIL, "target-without-spf",
          f"through include:nothere.{ZONE} (in vendor-broken.{ZONE})", OTHER),
    Shape("glued-softfail", BOTH, FAIL, "invalid-domain-spec",
          f"invalid domain-spec in 'include:vendor.{ZONE}~all'", OTHER),
    Shape("glued-neutral", BOTH, FAIL, "invalid-domain-spec",
          f"invalid domain-spec in 'a:h.{ZONE}?all'", OTHER),
    Shape("glued-dash", BOTH, FAIL, "target-without-spf",
          f"vendor.{ZONE}-all, which does not exist", OTHER),
    Shape("glued-mechanisms", BOTH, FAIL, "invalid-domain-spec",
          f"invalid domain-spec in 'a:h.{ZONE}ip4:{OWN}'", OTHER),
    Shape("numeric-top", BOTH, FAIL, "invalid-domain-spec",
          "invalid domain-spec in 'a:host.123'", OTHER),
    Shape("exp-only-macro", BOTH, FAIL, "invalid-domain-spec",
          "macro %{c} is allowed only in exp= text", OTHER),
    Shape("bad-ip4", BOTH, FAIL, "bad-term", "not an IPv4 address in 'ip4:127.0.20.300'", OTHER),
    Shape("two-redirects", (OWN,), FAIL, "bad-term", "redirect= appears 2 times", OWN),
    Shape("nested-glued", BOTH, FAIL, "bad-term",
          "not an IPv4 address in 'ip4:127.0.42.0/24-all'", OTHER),
    Shape("inc-twice", BOTH, FAIL, "several-records", f"twice.{ZONE} has 2 SPF records", OTHER),
]

# --- void lookups, worst case per configured sending IP, macros expanded: fail past 2 ------

VOID_ZONE = [
    _txt("three-literal", f"v=spf1 ip4:{OWN} a:nx1.{ZONE} mx:nx2.{ZONE} exists:nx3.{ZONE} -all"),
    _txt("mx-hosts-void", f"v=spf1 ip4:{OWN} mx:deadmx.{ZONE} a:nx1.{ZONE} -all"),
    "deadmx MX 10 gone1",
    "deadmx MX 20 gone2",
    # IPv4-only MX hosts are void lookups for an IPv6 sender (AAAA), not for an IPv4 one
    _txt("v6-sender", f"v=spf1 ip4:{OWN} mx:mx4.{ZONE} a:mx4a.{ZONE} ip6:{V6} -all"),
    _txt("macro-local-part",
         f"v=spf1 a:%{{l}}.users.{ZONE} a:nx1.{ZONE} a:nx2.{ZONE} ip4:{OWN} -all"),
    _txt("macro-include", f"v=spf1 include:%{{i}}._inc.{ZONE} -all"),
    _txt(f"{OWN}._inc", f"v=spf1 ip4:{OWN} -all"),
    _txt("two-voids", f"v=spf1 a:nx1.{ZONE} a:nx2.{ZONE} ip4:{OWN} -all"),
]
VOIDS = [
    Shape("three-literal", BOTH, FAIL, "void-limit",
          f"has 3 void lookups (limit 2): a:nx1.{ZONE}", OTHER),
    Shape("mx-hosts-void", BOTH, FAIL, "void-limit",
          f"MX host: gone1.{ZONE} does not exist", OTHER),
    Shape("v6-sender", (OWN, V6), FAIL, "void-limit", f"3 void lookups for {V6} (limit 2)", V6),
    Shape("macro", BOTH, FAIL, "void-limit", f"3 void lookups for {OTHER} (limit 2)", OTHER),
    Shape("macro-local-part", BOTH, FAIL, "void-limit",
          f"postmaster.users.{ZONE} does not exist", OTHER),
    Shape("macro-include", BOTH, FAIL, "target-without-spf",
          f"{OTHER}._inc.{ZONE}, which does not exist", OTHER),
    Shape("ptr-void", BOTH, FAIL, "void-limit",
          f"3 void lookups for {OTHER} (limit 2): ptr:{ZONE}", OTHER),
    Shape("macro", (OWN,), OK, None, "needs 3 of 10 DNS lookups, 1 void"),
    Shape("two-voids", BOTH, OK, None, "needs 2 of 10 DNS lookups, 2 void"),
    Shape("macro", (), OK, None, "void count excludes macro targets"),
    Shape("ptr-void", (), OK, None, "void count excludes ptr"),
]

# --- the final word: +all fails, ?all and no all warn, ~all and -all are fine --------------

FINAL_WORD_ZONE = [
    _txt("plus", f"v=spf1 ip4:{OWN} +all"),
    _txt("bare", f"v=spf1 ip4:{OWN} all"),
    _txt("inc-plus", f"v=spf1 include:plusall.{ZONE} -all"),
    _txt("inc-plus-nested", f"v=spf1 ip4:{OWN} include:incplus.{ZONE} ~all"),
    _txt("redir-plus", f"v=spf1 redirect=plusall.{ZONE}"),
    _txt("inc-plus-neutral", f"v=spf1 ip4:{OWN} ?include:plusall.{ZONE} -all"),
    _txt("inc-plus-hard", f"v=spf1 ip4:{OWN} -include:plusall.{ZONE}"),
    _txt("question", f"v=spf1 ip4:{OWN} ?all"),
    _txt("redir-question", f"v=spf1 redirect=neutral.{ZONE}"),
    _txt("no-all", f"v=spf1 ip4:{OWN}"),
    _txt("includes-only", f"v=spf1 ip4:{OWN} include:vendor.{ZONE}"),
    # "-all" glued onto an mx name is still a name (a void lookup): the record has no all
    _txt("glued-mx", f"v=spf1 ip4:{OWN} mx:mx4.{ZONE}", "-all"),
    _txt("redir-no-all", f"v=spf1 redirect=noall.{ZONE}"),
    _txt("soft", f"v=spf1 ip4:{OWN} include:vendor.{ZONE} ~all"),
    _txt("hard", f"v=spf1 ip4:{OWN} a:h.{ZONE} -all"),
    _txt("unreachable-plus", f"v=spf1 ip4:{OWN} -all +all"),
]
FINAL_WORD = [
    Shape("plus", (OWN,), FAIL, "plus-all", "ends in +all: any host passes SPF, and DMARC"),
    Shape("bare", (OWN,), FAIL, "plus-all", "ends in +all"),
    Shape("inc-plus", (OWN,), FAIL, "include-passes-all",
          f"includes plusall.{ZONE}, which ends in +all"),
    Shape("inc-plus-nested", (OWN,), FAIL, "include-passes-all",
          f"includes incplus.{ZONE}, which passes any host"),
    Shape("redir-plus", (OWN,), FAIL, "plus-all",
          f"ends in +all (through redirect=plusall.{ZONE})"),
    Shape("inc-plus-neutral", (OWN,), WARN, "neutral-all", f"includes plusall.{ZONE} with '?'"),
    Shape("inc-plus-hard", (OWN,), OK, None, "needs 1 of 10 DNS lookups"),
    Shape("question", BOTH, WARN, "neutral-all",
          f"ends in ?all: forged mail is neutral, never rejected; {OTHER} of primary gets neutral"),
    Shape("question", (OWN,), WARN, "neutral-all",
          "every sending IP passes before it, but forged mail stays neutral"),
    Shape("redir-question", (OWN,), WARN, "neutral-all",
          f"?all (through redirect=neutral.{ZONE})"),
    Shape("no-all", (OWN,), WARN, "no-all",
          "no 'all' and no redirect=: other hosts get the default result, neutral"),
    Shape("includes-only", (OWN,), WARN, "no-all", "no 'all' and no redirect="),
    Shape("glued-mx", (OWN,), WARN, "no-all", "no 'all' and no redirect="),
    Shape("redir-no-all", (OWN,), WARN, "no-all",
          f"no 'all' in noall.{ZONE} (through redirect=noall.{ZONE})"),
    Shape("soft", (OWN,), OK, None, "needs 1 of 10 DNS lookups, 0 void"),
    Shape("hard", (OWN,), OK, None, "needs 1 of 10 DNS lookups, 0 void"),
    Shape("unreachable-plus", (OWN,), OK, None, "needs 0 of 10 DNS lookups"),
]

# --- a redirect= next to an `all` is never used, and the summary says so -------------------

REDIRECT_ZONE = [
    _txt("redir-hard", f"v=spf1 ip4:{OWN} -all redirect=plusall.{ZONE}"),
    _txt("redir-soft", f"v=spf1 ip4:{OWN} ~all redirect=plusall.{ZONE}"),
    _txt("redir-first", f"v=spf1 redirect=plusall.{ZONE} ip4:{OWN} -all"),
    _txt("redir-neutral", f"v=spf1 ip4:{OWN} ?all redirect=plusall.{ZONE}"),
    _txt("redir-next-to-plus", f"v=spf1 ip4:{OWN} redirect=vendor.{ZONE} +all"),
]
REDIRECT_IGNORED = [
    Shape("redir-hard", (OWN,), OK, None, f"redirect=plusall.{ZONE} in redir-hard.{ZONE}"),
    Shape("redir-soft", (OWN,), OK, None, f"redirect=plusall.{ZONE} in redir-soft.{ZONE}"),
    Shape("redir-first", (OWN,), OK, None, f"redirect=plusall.{ZONE} in redir-first.{ZONE}"),
    Shape("redir-neutral", (OWN,), WARN, "neutral-all",
          f"redirect=plusall.{ZONE} in redir-neutral.{ZONE}"),
    Shape("redir-next-to-plus", (OWN,), FAIL, "plus-all",
          f"redirect=vendor.{ZONE} in redir-next-to-plus.{ZONE}"),
]

# --- exact counts: the walk against check_host's own counters (a host that matches nothing) --

COUNT_ZONE = [
    _txt("mixed", f"v=spf1 mx a:h.{ZONE} include:vendor.{ZONE} -all"),
    "mixed MX 10 mx4a",
    _txt("after-all", f"v=spf1 ip4:{OWN} -all include:vendor.{ZONE} a:nx1.{ZONE}"),
    _txt("redirect-chain", f"v=spf1 a:h.{ZONE} redirect=vendor-redirect.{ZONE}"),
    _txt("vendor-redirect", f"v=spf1 mx:mixed.{ZONE} redirect=vendor.{ZONE}"),
    _txt("nested-void", f"v=spf1 include:vendor-void.{ZONE} -all"),
    _txt("vendor-void", f"v=spf1 a:nx1.{ZONE} ip4:127.0.43.0/24 -all"),
    _txt("half-mx", f"v=spf1 mx:halfmx.{ZONE} -all"),
    "halfmx MX 10 mx4a",
    "halfmx MX 20 gone1",
    _txt("v6-mx", f"v=spf1 mx:mx4.{ZONE} -all"),
    _txt("v6-a", f"v=spf1 a:h.{ZONE} a:mx4a.{ZONE} -all"),
    _txt("macro-two", f"v=spf1 exists:%{{i}}.m1.{ZONE} exists:%{{i}}.m2.{ZONE} -all"),
    _txt("macro-local", f"v=spf1 a:%{{l}}.users.{ZONE} -all"),
    _txt("ptr-names", "v=spf1 ptr:other.example -all"),
    _txt("null-mx", f"v=spf1 mx:nullmx.{ZONE} -all"),
    "nullmx MX 0 .",
]
COUNTS = [
    Counted("mixed", OTHER, 3, 0),
    Counted("after-all", OTHER, 0, 0),
    Counted("redirect-chain", OTHER, 4, 0),
    Counted("nested-void", OTHER, 2, 1),
    Counted("half-mx", OTHER, 1, 1),
    Counted("v6-mx", V6, 1, 2),
    Counted("v6-a", V6, 2, 1),
    Counted("macro-two", OTHER, 2, 2),
    Counted("macro-local", OTHER, 1, 1),
    Counted("ptr-names", OWN, 1, 0),
    Counted("ptr-names", OTHER, 1, 1),
    Counted("null-mx", OTHER, 1, 0),
    Counted("macro", OTHER, 3, 3),
    Counted("ptr-void", OTHER, 3, 3),
]

DEAD_ZONE = [
    _txt("many-dead", f"v=spf1 ip4:{OWN} " + " ".join(f"include:v{i}.{DEAD}" for i in range(6))
         + " -all"),
]


def _zone_records() -> list[str]:
    zone = [*SHARED_ZONE, *PERMERROR_ZONE, *VOID_ZONE, *FINAL_WORD_ZONE, *REDIRECT_ZONE]
    return list(dict.fromkeys([*zone, *COUNT_ZONE, *DEAD_ZONE]))


@pytest.fixture(scope="module")
def black_hole() -> Iterator[tuple[str, int]]:
    """A bound UDP socket that never reads: questions sent to it are never answered."""
    port = free_port(BLACK_HOLE_IP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind((BLACK_HOLE_IP, port))
        yield (BLACK_HOLE_IP, port)


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, black_hole: tuple[str, int]) -> DnsLab:
    zones = {
        ZONE: zone_text(ZONE, 1, 60, _zone_records()),
        REVERSE: zone_text(REVERSE, 1, 60, ["1 PTR h.example.test."]),
        # "include:x.example.test" "-all" glues into a name under the top label test-all:
        # served here so that it is NXDOMAIN, as on the internet (the lab refuses other names)
        GLUED_TOP: zone_text(GLUED_TOP, 1, 60, []),
    }
    return dns_lab_module(zones, resolver_count=1, stubs={DEAD: black_hole})


@dataclass(frozen=True, slots=True)
class CountingAsker(Asker):
    """The lab resolver, asked for real; remembers each question."""

    asked: list[tuple[str, str]] = field(default_factory=list, compare=False)

    async def ask(self, name: str, rdtype: str) -> Observation:
        self.asked.append((name, rdtype))
        return await Asker.ask(self, name, rdtype)


def _asker(lab: DnsLab) -> CountingAsker:
    name, ip, port = lab.resolvers[0]
    return CountingAsker(ServerSpec(name, ip, port), TIMEOUT)


def _run(
    lab: DnsLab, domain: str, ips: Sequence[str], asker: Asker | None = None
) -> dict[str, Finding]:
    region = Region("primary", ("mx1.example.test",), tuple(ips), helo=HELO)
    other = Region("secondary", ("mx2.example.test",), ("127.0.20.2",))
    config = hand_config(domain, (region, other))
    findings = asyncio.run(spf_findings(config, region, asker or _asker(lab)))
    return {finding.check: finding for finding in findings}


def _ids(rows: Sequence[Shape]) -> list[str]:
    return [f"{row.label}-{len(row.ips)}ip" for row in rows]


def _check(lab: DnsLab, row: Shape) -> dict[str, Finding]:
    found = _run(lab, f"{row.label}.{ZONE}", row.ips)
    walk = found["spf-lookups"]
    assert walk.status is row.status, walk.summary
    assert row.says in walk.summary, walk.summary
    rules = [problem["rule"] for problem in walk.data["problems"]]
    if row.rule is None:
        assert not [p for p in walk.data["problems"] if p["status"] != "ok"], walk.data
    else:
        assert row.rule in rules, rules
        assert row.status.value in {p["status"] for p in walk.data["problems"]}
    if row.permerror_for is not None:
        results = {entry["ip"]: entry["result"] for entry in found["spf"].data["results"]}
        assert results[row.permerror_for] == "permerror", results
    return found


@pytest.mark.parametrize("row", PERMERRORS, ids=_ids(PERMERRORS))
def test_a_permerror_for_every_sender_fails_the_record(lab: DnsLab, row: Shape) -> None:
    _check(lab, row)


def test_a_malformed_domain_spec_is_never_asked(lab: DnsLab) -> None:
    asker = _asker(lab)
    _run(lab, f"glued-softfail.{ZONE}", (OWN, OTHER), asker)
    assert not [name for name, _type in asker.asked if "~" in name], asker.asked


@pytest.mark.parametrize("row", VOIDS, ids=_ids(VOIDS))
def test_void_lookups_count_per_sending_ip_through_macros(lab: DnsLab, row: Shape) -> None:
    walk = _check(lab, row)["spf-lookups"]
    if row.rule == "void-limit":
        assert walk.data["void_lookups"] > 2
        assert walk.data["breaking_void"] in walk.data["void_terms"]
    if row.ips:
        per_ip = walk.data["per_ip"]
        assert max(entry["void_lookups"] for entry in per_ip.values()) == walk.data["void_lookups"]
    else:
        assert walk.data["uncounted"], walk.data
        assert "void-count-incomplete" in [note["rule"] for note in walk.data["notes"]]


def test_each_void_term_says_what_it_expanded_to_and_why(lab: DnsLab) -> None:
    walk = _run(lab, f"macro.{ZONE}", (OWN, OTHER))["spf-lookups"]
    assert walk.data["per_ip"][OWN]["void_lookups"] == 1
    assert walk.data["per_ip"][OTHER]["void_terms"] == [
        "a:nx1.example.test (in macro.example.test): nx1.example.test does not exist",
        f"exists:%{{i}}.m1.example.test (in macro.example.test): {OTHER}.m1.example.test "
        "does not exist",
        f"exists:%{{i}}.m2.example.test (in macro.example.test): {OTHER}.m2.example.test "
        "does not exist",
    ]


@pytest.mark.parametrize("row", FINAL_WORD, ids=_ids(FINAL_WORD))
def test_the_final_word_of_the_record(lab: DnsLab, row: Shape) -> None:
    _check(lab, row)


@pytest.mark.parametrize("row", REDIRECT_IGNORED, ids=_ids(REDIRECT_IGNORED))
def test_a_redirect_next_to_all_is_ignored_and_said(lab: DnsLab, row: Shape) -> None:
    asker = _asker(lab)
    found = _run(lab, f"{row.label}.{ZONE}", row.ips, asker)
    walk = found["spf-lookups"]
    assert walk.status is row.status and row.says in walk.summary, walk.summary
    assert "redirect-ignored" in [note["rule"] for note in walk.data["notes"]]
    assert not [term for term in walk.data["terms"] if "redirect=" in term]
    target = row.says.split()[0].removeprefix("redirect=")
    assert (target, "TXT") not in asker.asked  # neither the walk nor check_host follows it


def _pyspf_counts(lab: DnsLab, domain: str, ip: str) -> tuple[str, int, int]:
    """check_host through the same resolver, and pyspf's own lookup and void counters."""
    asker = _asker(lab)

    async def run() -> tuple[str, int, int]:
        ask = functools.partial(asker.ask_blocking, asyncio.get_running_loop())

        def evaluate() -> tuple[str, int, int]:
            with routed_through(DnsLookupAdapter(ask)):
                query = spf.query(i=ip, s=f"postmaster@{domain}", h=HELO)
                result = query.check()[0]
            return str(result), int(query.lookups), int(query.void_lookups)

        return await asyncio.to_thread(evaluate)

    return asyncio.run(run())


@pytest.mark.parametrize("row", COUNTS, ids=[f"{row.label}-{row.ip}" for row in COUNTS])
def test_counts_are_exact_and_agree_with_check_host(lab: DnsLab, row: Counted) -> None:
    domain = f"{row.label}.{ZONE}"
    walk = _run(lab, domain, (row.ip,))["spf-lookups"]
    counts = (walk.data["lookups"], walk.data["void_lookups"])
    assert counts == (row.lookups, row.voids), walk.data["void_terms"]
    result, lookups, voids = _pyspf_counts(lab, domain, row.ip)
    assert result in ("fail", "softfail", "neutral", "permerror"), result
    assert (lookups, voids) == counts


def test_the_questions_of_one_record_are_asked_together(lab: DnsLab) -> None:
    """Six includes whose names never get an answer cost about one Asker timeout, not six."""
    started = time.monotonic()
    found = _run(lab, f"many-dead.{ZONE}", (OWN, OTHER))
    elapsed = time.monotonic() - started
    walk = found["spf-lookups"]
    assert walk.status is Status.UNKNOWN, walk.summary
    assert len(walk.data["unanswered"]) == 6
    assert walk.data["lookups"] == 6
    one_question = TIMEOUT  # the Asker's timeout, its retry included
    assert elapsed < 2 * one_question + 1.0, elapsed


def test_the_record_verdict_never_reads_better_than_a_per_ip_permerror() -> None:
    """A permerror only check_host saw (a CNAME loop, say) still fails the record."""
    walk = Finding("auth", "spf-lookups", "d.test", Status.OK, "SPF of d.test needs 1 of 10",
                   "primary", "r1", {"problems": [], "notes": []})
    results = [{"ip": OWN, "result": "pass", "explanation": "", "queries": 2},
               {"ip": OTHER, "result": "permerror", "explanation": "SPF Permanent Error: x",
                "queries": 3}]
    check = Finding("auth", "spf", "d.test", Status.FAIL, "...", "primary", "r1",
                    {"results": results})
    agreed = agreeing_walk(walk, check)
    assert agreed.status is Status.FAIL
    assert f"gives permerror for {OTHER}" in agreed.summary
    assert [p["rule"] for p in agreed.data["problems"]] == ["per-ip-permerror"]
