"""The whole cockpit against real servers: a failover from decision to converged DNS.

A DNS lab (nsd + 4 unbound, TTL 3 s) serves example.test pointing at the primary region; a real
Postfix holds MESSAGES deferred messages behind a dead relay. The cockpit starts on a new log
with its probes on, the commander records "Fail over to secondary" and confirms the cutover,
the zone is switched, and the DNS matrix must converge on secondary while the probes log what
they saw. Finally the log is read back and exported.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, Select

from cockpit.config import load_config
from cockpit.dns.sweep_model import SweepResult
from cockpit.incident.entry import Entry
from cockpit.incident.log import read_log
from cockpit.model import Status
from cockpit.ui.app import CockpitApp, write_export
from cockpit.ui.decision_form import CutoverPrompt, DecisionForm
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.probe_runner import ProbeRunner, SweepShown
from cockpit.ui.queue_pane import COLUMNS, QueuePane
from tests.lab import guard_loopback
from tests.lab.dnslab import DnsLab, LabFactory
from tests.pilot_wait import wait_for
from tests.test_dns_sweep import MX_KEY, ZONE, lab_zones, resolver_names, write_config

if TYPE_CHECKING:  # the fixture module is loaded (and assert-rewritten) as a plugin
    from tests.lab.postfix_queue import PostfixQueueLab

pytest_plugins = ["tests.lab.dnslab", "tests.lab.postfix_queue"]
pytestmark = pytest.mark.anyio

MESSAGES = 20
QUEUE_WARN = 10
QUEUE_SOURCE = "mx1-postfix"
DECISION = "Fail over to secondary"
CONVERGE_WITHIN_S = 20.0
"""TTL 3 s + a 1 s sweep interval, with room for a slow machine."""
DNS_TIMEOUT_S = 2.0
"""Per query: a busy machine must not fail the first, cold sweep (see the convergence test)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address this process connects or sends to (each asserted to be loopback)."""
    return guard_loopback(monkeypatch)


@pytest.fixture(scope="module")
def deferred_queue(postfix_queue_lab: PostfixQueueLab) -> PostfixQueueLab:
    """The module's Postfix with MESSAGES deferred messages (the tests only read them)."""
    postfix_queue_lab.inject(MESSAGES)
    postfix_queue_lab.wait_for_deferred(MESSAGES)
    return postfix_queue_lab


def cockpit_config(directory: Path, lab: DnsLab, queue: PostfixQueueLab) -> Path:
    """write_config's lab config, sweeping every second, auth every 5 s, one postqueue source
    in region primary that warns below the queue's depth."""
    path = write_config(directory, lab, timeout=DNS_TIMEOUT_S)
    command = ", ".join(f'"{arg}"' for arg in queue.postqueue_argv("-j"))
    source = f"""
  [[region.queue]]
  name = "{QUEUE_SOURCE}"
  kind = "postqueue"
  command = [{command}]
  timeout = 10
  interval = 1
  warn = {QUEUE_WARN}
"""
    text = path.read_text()
    text = text.replace(
        '[[region]]\nname = "secondary"', source + '\n[[region]]\nname = "secondary"', 1
    )
    text = text.replace("[dns]\n", "[dns]\ninterval = 1\n", 1)
    text += "\n[auth]\ninterval = 5\n"
    path.write_text(text)
    return path


def entries_of(log_path: Path) -> list[Entry]:
    return read_log(log_path).entries if log_path.exists() else []


def probe_events(log_path: Path, event: str, subject: str | None = None) -> list[Entry]:
    return [
        e
        for e in entries_of(log_path)
        if e.kind == "probe"
        and e.data.get("event") == event
        and (subject is None or e.data.get("subject") == subject)
    ]


def moved_resolvers(entries: list[Entry], record_key: str) -> set[str]:
    """Resolvers with a resolver_region_changed entry for `record_key`, or one folded into an
    "and N more changes" summary (its evidence names them as "RECORD|RESOLVER")."""
    moved = set()
    for entry in entries:
        event = entry.data.get("event")
        if event == "resolver_region_changed" and entry.data.get("subject") == record_key:
            moved.add(entry.data["server"])
        if event == "folded":
            for group in entry.data["evidence"]["groups"]:
                if group["event"] == "resolver_region_changed":
                    for subject in group["subjects"]:
                        record, _, server = subject.partition("|")
                        if record == record_key:
                            moved.add(server)
    return moved


def converged_entries(log_path: Path, target: str) -> list[Entry]:
    """record_converged entries for the MX judged against `target`."""
    return [
        e
        for e in probe_events(log_path, "record_converged", MX_KEY)
        if e.data["evidence"]["target"] == target
    ]


def queue_row(app: CockpitApp) -> dict[str, str]:
    table = app.query_one(QueuePane).table
    if not table.row_count:
        return {}
    return {column: str(cell) for column, cell in zip(COLUMNS, table.get_row_at(0), strict=True)}


def mx_cells(app: CockpitApp) -> dict[str, str]:
    """Resolver name -> the text of its MX cell in the DNS matrix."""
    pane = app.query_one(DnsPane)
    table = pane.table
    if pane._sweep is None or MX_KEY not in table.rows:
        return {}
    return {
        resolver: str(table.get_cell(MX_KEY, column))
        for column, resolver in pane._resolver_columns.items()
    }


def mx_findings(app: CockpitApp) -> dict[str, Status]:
    """Resolver name -> the status of its MX answer as the DNS pane judges it now."""
    pane = app.query_one(DnsPane)
    return {
        resolver: finding.status
        for (check, subject, resolver), finding in pane._findings.items()
        if check == "MX" and subject == ZONE and resolver is not None
    }


def converged_on(app: CockpitApp, region: str, resolvers: list[str]) -> bool:
    cells = mx_cells(app)
    findings = mx_findings(app)
    return (
        app.query_one(DnsPane)._target == region
        and set(cells) == set(resolvers)
        and all(findings.get(name) is Status.OK for name in resolvers)
        and all(region in cells[name] and "ok" in cells[name] for name in resolvers)
    )


async def record_failover(pilot: Pilot[None], app: CockpitApp) -> None:
    """Press d, record DECISION with target secondary, and answer y at the cutover prompt."""
    await pilot.press("d")
    await wait_for(pilot, "the decision form", lambda: isinstance(app.screen, DecisionForm), 3)
    app.screen.query_one("#target", Select).value = "secondary"
    app.screen.query_one("#why", Input).value = "primary storage down"
    app.screen.query_one("#decision", Input).focus()
    await pilot.press(*DECISION, "enter")
    await wait_for(pilot, "the cutover prompt", lambda: isinstance(app.screen, CutoverPrompt), 5)
    # The prompt comes after the target moved: the runner judges against secondary already.
    assert app.target_region == "secondary"
    assert app.query_one(ProbeRunner).target == "secondary"
    await pilot.press("y")
    await wait_for(
        pilot, "the cutover prompt closed", lambda: not isinstance(app.screen, CutoverPrompt), 3
    )


async def switch_zone_to_secondary(lab: DnsLab) -> None:
    """Serial 2 with MX and webmail on secondary; reloading blocks, so off the app's loop."""

    def switch() -> None:
        lab.set_zone(ZONE, lab_zones("secondary", serial=2)[ZONE])
        lab.reload(ZONE)

    await asyncio.to_thread(switch)


async def test_a_failover_from_decision_to_converged_dns(
    dns_lab: LabFactory,
    deferred_queue: PostfixQueueLab,
    reached: list[Any],
    tmp_path: Path,
) -> None:
    lab = dns_lab(lab_zones("primary"), resolver_count=4)
    resolvers = resolver_names(lab)
    config = load_config(cockpit_config(tmp_path, lab, deferred_queue))
    log_path = tmp_path / "failover.jsonl"
    assert not log_path.exists()

    shown: list[tuple[SweepResult, str]] = []
    """(sweep, target) of every SweepShown, in the order posted."""

    def hook(message: Message) -> None:
        if isinstance(message, SweepShown) and message.sweep is not None:
            shown.append((message.sweep, message.target))

    app = CockpitApp(log_path, author="alice", config=config)
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        dns_pane = app.query_one(DnsPane)
        runner = app.query_one(ProbeRunner)
        header = app.query_one(IncidentHeader)

        # 1-2: the starting picture, judged against primary, with the deferred backlog.
        await wait_for(
            pilot,
            "a sweep judged against primary",
            lambda: converged_on(app, "primary", resolvers),
            10,
        )
        await wait_for(
            pilot,
            f"{MESSAGES} deferred in the queue pane",
            lambda: queue_row(app).get("depth") == str(MESSAGES),
            10,
        )
        row = queue_row(app)
        assert row["source"] == QUEUE_SOURCE and row["region"] == "primary"
        assert row["queues"] == f"{MESSAGES} deferred"
        assert "warn" in row["status"]
        assert runner.target == "primary" and header.target_region == "primary"

        # 3: the decision, and the cutover confirmed at once.
        await record_failover(pilot, app)
        assert runner.target == "secondary"
        await wait_for(
            pilot,
            "the DNS pane and the header on secondary",
            lambda: dns_pane._target == "secondary" and header.target_region == "secondary",
            3,
        )
        assert "target secondary" in str(header.status_text())
        # At once, not at the next sweep: the first matrix judged against secondary is a sweep
        # that had already been shown against primary.
        first_on_secondary = next(sweep for sweep, target in shown if target == "secondary")
        assert any(sweep is first_on_secondary and target == "primary" for sweep, target in shown)
        await wait_for(
            pilot,
            "the routed phase in the log",
            lambda: any(
                e.kind == "phase" and e.data.get("phase") == "routed" for e in entries_of(log_path)
            ),
            5,
        )
        (decision,) = [e for e in entries_of(log_path) if e.kind == "decision"]
        assert decision.text == DECISION and decision.author == "alice"
        assert decision.data["target_region"] == "secondary"
        assert decision.data["previous_region"] == "primary"
        assert decision.data["why"] == "primary storage down"
        assert not converged_on(app, "secondary", resolvers)  # the zone still says primary

        # 4: the zone switches; the caches expire within the TTL and the matrix converges.
        await switch_zone_to_secondary(lab)
        await wait_for(
            pilot,
            "every resolver's MX judged ok for secondary",
            lambda: converged_on(app, "secondary", resolvers),
            CONVERGE_WITHIN_S,
        )
        await wait_for(
            pilot,
            "record_converged on secondary for the MX in the log",
            lambda: bool(converged_entries(log_path, "secondary")),
            5,
        )
        cells = mx_cells(app)
        assert all("secondary" in cells[name] for name in resolvers), cells

    # 6: the log after the cockpit closed.
    result = read_log(log_path)
    assert result.problems == []
    entries = result.entries
    seqs = [e.seq for e in entries]
    assert seqs == sorted(set(seqs)), seqs
    for entry in entries:
        # The cockpit writes its probe entries and the detected phase its first alarm sets.
        by_cockpit = entry.kind == "probe" or entry.data.get("source") == "probe"
        assert entry.author == ("cockpit" if by_cockpit else "alice"), entry

    (converged,) = converged_entries(log_path, "secondary")
    assert converged.data["status"] == "ok" and converged.seq > decision.seq
    assert converged.data["evidence"]["after"]["converged"] == len(resolvers)

    # Each resolver moved from primary to secondary for the MX: logged one by one, or folded
    # into one "and N more changes" entry when a sweep brought more than a burst of changes.
    assert moved_resolvers(entries, MX_KEY) == set(resolvers)
    for entry in entries:
        if entry.data.get("event") == "resolver_region_changed":
            after = entry.data["evidence"]["after"]
            assert after["region"] == "secondary" and after["verdict"] == "region", entry

    # 5: the queue crossed its warn threshold, with the depth as evidence.
    (depth_up,) = [e for e in entries if e.kind == "probe" and e.data.get("event") == "depth_up"]
    assert depth_up.data["area"] == "queue" and depth_up.data["subject"] == QUEUE_SOURCE
    assert depth_up.data["region"] == "primary" and depth_up.data["status"] == "warn"
    assert depth_up.data["total"] == MESSAGES and depth_up.data["deferred"] == MESSAGES
    assert depth_up.data["evidence"]["backlog"]["total"] == MESSAGES

    # The people's phases come after the decision (the detected phase the first alarm set may
    # come before it).
    kinds = [e.kind for e in entries if e.data.get("source") != "probe"]
    assert kinds.index("decision") < kinds.index("phase")
    (routed,) = [e for e in entries if e.kind == "phase" and e.data.get("phase") == "routed"]
    assert routed.seq > decision.seq
    assert any(e.kind == "check" for e in entries if e.seq > decision.seq)

    # The export lists the decision, the routed phase and the probes' evidence.
    markdown_path = tmp_path / "failover.md"
    write_export(log_path, markdown_path)
    markdown = markdown_path.read_text(encoding="utf-8")
    decisions = markdown.split("## Decisions", 1)[1].split("\n## ", 1)[0]
    assert DECISION in decisions and "secondary" in decisions
    assert "routed" in markdown
    assert "| Commander | alice |" in markdown  # not the probe author
    probes = markdown.split("## Probe evidence", 1)[1].split("\n## ", 1)[0]
    assert "resolvers on the target" in probes
    assert any(line.startswith("|") and "deferred" in line for line in probes.splitlines())

    # Nothing left loopback: the guard fails a connect elsewhere, and a probe that swallowed
    # that failure still left the address in `reached`.
    loopback = ipaddress.ip_network("127.0.0.0/8")
    assert reached
    for address in reached:
        if isinstance(address, tuple):
            assert ipaddress.ip_address(address[0]) in loopback, address


async def test_probe_entries_reach_a_new_log_in_a_new_directory(
    dns_lab: LabFactory,
    deferred_queue: PostfixQueueLab,
    reached: list[Any],
    tmp_path: Path,
) -> None:
    """`cockpit ui --incident incidents/new.jsonl` before incidents/ exists: the first probe
    entries (here the queue over its warn threshold) must still be written."""
    lab = dns_lab(lab_zones("primary"), resolver_count=1)
    config = load_config(cockpit_config(tmp_path, lab, deferred_queue))
    log_path = tmp_path / "incidents" / "new.jsonl"
    app = CockpitApp(log_path, author="alice", config=config)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(
            pilot,
            f"{MESSAGES} deferred in the queue pane",
            lambda: queue_row(app).get("depth") == str(MESSAGES),
            10,
        )
        # The queue read that showed the depth also offered depth_up; its write is a thread.
        await wait_for(
            pilot, "depth_up in the log", lambda: bool(probe_events(log_path, "depth_up")), 3
        )


async def test_convergence_on_the_new_target_is_logged_after_one_on_the_old(
    dns_lab: LabFactory,
    deferred_queue: PostfixQueueLab,
    reached: list[Any],
    tmp_path: Path,
) -> None:
    """A resolver that answers late at the start makes the MX converge on primary (logged);
    after the failover its convergence on secondary must be logged too."""
    lab = dns_lab(lab_zones("primary"), resolver_count=2)
    resolvers = resolver_names(lab)
    config = load_config(cockpit_config(tmp_path, lab, deferred_queue))
    log_path = tmp_path / "failover.jsonl"
    app = CockpitApp(log_path, author="alice", config=config)
    lab.freeze(1)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.query_one(DnsPane)
            await wait_for(pilot, "a first sweep", lambda: pane._sweep is not None, 10)
            lab.thaw(1)
            await wait_for(
                pilot,
                "the MX converged on primary, logged",
                lambda: bool(converged_entries(log_path, "primary")),
                10,
            )
            await record_failover(pilot, app)
            await switch_zone_to_secondary(lab)
            await wait_for(
                pilot,
                "every resolver's MX judged ok for secondary",
                lambda: converged_on(app, "secondary", resolvers),
                CONVERGE_WITHIN_S,
            )
            await wait_for(
                pilot,
                "record_converged on secondary for the MX in the log",
                lambda: bool(converged_entries(log_path, "secondary")),
                3,
            )
    finally:
        lab.thaw(1)
