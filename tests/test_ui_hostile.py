"""Hostile data on the cockpit screen: escapes, markup, bidi and long lines shown as text only.

Part A drives the app in process (probes off, every pane handed hostile data) and checks the
exported SVG, the screen's text and the ANSI stream Rich renders for it. Part B runs a real
`python -m cockpit` in a pseudo-terminal, with hostile data coming in through the real paths
(the incident log, a failing queue command, a TXT answer from the DNS lab), and checks every
byte it writes to the terminal against a control run with harmless data.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from rich.console import Console
from rich.text import Text
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList

from cockpit.config.model import QueueSource
from cockpit.dns.observation import Outcome
from cockpit.incident.log import IncidentLog
from cockpit.model import Finding, Status
from cockpit.queue.history import QueueHistory
from cockpit.queue.sample import DeferralReason, DestinationDomain, QueueSample, Reading
from cockpit.safe_text import clean
from cockpit.ui.app import CockpitApp
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.queue_pane import QueuePane
from cockpit.ui.timeline_pane import TimelinePane
from tests.conftest import PROJECT_ROOT
from tests.dns_fakes import AUTHORITATIVE, CONFIG, MX_PRIMARY, T0, obs, sweep, watched
from tests.hostile_data import (
    ALL_IN_ONE,
    CORPUS,
    ESC,
    FORBIDDEN_CHARS,
    PAYLOAD_MARKERS,
    Hostile,
    escape_sequences,
    osc_sequences,
)
from tests.lab.dnslab import DnsLab, LabFactory, missing_programs, require_dns_servers
from tests.pilot_wait import settle
from tests.test_dns_sweep import lab_zones, write_config

pytest_plugins = ["tests.lab.dnslab"]

NOW = T0 + timedelta(seconds=60)
SIZE = (200, 50)
"""Wide enough that a zoomed pane shows every table column without scrolling."""
IDS = [item.name for item in CORPUS]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fixed_clock() -> datetime:
    return NOW


# --- the screen as text, SVG and ANSI -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScreenDump:
    text: str
    """The characters on the screen, line by line."""
    svg: str
    """app.export_screenshot()."""
    ansi: str
    """What Rich writes to a terminal to draw the screen."""


def dump_screen(app: CockpitApp) -> ScreenDump:
    """The current screen, rendered the way App.export_screenshot renders it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    text = console.export_text(clear=True)
    ansi = console.file.getvalue()  # type: ignore[attr-defined]
    return ScreenDump(text, app.export_screenshot(), ansi)


def assert_inert(screen: ScreenDump) -> None:
    """Nothing on the screen or in its rendering can act on the terminal."""
    for where, shown in (("text", screen.text), ("svg", screen.svg)):
        bad = FORBIDDEN_CHARS.search(shown)
        context = shown[max(0, bad.start() - 40) : bad.start() + 40] if bad else ""
        assert bad is None, f"{where}: {bad.group()!r} in {context!r}"
    assert "<a " not in screen.svg and "href" not in screen.svg
    sequences, stray = escape_sequences(screen.ansi)
    assert not stray, [screen.ansi[i : i + 30] for i in stray]
    assert not osc_sequences(sequences), osc_sequences(sequences)[:5]
    for sequence in sequences:
        assert sequence.startswith(ESC + "["), sequence
        assert not any(marker in sequence for marker in PAYLOAD_MARKERS), sequence
    assert "\x9b" not in screen.ansi and "\x9d" not in screen.ansi
    assert not FORBIDDEN_CHARS.search(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.ansi))


def flat(text: str) -> str:
    """Screen text with no whitespace, box drawing or block characters (borders, scrollbars),
    so that text wrapped over several lines reads as one: compare with `flat(expected)`."""
    return re.sub(r"[\s\u2500-\u259f]+", "", text)


# --- hostile data for every pane ---------------------------------------------------------------


def hostile_log(path: Path, payload: str) -> IncidentLog:
    """A log written by someone else, every field they control carrying `payload`."""
    log = IncidentLog(path)
    mallory = f"mallory {payload}"
    log.append("system", "t", {"event": "title", "title": f"TITLE {payload}"}, author=mallory)
    log.append("phase", "impact", {"phase": "impact", "at": "2024-05-01T13:50:00.000Z"}, author="b")
    log.append("note", f"NOTE {payload}", {"severity": f"SEV {payload}"}, author=mallory)
    log.append("system", "sev", {"event": "severity", "severity": payload}, author=mallory)
    log.append(
        "decision",
        f"DECISION {payload}",
        {"why": f"WHY {payload}", "approver": f"APPROVER {payload}", "target_region": payload},
        author=mallory,
    )
    log.append("correction", f"CORR {payload}", {"phase": payload}, author=mallory)
    log.append(
        "check",
        f"Note on the scope: {payload}",
        {"step": "confirm-scope", "result": "note", "title": "x", "note": f"CKNOTE {payload}"},
        author=mallory,
    )
    log.append(
        "check",
        f"Skipped: freeze ({payload})",
        {
            "step": "freeze-changes",
            "result": "skipped",
            "title": "x",
            "reason": f"WHYSKIP {payload}",
        },
        author=mallory,
    )
    log.append(
        "check",
        "Done",
        {"step": "declare", "result": "done", "title": "x"},
        author=mallory,
    )
    log.append(
        "check",
        "unknown step",
        {"step": "not-in-runbook", "result": "note", "title": f"STEP {payload}", "note": "n"},
        author=mallory,
    )
    return log


def hostile_sweep(payload: str) -> object:
    mx, spf = watched("MX"), watched("SPF")
    raw = (f"example.com. 300 IN MX 10 RAW {payload}",)
    spf_answer = (f"v=spf1 {payload} -all",)
    answers = {
        ("Cloudflare", mx.key): dataclasses.replace(
            obs(mx, Outcome.ANSWER, MX_PRIMARY, server="Cloudflare"), raw_answers=raw
        ),
        ("Quad9", mx.key): obs(mx, Outcome.TIMEOUT, server="Quad9", error=f"ERR {payload}"),
        ("Office", mx.key): obs(mx, Outcome.ANSWER, (f"10 {payload}",), server="Office"),
        ("Cloudflare", spf.key): obs(spf, Outcome.ANSWER, spf_answer, server="Cloudflare"),
    }
    auth_answers = {
        (spec.name, mx.key): obs(mx, Outcome.ANSWER, MX_PRIMARY, server=spec.name)
        for spec in AUTHORITATIVE
    }
    return sweep(answers, auth_answers, records=(mx, spf))


def hostile_queue_rows(payload: str) -> list[tuple[QueueSource, str, QueueHistory]]:
    source = QueueSource(name="mx-evil", kind="command", command=("queue-depth",), warn=10)
    history = QueueHistory(source, "primary")
    earlier = T0 - timedelta(minutes=3)
    sample = QueueSample(
        "mx-evil",
        earlier,
        7,
        MappingProxyType({"active": 2, f"Q {payload}": 5}),
        oldest_age_s=60.0,
        deferral_reasons=(DeferralReason(f"DEFER {payload}", 5),),
        top_domains=(DestinationDomain(f"dom {payload}", 5, 60.0),),
    )
    history.add(Reading("mx-evil", earlier, sample))
    history.add(Reading("mx-evil", NOW, None, f"QERR {payload}"))
    fine_source = QueueSource(name="mx-fine", kind="command", command=("queue-depth",))
    fine = QueueHistory(fine_source, "primary")
    fine.add(
        Reading(
            "mx-fine",
            NOW,
            QueueSample(
                "mx-fine",
                NOW,
                3,
                MappingProxyType({f"Q {payload}": 3}),
                deferral_reasons=(DeferralReason(f"DEFER {payload}", 3),),
            ),
        )
    )
    return [(source, "primary", history), (fine_source, "secondary", fine)]


def hostile_findings(payload: str) -> list[Finding]:
    return [
        Finding(
            "auth",
            "dkim",
            f"SUBJ {payload[:30]}",
            Status.FAIL,
            f"AUTHSUM {payload}",
            "primary",
            data={"evidence": f"EVID {payload}", f"KEY {payload}": 1, "list": [payload]},
        ),
        Finding("auth", "spf", "example.com", Status.OK, "pass", "primary"),
    ]


def timeline_entries(app: CockpitApp) -> int:
    return len(app.query_one(TimelinePane).entries)


async def feed_probe_panes(app: CockpitApp, pilot: Pilot[None], payload: str) -> None:
    app.query_one(DnsPane).show_sweep(hostile_sweep(payload), "primary")  # type: ignore[arg-type]
    app.query_one(QueuePane).show_histories(hostile_queue_rows(payload), NOW)
    app.query_one(AuthPane).show_findings(hostile_findings(payload))
    await pilot.pause()


@dataclass
class PaneDumps:
    dumps: dict[str, ScreenDump]

    def text(self, pane: str) -> str:
        return self.dumps[pane].text


def mx_row(dns: DnsPane) -> int:
    """Where the MX record's row is (the rows are ordered worst first)."""
    return dns.table.get_row_index(watched("MX").key)


def primary_row(auth: AuthPane) -> int:
    return auth.table.get_row_index("primary")


async def zoom_and_dump(app: CockpitApp, pilot: Pilot[None]) -> PaneDumps:
    """Each pane zoomed in turn (the DNS and auth cursors on the hostile cells), then all five."""
    dumps: dict[str, ScreenDump] = {}
    dns, auth = app.query_one(DnsPane), app.query_one(AuthPane)
    for key, name in (("1", "queue"), ("2", "dns"), ("3", "auth"), ("4", "checklist")):
        await pilot.press(key)
        if name == "dns":
            dns.table.move_cursor(row=mx_row(dns), column=2)  # MX at Cloudflare: the raw answer
        if name == "auth":
            auth.table.move_cursor(row=primary_row(auth), column=2)  # DKIM: summary, evidence
        await pilot.pause()
        dumps[name] = dump_screen(app)
        if name == "dns":
            dns.table.move_cursor(row=mx_row(dns), column=3)  # MX at Quad9: the error
            await pilot.pause()
            dumps["dns-error"] = dump_screen(app)
            dns.show_error(f"SWEEPERR {ALL_IN_ONE}")
            await pilot.pause()
            dumps["dns-sweep-error"] = dump_screen(app)
        await pilot.press("escape")
    await pilot.press("5")
    await pilot.pause()
    dumps["timeline"] = dump_screen(app)
    await pilot.press("escape")
    await pilot.pause()
    dumps["all"] = dump_screen(app)
    return PaneDumps(dumps)


def poke(app: CockpitApp) -> list[object]:
    """Targets a click or Enter must not turn into an action."""
    return [
        app.query_one(DnsPane).table,
        app.query_one(AuthPane).table,
        app.query_one(QueuePane).table,
        app.query_one(ChecklistPane).query_one(OptionList),
        app.query_one(TimelinePane),
    ]


async def click_and_press_everywhere(app: CockpitApp, pilot: Pilot[None]) -> None:
    """Click into every pane and press Enter there; double-click the hostile DNS cell."""
    for widget in poke(app):
        await pilot.click(widget, offset=(12, 2))  # type: ignore[arg-type]
        await pilot.press("enter")
        assert app.is_running
    dns = app.query_one(DnsPane)
    dns.table.move_cursor(row=1, column=2)
    dns.table.focus()
    await pilot.press("enter")
    await pilot.click(dns.table, offset=(30, 2), times=2)
    assert app.is_running


# --- part A: in process -------------------------------------------------------------------------


@pytest.mark.parametrize("item", CORPUS, ids=IDS)
def test_clean_renders_each_payload_as_inert_text(item: Hostile) -> None:
    """The contract the panes rely on: clean(payload) in a Text is drawn as plain characters."""
    shown = clean(item.payload)
    assert item.shown in shown
    assert FORBIDDEN_CHARS.search(shown) is None
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    console.print(Text(f"[b]{shown}"), markup=False)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    sequences, stray = escape_sequences(output)
    assert not stray and not osc_sequences(sequences)
    assert flat(item.shown) in flat(console.export_text())


@pytest.mark.anyio
async def test_every_pane_shows_the_whole_corpus_as_text(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    hostile_log(path, ALL_IN_ONE)
    author = f"op {ALL_IN_ONE}"
    app = CockpitApp(path, author=author, config=CONFIG, probes=False, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        title, sub_title = app.title, app.sub_title
        assert await settle(pilot, lambda: timeline_entries(app) == 10)
        await feed_probe_panes(app, pilot, ALL_IN_ONE)
        panes = await zoom_and_dump(app, pilot)
        for name, screen in panes.dumps.items():
            try:
                assert_inert(screen)
            except AssertionError as error:
                raise AssertionError(f"pane {name}: {error}") from error

        markup = ("[@click=app.quit]x[/]", "[link=https://evil.example]y[/link]", "[/bold]")
        everything = "\n".join(flat(screen.text) for screen in panes.dumps.values())
        for literal in (*markup, "[bold red]", "␛]52;c;SE9TVElMRQ==␇", "␛]0;PWNED-TITLE␇"):
            assert flat(literal) in everything, literal
        for item in CORPUS[:-1]:  # each visible as its marks; the long line: per payload below
            assert flat(item.shown) in everything, item.name
        expectations = {
            "timeline": ("NOTE ", "DECISION ", "CORR ", "mallory ", "[@click=app.quit]x[/]"),
            "dns": ("RAW ", "␛]0;PWNED-TITLE␇", "[/bold]"),
            "dns-error": ("ERR ", "␛[2J"),
            "dns-sweep-error": ("SWEEPERR ", "[bold red]"),
            "queue": ("QERR ", "␛]52;c;SE9T"),
            "auth": ("AUTHSUM ", "EVID ", "KEY ", "SUBJ ", "[link=https://evil.example]y"),
            "checklist": ("CKNOTE ", "WHYSKIP ", "STEP ", "mallory "),
            "all": ("TITLE ", "target "),
        }
        for pane, expected in expectations.items():
            shown = flat(panes.text(pane))
            for part in expected:
                assert flat(part) in shown, (pane, part, shown[:2000])
        # Bidi and invisible characters are shown as U+FFFD, never passed on.
        assert "\ufffdevil\ufffd" in everything and "z\ufffdw\ufffdj\ufffdk" in everything
        assert flat("ends in \\") in everything

        await click_and_press_everywhere(app, pilot)
        assert_inert(dump_screen(app))
        assert (app.title, app.sub_title) == (title, sub_title) == ("cockpit", "")
        assert app.is_running and app.return_code is None
    assert app.return_code in (None, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("step_id", ["phase:during", "phase:unknown"])
async def test_a_step_id_from_the_log_cannot_crash_the_checklist(
    tmp_path: Path, step_id: str
) -> None:
    """Another writer's check entry names a step id shaped like the pane's phase headers."""
    path = tmp_path / "inc.jsonl"
    data = {"step": step_id, "result": "note", "title": "[@click=app.quit]x[/]", "note": "n"}
    IncidentLog(path).append("check", "a note", data, author="mallory")
    app = CockpitApp(path, author="op", config=CONFIG, probes=False, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: timeline_entries(app) == 1 or not app.is_running)
        await pilot.press("4", "down", "enter")
        assert app.is_running
        shown = pane_texts(app)["checklist"]
        assert "[@click=app.quit]x[/]" in shown
    assert app.return_code in (None, 0)


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def pane_texts(app: CockpitApp) -> dict[str, str]:
    """What each pane holds to draw, read from its widgets (whatever is scrolled out of view)."""
    dns, auth, queue = app.query_one(DnsPane), app.query_one(AuthPane), app.query_one(QueuePane)
    options = app.query_one(ChecklistPane).query_one(OptionList)

    def table_text(table: DataTable[Text]) -> str:
        return "\n".join(
            plain(table.get_cell_at(Coordinate(row, column)))
            for row in range(table.row_count)
            for column in range(len(table.columns))
        )

    return {
        "timeline": "\n".join(strip.text for strip in app.query_one(TimelinePane).lines),
        "header": plain(app.query_one(IncidentHeader).render()),
        "dns": plain(dns.detail.render()) + "\n" + table_text(dns.table),
        "queue": table_text(queue.table),
        "auth": plain(auth.detail.render()) + "\n" + table_text(auth.table),
        "checklist": "\n".join(
            plain(options.get_option_at_index(index).prompt)
            for index in range(options.option_count)
        ),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("item", CORPUS, ids=IDS)
async def test_each_payload_through_every_pane(tmp_path: Path, item: Hostile) -> None:
    path = tmp_path / "inc.jsonl"
    hostile_log(path, item.payload)
    app = CockpitApp(
        path, author=f"op {item.payload}", config=CONFIG, probes=False, clock=fixed_clock
    )
    async with app.run_test(size=(160, 40)) as pilot:
        assert await settle(pilot, lambda: timeline_entries(app) == 10)
        await feed_probe_panes(app, pilot, item.payload)
        dns, auth = app.query_one(DnsPane), app.query_one(AuthPane)
        auth.table.move_cursor(row=primary_row(auth), column=2)  # DKIM: summary and evidence
        dns.table.move_cursor(row=mx_row(dns), column=2)  # MX at Cloudflare: the raw answer
        await pilot.pause()
        assert_inert(dump_screen(app))
        texts = pane_texts(app)
        texts["dns-error"] = plain(dns.detail_text(watched("MX").key, "r1"))  # MX at Quad9
        marker = flat(item.shown[:30])
        for pane, prefixes in (
            ("timeline", ("NOTE", "DECISION", "CORR", "mallory")),
            # The header cuts what does not fit: after a long target the author is cut off.
            ("header", ("TITLE", "target", "@op") if len(item.payload) < 100 else ("TITLE",)),
            ("dns", ("RAW",)),
            ("dns-error", ("ERR",)),
            ("queue", ("QERR",)),
            ("auth", ("AUTHSUM", "EVID", "SUBJ")),
            ("checklist", ("CKNOTE", "WHYSKIP", "STEP", "mallory")),
        ):
            shown = texts[pane]
            assert FORBIDDEN_CHARS.search(shown) is None, (pane, shown[:300])
            for prefix in prefixes:
                assert prefix + marker in flat(shown), (pane, prefix + marker, shown[:300])
        await pilot.press("enter")
        assert app.is_running and app.title == "cockpit" and app.sub_title == ""


# --- part B: a real cockpit in a pseudo-terminal ------------------------------------------------

PTY_COLUMNS, PTY_ROWS = 120, 40
READY_WITHIN = 8.0
"""Seconds for a cockpit to show its first DNS sweep; the steps go on regardless after that."""
STEP_GAP = 0.8
"""Seconds between two steps: long enough for a zoom to move the focus before the next key."""
RUN_AT_LEAST = 6.5
QUIT_WITHIN = 5.0
HOSTILE_NAME = "hostile.example.test"
BENIGN_TXT = 'hostile TXT "plain words in a harmless record, nothing to see"'
LAB_HOSTILE_TXT = (
    'hostile TXT "\\027[31mred\\027[0m [bold]loud[/bold] [@click=quit] \\027]0;PWNED-TITLE\\007"'
)
HOSTILE_STDERR = (
    "printf 'boom \\033]52;c;SE9TVElMRQ==\\007 \\033]0;PWNED-TITLE\\007 "
    "\\033]8;;https://evil.example/\\033\\\\click\\033]8;;\\033\\\\ \\033[2J "
    "\\233 31m \\235 0;T\\234 "
    "[@click=app.quit]x[/]' >&2; exit 3"
)
BENIGN_STDERR = "printf 'boom plain words from a queue command that failed' >&2; exit 3"
ZOOM_DNS = "2"
TO_HOSTILE_CELL = "\x1b[B" * 14 + "\x1b[C" * 2 + "\r"
"""Down to the last row (the hostile TXT record), right onto the first resolver (its raw answer
shows in the detail), then Enter on that cell."""
CLICK = "\x1b[<0;40;12M\x1b[<0;40;12m"
"""An SGR mouse click inside the zoomed DNS table."""
QUIT = "\x11"
KEYS_BY_STEP = {1: ZOOM_DNS, 2: TO_HOSTILE_CELL, 3: CLICK, 4: "\x1b", 5: "5", 6: "\x1b"}
"""What is typed at each step after the first: the DNS pane zoomed to the hostile cell, then the
timeline zoomed (its whole height: the probes' own entries follow the one appended live)."""
QUIT_STEP = 7
SWEEP_SHOWN = b"last sweep"
TXT_JUDGED = re.compile(rb"TXT hostile[^\n]{0,300}?\d/\d 100%")
"""The hostile TXT record's row (or the zoomed frame's summary of it) with its answer judged:
the rows are ordered worst first, so the record is the last row only once it is ok."""


@dataclass
class PtyRun:
    name: str
    raw: bytes
    """Every byte the cockpit wrote to its terminal."""
    alive_before_quit: bool
    exit_code: int | None
    lab: bool
    quit_offset: int
    """Where the output stood when Ctrl+Q was sent."""

    @property
    def output(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


def queue_block(script: str) -> str:
    argv = ", ".join(json.dumps(part) for part in ("/bin/sh", "-c", script))
    return (
        '\n[[region.queue]]\nname = "mx-evil"\nkind = "command"\n'
        f"command = [{argv}]\ninterval = 1\ntimeout = 5\n"
    )


def dead_resolver_config(directory: Path) -> Path:
    """Without nsd/unbound (outside CI): DNS goes to a closed loopback port, and fails fast."""
    path = directory / "cockpit.toml"
    path.write_text(
        '[domain]\nname = "example.test"\n\n[[region]]\nname = "primary"\n'
        'mx = ["mx1.example.test"]\n\n[[region]]\nname = "secondary"\n'
        'mx = ["mx2.example.test"]\n\n[dns]\ntimeout = 0.3\nauthoritative = ["127.0.0.1:9"]\n'
        '\n[[dns.resolver]]\nname = "loopback"\naddress = "127.0.0.1:9"\n',
        encoding="utf-8",
    )
    return path


def cockpit_config(directory: Path, lab: DnsLab | None, script: str) -> Path:
    """The lab's config (or a dead loopback resolver), fast intervals and one queue command."""
    directory.mkdir(parents=True, exist_ok=True)
    if lab is not None:
        path = write_config(directory, lab, records=[(HOSTILE_NAME, "TXT")])
    else:
        path = dead_resolver_config(directory)
    text = path.read_text(encoding="utf-8")
    second = '\n[[region]]\nname = "secondary"'
    assert second in text
    text = text.replace(second, queue_block(script) + second, 1)
    text = text.replace("[dns]\n", "[dns]\ninterval = 2\n", 1) + "\n[auth]\ninterval = 5\n"
    path.write_text(text, encoding="utf-8")
    return path


def seed_log(path: Path, payload: str) -> None:
    """Entries by another author, written before the cockpit starts."""
    log = IncidentLog(path)
    mallory = f"mallory {payload}"
    log.append("system", "t", {"event": "title", "title": f"TITLE {payload}"}, author=mallory)
    log.append("note", f"NOTE {payload}", {"why": payload}, author=mallory)
    log.append(
        "decision",
        f"DECISION {payload}",
        {"why": payload, "approver": payload, "target_region": payload},
        author=mallory,
    )
    log.append(
        "check",
        f"Note: {payload}",
        {"step": "confirm-scope", "result": "note", "title": "x", "note": f"CKNOTE {payload}"},
        author=mallory,
    )


def start_in_pty(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` on a new pseudo-terminal of PTY_COLUMNS x PTY_ROWS; returns its master fd."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", PTY_ROWS, PTY_COLUMNS, 0, 0))
    try:
        process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
        )
    finally:
        os.close(slave)
    return process, master


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of one cockpit we started (its own process group: the queue commands
    it runs are in it too)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


@dataclass
class Cockpit:
    """One cockpit in a pseudo-terminal and where it is in the script of steps."""

    name: str
    process: subprocess.Popen[bytes]
    master: int
    log_path: Path
    live_text: str
    started: float
    output: bytearray = dataclasses.field(default_factory=bytearray)
    closed: bool = False
    step: int = 0
    next_step_at: float = 0.0
    alive_before_quit: bool = False
    quit_offset: int | None = None
    """len(output) when Ctrl+Q was sent."""
    lab: bool = False
    """The DNS lab answers: the hostile TXT record has a row to go to."""
    zoomed_at: int = 0
    """len(output) when the DNS pane was zoomed."""


def read_available(cockpits: list[Cockpit], wait: float) -> None:
    """One select() over the open terminals: append whatever is there to each output."""
    masters = {c.master: c for c in cockpits if not c.closed}
    if not masters:
        time.sleep(wait)
        return
    ready, _, _ = select.select(list(masters), [], [], wait)
    for master in ready:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal is gone
            chunk = b""
        if chunk:
            masters[master].output += chunk
        else:
            masters[master].closed = True


def take_step(cockpit: Cockpit, now: float) -> None:
    """Steps: wait for the first sweep and append a log entry; zoom the DNS pane; go to the
    hostile cell; click; Escape back to all panes; zoom the timeline and back; quit once it has
    run RUN_AT_LEAST seconds."""
    if now < cockpit.next_step_at:
        return
    if cockpit.step == 0:
        ready = SWEEP_SHOWN in cockpit.output
        if not ready and now < cockpit.started + READY_WITHIN:
            return
        IncidentLog(cockpit.log_path).append("note", cockpit.live_text, {}, author="mallory")
    elif cockpit.step in KEYS_BY_STEP:
        if cockpit.step == 2 and cockpit.lab:
            judged = TXT_JUDGED.search(bytes(cockpit.output[cockpit.zoomed_at :]))
            if not judged and now < cockpit.next_step_at + READY_WITHIN:
                return
        if cockpit.step == 1:
            cockpit.zoomed_at = len(cockpit.output)
        os.write(cockpit.master, KEYS_BY_STEP[cockpit.step].encode())
    elif cockpit.step == QUIT_STEP:
        if now < cockpit.started + RUN_AT_LEAST:
            return
        cockpit.alive_before_quit = cockpit.process.poll() is None
        cockpit.quit_offset = len(cockpit.output)
        if cockpit.alive_before_quit:
            os.write(cockpit.master, QUIT.encode())
    else:
        return
    cockpit.step += 1
    cockpit.next_step_at = now + STEP_GAP


def run_cockpits(cockpits: list[Cockpit]) -> None:
    """Drive every cockpit through the steps at once; bounded by READY_WITHIN + QUIT_WITHIN
    + a few steps."""
    deadline = time.monotonic() + READY_WITHIN + RUN_AT_LEAST + QUIT_WITHIN
    while time.monotonic() < deadline:
        read_available(cockpits, 0.05)
        now = time.monotonic()
        for cockpit in cockpits:
            take_step(cockpit, now)
        if all(c.step > QUIT_STEP and c.process.poll() is not None for c in cockpits):
            break
    for _ in range(10):  # what is still in the terminals' buffers
        read_available(cockpits, 0.02)


@pytest.fixture(scope="module")
def pty_runs(
    dns_lab_module: LabFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, PtyRun]]:
    """One cockpit with hostile data and one with harmless data, run side by side."""
    use_lab = not missing_programs()
    if not use_lab:
        require_dns_servers()  # fails under CI=true; elsewhere the runs go on without the lab
    setups = {
        "hostile": (LAB_HOSTILE_TXT, HOSTILE_STDERR, ALL_IN_ONE, "op \x1b]0;PWNED-TITLE\x07[/b]"),
        "benign": (BENIGN_TXT, BENIGN_STDERR, "plain words " * 12, "operator"),
    }
    cockpits: list[Cockpit] = []
    try:
        for name, (txt, script, payload, user) in setups.items():
            directory = tmp_path_factory.mktemp(f"pty-{name}")
            lab = dns_lab_module(lab_zones("primary", extra=[txt]), 2) if use_lab else None
            config = cockpit_config(directory, lab, script)
            log_path = directory / "inc.jsonl"
            seed_log(log_path, payload)
            env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT")}
            env.pop("NO_COLOR", None)
            env.update(
                TERM="xterm-256color",
                LANG="C.UTF-8",
                LC_ALL="C.UTF-8",
                USER=user,
                XDG_CONFIG_HOME=str(directory / "xdg"),
                PYTHONPATH=str(PROJECT_ROOT),
            )
            argv = [sys.executable, "-m", "cockpit", "--incident", str(log_path)]
            process, master = start_in_pty([*argv, "--config", str(config)], directory, env)
            cockpits.append(
                Cockpit(
                    name,
                    process,
                    master,
                    log_path,
                    f"LIVE {payload}",
                    time.monotonic(),
                    lab=use_lab,
                )
            )
        run_cockpits(cockpits)
        runs = {
            c.name: PtyRun(
                c.name,
                bytes(c.output),
                c.alive_before_quit,
                c.process.poll(),
                use_lab,
                len(c.output) if c.quit_offset is None else c.quit_offset,
            )
            for c in cockpits
        }
    finally:
        for cockpit in cockpits:
            stop_group(cockpit.process)
            os.close(cockpit.master)
    yield runs


def test_the_cockpits_stayed_up_with_hostile_data(pty_runs: dict[str, PtyRun]) -> None:
    for run in pty_runs.values():
        before_quit = run.raw[: run.quit_offset]
        assert run.alive_before_quit, (run.name, run.output[-2000:])
        assert b"Traceback" not in before_quit, (run.name, before_quit[-3000:])


def test_ctrl_q_quits_cleanly(pty_runs: dict[str, PtyRun]) -> None:
    for run in pty_runs.values():
        after_quit = run.raw[run.quit_offset :]
        assert run.exit_code == 0, (run.name, run.exit_code, after_quit[-2000:])
        for complaint in (b"Traceback", b"Task was destroyed", b"Exception ignored"):
            assert complaint not in after_quit, (run.name, after_quit[-3000:].decode("utf-8"))


def test_hostile_data_reached_the_screen_as_visible_text(pty_runs: dict[str, PtyRun]) -> None:
    """Not vacuous: the payloads did arrive, each shown as the marks `clean` gives them."""
    output = pty_runs["hostile"].output
    for shown in (
        "TITLE ␛]52;c;SE9TVElMRQ==␇",  # the title entry, in the header
        "LIVE ␛]52;c;SE9TVElMRQ==␇",  # appended while the cockpit ran: the timeline followed
        "[@click=app.quit]x[/]",
        "[link=https://evil.example]y[/link]",
        "␛]0;PWNED-TITLE␇",
        "boom ␛]52;c;SE9TVElMRQ==␇",  # the queue command's stderr
    ):
        assert shown in output, shown
    if pty_runs["hostile"].lab:
        # The TXT answer from the lab, in the DNS detail under the cursor.
        assert "␛[31mred␛[0m [bold]loud[/bold] [@click=quit]" in output


def test_every_byte_is_utf8_and_no_c1_control_reaches_the_terminal(
    pty_runs: dict[str, PtyRun],
) -> None:
    """0x9B and 0x9D occur as continuation bytes of UTF-8 characters (␛ is E2 90 9B); what
    must not occur is a C1 control: a lone byte, or the code point U+0080-U+009F."""
    for run in pty_runs.values():
        text = run.raw.decode("utf-8", errors="strict")
        controls = sorted({hex(ord(c)) for c in text if 0x80 <= ord(c) <= 0x9F})
        assert not controls, (run.name, controls)
        assert "\x07" not in re.sub(r"\x1b\][^\x07\x1b]*\x07", "", text), run.name


def test_no_payload_inside_an_escape_sequence(pty_runs: dict[str, PtyRun]) -> None:
    output = pty_runs["hostile"].output
    sequences, stray = escape_sequences(output)
    assert all(position >= len(output) - 64 for position in stray), [
        output[position : position + 40] for position in stray
    ]
    for sequence in sequences:
        assert not any(marker in sequence for marker in PAYLOAD_MARKERS), sequence
    oscs = osc_sequences(sequences)
    assert not [o for o in oscs if re.match(r"\x1b\](52|8);", o)], oscs
    titles = [o for o in oscs if re.match(r"\x1b\][012];", o)]
    assert not [t for t in titles if "PWNED" in t], titles
    assert "\x1b]52" not in output and "\x1b]8;" not in output


def test_no_more_screen_clears_than_with_harmless_data(pty_runs: dict[str, PtyRun]) -> None:
    clears = {name: run.output.count("\x1b[2J") for name, run in pty_runs.items()}
    assert clears["hostile"] <= clears["benign"], clears
    # The control run's own sequences are the same kinds: nothing is added by the data.
    kinds = {
        name: {re.sub(r"[0-9;]+", "N", s) for s in escape_sequences(run.output)[0]}
        for name, run in pty_runs.items()
    }
    assert kinds["hostile"] <= kinds["benign"], kinds["hostile"] - kinds["benign"]


@pytest.mark.anyio
async def test_an_impact_proposal_basis_from_the_log_is_never_drawn_raw(tmp_path: Path) -> None:
    """A first-alarm entry written by anyone can carry any basis: the region strip and the
    impact prompt show only the cockpit's own two phrases, and its subject cleaned."""
    from cockpit.incident.detection import FIRST_FAILURE
    from cockpit.ui.region_strip import RegionStrip

    path = tmp_path / "inc.jsonl"
    IncidentLog(path).append(
        "probe",
        "First alarm",
        {
            "event": "first_alarm",
            "area": "service",
            "status": "fail",
            "subject": "mx1",
            "region": "primary",
            "at": "2024-05-01T14:00:00.000Z",
            "impact_proposal": {"at": "2024-05-01T13:58:00.000Z", "basis": ALL_IN_ONE},
            "evidence": {"region": "primary", "area": "service", "check": ALL_IN_ONE},
        },
        author="mallory",
    )
    app = CockpitApp(path, author="alice", config=CONFIG, clock=fixed_clock, probes=False)
    async with app.run_test(size=SIZE) as pilot:
        strip = app.query_one(RegionStrip)
        assert await settle(pilot, lambda: strip.proposal is not None)
        assert strip.proposal is not None and strip.proposal.basis == FIRST_FAILURE
        await pilot.pause(0.2)
        screen = dump_screen(app)
        assert FIRST_FAILURE in flat(screen.text) or flat(FIRST_FAILURE) in flat(screen.text)
        assert_inert(screen)
        await pilot.press("i")
        await pilot.pause(0.3)
        assert_inert(dump_screen(app))
