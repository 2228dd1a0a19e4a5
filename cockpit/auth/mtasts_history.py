"""The MTA-STS policy as the incident log saw it over time, and what a new probe means against it.

Senders cache a domain's MTA-STS policy for its max_age and fetch it again only when the id in
the `_mta-sts` TXT record changes (RFC 8461 3.3, 5.1). So two changes matter during an incident:

    content changed, id did not   senders that cached the previous policy keep applying it
                                  (its max_age) and never learn of the new one
    id changed, content did not   senders fetch again and find the same policy: if a change was
                                  meant, it is not the policy being served
    both changed                  a correct update

Policy contract. Whoever records probes appends an incident-log entry of kind "probe" each time
the (id, content digest) pair it sees differs from the last one logged (the first pair seen
included), with data

    {"area": "auth", "check": "mta-sts", "event": "mtasts_policy", "domain": D,
     "policy_id": ID, "policy_sha256": HEX, "max_age": SECONDS or null,
     "mode": "enforce" | "testing" | "none", "mx": [PATTERN, ...],
     "subject": "_mta-sts.D", "status": null}

(`policy_entry_data` builds it; an `mta-sts` Finding's data carries the same facts as "id",
"policy_sha256", "max_age", "mode" and "mx_patterns", see `seen_in_finding`).
`policy_history(entries, domain)` reads those entries back in log order (lowest seq first),
each with the entry's time. "mode" and "mx" are left out when not known (entries written
before they were recorded, or more mx: lines than a finding keeps): then whether the policy
covers a host cannot be told from the log.

The log also answers what senders still apply when the `_mta-sts` record disappears: they keep
an unexpired cached policy (RFC 8461 5.1), so `cached_policy` gives the latest logged policy
while its max_age, counted from when it was logged, has not run out.

A change is compared with the latest logged pair that differs from the pair seen now, so the
verdict does not go away once the new pair is logged itself; it stays while senders may still
hold the previous policy: from when the new pair was first logged (or now, before it is) for
the previous policy's max_age. After that every cached copy has expired.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cockpit.incident.entry import Entry

CHECK = "mta-sts"
EVENT = "mtasts_policy"
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_MODES = ("enforce", "testing", "none")
_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9_.-]{1,253}\Z")
MAX_PATTERNS = 20
"""An `mta-sts` Finding keeps at most this many mx: patterns (more: "mx_capped")."""

ChangeKind = Literal["content", "id", "update"]


@dataclass(frozen=True, slots=True)
class PolicySeen:
    """One (id, content) pair of the domain's policy, as logged or as just seen."""

    policy_id: str
    policy_sha256: str
    max_age: int | None = None
    seen_at: datetime | None = None
    """When it was logged (the entry's time); None for a pair not logged."""
    mode: str | None = None
    """"enforce", "testing" or "none"; None when not known."""
    mx: tuple[str, ...] | None = None
    """The policy's mx: patterns (lower case, no trailing dot); None when not known."""

    def cached_until(self) -> datetime | None:
        """The earliest moment every sender's copy may have expired: `seen_at` + max_age (a
        sender that fetched it later keeps it longer). None when either is not known."""
        if self.seen_at is None or self.max_age is None:
            return None
        return self.seen_at + timedelta(seconds=self.max_age)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.policy_id, self.policy_sha256)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """How the policy seen now differs from the previous one the log holds."""

    previous: PolicySeen
    kind: ChangeKind
    since: datetime | None
    """When the current pair was first logged; None when it is not logged yet (seen now)."""

    def in_force(self, now: datetime) -> bool:
        """Whether senders may still hold the previous policy (see the module doc)."""
        if self.previous.max_age is None:
            return True
        start = self.since if self.since is not None else now
        return now < start + timedelta(seconds=self.previous.max_age)

    def as_data(self, now: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "previous_id": self.previous.policy_id,
            "previous_sha256": self.previous.policy_sha256,
            "previous_max_age": self.previous.max_age,
            "since": None if self.since is None else self.since.isoformat(),
            "in_force": self.in_force(now),
        }


def policy_entry_data(domain: str, seen: PolicySeen) -> dict[str, Any]:
    """The data of the probe entry that records `seen` (see "Policy contract")."""
    data: dict[str, Any] = {
        "area": "auth",
        "check": CHECK,
        "event": EVENT,
        "domain": domain,
        "policy_id": seen.policy_id,
        "policy_sha256": seen.policy_sha256,
        "max_age": seen.max_age,
        "subject": f"_mta-sts.{domain}",
        "status": None,
    }
    if seen.mode is not None:
        data["mode"] = seen.mode
    if seen.mx is not None:
        data["mx"] = list(seen.mx)
    return data


def seen_in_finding(data: Mapping[str, Any]) -> PolicySeen | None:
    """The pair an `mta-sts` Finding's data reports, or None when it has no fetched policy."""
    seen = _seen(data.get("id"), data.get("policy_sha256"), data.get("max_age"), None)
    if seen is None:
        return None
    patterns = None if data.get("mx_capped") else data.get("mx_patterns")
    return replace(seen, mode=_mode(data.get("mode")), mx=_patterns(patterns))


def policy_history(entries: Iterable[Entry], domain: str | None = None) -> tuple[PolicySeen, ...]:
    """Every logged policy pair (see "Policy contract"), lowest seq first.

    Entries of another kind, check or event, or with a malformed id or digest, are skipped;
    with `domain`, so are entries whose data names another "domain".
    """
    found: list[tuple[int, PolicySeen]] = []
    for entry in entries:
        data = entry.data
        if entry.kind != "probe" or data.get("check") != CHECK or data.get("event") != EVENT:
            continue
        named = data.get("domain")
        if domain is not None and isinstance(named, str) and named.lower() != domain.lower():
            continue
        seen = _seen(
            data.get("policy_id"), data.get("policy_sha256"), data.get("max_age"), entry.ts
        )
        if seen is not None:
            seen = replace(seen, mode=_mode(data.get("mode")), mx=_patterns(data.get("mx")))
            found.append((entry.seq, seen))
    found.sort(key=lambda item: item[0])
    return tuple(seen for _, seen in found)


def cached_policy(history: Sequence[PolicySeen], now: datetime) -> PolicySeen | None:
    """The latest logged policy when senders may still hold it cached at `now`: its max_age
    since it was logged has not run out, or either time is not known. None otherwise."""
    if not history:
        return None
    latest = history[-1]
    until = latest.cached_until()
    return latest if until is None or now < until else None


def policy_change(
    history: Sequence[PolicySeen], policy_id: str, policy_sha256: str
) -> PolicyChange | None:
    """The change from the latest logged pair that differs from (id, digest) to it; None when
    the log holds no other pair."""
    current = (policy_id, policy_sha256)
    since: datetime | None = None
    for seen in reversed(history):
        if seen.pair == current:
            since = seen.seen_at  # walking back: ends on the first of the latest run
            continue
        if seen.policy_id == policy_id:
            kind: ChangeKind = "content"
        elif seen.policy_sha256 == policy_sha256:
            kind = "id"
        else:
            kind = "update"
        return PolicyChange(seen, kind, since)
    return None


def digest_text(canonical: Mapping[str, Any]) -> str:
    """sha256 (hex) of a policy's canonical form (compact JSON, keys sorted)."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _mode(value: object) -> str | None:
    return value if value in _MODES else None


def _patterns(value: object) -> tuple[str, ...] | None:
    """mx: patterns from a log entry or a finding; None when missing or not a short list of
    host patterns."""
    if not isinstance(value, list) or len(value) > MAX_PATTERNS:
        return None
    if not all(isinstance(item, str) and _PATTERN.match(item) for item in value):
        return None
    return tuple(item.lower().rstrip(".") for item in value)


def _seen(
    policy_id: object, sha256: object, max_age: object, at: datetime | None
) -> PolicySeen | None:
    if not isinstance(policy_id, str) or not _ID.match(policy_id):
        return None
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        return None
    age = max_age if isinstance(max_age, int) and not isinstance(max_age, bool) else None
    return PolicySeen(policy_id, sha256, age if age is None or age >= 0 else None, at)
