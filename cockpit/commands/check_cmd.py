"""`cockpit check`: one sweep of every probe, as a table or as JSON; monitoring-plugin exit codes.

Exit status: 0 every finding ok, 1 the worst is warn or unknown, 2 the worst is fail,
3 the check could not run (bad config, bad arguments). Cron jobs and Nagios-style monitors can
use it as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import CockpitError, UsageError
from cockpit.model import Finding, Status

if TYPE_CHECKING:
    from cockpit.config import Config

EXIT_OK, EXIT_WARN, EXIT_FAIL, EXIT_CANNOT_RUN = 0, 1, 2, 3
AREAS = ("dns", "auth", "queue")
AVAILABLE_AREAS = ("dns",)
"""Areas this version can check; the others are refused with a clear message."""


def run_check(args: argparse.Namespace) -> int:
    from cockpit.cli import report_error, report_warning, write_stdout
    from cockpit.commands.common import load_required_config

    try:
        areas = _areas(args.only)
        config = load_required_config(args.config)
        target, target_origin = _target_region(args, config)
    except CockpitError as exc:
        report_error(str(exc))
        return EXIT_CANNOT_RUN
    findings = asyncio.run(_collect(config, target, areas))
    if args.json:
        write_stdout(json.dumps(_document(target, findings), ensure_ascii=False) + "\n")
    else:
        from cockpit.check_table import render_findings

        write_stdout(render_findings(findings, target=target, target_origin=target_origin))
    if not findings:
        report_warning("no findings: nothing was checked")
    return exit_code(findings)


def exit_code(findings: Sequence[Finding]) -> int:
    statuses = {finding.status for finding in findings}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.WARN in statuses or Status.UNKNOWN in statuses:
        return EXIT_WARN
    return EXIT_OK


def _document(target: str, findings: Sequence[Finding]) -> dict[str, object]:
    counts = Counter(finding.status.value for finding in findings)
    return {
        "target": target,
        "findings": [finding.to_json() for finding in findings],
        "summary": {status.value: counts.get(status.value, 0) for status in Status},
    }


def _areas(only: str | None) -> tuple[str, ...]:
    if only is None:
        return AVAILABLE_AREAS
    asked = tuple(dict.fromkeys(part.strip().lower() for part in only.split(",") if part.strip()))
    unknown = [area for area in asked if area not in AREAS]
    if unknown or not asked:
        raise UsageError(f"--only: expected a comma-separated list of {', '.join(AREAS)}")
    missing = [area for area in asked if area not in AVAILABLE_AREAS]
    if missing:
        raise UsageError(
            f"--only: {', '.join(missing)} checks are not part of this version yet;"
            f" available: {', '.join(AVAILABLE_AREAS)}"
        )
    return asked


def _target_region(args: argparse.Namespace, config: Config) -> tuple[str, str]:
    """--target, else the latest failover decision in the incident log, else the first region."""
    if args.target is not None:
        region = config.region(args.target.strip())
        if region is None:
            raise UsageError(
                f"--target: no region named {args.target!r}; expected one of"
                f" {', '.join(config.region_names())}"
            )
        return region.name, "--target"
    log_path = Path(args.incident) if args.incident else _newest_log(config.incident.dir)
    if log_path is not None and log_path.exists():
        from cockpit.incident.log import read_log
        from cockpit.incident.phases import current_target_region

        decided = current_target_region(read_log(log_path).entries)
        if decided is not None:
            region = config.region(decided)
            if region is None:
                raise UsageError(
                    f"{log_path}: the latest failover decision names region {decided!r},"
                    f" which the config does not have ({', '.join(config.region_names())})"
                )
            return region.name, f"failover decision in {log_path.name}"
    return config.regions[0].name, "first region in the config"


def _newest_log(directory: Path) -> Path | None:
    try:
        logs = [path for path in directory.glob("*.jsonl") if path.is_file()]
    except OSError:
        return None
    return max(logs, key=lambda path: path.stat().st_mtime, default=None)


async def _collect(config: Config, target: str, areas: tuple[str, ...]) -> list[Finding]:
    findings: list[Finding] = []
    if "dns" in areas:
        from cockpit.dns.findings import dns_findings

        findings += await dns_findings(config, target)
    return findings
