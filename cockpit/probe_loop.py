"""One background thread with its own asyncio loop, where every probe's I/O runs.

The screen's loop only waits on futures from here, so a parse that takes CPU time (a big
`postqueue -j`), a TLS handshake or a flood of DNS answers never holds up a key press or the
clock, and quitting does not wait for a hung queue command: `stop` cancels what is running
(a queue command's process group is killed on cancellation) and the thread is a daemon.

    loop = ProbeLoop()
    loop.start()
    result = await loop.run(sweep(config))        # from the screen's loop; cancellable there
    loop.stop()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["ProbeLoop"]

T = TypeVar("T")

STOP_GRACE_S = 2.0
"""How long `stop` lets cancelled probes clean up (kill their processes) before giving up."""


class ProbeLoop:
    """A daemon thread running an asyncio event loop for probe coroutines."""

    def __init__(self, name: str = "cockpit-probes") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = False
        self._stopping = False

    def _serve(self) -> None:
        # The loop is stopped but never closed: a caller cancelled after `stop` (Textual cancels
        # its workers after the widgets unmount) still schedules its cancel here harmlessly,
        # where a closed loop would raise inside asyncio's future chaining.
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def running(self) -> bool:
        return (
            self._started
            and not self._stopping
            and self._thread.is_alive()
            and not self._loop.is_closed()
        )

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the probe loop and wait for it from the calling loop.

        Cancelling the caller cancels `work`. Raises RuntimeError once `stop` was called.
        """
        if not self.running:
            work.close()
            raise RuntimeError("the probe loop is not running")
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        return await asyncio.wrap_future(future)

    def run_blocking(self, work: Coroutine[Any, Any, T], *, timeout: float) -> T | None:
        """Run `work` on the probe loop and wait for it from another thread, at most `timeout`
        seconds (then it is cancelled and None returned); for clean-up before `stop`."""
        if not self.running:
            work.close()
            return None
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout)
        except Exception:  # noqa: BLE001 - a clean-up that fails or overruns is given up
            future.cancel()
            return None

    def stop(self) -> None:
        """Cancel every probe, give them STOP_GRACE_S to clean up, and end the thread."""
        if not self.running:
            return
        self._stopping = True  # `run` refuses new work from now on
        done = threading.Event()

        async def _cancel_all() -> None:
            for _ in range(2):  # a second pass for work handed over while the first ran
                tasks = [
                    task
                    for task in asyncio.all_tasks(self._loop)
                    if task is not asyncio.current_task()
                ]
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            done.set()

        asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop)
        done.wait(STOP_GRACE_S + 0.5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1.0)
