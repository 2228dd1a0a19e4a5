"""The screen's output lost for good: end the cockpit instead of hanging.

When the reader of the screen's output goes away (`cockpit | tee` whose tee died, a wrapper
that closed its end), Textual's writer thread dies on the broken pipe. The screen's thread
then waits for ever to hand it the next frame: keys, timers and signal handlers no longer run
(a SIGTERM the kernel gives to another thread is never handled), and one input thread spins
on the closed terminal. A real hangup is not this case (the pty's SIGHUP ends the cockpit).

`watch_output(app)` starts a daemon thread that looks, every WATCH_SECONDS, whether the
driver's writer thread is still alive while the app runs and is not exiting; when it died,
`cockpit.children.output_gone` keeps the drafts, ends the child groups and exits (141).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.app import App

__all__ = ["WATCH_SECONDS", "watch_output", "writer_gone"]

WATCH_SECONDS = 0.5


def writer_gone(app: App[object]) -> bool:
    """The app runs, is not exiting, and its driver's writer thread has died."""
    driver = getattr(app, "_driver", None)
    writer = getattr(driver, "_writer_thread", None)
    if not isinstance(writer, threading.Thread) or writer.ident is None:
        return False  # not started yet, or a driver without one (headless tests)
    if writer.is_alive() or getattr(app, "_exit", False) or not app.is_running:
        return False
    return True


def watch_output(
    app: App[object], gone: Callable[[], None] | None = None, interval: float = WATCH_SECONDS
) -> threading.Thread:
    """Start the watcher; `gone` (default cockpit.children.output_gone) when the output died."""
    if gone is None:
        from cockpit.children import output_gone

        gone = output_gone

    def watch() -> None:
        started = False
        while True:
            time.sleep(interval)
            running = app.is_running
            started = started or running
            if started and not running:
                return  # the app ended: nothing to watch
            if writer_gone(app):
                gone()
                return

    thread = threading.Thread(target=watch, name="cockpit-output-watch", daemon=True)
    thread.start()
    return thread
