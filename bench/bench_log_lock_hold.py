"""How long a `cockpit log` note holds the incident log's lock on a big log (issue 13).

A 100,000-entry log is written once; then a note is appended the way `cockpit log` does
(`append_built`: the entry may depend on what the log says), timing from the moment the lock
is taken to the moment it is let go. Two ways side by side: reading the log before the lock
and checking its end under it (today), and reading the whole log under the lock (before).
Target: the lock held at most 10 ms at 100,000 entries.

Run from the project root: .venv/bin/python -m bench.bench_log_lock_hold [--entries N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.incident import log as log_module  # noqa: E402
from cockpit.incident.entry import Entry, utc_now  # noqa: E402
from cockpit.incident.log import IncidentLog  # noqa: E402

TARGET_MS = 10.0


def write_big_log(path: Path, count: int) -> None:
    """`count` note entries written as lines directly (the append path is not what is timed)."""
    now = utc_now()
    with open(path, "wb") as file:
        for seq in range(1, count + 1):
            entry = Entry(seq, now, "bench", {"host": "bench"}, "note", f"note {seq}", {"i": seq})
            file.write(entry.to_json_line())


def held_ms(path: Path, attempts: int, rounds: int) -> list[float]:
    """Lock hold times of `rounds` appends, each from a fresh IncidentLog (as a new process)."""
    holds: list[float] = []
    real_unlock = log_module._unlock
    taken: list[float] = []
    real_lock = IncidentLog._lock

    def timed_lock(self: IncidentLog) -> int:
        fd = real_lock(self)
        taken.append(time.perf_counter())
        return fd

    def timed_unlock(fd: int) -> None:
        real_unlock(fd)
        holds.append((time.perf_counter() - taken.pop()) * 1000)

    saved_attempts = log_module.BUILD_ATTEMPTS
    IncidentLog._lock = timed_lock  # type: ignore[method-assign]
    log_module._unlock = timed_unlock
    log_module.BUILD_ATTEMPTS = attempts
    try:
        for index in range(rounds):
            log = IncidentLog(path)
            log.append_built(lambda entries, i=index: [("note", f"hold {i}", {})], author="b")
    finally:
        IncidentLog._lock = real_lock  # type: ignore[method-assign]
        log_module._unlock = real_unlock
        log_module.BUILD_ATTEMPTS = saved_attempts
    return holds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as scratch:
        path = Path(scratch) / "big.jsonl"
        write_big_log(path, args.entries)
        size_mb = os.path.getsize(path) / 1e6
        now_ms = held_ms(path, log_module.BUILD_ATTEMPTS, args.rounds)
        before_ms = held_ms(path, 0, args.rounds)
    now, before = statistics.median(now_ms), statistics.median(before_ms)
    print(f"{args.entries} entries ({size_mb:.1f} MB), median of {args.rounds} appends")
    print(f"  read before the lock, end checked under it: lock held {now:8.2f} ms")
    print(f"  whole log read under the lock (before):      lock held {before:8.2f} ms")
    print(
        f"  ratio {before / now:.0f}x; target <= {TARGET_MS:g} ms: "
        f"{'met' if now <= TARGET_MS else 'MISSED'}"
    )
    return 0 if now <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
