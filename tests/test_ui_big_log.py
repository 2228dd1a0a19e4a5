"""Issue 13, a big incident log on the screen (Textual pilot, a real 10,000-entry log written by
tests/big_log.py): the header and checklist say "loading" until the state is read and never
claim a state they do not know, then show the true one; the timeline draws at most MAX_LINES
lines, the newest, the last entry at the bottom; keys act while the log is read; and every
write that depends on the state is refused while it is read, then works."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

import cockpit.ui.app
from cockpit.compat import UTC
from cockpit.incident.log import IncidentLog, read_log
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import LOADING_TEXT, ChecklistPane, TextPrompt
from cockpit.ui.decision_form import DecisionForm
from cockpit.ui.header import IncidentHeader
from cockpit.ui.severity_prompt import SeverityPrompt
from cockpit.ui.timeline_pane import MAX_LINES, TimelinePane
from tests import big_log
from tests.pilot_wait import wait_for

pytestmark = pytest.mark.anyio

ENTRIES = 10_000
"""Big enough that reading it takes a while (the state in about 0.3 s, all of it in about 2 s
here), small enough for the suite."""
READ_WITHIN = 60.0
"""Generous: the whole read and drawing of ENTRIES on a loaded 2-core machine."""
SIZE = (120, 40)
TRUE_STATUS = (
    big_log.FINAL_SEVERITY,
    big_log.FINAL_PHASE,
    f"target {big_log.FINAL_TARGET}",
    f"cmd {big_log.FINAL_COMMANDER}",
)
SEQ_AT_START = re.compile(r"^\d\d:\d\d:\d\d #(\d+) ")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def big_log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "incident.jsonl"
    big_log.write_big_log(path, ENTRIES)
    return path


@pytest.fixture
def log_path(big_log_file: Path, tmp_path: Path) -> Path:
    """A copy of the big log (and its mark) for one test."""
    path = tmp_path / "incident.jsonl"
    shutil.copyfile(big_log_file, path)
    shutil.copyfile(big_log_file.with_name("incident.jsonl.mark"), tmp_path / "incident.jsonl.mark")
    return path


class RecordingApp(CockpitApp):
    """The cockpit, keeping every notification it showed (toasts time out)."""

    CSS_PATH = str(Path(cockpit.ui.app.__file__).with_name("cockpit.tcss"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.said: list[tuple[str, str]] = []

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.said.append((str(kwargs.get("severity", "information")), str(message)))
        super().notify(message, **kwargs)

    def toasts(self, containing: str, severity: str | None = None) -> list[str]:
        return [
            text
            for level, text in self.said
            if containing in text and (severity is None or level == severity)
        ]


def make_app(path: Path, **kwargs: Any) -> RecordingApp:
    return RecordingApp(path, author="alice", config=None, probes=False, **kwargs)


def parts(app: CockpitApp) -> tuple[TimelinePane, IncidentHeader, ChecklistPane]:
    return app.query_one(TimelinePane), app.query_one(IncidentHeader), app.query_one(ChecklistPane)


def checklist_lines(checklist: ChecklistPane) -> list[str]:
    options = checklist.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def claims_no_state(app: CockpitApp) -> list[str]:
    """What the header and checklist show that they should not while the state is unknown."""
    _pane, header, checklist = parts(app)
    wrong: list[str] = []
    status = str(header.render())
    if "loading" not in status:
        wrong.append(f"header without 'loading': {status!r}")
    wrong += [f"header claims {part!r}" for part in TRUE_STATUS if part in status]
    if "no phase" in status or "sev ?" in status:
        wrong.append(f"header claims an empty state: {status!r}")
    if not checklist.loading or checklist_lines(checklist) != [LOADING_TEXT]:
        wrong.append(f"checklist shows steps: {checklist_lines(checklist)[:3]}")
    return wrong


def shows_the_true_state(app: CockpitApp) -> bool:
    _pane, header, checklist = parts(app)
    status = str(header.render())
    cutover = checklist.state_of("cutover")
    return (
        header.title_text == big_log.TITLE
        and all(part in status for part in TRUE_STATUS)
        and "loading" not in status
        and not checklist.loading
        and cutover is not None
        and cutover.status == "done"
    )


async def watch_until(
    pilot: Pilot[None], done: Callable[[], bool], every: Callable[[], None], within: float
) -> None:
    """Call `every()` at each short step until `done()` holds (AssertionError after `within`)."""
    deadline = time.monotonic() + within
    while True:
        every()
        if done():
            return
        assert time.monotonic() < deadline, f"not within {within:g} s"
        await pilot.pause(0.01)


def drawn_seqs(pane: TimelinePane) -> list[int]:
    seqs: list[int] = []
    for strip in pane.lines:
        found = SEQ_AT_START.match(strip.text)
        if found:
            seqs.append(int(found.group(1)))
    return seqs


# ---- the header, the checklist and the timeline while and after loading ---------------------


async def test_the_header_and_checklist_say_loading_until_the_state_is_read(
    log_path: Path,
) -> None:
    app = make_app(log_path)
    async with app.run_test(size=SIZE) as pilot:
        pane, header, checklist = parts(app)
        assert not pane.state_known, "the state was read before the first frame: use more entries"
        frames = {"loading": 0}
        wrong: list[str] = []

        def check() -> None:
            if not pane.state_known:
                frames["loading"] += 1
                wrong.extend(claims_no_state(app))

        await watch_until(pilot, lambda: shows_the_true_state(app), check, READ_WITHIN)
        assert frames["loading"] >= 1 and not wrong, wrong[:5]
        # The true state came from the entries that make it, before the whole log was read.
        assert not pane.drawn, "the state waited for the whole read"
        await wait_for(pilot, "the whole log read and drawn", lambda: pane.drawn, READ_WITHIN)
        assert shows_the_true_state(app)
        assert header.title_text == big_log.TITLE
        assert checklist.state_of("declare") is not None
        assert checklist.state_of("declare").status == "done"  # type: ignore[union-attr]
        assert not any(severity == "error" for severity, _ in app.said), app.said


async def test_the_timeline_draws_the_newest_max_lines_with_the_last_entry_at_the_bottom(
    log_path: Path,
) -> None:
    app = make_app(log_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TimelinePane)
        peak = {"lines": 0}

        def count() -> None:
            peak["lines"] = max(peak["lines"], len(pane.lines))

        await watch_until(pilot, lambda: pane.drawn, count, READ_WITHIN)
        await pilot.pause(0.2)
        count()
        assert peak["lines"] <= MAX_LINES
        assert len(pane.lines) == MAX_LINES  # the log has far more lines than that
        seqs = drawn_seqs(pane)
        assert seqs == sorted(set(seqs)), "entries out of order or drawn twice"
        assert seqs[-1] == ENTRIES
        assert big_log.LAST_TEXT in "".join(strip.text for strip in pane.lines[-3:])
        # Only the newest: every entry after the first one drawn is drawn, none before it.
        assert seqs == list(range(seqs[0], ENTRIES + 1))
        assert ENTRIES - MAX_LINES < seqs[0] < ENTRIES - 100
        # The pane holds every entry, the same objects as the log's one shared list.
        held = pane.entries
        shared = app.incident_log.entries_so_far()
        assert len(held) == ENTRIES
        assert all(a is b for a, b in zip(held, shared, strict=True))
        # What is drawn is what the file says (the tail read first, the full read after).
        on_file = read_log(log_path).entries
        assert [e.to_json_line() for e in held] == [e.to_json_line() for e in on_file]


async def test_keys_act_while_the_log_is_read(log_path: Path) -> None:
    app = make_app(log_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TimelinePane)
        acted_before_read: list[bool] = []
        # simulate_key, not pilot.press: the pilot waits for the screen to be idle, which it
        # is not until the log is read.
        for key, zoomed in (("4", True), ("escape", False), ("5", True)):
            pressed = time.monotonic()
            app.simulate_key(key)
            await watch_until(
                pilot, lambda z=zoomed: (app.screen.maximized is not None) == z, lambda: None, 5
            )
            acted_before_read.append(not pane.drawn)
            assert time.monotonic() - pressed < 5
        assert all(acted_before_read), "the log was read before the keys acted"
        maximized = app.screen.maximized
        assert maximized is not None and maximized.id == "pane-timeline"
        await wait_for(pilot, "the whole log read", lambda: pane.drawn, READ_WITHIN)
        assert shows_the_true_state(app)


# ---- writes that depend on the state ---------------------------------------------------------

REFUSED = [
    ("d", "record a decision"),
    ("v", "set the severity"),
    ("r", "take a role"),
    ("i", "set the impact time"),
]


async def test_writes_are_refused_while_the_state_is_read_then_work(log_path: Path) -> None:
    before = log_path.read_bytes()
    app = make_app(log_path)
    async with app.run_test(size=SIZE) as pilot:
        pane, header, checklist = parts(app)
        assert not pane.state_known, "the state was read before the first frame: use more entries"
        # The actions run right here, in one go on the screen's thread: the state cannot become
        # known in between (it is set on this thread, by a message this code does not yield to).
        for key, _what in REFUSED:
            binding_action = {"d": app.action_decide, "v": app.action_severity}
            binding_action |= {"r": app.action_role, "i": app.action_impact}
            binding_action[key]()
        checklist.action_done()
        checklist.action_skip()
        checklist.action_note()
        assert not pane.state_known
        assert len(app.screen_stack) == 1  # no form was opened
        # The same through the keys (each acts in milliseconds; the state takes about 0.3 s).
        for key, _what in REFUSED:
            app.simulate_key(key)

        def refusals() -> list[str]:
            return [text for severity, text in app.said if severity == "warning"]

        await watch_until(pilot, lambda: len(refusals()) >= 2 * len(REFUSED) + 3, lambda: None, 5)
        assert len(app.screen_stack) == 1, "a form opened while the state was being read"
        for _key, what in REFUSED:
            mine = [text for text in refusals() if what in text]
            assert len(mine) == 2, (what, refusals())
            assert all("Not yet: still reading the incident log" in text for text in mine)
        for what in ("tick a step", "skip a step", "add a note"):
            assert any(what in text and "Not yet" in text for text in refusals()), refusals()
        assert log_path.read_bytes() == before  # nothing was written

        await wait_for(pilot, "the true state", lambda: shows_the_true_state(app), READ_WITHIN)
        assert log_path.read_bytes() == before

        # Once read: each of them writes, built against the state the log has.
        await pilot.press("v")
        assert isinstance(app.screen, SeverityPrompt)  # chosen, not typed (issue 15)
        await pilot.press("3", "enter")
        await wait_for(pilot, "SEV3 in the header", lambda: "SEV3" in str(header.render()), 10)

        await pilot.press("r")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"scribe dave", "enter")

        await pilot.press("d")
        assert isinstance(app.screen, DecisionForm)
        app.screen.query_one("#decision", Input).focus()
        await pilot.press(*"stay on secondary", "enter")
        await wait_for(pilot, "the decision form closed", lambda: len(app.screen_stack) == 1, 10)

        # The impact is already in the log: the write is built against it and says so.
        await pilot.press("i")
        began = datetime.now(UTC) - timedelta(minutes=10)  # in the past at any time of day
        await pilot.press(*f"{began:%H:%M}", "enter")
        await wait_for(pilot, "the impact prompt closed", lambda: len(app.screen_stack) == 1, 10)

        # A tick of the step that sets "restored" writes the tick and the phase.
        await pilot.press("4")
        options = checklist.query_one(OptionList)
        options.highlighted = options.get_option_index("mail-flowing")
        await pilot.press("space")

        def written() -> list[Any]:
            return read_log(log_path).entries[ENTRIES:]

        await wait_for(pilot, "five entries written", lambda: len(written()) >= 5, 15)
        await pilot.pause(0.3)
        new = written()
        kinds = [(entry.kind, entry.data.get("event") or entry.data.get("phase")) for entry in new]
        assert ("system", "severity") in kinds
        assert ("system", "role") in kinds
        assert ("decision", None) in kinds
        assert any(kind == "check" for kind, _ in kinds)
        assert ("phase", "restored") in kinds
        assert len(new) == 5, kinds
        assert [entry.seq for entry in new] == list(range(ENTRIES + 1, ENTRIES + 6))
        assert any("impact is already set" in text for _severity, text in app.said), app.said
        assert all(entry.author == "alice" for entry in new)
        # The decision was built on the log as read: it names the region it moves from.
        decision = next(entry for entry in new if entry.kind == "decision")
        assert decision.data.get("target_region") in (None, big_log.FINAL_TARGET)
    assert IncidentLog(log_path).read().errors == []


# ---- a log that changes while it is opened ---------------------------------------------------

OLDER = ENTRIES // 2
"""The older copy put in place of the log while it is opened: its first OLDER entries."""


async def test_a_log_replaced_while_it_is_opened_keeps_what_the_screen_showed(
    log_path: Path,
) -> None:
    saved = log_path.with_name("saved.jsonl")
    shutil.copyfile(log_path, saved)
    older = log_path.with_name("older.jsonl")
    lines = log_path.read_bytes().splitlines(keepends=True)
    older.write_bytes(b"".join(lines[:OLDER]))
    app = make_app(log_path)
    async with app.run_test(size=SIZE) as pilot:
        pane, header, checklist = parts(app)
        # Replaced right after the screen took the tail and the state, before the full read.
        await watch_until(pilot, lambda: pane.state_known, lambda: None, READ_WITHIN)
        assert not pane.drawn
        os.replace(older, log_path)
        await wait_for(pilot, "the loss named", lambda: pane.recovery_offered, READ_WITHIN)
        await wait_for(pilot, "shown", lambda: not pane.drawing, 20)
        text = " ".join(strip.text for strip in pane.lines)
        flat = " ".join(text.split())
        assert "(it changed while this screen was opening it)" in flat
        match = re.search(
            r"error: the incident log lost entries #(\d+)\.\.#(\d+) \(([\d,]+) en", flat
        )
        assert match is not None, flat[-2000:]
        kept = pane.entries
        assert int(match.group(1)) > OLDER and int(match.group(2)) == ENTRIES
        assert int(match.group(3).replace(",", "")) == sum(e.seq > OLDER for e in kept)
        assert len(app.toasts("that this screen showed", "error")) == 1
        # What it showed stays: the last entry's line, the true header and checklist.
        assert big_log.LAST_TEXT in flat
        assert shows_the_true_state(app)
        assert kept[-1].text == big_log.LAST_TEXT
        on_file = {entry.seq: entry.to_json_line() for entry in read_log(saved).entries}
        assert all(on_file[entry.seq] == entry.to_json_line() for entry in kept)
        # Every entry it took before the full read: the tail, and the state entries.
        assert {e.seq for e in kept} >= set(range(ENTRIES - 1999, ENTRIES + 1))
        assert sum(e.kind != "probe" for e in kept) == sum(
            e.kind != "probe" for e in read_log(saved).entries
        )

        # w writes exactly those, in seq order, to a 0600 file read_log can read.
        await pilot.press("w")
        await wait_for(
            pilot, "recovery file", lambda: bool(list(log_path.parent.glob("*.recovered-*"))), 10
        )
        (recovery,) = log_path.parent.glob("incident.jsonl.recovered-*.jsonl")
        assert os.stat(recovery).st_mode & 0o777 == 0o600
        assert recovery.read_bytes() == b"".join(entry.to_json_line() for entry in kept)
        assert [e.seq for e in read_log(recovery).entries] == [e.seq for e in kept]

        # The whole log back: said once, followed, and the panes get the whole list again.
        os.replace(saved, log_path)
        again = "holds every entry this screen showed again"
        await wait_for(
            pilot,
            "whole again",
            lambda: again in " ".join(" ".join(strip.text for strip in pane.lines).split()),
            20,
        )
        assert not pane.recovery_offered
        assert len(pane.entries) == ENTRIES
        IncidentLog(log_path).append("note", "after the log came back", author="dave")
        await wait_for(
            pilot,
            "followed",
            lambda: any("after the log came back" in s.text for s in pane.lines[-3:]),
            20,
        )
        assert shows_the_true_state(app)
        assert len(app.toasts("that this screen showed", "error")) == 1
