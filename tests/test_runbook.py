"""The built-in runbook, the auto condition grammar, and the [checklist] overlay from the config."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cockpit.config import load_config_text
from cockpit.errors import ConfigError
from cockpit.incident.entry import PHASES
from cockpit.incident.runbook import (
    BUILTIN_STEPS,
    CHECKLIST_PHASES,
    EVENTS,
    IMPLICIT_AFTER,
    Clause,
    ConditionError,
    parse_condition,
    steps_for,
    with_implicit_after,
)
from tests.lab import missing_in_lab
from tests.test_config_bad import BASE

SEED = Path(__file__).resolve().parent.parent.parent / "shared/seed/000_e2c011b64cb2f894.txt"

BUILTIN = {step.id: step for step in BUILTIN_STEPS}


def _text_of(step_id: str) -> str:
    step = BUILTIN[step_id]
    return f"{step.title} {step.help}".casefold()


# (step id, its phase, words that its title or help must hold): every point of the issue.
COVERAGE: list[tuple[str, str, tuple[str, ...]]] = [
    ("confirm-scope", "before", ("scope", "region")),
    ("freeze-changes", "before", ("freeze",)),
    ("declare", "before", ("declare", "channel")),
    ("evidence-queue", "during", ("queue depth",)),
    ("evidence-smtp", "during", ("smtp", "rejection codes")),
    ("evidence-dns", "during", ("dns propagation",)),
    ("evidence-storage", "during", ("storage health",)),
    ("evidence-auth", "during", ("authentication",)),
    ("cutover", "during", ("fewest records", "time")),
    ("inform-users", "during", ("users informed", "another channel")),
    ("verify-delivery", "after", ("delivery",)),
    ("sample-mailboxes", "after", ("mailboxes", "departments", "folder")),
    ("shared-mailboxes", "after", ("shared mailbox",)),
    ("calendars", "after", ("calendar",)),
    ("search-index", "after", ("search",)),
    ("outbound-vs-sent", "after", ("outbound queues", "sent items", "duplicates")),
    ("external-placement", "after", ("external delivery", "inbox placement")),
    ("auth-alignment", "after", ("tls", "ptr", "spf", "dkim", "dmarc", "align")),
    ("webmail-cert", "after", ("webmail", "certificate", "headers")),
    ("sample-restore", "after", ("restore", "backup")),
    ("lessons", "after", ("lessons", "runbook")),
]


@pytest.mark.parametrize(("step_id", "phase", "words"), COVERAGE, ids=[c[0] for c in COVERAGE])
def test_the_builtin_runbook_covers_each_point(
    step_id: str, phase: str, words: tuple[str, ...]
) -> None:
    assert BUILTIN[step_id].phase == phase
    for word in words:
        assert word in _text_of(step_id), (step_id, word)


def test_builtin_steps_are_well_formed() -> None:
    assert len(BUILTIN) == len(BUILTIN_STEPS)
    phases = [step.phase for step in BUILTIN_STEPS]
    assert phases == sorted(phases, key=CHECKLIST_PHASES.index)  # grouped, in phase order
    for step in BUILTIN_STEPS:
        assert step.title and step.help and step.title == step.title.strip()
        assert step.sets_phase is None or step.sets_phase in PHASES


def test_phase_markers_are_set_by_declare_cutover_restored_and_verified() -> None:
    markers = {step.id: step.sets_phase for step in BUILTIN_STEPS if step.sets_phase}
    assert markers == {
        "declare": "declared",
        "cutover": "routed",
        "mail-flowing": "restored",
        "declare-verified": "verified",
    }


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:['’][a-z]+)?", text.casefold())


def test_in_our_own_words() -> None:
    if not SEED.is_file():
        missing_in_lab(f"the seed text is not next to the project: {SEED}")
    seed = _words(SEED.read_text(encoding="utf-8"))
    runs = {tuple(seed[i : i + 8]) for i in range(len(seed) - 7)}
    for step in BUILTIN_STEPS:
        for text in (step.title, step.help):
            words = _words(text)
            copied = [
                words[i : i + 8] for i in range(len(words) - 7) if tuple(words[i : i + 8]) in runs
            ]
            assert not copied, (step.id, copied)


# ---- the condition grammar --------------------------------------------------------------------


def test_condition_parses_every_part() -> None:
    condition = parse_condition("dns.MX mx1.example.com region=TARGET == ok and queue.* <= warn")
    assert condition.clauses == (
        Clause("dns", "MX", "mx1.example.com", "TARGET", "==", "ok"),
        Clause("queue", "*", "*", None, "<=", "warn"),
    )
    assert str(condition) == "dns.MX mx1.example.com region=TARGET == ok and queue.* <= warn"


@pytest.mark.parametrize(
    ("text", "clause", "canonical"),
    [
        (
            "service.smtp region=TARGET == ok after=routed",
            Clause("service", "smtp", "*", "TARGET", "==", "ok", "routed"),
            "service.smtp region=TARGET after=routed == ok",
        ),
        (
            "service.smtp mx2.example.test after=decision region=b <= warn",
            Clause("service", "smtp", "mx2.example.test", "b", "<=", "warn", "decision"),
            "service.smtp mx2.example.test region=b after=decision <= warn",
        ),
        (
            "queue.depth region=TARGET drains after=routed",
            Clause("queue", "depth", "*", "TARGET", "drains", None, "routed"),
            "queue.depth region=TARGET after=routed drains",
        ),
        ("queue.depth mx1 drains", Clause("queue", "depth", "mx1", None, "drains", None), None),
        ("queue.* drains", Clause("queue", "*", "*", None, "drains", None), None),
        (
            "auth.spf after=verified == ok",
            Clause("auth", "spf", "*", None, "==", "ok", "verified"),
            None,
        ),
    ],
)
def test_after_and_drains_parse(text: str, clause: Clause, canonical: str | None) -> None:
    (parsed,) = parse_condition(text).clauses
    assert parsed == clause
    assert str(parsed) == (canonical or text)
    assert parse_condition(str(parsed)).clauses == (parsed,)  # the shown text reads back


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_is_accepted(event: str) -> None:
    (clause,) = parse_condition(f"auth.spf after={event} == ok").clauses
    assert clause.after == event
    assert set(EVENTS) - {"decision"} <= set(PHASES)


def test_steps_that_set_a_phase_get_an_implicit_after() -> None:
    assert IMPLICIT_AFTER == {"routed": "decision", "restored": "routed", "verified": "restored"}
    condition = parse_condition("dns.MX region=TARGET == ok and auth.spf after=impact == ok")
    routed = with_implicit_after(condition, "routed")
    assert routed is not None
    assert [clause.after for clause in routed.clauses] == ["decision", "impact"]  # own kept
    restored = with_implicit_after(condition, "restored")
    assert restored is not None and restored.clauses[0].after == "routed"
    assert with_implicit_after(condition, "declared") == condition
    assert with_implicit_after(condition, None) == condition
    assert with_implicit_after(None, "routed") is None


def test_builtin_conditions_are_about_the_events_after_them() -> None:
    assert str(BUILTIN["cutover"].auto) == "dns.MX region=TARGET after=decision == ok"
    # Issue 14: canaries that arrived ok through the target after routing are the other way.
    assert str(BUILTIN["mail-flowing"].auto) == (
        "service.smtp region=TARGET after=routed == ok"
        " and queue.depth region=TARGET after=routed drains"
        " or canary.inbound region=TARGET after=routed == ok"
        " and canary.outbound region=TARGET after=routed == ok"
    )
    assert str(BUILTIN["verify-delivery"].auto) == (
        "canary.inbound region=TARGET after=routed == ok"
        " and canary.outbound region=TARGET after=routed == ok"
    )
    assert str(BUILTIN["auth-alignment"].auto) == (
        "auth.spf region=TARGET after=routed == ok and auth.dkim region=TARGET after=routed == ok"
        " and auth.dmarc region=TARGET after=routed == ok"
        " or canary.outbound region=TARGET after=routed == ok"
        " and canary.dmarc region=TARGET after=routed == ok"
    )
    assert str(BUILTIN["webmail-cert"].auto) == "auth.webmail region=TARGET after=routed == ok"
    for step in BUILTIN_STEPS:
        if step.auto is not None and step.sets_phase in IMPLICIT_AFTER:
            clauses = [clause for group in step.auto.groups for clause in group]
            assert all(clause.after is not None for clause in clauses), step.id


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("auth.spf == ok", [["auth.spf == ok"]]),
        ("auth.spf == ok and auth.dkim == ok", [["auth.spf == ok", "auth.dkim == ok"]]),
        (
            "auth.spf == ok and auth.dkim == ok or canary.outbound == ok",
            [["auth.spf == ok", "auth.dkim == ok"], ["canary.outbound == ok"]],
        ),
        ("a.b == ok or c.d == ok or e.f <= warn", [["a.b == ok"], ["c.d == ok"], ["e.f <= warn"]]),
    ],
    ids=["one", "and", "and-before-or", "three-ors"],
)
def test_and_binds_tighter_than_or(text: str, groups: list[list[str]]) -> None:
    condition = parse_condition(text)
    assert [[str(clause) for clause in group] for group in condition.groups] == groups
    assert str(condition) == text


@pytest.mark.parametrize(
    "text", ["or auth.spf == ok", "auth.spf == ok or", "a.b == ok or or c.d == ok"]
)
def test_an_empty_side_of_or_is_an_error(text: str) -> None:
    with pytest.raises(ConditionError, match="expected AREA.CHECK"):
        parse_condition(text)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("auth.spf", "expected AREA.CHECK"),
        ("auth.spf = ok", "expected == or <="),
        ("auth.spf == unknown", "one of ok, warn, fail"),
        ("spf == ok", "expected AREA.CHECK"),
        ("Auth.spf == ok", "expected AREA.CHECK"),
        ("auth.spf region=a region=b == ok", "given twice"),
        ("auth.spf region=-x == ok", "region name or TARGET"),
        ("auth.spf a b == ok", "unexpected 'b'"),
        ("auth.spf == ok and", "expected AREA.CHECK"),
        ("auth.spf == ok " + "and auth.spf == ok " * 8, "more than 8"),
        ("auth.spf == ok " + "x" * 300, "longer than 300"),
        ("auth.spf after=lunch == ok", "after= expects one of decision, impact, detected"),
        ("auth.spf after=closed == ok", "after= expects one of"),
        ("auth.spf after=routed after=decision == ok", "after= is given twice"),
        ("auth.spf drains", "drains judges a queue's depth over time: it needs queue.depth"),
        ("service.smtp region=TARGET drains", "it needs queue.depth, found 'service.smtp'"),
        ("queue.age drains", "it needs queue.depth, found 'queue.age'"),
        ("queue.depth drains ok", "drains takes no status"),
        ("queue.depth == drains", "drains is not a status: write 'queue.depth drains', without =="),
        ("drains", "expected AREA.CHECK before drains"),
        ("queue.depth mx1 mx2 drains", "unexpected 'mx2'"),
        ("auth.spf since=routed == ok", "unexpected 'since=routed' (known: region=NAME, after="),
    ],
)
def test_bad_conditions_are_refused(text: str, needle: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(needle)):
        parse_condition(text)


# ---- the config overlay -----------------------------------------------------------------------


def _config(checklist: dict[str, Any]) -> Any:
    document = copy.deepcopy(BASE)
    document["checklist"] = checklist
    return load_config_text(tomli_w.dumps(document))


ARCHIVE = {"id": "check-archive", "phase": "after", "title": "Archive still indexes"}


def test_without_a_checklist_table_the_builtin_runbook_is_used() -> None:
    config = load_config_text(tomli_w.dumps(BASE))
    assert steps_for(config) == BUILTIN_STEPS
    assert steps_for(None) == BUILTIN_STEPS


def test_config_steps_extend_the_runbook_at_the_end_of_their_phase() -> None:
    early = {"id": "page-vendor", "phase": "before", "title": "Page the vendor"}
    steps = steps_for(_config({"step": [ARCHIVE, early]}))
    ids = [step.id for step in steps]
    assert len(steps) == len(BUILTIN_STEPS) + 2
    assert ids[-1] == "check-archive"
    assert ids.index("page-vendor") == ids.index("declare") + 1
    assert ids.index("page-vendor") + 1 == ids.index("evidence-queue")


def test_a_config_step_with_a_builtin_id_replaces_it_in_place() -> None:
    mine = {
        "id": "cutover",
        "phase": "during",
        "title": "Switch MX at the registrar",
        "help": "Line one.\nLine two.",
        "auto": "dns.MX region=TARGET == ok",
        "sets_phase": "routed",
    }
    steps = steps_for(_config({"step": [mine]}))
    assert [step.id for step in steps] == [step.id for step in BUILTIN_STEPS]
    cutover = next(step for step in steps if step.id == "cutover")
    assert cutover.title == "Switch MX at the registrar"
    assert cutover.help == "Line one.\nLine two."
    assert cutover.sets_phase == "routed"
    # The step sets routed, so its clause is judged after the failover decision; shown as judged.
    assert str(cutover.auto) == "dns.MX region=TARGET after=decision == ok"


def test_replace_builtin_keeps_only_the_config_steps_in_file_order() -> None:
    first = {"id": "zz-first", "phase": "after", "title": "First"}
    steps = steps_for(_config({"replace_builtin": True, "step": [first, ARCHIVE]}))
    assert [step.id for step in steps] == ["zz-first", "check-archive"]
    assert steps[1].help == "" and steps[1].auto is None and steps[1].sets_phase is None


def test_a_during_step_goes_after_the_last_during_step() -> None:
    merged = steps_for(_config({"step": [{"id": "only-during", "phase": "during", "title": "D"}]}))
    ids = [step.id for step in merged]
    assert ids.index("only-during") == ids.index("mail-flowing") + 1
    assert ids[ids.index("only-during") + 1] == "verify-delivery"


def test_old_config_conditions_still_load_and_are_judged_stricter() -> None:
    mine = {
        "id": "mail-flowing",
        "phase": "during",
        "title": "Mail flows",
        "auto": "queue.depth region=TARGET <= warn",
        "sets_phase": "restored",
    }
    extra = {"id": "relay-ok", "phase": "after", "title": "Relay", "auto": "queue.* <= warn"}
    steps = {step.id: step for step in steps_for(_config({"step": [mine, extra]}))}
    assert str(steps["mail-flowing"].auto) == "queue.depth region=TARGET after=routed <= warn"
    assert str(steps["relay-ok"].auto) == "queue.* <= warn"  # sets no phase: no implicit after


@pytest.mark.parametrize(
    ("auto", "needle"),
    [
        ("auth.spf drains", "drains judges a queue's depth over time: it needs queue.depth"),
        ("queue.depth after=soon drains", "after= expects one of decision, impact"),
    ],
)
def test_a_contradictory_config_condition_is_a_config_error(auto: str, needle: str) -> None:
    step = {"id": "x-step", "phase": "after", "title": "X", "auto": auto}
    with pytest.raises(ConfigError) as caught:
        _config({"step": [step]})
    message = str(caught.value)
    assert "checklist.step[0].auto" in message and needle in message


def test_the_own_words_check_would_catch_a_copied_sentence() -> None:
    if not SEED.is_file():
        missing_in_lab(f"the seed text is not next to the project: {SEED}")
    seed = _words(SEED.read_text(encoding="utf-8"))
    copied = _words("Keep users informed through out-of-band channels so they know where")
    assert any(seed[i : i + 8] == copied[:8] for i in range(len(seed) - 7))


def test_the_example_config_documents_the_checklist_keys() -> None:
    from cockpit.config import load_config
    from cockpit.config.schema import CHECKLIST_KEYS, CHECKLIST_STEP_KEYS

    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    assert re.search(r"^\[checklist\]", text, re.M)
    assert re.search(r"^\s*\[\[checklist\.step\]\]", text, re.M)
    for key in (*CHECKLIST_KEYS, *CHECKLIST_STEP_KEYS):
        if key.name != "step":
            assert re.search(rf"^\s*{key.name} =", text, re.M), key.name
    steps = steps_for(load_config(example))
    assert steps[-1].id == "check-archive" and steps[-1].auto is not None
