"""Quitting never waits for a stuck thread.

A thread worker stuck in a system call (an export writing into a FIFO nobody reads, a read of
a log on a hung network file system) cannot be cancelled, and the asyncio loop the screen runs
on joins every such thread before the process ends: the cockpit would hang after `q`, with
its terminal already given back. Once the user quits (everything typed is kept as drafts, and
pending log writes were abandoned, before this starts), `end_within` gives the screen's run
EXIT_GRACE_S to return, then says so on stderr, ends the child process groups and exits.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["EXIT_GRACE_S", "end_within"]

EXIT_GRACE_S = 10.0


def end_within(
    returned: threading.Event, grace: float = EXIT_GRACE_S, exit_code: int = 0
) -> threading.Thread:
    """Start a daemon thread that ends the process `grace` seconds from now, unless
    `returned` is set first (the screen's run returned: what follows, like a drill's clean-up,
    is not cut short)."""

    def watch() -> None:
        if returned.wait(grace):
            return
        from cockpit.children import end_all

        try:
            sys.stderr.write(
                f"cockpit: warning: a background task did not end within {grace:g} s after"
                " quitting (an export into a FIFO nobody reads, or a hung file system?);"
                " ended anyway: nothing typed was lost (drafts are kept beside the log)\n"
            )
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        end_all()
        os._exit(exit_code)

    thread = threading.Thread(target=watch, name="cockpit-exit-watch", daemon=True)
    thread.start()
    return thread
