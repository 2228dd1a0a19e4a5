"""A separate process that appends to an incident log, for the log tests and the benchmark.

usage: python tests/log_writer_child.py PATH WRITER COUNT [--wait-stdin] [--pad BYTES]

Appends COUNT `note` entries with text "WRITER i" (i = 0 .. COUNT-1) and data {"writer", "i"}
(plus "pad" when --pad is given), printing "seq text" after each append returns.
With --wait-stdin it prints "ready" first, then reads one line from stdin before each append,
so a test decides when.
Exits 0, or 1 with the error on stderr.
"""

from __future__ import annotations

import argparse
import sys

from cockpit.errors import IncidentLogError
from cockpit.incident.log import IncidentLog


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("writer")
    parser.add_argument("count", type=int)
    parser.add_argument("--wait-stdin", action="store_true")
    parser.add_argument("--pad", type=int, default=0)
    args = parser.parse_args(argv)
    log = IncidentLog(args.path)
    origin = {"host": "test", "tty": f"writer-{args.writer}"}
    if args.wait_stdin:
        print("ready", flush=True)
    for index in range(args.count):
        if args.wait_stdin and not sys.stdin.readline():
            return 0
        data: dict[str, object] = {"writer": args.writer, "i": index}
        if args.pad:
            data["pad"] = "x" * args.pad
        try:
            entry = log.append(
                "note", f"{args.writer} {index}", data, author=args.writer, origin=origin
            )
        except IncidentLogError as exc:
            print(f"log_writer_child: {exc}", file=sys.stderr)
            return 1
        print(f"{entry.seq} {entry.text}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
