"""All auth checks for 2 regions (2 sending IPs, 2 DKIM selectors, 2 MX hosts each) against the
loopback lab (real nsd/unbound, Postfix with STARTTLS, HTTPS servers): wall time of the whole
set run concurrently, as `cockpit check` does, against the same checks one after another.

Run as root from the project root: .venv/bin/python -m bench.bench_auth [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.auth.asker import Asker  # noqa: E402
from cockpit.auth.findings import auth_findings, region_checks  # noqa: E402
from cockpit.config import Config, load_config  # noqa: E402
from cockpit.dns.sweep import configured_resolvers  # noqa: E402
from cockpit.model import Finding  # noqa: E402
from tests.lab.auth_world import start_auth_world  # noqa: E402


async def concurrently(config: Config, asker: Asker) -> list[Finding]:
    return await auth_findings(config, "primary", asker)


async def one_after_another(config: Config, asker: Asker) -> list[Finding]:
    findings: list[Finding] = []
    for region in config.regions:
        for _name, run in region_checks(config, region, "primary", asker, None):
            findings += await run()
    return findings


def timed(runner, config: Config, asker: Asker) -> tuple[float, list[Finding]]:  # noqa: ANN001
    started = time.perf_counter()
    findings = asyncio.run(runner(config, asker))
    return time.perf_counter() - started, findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    workdir.chmod(0o711)  # the postfix user must be able to enter it
    world = start_auth_world(workdir / "world", workdir / "postfix")
    try:
        config = load_config(world.config_path)
        asker = Asker(configured_resolvers(config)[0], config.dns.timeout)
        timed(concurrently, config, asker)  # warm the resolver caches and the imports
        together: list[float] = []
        in_turn: list[float] = []
        for _ in range(rounds):  # interleaved, so machine noise hits both alike
            seconds, findings = timed(concurrently, config, asker)
            together.append(seconds)
            seconds, sequential_findings = timed(one_after_another, config, asker)
            in_turn.append(seconds)
        statuses = sorted({f.status.value for f in findings})
        print(
            f"{len(findings)} findings per run ({len(sequential_findings)} in turn);"
            f" statuses seen: {', '.join(statuses)}"
        )
        best_together, best_in_turn = min(together), min(in_turn)
        print(f"{'run':28} {'median':>9} {'best':>9}")
        print(
            f"{'concurrently (cockpit)':28} {statistics.median(together):8.3f}s"
            f" {best_together:8.3f}s"
        )
        print(f"{'one after another':28} {statistics.median(in_turn):8.3f}s {best_in_turn:8.3f}s")
        print(
            f"speed-up: {statistics.median(in_turn) / statistics.median(together):.1f}x"
            " (median against median)"
        )
    finally:
        world.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
