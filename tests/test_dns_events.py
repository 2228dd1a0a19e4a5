"""Events between two sweeps, for the incident log."""

from __future__ import annotations

import json
from datetime import timedelta

from cockpit.dns.events import EVENT_KINDS, diff_sweeps
from cockpit.dns.observation import Outcome
from tests.dns_fakes import (
    HOSTILE,
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
LATER = T0 + timedelta(seconds=10)


def mx_sweep(resolver_answers, auth_answers=MX_SECONDARY, **kwargs):  # noqa: ANN001, ANN003, ANN201
    return sweep(resolver_answers, auth(MX, auth_answers), records=(MX,), **kwargs)


def kinds(events) -> list[str]:  # noqa: ANN001
    return [event.kind for event in events]


def test_no_previous_sweep_no_events() -> None:
    assert diff_sweeps(None, mx_sweep(everyone(MX, MX_PRIMARY)), "secondary") == []


def test_nothing_changed_no_events() -> None:
    before = mx_sweep(everyone(MX, MX_PRIMARY))
    after = mx_sweep(everyone(MX, MX_PRIMARY, at=LATER), started_at=LATER)
    assert diff_sweeps(before, after, "secondary") == []


def test_resolver_region_changed() -> None:
    before = mx_sweep(everyone(MX, MX_PRIMARY))
    after_answers = {
        **everyone(MX, MX_PRIMARY),
        ("Quad9", MX.key): obs(MX, answers=MX_SECONDARY, server="Quad9", ttl=60),
    }
    events = diff_sweeps(before, mx_sweep(after_answers), "secondary")
    assert kinds(events) == ["resolver_region_changed"]
    event = events[0]
    assert (event.key, event.server) == ("example.com MX", "Quad9")
    assert event.text == "Quad9 now answers secondary for example.com MX"
    assert event.data["before"]["region"] == "primary"
    assert event.data["after"]["region"] == "secondary"
    assert event.data["after"]["answers"] == list(MX_SECONDARY)
    assert event.data["after"]["ttl"] == 60
    assert event.data["after"]["observed_at"] == T0.isoformat()


def test_split_answer_is_a_region_change() -> None:
    before = mx_sweep(everyone(MX, MX_PRIMARY))
    split = ("10 mx1.example.com", "20 mx1.backup.example.com")
    after = mx_sweep(
        {**everyone(MX, MX_PRIMARY), ("Office", MX.key): obs(MX, answers=split, server="Office")}
    )
    (event,) = diff_sweeps(before, after, "secondary")
    assert event.kind == "resolver_region_changed"
    assert "split" in event.text


def test_resolver_value_changed_within_a_region_and_for_txt() -> None:
    before = mx_sweep(everyone(MX, MX_PRIMARY))
    after = mx_sweep(
        {
            **everyone(MX, MX_PRIMARY),
            ("Cloudflare", MX.key): obs(MX, answers=("10 mx1.example.com",)),
        }
    )
    assert kinds(diff_sweeps(before, after, "secondary")) == ["resolver_value_changed"]
    old, new = ("v=DMARC1; p=none",), ("v=DMARC1; p=reject",)
    dmarc_before = sweep(everyone(DMARC, old), auth(DMARC, new), records=(DMARC,))
    dmarc_after = sweep(
        {**everyone(DMARC, old), ("Quad9", DMARC.key): obs(DMARC, answers=new, server="Quad9")},
        auth(DMARC, new),
        records=(DMARC,),
    )
    events = diff_sweeps(dmarc_before, dmarc_after, "secondary")
    assert kinds(events) == ["resolver_value_changed"]
    assert events[0].server == "Quad9"
    assert events[0].data["before"]["verdict"] == "stale"
    assert events[0].data["after"]["verdict"] == "current"


def test_resolver_failed_and_recovered() -> None:
    good = mx_sweep(everyone(MX, MX_SECONDARY))
    bad = mx_sweep(
        {
            **everyone(MX, MX_SECONDARY),
            ("Quad9", MX.key): obs(MX, Outcome.TIMEOUT, server="Quad9", attempts=2),
        }
    )
    failed, diverged = diff_sweeps(good, bad, "secondary")
    assert diverged.kind == "record_diverged"  # "fully converged" can no longer be told
    assert failed.kind == "resolver_failed"
    assert failed.text == "Quad9 stopped answering for example.com MX: timeout after 2 attempts"
    events = diff_sweeps(bad, good, "secondary")
    assert kinds(events) == ["resolver_recovered", "record_converged"]
    assert events[0].text.startswith("Quad9 answers again for example.com MX")


def test_record_converged_and_diverged() -> None:
    pending = mx_sweep(
        {
            **everyone(MX, MX_SECONDARY),
            ("Office", MX.key): obs(MX, answers=MX_PRIMARY, server="Office"),
        }
    )
    done = mx_sweep(everyone(MX, MX_SECONDARY))
    events = diff_sweeps(pending, done, "secondary")
    assert kinds(events) == ["resolver_region_changed", "record_converged"]
    assert events[1].key == "example.com MX" and events[1].server is None
    assert "fully converged" in events[1].text
    back = diff_sweeps(done, pending, "secondary")
    assert kinds(back) == ["resolver_region_changed", "record_diverged"]
    assert "2 of 3" in back[1].text


def test_serial_skew_and_resolved() -> None:
    agreed = sweep(records=())
    skewed = sweep(serials=(2024050102, 2024050101), records=())
    (skew,) = diff_sweeps(agreed, skewed, "secondary")
    assert (skew.kind, skew.key, skew.server) == ("serial_skew", "SOA", None)
    assert "2024050102" in skew.text and "2024050101" in skew.text
    assert skew.data["after"]["serials"] == {"ns1": 2024050102, "ns2": 2024050101}
    assert kinds(diff_sweeps(skewed, agreed, "secondary")) == ["serial_skew_resolved"]


def test_authoritative_changed() -> None:
    before = mx_sweep(everyone(MX, MX_PRIMARY), auth_answers=MX_PRIMARY)
    after_auth = {
        **auth(MX, MX_PRIMARY),
        ("ns1", MX.key): obs(MX, answers=MX_SECONDARY, server="ns1"),
    }
    after = sweep(everyone(MX, MX_PRIMARY), after_auth, records=(MX,))
    (event,) = diff_sweeps(before, after, "secondary")
    assert event.kind == "authoritative_changed"
    assert event.server == "authoritative ns1"
    assert "secondary" in event.text and "example.com MX" in event.text


def test_deterministic_order_and_every_kind_known() -> None:
    before = sweep(
        {**everyone(MX, MX_PRIMARY), **everyone(DMARC, ("v=DMARC1",))},
        {**auth(MX, MX_PRIMARY), **auth(DMARC, ("v=DMARC1",))},
        records=(MX, DMARC),
    )
    after = sweep(
        {
            **everyone(MX, MX_SECONDARY),
            **everyone(DMARC, ("v=DMARC1",)),
            ("Office", DMARC.key): obs(DMARC, Outcome.REFUSED, server="Office"),
        },
        {**auth(MX, MX_SECONDARY), **auth(DMARC, ("v=DMARC1",))},
        records=(MX, DMARC),
        serials=(2024050102, 2024050101),
    )
    events = diff_sweeps(before, after, "secondary")
    assert [(e.kind, e.key, e.server) for e in events] == [
        ("serial_skew", "SOA", None),
        ("authoritative_changed", "example.com MX", "authoritative ns1"),
        ("authoritative_changed", "example.com MX", "authoritative ns2"),
        ("resolver_region_changed", "example.com MX", "Cloudflare"),
        ("resolver_region_changed", "example.com MX", "Quad9"),
        ("resolver_region_changed", "example.com MX", "Office"),
        ("record_converged", "example.com MX", None),
        ("resolver_failed", "_dmarc.example.com TXT", "Office"),
        ("record_diverged", "_dmarc.example.com TXT", None),
    ]
    assert events == diff_sweeps(before, after, "secondary")
    assert {e.kind for e in events} <= set(EVENT_KINDS)


def test_data_is_bounded_and_text_one_line() -> None:
    huge = tuple(f"10 mx{i}.{HOSTILE}.{'x' * 400}.example" for i in range(50))
    before = mx_sweep(everyone(MX, MX_PRIMARY))
    after = mx_sweep(
        {**everyone(MX, MX_PRIMARY), ("Quad9", MX.key): obs(MX, answers=huge, server="Quad9")}
    )
    (event,) = diff_sweeps(before, after, "secondary")
    assert event.kind == "resolver_region_changed"
    assert "\n" not in event.text and len(event.text) <= 120
    answers = event.data["after"]["answers"]
    assert len(answers) <= 9 and all(len(a) <= 256 for a in answers)
    assert HOSTILE in answers[0]  # kept verbatim, as data
    assert len(json.dumps(event.data)) < 8000
