"""What the DNS probes must not claim: a referral read as "no records", "converged" while the
authoritative servers disagree, an NS host quietly left out, a serve-stale answer taken as fresh.

Pure: replies are built as DNS messages and read by query.observe_message, the same code that
reads a real server's reply; sweeps come from tests/dns_fakes.py. The same cases against real
servers are in test_dns_truth_lab.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from cockpit.auth.asker import Asker
from cockpit.auth.dane_check import dane_findings
from cockpit.auth.smtp_probe import SmtpResult
from cockpit.dns.events import diff_sweeps
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Observation, Outcome, ServerSpec
from cockpit.dns.propagation import record_propagation, serial_view
from cockpit.dns.query import observe_message
from cockpit.dns.watch import WatchedName
from cockpit.model import Finding, Status
from tests.dns_fakes import (
    AUTHORITATIVE,
    CONFIG,
    MX_PRIMARY,
    MX_SECONDARY,
    SPF,
    SPF_NEW,
    T0,
    auth,
    everyone,
    find,
    obs,
    sweep,
    watched,
)

MX = watched("MX")
SPF_RECORD = watched("SPF")
DKIM = watched("DKIM")
TLSA_HOST = "mx1.backup.example.com"
TLSA_NAME = f"_25._tcp.{TLSA_HOST}"


def reply(
    qname: str,
    rdtype: str,
    *,
    aa: bool = False,
    answer: tuple[str, ...] = (),
    authority: tuple[tuple[str, str, str], ...] = (),
    ede: int | None = None,
    ttl: int = 300,
) -> dns.message.Message:
    """A NOERROR reply as a server sends it (through the wire and back)."""
    query = dns.message.make_query(qname, rdtype, use_edns=0)
    message = dns.message.make_response(query)
    message.flags &= ~(dns.flags.AA | dns.flags.RA)
    if aa:
        message.flags |= dns.flags.AA
    if answer:
        message.answer.append(dns.rrset.from_text(qname + ".", ttl, "IN", rdtype, *answer))
    for owner, kind, data in authority:
        message.authority.append(dns.rrset.from_text(owner, 3600, "IN", kind, data))
    if ede is not None:
        message.use_edns(0, options=[dns.edns.EDEOption(ede, "authoritative unreachable")])
    return dns.message.from_wire(message.to_wire())


def observe(
    message: dns.message.Message,
    qname: str,
    rdtype: str,
    server: str = "Cloudflare",
    *,
    asked_as_authoritative: bool = False,
) -> Observation:
    question = (qname, rdtype, dns.name.from_text(qname), dns.rdatatype.from_text(rdtype))
    return observe_message(
        message,
        server,
        "192.0.2.1:53",
        question,
        latency_ms=1.0,
        over_tcp=False,
        observed_at=T0,
        asked_as_authoritative=asked_as_authoritative,
    )


DELEGATION = (("backup.example.com.", "NS", "ns1.provider.net."),)
ROOT_REFERRAL = ((".", "NS", "a.root-servers.net."),)
SOA = (("example.com.", "SOA", "ns1.example.com. hostmaster.example.com. 7 3600 600 86400 60"),)


# --- 1. a referral settles nothing ------------------------------------------------------------


def test_a_referral_is_no_verdict_and_names_where_it_points() -> None:
    seen = observe(reply(TLSA_NAME, "TLSA", authority=DELEGATION), TLSA_NAME, "TLSA")
    assert seen.outcome is Outcome.REFERRAL and seen.outcome in NO_VERDICT_OUTCOMES
    assert seen.error == (
        "referral to ns1.provider.net (backup.example.com): the server is not authoritative"
        f" for {TLSA_NAME}"
    )
    assert seen.ttl is None and seen.final_ttl is None


def test_an_empty_answer_without_aa_is_nodata_only_from_a_resolver_vouching_with_an_soa() -> None:
    name = "_mta-sts.example.com"
    cached = reply(name, "TXT", authority=SOA)
    # A resolver's cached negative answer: no AA, but the SOA of the zone holding the name.
    assert observe(cached, name, "TXT").outcome is Outcome.NODATA
    # The same from a server asked as an authoritative: not its own zone's data.
    from_authoritative = observe(cached, name, "TXT", "ns2", asked_as_authoritative=True)
    assert from_authoritative.outcome is Outcome.REFERRAL
    assert from_authoritative.error == (
        f"empty answer without the AA flag: the server is not authoritative for {name}"
    )
    # An empty reply with neither AA nor an SOA vouches for nothing, whoever was asked.
    assert observe(reply(name, "TXT"), name, "TXT").outcome is Outcome.REFERRAL
    # The real NODATA of an authoritative is unchanged.
    own = reply(name, "TXT", aa=True, authority=SOA)
    assert observe(own, name, "TXT", "ns1", asked_as_authoritative=True).outcome is Outcome.NODATA


def test_dane_says_unknown_not_no_tlsa_published_for_a_referral() -> None:
    seen = observe(reply(TLSA_NAME, "TLSA", authority=DELEGATION), TLSA_NAME, "TLSA", "ns1")
    region = next(region for region in CONFIG.regions if region.name == "secondary")
    asker = Asker(ServerSpec("ns1", "192.0.2.1"), 1.0, recursion_desired=False)
    result = SmtpResult(
        host=TLSA_HOST, address="198.51.100.25", banner_code=220, chain_der=(b"x",), verified=True
    )
    [finding] = asyncio.run(dane_findings(region, asker, {TLSA_HOST: (result,)}, {TLSA_HOST: seen}))
    assert finding.status is Status.UNKNOWN
    assert "referral to ns1.provider.net" in finding.summary
    assert "no TLSA published" not in finding.summary


def _with_lame_ns2(w: WatchedName, served: tuple[str, ...]) -> list[Finding]:
    """ns1 serves the record; ns2 (lame) answers with a referral to the root."""
    ns2 = observe(reply(w.name, w.rdtype, authority=ROOT_REFERRAL), w.name, w.rdtype, "ns2")
    answers = {("ns1", w.key): obs(w, answers=served, server="ns1"), ("ns2", w.key): ns2}
    resolvers = everyone(w, served)
    return findings_from_sweep(sweep(resolvers, answers, records=(w,)), "secondary")


def test_a_lame_authoritative_row_is_unknown_not_not_published() -> None:
    mtasts = watched("MTA-STS")
    findings = _with_lame_ns2(mtasts, ("v=STSv1; id=1",))
    lame = find(findings, "MTA-STS", "authoritative ns2")
    assert lame.status is Status.UNKNOWN
    assert lame.summary.startswith("referral to a.root-servers.net (the root zone): the server")
    assert "not published" not in lame.summary
    assert find(findings, "MTA-STS", "authoritative ns1").status is Status.OK


def test_a_required_record_behind_a_referral_is_unknown_not_missing() -> None:
    findings = _with_lame_ns2(DKIM, ("v=DKIM1; k=rsa; p=AAAA",))
    assert find(findings, "DKIM", "authoritative ns2").status is Status.UNKNOWN
    # A resolver that does not recurse for us hands back an upward referral: no verdict either.
    referral = observe(reply(DKIM.name, "TXT", authority=ROOT_REFERRAL), DKIM.name, "TXT")
    result = sweep({("Cloudflare", DKIM.key): referral}, auth(DKIM, ("v=DKIM1; p=AAAA",)))
    row = find(findings_from_sweep(result, "secondary"), "DKIM", "Cloudflare")
    assert row.status is Status.UNKNOWN and "does not exist" not in row.summary
    assert "not authoritative" in row.summary


def test_an_authoritative_row_without_aa_is_unknown() -> None:
    """Built by hand (a cached copy from a server asked as an authoritative): the view already
    leaves it out, and its own row no longer vouches for it either."""
    cached = replace(obs(MX, answers=MX_PRIMARY, server="ns2"), authoritative_answer=False)
    result = sweep(everyone(MX, MX_SECONDARY), {**auth(MX, MX_SECONDARY), ("ns2", MX.key): cached})
    row = find(findings_from_sweep(result, "secondary"), "MX", "authoritative ns2")
    assert row.status is Status.UNKNOWN
    assert row.summary == (
        "answered without the AA flag: the server is not authoritative for example.com"
    )


# --- 3. never converged while the authoritative servers disagree ------------------------------


def _spf_sweep(order: tuple[str, str], resolver_value: str):  # noqa: ANN202
    """ns-old serves SPF, ns-new SPF_NEW; `order` is the config order of the two."""
    served = {"ns-old": SPF, "ns-new": SPF_NEW}
    specs = {"ns-old": AUTHORITATIVE[0], "ns-new": AUTHORITATIVE[1]}
    authoritative = tuple(replace(specs[name], name=name) for name in order)
    auth_answers = {
        (name, SPF_RECORD.key): replace(
            obs(SPF_RECORD, answers=(served[name],), server=name), authoritative_answer=True
        )
        for name in order
    }
    base = sweep(everyone(SPF_RECORD, (resolver_value,)), records=(SPF_RECORD,))
    return replace(
        base,
        authoritative=authoritative,
        authoritative_observations=MappingProxyType(auth_answers),
        serials=MappingProxyType({}),
    )


def test_disagreeing_authoritative_servers_are_never_converged_in_either_order() -> None:
    for order in (("ns-old", "ns-new"), ("ns-new", "ns-old")):
        result = _spf_sweep(order, SPF)
        p = record_propagation(result, SPF_RECORD, "secondary")
        assert not p.is_converged and p.converged == 0, order
        assert p.reason == "no estimate: the authoritative servers disagree", order
        findings = findings_from_sweep(result, "secondary")
        assert find(findings, "propagation", None).status is Status.WARN, order
        row = find(findings, "SPF", "Cloudflare")
        assert row.status is Status.WARN, order
        assert "the authoritative servers disagree" in row.summary, order
        assert "now serve" not in row.summary, order


def test_no_record_converged_event_while_the_authoritative_servers_disagree() -> None:
    before = _spf_sweep(("ns-old", "ns-new"), SPF_NEW)
    after = _spf_sweep(("ns-old", "ns-new"), SPF)
    assert [
        e.kind for e in diff_sweeps(before, after, "secondary") if e.kind.startswith("record")
    ] == []


def test_a_cached_absence_is_not_judged_by_one_side_of_a_disagreement() -> None:
    """One server serves the record, the other says NXDOMAIN, the resolvers NXDOMAIN."""
    tlsrpt = watched("TLS-RPT")
    auth_answers = {
        ("ns1", tlsrpt.key): obs(tlsrpt, Outcome.NXDOMAIN, server="ns1"),
        ("ns2", tlsrpt.key): obs(
            tlsrpt, answers=("v=TLSRPTv1; rua=mailto:t@example.com",), server="ns2"
        ),
    }
    result = sweep(everyone(tlsrpt, (), Outcome.NXDOMAIN), auth_answers, records=(tlsrpt,))
    findings = findings_from_sweep(result, "secondary")
    assert find(findings, "propagation", None).status is Status.WARN
    row = find(findings, "TLS-RPT", "Cloudflare")
    assert row.status is Status.WARN and "the authoritative servers disagree" in row.summary


# --- 5. an NS host without an address is shown, not dropped -----------------------------------


def test_an_unresolved_ns_host_has_an_unknown_soa_row_and_is_named_in_the_views() -> None:
    why = "no address found (A timeout from Cloudflare; AAAA timeout from Cloudflare)"
    result = replace(
        sweep(everyone(MX, MX_SECONDARY), auth(MX, MX_SECONDARY), records=(MX,)),
        authoritative_source="NS set",
        authoritative_unresolved=MappingProxyType({"ns3.example.net": why}),
    )
    findings = findings_from_sweep(result, "secondary")
    row = find(findings, "SOA", "authoritative ns3.example.net")
    assert row.status is Status.UNKNOWN
    assert row.summary == f"serial unknown: not asked, {why}"
    assert row.data["unresolved"] is True
    view = serial_view(result)
    assert view.serials["ns3.example.net"] is None
    assert view.reason.endswith("; no serial from ns3.example.net")
    propagation = find(findings, "propagation", None)
    assert propagation.status is Status.OK
    assert propagation.summary.endswith("converged; not asked, no address: NS ns3.example.net")


# --- 8. an answer served stale is named, never converged, never estimated ---------------------


def _stale(answers: tuple[str, ...], *, ttl: int = 30, code: int = 3) -> Observation:
    targets = tuple(f"{a.split()[0]} {a.split()[1]}." for a in answers)
    message = reply("example.com", "MX", answer=targets, ede=code, ttl=ttl)
    return observe(message, "example.com", "MX", "Office")


def test_an_answer_served_stale_is_named_and_not_given_an_estimate() -> None:
    answers = {**everyone(MX, MX_SECONDARY), ("Office", MX.key): _stale(MX_PRIMARY)}
    result = sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
    findings = findings_from_sweep(result, "secondary")
    row = find(findings, "MX", "Office")
    assert row.status is Status.WARN
    assert row.summary.startswith("served stale (EDE 3 Stale Answer): still answers mx1")
    assert "TTL" not in row.summary
    p = record_propagation(result, MX, "secondary")
    assert p.estimate is None and p.served_stale_resolvers == ("Office",)
    assert p.stale_ttls["Office"] is None
    assert p.reason == "no estimate: Office serves stale answers (EDE 3 Stale Answer), no end known"
    assert find(findings, "propagation", None).data["served_stale_resolvers"] == ["Office"]


def test_the_target_answer_served_stale_is_not_converged() -> None:
    answers = {**everyone(MX, MX_SECONDARY), ("Office", MX.key): _stale(MX_SECONDARY)}
    result = sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
    findings = findings_from_sweep(result, "secondary")
    row = find(findings, "MX", "Office")
    assert row.status is Status.WARN and row.summary.startswith("served stale (EDE 3")
    p = record_propagation(result, MX, "secondary")
    assert (p.converged, p.total, p.is_converged) == (2, 3, False)
    before = sweep(everyone(MX, MX_PRIMARY), auth(MX, MX_SECONDARY), records=(MX,))
    kinds = [e.kind for e in diff_sweeps(before, result, "secondary")]
    assert "record_converged" not in kinds


def test_the_estimate_leaves_out_the_stale_served_resolver_only() -> None:
    answers = {
        ("Cloudflare", MX.key): obs(MX, answers=MX_SECONDARY, server="Cloudflare"),
        ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY, server="Quad9", ttl=240),
        ("Office", MX.key): _stale(MX_PRIMARY, code=19),
    }
    p = record_propagation(sweep(answers, auth(MX, MX_SECONDARY), records=(MX,)), MX, "secondary")
    assert p.estimate == T0 + timedelta(seconds=241)
    assert p.reason == (
        "Office serves stale answers (EDE 19 Stale NXDOMAIN Answer), no end known;"
        " the other caches fresh by 14:04:01 UTC"
    )


def test_a_resolver_that_starts_serving_stale_is_logged_once_and_when_fresh_again() -> None:
    """The answer does not change, only where it comes from (an expired cache entry): an event
    of its own, logged once by the probe logger, and one when the answer is fresh again. The
    state of a fresh answer hashes as it did before stale answers were told apart."""
    from datetime import datetime

    from cockpit.compat import UTC
    from cockpit.incident.probe_log import ProbeLogger

    fresh = mx_sweep_with(_office_fresh())
    stale = mx_sweep_with(_stale(MX_SECONDARY))
    events = diff_sweeps(fresh, stale, "secondary")
    # ... and the record is no longer converged: a stale answer never counts.
    assert [event.kind for event in events] == ["resolver_serving_stale", "record_diverged"]
    assert events[0].text.startswith(
        "Office now serves example.com MX served stale (EDE 3 Stale Answer)"
    )
    logger = ProbeLogger(min_interval_s=0, clock=lambda: datetime(2026, 12, 6, tzinfo=UTC))
    entry, _diverged = logger.offer(events)
    assert entry.data["event"] == "resolver_serving_stale" and entry.data["status"] == "warn"
    assert logger.offer(diff_sweeps(fresh, stale, "secondary")) == []  # once
    back = diff_sweeps(stale, fresh, "secondary")
    assert [event.kind for event in back] == ["resolver_fresh_again", "record_converged"]
    again, _converged = logger.offer(back)
    assert again.data["event"] == "resolver_fresh_again"
    assert diff_sweeps(stale, stale, "secondary") == []


def _office_fresh() -> Observation:
    targets = tuple(f"{a.split()[0]} {a.split()[1]}." for a in MX_SECONDARY)
    return observe(
        reply("example.com", "MX", answer=targets, ttl=30), "example.com", "MX", "Office"
    )


def mx_sweep_with(office: Observation):  # noqa: ANN201
    answers = {**everyone(MX, MX_SECONDARY), ("Office", MX.key): office}
    return sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
