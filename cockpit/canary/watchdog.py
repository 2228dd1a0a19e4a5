"""Bounding a blocking conversation (smtplib, imaplib) that runs in a worker thread.

    watch = Watchdog(deadline)              # time.monotonic() value
    with watch:                             # armed on enter, disarmed on exit
        watch.track(sock)                   # each new socket (after a TLS upgrade too)
        watch.left(cap=30)                  # seconds a socket operation may still wait
        if watch.stopped: ...               # the deadline passed or the run was cancelled
    watch.stop()                            # from another thread: end it now

A socket timeout bounds each read, but not a server that keeps sending (an endless multi-line
reply), nor the total of many reads. The watchdog shuts the tracked socket down
(SHUT_RDWR) when the deadline passes or `stop()` is called: the blocked or endlessly fed read
then ends with an error, so the worker thread always finishes soon after. An asyncio caller
that is cancelled calls `stop()`, so cancelling a run never leaves a thread waiting for minutes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["Watchdog"]


class Watchdog:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._stopped = threading.Event()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Watchdog:
        delay = max(0.0, self.deadline - time.monotonic())
        self._timer = threading.Timer(delay, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def track(self, sock: socket.socket | None) -> None:
        """The socket to shut down when the watchdog fires (the latest one wins)."""
        with self._lock:
            self._socket = sock
        if self.stopped:
            self._shut()

    def left(self, cap: float) -> float:
        """Seconds an operation may wait: at most `cap`, never past the deadline (>= 0.05)."""
        return max(0.05, min(cap, self.deadline - time.monotonic()))

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` (not past the deadline); True when stopped meanwhile."""
        return self._stopped.wait(max(0.0, min(seconds, self.deadline - time.monotonic())))

    def stop(self) -> None:
        """End the conversation now (any thread)."""
        self._stopped.set()
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            # The plain socket's shutdown, also for an SSLSocket: its own would drop the TLS
            # object under a thread that may be reading through it.
            with contextlib.suppress(OSError, ValueError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
