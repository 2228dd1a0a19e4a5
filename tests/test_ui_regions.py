"""The region strip on the real cockpit screen: its lines, the details behind them (`m`), the
impact proposal after a first alarm and accepting it (`i`), a typed time, and read-only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.incident.detection import AlarmWatch, first_alarm_parts
from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.phases import effective_phases
from cockpit.model import Finding, Status
from cockpit.ui.app import CockpitApp
from cockpit.ui.region_strip import ImpactPrompt, RegionDetails, RegionStrip
from tests.dns_fakes import CONFIG_TEXT
from tests.pilot_wait import wait_for

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
ALARM_AT = NOW - timedelta(minutes=10)
HEALTHY_AT = ALARM_AT - timedelta(minutes=3)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def smtp(region: str, status: Status, at: datetime, summary: str) -> Finding:
    subject = f"mx1.{region}.example.com:25"
    return Finding(
        "service", "smtp", subject, status, summary, region, data={"mx": True}, observed_at=at
    )


def alarmed_log(tmp_path: Path) -> Path:
    """A log whose first alarm proposes HEALTHY_AT as the impact."""
    log = IncidentLog(tmp_path / "incident.jsonl")
    watch = AlarmWatch()
    watch.observe([smtp("primary", Status.OK, HEALTHY_AT, "ok")], fallback_at=HEALTHY_AT)
    alarm = watch.observe(
        [smtp("primary", Status.FAIL, ALARM_AT, "421 \x1b[31m[bold]down[/]")],
        fallback_at=ALARM_AT,
    )
    assert alarm is not None
    log.append_built(lambda entries: first_alarm_parts(entries, alarm), author="cockpit")
    return log.path


def make_app(log_path: Path, *, read_only: bool = False) -> CockpitApp:
    return CockpitApp(
        log_path,
        author="alice",
        config=load_config_text(CONFIG_TEXT),
        clock=lambda: NOW,
        probes=False,
        read_only=read_only,
    )


def strip_text(app: CockpitApp) -> str:
    return str(app.query_one(RegionStrip).render())


async def test_the_strip_shows_each_region_and_the_details_behind_it(tmp_path: Path) -> None:
    app = make_app(tmp_path / "incident.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        strip = app.query_one(RegionStrip)
        assert strip_text(app).count("WAITING") == 3  # nothing seen: never up
        findings = [
            smtp("primary", Status.FAIL, ALARM_AT, "greets 421 \x1b]8;;x\x07[link=x]y[/link]"),
            smtp("secondary", Status.OK, NOW, "greets 220, STARTTLS ok"),
        ]
        strip.show_findings(findings, NOW)
        await pilot.pause()
        text = strip_text(app)
        assert "DOWN since 01:20" in text and "UP since 01:30" in text
        assert "\x1b" not in text and "[link" in text  # shown as text, never markup
        await pilot.press("m")
        await wait_for(pilot, "details", lambda: isinstance(app.screen, RegionDetails), 3)
        body = str(app.screen.query_one("#region-details-body", Static).render())
        assert "greets 421" in body and "STARTTLS ok" in body and "\x1b" not in body
        await pilot.press("escape")
        await wait_for(pilot, "closed", lambda: not isinstance(app.screen, RegionDetails), 3)


async def test_the_impact_proposal_is_accepted_with_one_key(tmp_path: Path) -> None:
    log_path = alarmed_log(tmp_path)
    entries = read_log(log_path).entries
    assert effective_phases(entries).at("detected") == ALARM_AT.replace(microsecond=0)
    app = make_app(log_path)
    async with app.run_test(size=(80, 24)) as pilot:
        strip = app.query_one(RegionStrip)
        await wait_for(pilot, "proposal shown", lambda: strip.proposal is not None, 5)
        assert "Impact not set: proposed 01:17:00 UTC" in strip_text(app)
        await pilot.press("i")
        await wait_for(pilot, "prompt", lambda: isinstance(app.screen, ImpactPrompt), 3)
        await pilot.press("enter")
        await wait_for(
            pilot,
            "impact written",
            lambda: effective_phases(read_log(log_path).entries).at("impact") is not None,
            5,
        )
        await wait_for(pilot, "proposal gone", lambda: strip.proposal is None, 5)
    impact = effective_phases(read_log(log_path).entries).get("impact")
    assert impact is not None and impact.at == HEALTHY_AT and impact.current.author == "alice"


async def test_another_impact_time_can_be_typed(tmp_path: Path) -> None:
    log_path = alarmed_log(tmp_path)
    app = make_app(log_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, "proposal", lambda: app.query_one(RegionStrip).proposal, 5)
        await pilot.press("i")
        await wait_for(pilot, "prompt", lambda: isinstance(app.screen, ImpactPrompt), 3)
        app.screen.query_one(Input).value = "01:05"
        await pilot.press("enter")
        await wait_for(
            pilot,
            "impact written",
            lambda: effective_phases(read_log(log_path).entries).at("impact") is not None,
            5,
        )
    assert effective_phases(read_log(log_path).entries).at("impact") == NOW.replace(minute=5)


async def test_a_viewer_cannot_set_the_impact(tmp_path: Path) -> None:
    log_path = alarmed_log(tmp_path)
    before = len(read_log(log_path).entries)
    app = make_app(log_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, "proposal", lambda: app.query_one(RegionStrip).proposal, 5)
        await pilot.press("i")
        await pilot.pause()
        assert not isinstance(app.screen, ImpactPrompt)
    assert len(read_log(log_path).entries) == before
