"""Incident roles: who commands and who keeps the log, taken and handed over with an entry.

Convention: a `system` entry with data {"event": "role", "role": R, "holder": NAME,
"previous": OLD or absent} says NAME holds R from that entry's time on. Written by
`cockpit log INCIDENT --role commander --author NAME` (the author takes the role), by the
cockpit's `r` key, and read by the header, the summary and the export's handoff table.
A later entry for the same role replaces the holder; earlier ones are the handoff history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.incident.entry import Entry

__all__ = [
    "ROLES",
    "Handoff",
    "RoleError",
    "current_holders",
    "handoffs",
    "parse_role",
    "role_entry",
]

ROLES = ("commander", "scribe")
EVENT = "role"


class RoleError(ValueError):
    """A role that is not one of ROLES, or a blank holder."""


@dataclass(frozen=True, slots=True)
class Handoff:
    seq: int
    at: datetime
    role: str
    holder: str
    previous: str | None
    by: str
    """Who wrote the entry (the holder, or someone handing the role to them)."""


def parse_role(typed: str) -> str:
    role = typed.strip().lower()
    if role not in ROLES:
        raise RoleError(f"unknown role {typed.strip()[:40]!r}: expected one of {', '.join(ROLES)}")
    return role


def handoffs(entries: Iterable[Entry]) -> list[Handoff]:
    """Every role entry, in seq order."""
    found = []
    for entry in sorted(entries, key=lambda e: e.seq):
        data = entry.data
        if entry.kind != "system" or data.get("event") != EVENT:
            continue
        role, holder = data.get("role"), data.get("holder")
        if role not in ROLES or not isinstance(holder, str) or not holder.strip():
            continue
        previous = data.get("previous")
        found.append(
            Handoff(
                entry.seq,
                entry.ts,
                str(role),
                holder,
                previous if isinstance(previous, str) else None,
                entry.author,
            )
        )
    return found


def current_holders(entries: Iterable[Entry]) -> dict[str, str]:
    """Role -> who holds it now (roles nobody took are absent)."""
    return {handoff.role: handoff.holder for handoff in handoffs(entries)}


def role_entry(role: str, holder: str, entries: Iterable[Entry]) -> tuple[str, str, dict[str, Any]]:
    """(kind, text, data) for `holder` taking `role` (parsed), naming who held it before."""
    holder = holder.strip()
    if not holder:
        raise RoleError("a role needs a holder: who takes it")
    previous = current_holders(entries).get(role)
    data: dict[str, Any] = {"event": EVENT, "role": role, "holder": holder}
    if previous is not None and previous != holder:
        data["previous"] = previous
        text = f"{holder} takes the {role} role from {previous}"
    elif previous == holder:
        text = f"{holder} confirms holding the {role} role"
    else:
        text = f"{holder} takes the {role} role"
    return "system", text, data
