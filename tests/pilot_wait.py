"""Waiting in Pilot tests: bounded loops that let the app run between checks."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


async def settle(pilot: Pilot[None], until: Callable[[], bool], seconds: float = 3.0) -> bool:
    """Pause in short steps until `until()` holds, at most `seconds`; whether it holds."""
    for _ in range(int(seconds / 0.05)):
        if until():
            return True
        await pilot.pause(0.05)
    return until()


async def wait_for(
    pilot: Pilot[None], what: str, condition: Callable[[], bool], within: float
) -> None:
    """Pause until `condition()` holds; AssertionError naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        await pilot.pause(0.05)
