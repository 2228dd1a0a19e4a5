"""`cockpit log INCIDENT TEXT ...`: one entry, appended durably; prints its seq."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from cockpit.errors import UsageError


def run_log(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_optional_config, resolve_author
    from cockpit.incident.entry import LESSON_TAG, PHASES, format_ts, utc_now
    from cockpit.incident.log import IncidentLog
    from cockpit.incident.when import parse_at

    _check_combinations(args)
    config, config_warning = load_optional_config(args.config)
    if config_warning:
        report_warning(config_warning)
    now = utc_now()
    at: datetime | None = None
    if args.at is not None:
        try:
            at = parse_at(args.at, now=now)
        except ValueError as exc:
            raise UsageError(f"--at: {exc}") from None

    log = IncidentLog(args.incident)
    author = resolve_author(args.author, config)
    data: dict[str, Any] = {}
    kind = "note"
    text = (args.text or "").strip()

    if args.phase is not None:
        phase = args.phase.strip().lower()
        if phase not in PHASES:
            raise UsageError(
                f"--phase: unknown phase {args.phase!r}; expected one of {', '.join(PHASES)}"
            )
        from cockpit.incident.phases import phase_record

        existing = log.read().entries if log.exists() else []
        kind, data = phase_record(existing, phase, at or now)
        if not text:
            text = f"{phase} at {format_ts(at or now)}"
    elif args.decision:
        kind = "decision"
        data = _decision_data(args, config, log)
    elif args.title is not None:
        kind = "system"
        data = {"event": "title", "title": args.title.strip()}
        text = text or f"incident title set: {args.title.strip()}"
    elif args.role is not None:
        from cockpit.incident.roles import RoleError, parse_role, role_entry

        try:
            role = parse_role(args.role)
            existing = log.read().entries if log.exists() else []
            kind, default_text, data = role_entry(role, author, existing)
        except RoleError as error:
            raise UsageError(f"--role: {error}") from None
        text = text or default_text
    elif args.severity is not None:
        from cockpit.incident.severity import SeverityError, parse_severity, severity_entry

        try:
            kind, default_text, data = severity_entry(parse_severity(args.severity))
        except SeverityError as error:
            raise UsageError(f"--severity: {error}") from None
        text = text or default_text
    if at is not None and kind not in ("phase", "correction"):
        data["at"] = format_ts(at)
    if args.lesson:
        data["tags"] = [LESSON_TAG]
    if not text:
        raise UsageError("TEXT is required (what happened, or what was decided)")

    entry = log.append(kind, text, data, author=author)
    write_stdout(f"{entry.seq}\n")
    return 0


def _check_combinations(args: argparse.Namespace) -> None:
    decision_only = [
        flag
        for flag, value in (
            ("--why", args.why),
            ("--approver", args.approver),
            ("--target-region", args.target_region),
        )
        if value is not None
    ]
    if decision_only and not args.decision:
        raise UsageError(f"{', '.join(decision_only)} only go with --decision")
    if args.decision and args.phase is not None:
        raise UsageError(
            "--decision and --phase make two entries: log the decision, then the phase"
        )
    if args.title is not None and (args.decision or args.phase is not None):
        raise UsageError("--title is an entry of its own: log the title, then the rest")
    own_entry = [
        flag
        for flag, given in (
            ("--decision", args.decision),
            ("--phase", args.phase is not None),
            ("--title", args.title is not None),
            ("--severity", args.severity is not None),
            ("--role", args.role is not None),
        )
        if given
    ]
    if len(own_entry) > 1:
        raise UsageError(
            f"{' and '.join(own_entry)} each make an entry of their own: log them one at a time"
        )
    if args.decision and not (args.text or "").strip():
        raise UsageError("a decision needs TEXT: what was decided")


def _decision_data(args: argparse.Namespace, config: Any, log: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.why is not None:
        data["why"] = args.why.strip()
    if args.approver is not None:
        data["approver"] = args.approver.strip()
    if args.target_region is None:
        return data
    target = args.target_region.strip()
    if config is not None:
        known = config.region_names()
        if target not in known:
            raise UsageError(
                f"--target-region: no region named {target!r} in {config.source};"
                f" expected one of {', '.join(known)}"
            )
    data["target_region"] = target
    from cockpit.incident.phases import current_target_region

    previous = current_target_region(log.read().entries) if log.exists() else None
    if previous is None and config is not None:
        previous = config.regions[0].name
    if previous is not None:
        data["previous_region"] = previous
    return data
