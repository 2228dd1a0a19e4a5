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
    from cockpit.incident.log_lock import LockHolder

_Values = tuple[str | None, str | None, str | None]
"""(phase, role, severity) as parsed by _check_values, each None when not given."""


def run_log(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_optional_config, resolve_author
    from cockpit.incident.entry import KEY_TAG, LESSON_TAG, format_ts, utc_now
    from cockpit.incident.log import IncidentLog
    from cockpit.incident.log_lock import DEFAULT_LOCK_WAIT
    from cockpit.incident.when import parse_at

    _check_combinations(args)
    config, config_warning = load_optional_config(args.config, incident=args.incident)
    if config_warning:
        report_warning(config_warning)
    now = utc_now()
    at: datetime | None = None
    if args.at is not None:
        try:
            at = parse_at(args.at, now=now)
        except ValueError as exc:
            raise UsageError(f"--at: {exc}") from None

    def waiting(holder: LockHolder | None) -> None:
        who = holder.describe() if holder is not None else "another writer"
        report_warning(f"waiting for the incident log: {who} holds its lock")

    wait = DEFAULT_LOCK_WAIT if args.wait is None else args.wait
    log = IncidentLog(args.incident, lock_wait=wait, on_wait=waiting)
    author = resolve_author(args.author, config)
    has_default_text = any(
        value is not None for value in (args.phase, args.title, args.role, args.severity)
    )
    if not (args.text or "").strip() and not has_default_text:
        raise UsageError("TEXT is required (what happened, or what was decided)")
    values = _check_values(args, config)

    def build(existing: Sequence[Entry]) -> list[EntryParts]:
        kind, text, data = _entry_parts(args, values, config, author, existing, at or now)
        if at is not None and kind not in ("phase", "correction"):
            data["at"] = format_ts(at)
        tags = [tag for tag, wanted in ((LESSON_TAG, args.lesson), (KEY_TAG, args.star)) if wanted]
        if tags:
            data["tags"] = tags
        return [(kind, text, data)]

    try:
        (entry,) = log.append_built(build, author=author)
    except ValueError as error:
        raise UsageError(f"entry not written: {error}") from None
    write_stdout(f"{entry.seq}\n")
    return 0


def _check_values(args: argparse.Namespace, config: Any) -> _Values:
    """Refuse a bad phase, role, severity or target region before the log is touched.

    Returns the parsed (phase, role, severity), each None when not given."""
    from cockpit.incident.entry import PHASES
    from cockpit.incident.roles import RoleError, parse_role
    from cockpit.incident.severity import SeverityError, parse_severity

    phase = None if args.phase is None else args.phase.strip().lower()
    if phase is not None and phase not in PHASES:
        raise UsageError(
            f"--phase: unknown phase {args.phase!r}; expected one of {', '.join(PHASES)}"
        )
    role = severity = None
    try:
        if args.role is not None:
            role = parse_role(args.role)
    except RoleError as error:
        raise UsageError(f"--role: {error}") from None
    try:
        if args.severity is not None:
            severity = parse_severity(args.severity)
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
    return phase, role, severity


def _entry_parts(
    args: argparse.Namespace,
    values: _Values,
    config: Any,
    author: str,
    existing: Sequence[Entry],
    when: datetime,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, text, data) of the entry, from the arguments and the log's entries so far."""
    from cockpit.incident.entry import format_ts

    phase, role, severity = values
    text = (args.text or "").strip()
    if phase is not None:
        from cockpit.incident.phases import phase_record

        kind, data = phase_record(existing, phase, when)
        return kind, text or f"{phase} at {format_ts(when)}", data
    if args.decision:
        return "decision", text, _decision_data(args, config, existing)
    if args.title is not None:
        title = args.title.strip()
        return "system", text or f"incident title set: {title}", {"event": "title", "title": title}
    if role is not None:
        from cockpit.incident.roles import role_entry

        kind, default_text, data = role_entry(role, author, existing)
        return kind, text or default_text, data
    if severity is not None:
        from cockpit.incident.severity import severity_entry

        kind, default_text, data = severity_entry(severity)
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
    from cockpit.incident.phases import failover_data

    first_region = config.regions[0].name if config is not None and config.regions else None
    data.update(failover_data(args.target_region.strip(), existing, first_region))
    return data
