"""Benchmark: parse a 100,000-message `postqueue -j` output.

Writes a realistic output (queues in deferred-heavy proportions, 1-4 recipients per message
over a few hundred domains, delay reasons of every common kind with varying hosts, ports and
ids, a few duplicates as when the queue moves, a few garbage lines) to a temporary file, then
measures:

- `wc -l` on the same file: the floor (reading the bytes once);
- wall time of parse_postqueue_json (best of 3) -- target: under 1 s;
- tracemalloc peak during the parse (the bytes themselves excluded) -- target: under 150 MB;
- a fresh subprocess that reads the file and parses it: its peak RSS (VmHWM; whole process) and
  its ru_maxrss (which on Linux also carries the peak of the parent that forked it).

Run: .venv/bin/python bench/bench_postqueue_parse.py [--messages N]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

from cockpit.compat import UTC
from cockpit.queue.postqueue import parse_postqueue_lines

TARGET_SECONDS = 1.0
TARGET_MB = 150.0
NOW = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)

QUEUE_WEIGHTS = (("deferred", 80), ("active", 12), ("hold", 4), ("incoming", 3), ("maildrop", 1))
REASONS = (
    "connect to {host}[{ip}]:25: Connection refused",
    "delivery temporarily suspended: connect to {host}[{ip}]:25: Connection timed out",
    "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused",
    "host {host}[{ip}] said: 452 4.2.2 <{rcpt}>: Mailbox full (in reply to RCPT TO command)",
    "host {host}[{ip}] said: 450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted, see "
    "http://postgrey.example/help/{domain}.html (in reply to RCPT TO command)",
    "Host or domain name not found. Name service error for name={domain} type=MX: Host not "
    "found, try again",
    "Cannot start TLS: handshake failure",
    "lost connection with {host}[{ip}] while receiving the initial server greeting",
    "host {host}[{ip}] said: 421 4.3.0 Temporary failure id={qid} (in reply to end of DATA "
    "command)",
)


def write_output(path: Path, messages: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    domains = [f"customer{i}.example" for i in range(400)] + ["gmail.example", "outlook.example"]
    names = [name for name, _ in QUEUE_WEIGHTS]
    weights = [weight for _, weight in QUEUE_WEIGHTS]
    base = int(NOW.timestamp())
    lines: list[str] = []
    for number in range(messages):
        queue = rng.choices(names, weights)[0]
        qid = f"4Q{number:010X}"
        recipients = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            domain = rng.choice(domains)
            rcpt = f"user{rng.randrange(5000)}@{domain}"
            item: dict[str, str] = {"address": rcpt}
            if queue == "deferred":
                host = f"mx{rng.randrange(3)}.{domain}"
                ip = f"203.0.113.{rng.randrange(1, 255)}"
                item["delay_reason"] = rng.choice(REASONS).format(
                    host=host, ip=ip, rcpt=rcpt, domain=domain, qid=rng.randrange(10**9)
                )
            recipients.append(item)
        line = json.dumps(
            {
                "queue_name": queue,
                "queue_id": qid,
                "arrival_time": base - rng.randrange(5 * 86400),
                "message_size": rng.randrange(800, 200_000),
                "forced_expire": False,
                "sender": f"app{rng.randrange(20)}@example.com",
                "recipients": recipients,
            },
            separators=(",", ":"),
        )
        lines.append(line)
        if number % 5000 == 0:
            lines.append(line)  # listed twice while the queue moves
        if number % 20000 == 0:
            lines.append("postqueue: warning: queue file is corrupt")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


CHILD = """
import resource, sys, time
def hwm_kb():
    # VmHWM belongs to this process's memory map, made fresh at exec; ru_maxrss also keeps
    # the peak of the (large) parent that forked it, on Linux.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1
from datetime import datetime
from cockpit.queue.postqueue import parse_postqueue_json
with open(sys.argv[1], "rb", buffering=0) as file:  # one allocation of the file size
    data = file.read()
before = hwm_kb()
started = time.perf_counter()
sample = parse_postqueue_json(data, now=datetime.now(UTC), source="bench")
elapsed = time.perf_counter() - started
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(sample.total, elapsed, before, hwm_kb(), maxrss)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "postqueue.jsonl"
        line_count = write_output(path, args.messages)
        size_mb = path.stat().st_size / 1e6
        print(
            f"postqueue -j output: {args.messages} messages, {line_count} lines, {size_mb:.1f} MB"
        )

        wc = shutil.which("wc")
        if wc:
            started = time.perf_counter()
            subprocess.run([wc, "-l", str(path)], check=True, capture_output=True)
            print(f"wc -l (floor):           {time.perf_counter() - started:.3f} s")

        data = path.read_bytes()
        times = []
        result = None
        for _ in range(3):
            gc.collect()
            started = time.perf_counter()
            result = parse_postqueue_lines(data, now=NOW, source="bench")
            times.append(time.perf_counter() - started)
        assert result is not None
        best = min(times)
        print(
            f"parse (best of 3):       {best:.3f} s  (target < {TARGET_SECONDS:g} s; "
            f"runs {', '.join(f'{t:.3f}' for t in times)})"
        )
        print(
            f"  total {result.sample.total}, duplicates {result.duplicates}, "
            f"skipped lines {result.skipped_lines}, by queue {dict(result.sample.by_queue)}"
        )
        print(f"  top reasons: {[(r.reason, r.count) for r in result.sample.deferral_reasons]}")

        gc.collect()
        tracemalloc.start()
        parse_postqueue_lines(data, now=NOW, source="bench")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_mb = peak / 1e6
        print(f"tracemalloc peak:        {peak_mb:.1f} MB  (target < {TARGET_MB:g} MB)")

        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True
        )
        _, child_elapsed, before_kb, hwm_kb, maxrss_kb = child.stdout.split()
        print(
            f"fresh process:           parse {float(child_elapsed):.3f} s, "
            f"peak RSS (VmHWM) {int(hwm_kb) / 1024:.1f} MiB, {int(before_kb) / 1024:.1f} MiB "
            "before the parse (interpreter and the file's bytes)"
        )
        print(
            f"                         ru_maxrss {int(maxrss_kb) / 1024:.1f} MiB (on Linux it "
            "includes the peak of this parent process, which forked it)"
        )
        ok = best < TARGET_SECONDS and peak_mb < TARGET_MB and int(hwm_kb) / 1024 < TARGET_MB
        print("within targets" if ok else "OVER TARGET")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
