"""Classifying answers against regions and the authoritative servers, and the findings made of
them. Pure: Observations and SweepResults are built by hand (the helpers here are shared by
test_dns_propagation.py and test_dns_events.py)."""

from __future__ import annotations

import json

import pytest

from cockpit.dns.classify import (
    NO_VIEW,
    SUMMARY_CHARS,
    Verdict,
    authoritative_view,
    classify,
    one_line,
)
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding, Status
from tests.dns_fakes import (  # noqa: F401
    AUTHORITATIVE,
    CONFIG,
    CONFIG_TEXT,
    ESC,
    HOSTILE,
    MX_PRIMARY,
    MX_SECONDARY,
    RESOLVERS,
    SPF,
    SPF_NEW,
    T0,
    WATCHED,
    auth,
    everyone,
    find,
    obs,
    soa,
    sweep,
    view_of,
    watched,
)

# --- BY_REGION --------------------------------------------------------------------------------


def test_mx_pointing_at_one_region() -> None:
    mx = watched("MX")
    result = classify(mx, obs(mx, answers=MX_SECONDARY), NO_VIEW)
    assert result.verdict is Verdict.REGION
    assert result.region == "secondary"
    assert result.regions == ("secondary",)
    assert result.reason == "answers mx1.backup.example.com (secondary)"


def test_mx_with_two_hosts_of_one_region() -> None:
    mx = watched("MX")
    result = classify(mx, obs(mx, answers=MX_PRIMARY), NO_VIEW)
    assert (result.verdict, result.region) == (Verdict.REGION, "primary")
    assert result.reason == "answers mx1.example.com, mx2.example.com (primary)"


def test_mx_mixed_is_a_split_brain() -> None:
    mx = watched("MX")
    result = classify(
        mx, obs(mx, answers=("10 mx1.example.com", "20 mx1.backup.example.com")), NO_VIEW
    )
    assert result.verdict is Verdict.MIXED
    assert result.region is None
    assert result.regions == ("primary", "secondary")
    assert "split answer" in result.reason
    assert "mx1.backup.example.com (secondary)" in result.reason


def test_mx_unexpected_target() -> None:
    mx = watched("MX")
    result = classify(mx, obs(mx, answers=("10 mx.evil.example", "20 mx1.example.com")), NO_VIEW)
    assert result.verdict is Verdict.UNEXPECTED
    assert result.unexpected == ("mx.evil.example",)
    assert result.regions == ("primary",)
    assert "mx.evil.example (no configured region)" in result.reason


def test_target_names_are_compared_case_and_dot_insensitively() -> None:
    mx = watched("MX")
    result = classify(mx, obs(mx, answers=("10 MX1.Backup.Example.COM.",)), NO_VIEW)
    assert result.region == "secondary"


@pytest.mark.parametrize(
    ("outcome", "word"), [(Outcome.NXDOMAIN, "NXDOMAIN"), (Outcome.NODATA, "NODATA")]
)
def test_missing_names_nxdomain_or_nodata(outcome: Outcome, word: str) -> None:
    mx = watched("MX")
    result = classify(mx, obs(mx, outcome), NO_VIEW)
    assert result.verdict is Verdict.MISSING
    assert word in result.reason


def test_nxdomain_and_nodata_reasons_differ() -> None:
    mx = watched("MX")
    nx = classify(mx, obs(mx, Outcome.NXDOMAIN), NO_VIEW).reason
    nodata = classify(mx, obs(mx, Outcome.NODATA), NO_VIEW).reason
    assert nx != nodata


def test_answer_without_records_is_missing() -> None:
    mx = watched("MX")
    assert classify(mx, obs(mx, answers=()), NO_VIEW).verdict is Verdict.MISSING


def test_a_record_with_cname_chain_in_reason() -> None:
    a = watched("webmail.example.com A")
    result = classify(
        a, obs(a, answers=("198.51.100.20",), chain=("webmail.us.example.com",)), NO_VIEW
    )
    assert (result.verdict, result.region) == (Verdict.REGION, "secondary")
    assert "via webmail.us.example.com" in result.reason


def test_aaaa_addresses_are_canonical() -> None:
    aaaa = watched("webmail.example.com AAAA")
    result = classify(aaaa, obs(aaaa, answers=("2001:DB8:1:0::20",)), NO_VIEW)
    assert result.region == "primary"


def test_a_record_of_no_region() -> None:
    a = watched("webmail.example.com A")
    result = classify(a, obs(a, answers=("192.0.2.99",)), NO_VIEW)
    assert result.verdict is Verdict.UNEXPECTED
    assert result.unexpected == ("192.0.2.99",)


def test_cname_targets() -> None:
    cname = watched("CNAME")
    assert classify(
        cname, obs(cname, answers=("autodiscover.us.example.com",)), NO_VIEW
    ).region == ("secondary")
    hijacked = classify(cname, obs(cname, answers=("autodiscover.evil.example",)), NO_VIEW)
    assert hijacked.verdict is Verdict.UNEXPECTED


def test_srv_targets() -> None:
    srv = watched("SRV")
    result = classify(srv, obs(srv, answers=("0 0 443 autodiscover.eu.example.com",)), NO_VIEW)
    assert (result.verdict, result.region) == (Verdict.REGION, "primary")
    mixed = classify(
        srv,
        obs(
            srv,
            answers=("0 0 443 autodiscover.eu.example.com", "1 0 443 autodiscover.us.example.com"),
        ),
        NO_VIEW,
    )
    assert mixed.verdict is Verdict.MIXED


# --- failures ---------------------------------------------------------------------------------

FAILURES = [
    Outcome.TIMEOUT,
    Outcome.NETWORK_ERROR,
    Outcome.SERVFAIL,
    Outcome.REFUSED,
    Outcome.MALFORMED,
    Outcome.OTHER_RCODE,
]


@pytest.mark.parametrize("outcome", FAILURES)
def test_every_failure_is_failed_and_unknown(outcome: Outcome) -> None:
    mx = watched("MX")
    observation = obs(
        mx, outcome, attempts=2, rcode="FORMERR" if outcome is Outcome.OTHER_RCODE else None
    )
    assert classify(mx, observation, NO_VIEW).verdict is Verdict.FAILED
    found = find(
        findings_from_sweep(sweep({("Cloudflare", mx.key): observation}), "secondary"),
        "MX",
        "Cloudflare",
    )
    assert found.status is Status.UNKNOWN


def test_failure_reasons_are_distinct() -> None:
    mx = watched("MX")
    reasons = {classify(mx, obs(mx, outcome, attempts=2), NO_VIEW).reason for outcome in FAILURES}
    assert len(reasons) == len(FAILURES)


def test_timeout_reason_counts_attempts() -> None:
    mx = watched("MX")
    observation = obs(mx, Outcome.TIMEOUT, attempts=2, error="no reply from 9.9.9.9:53 within 2 s")
    assert classify(mx, observation, NO_VIEW).reason == "timeout after 2 attempts"


def test_failure_reason_keeps_the_error() -> None:
    mx = watched("MX")
    observation = obs(mx, Outcome.NETWORK_ERROR, error="connection refused by 192.0.2.1:53")
    assert (
        classify(mx, observation, NO_VIEW).reason
        == "network error: connection refused by 192.0.2.1:53"
    )


# --- BY_AUTHORITATIVE -------------------------------------------------------------------------


def test_txt_current_and_stale() -> None:
    dmarc = watched("DMARC")
    view = view_of(dmarc, ("v=DMARC1; p=reject",))
    assert view.answers == ("v=DMARC1; p=reject",) and not view.disagreements
    current = classify(dmarc, obs(dmarc, answers=("v=DMARC1; p=reject",)), view)
    stale = classify(dmarc, obs(dmarc, answers=("v=DMARC1; p=none",)), view)
    assert current.verdict is Verdict.CURRENT
    assert stale.verdict is Verdict.STALE
    assert '"v=DMARC1; p=none"' in stale.reason and '"v=DMARC1; p=reject"' in stale.reason


def test_txt_missing_while_authoritative_serves_data() -> None:
    dmarc = watched("DMARC")
    view = view_of(dmarc, ("v=DMARC1; p=reject",))
    assert classify(dmarc, obs(dmarc, Outcome.NXDOMAIN), view).verdict is Verdict.MISSING


def test_txt_value_still_cached_after_deletion_is_stale() -> None:
    dmarc = watched("DMARC")
    view = view_of(dmarc, (), Outcome.NXDOMAIN)
    assert view.negative and view.answers == ()
    assert classify(dmarc, obs(dmarc, answers=("v=DMARC1; p=none",)), view).verdict is Verdict.STALE


def test_txt_without_authoritative_view_cannot_be_judged() -> None:
    dmarc = watched("DMARC")
    result = classify(dmarc, obs(dmarc, answers=("v=DMARC1; p=none",)), NO_VIEW)
    assert result.verdict is Verdict.FAILED
    assert "no authoritative view" in result.reason


def test_spf_prefix_filters_other_txt_strings() -> None:
    spf = watched("SPF")
    view = view_of(spf, (SPF, "google-site-verification=abc"))
    assert view.answers == (SPF,)
    result = classify(
        spf,
        obs(spf, answers=("V=SPF1 ip4:203.0.113.0/24 -all".replace("V=SPF1", "v=spf1"), "ms=123")),
        view,
    )
    assert result.verdict is Verdict.CURRENT
    uppercase = classify(spf, obs(spf, answers=("V=SPF1 -all",)), view)
    assert uppercase.verdict is Verdict.STALE  # counted as SPF (case-insensitive), but different
    not_spf = classify(spf, obs(spf, answers=("v=spf10 -all", "ms=123")), view)
    assert not_spf.verdict is Verdict.MISSING
    assert "v=spf1" in not_spf.reason and "NODATA" in not_spf.reason


def test_two_spf_records_fail() -> None:
    spf = watched("SPF")
    answers = {("Cloudflare", spf.key): obs(spf, answers=(SPF, SPF_NEW, "ms=1"))}
    found = find(
        findings_from_sweep(sweep(answers, auth(spf, (SPF,))), "secondary"), "SPF", "Cloudflare"
    )
    assert found.status is Status.FAIL
    assert found.summary == "2 SPF records: receivers return permerror"


def test_authoritative_disagreement() -> None:
    mx = watched("MX")
    auth_answers = {
        ("ns1", mx.key): obs(mx, answers=MX_SECONDARY, server="ns1"),
        ("ns2", mx.key): obs(mx, answers=MX_PRIMARY, server="ns2"),
    }
    result = sweep(auth_answers=auth_answers)
    view = authoritative_view(result, mx)
    assert view.answers == MX_SECONDARY  # a tie: the first server in sweep order
    assert len(view.disagreements) == 1
    assert view.disagreements[0].startswith("authoritative ns2 serves mx1.example.com")
    findings = findings_from_sweep(result, "secondary")
    ns1 = find(findings, "MX", "authoritative ns1")
    ns2 = find(findings, "MX", "authoritative ns2")
    assert ns1.status is ns2.status is Status.WARN
    assert "primary" in ns2.summary and "secondary" in ns2.summary


def test_authoritative_agreement_gives_a_classified_view() -> None:
    mx = watched("MX")
    view = view_of(mx, MX_SECONDARY)
    assert view.outcome is Outcome.ANSWER and not view.negative
    assert view.classified is not None and view.classified.region == "secondary"


# --- hostile data -----------------------------------------------------------------------------


def test_hostile_target_kept_verbatim_and_bounded() -> None:
    mx = watched("MX")
    evil = f"10 {HOSTILE}.example"
    result = classify(mx, obs(mx, answers=(evil,)), NO_VIEW)
    assert result.verdict is Verdict.UNEXPECTED
    assert ESC in result.reason and "[@click=quit]" in result.reason
    found = find(
        findings_from_sweep(sweep({("Cloudflare", mx.key): obs(mx, answers=(evil,))}), "secondary"),
        "MX",
        "Cloudflare",
    )
    assert found.status is Status.FAIL
    assert ESC in found.summary and "[bold]" in found.summary
    assert found.data["answers"] == [evil]


def test_long_and_multiline_values_stay_one_bounded_line() -> None:
    dmarc = watched("DMARC")
    long_value = "v=DMARC1; p=reject;\n" + "x" * 5000 + HOSTILE
    answers = {("Cloudflare", dmarc.key): obs(dmarc, answers=(long_value,))}
    findings = findings_from_sweep(sweep(answers, auth(dmarc, ("v=DMARC1; p=none",))), "secondary")
    found = find(findings, "DMARC", "Cloudflare")
    assert found.status is Status.WARN
    assert len(found.summary) <= SUMMARY_CHARS
    assert found.summary.endswith("…")
    assert "\n" not in found.summary and "\\n" in found.summary
    assert len(found.data["answers"][0]) <= 512
    for finding in findings:
        assert len(finding.summary) <= SUMMARY_CHARS and "\n" not in finding.summary


def test_one_line() -> None:
    assert one_line("a\r\nb\u2028c") == "a\\r\\nb\\u2028c"
    assert one_line("x" * 200) == "x" * (SUMMARY_CHARS - 1) + "…"
    assert one_line(f"{ESC}[31m") == f"{ESC}[31m"


# --- findings ---------------------------------------------------------------------------------


def mx_findings(
    resolver_answers: dict[tuple[str, str], Observation],
    auth_answers: tuple[str, ...] = MX_SECONDARY,
    auth_outcome: Outcome = Outcome.ANSWER,
    target: str = "secondary",
) -> list[Finding]:
    mx = watched("MX")
    result = sweep(resolver_answers, auth(mx, auth_answers, auth_outcome), records=(mx,))
    return findings_from_sweep(result, target)


def test_finding_statuses_for_mx() -> None:
    mx = watched("MX")
    answers = {
        ("Cloudflare", mx.key): obs(mx, answers=MX_SECONDARY, server="Cloudflare"),
        ("Quad9", mx.key): obs(mx, answers=MX_PRIMARY, server="Quad9", ttl=240),
        ("Office", mx.key): obs(mx, Outcome.TIMEOUT, server="Office", attempts=2),
    }
    findings = mx_findings(answers)
    ok = find(findings, "MX", "Cloudflare")
    assert (ok.status, ok.region, ok.summary) == (
        Status.OK,
        "secondary",
        "answers mx1.backup.example.com (secondary)",
    )
    stale = find(findings, "MX", "Quad9")
    assert (stale.status, stale.region) == (Status.WARN, "primary")
    assert stale.summary == "still answers mx1.example.com, mx2.example.com (primary), TTL 240 s"
    unknown = find(findings, "MX", "Office")
    assert (unknown.status, unknown.summary) == (Status.UNKNOWN, "timeout after 2 attempts")


def test_finding_statuses_mixed_unexpected_missing() -> None:
    mx = watched("MX")
    answers = {
        ("Cloudflare", mx.key): obs(
            mx, answers=("10 mx1.example.com", "20 mx1.backup.example.com")
        ),
        ("Quad9", mx.key): obs(mx, answers=("10 mx.evil.example",), server="Quad9"),
        ("Office", mx.key): obs(mx, Outcome.NXDOMAIN, server="Office", ttl=30),
    }
    findings = mx_findings(answers)
    assert find(findings, "MX", "Cloudflare").status is Status.WARN
    assert find(findings, "MX", "Cloudflare").region is None
    assert find(findings, "MX", "Quad9").status is Status.FAIL
    cached = find(findings, "MX", "Office")
    assert cached.status is Status.WARN
    assert "NXDOMAIN" in cached.summary and "negative TTL 30 s" in cached.summary


def test_mixed_without_the_target_is_warn_too() -> None:
    mx = watched("MX")
    answers = {
        ("Cloudflare", mx.key): obs(
            mx, answers=("10 mx1.example.com", "20 mx.tertiary.example.net")
        )
    }
    assert find(mx_findings(answers), "MX", "Cloudflare").status is Status.WARN


def test_missing_everywhere_required_fails_optional_is_not_published() -> None:
    mx, srv = watched("MX"), watched("SRV")
    resolver_answers = {**everyone(mx, (), Outcome.NXDOMAIN), **everyone(srv, (), Outcome.NXDOMAIN)}
    auth_answers = {**auth(mx, (), Outcome.NXDOMAIN), **auth(srv, (), Outcome.NXDOMAIN)}
    findings = findings_from_sweep(
        sweep(resolver_answers, auth_answers, records=(mx, srv)), "secondary"
    )
    assert find(findings, "MX", "Cloudflare").status is Status.FAIL
    assert find(findings, "MX", "authoritative ns1").status is Status.FAIL
    optional = find(findings, "SRV", "Cloudflare")
    assert optional.status is Status.OK and optional.summary.startswith("not published")
    assert find(findings, "SRV", "authoritative ns1").status is Status.OK


def test_txt_findings() -> None:
    dkim = watched("DKIM")
    answers = {
        ("Cloudflare", dkim.key): obs(dkim, answers=("v=DKIM1; p=NEW",)),
        ("Quad9", dkim.key): obs(dkim, answers=("v=DKIM1; p=OLD",), server="Quad9", ttl=600),
        ("Office", dkim.key): obs(dkim, Outcome.NODATA, server="Office", ttl=60),
    }
    findings = findings_from_sweep(
        sweep(answers, auth(dkim, ("v=DKIM1; p=NEW",)), records=(dkim,)), "secondary"
    )
    assert find(findings, "DKIM", "Cloudflare").status is Status.OK
    assert find(findings, "DKIM", "Quad9").status is Status.WARN
    assert find(findings, "DKIM", "Office").status is Status.WARN
    assert find(findings, "DKIM", "authoritative ns1").status is Status.OK
    assert find(findings, "DKIM", "Cloudflare").region is None


def test_txt_findings_without_authoritative_view_are_unknown() -> None:
    dkim = watched("DKIM")
    result = sweep(
        everyone(dkim, ("v=DKIM1; p=NEW",)), authoritative_error="NS set not found", records=(dkim,)
    )
    findings = findings_from_sweep(result, "secondary")
    assert findings[0].check == "authoritative"
    assert findings[0].status is Status.UNKNOWN
    assert "NS set not found" in findings[0].summary
    assert find(findings, "DKIM", "Cloudflare").status is Status.UNKNOWN


def test_findings_order_and_json_shape() -> None:
    mx = watched("MX")
    findings = mx_findings(everyone(mx, MX_SECONDARY))
    assert [(f.check, f.resolver) for f in findings] == [
        ("SOA", "authoritative ns1"),
        ("SOA", "authoritative ns2"),
        ("MX", "authoritative ns1"),
        ("MX", "authoritative ns2"),
        ("MX", "Cloudflare"),
        ("MX", "Quad9"),
        ("MX", "Office"),
        ("propagation", None),
    ]
    record = find(findings, "MX", "Quad9").to_json()
    assert set(record) == {
        "area",
        "check",
        "subject",
        "region",
        "status",
        "summary",
        "data",
        "resolver",
        "observed_at",
    }
    assert record["area"] == "dns" and record["subject"] == "example.com"
    assert record["status"] == "ok" and record["region"] == "secondary"
    # Judged against the target, observed when its own answer came (not the sweep's start).
    assert record["data"]["target"] == "secondary"
    assert record["observed_at"] == record["data"]["observed_at"]
    json.dumps([f.to_json() for f in findings])  # plain JSON all the way down
    propagation = findings[-1].to_json()
    assert "resolver" not in propagation
    assert propagation["subject"] == "example.com MX" and propagation["region"] == "secondary"
    assert set(propagation["data"]) == {
        "converged",
        "resolvers",
        "share",
        "estimate",
        "blocked_by",
        "stale_resolvers",
        "unknown_resolvers",
    }


def test_soa_findings_warn_on_skew() -> None:
    findings = findings_from_sweep(sweep(serials=(2024050102, 2024050101), records=()), "secondary")
    assert [f.status for f in findings] == [Status.WARN, Status.WARN]
    assert "2024050102" in findings[0].summary and "2024050101" in findings[0].summary
    agreeing = findings_from_sweep(sweep(records=()), "secondary")
    assert [f.status for f in agreeing] == [Status.OK, Status.OK]
    assert agreeing[0].subject == "example.com"
    one_unknown = findings_from_sweep(sweep(serials=(2024050101, None), records=()), "secondary")
    assert [f.status for f in one_unknown] == [Status.OK, Status.UNKNOWN]
