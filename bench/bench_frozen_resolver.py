"""`cockpit check` with one resolver frozen: each area's wall time against one DNS timeout.

The loopback mail world of the auth tests (real nsd and two real unbound resolvers, Postfix
with STARTTLS, HTTPS servers) plus a queue, a replication and a role source per region. Every
area (`cockpit check --only AREA`) and all of them together (a plain `cockpit check`) run
in-process, as the command does minus the interpreter's start, three ways: no resolver frozen,
the first resolver frozen (the one auth and service checks ask by default) and the second one
frozen (SIGSTOP: it reads questions and never answers). The bar (issue 12): with any single
resolver frozen, every area finishes within one DNS timeout plus 10 %. One DNS timeout is what
one unanswered question costs the DNS layer: (1 + retries) x [dns].timeout, 2 x 1 s here.

Run as root from the project root: .venv/bin/python -m bench.bench_frozen_resolver [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
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
RETRIES = 1
ONE_TIMEOUT = (1 + RETRIES) * DNS_TIMEOUT
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="bench-frozen-"))
    workdir.chmod(0o711)  # the postfix user must be able to enter it
    world = start_auth_world(workdir / "world", workdir / "postfix", timeout=DNS_TIMEOUT)
    worst_ratio = 0.0
    try:
        path = world.config_path
        path.write_text(with_sources(path.read_text(encoding="utf-8")), encoding="utf-8")
        config = load_config(path)
        for area in PROBE_AREAS:
            timed(config, area)  # warm imports and caches
        print(f"one DNS timeout = {ONE_TIMEOUT:.1f} s; bar = {BAR:.2f} x; best of {rounds}")
        print(f"{'area':<12} {'frozen':<8} {'wall s':>7} {'ratio':>6}  findings")
        for frozen in (None, 0, 1):
            if frozen is not None:
                world.dns.freeze(frozen)
            try:
                for area in (*PROBE_AREAS, "all"):
                    runs = [timed(config, area) for _ in range(rounds)]
                    elapsed, counts = min(runs)
                    ratio = elapsed / ONE_TIMEOUT
                    if frozen is not None:
                        worst_ratio = max(worst_ratio, ratio)
                    label = "none" if frozen is None else world.dns.resolvers[frozen][0]
                    shown = " ".join(f"{k}={v}" for k, v in counts.items() if v)
                    print(f"{area:<12} {label:<8} {elapsed:7.2f} {ratio:6.2f}  {shown}")
            finally:
                if frozen is not None:
                    world.dns.thaw(frozen)
    finally:
        world.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    verdict = "within" if worst_ratio <= BAR else "OVER"
    print(f"worst frozen ratio {worst_ratio:.2f} x one timeout: {verdict} the {BAR:.2f} x bar")
    return 0 if worst_ratio <= BAR else 1


if __name__ == "__main__":
    raise SystemExit(main())
