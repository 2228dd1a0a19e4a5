"""Benchmark: Markdown export of a 100,000-entry incident log.

Writes a realistic log (a mix of notes, probes, checks, decisions, phases, corrections,
system entries and a few unknown kinds, with text lengths from a few words to a few KB and
some hostile characters) to a temporary directory, then measures:

- `cockpit export LOG -o FILE` as a user runs it, whole process, on two cores and with its
  forks turned off, side by side (--rounds times each) -- target: under 2 s and 200 MB;
- the peak PSS of all the command's processes together -- target: under 200 MB;
- a fresh subprocess that reads the log and exports it as the screen does (write_markdown,
  streamed): its ru_maxrss and, on Linux, its peak RSS during the export alone (VmHWM reset
  after reading) -- target: under 200 MB;
- for information: render_markdown in one process (best of 3) and its tracemalloc peak (it
  holds the whole text), render_json.

Run: .venv/bin/python -m bench.bench_export [--entries N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit.compat import UTC
from cockpit.incident.entry import PHASES, Entry, LogProblem, entry_from_line, format_ts
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown, write_markdown

TARGET_SECONDS = 2.0
TARGET_MB = 200.0
WORDS = (
    "queue mx1 eu-west eu-central deferred 4.3.2 421 TLS SPF DKIM DMARC TTL 300 s resolver "
    "1.1.1.1 answer NXDOMAIN SERVFAIL timeout retry drained users reported bounce webmail "
    "login certificate chain [ok] (pending) *urgent* alice@example.com https://status.example "
    "| pipe `code` <tag> # 1. - item the a to of and is was for on with from at by not"
).split()
RARE_WORDS = ("Grüße", "naïve", "日本語", "Ελλάδα")
AUTHORS = ("alice", "bob", "carol", "dave", "erin", "frank")


def _length(rng: random.Random, low: int, high: int) -> int:
    """Mostly short texts, some long ones: 70% low..high, 25% up to 2x, 5% up to 5x."""
    roll = rng.random()
    if roll < 0.70:
        return rng.randint(low, high)
    if roll < 0.95:
        return rng.randint(high, 2 * high)
    return rng.randint(2 * high, 5 * high)


def _text(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(_length(rng, low, high))]
    roll = rng.random()
    if roll < 0.03:
        words.append(rng.choice(RARE_WORDS))
    elif roll < 0.035:
        words.append("\U0001f642")
    elif roll < 0.04:
        words.append("\x1b[31m\u202e")
    if rng.random() < 0.05:
        words.insert(rng.randrange(len(words) + 1), "\n")
    if rng.random() < 0.005:
        words.append("\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(40)))
    return " ".join(words)


def _entry(rng: random.Random, seq: int, ts: datetime, start: datetime) -> dict[str, Any]:
    roll = rng.random()
    data: dict[str, Any] = {}
    if seq <= len(PHASES) * 2 and seq % 2 == 0:
        phase = PHASES[seq // 2 - 1]
        kind, text = "phase", f"{phase} set"
        data = {"phase": phase, "at": format_ts(start + timedelta(minutes=seq))}
    elif seq == 20:
        kind, text = "correction", "detection was earlier"
        data = {"phase": "detected", "at": format_ts(start), "previous_at": "x", "corrects_seq": 4}
    elif roll < 0.55:
        kind, text = "note", _text(rng, 4, 25)
        if rng.random() < 0.02:
            data["tags"] = ["lesson"]
        if rng.random() < 0.05:
            data["at"] = format_ts(ts - timedelta(minutes=3))
    elif roll < 0.75:
        kind, text = "probe", f"dig MX example.com @{rng.randint(1, 254)}.1.1.1"
        evidence: Any = {"answers": [_text(rng, 2, 6) for _ in range(rng.randint(1, 4))]}
        if rng.random() < 0.3:
            evidence = _text(rng, 5, 200)
        data = {"status": rng.choice(("ok", "warn", "fail", "unknown")), "evidence": evidence}
    elif roll < 0.87:
        kind, text = "check", ""
        data = {
            "step": rng.randint(1, 30),
            "title": _text(rng, 2, 6),
            "result": rng.choice(("done", "skipped", "already-done")),
            "reason": _text(rng, 0, 10),
        }
    elif roll < 0.93:
        kind, text = "decision", _text(rng, 3, 12)
        data = {"why": _text(rng, 5, 30), "approver": rng.choice(AUTHORS)}
        if rng.random() < 0.2:
            data.update(target_region=rng.choice(("eu-west", "eu-central")), previous_region="x")
    elif roll < 0.99:
        kind, text = "system", "probe sweep finished"
        data = {"event": "sweep", "duration_ms": rng.randint(10, 5000)}
    else:
        kind, text = rng.choice(("handoff", "vote")), _text(rng, 2, 10)
        data = {"role": "commander", "holder": rng.choice(AUTHORS)}
    return {
        "seq": seq,
        "ts": format_ts(ts),
        "author": rng.choice(AUTHORS),
        "origin": {"host": "ops1", "tty": "/dev/pts/3"},
        "kind": kind,
        "text": text,
        "data": data,
    }


def write_log(path: Path, count: int) -> None:
    rng = random.Random(20261127)
    start = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for seq in range(1, count + 1):
            ts = start + timedelta(seconds=seq * 2)
            record = _entry(rng, seq, ts, start)
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def load_log(path: Path) -> tuple[list[Entry], list[LogProblem], str]:
    """Read with the log module's read_log when it exists, else line by line."""
    try:
        from cockpit.incident.log import read_log  # type: ignore[attr-defined]
    except ImportError:
        read_log = None
    if read_log is not None:
        result = read_log(path)
        return list(result.entries), list(result.problems), "cockpit.incident.log.read_log"
    entries: list[Entry] = []
    problems: list[LogProblem] = []
    with path.open("rb") as source:
        for line_no, raw in enumerate(source, start=1):
            entry, line_problems = entry_from_line(raw.rstrip(b"\n"), line_no)
            problems.extend(line_problems)
            if entry is not None:
                entries.append(entry)
    return entries, problems, "entry_from_line (cockpit.incident.log.read_log not available)"


def _timed(function: Callable[[], str], repeats: int) -> tuple[float, str]:
    best, output = float("inf"), ""
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        output = function()
        best = min(best, time.perf_counter() - started)
    return best, output


def _proc_status_mb(field: str) -> float | None:
    """VmRSS / VmHWM of this process from /proc, in MB (None where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+), so the next peak is the export's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(path: Path) -> None:
    """Run in a fresh interpreter: read, then export only; print memory figures as JSON."""
    entries, problems, _ = load_log(path)
    gc.collect()
    figures: dict[str, Any] = {
        "rss_after_read_mb": _proc_status_mb("VmRSS"),
        "peak_after_read_mb": _proc_status_mb("VmHWM"),
        "peak_reset": _reset_peak_rss(),
    }
    with open(os.devnull, "w", encoding="utf-8") as out:  # as the screen writes its file
        write_markdown(out, entries, problems, name=path.stem)
    figures["peak_during_export_mb"] = _proc_status_mb("VmHWM")
    figures["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _report_fresh_process(path: Path) -> None:
    command = [sys.executable, __file__, "--child", str(path)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    print(
        f"fresh process, the screen's export (write_markdown, streamed, one core): ru_maxrss"
        f" {figures['ru_maxrss_mb']:.0f} MB (reading and export)"
    )
    if figures["rss_after_read_mb"] is not None:
        print(
            f"fresh process: RSS {figures['rss_after_read_mb']:.0f} MB after reading "
            f"(peak {figures['peak_after_read_mb']:.0f} MB while reading)"
        )
    if figures["peak_reset"] and figures["peak_during_export_mb"] is not None:
        added = figures["peak_during_export_mb"] - figures["rss_after_read_mb"]
        verdict = "ok" if added < TARGET_MB else "TOO BIG"
        print(
            f"fresh process: peak RSS during export {figures['peak_during_export_mb']:.0f} MB, "
            f"{added:.0f} MB above the loaded log (target < {TARGET_MB:.0f} MB: {verdict})"
        )


_ONE_CORE = (
    "import sys; from cockpit.commands import export_early, export_parallel;"
    " export_early.EARLY_FROM_BYTES = export_parallel.PARALLEL_FROM_ENTRIES = 1 << 62;"
    " from cockpit.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _run_cli(log_path: Path, out_path: Path, one_core: bool) -> tuple[float, float, float, int]:
    """One `cockpit export LOG -o FILE` in its own process: wall s, CPU s (with its
    children), peak RSS MB, exit status."""
    args = ["export", str(log_path), "-o", str(out_path)]
    command = (
        [sys.executable, "-c", _ONE_CORE, *args]
        if one_core
        else [sys.executable, "-m", "cockpit", *args]
    )
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, process.returncode


def _tree_pss_mb(pid: int) -> float:
    """The proportional set size of `pid` and its descendants, summed, in MB (Linux): the
    memory the whole export uses, its forks' shared pages counted once."""
    total, pids = 0, [pid]
    while pids:
        current = pids.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids.extend(int(child) for child in children)
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def _report_tree_memory(log_path: Path, out_path: Path) -> None:
    """One more `cockpit export -o`, sampled every 20 ms: the peak of its processes' PSS."""
    command = [sys.executable, "-m", "cockpit", "export", str(log_path), "-o", str(out_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _tree_pss_mb(process.pid))
        time.sleep(0.02)
    if not peak:
        print("cockpit export -o, memory of all its processes: not measured (no /proc)")
        return
    verdict = "ok" if peak < TARGET_MB else "TOO BIG"
    print(
        f"cockpit export -o, all its processes (the forks' shared pages counted once): peak"
        f" PSS {peak:.0f} MB (target < {TARGET_MB:.0f} MB: {verdict})"
    )


def _report_cli(log_path: Path, out_path: Path, rounds: int) -> None:
    """What a user gets: `cockpit export LOG -o FILE` end to end, in its own process, as it
    runs (both cores: the early child and the shared timeline) and with its forks turned off,
    one after the other `rounds` times (this machine's speed drifts by half within minutes, so
    only figures taken side by side compare)."""
    runs: dict[bool, list[tuple[float, float, float, int]]] = {False: [], True: []}
    outputs = {False: out_path.with_suffix(".two.md"), True: out_path.with_suffix(".one.md")}
    for _ in range(rounds):
        for one_core in (False, True):
            runs[one_core].append(_run_cli(log_path, outputs[one_core], one_core))
    same = outputs[False].read_bytes() == outputs[True].read_bytes()
    medians = {}
    for one_core, label in ((False, "two cores"), (True, "one core (no fork)")):
        walls = [run[0] for run in runs[one_core]]
        medians[one_core] = statistics.median(walls)
        cpu = statistics.median(run[1] for run in runs[one_core])
        peak = max(run[2] for run in runs[one_core])
        codes = sorted({run[3] for run in runs[one_core]})
        verdict = "ok" if medians[one_core] < TARGET_SECONDS else "TOO SLOW"
        memory = "ok" if peak < TARGET_MB else "TOO BIG"
        print(
            f"cockpit export -o, {label}: median {medians[one_core]:.2f} s wall"
            f" (min {min(walls):.2f}, max {max(walls):.2f}; target < {TARGET_SECONDS:.0f} s:"
            f" {verdict}), CPU {cpu:.2f} s, peak RSS {peak:.0f} MB (target < {TARGET_MB:.0f} MB:"
            f" {memory}), exit {codes}"
        )
    print(
        f"two cores / one core: {medians[False] / medians[True]:.2f}"
        f" ({rounds} rounds side by side; the same bytes: {same})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="CLI runs of each kind")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-") as tmp:
        path = Path(tmp) / "incident.jsonl"
        write_log(path, args.entries)
        size_mb = path.stat().st_size / 1e6
        # First, while this process is still small: a fresh interpreter's own figures.
        _report_fresh_process(path)
        _report_cli(path, Path(tmp) / "review.md", args.rounds)
        _report_tree_memory(path, Path(tmp) / "review.md")
        started = time.perf_counter()
        entries, problems, reader = load_log(path)
        read_seconds = time.perf_counter() - started
        print(f"log: {len(entries):,} entries, {size_mb:.1f} MB; read with {reader}")
        print(f"read: {read_seconds:.2f} s ({len(problems)} problems)")

        seconds, output = _timed(lambda: render_markdown(entries, problems, name="bench"), 3)
        print(
            f"render_markdown (one process, one core, the log read already; for information):"
            f" {seconds:.2f} s best of 3; output {len(output) / 1e6:.1f} MB,"
            f" {output.count(chr(10)):,} lines"
        )
        del output
        gc.collect()
        tracemalloc.start()
        render_markdown(entries, problems, name="bench")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_mb = peak / 2**20
        print(
            f"tracemalloc peak during render_markdown (the whole text held as one string; for"
            f" information): {peak_mb:.0f} MB"
        )
        seconds, output = _timed(lambda: render_json(entries, problems, name="bench"), 1)
        print(f"render_json (for information): {seconds:.2f} s, {len(output) / 1e6:.1f} MB")

    return 0


if __name__ == "__main__":
    sys.exit(main())
