"""Opening a big incident log on the cockpit's screen: when do keys act and the header tell the
truth, how long does the screen stall, how much memory does it take? (issue 13)

    .venv/bin/python -m bench.bench_open_big_log [--entries 20000 100000] [--limit 90]

For each size a realistic log is written once (tests/big_log.py: mostly probe entries with
evidence up to 2 KB, plus notes, ticks, phases, a decision, role handoffs), then opened by a
fresh process running CockpitApp headless at 160x48 (with a two-region config, probes off),
twice side by side: the code as it is ("now") and the last commit's code ("before", taken
with `git archive HEAD cockpit` into a temporary directory; left out with --no-before or
outside a git checkout). Each run reports, from the moment the app object is made:

- first frame: the app mounted its screen (Textual's ready);
- first key: a zoom key pressed at the first frame has acted (the pane is maximized);
- worst key: the slowest of the zoom/escape presses made every 250 ms until the log is read
  (these two from a second process: a zoom repaints the whole screen, which the first one
  would count as a stall);
- worst stall: the longest the event loop did not run a 5 ms sleep while loading;
- true header: the header and checklist show the log's final state (title, SEV1, routed,
  target secondary, cmd carol, the cutover step done);
- last line: the log's last entry is on the timeline; read: the whole log is read and drawn;
- peak RSS (VmHWM) and RSS at the end; and the peak RSS of the process whose keys were pressed.
Targets (100,000 entries): keys within 100 ms, true header within 1.5 s, peak RSS 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_KEY_MS = 100.0
TARGET_HEADER_S = 1.5
TARGET_RSS_MB = 200.0
KEY_EVERY_S = 0.25


def _proc_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _measure(log_path: Path, entries: int, limit: float, with_keys: bool) -> dict[str, Any]:
    """Run in the child: open the log in CockpitApp and time what the module docstring says."""
    from cockpit.config import load_config_text
    from cockpit.ui.app import CockpitApp
    from cockpit.ui.checklist_pane import ChecklistPane
    from cockpit.ui.header import IncidentHeader
    from cockpit.ui.timeline_pane import TimelinePane
    from tests import big_log

    figures: dict[str, Any] = {"rss_before_mb": _proc_mb("VmRSS")}
    started = time.perf_counter()
    app = CockpitApp(
        log_path, author="bench", config=load_config_text(big_log.CONFIG_TEXT), probes=False
    )

    def since() -> float:
        return time.perf_counter() - started

    def true_header() -> bool:
        header = app.query_one(IncidentHeader)
        status = str(header.status_text())
        checklist = app.query_one(ChecklistPane)
        state = checklist.state_of("cutover")
        return (
            header.title_text == big_log.TITLE
            and all(
                part in status
                for part in (
                    big_log.FINAL_SEVERITY,
                    big_log.FINAL_PHASE,
                    f"target {big_log.FINAL_TARGET}",
                    f"cmd {big_log.FINAL_COMMANDER}",
                )
            )
            and state is not None
            and state.status == "done"
            and not getattr(checklist, "loading", False)
        )

    def last_line_shown() -> bool:
        lines = app.query_one(TimelinePane).lines
        return any(big_log.LAST_TEXT in strip.text for strip in lines[-4:])

    def read_and_drawn() -> bool:
        pane = app.query_one(TimelinePane)
        drawn = getattr(pane, "drawn", None)
        done = len(pane.entries) >= entries
        return done and (drawn is None or drawn)

    async with app.run_test(size=(160, 48)) as _pilot:
        figures["frame_s"] = since()
        events: dict[str, float] = {}
        stall = {"worst": 0.0}
        loading = {"on": True}

        async def watch_stalls() -> None:
            while loading["on"]:
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                stall["worst"] = max(stall["worst"], time.perf_counter() - before - 0.005)

        async def watch_state() -> None:
            while since() < limit:
                for name, holds in (
                    ("header_s", true_header),
                    ("last_line_s", last_line_shown),
                    ("read_s", read_and_drawn),
                ):
                    if name not in events and holds():
                        events[name] = since()
                if len(events) == 3:
                    return
                await asyncio.sleep(0.01)

        async def press_keys() -> list[float]:
            delays: list[float] = []
            zoomed = False
            while since() < limit and "read_s" not in events:
                if not with_keys:
                    await asyncio.sleep(0.01)
                    continue
                key = "escape" if zoomed else "4"
                pressed = time.perf_counter()
                app.simulate_key(key)
                while since() < limit:
                    maximized = app.screen.maximized is not None
                    if maximized != zoomed:
                        break
                    await asyncio.sleep(0.002)
                delays.append(time.perf_counter() - pressed)
                if delays[-1] >= max(delays):
                    figures["worst_key_at_s"] = since()
                if not delays[1:]:
                    figures["first_key_s"] = since()
                zoomed = not zoomed
                await asyncio.sleep(KEY_EVERY_S)
            return delays

        stalls = asyncio.create_task(watch_stalls())
        state = asyncio.create_task(watch_state())
        delays = await press_keys()
        await state
        loading["on"] = False
        await stalls
        figures.update(events)
        figures["worst_key_ms"] = max(delays, default=float("nan")) * 1000
        figures["keys"] = len(delays)
        figures["worst_stall_ms"] = stall["worst"] * 1000
        await asyncio.sleep(1.0)  # the app settles (a last IncidentChanged, the GC)
        figures["rss_end_mb"] = _proc_mb("VmRSS")
        figures["peak_rss_mb"] = _proc_mb("VmHWM")
        app.exit()
    return figures


def child(args: argparse.Namespace) -> None:
    # The code measured comes first (the last commit's for "before"); tests/ from this tree.
    sys.path[:0] = [args.code, str(ROOT)]
    figures = asyncio.run(_measure(Path(args.child), args.count, args.limit, args.keys))
    print(json.dumps(figures))


def _run_child(code_root: Path, log_path: Path, count: int, limit: float) -> dict[str, Any]:
    """Two fresh processes: one left alone (stalls, times, memory), one pressed every
    KEY_EVERY_S (how long keys take to act: a zoom repaints the whole screen, which would
    count as a stall in the first)."""
    figures = _child_run(code_root, log_path, count, limit, keys=False)
    if "error" not in figures:
        pressed = _child_run(code_root, log_path, count, limit, keys=True)
        if "error" in pressed:
            return pressed
        for key in ("first_key_s", "worst_key_ms", "worst_key_at_s", "keys"):
            figures[key] = pressed.get(key)
        figures["peak_rss_keys_mb"] = pressed.get("peak_rss_mb")  # repaints take memory too
    return figures


def _child_run(
    code_root: Path, log_path: Path, count: int, limit: float, *, keys: bool
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.bench_open_big_log",
        "--child",
        str(log_path),
        "--count",
        str(count),
        "--limit",
        str(limit),
        "--code",
        str(code_root),
    ]
    done = subprocess.run(
        [*command, "--keys"] if keys else command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=limit + 120,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _last_commit(scratch: Path) -> Path | None:
    """The last commit's `cockpit` package in `scratch` (git archive: no git state changes)."""
    target = scratch / "before"
    target.mkdir()
    try:
        archive = subprocess.run(
            ["git", "archive", "HEAD", "cockpit"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return target


ROWS = (
    ("first frame", "frame_s", "s"),
    ("first key acts", "first_key_s", "s"),
    ("worst key", "worst_key_ms", "ms"),
    ("worst stall", "worst_stall_ms", "ms"),
    ("true header", "header_s", "s"),
    ("last line shown", "last_line_s", "s"),
    ("read and drawn", "read_s", "s"),
    ("peak RSS", "peak_rss_mb", "MB"),
    ("peak RSS, keys pressed", "peak_rss_keys_mb", "MB"),
    ("RSS at the end", "rss_end_mb", "MB"),
)


def _cell(figures: dict[str, Any], key: str, unit: str, limit: float) -> str:
    if "error" in figures:
        return "failed"
    value = figures.get(key)
    if value is None:
        return f"> {limit:g} s" if unit == "s" else "n/a"
    return f"{value:8.2f} {unit}" if unit == "s" else f"{value:8.0f} {unit}"


def _ratio(before: dict[str, Any], now: dict[str, Any], key: str) -> str:
    old, new = before.get(key), now.get(key)
    if not isinstance(old, float | int) or not isinstance(new, float | int) or new <= 0:
        return ""
    return f"{old / new:6.1f}x"


def _report(count: int, size_mb: float, runs: dict[str, dict[str, Any]], limit: float) -> bool:
    now, before = runs["now"], runs.get("before", {})
    print(f"\n{count:,} entries ({size_mb:.0f} MB), CockpitApp headless 160x48, probes off")
    print(f"  {'':18}{'now':>14}{'before':>14}{'before/now':>12}")
    for label, key, unit in ROWS:
        print(
            f"  {label:18}{_cell(now, key, unit, limit):>14}"
            f"{_cell(before, key, unit, limit) if before else '':>14}"
            f"{_ratio(before, now, key) if before else '':>12}"
        )
    if "error" in now:
        print(f"  now failed: {now['error']}")
        return False
    met = (
        now.get("worst_key_ms", 1e9) <= TARGET_KEY_MS
        and now.get("header_s", 1e9) <= TARGET_HEADER_S
        and now.get("peak_rss_mb", 1e9) <= TARGET_RSS_MB
        and now.get("peak_rss_keys_mb", 1e9) <= TARGET_RSS_MB
    )
    print(
        f"  targets: keys <= {TARGET_KEY_MS:g} ms, true header <= {TARGET_HEADER_S:g} s, "
        f"peak RSS <= {TARGET_RSS_MB:g} MB: {'met' if met else 'MISSED'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--limit", type=float, default=90.0, help="seconds per run at most")
    parser.add_argument("--no-before", action="store_true", help="skip the last commit's run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--keys", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.big_log import write_big_log

    all_met = True
    with tempfile.TemporaryDirectory(prefix="bench-open-") as scratch_name:
        scratch = Path(scratch_name)
        before_root = None if args.no_before else _last_commit(scratch)
        for count in args.entries:
            log_path = scratch / f"big-{count}.jsonl"
            write_big_log(log_path, count)
            runs = {"now": _run_child(ROOT, log_path, count, args.limit)}
            if before_root is not None:
                runs["before"] = _run_child(before_root, log_path, count, args.limit)
            size_mb = log_path.stat().st_size / 1e6
            all_met = _report(count, size_mb, runs, args.limit) and all_met
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
