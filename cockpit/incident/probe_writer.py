"""Which of several cockpits on one incident writes the probe entries: the one holding a lock.

Every cockpit probes and shows what it sees, but only one appends `probe` entries, or three
cockpits in a war room would log each resolver flip three times. The writer is whoever holds
an exclusive `flock` on `INCIDENT.probes.lock`; it keeps it until it exits (or is killed: the
kernel releases it), and then the next cockpit to try takes over. Never blocks: the lock file
stays open after a failed try, so trying again (every TAKEOVER_S) is one flock call.

    writer = ProbeWriterLock(log_path)
    if writer.try_hold():
        ...append the probe entries...
    writer.release()
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["TAKEOVER_S", "ProbeWriterLock"]

TAKEOVER_S = 0.5
"""How often a cockpit that does not write the probe entries tries to take the lock: a writer
that died is replaced within about this long."""


class ProbeWriterLock:
    def __init__(self, log_path: Path) -> None:
        self.path = Path(f"{log_path}.probes.lock")
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_hold(self) -> bool:
        """True when this process holds the lock (now or already), False when another cockpit
        does; never waits. Creates the log's directory as the log does. Raises OSError when
        the lock file cannot be opened or locked for another reason (SideFileError when it is
        not a regular file: a symbolic link is never followed, a FIFO never waited on)."""
        if self._held:
            return True
        if self._fd is None:
            from cockpit.incident.log_files import open_side_file

            self._fd = open_side_file(self.path, os.O_RDWR)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            self.release()
            raise
        self._held = True
        return True

    def release(self) -> None:
        self._held = False
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
