"""Every process group cockpit started ends when cockpit does, however it ends.

Queue, replication and role commands run in their own process group (queue/runner.py), so a
hung `ssh mx1 postqueue -j` is killed as a group at its timeout. When cockpit itself goes away
first (the tmux pane is killed: SIGHUP; the session manager stops it: SIGTERM; a normal quit
or an exception), those groups would live on as orphans, one more at every reconnect. So:

- `started(pgid)` / `ended(pgid)` keep the set of live groups (the runner calls them);
- `started_process(marker, pid)` / `ended_process(marker)` keep processes that live on by
  themselves, like an ssh master gone to the background (cockpit.vantage.ssh): such a process
  can die without us noticing and its pid be reused, so it is ended only if its command line
  (/proc, Linux) still holds `marker`, and with SIGTERM (it cleans up after itself);
- `end_all()` sends SIGKILL to every live group and SIGTERM to every such process that is
  still ours (idempotent, safe from a signal handler);
- `install()`, called once by the command line in the main thread, runs `end_all` at exit
  (atexit) and on SIGHUP and SIGTERM, after which the signal takes its usual course (the
  previous handler if there was one, else the default action: the process ends);
- `on_signal(callback)` / `forget_signal(callback)`: the cockpit screen is called first on
  SIGHUP/SIGTERM, to keep what was typed but not written as drafts (cockpit.ui.draft_keeper).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_lock = threading.Lock()
_live: set[int] = set()
_processes: dict[str, int] = {}
"""marker -> pid of a process that lives on by itself (started_process)."""
_installed = False
_on_signal: list[Callable[[int], None]] = []

EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


def started(pgid: int) -> None:
    with _lock:
        _live.add(pgid)


def ended(pgid: int) -> None:
    with _lock:
        _live.discard(pgid)


def started_process(marker: str, pid: int) -> None:
    """Also end process `pid` at the end, if its command line still holds `marker`."""
    with _lock:
        _processes[marker] = pid


def ended_process(marker: str) -> None:
    with _lock:
        _processes.pop(marker, None)


def live_processes() -> dict[str, int]:
    with _lock:
        return dict(_processes)


def live() -> frozenset[int]:
    with _lock:
        return frozenset(_live)


def end_all() -> None:
    """SIGKILL every group still running, SIGTERM every process of started_process that is
    still ours (each is forgotten as it is ended)."""
    # No lock: a signal handler may interrupt a thread that holds it. A copy of a set that is
    # being changed can raise; take the groups one at a time instead.
    while True:
        try:
            pgid = _live.pop()
        except KeyError:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    while True:
        try:
            marker, pid = _processes.popitem()
        except KeyError:
            return
        if _still_ours(pid, marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)


def _still_ours(pid: int, marker: str) -> bool:
    """Whether process `pid` runs with `marker` in its command line (False where that cannot
    be read: an unknown process is never signalled)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return marker.encode() in file.read()
    except OSError:
        return False


def on_signal(callback: Callable[[int], None]) -> None:
    """Also call `callback(signum)` on SIGHUP/SIGTERM, before the groups are ended (drafts).

    It runs in the main thread, inside the signal handler: it must be quick and bounded (the
    cockpit keeps its typed text as drafts, then the process ends)."""
    _on_signal.append(callback)


def forget_signal(callback: Callable[[int], None]) -> None:
    """Stop calling `callback` (an app that has ended)."""
    with contextlib.suppress(ValueError):
        _on_signal.remove(callback)


def output_gone(exit_code: int = 141) -> None:
    """The screen's output is gone for good (its reader died) while the screen's thread may be
    stuck handing it a frame, where no signal handler can run: keep what was typed (the
    `on_signal` callbacks, as for SIGHUP), end every child group, and end the process at
    once (141: as SIGPIPE would). Called from a watcher thread (cockpit.ui.output_watch)."""
    for callback in list(_on_signal):
        with contextlib.suppress(Exception):
            callback(signal.SIGHUP)
    end_all()
    os._exit(exit_code)


def install() -> None:
    """End every child group at exit and on SIGHUP/SIGTERM. Main thread only; once."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    atexit.register(end_all)
    for signum in EXIT_SIGNALS:
        previous = signal.getsignal(signum)
        signal.signal(signum, _handler(previous))


def _handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        for callback in list(_on_signal):
            with contextlib.suppress(Exception):
                callback(signum)
        end_all()
        if callable(previous):
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handle
