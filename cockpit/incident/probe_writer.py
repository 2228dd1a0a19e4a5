"""Which of several cockpits on one incident writes the probe entries: the one holding a lock.

Every cockpit probes and shows what it sees, but only one appends `probe` entries, or three
cockpits in a war room would log each resolver flip three times. The writer is whoever holds
an exclusive `flock` on `INCIDENT.probes.lock`; it keeps it until it exits (or is killed: the
kernel releases it), and then the next cockpit to try takes over. Never blocks.

    writer = ProbeWriterLock(log_path)
    if writer.try_hold():
        ...append the probe entries...
    writer.release()
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["ProbeWriterLock"]


class ProbeWriterLock:
    def __init__(self, log_path: Path) -> None:
        self.path = Path(f"{log_path}.probes.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_hold(self) -> bool:
        """True when this process holds the lock (now or already), False when another cockpit
        does; never waits. Creates the log's directory as the log does. Raises OSError when
        the lock file cannot be opened or locked for another reason."""
        if self._fd is not None:
            return True
        from cockpit.incident.log_files import open_making_directories

        fd = open_making_directories(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
