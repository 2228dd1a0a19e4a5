"""`cockpit check` with one resolver frozen: each area's wall time against one DNS timeout.

The loopback mail world of the auth tests (real nsd and two real unbound resolvers, Postfix
with STARTTLS, HTTPS servers) plus a queue, a replication and a role source per region. Every
area (`cockpit check --only AREA`) and all of them together (a plain `cockpit check`) run
three ways: no resolver frozen, the first resolver frozen (the one auth and service checks ask
by default) and the second one frozen (SIGSTOP: it reads questions and never answers).

Each is timed twice: in-process (`_collect`, what the command does minus the interpreter's
start) and as a whole `python -m cockpit check` process (bytecode cached, as installed), side
by side with the timeout and with the same process when nothing is frozen (its start-up, the
imports its area needs, and a quick run); `cockpit check --help` is shown for scale. The bar:
with any single resolver frozen, every area finishes within the DNS timeout plus 10 %
in-process, and a whole process takes at most that much longer than the healthy one.
[dns].timeout is 1 s here: it bounds one question, its retry included (the retry goes out at
half of it: cockpit.race).

Run as root from the project root: .venv/bin/python -m bench.bench_frozen_resolver [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.commands.check_cmd import PROBE_AREAS, _collect  # noqa: E402
from cockpit.config import Config, load_config  # noqa: E402
from cockpit.model import Status  # noqa: E402
from tests.lab.auth_world import start_auth_world  # noqa: E402

DNS_TIMEOUT = 1.0
ONE_TIMEOUT = DNS_TIMEOUT
BAR = 1.10


def _sources(region: str) -> str:
    role = "primary" if region == "primary" else "standby"
    return f"""
  [[region.queue]]
  name = "{region}-queue"
  kind = "command"
  command = ["/bin/echo", "3"]

  [[region.replication]]
  name = "{region}-lag"
  kind = "command"
  command = ["/bin/echo", "4"]

  [[region.role]]
  name = "{region}-role"
  kind = "command"
  command = ["/bin/echo", "{role}"]
"""


def with_sources(text: str) -> str:
    """The auth world's config with a queue, replication and role source in every region."""
    out: list[str] = []
    region: str | None = None
    for line in text.splitlines():
        if line.startswith('name = "') and out and out[-1] == "[[region]]":
            region = line.split('"')[1]
        out.append(line)
        if line.startswith("idp_url") and region is not None:
            out.append(_sources(region))
    return "\n".join(out) + "\n"


def timed(config: Config, area: str) -> tuple[float, dict[str, int]]:
    """One in-process `cockpit check --only AREA` ("all": a plain `cockpit check`)."""
    areas = PROBE_AREAS if area == "all" else (area,)
    started = time.perf_counter()
    findings = asyncio.run(_collect(config, "primary", areas, None, []))
    elapsed = time.perf_counter() - started
    counts = {status.value: sum(f.status is status for f in findings) for status in Status}
    return elapsed, counts


def process_time(pycache: Path, *args: str) -> float:
    """Wall time of one whole `python -m cockpit ARGS` process, as a user runs it: with its
    bytecode cached (in `pycache`), even where the environment says not to write it."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(pycache)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cockpit", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )
    return time.perf_counter() - started


def process_check(pycache: Path, path: Path, area: str) -> float:
    only = () if area == "all" else ("--only", area)
    return process_time(pycache, "check", "--config", str(path), *only, "--json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="bench-frozen-"))
    workdir.chmod(0o711)  # the postfix user must be able to enter it
    world = start_auth_world(workdir / "world", workdir / "postfix", timeout=DNS_TIMEOUT)
    worst_ratio = 0.0
    worst_added = 0.0
    try:
        path = world.config_path
        path.write_text(with_sources(path.read_text(encoding="utf-8")), encoding="utf-8")
        config = load_config(path)
        pycache = workdir / "pycache"
        for area in PROBE_AREAS:
            timed(config, area)  # warm imports and caches
        process_check(pycache, path, "all")  # compile and cache every module once
        startup = min(process_time(pycache, "check", "--help") for _ in range(rounds))
        print(
            f"[dns].timeout = {ONE_TIMEOUT:.1f} s (one question, its retry included);"
            f" bar: {BAR:.2f} x the timeout in-process, and added to a healthy whole process;"
            f" `cockpit check --help` starts in {startup:.2f} s; best of {rounds}"
        )
        print(
            f"{'area':<12} {'frozen':<8} {'timeout':>7} {'in-proc s':>9} {'ratio':>6}"
            f" {'process s':>9} {'healthy s':>9} {'added s':>7}  findings"
        )
        healthy: dict[str, float] = {}
        for frozen in (None, 0, 1):
            if frozen is not None:
                world.dns.freeze(frozen)
            try:
                for area in (*PROBE_AREAS, "all"):
                    runs = [timed(config, area) for _ in range(rounds)]
                    elapsed, counts = min(runs)
                    whole = min(process_check(pycache, path, area) for _ in range(rounds))
                    ratio = elapsed / ONE_TIMEOUT
                    if frozen is None:
                        healthy[area] = whole
                    else:
                        worst_ratio = max(worst_ratio, ratio)
                        worst_added = max(worst_added, whole - healthy[area])
                    label = "none" if frozen is None else world.dns.resolvers[frozen][0]
                    shown = " ".join(f"{k}={v}" for k, v in counts.items() if v)
                    print(
                        f"{area:<12} {label:<8} {ONE_TIMEOUT:7.1f} {elapsed:9.2f} {ratio:6.2f}"
                        f" {whole:9.2f} {healthy[area]:9.2f} {whole - healthy[area]:+7.2f}  {shown}"
                    )
            finally:
                if frozen is not None:
                    world.dns.thaw(frozen)
    finally:
        world.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    within = worst_ratio <= BAR
    added_within = worst_added <= ONE_TIMEOUT * BAR
    print(
        f"worst frozen: {worst_ratio:.2f} x the timeout in-process"
        f" ({'within' if within else 'OVER'} {BAR:.2f} x); a whole process {worst_added:.2f} s"
        f" longer than healthy ({'within' if added_within else 'OVER'}"
        f" {ONE_TIMEOUT * BAR:.2f} s)"
    )
    return 0 if within and added_within else 1


if __name__ == "__main__":
    raise SystemExit(main())
