"""cockpit.race: tries of one question share one budget; the first final result wins.

Pure scheduling, no servers: each try is a coroutine that sleeps and returns what a probe
would. The servers themselves are in test_dns_budget.py and test_auth_budget.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from cockpit.race import RaceOutcome, race

BUDGET = 0.4
SCHEDULING = 0.1


def run(
    behaviour: dict[int, tuple[float, str]], *, count: int, budget: float = BUDGET
) -> tuple[RaceOutcome[str], list[tuple[int, float]], list[int], float]:
    """Try k sleeps behaviour[k][0] (capped at what is left) and returns behaviour[k][1], or
    "timeout" when it ran out of time first. Returns the outcome, when each try started,
    which tries were cancelled, and the race's wall time."""
    started: list[tuple[int, float]] = []
    cancelled: list[int] = []

    async def attempt(index: int, seconds_left: float) -> str:
        started.append((index, time.monotonic()))
        delay, result = behaviour[index]
        try:
            await asyncio.sleep(min(delay, seconds_left))
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        return result if delay <= seconds_left else "timeout"

    async def main() -> RaceOutcome[str]:
        return await race(attempt, count=count, budget=budget, final=lambda r: r == "answer")

    began = time.monotonic()
    outcome = asyncio.run(main())
    elapsed = time.monotonic() - began
    return outcome, [(i, at - began) for i, at in started], cancelled, elapsed


def test_no_answer_the_retry_goes_out_at_half_and_the_whole_costs_the_budget() -> None:
    outcome, started, _, elapsed = run({0: (9, "answer"), 1: (9, "answer")}, count=2)
    assert outcome.winner is None and outcome.started == 2
    assert [result for _, result in outcome.ended] == ["timeout", "timeout"]
    assert started[0][1] < 0.05 and BUDGET / 2 - 0.01 <= started[1][1] < BUDGET / 2 + SCHEDULING
    assert BUDGET <= elapsed < BUDGET * 1.1 + SCHEDULING


def test_a_quick_failure_sends_the_retry_at_once() -> None:
    outcome, started, _, elapsed = run({0: (0.01, "refused"), 1: (0.01, "answer")}, count=2)
    assert outcome.winner == "answer" and outcome.started == 2
    assert started[1][1] < 0.1 and elapsed < 0.15


def test_the_first_try_answering_after_the_retry_went_out_wins_and_the_retry_is_dropped() -> None:
    outcome, _, cancelled, elapsed = run({0: (BUDGET * 0.7, "answer"), 1: (9, "x")}, count=2)
    assert outcome.winner == "answer" and outcome.started == 2
    assert outcome.ended == ((0, "answer"),) and cancelled == [1]
    assert BUDGET * 0.7 <= elapsed < BUDGET * 0.7 + SCHEDULING


def test_a_quick_answer_starts_no_retry() -> None:
    outcome, started, _, elapsed = run({0: (0.01, "answer"), 1: (0.01, "answer")}, count=2)
    assert outcome.winner == "answer" and outcome.started == 1 and len(started) == 1
    assert elapsed < BUDGET / 2


def test_last_by_index_and_last_to_end() -> None:
    outcome, _, _, _ = run({0: (0.3, "late"), 1: (0.01, "refused")}, count=2, budget=0.4)
    # try 1 starts at 0.2 and fails at once; try 0 ends at 0.3
    assert [index for index, _ in outcome.ended] == [1, 0]
    assert outcome.last_by_index() == "refused" and outcome.last_to_end() == "late"


def test_bad_arguments() -> None:
    async def attempt(index: int, seconds_left: float) -> str:
        return "x"

    with pytest.raises(ValueError):
        asyncio.run(race(attempt, count=0, budget=1, final=bool))
    with pytest.raises(ValueError):
        asyncio.run(race(attempt, count=1, budget=0, final=bool))
