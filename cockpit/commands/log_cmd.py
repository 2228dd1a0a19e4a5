"""`cockpit log INCIDENT TEXT ...`: one entry, appended durably; prints its seq.

Besides the kinds (a note, --decision, --phase, --title, --role, --severity), a note may be
filed for the post-incident review: --cause, --factor, --impact, --went {well,badly,lucky}, or
--action with --owner, --due, --ticket (cockpit.incident.review_marks). One review flag per
note, never on an entry of another kind; --lesson and --star go with anything.
"""

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
_Marks = tuple[list[str], dict[str, Any]]
"""(tags, data) the review flags, --lesson and --star add to the entry (_review_marks)."""

_TYPED_ARGUMENTS = (
    ("text", "TEXT"),
    ("why", "--why"),
    ("approver", "--approver"),
    ("target_region", "--target-region"),
    ("phase", "--phase"),
    ("at", "--at"),
    ("author", "--author"),
    ("title", "--title"),
    ("role", "--role"),
    ("severity", "--severity"),
    ("went", "--went"),
    ("owner", "--owner"),
    ("due", "--due"),
    ("ticket", "--ticket"),
)
"""(attribute, name in messages) of every argument whose text can reach the log."""

_REVIEW_TEXT = {
    "--cause": "what triggered the incident, or its root cause",
    "--factor": "what contributed",
    "--impact": "who was affected, and how much",
    "--went": "the lesson",
    "--action": "what is to be done",
}
"""What TEXT says for each review flag (in the message when it is missing)."""


def run_log(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_optional_config, resolve_author
    from cockpit.incident.entry import format_ts, utc_now
    from cockpit.incident.log import IncidentLog
    from cockpit.incident.log_lock import DEFAULT_LOCK_WAIT
    from cockpit.incident.when import parse_at

    _check_utf8(args)
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
    _refuse_not_utf8("the author name (--author, [incident].author or $USER)", author)
    has_default_text = any(
        value is not None for value in (args.phase, args.title, args.role, args.severity)
    )
    if not (args.text or "").strip() and not has_default_text:
        raise UsageError("TEXT is required (what happened, or what was decided)")
    values = _check_values(args, config)
    tags, review_data = _review_marks(args)

    def build(existing: Sequence[Entry]) -> list[EntryParts]:
        kind, text, data = _entry_parts(args, values, config, author, existing, at or now)
        if at is not None and kind not in ("phase", "correction"):
            data["at"] = format_ts(at)
        data.update(review_data)
        if tags:
            data["tags"] = list(tags)
        return [(kind, text, data)]

    try:
        (entry,) = log.append_built(build, author=author)
    except ValueError as error:
        raise UsageError(f"entry not written: {error}") from None
    write_stdout(f"{entry.seq}\n")
    return 0


def _check_utf8(args: argparse.Namespace) -> None:
    """Refuse an argument that is not UTF-8 text (a byte from a Latin-1 terminal) before the
    log is touched: the log holds UTF-8 only, and what was typed is not guessed at."""
    for attribute, name in _TYPED_ARGUMENTS:
        value = getattr(args, attribute, None)
        if isinstance(value, str):
            _refuse_not_utf8(name, value)


def _refuse_not_utf8(name: str, value: str) -> None:
    from cockpit.incident.entry import invalid_utf8

    problem = invalid_utf8(value)
    if problem is not None:
        raise UsageError(
            f"{name} is not valid UTF-8 ({problem}); the incident log takes UTF-8 text only"
            " (set the terminal to UTF-8, or type it again); nothing was written"
        )


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


def _review_marks(args: argparse.Namespace) -> _Marks:
    """The tags (--lesson, --star, a review section) and the action item's data; a bad --went,
    --owner, --due or --ticket is refused before the log is touched."""
    from cockpit.incident.entry import WENT_TAGS
    from cockpit.incident.review_marks import (
        ACTION_FIELDS,
        ActionFieldError,
        action_data,
        action_tags,
        note_tags,
    )

    went = None if args.went is None else args.went.strip().lower()
    if went is not None and went not in WENT_TAGS:
        raise UsageError(
            f"--went: unknown heading {args.went.strip()[:40]!r};"
            f" expected one of {', '.join(WENT_TAGS)}"
        )
    if not args.action:
        section = next(
            (name for name in ("cause", "factor", "impact") if getattr(args, name)), went
        )
        return note_tags(lesson=args.lesson, key=args.star, section=section), {}
    typed = {field: getattr(args, field) for field in ACTION_FIELDS}
    for field, value in typed.items():
        if value is not None and not value.strip():
            raise UsageError(f"--{field} is empty: give a value, or leave --{field} out")
    try:
        data = action_data(**{field: value or "" for field, value in typed.items()})
    except ActionFieldError as error:
        raise UsageError(f"--{error.field}: {error}") from None
    return action_tags(lesson=args.lesson, key=args.star), data


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
    action_only = [
        flag
        for flag, value in (("--owner", args.owner), ("--due", args.due), ("--ticket", args.ticket))
        if value is not None
    ]
    if action_only and not args.action:
        raise UsageError(f"{', '.join(action_only)} only go with --action")
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
    review = [
        flag
        for flag, given in (
            ("--cause", args.cause),
            ("--factor", args.factor),
            ("--impact", args.impact),
            ("--went", args.went is not None),
            ("--action", args.action),
        )
        if given
    ]
    if review and own_entry:
        raise UsageError(
            f"{review[0]} files a note for the review and {own_entry[0]} makes an entry of its"
            " own: log them one at a time"
        )
    if len(review) > 1:
        raise UsageError(
            f"{' and '.join(review)}: a note goes under one section of the review;"
            " log one note for each"
        )
    if review and not (args.text or "").strip():
        raise UsageError(f"{review[0]} needs TEXT: {_REVIEW_TEXT[review[0]]}")
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
