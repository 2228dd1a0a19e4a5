"""Vantage rows joined to the local sweep (pure): classification, propagation, findings, events
and what the live picture logs. The looks are built by hand here; the real ssh and Prometheus
looks are tested against real servers in test_vantage_ssh.py and test_vantage_prometheus.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType

from cockpit.dns.classify import Verdict, authoritative_view, classify
from cockpit.dns.events import diff_sweeps
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.propagation import record_propagation
from cockpit.live_probes import LiveProbes
from cockpit.model import Status
from cockpit.vantage.findings import vantage_findings
from cockpit.vantage.merge import merge_looks
from cockpit.vantage.model import VantageLook, VantageRow, row_name, unreachable_look
from tests.dns_fakes import (
    CONFIG,
    MX_PRIMARY,
    MX_SECONDARY,
    T0,
    WATCHED,
    auth,
    everyone,
    obs,
    sweep,
    watched,
)

MX = watched("MX")
SPF = watched("SPF")


def local(answers: tuple[str, ...] = MX_SECONDARY) -> object:
    return sweep(everyone(MX, answers), auth(MX, MX_SECONDARY), records=(MX, SPF))


def ssh_row(name: str, answers: tuple[str, ...], *, at=T0) -> VantageRow:  # noqa: ANN001
    spec = ServerSpec(name, "10.1.0.53")
    seen = obs(MX, Outcome.ANSWER, answers, server=name, at=at)
    spf = obs(SPF, Outcome.ANSWER, ("v=spf1 -all",), server=name, at=at)
    return VantageRow(spec, MappingProxyType({MX.key: seen, SPF.key: spf}))


def look(*rows: VantageRow, vantage: str = "office", notes: tuple[str, ...] = ()) -> VantageLook:
    return VantageLook(
        vantage, "ssh", "Berlin office", T0, T0 + timedelta(seconds=1), rows, notes=notes
    )


def judged_elsewhere(name: str, region: str) -> VantageRow:
    """A row a blackbox vantage gives: MX only, judged by region, no records seen."""
    seen = replace(
        obs(MX, Outcome.ANSWER, (), server=name),
        region_seen=region,
        raw_answers=("blackbox module cockpit_dns_mx at fra",),
    )
    return VantageRow(ServerSpec(name, "10.2.0.53"), MappingProxyType({MX.key: seen}))


def test_rows_join_after_the_local_resolvers_and_are_judged_like_them() -> None:
    stale = row_name("10.1.0.53", "office")
    merged = merge_looks(local(), [look(ssh_row(stale, MX_PRIMARY))])
    assert [spec.name for spec in merged.resolvers][-1] == stale
    view = authoritative_view(merged, MX)
    assert classify(MX, merged.observations[(stale, MX.key)], view).region == "primary"
    progress = record_propagation(merged, MX, "secondary")
    assert (progress.converged, progress.total) == (3, 4)
    assert stale in progress.stale_resolvers
    findings = findings_from_sweep(merged, "secondary")
    row = next(f for f in findings if f.check == "MX" and f.resolver == stale)
    assert row.status is not Status.OK


def test_an_unreachable_vantage_is_one_unknown_row_never_dropped() -> None:
    gone = unreachable_look(
        "office",
        "ssh",
        "Berlin",
        "ops@jump1",
        (MX, SPF),
        "ssh exit 255: Host key verification failed.",
        T0,
        T0,
    )
    merged = merge_looks(local(), [gone])
    (row,) = [spec.name for spec in merged.resolvers if "@" in spec.name]
    assert row == "@ office"
    findings = findings_from_sweep(merged, "secondary")
    mine = [f for f in findings if f.resolver == row]
    assert {f.status for f in mine} == {Status.UNKNOWN}
    assert all("Host key verification failed" in f.summary for f in mine), mine
    progress = record_propagation(merged, MX, "secondary")
    assert progress.converged < progress.total  # an unknown row is never counted converged
    (status,) = vantage_findings([gone])
    assert status.status is Status.UNKNOWN and "Host key verification failed" in status.summary


def test_a_region_judged_by_a_prober_counts_and_unprobed_records_are_left_out() -> None:
    fresh, old = row_name("10.2.0.53", "fra"), row_name("10.3.0.53", "nyc")
    merged = merge_looks(
        local(),
        [look(judged_elsewhere(fresh, "secondary"), judged_elsewhere(old, "primary"))],
    )
    view = authoritative_view(merged, MX)
    verdict = classify(MX, merged.observations[(fresh, MX.key)], view)
    assert verdict.verdict is Verdict.REGION and verdict.region == "secondary"
    assert "judged by blackbox module" in verdict.reason
    progress = record_propagation(merged, MX, "secondary")
    assert (progress.converged, progress.total) == (4, 5) and old in progress.stale_resolvers
    # SPF is not probed by a blackbox vantage: neither an answer nor an unknown.
    assert (fresh, SPF.key) in merged.not_asked
    spf = record_propagation(merged, SPF, "secondary")
    assert spf.total == 3
    findings = findings_from_sweep(merged, "secondary")
    assert not [f for f in findings if f.check == "SPF" and f.resolver in (fresh, old)]


def test_an_answer_matching_no_single_region_is_unexpected_never_a_region() -> None:
    name = row_name("10.2.0.53", "fra")
    merged = merge_looks(local(), [look(judged_elsewhere(name, ""))])
    verdict = classify(MX, merged.observations[(name, MX.key)], authoritative_view(merged, MX))
    assert verdict.verdict is Verdict.UNEXPECTED and verdict.region is None


def test_a_name_already_taken_gets_a_number_and_no_row_is_lost() -> None:
    clash = "Cloudflare"
    merged = merge_looks(local(), [look(ssh_row(clash, MX_PRIMARY))])
    names = [spec.name for spec in merged.resolvers]
    assert names.count("Cloudflare") == 1 and "Cloudflare (2)" in names
    assert merged.observations[("Cloudflare (2)", MX.key)].server_name == "Cloudflare (2)"


def test_a_row_that_moves_is_one_event_and_a_look_merged_again_is_none() -> None:
    name = row_name("10.1.0.53", "office")
    before = merge_looks(local(), [look(ssh_row(name, MX_PRIMARY))])
    later = T0 + timedelta(seconds=30)
    after = merge_looks(local(), [look(ssh_row(name, MX_SECONDARY, at=later))])
    events = diff_sweeps(before, after, "secondary")
    assert [event.server for event in events if event.server] == [name], events
    assert (
        diff_sweeps(
            after, merge_looks(local(), [look(ssh_row(name, MX_SECONDARY, at=later))]), "secondary"
        )
        == []
    )


def test_the_live_picture_logs_each_change_once_whichever_arrives_first() -> None:
    probes = LiveProbes(CONFIG, target="secondary", clock=lambda: T0)
    name = row_name("10.1.0.53", "office")
    first = probes.took_look(look(ssh_row(name, MX_PRIMARY)))  # before any local sweep
    assert probes.sweep is None and probes.looks["office"].rows
    assert probes.took_sweep(local()) == []  # the first picture: nothing to compare with
    assert name in [spec.name for spec in probes.sweep.resolvers]
    assert probes.took_sweep(local()) == []  # the same again: nothing new
    moved = probes.took_look(look(ssh_row(name, MX_SECONDARY, at=T0 + timedelta(seconds=9))))
    texts = [entry.text for entry in probes.logger.flush()] + [e.text for e in moved]
    assert any(name in text for text in texts), (first, texts)
    again = probes.took_look(look(ssh_row(name, MX_SECONDARY, at=T0 + timedelta(seconds=9))))
    assert not [e for e in again if name in e.text]
    assert probes.took_sweep(local()) == []  # the row is kept, not logged again


def test_vantage_findings_say_ok_or_warn_with_the_trouble() -> None:
    name = row_name("10.1.0.53", "office")
    ok, partial = vantage_findings(
        [look(ssh_row(name, MX_PRIMARY)), look(vantage="lab", notes=("resolver 10.9.0.1: x",))]
    )
    assert ok.status is Status.OK and "1 resolver seen from Berlin office" in ok.summary
    assert partial.status is Status.WARN and "resolver 10.9.0.1: x" in partial.summary


def test_watched_names_are_all_known_to_the_fakes() -> None:
    assert (
        MX in WATCHED
        and SPF in WATCHED
        and isinstance(local().observations[("Cloudflare", MX.key)], Observation)
    )
