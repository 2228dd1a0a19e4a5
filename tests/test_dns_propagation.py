"""Propagation share, the cache-expiry estimate, blocking and SOA serial skew."""

from __future__ import annotations

from datetime import timedelta

from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Outcome
from cockpit.dns.propagation import TTL_GRANULARITY, record_propagation, serial_view
from cockpit.model import Status
from tests.dns_fakes import (
    MX_PRIMARY,
    MX_SECONDARY,
    T0,
    auth,
    everyone,
    obs,
    sweep,
    watched,
)

MX = watched("MX")
DMARC = watched("DMARC")


def propagation_finding(result, target: str = "secondary"):  # noqa: ANN001, ANN201
    return next(f for f in findings_from_sweep(result, target) if f.check == "propagation")


def test_share_counting_and_estimate_is_the_latest_expiry() -> None:
    answers = {
        ("Cloudflare", MX.key): obs(MX, answers=MX_SECONDARY, server="Cloudflare"),
        ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY, server="Quad9", ttl=240, at=T0),
        ("Office", MX.key): obs(
            MX, answers=MX_PRIMARY, server="Office", ttl=100, at=T0 + timedelta(seconds=200)
        ),
    }
    result = sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert (p.key, p.converged, p.total) == ("example.com MX", 1, 3)
    assert p.share == 1 / 3
    assert p.stale_resolvers == ("Quad9", "Office")
    assert p.unknown_resolvers == ()
    # max(T0+240, T0+200+100), plus the second a whole-second TTL can hide
    assert p.estimate == T0 + timedelta(seconds=300) + TTL_GRANULARITY
    assert p.blocked_by is None and not p.blocked
    assert p.reason == "all caches fresh by 14:05:01 UTC"
    finding = propagation_finding(result)
    assert finding.status is Status.WARN
    assert finding.subject == "example.com MX" and finding.region == "secondary"
    assert finding.data == {
        "converged": 1,
        "resolvers": 3,
        "share": 1 / 3,
        "estimate": "2024-05-01T14:05:01+00:00",
        "blocked_by": None,
        "stale_resolvers": ["Quad9", "Office"],
        "unknown_resolvers": [],
    }


def test_negative_ttl_for_a_name_new_at_the_authoritative() -> None:
    answers = {
        ("Cloudflare", DMARC.key): obs(DMARC, answers=("v=DMARC1; p=reject",)),
        ("Quad9", DMARC.key): obs(DMARC, Outcome.NXDOMAIN, server="Quad9", ttl=3600),
        ("Office", DMARC.key): obs(DMARC, Outcome.NODATA, server="Office", ttl=60),
    }
    result = sweep(answers, auth(DMARC, ("v=DMARC1; p=reject",)), records=(DMARC,))
    p = record_propagation(result, DMARC, "secondary")
    assert p.converged == 1
    assert p.stale_resolvers == ("Quad9", "Office")
    assert p.estimate == T0 + timedelta(hours=1) + TTL_GRANULARITY


def test_blocked_when_authoritative_still_serves_the_old_region() -> None:
    result = sweep(everyone(MX, MX_PRIMARY), auth(MX, MX_PRIMARY), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert p.blocked and p.blocked_by == "primary"
    assert p.estimate is None
    assert p.reason == "blocked: authoritative still serves primary"
    assert propagation_finding(result).status is Status.FAIL
    assert propagation_finding(result).data["blocked_by"] == "primary"


def test_blocked_by_one_authoritative_server_names_it() -> None:
    auth_answers = {
        ("ns1", MX.key): obs(MX, answers=MX_SECONDARY, server="ns1"),
        ("ns2", MX.key): obs(MX, answers=MX_PRIMARY, server="ns2"),
    }
    p = record_propagation(sweep(everyone(MX, MX_SECONDARY), auth_answers), MX, "secondary")
    assert p.blocked_by == "primary"
    assert p.reason == "blocked: authoritative ns2 still serves primary"


def test_blocked_by_unexpected_authoritative_data() -> None:
    result = sweep(everyone(MX, MX_PRIMARY), auth(MX, ("10 mx.evil.example",)), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert p.blocked and p.blocked_by is None
    assert "mx.evil.example" in p.reason
    assert propagation_finding(result).status is Status.FAIL


def test_unknown_resolvers_are_listed_not_counted() -> None:
    answers = {
        ("Cloudflare", MX.key): obs(MX, answers=MX_SECONDARY),
        ("Quad9", MX.key): obs(MX, Outcome.SERVFAIL, server="Quad9"),
        # Office was not asked at all.
    }
    result = sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert (p.converged, p.total) == (1, 3)
    assert p.unknown_resolvers == ("Quad9", "Office")
    assert p.stale_resolvers == ()
    assert p.estimate is None
    assert "could not tell" in p.reason
    assert propagation_finding(result).status is Status.UNKNOWN


def test_stale_and_unknown_together_is_warn() -> None:
    answers = {
        ("Cloudflare", MX.key): obs(MX, answers=MX_PRIMARY, ttl=60),
        ("Quad9", MX.key): obs(MX, Outcome.TIMEOUT, server="Quad9"),
        ("Office", MX.key): obs(MX, answers=MX_SECONDARY, server="Office"),
    }
    result = sweep(answers, auth(MX, MX_SECONDARY), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert p.estimate == T0 + timedelta(seconds=60) + TTL_GRANULARITY
    assert propagation_finding(result).status is Status.WARN


def test_all_converged_has_no_estimate() -> None:
    result = sweep(everyone(MX, MX_SECONDARY), auth(MX, MX_SECONDARY), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert (p.converged, p.total, p.share) == (3, 3, 1.0)
    assert p.estimate is None and p.reason == "converged"
    finding = propagation_finding(result)
    assert finding.status is Status.OK
    assert finding.data["estimate"] is None


def test_stale_resolver_without_ttl_gives_no_estimate() -> None:
    answers = {
        **everyone(MX, MX_SECONDARY),
        ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY, ttl=None),
    }
    p = record_propagation(sweep(answers, auth(MX, MX_SECONDARY), records=(MX,)), MX, "secondary")
    assert p.estimate is None and "Quad9" in p.reason


def test_no_authoritative_view() -> None:
    answers = {**everyone(MX, MX_SECONDARY), ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY)}
    result = sweep(answers, authoritative_error="the NS set of example.com could not be found")
    p = record_propagation(result, MX, "secondary")
    assert p.estimate is None
    assert p.reason.startswith("no authoritative view")
    assert (p.converged, p.stale_resolvers) == (2, ("Quad9",))
    assert propagation_finding(result).status is Status.WARN
    dmarc = record_propagation(
        sweep(everyone(DMARC, ("v=DMARC1",)), authoritative_error="x"), DMARC, "secondary"
    )
    assert dmarc.converged == 0 and len(dmarc.unknown_resolvers) == 3
    assert dmarc.estimate is None


def test_optional_record_absent_everywhere_is_converged() -> None:
    srv = watched("SRV")
    result = sweep(
        everyone(srv, (), Outcome.NXDOMAIN), auth(srv, (), Outcome.NXDOMAIN), records=(srv,)
    )
    p = record_propagation(result, srv, "secondary")
    assert p.converged == 3 and p.reason == "converged"


def test_required_record_absent_at_authoritative_is_blocked() -> None:
    result = sweep(everyone(MX, MX_PRIMARY), auth(MX, (), Outcome.NXDOMAIN), records=(MX,))
    p = record_propagation(result, MX, "secondary")
    assert p.blocked and p.blocked_by is None
    assert "NXDOMAIN" in p.reason


def test_estimate_shows_the_date_on_another_day() -> None:
    answers = {
        **everyone(MX, MX_SECONDARY),
        ("Quad9", MX.key): obs(MX, answers=MX_PRIMARY, ttl=86400),
    }
    p = record_propagation(sweep(answers, auth(MX, MX_SECONDARY), records=(MX,)), MX, "secondary")
    assert p.reason == "all caches fresh by 2024-05-02 14:00:01 UTC"


def test_serial_view_agreement_skew_and_unknown() -> None:
    agreed = serial_view(sweep())
    assert dict(agreed.serials) == {"ns1": 2024050101, "ns2": 2024050101}
    assert not agreed.skew
    skewed = serial_view(sweep(serials=(2024050102, 2024050101)))
    assert skewed.skew
    assert skewed.reason == "SOA serial skew: ns1 2024050102, ns2 2024050101"
    partial = serial_view(sweep(serials=(2024050101, None)))
    assert dict(partial.serials) == {"ns1": 2024050101, "ns2": None}
    assert not partial.skew and "ns2" in partial.reason
    none = serial_view(sweep(authoritative_error="no NS"))
    assert dict(none.serials) == {} and not none.skew
