"""The screen while another writer holds the log's lock (a suspended `cockpit log`): the
write says who holds it, quitting does not wait for the holder, and the waiting write never
lands after the user has gone. A real holder process, SIGSTOPped as Ctrl+Z would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.incident.log import IncidentLog
from cockpit.ui.header import IncidentHeader
from tests.pilot_wait import settle
from tests.test_log_lock import HOLD
from tests.test_ui_app import make_app, write_incident

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_held_lock_is_shown_and_quitting_abandons_the_write(tmp_path: Path) -> None:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    before = len(IncidentLog(path).read().entries)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            # Issue 13: the severity is not set before the log's state has been read.
            assert await settle(pilot, lambda: app.query_one(IncidentHeader).loading is None)
            await pilot.press("v")
            await pilot.press("2", "enter")
            waiting = f"waiting to write (held by pid {holder.pid} on "
            assert await settle(
                pilot, lambda: any(waiting in str(n.message) for n in app._notifications)
            )
            started = time.monotonic()
            app.exit()
        quit_took = time.monotonic() - started
        assert quit_took < 1.5, quit_took  # not the 5 s lock wait, not the holder's whim
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
        holder.wait(timeout=10)
    time.sleep(0.3)  # a write that had not given up would land now that the lock is free
    assert len(IncidentLog(path).read().entries) == before
