"""Judge region authority from the roles read (pure: no I/O, the time is given).

    judge_authority(config, readings, target=..., decided_at=..., routed_at=..., now=...)

One finding per role source (area "authority", check "role", subject the source name):
ok when read, the role in data ("primary", "standby", or another role as said); unknown
when it could not be read, with the reason ("not read yet" when no reading was given), never
"standby". Then one overall finding (check "primary", subject "control plane"), region the
one region claiming primary, else None:

    two or more regions claim primary                              fail  split brain
    one region P claims primary, and no decision, or P = target    ok; unknown while a
                                                                         source of another
                                                                         region is not read
    P != target, within `[authority] grace` s of the decision      warn  the switch may still
                                                                         be under way
    P != target, grace passed, routed phase set                    fail  mail goes to the
                                                                         target, the primary
                                                                         is elsewhere
    P != target, grace passed, not routed yet                      warn  still primary in P;
                                                                         the decision names T
                                                                         (routing it is the
                                                                         next step, not a fault)
    P != target, no decision time known                            warn
    no region claims primary, some source not read                 unknown  cannot tell
    no region claims primary, every source read                    fail  no primary

A region claims primary when any of its sources says "primary". A source of another region
that could not be read may be claiming primary too: split brain cannot be ruled out, so the
verdict that would be ok is unknown and names it ("primary in eu; cannot rule out split brain:
not read: us-control: timed out"). An unread source of the primary's own region changes
nothing (that region claims primary either way): the ok verdict names it in its summary.
With no role source configured there are no findings at all.

observed_at: a source's finding, when its read began (`now` for a source not read yet); the
overall finding, the oldest read it used (`now` when none).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cockpit.authority.sources import PRIMARY, STANDBY, RoleReading
from cockpit.config.model import Config, RoleSource
from cockpit.model import Finding, Status
from cockpit.replication.findings import format_lag
from cockpit.safe_text import clean

__all__ = ["OVERALL_SUBJECT", "judge_authority"]

OVERALL_SUBJECT = "control plane"
NOT_READ_YET = "not read yet"


def _role_finding(
    source: RoleSource, region: str, reading: RoleReading | None, now: datetime
) -> Finding:
    data: dict[str, Any] = {
        "kind": source.kind,
        "role": None,
        "raw": None,
        "error": None,
        "elapsed_s": None,
    }
    if reading is None or reading.role is None:
        error = NOT_READ_YET if reading is None else clean(reading.error or "no role read")
        data["error"] = error
        if reading is not None:
            data["elapsed_s"] = round(reading.elapsed_s, 3)
        return Finding(
            "authority",
            "role",
            source.name,
            Status.UNKNOWN,
            f"unknown: {error}",
            region,
            data=data,
            observed_at=now if reading is None else reading.started_at,
        )
    data.update(role=reading.role, raw=reading.raw, elapsed_s=round(reading.elapsed_s, 3))
    if reading.role in (PRIMARY, STANDBY):
        summary = reading.role
        if reading.raw is not None and reading.raw.casefold() != reading.role:
            summary += f' (says "{reading.raw}")'
    else:
        summary = f'says "{reading.role}" (neither primary nor standby)'
    return Finding(
        "authority",
        "role",
        source.name,
        Status.OK,
        summary,
        region,
        data=data,
        observed_at=reading.started_at,
    )


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _unread_text(unread: list[str], errors: Mapping[str, str]) -> str:
    shown = [f"{name}: {errors[name]}" for name in unread[:3]]
    more = f" and {len(unread) - 3} more" if len(unread) > 3 else ""
    return "; ".join(shown) + more


def _verdict(
    primary_regions: list[str],
    unread: list[str],
    errors: Mapping[str, str],
    roles: Mapping[str, str | None],
    region_of: Mapping[str, str],
    *,
    target: str | None,
    since_decision_s: float | None,
    routed: bool,
    grace: float,
) -> tuple[Status, str]:
    """(status, summary) of the overall finding; see the module docstring's table."""
    if len(primary_regions) >= 2:
        every = "both" if len(primary_regions) == 2 else "all"
        return Status.FAIL, f"split brain: {_and(primary_regions)} {every} claim primary"
    if not primary_regions:
        if unread:
            return Status.UNKNOWN, (
                f"no region claims primary, and {len(unread)} role source"
                f"{' was' if len(unread) == 1 else 's were'} not read: cannot tell"
                f" ({_unread_text(unread, errors)})"
            )
        said = ", ".join(f"{name}: {role}" for name, role in list(roles.items())[:6])
        return Status.FAIL, f"no primary: every role source was read and none says primary ({said})"
    primary = primary_regions[0]
    caveat = f"; not read: {_unread_text(unread, errors)}" if unread else ""
    elsewhere = [name for name in unread if region_of.get(name) != primary]
    if target is None or primary == target:
        as_decided = "" if target is None else ", as decided"
        if elsewhere:
            return Status.UNKNOWN, (
                f"primary in {primary}{as_decided}; cannot rule out split brain: not read: "
                f"{_unread_text(elsewhere, errors)}"
            )
        return Status.OK, f"primary in {primary}{as_decided}{caveat}"
    if since_decision_s is None:
        return Status.WARN, f"primary in {primary}; the decision names {target}"
    if since_decision_s < grace:
        left = format_lag(grace - since_decision_s)
        return Status.WARN, (
            f"primary still in {primary}; the decision names {target}"
            f" ({format_lag(since_decision_s)} ago, grace {left} left)"
        )
    if routed:
        return Status.FAIL, (
            f"primary still in {primary}, but mail is routed to {target}: the decision is"
            f" {format_lag(since_decision_s)} old (grace {format_lag(grace)})"
        )
    return Status.WARN, (
        f"still primary in {primary}; the decision names {target}"
        f" ({format_lag(since_decision_s)} ago, not routed yet)"
    )


def judge_authority(
    config: Config,
    readings: Mapping[str, RoleReading],
    *,
    target: str | None,
    decided_at: datetime | None,
    routed_at: datetime | None,
    now: datetime,
) -> list[Finding]:
    """One finding per role source, then the overall verdict (see the module docstring).

    `readings` maps a role source's name to its latest reading (others are ignored);
    `target` is the region the latest failover decision names and `decided_at` when it was
    taken (None before any decision); `routed_at` is the routed phase's time, if set.
    """
    sources = [(region.name, source) for region in config.regions for source in region.roles]
    if not sources:
        return []
    findings = [
        _role_finding(source, region, readings.get(source.name), now) for region, source in sources
    ]
    used = [readings[s.name] for _, s in sources if s.name in readings]
    roles: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    primary_regions: list[str] = []
    for region, source in sources:
        reading = readings.get(source.name)
        role = None if reading is None else reading.role
        roles[source.name] = role
        if role is None:
            errors[source.name] = (
                NOT_READ_YET if reading is None else clean(reading.error or "no role read")
            )
        elif role == PRIMARY and region not in primary_regions:
            primary_regions.append(region)
    unread = list(errors)
    shown_target = None if target is None else clean(target)[:64]
    since_decision_s = None if decided_at is None else max(0.0, (now - decided_at).total_seconds())
    grace = config.authority.grace
    status, summary = _verdict(
        primary_regions,
        unread,
        errors,
        {name: role for name, role in roles.items() if role is not None},
        {source.name: region for region, source in sources},
        target=shown_target,
        since_decision_s=since_decision_s,
        routed=routed_at is not None,
        grace=grace,
    )
    data: dict[str, Any] = {
        "primary_regions": primary_regions,
        "target": shown_target,
        "decided_at": None if decided_at is None else decided_at.isoformat(),
        "routed_at": None if routed_at is None else routed_at.isoformat(),
        "grace": grace,
        "since_decision_s": since_decision_s,
        "roles": roles,
        "unread": unread,
        "errors": errors,
    }
    findings.append(
        Finding(
            "authority",
            "primary",
            OVERALL_SUBJECT,
            status,
            summary,
            primary_regions[0] if len(primary_regions) == 1 else None,
            data=data,
            observed_at=min((r.started_at for r in used), default=now),
        )
    )
    return findings
