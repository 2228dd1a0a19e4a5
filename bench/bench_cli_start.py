"""Wall time of `cockpit --help` and `cockpit --version`, side by side with the floor.

Run: .venv/bin/python bench/bench_cli_start.py [--runs N]
Target: under 0.15 s each. The floor is a bare interpreter start (`python -c pass`); the
reference is `import textual.app`, what start-up would cost if the CLI imported the UI.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.15


def wall_times(argv: list[str], runs: int) -> list[float]:
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    python = sys.executable
    cases = [
        ("python -c pass (floor)", [python, "-c", "pass"]),
        ("cockpit --help", [python, "-m", "cockpit", "--help"]),
        ("cockpit --version", [python, "-m", "cockpit", "--version"]),
        ("python -c 'import textual.app' (reference)", [python, "-c", "import textual.app"]),
    ]
    wall_times(cases[1][1], 2)  # warm the page cache and .pyc files
    results = {label: wall_times(argv, runs) for label, argv in cases}
    floor = statistics.median(results[cases[0][0]])
    print(f"{'command':48} {'median':>8} {'p90':>8} {'vs floor':>9}")
    for label, times in results.items():
        median = statistics.median(times)
        p90 = sorted(times)[int(0.9 * (len(times) - 1))]
        print(f"{label:48} {median:8.3f} {p90:8.3f} {median / floor:8.2f}x")
    for label in ("cockpit --help", "cockpit --version"):
        median = statistics.median(results[label])
        verdict = "ok" if median < TARGET_SECONDS else "OVER TARGET"
        print(
            f"{label}: median {median * 1000:.0f} ms,"
            f" target {TARGET_SECONDS * 1000:.0f} ms: {verdict}"
        )


if __name__ == "__main__":
    main()
