"""Probe changes as `probe` entries for the incident log: de-duplicated, rate-limited, bounded.

The UI calls `ProbeLogger.offer` after every sweep (DNS, auth, queue), with that sweep's
events, even when there are none: held changes are released by the clock, not by events.
Each ProbeEntry it returns is appended as `append("probe", entry.text, entry.data, ...)`.

    data = {"area": "dns" | "auth" | "queue", "event": kind, "status": ok|warn|fail|unknown|None,
            "subject": record key / source / check, "dedupe_key": "dns|resolver|...",
            "evidence": {...}, plus "server", "region", the queue depth, "flapped", "at"}

Rules, in the order `offer` applies them:
- dedupe    every change has a key (area, what, subject, server) and a state. A change whose
            state is the one last logged for its key (and nothing is held) is dropped: the
            same state is never logged twice in a row.
- rate      one entry per key per `min_interval_s`. The first change of a quiet key is
            logged at once; later changes within the interval are held (only the newest is
            kept, the others counted). At the first offer after the interval ends the held
            change is logged once, with "(flapped N times in S s)" (N counts the logged change
            too) and data.at = when the newest held change was seen. A resolver that flips
            A->B->A->B logs B at once and then, one interval later, B again with
            "flapped 3 times": the log always ends on the true state.
- burst     at most `burst` entries per offer: the first `burst - 1` in order, the rest folded
            into one "and N more changes: ..." entry grouped by what changed, in order of
            first appearance. Folded changes count as logged.
- converged `record_converged` is never held and never folded: it always gets its own entry.
- evidence  JSON data (never markup), at most EVIDENCE_BYTES of compact UTF-8 JSON; longer
            evidence is shrunk (strings cut, lists shortened, each cut marked with "…").
- order     deterministic: released held changes first (in the order their keys were first
            seen), then this offer's changes in the order given, then the summary.

Findings of the auth, service, replication and authority areas become entries through
`cockpit.incident.finding_changes`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from cockpit.dns.events import EVENT_KINDS as DNS_EVENT_KINDS
from cockpit.dns.events import DnsEvent
from cockpit.incident.probe_text import TEXT_CHARS, fit_around
from cockpit.model import Status, worst
from cockpit.queue.events import QueueEvent

__all__ = [
    "EVIDENCE_BYTES",
    "TEXT_CHARS",
    "ProbeEntry",
    "ProbeLogger",
    "bound_evidence",
    "fold_burst",
    "probe_id",
]

EVIDENCE_BYTES = 2048
"""The most compact UTF-8 JSON one entry's evidence may take."""
_LIST_ITEMS = 20
"""Findings named in a starting picture or groups in a summary's evidence."""
_SUMMARY_GROUPS = 4
"""Groups spelled out in a summary's text; the others are counted."""

_RESOLVER_KINDS = frozenset(kind for kind in DNS_EVENT_KINDS if kind.startswith("resolver_"))
_URGENT_KINDS = frozenset({"record_converged", "delivery_proven"})
"""Events never held nor folded: a record converged; a canary proved mail flows after routing
(its evidence is what the export cites)."""
_CHECK_AREAS = frozenset({"auth", "service", "replication", "authority"})
_QUEUE_PHRASES = {
    "depth_up": "depth crossed a threshold upwards",
    "depth_down": "depth fell back below a threshold",
    "age_up": "oldest message age crossed a threshold upwards",
    "age_down": "oldest message age fell back below a threshold",
    "growth_up": "started to grow too fast",
    "growth_down": "stopped growing too fast",
    "source_unknown": "source unknown",
    "source_recovered": "source readable again",
}
_QUEUE_LEVEL_STATUS = {"ok": Status.OK, "warn": Status.WARN, "crit": Status.FAIL}
_DEPTH_KEYS = ("total", "deferred", "peak_total")


@dataclass(frozen=True, slots=True)
class ProbeEntry:
    text: str
    """One line: "Quad9 now answers secondary for example.com MX"."""
    data: dict[str, Any]
    """area, event, status, subject, evidence (bounded), dedupe_key; see the module docstring."""
    noun: str = "change"
    """What changed, for a burst summary: "resolver", "queue", "auth check"."""
    phrase: str = ""
    """How it changed, for a burst summary: "now answers secondary for example.com MX"."""

    @property
    def urgent(self) -> bool:
        """Never held and never folded into a summary (a record converged)."""
        return self.data.get("event") in _URGENT_KINDS

    @property
    def probe_id(self) -> str | None:
        """Which change this is (its subject and the state it reached), the same in every
        cockpit that observed it; None for a summary of several."""
        value = self.data.get("probe_id")
        return value if isinstance(value, str) else None


Offered = DnsEvent | QueueEvent | ProbeEntry


# --- evidence ---------------------------------------------------------------------------------


def _jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data: enums by value, times as ISO strings, NaN as None."""
    if depth > 8:
        return "…"
    if isinstance(value, Enum):
        return _jsonable(value.value, depth)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(item, depth + 1) for item in items]
    return str(value)


def _size(value: Any) -> int:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _shrink(value: Any, chars: int, items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[: max(chars - 1, 0)] + "…"
    if isinstance(value, dict):
        kept = {key[:chars]: _shrink(item, chars, items) for key, item in value.items()}
        if len(kept) > items * 2:
            names = list(kept)[: items * 2]
            kept = {name: kept[name] for name in names} | {"…": f"{len(value) - len(names)} more"}
        return kept
    if isinstance(value, list):
        shrunk = [_shrink(item, chars, items) for item in value[:items]]
        if len(value) > items:
            shrunk.append(f"…[{len(value) - items} more]")
        return shrunk
    return value


def bound_evidence(value: Any, limit: int = EVIDENCE_BYTES) -> Any:
    """`value` as JSON data of at most `limit` bytes (compact, UTF-8), cut where it must be."""
    data = _jsonable(value)
    if _size(data) <= limit:
        return data
    for chars, items in ((256, 16), (96, 8), (40, 4), (16, 2)):
        shrunk = _shrink(data, chars, items)
        if _size(shrunk) <= limit:
            return shrunk
    # Deeply nested data is still too big: keep the start of its JSON as one string. A
    # character takes at most 4 bytes, or 2 once escaped again, so limit // 8 of them fit.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return {"cut": text[: limit // 8] + "…"}


def _text(text: str, limit: int = TEXT_CHARS, names: tuple[Any, ...] = ()) -> str:
    """`text` cleaned and at most `limit` long; the `names` it holds (its subject, server,
    region) stay whole, the evidence between them is shortened (cockpit.incident.probe_text)."""
    return fit_around(text, (name for name in names if isinstance(name, str)), limit)


def _names(data: dict[str, Any]) -> tuple[Any, ...]:
    return (data.get("server"), data.get("subject"), data.get("region"))


# --- events as entries ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """One offered change with what the logger needs to judge it."""

    entry: ProbeEntry
    key: str
    state: str
    noun: str
    """What changed, for a summary: "resolver", "queue", "auth check"."""
    phrase: str
    """How it changed, for a summary: "now answers secondary for example.com MX"."""

    @property
    def urgent(self) -> bool:
        return self.entry.data.get("event") in _URGENT_KINDS


def _key(*parts: str | None) -> str:
    return "|".join("" if part is None else part for part in parts)


def _state(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False)


def probe_id(key: str, state: str) -> str:
    """The identity of a change: its dedupe key and the state it reached, hashed (16 hex)."""
    return hashlib.sha256(f"{key}\n{state}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _dns_status(event: DnsEvent) -> Status | None:
    kind = event.kind
    if kind in ("record_converged", "resolver_recovered", "serial_skew_resolved"):
        return Status.OK
    if kind in ("record_diverged", "serial_skew"):
        return Status.WARN
    if kind == "resolver_failed":
        return Status.UNKNOWN
    if kind == "resolver_serving_stale":
        return Status.WARN
    after = event.data.get("after")
    verdict = after.get("verdict") if isinstance(after, Mapping) else None
    if verdict == "failed":
        return Status.UNKNOWN
    if verdict in ("mixed", "unexpected", "missing", "stale"):
        return Status.WARN
    if verdict == "current":
        return Status.OK
    # A region answer is good or bad only against the failover target, which events lack.
    return None


def _dns_change(event: DnsEvent) -> _Change:
    after = event.data.get("after")
    after_view = dict(after) if isinstance(after, Mapping) else {}
    if event.kind in _RESOLVER_KINDS or event.kind == "authoritative_changed":
        what = "authoritative" if event.kind == "authoritative_changed" else "resolver"
        key = _key("dns", what, event.key, event.server)
        seen = {k: after_view.get(k) for k in ("outcome", "answers", "verdict", "region")}
        if after_view.get("served_stale"):
            # Only when it is: the state of every other answer hashes as it always did, so a
            # log written before keeps matching (each change logged once).
            seen["served_stale"] = after_view["served_stale"]
        state = _state(seen)
        noun = "authoritative server" if what == "authoritative" else "resolver"
        prefix = f"{event.server} "
        phrase = event.text.removeprefix(prefix) if event.text.startswith(prefix) else event.kind
    else:
        what = "soa" if event.kind.startswith("serial_skew") else "record"
        key = _key("dns", what, event.key, event.server)
        # Converged on primary, then on secondary after a failover, are two pieces of news.
        target = event.data.get("target")
        state = event.kind if target is None else _key(event.kind, str(target))
        noun, phrase = "record", event.kind.replace("_", " ")
    status = _dns_status(event)
    data: dict[str, Any] = {
        "area": "dns",
        "event": event.kind,
        "status": None if status is None else status.value,
        "subject": event.key,
        "server": event.server,
        "evidence": bound_evidence(event.data),
        "dedupe_key": key,
    }
    text = _text(event.text, names=(event.server, event.key))
    return _Change(ProbeEntry(text, data), key, state, noun, phrase)


def _queue_status(event: QueueEvent) -> Status | None:
    if event.kind == "source_unknown":
        return Status.UNKNOWN
    if event.kind == "source_recovered":
        return Status.OK
    return _QUEUE_LEVEL_STATUS.get(str(event.data.get("after")))


def _queue_change(event: QueueEvent) -> _Change:
    raw = _jsonable(event.data)
    depth = {name: raw.get(name) for name in _DEPTH_KEYS}
    # The export shows evidence as JSON with sorted keys, cut at 300 characters: "backlog"
    # sorts early, so the depth at that moment survives the cut.
    evidence = {"backlog": depth} | {k: v for k, v in raw.items() if k not in depth}
    if event.kind.startswith("source_"):
        key, state = _key("queue", "source", event.source, event.region), event.kind
    else:
        threshold = event.kind.split("_")[0]
        key = _key("queue", threshold, event.source, event.region)
        state = str(event.data.get("after"))
    status = _queue_status(event)
    data: dict[str, Any] = {
        "area": "queue",
        "event": event.kind,
        "status": None if status is None else status.value,
        "subject": event.source,
        "region": event.region,
        **depth,
        "evidence": bound_evidence(evidence),
        "dedupe_key": key,
    }
    phrase = _QUEUE_PHRASES.get(event.kind, event.kind)
    text = _text(event.text, names=(event.source, event.region))
    return _Change(ProbeEntry(text, data), key, state, "queue", phrase)


def _entry_change(entry: ProbeEntry) -> _Change:
    data = entry.data
    event = str(data.get("event") or "probe")
    key = str(data.get("dedupe_key") or _key(str(data.get("area")), event, entry.text))
    status = data.get("status")
    noun = f"{data.get('area')} check" if data.get("area") in _CHECK_AREAS else "change"
    phrase = f"now {status}" if status is not None else event.replace("_", " ")
    bounded = dict(data)
    if "evidence" in bounded:
        bounded["evidence"] = bound_evidence(bounded["evidence"])
    text = _text(entry.text, names=_names(data))
    return _Change(ProbeEntry(text, bounded), key, _state(status), noun, phrase)


def _change(item: Offered) -> _Change:
    if isinstance(item, DnsEvent):
        return _dns_change(item)
    if isinstance(item, QueueEvent):
        return _queue_change(item)
    return _entry_change(item)


# --- the logger -------------------------------------------------------------------------------


@dataclass(slots=True)
class _KeyState:
    logged_state: str | None = None
    logged_at: datetime | None = None
    held: _Change | None = None
    held_at: datetime | None = None
    held_changes: int = 0


class ProbeLogger:
    """Decides which probe changes to append to the log, and when (see the module docstring)."""

    def __init__(
        self,
        *,
        min_interval_s: float = 60.0,
        burst: int | None = 10,
        clock: Callable[[], datetime],
    ) -> None:
        """`burst` None: nothing is folded here (the writer folds what it writes together)."""
        if min_interval_s < 0:
            raise ValueError("min_interval_s must not be negative")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.min_interval_s = min_interval_s
        self.burst = burst
        self._clock = clock
        self._keys: dict[str, _KeyState] = {}

    @property
    def held(self) -> int:
        """How many keys have a change waiting for their interval to end."""
        return sum(state.held is not None for state in self._keys.values())

    def offer(self, events: Iterable[Offered]) -> list[ProbeEntry]:
        """What to append now, given this sweep's events (call it even with none)."""
        now = self._clock()
        out: list[ProbeEntry] = self._release(now, force=False)
        for item in events:
            change = _change(item)
            state = self._keys.setdefault(change.key, _KeyState())
            if state.held is None and change.state == state.logged_state:
                continue
            if state.held is not None and change.state == state.held.state and not change.urgent:
                continue
            if change.urgent or self._quiet(state, now):
                out.append(self._log(state, change, now))
            else:
                state.held, state.held_at = change, now
                state.held_changes += 1
        return fold_burst(out, self.burst)

    def flush(self) -> list[ProbeEntry]:
        """Every held change, now, whatever the interval (when the cockpit closes)."""
        return fold_burst(self._release(self._clock(), force=True), self.burst)

    def _quiet(self, state: _KeyState, now: datetime) -> bool:
        if state.logged_at is None:
            return True
        return (now - state.logged_at).total_seconds() >= self.min_interval_s

    def _release(self, now: datetime, *, force: bool) -> list[ProbeEntry]:
        released: list[ProbeEntry] = []
        for state in self._keys.values():
            if state.held is not None and (force or self._quiet(state, now)):
                released.append(self._log(state, state.held, now))
        return released

    def _log(self, state: _KeyState, change: _Change, now: datetime) -> ProbeEntry:
        observed = state.held_at if change is state.held and state.held_at is not None else now
        entry = ProbeEntry(
            change.entry.text,
            change.entry.data
            | {"probe_id": probe_id(change.key, change.state), "observed_at": observed.isoformat()},
            change.noun,
            change.phrase,
        )
        if state.held_changes and state.logged_at is not None and state.held_at is not None:
            changes = state.held_changes + 1
            seconds = max(1, math.ceil((state.held_at - state.logged_at).total_seconds()))
            if change is not state.held:
                # An urgent change overtook a held one: the held one counts towards the flaps.
                changes += 1
                seconds = max(1, math.ceil((now - state.logged_at).total_seconds()))
            data = dict(entry.data)
            data["flapped"] = {
                "changes": changes,
                "seconds": seconds,
                "since": state.logged_at.isoformat(),
            }
            if change is state.held:
                data["at"] = state.held_at.isoformat()
            suffix = f" (flapped {changes} times in {seconds} s)"
            text = _text(entry.text, TEXT_CHARS - len(suffix), _names(data)) + suffix
            entry = ProbeEntry(text, data, entry.noun, entry.phrase)
        state.logged_state, state.logged_at = change.state, now
        state.held, state.held_at, state.held_changes = None, None, 0
        return entry


def fold_burst(entries: list[ProbeEntry], burst: int | None) -> list[ProbeEntry]:
    """`entries` with all but `burst - 1` of them (never an urgent one) folded into one
    summary; unchanged when they fit, or when `burst` is None."""
    if burst is None or len(entries) <= burst:
        return list(entries)
    urgent = sum(entry.urgent for entry in entries)
    room = max(burst - 1 - urgent, 0)
    kept: list[ProbeEntry] = []
    folded: list[ProbeEntry] = []
    for entry in entries:
        if entry.urgent:
            kept.append(entry)
        elif room:
            kept.append(entry)
            room -= 1
        else:
            folded.append(entry)
    if len(folded) == 1:
        return kept + folded
    return kept + [_summary(folded)]


def _summary(folded: list[ProbeEntry]) -> ProbeEntry:
    groups: dict[tuple[str, str, str], list[ProbeEntry]] = {}
    for entry in folded:
        group = (entry.noun, entry.phrase, str(entry.data.get("event")))
        groups.setdefault(group, []).append(entry)
    parts = []
    for (noun, phrase, _event), entries in list(groups.items())[:_SUMMARY_GROUPS]:
        parts.append(f"{len(entries)} {noun}{'' if len(entries) == 1 else 's'}: {phrase}")
    if len(groups) > _SUMMARY_GROUPS:
        parts.append(f"{len(groups) - _SUMMARY_GROUPS} more kinds of change")
    text = f"and {len(folded)} more changes: " + "; ".join(parts)
    statuses = [
        Status(entry.data["status"])
        for entry in folded
        if entry.data.get("status") in tuple(Status)
    ]
    evidence = {
        "folded": len(folded),
        "groups": [
            {
                "area": entries[0].data.get("area"),
                "event": event,
                "what": phrase,
                "count": len(entries),
                "subjects": [
                    _key(str(e.data.get("subject")), e.data.get("server")) for e in entries[:8]
                ],
            }
            for (_noun, phrase, event), entries in list(groups.items())[:_LIST_ITEMS]
        ],
    }
    areas = sorted({str(entry.data.get("area")) for entry in folded})
    data = {
        "area": areas[0] if len(areas) == 1 else "mixed",
        "event": "folded",
        "status": worst(statuses).value if statuses else None,
        "subject": f"{len(folded)} changes",
        "evidence": bound_evidence(evidence),
        "dedupe_key": None,
        "covers": [
            [entry.probe_id, entry.data.get("observed_at")]
            for entry in folded
            if entry.probe_id is not None
        ],
    }
    return ProbeEntry(_text(text), data, "summary", "")
