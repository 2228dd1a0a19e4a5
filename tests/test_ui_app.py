"""The cockpit screen driven by Pilot: layout, keys, export, follow mode, hostile text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, RichLog, Select

from cockpit.commands.ui_cmd import new_incident_path, normalise_slug
from cockpit.compat import UTC
from cockpit.config import Config, load_config
from cockpit.errors import UsageError
from cockpit.incident.log import IncidentLog
from cockpit.theme_data import load_themes
from cockpit.ui.app import PANES, CockpitApp, PaneFrame
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt
from cockpit.ui.decision_form import CutoverPrompt, DecisionForm
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.placeholder_pane import PlaceholderPane
from cockpit.ui.queue_pane import QueuePane
from cockpit.ui.severity_prompt import SeverityPrompt
from cockpit.ui.timeline_pane import TimelinePane
from tests.conftest import PROJECT_ROOT, run_cockpit
from tests.pilot_wait import settle

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)
HOSTILE = [
    "esc \x1b[31mred\x1b[0m and \x1b]0;pwned title\x07",
    "osc52 \x1b]52;c;ZXZpbA==\x07 copy",
    "[@click=app.quit]click me[/]",
    "[link=http://x]link[/link]",
    "[/bold] closing tag",
    "c1 \x9b31m csi",
    "bidi \u202egnirts\u202c end",
    "trailing backslash \\",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fixed_clock() -> datetime:
    return NOW


def write_incident(path: Path) -> IncidentLog:
    log = IncidentLog(path)
    log.append(
        "system", "title set", {"event": "title", "title": "EU storage outage"}, author="bob"
    )
    log.append(
        "phase", "impact", {"phase": "impact", "at": "2026-11-27T14:00:00.000Z"}, author="bob"
    )
    log.append(
        "phase", "declared", {"phase": "declared", "at": "2026-11-27T14:10:00.000Z"}, author="bob"
    )
    log.append(
        "decision",
        "Fail over to secondary",
        {"why": "storage down", "target_region": "secondary"},
        author="carol",
    )
    return log


def make_app(path: Path, config: Config | None = None) -> CockpitApp:
    """The example config names public resolvers and ssh commands: no probes run here."""
    return CockpitApp(path, author="alice", config=config, clock=fixed_clock, probes=False)


@pytest.fixture(scope="module")
def example_config() -> Config:
    return load_config(PROJECT_ROOT / "config.example.toml")


def timeline_text(app: CockpitApp) -> str:
    log = app.query_one("#timeline", RichLog)
    return "\n".join(strip.text for strip in log.lines)


def header_text(app: CockpitApp) -> str:
    return str(app.query_one(IncidentHeader).render())


Scenario = Callable[[CockpitApp, Pilot[None]], Awaitable[None]]


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_five_panes_and_header(tmp_path: Path, size: tuple[int, int]) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    async with app.run_test(size=size) as pilot:
        assert await settle(pilot, lambda: "EU storage outage" in header_text(app))
        frames = list(app.query(PaneFrame))
        assert [frame.id for frame in frames] == [f"pane-{spec.name}" for spec in PANES]
        for frame in frames:
            region = frame.region
            assert region.width >= 20 and region.height >= 3, (frame.id, region)
            assert region.right <= size[0] and region.bottom <= size[1]
        header = header_text(app)
        for expected in ("EU storage outage", "declared", "secondary", "@alice", "14:30 UTC"):
            assert expected in header
        assert "T+0:30 " in header + " "


async def test_number_keys_zoom_and_escape_returns(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        for spec in PANES:
            await pilot.press(spec.key)
            frame = app.query_one(f"#pane-{spec.name}", PaneFrame)
            assert app.screen.maximized is frame
            assert frame.region.width == 80
            assert app.focused is not None and frame in app.focused.ancestors_with_self
            await pilot.press("escape")
            assert app.screen.maximized is None
            assert app.focused is not None and frame in app.focused.ancestors_with_self


async def test_a_zoom_restyles_the_pane_only(tmp_path: Path) -> None:
    """A class on the screen would restyle every widget (a third of a zoom's time on a big
    screen): the zoomed pane gets `-maximized`, the screen no class, the others keep theirs."""
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        restyled: list[object] = []
        update_styles = app.update_styles

        def counting(node: object = None, *args: object, **kwargs: object) -> None:
            restyled.append(node)
            update_styles(node, *args, **kwargs)  # type: ignore[arg-type]

        app.update_styles = counting  # type: ignore[method-assign]
        await pilot.press("4")
        frame = app.query_one("#pane-checklist", PaneFrame)
        assert app.screen.maximized is frame and frame.has_class("-maximized")
        assert not app.screen.has_class("-maximized-view")
        assert app.screen not in restyled and frame in restyled
        others = [f for f in app.query(PaneFrame) if f is not frame]
        assert all(f.region.area == 0 for f in others)  # only the zoomed pane is arranged
        assert frame.region.width == 160
        await pilot.press("escape")
        assert not frame.has_class("-maximized") and app.screen.maximized is None


@pytest.mark.parametrize("with_config", [False, True])
async def test_tab_moves_focus_between_panes(
    tmp_path: Path, with_config: bool, example_config: Config
) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl", example_config if with_config else None)
    async with app.run_test(size=(80, 24)) as pilot:
        seen: list[str] = []
        for _ in range(len(PANES)):
            await pilot.press("tab")
            assert app.focused is not None
            frame = next(w for w in app.focused.ancestors_with_self if isinstance(w, PaneFrame))
            seen.append(frame.spec.name)
        assert sorted(seen) == sorted(spec.name for spec in PANES)


async def test_export_writes_next_to_the_log_and_says_where(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    target = tmp_path / "inc.md"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        assert await settle(pilot, lambda: bool(app._notifications))
        messages = [n.message for n in app._notifications]
        assert any(str(target) in message for message in messages), messages
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Post-incident review: EU storage outage")
    assert "Fail over to secondary" in text


async def test_bindings_are_in_the_footer_and_palette(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        keys = {binding.key for (_, binding, enabled, _) in app.active_bindings.values() if enabled}
        assert {"1", "2", "3", "4", "5", "d", "e"} <= keys
        commands = {command.title for command in app.get_system_commands(app.screen)}
        for title in ("Zoom Queue pane (1)", "Zoom Timeline pane (5)", "Export timeline (e)"):
            assert title in commands
        assert "Record a decision (d)" in commands
        zoom_dns = next(
            command
            for command in app.get_system_commands(app.screen)
            if command.title == "Zoom DNS pane (2)"
        )
        zoom_dns.callback()
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#pane-dns")


async def test_follows_entries_written_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: "Fail over" in timeline_text(app))
        env = {**os.environ, "USER": "dave"}
        env.pop("COCKPIT_CONFIG", None)
        done = subprocess.run(
            [sys.executable, "-m", "cockpit", "log", str(path), "written from a shell"],
            cwd=PROJECT_ROOT,
            env={**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert await settle(pilot, lambda: "written from a shell" in timeline_text(app), 1.5)
        assert timeline_text(app).rstrip().splitlines()[-1].endswith("written from a shell")


async def test_hostile_text_is_shown_literally_and_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    log = write_incident(path)
    for text in HOSTILE:
        log.append("note", text, {"severity": "[b]sev\x1b[5m"}, author="mallory\x1b]0;x\x07")
    log.append(
        "system", "title", {"event": "title", "title": "[@click=app.quit]t\x1b]2;w\x07"}, author="m"
    )
    app = make_app(path)
    async with app.run_test(size=(200, 60)) as pilot:
        assert await settle(pilot, lambda: "trailing backslash" in timeline_text(app))
        assert await settle(pilot, lambda: "[@click=app.quit]t" in header_text(app))
        shown = timeline_text(app)
        for literal in ("[@click=app.quit]click me[/]", "[link=http://x]link[/link]", "[/bold]"):
            assert literal in shown
        assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
        header = header_text(app)
        assert "[@click=app.quit]t" in header and "\x1b" not in header
        await pilot.click("#timeline")
        await pilot.press("5", "escape")
        screenshot = app.export_screenshot()
        assert "pwned" not in app.title and "\x1b" not in app.title
        assert "\x1b]52" not in screenshot and "\x1b]0;" not in screenshot
        assert app.is_running
    assert app.return_code in (None, 0)


def test_slug_is_normalised_and_checked() -> None:
    assert normalise_slug("  EU Storage_down ") == "eu-storage-down"
    for bad in ("", "-eu", "eu-", "../etc", "a" * 41, "eu/1", "ü"):
        with pytest.raises(UsageError):
            normalise_slug(bad)


def test_new_incident_path_asks_until_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    answers = iter(["bad/slug", "eu-storage"])
    path = new_incident_path(None, ask=lambda _: next(answers), interactive=True, today=NOW)
    assert path == Path("incidents") / "2026-11-27-eu-storage.jsonl"
    assert "slug" in capsys.readouterr().err


def test_new_incident_path_needs_a_terminal() -> None:
    with pytest.raises(UsageError, match="--incident"):
        new_incident_path(None, ask=lambda _: "x", interactive=False)


def test_cockpit_without_a_terminal_says_to_pass_incident(tmp_path: Path) -> None:
    done = run_cockpit(
        cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "COCKPIT_CONFIG": ""}
    )
    assert done.returncode == 2
    assert "--incident" in done.stderr and "Traceback" not in done.stderr


async def test_without_config_the_probe_panes_say_so(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        notes = {pane.pane_title: pane.note for pane in app.query(PlaceholderPane)}
        assert notes == {"Queue": "no config", "DNS": "no config", "Auth": "no config"}
        assert app.query_one("#pane-checklist").query_one(ChecklistPane)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_with_config_the_real_panes_are_composed(
    tmp_path: Path, size: tuple[int, int], example_config: Config
) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = make_app(tmp_path / "inc.jsonl", example_config)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for name, pane_type in (
            ("queue", QueuePane),
            ("dns", DnsPane),
            ("auth", AuthPane),
            ("checklist", ChecklistPane),
        ):
            frame = app.query_one(f"#pane-{name}", PaneFrame)
            assert frame.query_one(pane_type).region.height >= 1
        assert not app.query(PlaceholderPane)


async def test_decision_key_records_a_failover(tmp_path: Path, example_config: Config) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path, example_config)
    async with app.run_test(size=(80, 24)) as pilot:
        # Issue 13: nothing that depends on the log's state is written before it is read.
        assert await settle(pilot, lambda: app.query_one(TimelinePane).state_known)
        await pilot.press("d")
        assert isinstance(app.screen, DecisionForm)
        app.screen.query_one("#record").focus()
        await pilot.press("1", "d")  # the panes' keys do nothing while the form is open
        assert isinstance(app.screen, DecisionForm) and len(app.screen_stack) == 2
        app.screen.query_one("#decision", Input).focus()
        await pilot.press(*"roll back", "enter")
        assert await settle(pilot, lambda: "roll back" in timeline_text(app))
        assert not isinstance(app.screen, DecisionForm)
    assert IncidentLog(path).read().entries[-1].kind == "decision"


async def test_a_replaced_log_keeps_what_the_screen_showed(tmp_path: Path) -> None:
    """Issue 13: a log replaced by another file no longer wipes the screen: it keeps its
    entries, names those the file lost, and shows the new file's entries once, under it."""
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: "Fail over" in timeline_text(app))
        replacement = tmp_path / "other.jsonl"
        IncidentLog(replacement).append("note", "a fresh start", author="erin")
        os.replace(replacement, path)
        assert await settle(pilot, lambda: "a fresh start" in timeline_text(app))
        shown = timeline_text(app)
        assert "replaced by another file" in shown and "Fail over" in shown
        assert "lost entries #1..#4" in shown.replace("\n", " ")
        assert shown.count("a fresh start") == 1
        kept = [entry.text for entry in app.query_one(TimelinePane).entries]
        assert kept == ["title set", "impact", "declared", "Fail over to secondary"]


async def test_ascii_borders(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    app = CockpitApp(tmp_path / "inc.jsonl", author="alice", ascii_only=True, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.query_one("#pane-timeline").styles.border_top[0] == "ascii"


async def test_an_unknown_theme_falls_back_with_a_message(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    specs = load_themes()
    app = CockpitApp(
        tmp_path / "inc.jsonl", author="a", theme_name="nope", theme_specs=specs, clock=fixed_clock
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        assert any("nope" in str(n.message) for n in app._notifications)
        app.theme = "nord"  # a Textual theme without status variables still works
        await pilot.pause()
        assert app.is_running


async def record_failover(app: CockpitApp, pilot: Pilot[None], region: str) -> None:
    await pilot.press("d")
    assert isinstance(app.screen, DecisionForm)
    app.screen.query_one(Select).value = region
    app.screen.query_one("#decision", Input).focus()
    await pilot.press(*"fail over", "enter")
    assert await settle(pilot, lambda: isinstance(app.screen, CutoverPrompt))


@pytest.mark.parametrize(("answer", "routed"), [("y", True), ("n", False), ("escape", False)])
async def test_a_failover_decision_sets_the_target_and_asks_for_the_cutover(
    tmp_path: Path, example_config: Config, answer: str, routed: bool
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path, example_config)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: app.target_region == "secondary")
        await record_failover(app, pilot, "primary")
        assert app.target_region == "primary"  # at once, before any answer
        await pilot.press(answer)
        assert await settle(pilot, lambda: not isinstance(app.screen, CutoverPrompt))
        if routed:
            assert await settle(pilot, lambda: "routed at" in timeline_text(app))
        await pilot.pause(0.3)
    entries = IncidentLog(path).read().entries
    decision = [e for e in entries if e.kind == "decision"][-1]
    assert decision.data["target_region"] == "primary"
    assert decision.data["previous_region"] == "secondary"
    phases = [e for e in entries if e.kind == "phase" and e.data.get("phase") == "routed"]
    checks = [e for e in entries if e.kind == "check" and e.data.get("step") == "cutover"]
    assert len(phases) == (1 if routed else 0)
    assert len(checks) == (1 if routed else 0)
    if routed:
        assert phases[0].author == "alice" and checks[0].author == "alice"


async def test_a_second_failover_answered_routed_sets_routed_again(
    tmp_path: Path, example_config: Config
) -> None:
    """The cutover step was done for the first failover: the second decision opens it again,
    and "routed now" ticks it and writes a correction of routed (timed now, after the second
    decision), so automation waiting for after=routed sees this failover's routing."""
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path, example_config)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: app.target_region == "secondary")
        await record_failover(app, pilot, "primary")
        await pilot.press("y")
        assert await settle(pilot, lambda: "routed at" in timeline_text(app))
        await pilot.pause(0.3)
        await record_failover(app, pilot, "secondary")
        await pilot.press("y")
        assert await settle(pilot, lambda: not isinstance(app.screen, CutoverPrompt))
        assert await settle(
            pilot,
            lambda: any(e.kind == "correction" for e in IncidentLog(path).read().entries),
        )
    entries = IncidentLog(path).read().entries
    decisions = [e for e in entries if e.kind == "decision"]
    [correction] = [e for e in entries if e.kind == "correction"]
    assert correction.data["phase"] == "routed" and correction.seq > decisions[-1].seq
    routed = [e for e in entries if e.kind == "phase" and e.data.get("phase") == "routed"]
    assert len(routed) == 1 and correction.data["corrects_seq"] == routed[0].seq
    checks = [e for e in entries if e.kind == "check" and e.data.get("step") == "cutover"]
    assert [check.data["result"] for check in checks] == ["done", "done"]
    assert checks[1].seq < correction.seq  # one write: the tick, then its phase


async def test_a_decision_from_another_process_moves_the_target(
    tmp_path: Path, example_config: Config
) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path, example_config)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: app.target_region == "secondary")
        IncidentLog(path).append("decision", "back", {"target_region": "primary"}, author="carol")
        assert await settle(pilot, lambda: app.target_region == "primary")
        assert not isinstance(app.screen, CutoverPrompt)  # only the one who decided is asked


async def test_severity_key_writes_the_entry_and_the_header_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "sev ?" in header_text(app)
        await pilot.press("v")
        assert isinstance(app.screen, SeverityPrompt)  # chosen from SEV1-SEV4, never typed
        await pilot.press("9")
        await pilot.pause()
        assert isinstance(app.screen, SeverityPrompt)  # an invalid key never closes it
        assert "No SEV9" in str(app.screen.query_one("#severity-error", Label).render())
        await pilot.press("2", "enter")
        assert await settle(pilot, lambda: "SEV2" in header_text(app))
    last = IncidentLog(path).read().entries[-1]
    assert (last.kind, last.author) == ("system", "alice")
    assert last.data == {"event": "severity", "severity": "SEV2"}


async def test_palette_lists_severity_and_switches_theme(tmp_path: Path) -> None:
    write_incident(tmp_path / "inc.jsonl")
    specs = load_themes()
    app = CockpitApp(
        tmp_path / "inc.jsonl", author="a", theme_specs=specs, clock=fixed_clock, probes=False
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Set severity (v)", "Record a decision (d)", "Export timeline (e)"} <= titles
        assert set(specs) <= set(app.available_themes)
        await pilot.press("ctrl+p")
        await pilot.press(*"theme", "enter")
        await pilot.pause(0.2)
        await pilot.press(*"high-contrast", "enter")
        assert await settle(pilot, lambda: app.theme == "high-contrast")


async def test_every_palette_command_does_what_its_key_does(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        expected_screens = {
            "Record a decision (d)": DecisionForm,
            "Set severity (v)": SeverityPrompt,
            "Take or hand over a role (r)": TextPrompt,
        }
        for title, screen_type in expected_screens.items():
            commands[title].callback()
            await pilot.pause()
            assert isinstance(app.screen, screen_type), title
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is app.screen_stack[0]
        commands["Set severity (v)"].callback()
        await pilot.pause()
        await pilot.press("1", "enter")
        assert await settle(pilot, lambda: "SEV1" in header_text(app))
        commands["Take or hand over a role (r)"].callback()
        await pilot.pause()
        await pilot.press(*"scribe", "enter")
        commands["Export timeline (e)"].callback()
        assert await settle(pilot, lambda: path.with_suffix(".md").exists())
        for spec_key, name in (("1", "queue"), ("5", "timeline")):
            commands[f"Zoom {name.capitalize()} pane ({spec_key})"].callback()
            await pilot.pause()
            assert app.screen.maximized is app.query_one(f"#pane-{name}")
    entries = IncidentLog(path).read().entries
    assert [e.data.get("event") for e in entries[-2:]] == ["severity", "role"]
    assert entries[-1].data["holder"] == "alice"


def test_t_plus_is_whole_minutes() -> None:
    from datetime import timedelta

    from cockpit.ui.header import t_plus

    assert t_plus(timedelta(minutes=65, seconds=59)) == "1:05"
    assert t_plus(timedelta(seconds=59)) == "0:00"
    assert t_plus(timedelta(minutes=-3)) == "-0:03"
    assert t_plus(timedelta(days=2, hours=3, minutes=10)) == "2d 3:10"


async def test_entries_written_while_another_pane_is_zoomed_are_shown(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(pilot, lambda: "Fail over" in timeline_text(app))
        await pilot.press("4")
        IncidentLog(path).append("note", "written while zoomed", {}, author="dave")
        assert await settle(pilot, lambda: len(app.query_one(TimelinePane).entries) == 5)
        await pilot.press("escape")
        await pilot.press("5")
        await pilot.pause(0.2)
        assert "written while zoomed" in timeline_text(app)
