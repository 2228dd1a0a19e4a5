"""How fast is a durable append on this disk, and how fast is reading a big log?

    .venv/bin/python bench/bench_append.py [--appends 2000] [--dir DIR] [--read-entries 100000]

Prints append latency (p50, p99, max) with IncidentLog.append, which locks, finds the last seq,
writes and fsyncs, side by side with a bare os.write + os.fsync loop of the same line size (the
floor this disk sets), and their ratio; appends/s with 4 processes appending to one file at
once; and the time and peak memory of read_log on a log of --read-entries entries.
Target: p99 append under 10 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from cockpit.compat import UTC
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog, read_log

TARGET_P99_MS = 10.0
ORIGIN = {"host": "ops1", "tty": "/dev/pts/3", "ssh_client": "10.1.2.3"}
TEXT = "Inbound queue growing on mx1: 4,200 messages deferred, oldest 12 minutes"
DATA = {"tags": ["queue"], "region": "eu-1"}


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def describe(name: str, seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    figures = {
        "p50": percentile(ordered, 0.50) * 1000,
        "p99": percentile(ordered, 0.99) * 1000,
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }
    print(
        f"  {name:<28} p50 {figures['p50']:7.3f} ms   p99 {figures['p99']:7.3f} ms   "
        f"max {figures['max']:7.3f} ms   mean {figures['mean']:7.3f} ms"
    )
    return figures


def time_appends(path: Path, count: int) -> tuple[list[float], int]:
    log = IncidentLog(path)
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        log.append("note", f"{TEXT} #{index}", DATA, author="alice", origin=ORIGIN)
        latencies.append(time.perf_counter() - started)
    line_size = path.stat().st_size // count
    return latencies, line_size


def time_bare_writes(path: Path, count: int, line_size: int) -> list[float]:
    line = b"x" * (line_size - 1) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, line)
            os.fsync(fd)
            latencies.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    return latencies


def append_many(path: str, writer: int, count: int) -> None:
    log = IncidentLog(path)
    for index in range(count):
        log.append("note", f"{TEXT} w{writer} #{index}", DATA, author=f"w{writer}", origin=ORIGIN)


def concurrent_rate(path: Path, processes: int, each: int) -> float:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=append_many, args=(str(path), n, each)) for n in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if any(worker.exitcode != 0 for worker in workers):
        raise SystemExit("a concurrent writer failed")
    result = read_log(path)
    assert not result.problems and len(result.entries) == processes * each
    return processes * each / elapsed


def write_big_log(path: Path, count: int) -> None:
    start = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    with path.open("wb", buffering=1024 * 1024) as file:
        for seq in range(1, count + 1):
            entry = Entry(
                seq, start + timedelta(seconds=seq), "alice", ORIGIN, "note", f"{TEXT} #{seq}", DATA
            )
            file.write(entry.to_json_line())


def measure_read(path: Path, connection: Connection) -> None:
    """In a fresh child: time read_log and report the rise in peak memory (max RSS)."""
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = read_log(path)
    elapsed = time.perf_counter() - started
    after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.send((elapsed, len(result.entries), len(result.problems), before_kib, after_kib))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--read-entries", type=int, default=100_000)
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        folder = Path(scratch)
        print(f"appends with fsync, in {folder} ({args.appends} each):")
        appends, line_size = time_appends(folder / "append.jsonl", args.appends)
        bare = time_bare_writes(folder / "bare.bin", args.appends, line_size)
        ours = describe(f"IncidentLog.append ({line_size} B)", appends)
        floor = describe("bare os.write + os.fsync", bare)
        print(
            f"  ratio append / bare          p50 {ours['p50'] / floor['p50']:.2f}x"
            f"        p99 {ours['p99'] / floor['p99']:.2f}x"
        )
        verdict = "met" if ours["p99"] < TARGET_P99_MS else "NOT MET"
        print(f"  target p99 < {TARGET_P99_MS:.0f} ms: {verdict} ({ours['p99']:.3f} ms)")

        each = max(1, args.appends // args.processes)
        rate = concurrent_rate(folder / "concurrent.jsonl", args.processes, each)
        single = 1000 / ours["mean"]
        print(
            f"{args.processes} processes x {each} appends to one file: {rate:,.0f} appends/s "
            f"(one process alone: {single:,.0f} appends/s)"
        )

        big = folder / "big.jsonl"
        write_big_log(big, args.read_entries)
        receiver, sender = multiprocessing.Pipe(duplex=False)
        reader = multiprocessing.get_context("fork").Process(
            target=measure_read, args=(big, sender)
        )
        reader.start()
        elapsed, entries, problems, before_kib, after_kib = receiver.recv()
        reader.join()
        print(
            f"read_log of {entries:,} entries ({big.stat().st_size / 1e6:.1f} MB, "
            f"{problems} problems): {elapsed:.3f} s, peak RSS {after_kib / 1024:.0f} MiB "
            f"(+{(after_kib - before_kib) / 1024:.0f} MiB for the read)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
