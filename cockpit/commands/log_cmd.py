"""`cockpit log INCIDENT TEXT ...`: one entry, appended durably; prints its seq."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cockpit.errors import UsageError

if TYPE_CHECKING:
    from cockpit.incident.entry import Entry
    from cockpit.incident.log import EntryParts


def run_log(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_optional_config, resolve_author
    from cockpit.incident.entry import LESSON_TAG, format_ts, utc_now
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
    has_default_text = any(
        value is not None for value in (args.phase, args.title, args.role, args.severity)
    )
    if not (args.text or "").strip() and not has_default_text:
        raise UsageError("TEXT is required (what happened, or what was decided)")
    _check_values(args, config)

    def build(existing: Sequence[Entry]) -> list[EntryParts]:
        kind, text, data = _entry_parts(args, config, author, existing, at or now)
        if at is not None and kind not in ("phase", "correction"):
            data["at"] = format_ts(at)
        if args.lesson:
            data["tags"] = [LESSON_TAG]
        return [(kind, text, data)]

    from cockpit.incident.roles import RoleError

    try:
        (entry,) = log.append_built(build, author=author)
    except (RoleError, ValueError) as error:
        raise UsageError(f"entry not written: {error}") from None
    write_stdout(f"{entry.seq}\n")
    return 0


def _check_values(args: argparse.Namespace, config: Any) -> None:
    """Refuse a bad phase, role, severity or target region before the log is touched."""
    from cockpit.incident.entry import PHASES
    from cockpit.incident.roles import RoleError, parse_role
    from cockpit.incident.severity import SeverityError, parse_severity

    if args.phase is not None and args.phase.strip().lower() not in PHASES:
        raise UsageError(
            f"--phase: unknown phase {args.phase!r}; expected one of {', '.join(PHASES)}"
        )
    try:
        if args.role is not None:
            parse_role(args.role)
    except RoleError as error:
        raise UsageError(f"--role: {error}") from None
    try:
        if args.severity is not None:
            parse_severity(args.severity)
    except SeverityError as error:
        raise UsageError(f"--severity: {error}") from None
    if args.decision and args.target_region is not None and config is not None:
        target = args.target_region.strip()
        known = config.region_names()
        if target not in known:
            raise UsageError(
                f"--target-region: no region named {target!r} in {config.source};"
                f" expected one of {', '.join(known)}"
            )


def _entry_parts(
    args: argparse.Namespace,
    config: Any,
    author: str,
    existing: Sequence[Entry],
    when: datetime,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, text, data) of the entry, from the arguments and the log's entries so far."""
    from cockpit.incident.entry import format_ts

    text = (args.text or "").strip()
    if args.phase is not None:
        from cockpit.incident.phases import phase_record

        phase = args.phase.strip().lower()
        kind, data = phase_record(existing, phase, when)
        return kind, text or f"{phase} at {format_ts(when)}", data
    if args.decision:
        return "decision", text, _decision_data(args, config, existing)
    if args.title is not None:
        title = args.title.strip()
        return "system", text or f"incident title set: {title}", {"event": "title", "title": title}
    if args.role is not None:
        from cockpit.incident.roles import parse_role, role_entry

        kind, default_text, data = role_entry(parse_role(args.role), author, existing)
        return kind, text or default_text, data
    if args.severity is not None:
        from cockpit.incident.severity import parse_severity, severity_entry

        kind, default_text, data = severity_entry(parse_severity(args.severity))
        return kind, text or default_text, data
    return "note", text, {}


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


def _decision_data(
    args: argparse.Namespace, config: Any, existing: Sequence[Entry]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.why is not None:
        data["why"] = args.why.strip()
    if args.approver is not None:
        data["approver"] = args.approver.strip()
    if args.target_region is None:
        return data
    data["target_region"] = args.target_region.strip()
    from cockpit.incident.phases import current_target_region

    previous = current_target_region(existing)
    if previous is None and config is not None:
        previous = config.regions[0].name
    if previous is not None:
        data["previous_region"] = previous
    return data
