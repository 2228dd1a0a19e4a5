"""Joining a drill: the drill keeps its world's config beside its log, so `cockpit --incident
<drill log>` from another terminal sees every pane live and can record the failover, which the
drill's world follows. Once the drill has ended, a joiner's probes find nothing and say unknown,
never ok."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest

from cockpit.commands.common import load_optional_config
from cockpit.commands.drill_cmd import (
    WORLD_STOPPED_EVENT,
    DrillSession,
    is_drill_log,
    start_drill,
)
from cockpit.config import incident_config_path, load_config
from cockpit.drill.config import write_config_file
from cockpit.errors import ConfigError, OutputFileError
from cockpit.incident.log import IncidentLog, read_log
from cockpit.model import Status
from cockpit.ui.app import CockpitApp
from tests.conftest import PROJECT_ROOT, run_cockpit
from tests.pilot_wait import wait_for
from tests.test_war_room import Tmux, tmux  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ended_drill(tmp_path: Path) -> Iterator[DrillSession]:
    """A drill whose world has already stopped: its log and config stay behind."""
    session = start_drill(tmp_path / "drills", "alice", tmp_path / "keys", probe_interval=1)
    session.world.stop()
    yield session


# ---- the config beside the log ------------------------------------------------------------------


def test_the_drill_keeps_its_config_beside_its_log(ended_drill: DrillSession) -> None:
    log_path = ended_drill.log_path
    config_path = incident_config_path(log_path)
    assert config_path == log_path.with_name(log_path.name + ".config.toml")
    mode = config_path.lstat().st_mode
    assert stat.S_ISREG(mode)
    assert stat.S_IMODE(mode) in (0o644, 0o600)
    # What the drill's own screen runs on is what a joiner reads, from any directory.
    assert load_config(config_path) == ended_drill.config
    assert ended_drill.config.tls.ca_file is not None
    assert ended_drill.config.tls.ca_file.is_absolute()
    assert [name for name in os.listdir(log_path.parent) if name.startswith(".")] == []
    assert is_drill_log(log_path)


def test_the_config_refuses_a_planted_symlink_and_never_writes_through_it(
    tmp_path: Path,
) -> None:
    """A symlink is not a regular file: it is neither written through nor replaced
    (cockpit.output_file); the error names where it points."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    target = tmp_path / "inc.config.toml"
    target.symlink_to(victim)
    with pytest.raises(OutputFileError, match=f"symbolic link to the file {victim}"):
        write_config_file(target, "[domain]\n")
    assert victim.read_text() == "keep me\n"
    assert target.is_symlink() and target.resolve() == victim
    assert sorted(os.listdir(tmp_path)) == ["inc.config.toml", "victim.txt"]


def test_the_config_beside_the_log_comes_before_the_search_but_not_before_config(
    ended_drill: DrillSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_path = ended_drill.log_path
    monkeypatch.setenv("COCKPIT_CONFIG", str(tmp_path / "elsewhere.toml"))  # does not exist
    config, warning = load_optional_config(None, incident=str(log_path))
    assert warning is None and config == ended_drill.config
    # An explicit --config wins, even over the incident's own config.
    with pytest.raises(ConfigError, match="missing.toml"):
        load_optional_config(str(tmp_path / "missing.toml"), incident=str(log_path))
    # A log without a config beside it: the search as before.
    other = tmp_path / "other.jsonl"
    config, warning = load_optional_config(None, incident=str(other))
    assert config is None and warning is not None and "elsewhere.toml" in warning


def test_a_link_in_place_of_the_incident_config_is_not_followed(tmp_path: Path) -> None:
    log_path = tmp_path / "inc.jsonl"
    real = tmp_path / "real.toml"
    real.write_text("[domain]\nname = 'example.com'\n")
    incident_config_path(log_path).symlink_to(real)
    config, warning = load_optional_config(None, incident=str(log_path))
    assert config is None
    assert warning is not None and "symbolic link" in warning and "inc.jsonl.config.toml" in warning


def test_an_ordinary_log_is_no_drill(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    IncidentLog(path).append("system", "incident log opened", {"event": "opened"}, author="a")
    assert not is_drill_log(path)
    assert not is_drill_log(tmp_path / "missing.jsonl")
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    assert not is_drill_log(fifo)  # at once: never waits for a writer


def test_cockpit_log_checks_a_target_against_the_drills_regions(
    ended_drill: DrillSession, tmp_path: Path
) -> None:
    log = str(ended_drill.log_path)
    env = {"COCKPIT_CONFIG": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "x")}
    bad = run_cockpit("log", log, "Fail over", "--decision", "--target-region", "tertiary", env=env)
    assert bad.returncode != 0
    assert "primary" in bad.stderr and "secondary" in bad.stderr
    done = run_cockpit(
        "log",
        log,
        "Fail over",
        "--decision",
        "--target-region",
        "secondary",
        "--author",
        "bob",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (decision,) = [e for e in read_log(ended_drill.log_path).entries if e.kind == "decision"]
    assert (decision.author, decision.data["target_region"]) == ("bob", "secondary")


# ---- after the drill: unknown, never ok ---------------------------------------------------------


async def test_a_joiner_after_the_drill_ended_sees_unknown_never_ok(
    ended_drill: DrillSession,
) -> None:
    log_path = ended_drill.log_path
    config, warning = load_optional_config(None, incident=str(log_path))
    assert warning is None and config is not None
    app = CockpitApp(log_path, author="bob", config=config, drill=is_drill_log(log_path))
    async with app.run_test(size=(120, 40)) as pilot:
        runner = app.query_one("#probes")

        def areas() -> set[str]:
            return {finding.area for finding in runner.live.findings()}

        await wait_for(
            pilot, "dns, queue and service findings", lambda: {"dns", "queue"} <= areas(), 15
        )
        findings = runner.live.findings()
        assert [f for f in findings if f.status is Status.OK] == []
        queue = [f for f in findings if f.area == "queue"]
        assert queue and all(f.status is Status.UNKNOWN and f.summary for f in queue)
        assert app.drill


# ---- two cockpits in tmux: the joiner records the failover --------------------------------------


def _authoritative_mx(config_path: Path) -> str:
    """The MX answer of the drill's authoritative server now ("" when it does not answer)."""
    address = load_config(config_path).dns.authoritative[0]
    query = dns.message.make_query("drill.example", dns.rdatatype.MX)
    try:
        answer = dns.query.udp(query, address.ip, port=address.port, timeout=1)
    except (OSError, dns.exception.Timeout):
        return ""
    return " ".join(str(rrset) for rrset in answer.answer)


def _wait(what: str, check: Callable[[], object], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        time.sleep(0.1)


def test_a_second_cockpit_joins_the_drill_and_records_the_failover(
    tmux: Tmux,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    drills = tmp_path / "drills"
    env = {
        "TERM": "xterm-256color",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "x"),
        # Set, and pointing nowhere: the drill's config beside its log must come first.
        "COCKPIT_CONFIG": str(tmp_path / "not-this.toml"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PROJECT_ROOT),
        # Under pytest the tmux server's own environment says 80x24: the sessions are 120x40.
        "COLUMNS": "120",
        "LINES": "40",
    }
    cockpit = [sys.executable, "-m", "cockpit"]
    tmux.start("alice", [*cockpit, "drill", "--dir", str(drills), "--author", "alice"], env)
    _wait("the drill's log", lambda: list(drills.glob("*.jsonl")), 15)
    (log_path,) = drills.glob("*.jsonl")
    config_path = incident_config_path(log_path)
    assert config_path.is_file()
    # Live panes: the drill's queue source, and a DNS sweep of its resolvers.
    tmux.wait_for("alice", lambda shown: "primary-mx" in shown and "last sweep" in shown)

    tmux.start("bob", [*cockpit, "--incident", str(log_path), "--author", "bob"], env)
    joined = tmux.wait_for("bob", lambda shown: "primary-mx" in shown and "last sweep" in shown)
    assert "no config" not in joined and "DRILL" in joined

    # bob records the failover with keys only. Each group of keys waits for the last one to
    # be read: a burst would reach the form before its fields have focus.
    def press(*keys: str) -> None:
        for key in keys:
            tmux.keys("bob", key)
            time.sleep(0.3)

    press("d")
    tmux.wait_for("bob", lambda shown: "Record a decision" in shown, within=5)
    tmux.keys("bob", "-l", "Fail over to secondary")
    time.sleep(0.3)
    press("Tab")
    tmux.keys("bob", "-l", "primary storage lost")
    time.sleep(0.3)
    press("Tab", "Tab", "Enter")  # the target: open the list of the drill's regions
    time.sleep(0.5)  # the list opens; a wrong pick shows in the decision's target below
    press("Down", "Down", "Enter", "Tab", "Enter")  # secondary, then Record

    def decisions() -> list[tuple[str, str, object]]:
        entries = read_log(log_path).entries
        return [
            (e.author, e.text, e.data.get("target_region")) for e in entries if e.kind == "decision"
        ]

    _wait("bob's decision in the log", decisions, 10)
    assert decisions() == [("bob", "Fail over to secondary", "secondary")]
    tmux.wait_for("bob", lambda shown: "Is traffic routed there now?" in shown, within=5)
    press("n")
    # The drill's world follows a decision taken in another cockpit.
    _wait(
        "the world publishes secondary", lambda: "secondary" in _authoritative_mx(config_path), 10
    )
    for name in ("alice", "bob"):
        tmux.keys(name, "5")  # the timeline, zoomed: the decision stays on screen
    for name in ("alice", "bob"):
        tmux.wait_for(
            name,
            lambda shown: "decision bob: Fail over to secondary" in shown,
            within=10,
        )
    for name in ("alice", "bob"):
        tmux.keys(name, "Escape")
    time.sleep(0.3)
    for name in ("alice", "bob"):
        tmux.wait_for(name, lambda shown: "target secondary" in shown, within=5)

    # The drill ends and its log says so (bob, the probe writer now, may write after it).
    tmux.keys("alice", "C-q")
    _wait(
        "the drill's end in its log",
        lambda: any(
            e.data.get("event") == WORLD_STOPPED_EVENT and e.author == "alice"
            for e in read_log(log_path).entries
        ),
        10,
    )
