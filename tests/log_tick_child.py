"""A separate process that ticks one built-in checklist step, for the shared-incident tests.

usage: python tests/log_tick_child.py PATH AUTHOR STEP_ID PAUSE_SECONDS

Prints "ready", waits for one line on stdin, then appends the tick the way the checklist pane
does: `IncidentLog.append_built` with `mark_done` on the state read under the lock. The build
pauses PAUSE_SECONDS after reading, which widens the window another writer would need to slip
an entry in between the read and the append. Prints "seq result" and exits 0, or 1.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from cockpit.errors import IncidentLogError
from cockpit.incident.checklist import checklist_state, mark_done
from cockpit.incident.entry import Entry
from cockpit.incident.log import EntryParts, IncidentLog
from cockpit.incident.runbook import BUILTIN_STEPS


def main(argv: list[str]) -> int:
    path, author, step_id, pause = argv[0], argv[1], argv[2], float(argv[3])

    def build(entries: Sequence[Entry]) -> list[EntryParts]:
        state = checklist_state(BUILTIN_STEPS, entries)
        time.sleep(pause)
        return [mark_done(state, step_id, author)]

    print("ready", flush=True)
    if not sys.stdin.readline():
        return 0
    try:
        (entry,) = IncidentLog(path).append_built(build, author=author)
    except IncidentLogError as exc:
        print(f"log_tick_child: {exc}", file=sys.stderr)
        return 1
    print(f"{entry.seq} {entry.data['result']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
