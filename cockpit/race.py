"""A timeout is a budget: several tries at one question, the first good answer wins.

    outcome = await race(attempt, count=2, budget=timeout, final=is_answer)
    outcome.winner    # the first result `final` accepted, or None
    outcome.ended     # (index, result) of every try that ended, in the order they ended
    outcome.started   # how many tries were started

Try `k` (0-based) starts `k x budget / count` after the race began (with two tries: at once and
at half the budget), or at once when every try started so far has ended without a final
result (a refused connection, an unreachable address: waiting would only waste the budget).
Tries overlap: a slow first reply still wins when it comes before the retry's. `attempt(k,
seconds_left)` runs try `k` and must end by itself within `seconds_left` (it turns its own
timeout into a result, so the caller can say what happened); tries still running
BACKSTOP_S after the budget are cancelled and are missing from `ended`. When a final result
comes, every other try is cancelled at once.

So the whole question costs at most `budget` (plus scheduling noise), however many tries it
makes: a dead server costs one timeout, never one per retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BACKSTOP_S", "RaceOutcome", "race"]

T = TypeVar("T")

BACKSTOP_S = 0.05
"""How long past the budget the race still waits for tries to report their own timeout."""


@dataclass(frozen=True, slots=True)
class RaceOutcome(Generic[T]):
    winner: T | None
    """The first result `final` accepted; None when no try gave one."""
    ended: tuple[tuple[int, T], ...]
    """(try index, result) of every try that ended, in the order they ended (the winner last)."""
    started: int
    """How many tries were started (1 to `count`)."""

    def last_by_index(self) -> T | None:
        """The result of the latest try (by index) that ended; None when none did."""
        return max(self.ended, key=lambda item: item[0])[1] if self.ended else None

    def last_to_end(self) -> T | None:
        return self.ended[-1][1] if self.ended else None


async def race(
    attempt: Callable[[int, float], Awaitable[T]],
    *,
    count: int,
    budget: float,
    final: Callable[[T], bool],
) -> RaceOutcome[T]:
    """Run up to `count` tries of one question within `budget` seconds; see the module doc."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if budget <= 0:
        raise ValueError("budget must be positive")
    loop = asyncio.get_running_loop()
    began = loop.time()
    deadline = began + budget
    running: dict[asyncio.Future[T], int] = {}
    finished: list[asyncio.Future[T]] = []  # ended, in that order, not yet looked at
    ended: list[tuple[int, T]] = []
    waiter: asyncio.Future[None] | None = None

    def wake(_: object = None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_done(task: asyncio.Future[T]) -> None:
        finished.append(task)
        wake()

    def start_next() -> None:
        left = max(deadline - loop.time(), 0.001)
        index = len(running) + len(ended)
        task = asyncio.ensure_future(attempt(index, left))
        running[task] = index
        task.add_done_callback(on_done)

    # Plain callbacks and one timer rather than asyncio.wait: this runs once per DNS question,
    # hundreds per sweep, and a healthy question must cost little more than its one try.
    try:
        start_next()
        while True:
            while finished:
                task = finished.pop(0)
                index = running.pop(task)
                result = task.result()
                ended.append((index, result))
                if final(result):
                    return RaceOutcome(result, tuple(ended), len(running) + len(ended))
            started = len(running) + len(ended)
            now = loop.time()
            next_at = began + started * budget / count
            may_start = started < count and now < deadline
            if not running and not may_start:
                break
            if may_start and (not running or now >= next_at):
                start_next()
                continue
            if now >= deadline + BACKSTOP_S:
                break
            wake_at = min(next_at, deadline + BACKSTOP_S) if may_start else deadline + BACKSTOP_S
            waiter = loop.create_future()
            timer = loop.call_at(wake_at, wake)
            try:
                await waiter
            finally:
                timer.cancel()
                waiter = None
        return RaceOutcome(None, tuple(ended), len(running) + len(ended))
    finally:
        for task in running:
            task.remove_done_callback(on_done)
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
