"""Data at risk (RPO): the replication lag at the moment of a failover decision.

    parts = rpo_parts(entries, lags_seen)       # [] when this decision already has its entry
    risk = data_at_risk(entries)                # for the export: None without any such entry

When the cockpit learns of a failover decision it appends one `probe` entry, event
"replication_at_decision", for that decision (data.decision_seq): for each replication source,
the lag reading taken at or just before the decision (else the first one after it, flagged
"after"), with its own observation time. The decision's moment is its data.at when it was
logged afterwards with a time (`cockpit log --decision --at`), else its entry's time.

The data at risk is the largest lag among the target region's sources: what the region that
now serves had not yet received. A source that could not be read at that moment is listed
with its error; when any source of the target region has no
number the data at risk is unknown, never 0 and never the largest of the others (the unread
one may be hours behind): the text names it and gives the others' largest as a floor ("at
least 4 s"). With the configured sources given, the entry waits until each source of the
target region has been read once (a read that fails is a reading too: it waits at most one
timeout).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.incident.entry import Entry, data_time, format_ts
from cockpit.incident.phases import latest_failover_decision
from cockpit.replication.lag_text import format_lag

__all__ = ["RPO_EVENT", "DataAtRisk", "LagSeen", "data_at_risk", "rpo_parts", "rpo_recorded"]

RPO_EVENT = "replication_at_decision"


@dataclass(frozen=True, slots=True)
class LagSeen:
    """One replication lag reading as the cockpit saw it."""

    source: str
    region: str
    lag_s: float | None
    """None when the source could not be read (see `error`)."""
    at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DataAtRisk:
    """The export's view of the data at risk of the latest failover decision."""

    target_region: str
    decided_at: datetime
    lag_s: float | None
    """The largest lag of the target region's sources; None: unknown."""
    source: str | None
    """The source that gave `lag_s`."""
    read_at: datetime | None
    reason: str
    """How it was read, or why it is unknown."""


def _pick(readings: Sequence[LagSeen], decided_at: datetime) -> tuple[LagSeen, bool]:
    """The reading at or just before the decision, else the first after it (True: after)."""
    before = [reading for reading in readings if reading.at <= decided_at]
    if before:
        return max(before, key=lambda reading: reading.at), False
    return min(readings, key=lambda reading: reading.at), True


def rpo_recorded(entries: Sequence[Entry]) -> bool:
    """The latest failover decision has its entry already (or there is no decision)."""
    decision = latest_failover_decision(entries)
    return decision is None or any(
        entry.kind == "probe"
        and entry.data.get("event") == RPO_EVENT
        and entry.data.get("decision_seq") == decision.seq
        for entry in entries
    )


def rpo_parts(
    entries: Sequence[Entry],
    lags_seen: Iterable[LagSeen],
    configured: Mapping[str, str] | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The (kind, text, data) recording the lag at the latest failover decision, or nothing
    (no decision, no lag reading yet, a configured source of the target region not read yet,
    or the entry for that decision exists already). `configured`: source name -> region."""
    if rpo_recorded(entries):
        return []
    decision = latest_failover_decision(entries)
    assert decision is not None
    by_source: dict[str, list[LagSeen]] = {}
    for reading in lags_seen:
        by_source.setdefault(reading.source, []).append(reading)
    if not by_source:
        return []
    target = str(decision.data["target_region"])
    # When the decision was taken: its data.at when it was logged afterwards (`cockpit log
    # --decision --at`), else when it was written.
    typed = data_time(decision.data, "at")
    decided_at = typed if typed is not None and typed <= decision.ts else decision.ts
    if any(
        region == target and name not in by_source for name, region in (configured or {}).items()
    ):
        return []
    sources: list[dict[str, Any]] = []
    for name, readings in by_source.items():
        reading, after = _pick(readings, decided_at)
        sources.append(
            {
                "source": name,
                "region": reading.region,
                "lag_s": reading.lag_s,
                "at": format_ts(reading.at),
                "after_decision": after,
                "error": reading.error,
            }
        )
    in_target = [source for source in sources if source["region"] == target]
    target_lags = [source for source in in_target if source["lag_s"] is not None]
    unread = [source for source in in_target if source["lag_s"] is None]
    worst = max(target_lags, key=lambda source: source["lag_s"], default=None)
    floor: Any = None
    if worst is None:
        text = f"Data at risk at the failover to {target}: unknown (no lag read for {target})"
    elif unread:
        floor, worst = worst, None
        text = (
            f"Data at risk at the failover to {target}: unknown ("
            + "; ".join(
                f"{source['source']} not read: {source['error'] or 'no number'}"
                for source in unread
            )
            + f"); at least {format_lag(floor['lag_s'])} ({floor['source']})"
        )
    else:
        text = (
            f"Data at risk at the failover to {target}: {format_lag(worst['lag_s'])} of "
            f"replication lag ({worst['source']}, read {worst['at']})"
        )
    data: dict[str, Any] = {
        "area": "replication",
        "event": RPO_EVENT,
        "status": None,
        "subject": target,
        "region": target,
        "decision_seq": decision.seq,
        "decided_at": format_ts(decided_at),
        "lag_s": None if worst is None else worst["lag_s"],
        "at_least_s": None if floor is None else floor["lag_s"],
        "sources": sources[:20],
        "dedupe_key": f"{RPO_EVENT}|{decision.seq}",
    }
    return [("probe", text[:300], data)]


def data_at_risk(entries: Iterable[Entry]) -> DataAtRisk | None:
    """The data at risk recorded for the latest failover decision that has one, or None."""
    latest: Entry | None = None
    for entry in entries:
        if entry.kind == "probe" and entry.data.get("event") == RPO_EVENT:
            if latest is None or entry.seq > latest.seq:
                latest = entry
    if latest is None:
        return None
    data = latest.data
    target = str(data.get("region") or "?")
    decided_at = data_time(data, "decided_at") or latest.ts
    lag = data.get("lag_s")
    sources = data.get("sources")
    named = [
        source
        for source in (sources if isinstance(sources, list) else [])
        if isinstance(source, Mapping) and source.get("region") == target
    ]
    if not isinstance(lag, int | float) or isinstance(lag, bool):
        errors = "; ".join(
            f"{source.get('source')}: {source.get('error') or 'no number'}"
            for source in named
            if not _number(source.get("lag_s"))
        )
        reason = errors or f"no replication source of {target} was read"
        floor = data.get("at_least_s")
        if _number(floor):
            reason += f"; the others at least {format_lag(float(floor))}"
        return DataAtRisk(target, decided_at, None, None, None, reason)
    chosen = next((source for source in named if source.get("lag_s") == lag), None)
    source_name = None if chosen is None else str(chosen.get("source"))
    read_at = None if chosen is None else data_time(chosen, "at")
    after = bool(chosen and chosen.get("after_decision"))
    reason = "read after the decision (none before it)" if after else "read at or before it"
    return DataAtRisk(target, decided_at, float(lag), source_name, read_at, reason)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
