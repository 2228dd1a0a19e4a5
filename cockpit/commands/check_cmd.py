"""`cockpit check`: one sweep of every probe, as a table or as JSON; monitoring-plugin exit codes.

Exit status: 0 every finding ok, 1 the worst is warn or unknown, or there is no finding at all
(nothing was observed, so nothing is known to be fine), 2 the worst is fail, 3 the check could
not run (bad config, bad arguments, or a bug: cockpit.cli says so for an internal error too).
Cron jobs and Nagios-style monitors can use it as it is.

JSON on stdout is written with every C1 control, bidi control and DEL as a \\uXXXX escape
(`export_json.terminal_safe`): findings carry DNS answers, banners and headers verbatim, and a
terminal showing the JSON must not act on them.

Checks that were not run are listed as `skipped` with the reason (`check_skipped`), in the table
and in the JSON's "skipped" list; the summary counts them. They never change the exit status.
With --json, a run that cannot start prints {"error": {...}} on stdout (and the message on
stderr) and exits 3: a monitor reading stdout always gets JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.commands.check_skipped import SKIPPED, SkippedCheck
from cockpit.errors import CockpitError, UsageError
from cockpit.model import Finding, Status

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.incident.entry import Entry

EXIT_OK, EXIT_WARN, EXIT_FAIL, EXIT_CANNOT_RUN = 0, 1, 2, 3
PROBE_AREAS = ("dns", "auth", "queue", "service", "replication", "authority")
"""What a plain `cockpit check` runs."""
AREAS = (*PROBE_AREAS, "canary", "checklist")
"""What --only may name. "canary" sends real messages, so it runs only when named (each
[[canary]] once, concurrently). "checklist" judges the checklist's `auto` conditions against the
incident log and every probe area (run for it, shown only when named too; canaries only when
named as well)."""


def run_check(args: argparse.Namespace) -> int:
    from cockpit.cli import report_error, report_warning, write_stdout
    from cockpit.commands.check_skipped import skipped_checks
    from cockpit.commands.common import load_required_config

    try:
        areas = _areas(args.only)
        config = load_required_config(args.config, incident=args.incident)
        _check_canaries_configured(config, areas, report_warning)
        entries = _incident_entries(args, config)
        target, target_origin = _target_region(args, config, entries)
        findings = asyncio.run(_collect(config, target, areas, args.via, entries))
        if "checklist" in areas:
            findings = _with_checklist(config, areas, entries, findings)
    except CockpitError as exc:
        report_error(str(exc))
        if args.json:
            write_stdout(_json_line(error_document(exc)))
        return EXIT_CANNOT_RUN
    skipped = skipped_checks(
        config, areas, canary_asked="canary" in areas, default_run=args.only is None
    )
    if args.json:
        write_stdout(_json_line(_document(target, findings, skipped)))
    else:
        from cockpit.check_table import render_findings

        write_stdout(
            render_findings(findings, target=target, target_origin=target_origin, skipped=skipped)
        )
    if not findings:
        report_warning("no findings: nothing was checked")
    return exit_code(findings)


def error_document(error: CockpitError) -> dict[str, object]:
    """{"error": {...}} for --json when the check cannot run: what kind, the message, and for a
    config error every problem with its file, line, column, key path and what was expected."""
    from cockpit.errors import ConfigError, IncidentLogError

    detail: dict[str, object] = {"message": str(error)}
    if isinstance(error, ConfigError):
        detail["kind"] = "config"
        detail["problems"] = [
            {
                "file": problem.file or None,
                "line": problem.line,
                "column": problem.column,
                "key_path": problem.key_path or None,
                "message": problem.message,
            }
            for problem in error.problems
        ]
    elif isinstance(error, IncidentLogError):
        detail["kind"] = "incident_log"
        detail["path"] = error.path
    elif isinstance(error, UsageError):
        detail["kind"] = "usage"
    else:
        detail["kind"] = "error"
    detail["exit"] = EXIT_CANNOT_RUN
    return {"error": detail}


def _json_line(document: dict[str, object]) -> str:
    from cockpit.incident.export_json import terminal_safe

    return terminal_safe(json.dumps(document, ensure_ascii=False)) + "\n"


def exit_code(findings: Sequence[Finding]) -> int:
    if not findings:
        return EXIT_WARN  # nothing observed: unknown, never "all ok"
    statuses = {finding.status for finding in findings}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.WARN in statuses or Status.UNKNOWN in statuses:
        return EXIT_WARN
    return EXIT_OK


def _document(
    target: str, findings: Sequence[Finding], skipped: Sequence[SkippedCheck] = ()
) -> dict[str, object]:
    counts = Counter(finding.status.value for finding in findings)
    summary: dict[str, int] = {status.value: counts.get(status.value, 0) for status in Status}
    summary[SKIPPED] = len(skipped)
    return {
        "target": target,
        "findings": [finding.to_json() for finding in findings],
        "skipped": [check.to_json() for check in skipped],
        "summary": summary,
    }


def _areas(only: str | None) -> tuple[str, ...]:
    if only is None:
        return PROBE_AREAS
    asked = tuple(dict.fromkeys(part.strip().lower() for part in only.split(",") if part.strip()))
    if not asked or any(area not in AREAS for area in asked):
        raise UsageError(
            f"--only: expected a comma-separated list of {', '.join(AREAS)}, found {only!r}"
        )
    return asked


def _check_canaries_configured(
    config: Config, areas: tuple[str, ...], warn: Callable[[str], None]
) -> None:
    """--only canary with no [[canary]]: an error when canaries are all that was asked for,
    else a warning (the other areas still run)."""
    if "canary" not in areas or config.canaries:
        return
    where = f" in {config.source}" if config.source is not None else ""
    message = (
        f"--only canary: no [[canary]] is configured{where}, so no message was sent;"
        " add one (see config.example.toml)"
    )
    if areas == ("canary",):
        raise UsageError(message)
    warn(message)


def _incident_entries(args: argparse.Namespace, config: Config) -> list[Entry]:
    """The incident log's entries: --incident, else the newest log in [incident].dir."""
    log_path = Path(args.incident) if args.incident else _newest_log(config.incident.dir)
    if log_path is None:
        return []
    from cockpit.incident.log import read_log

    return read_log(log_path).entries


def _target_region(
    args: argparse.Namespace, config: Config, entries: Sequence[Entry]
) -> tuple[str, str]:
    """--target, else the latest failover decision in the incident log, else the first region."""
    if args.target is not None:
        region = config.region(args.target.strip())
        if region is None:
            raise UsageError(
                f"--target: no region named {args.target!r}; expected one of"
                f" {', '.join(config.region_names())}"
            )
        return region.name, "--target"
    from cockpit.incident.phases import current_target_region

    decided = current_target_region(entries)
    if decided is not None:
        region = config.region(decided)
        if region is None:
            raise UsageError(
                f"the latest failover decision in the incident log names region {decided!r},"
                f" which the config does not have ({', '.join(config.region_names())})"
            )
        return region.name, "failover decision in the incident log"
    return config.regions[0].name, "first region in the config"


def _newest_log(directory: Path) -> Path | None:
    try:
        logs = [path for path in directory.glob("*.jsonl") if path.is_file()]
    except OSError:
        return None
    return max(logs, key=lambda path: path.stat().st_mtime, default=None)


def _with_checklist(
    config: Config, areas: tuple[str, ...], entries: Sequence[Entry], findings: list[Finding]
) -> list[Finding]:
    """The asked areas' findings, then one checklist finding per step with an `auto` condition."""
    from cockpit.incident.checklist import checklist_findings
    from cockpit.incident.entry import utc_now
    from cockpit.incident.runbook import steps_for

    judged = checklist_findings(steps_for(config), entries, findings, now=utc_now(), config=config)
    shown = [finding for finding in findings if finding.area in areas]
    return shown + judged


async def _collect(
    config: Config,
    target: str,
    areas: tuple[str, ...],
    via: str | None,
    entries: Sequence[Entry],
) -> list[Finding]:
    """Every asked area at once: a slow area never delays the others.

    A finding that does not carry its own observation time gets the time this run started:
    what it saw was seen no earlier than that.
    """
    from cockpit.incident.entry import utc_now

    started = utc_now()
    if "checklist" in areas:
        # its conditions may name any area; canaries still only when asked for by name
        areas = (*PROBE_AREAS, *(area for area in areas if area == "canary"))
    jobs = []
    looks = None
    if config.vantages and ("dns" in areas or "service" in areas):
        from cockpit.vantage.look import look_all

        # One look from each vantage, shared by the DNS rows and the service probes it saw.
        looks = asyncio.ensure_future(look_all(config))
    if "dns" in areas and looks is not None:
        from cockpit.vantage.findings import dns_and_vantage_findings

        jobs.append(dns_and_vantage_findings(config, target, looks))
    elif "dns" in areas:
        from cockpit.dns.findings import dns_findings

        jobs.append(dns_findings(config, target))
    if "auth" in areas:
        jobs.append(_auth(config, target, via, entries))
    if "queue" in areas:
        from cockpit.queue.findings import queue_findings

        jobs.append(queue_findings(config))
    if "service" in areas and looks is not None:
        from cockpit.vantage.findings import service_and_vantage_findings

        jobs.append(service_and_vantage_findings(config, looks))
    elif "service" in areas:
        from cockpit.service.findings import service_findings

        jobs.append(service_findings(config))
    if "replication" in areas:
        from cockpit.replication.findings import replication_findings

        jobs.append(replication_findings(config))
    if "authority" in areas:
        from cockpit.authority.findings import authority_findings

        jobs.append(authority_findings(config, entries))
    if "canary" in areas and config.canaries:
        jobs.append(_canaries(config, target, via))
    try:
        results = await asyncio.gather(*jobs)
    finally:
        if looks is not None:
            if not looks.done():
                looks.cancel()
            await _close_ssh(config)
    return [
        finding if finding.observed_at is not None else replace(finding, observed_at=started)
        for findings in results
        for finding in findings
    ]


async def _close_ssh(config: Config) -> None:
    """End the ssh connections the looks kept open (bounded; none is left running)."""
    vantages = [vantage for vantage in config.vantages if vantage.kind == "ssh"]
    if vantages:
        from cockpit.vantage.look import control_dir_for
        from cockpit.vantage.ssh import close_masters

        await close_masters(control_dir_for(), vantages)


async def _auth(
    config: Config, target: str, via: str | None, entries: Sequence[Entry]
) -> list[Finding]:
    from cockpit.auth.asker import RunAsker
    from cockpit.auth.dmarc_check import dmarc_baseline
    from cockpit.auth.findings import auth_findings, choose_asker
    from cockpit.auth.mtasts_history import policy_history
    from cockpit.auth.via_hint import alternatives, with_via_hints
    from cockpit.dns.sweep import configured_resolvers

    asker = RunAsker.for_one_run(await choose_asker(config, via))
    baseline = dmarc_baseline(entries, config.domain.name)
    # Read only: `cockpit check` compares with the policies the log saw, it records none.
    mtasts_seen = policy_history(entries, config.domain.name)
    findings = await auth_findings(
        config, target, asker, dmarc_baseline=baseline, mtasts_history=mtasts_seen
    )
    names = [spec.name for spec in configured_resolvers(config)]
    others = alternatives(names, asker.server.name, not asker.recursion_desired)
    return with_via_hints(findings, asker.server.name, asker.unanswered, others)


async def _canaries(config: Config, target: str, via: str | None) -> list[Finding]:
    """Each [[canary]] once, its names looked up through the server auth checks use (--via)."""
    from cockpit.auth.findings import choose_asker
    from cockpit.canary.findings import canary_findings

    return await canary_findings(config, target, await choose_asker(config, via))
