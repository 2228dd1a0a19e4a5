"""A timeout is a budget: one question, its retry included, costs at most `[dns].timeout`.

Real nsd and unbound on loopback: a frozen resolver (SIGSTOP: it reads questions and never
answers), and a lossy relay in front of a real resolver (tests/lab/lossy_relay.py) that loses
or delays chosen questions, the way a network does. The last test times a whole
`cockpit check --only dns` process with `timeout = 1` and one resolver frozen, against the
process's own start-up measured in the same test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.query import query
from tests.conftest import run_cockpit
from tests.lab import guard_loopback
from tests.lab.dnslab import DnsLab, LabFactory
from tests.lab.lossy_relay import LossyRelay
from tests.test_dns_sweep import ZONE, lab_zones, write_config

pytest_plugins = ["tests.lab.dnslab"]

BUDGET = 0.6
RELAY_IP = "127.0.53.91"
SCHEDULING = 0.1
"""What a loaded two-core machine may add to a timing measured in-process."""


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> DnsLab:
    return dns_lab_module(lab_zones("primary"), resolver_count=2)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    guard_loopback(monkeypatch)
    yield


def timed_mx(address: tuple[str, int], timeout: float = BUDGET) -> tuple[Observation, float]:
    started = time.monotonic()
    seen = asyncio.run(query(ServerSpec("r", *address), ZONE, "MX", timeout=timeout))
    return seen, time.monotonic() - started


def test_the_retry_goes_out_at_half_the_budget_and_the_question_ends_with_it(
    lab: DnsLab,
) -> None:
    with LossyRelay(RELAY_IP, lab.resolver_address(0), drop=None) as relay:
        seen, elapsed = timed_mx(relay.address)
    assert seen.outcome is Outcome.TIMEOUT and seen.attempts == 2
    assert seen.error is not None and f"within {BUDGET:g} s (2 attempts)" in seen.error
    assert BUDGET <= elapsed < BUDGET * 1.1 + SCHEDULING, elapsed
    [(first, _, first_port), (second, _, second_port)] = relay.arrivals
    assert BUDGET / 2 - 0.02 <= second - first < BUDGET / 2 + SCHEDULING
    # A new socket: a late reply to the first question is still heard on its own.
    assert first_port != second_port


def test_a_lost_question_is_answered_by_the_retry_within_the_budget(lab: DnsLab) -> None:
    with LossyRelay(RELAY_IP, lab.resolver_address(0), drop={0}) as relay:
        seen, elapsed = timed_mx(relay.address)
    assert seen.outcome is Outcome.ANSWER and seen.answers == ("10 mx1.example.test",)
    assert seen.attempts == 2 and len(relay.arrivals) == 2
    assert BUDGET / 2 <= elapsed < BUDGET / 2 + SCHEDULING, elapsed


def test_a_slow_first_reply_still_wins_after_the_retry_went_out(lab: DnsLab) -> None:
    """The first reply comes at 0.7 of the budget, the retry is lost: the first socket still
    listens, so the answer is taken as soon as it comes, not a timeout."""
    delays = {0: BUDGET * 0.7}
    with LossyRelay(RELAY_IP, lab.resolver_address(0), drop={1}, delays=delays) as relay:
        seen, elapsed = timed_mx(relay.address)
    assert seen.outcome is Outcome.ANSWER and seen.attempts == 2 and len(relay.arrivals) == 2
    assert BUDGET * 0.7 <= elapsed < BUDGET * 0.7 + SCHEDULING, elapsed
    assert seen.latency_ms is not None and seen.latency_ms >= BUDGET * 0.7 * 1000


def test_a_quick_answer_sends_no_retry(lab: DnsLab) -> None:
    with LossyRelay(RELAY_IP, lab.resolver_address(0), drop=()) as relay:
        seen, elapsed = timed_mx(relay.address)
    assert seen.outcome is Outcome.ANSWER and seen.attempts == 1 and len(relay.arrivals) == 1
    assert elapsed < BUDGET / 2


def test_more_retries_share_the_same_budget(lab: DnsLab) -> None:
    with LossyRelay(RELAY_IP, lab.resolver_address(0), drop=None) as relay:
        started = time.monotonic()
        seen = asyncio.run(
            query(ServerSpec("r", *relay.address), ZONE, "MX", timeout=BUDGET, retries=3)
        )
        elapsed = time.monotonic() - started
    assert seen.outcome is Outcome.TIMEOUT and seen.attempts == 4
    assert BUDGET <= elapsed < BUDGET * 1.1 + SCHEDULING, elapsed
    sent = [arrived for arrived, _, _ in relay.arrivals]
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    assert len(gaps) == 3, gaps
    assert all(BUDGET / 4 - 0.02 <= gap < BUDGET / 4 + SCHEDULING for gap in gaps), gaps


# --- a whole process --------------------------------------------------------------------------


def _wall(pycache: Path, *args: str) -> tuple[float, int, str]:
    """One whole process. Its bytecode is cached in `pycache` (as an installed cockpit's is),
    even where the environment says not to write it: compiling every module at every start
    is not the start-up a commander sees."""
    env = {"CI": "true", "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(pycache)}
    started = time.monotonic()
    done = run_cockpit(*args, env=env, timeout=60)
    return time.monotonic() - started, done.returncode, done.stderr


def _best_of(rounds: int, pycache: Path, command: tuple[str, ...], *, expected_code: int) -> float:
    """The shortest of `rounds` whole runs, each checked for its exit code. The other test
    workers' load only ever adds to a wall time, so the shortest is the fair figure: the same
    as start-up's, against which it is compared."""
    times = []
    for _ in range(rounds):
        wall, code, stderr = _wall(pycache, *command)
        assert code == expected_code, stderr
        times.append(wall)
    return min(times)


def test_check_only_dns_with_a_frozen_resolver_costs_one_timeout_in_a_whole_process(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """`timeout = 1`, one resolver frozen: the whole `cockpit check --only dns` process ends
    within the timeout plus 10 % plus the process's start-up (and a slack for a loaded
    machine). Before the budget, the retry after a full timeout made it 2.2 s or more.

    Start-up is measured here, best of three: `cockpit config check` on the same file (the
    interpreter, the imports and loading the config: everything but the probes), and
    `cockpit check --help` for comparison. The healthy and the frozen runs are best of three
    too: with other test workers busy on two cores, one run once took 1.76 s where an idle
    machine takes 1.39 s."""
    timeout = 1.0
    lab = dns_lab(lab_zones("primary"), resolver_count=3)
    config = str(write_config(tmp_path, lab, timeout=timeout))
    command = ("check", "--config", config, "--only", "dns", "--json")
    pycache = tmp_path / "pycache"
    _wall(pycache, *command)  # compiles and caches every module the check needs
    help_startup = min(_wall(pycache, "check", "--help")[0] for _ in range(3))
    startup = min(_wall(pycache, "config", "check", "--config", config)[0] for _ in range(3))
    healthy = _best_of(3, pycache, command, expected_code=0)
    lab.freeze(2)
    try:
        # The frozen resolver's answers are unknown: exit code 1.
        frozen = _best_of(3, pycache, command, expected_code=1)
    finally:
        lab.thaw(2)
    print(
        f"\nstart-up: check --help {help_startup:.2f} s, config check {startup:.2f} s;"
        f" check --only dns: healthy {healthy:.2f} s, one resolver frozen {frozen:.2f} s;"
        f" timeout {timeout:g} s"
    )
    assert frozen < timeout * 1.1 + startup + 0.5, (frozen, startup, healthy)
    # What the frozen resolver adds to a healthy run is one timeout, not two.
    assert frozen - healthy < timeout * 1.1 + 0.5, (frozen, healthy)
