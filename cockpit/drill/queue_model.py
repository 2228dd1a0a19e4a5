"""The drill's queue depths: a small model stepped once a second of the world's clock.

Per region, once a second:
  - down, and the published MX still points at it: messages pile up, 30 to 60 a minute (a seeded
    RNG adds the jitter, so a drill replays the same way for the same seed and the same events);
  - otherwise its backlog drains, oldest first, at 80 a minute, never below 0;
  - healthy and receiving the mail: a handful of messages in flight on top.

The model is advanced lazily to the moment asked about, and `set_state` first advances it to
the moment of the change, so a switch counts from when it happened. Pure: no I/O, no threads;
the world holds the lock.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

GROWTH_PER_MINUTE = (30.0, 60.0)
DRAIN_PER_MINUTE = 80.0
IN_FLIGHT = (0, 4)
MAX_CATCH_UP_SECONDS = 6 * 3600
"""A gap longer than this is skipped rather than stepped second by second."""


@dataclass(frozen=True, slots=True)
class QueueReading:
    region: str
    depth: int
    oldest_age_s: float

    def to_json(self) -> dict[str, object]:
        return {"region": self.region, "depth": self.depth, "oldest_age_s": self.oldest_age_s}


@dataclass(slots=True)
class _RegionQueue:
    backlog: deque[list[float]] = field(default_factory=deque)
    """[arrival second, count] batches, oldest first."""
    growth_carry: float = 0.0
    drain_carry: float = 0.0
    in_flight: int = 0

    @property
    def depth(self) -> int:
        return int(sum(batch[1] for batch in self.backlog)) + self.in_flight

    def drain(self, count: int) -> None:
        while count > 0 and self.backlog:
            batch = self.backlog[0]
            taken = min(count, int(batch[1]))
            batch[1] -= taken
            count -= taken
            if batch[1] <= 0:
                self.backlog.popleft()


class QueueModel:
    def __init__(self, regions: Iterable[str], *, seed: int, start: float) -> None:
        self._queues = {name: _RegionQueue() for name in regions}
        self._rng = random.Random(seed)
        self._next_tick = start
        self._down: frozenset[str] = frozenset()
        self._routed_to: str | None = None

    def set_state(self, now: float, *, down: Iterable[str], routed_to: str) -> None:
        """From `now` on: these regions are down and the published MX points at `routed_to`."""
        self.advance(now)
        self._down = frozenset(down)
        self._routed_to = routed_to

    def reading(self, region: str, now: float) -> QueueReading | None:
        """The region's queue at `now`, or None for an unknown region."""
        queue = self._queues.get(region)
        if queue is None:
            return None
        self.advance(now)
        oldest = max(0.0, now - queue.backlog[0][0]) if queue.backlog else 0.0
        return QueueReading(region, queue.depth, round(oldest, 1))

    def advance(self, now: float) -> None:
        if now - self._next_tick > MAX_CATCH_UP_SECONDS:
            self._next_tick = now - MAX_CATCH_UP_SECONDS
        while self._next_tick <= now:
            self._step(self._next_tick)
            self._next_tick += 1.0

    def _step(self, second: float) -> None:
        for name, queue in self._queues.items():
            receiving = name == self._routed_to
            if name in self._down and receiving:
                queue.growth_carry += self._rng.uniform(*GROWTH_PER_MINUTE) / 60.0
                arrived = int(queue.growth_carry)
                queue.growth_carry -= arrived
                if arrived:
                    queue.backlog.append([second, float(arrived)])
                queue.in_flight = 0
                continue
            queue.drain_carry += DRAIN_PER_MINUTE / 60.0
            delivered = int(queue.drain_carry)
            queue.drain_carry -= delivered
            queue.drain(delivered)
            healthy_and_receiving = receiving and name not in self._down
            queue.in_flight = self._rng.randint(*IN_FLIGHT) if healthy_and_receiving else 0
