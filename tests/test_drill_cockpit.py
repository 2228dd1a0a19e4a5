"""`cockpit drill` from start to export, driven by Pilot: the cockpit detects the outage from its
own service probes (the drill wrote when its outage began), the commander follows the checklist,
declares, fails over; the drill's world follows, the cockpit's own probes see the resolvers
converge, the target take mail and the queue drain, and the export has a real timeline with all
five metrics and the data at risk."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select

from cockpit.commands.drill_cmd import start_drill
from cockpit.drill import Timings
from cockpit.incident.log import read_log
from cockpit.incident.phases import effective_phases
from cockpit.ui.decision_form import CutoverPrompt, DecisionForm
from cockpit.ui.header import IncidentHeader
from tests.conftest import run_cockpit
from tests.pilot_wait import wait_for

pytestmark = pytest.mark.anyio

FAST = Timings(record_ttl=3, negative_ttl=2, policy_ttl=30)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def probe_events(log_path: Path) -> list[tuple[str, str]]:
    return [
        (str(e.data.get("event")), str(e.data.get("subject")))
        for e in read_log(log_path).entries
        if e.kind == "probe"
    ]


async def tick(pilot: Pilot[None], step_id: str, key: str = "space") -> None:
    await pilot.press("4")
    options = pilot.app.query_one("#checklist-steps", OptionList)
    options.highlighted = options.get_option_index(step_id)
    await pilot.pause()
    await pilot.press(key)
    await pilot.press("escape")


async def test_a_whole_drill_from_start_to_export(tmp_path: Path) -> None:
    started = time.monotonic()
    session = start_drill(
        tmp_path / "drills", "alice", tmp_path / "keys", timings=FAST, probe_interval=1
    )
    world, log_path = session.world, session.log_path
    try:
        app = session.app()
        async with app.run_test(size=(160, 48)) as pilot:
            runner = app.query_one("#probes")
            header = app.query_one(IncidentHeader)
            assert "DRILL" in str(header.render())
            await wait_for(pilot, "first sweep", lambda: runner.live.sweep is not None, 10)
            primary_queue = runner.live.queues["primary-mx"].history

            def depth() -> int:
                good = primary_queue.latest_good
                return good.total if good is not None else -1

            await wait_for(pilot, "the primary's queue grows", lambda: depth() >= 3, 15)

            def phase_at(phase: str) -> object:
                return effective_phases(read_log(log_path).entries).at(phase)

            # The primary's MX hosts refuse: the first alarm sets `detected` by itself.
            await wait_for(pilot, "detected by the probes", lambda: phase_at("detected"), 20)
            strip = app.query_one("#regions")
            await wait_for(pilot, "the strip says down", lambda: strip.rows[0].state == "down", 5)
            # The drill knows when its outage began and wrote the impact itself, so no impact
            # is proposed (test_ui_regions covers accepting a proposal with `i`).
            assert phase_at("impact") is not None and strip.proposal is None
            assert phase_at("impact") <= phase_at("detected")
            checklist = app.query_one("#checklist")
            for step in ("cutover", "mail-flowing"):  # nothing is claimed before a decision
                assert checklist.auto_hint(step) is None, step
            await tick(pilot, "confirm-scope")
            await tick(pilot, "declare")
            await wait_for(pilot, "declared", lambda: header.phase == "declared", 5)

            await pilot.press("d")
            assert isinstance(app.screen, DecisionForm)
            app.screen.query_one(Select).value = "secondary"
            app.screen.query_one("#why", Input).value = "primary storage lost"
            app.screen.query_one("#decision", Input).focus()
            await pilot.press(*"Fail over to secondary", "enter")
            await wait_for(
                pilot, "cutover prompt", lambda: isinstance(app.screen, CutoverPrompt), 5
            )
            assert world.active_region == "secondary"  # the world followed the decision at once
            await pilot.press("y")
            await wait_for(pilot, "routed", lambda: header.phase == "routed", 5)

            await wait_for(
                pilot,
                "the MX record converges on secondary",
                lambda: (
                    ("record_converged", "MX drill.example") in probe_events(log_path)
                    or any(e == "record_converged" for e, _ in probe_events(log_path))
                ),
                25,
            )
            await wait_for(pilot, "the primary's queue drains", lambda: depth() == 0, 25)
            await wait_for(
                pilot,
                "mail flowing satisfied by probe",
                lambda: app.query_one("#checklist").auto_hint("mail-flowing") is not None,
                10,
            )
            await tick(pilot, "mail-flowing", "c")
            await wait_for(pilot, "restored", lambda: header.phase == "restored", 5)
            await tick(pilot, "declare-verified")
            await wait_for(pilot, "verified", lambda: header.phase == "verified", 5)
            await pilot.press("e")
            timeline = log_path.with_suffix(".md")
            await wait_for(pilot, "export written", timeline.exists, 10)
    finally:
        world.stop()
    assert time.monotonic() - started < 120
    result = read_log(log_path)
    assert result.problems == []
    events = probe_events(log_path)
    assert any(event == "resolver_region_changed" for event, _ in events), events
    assert any(event == "record_converged" for event, _ in events), events
    text = timeline.read_text()
    assert "DRILL" in text
    metrics = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in text.splitlines()
        if line.startswith("| Time to ") and not line.startswith("| Time to converge")
    }
    assert set(metrics) == {
        "Time to detect",
        "Time to declare",
        "Time to route",
        "Time to restore",
        "Time to verify",
    }
    for name in metrics:
        assert metrics[name] != "n/a" and ":" in metrics[name], (name, metrics[name])
    assert "| Data at risk (RPO) | " in text and "| Data at risk (RPO) | unknown" not in text
    # The drill's config is beside its log: the review knows the runbook and the convergence.
    assert "(without the runbook)" not in text
    converge = [line for line in text.splitlines() if line.startswith("| Time to converge (")]
    assert converge and all("| n/a |" not in line for line in converge), converge
    assert "| Region before | primary |" in text and "| Region after | secondary |" in text


def test_the_drill_command_needs_no_config_and_says_what_is_wrong(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    done = run_cockpit("drill", "--dir", str(blocked / "drills"))
    assert done.returncode != 0 and "--dir" in done.stderr and "Traceback" not in done.stderr
