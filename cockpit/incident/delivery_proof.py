"""What proves mail flowed after the switch: the first canary of each direction seen arriving
`ok` after `routed`, as the log records it (issue 14). The export cites it next to the
restored and verified times.

    proof = delivery_proof(entries)
    proof.routed_at, proof.restored_at, proof.verified_at
    proof.first["inbound"]      # a Sighting, or missing: no ok run of that direction seen

A sighting comes from either of two places in the log, both written by the cockpit:
- a checklist tick confirmed from probe results (data.auto.evidence, cockpit.incident.checklist):
  the canary runs that met the step's condition, with their observation times;
- a canary probe entry (area "canary", check inbound/outbound) whose status became ok, or the
  "delivery_proven" entry a cockpit writes for the first ok run of each canary after routed
  (cockpit.incident.finding_changes.canary_proof_entry): a canary that stayed ok logs no change.
Only runs observed strictly after the effective routed time count, only `ok` ones, and only
through the region of the latest failover decision: a run that warned (Junk, slow) or could not
tell, or that went through another region (the old one, back up), is never cited as proof of the
new route. Pure; never raises on malformed data (an unreadable item is skipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.incident.entry import Entry, parse_ts
from cockpit.incident.phases import current_target_region, effective_phases

__all__ = ["DIRECTIONS", "DeliveryProof", "Sighting", "delivery_proof", "proven_canaries"]

DIRECTIONS = ("inbound", "outbound")


@dataclass(frozen=True, slots=True)
class Sighting:
    """One canary run seen arriving ok."""

    direction: str
    canary: str
    region: str | None
    observed_at: datetime
    seq: int
    """The entry that records it."""
    source: str
    """"tick" (a checklist step confirmed from probe results) or "probe" (a canary entry)."""
    round_trip_s: float | None = None
    folder: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryProof:
    routed_at: datetime | None
    restored_at: datetime | None
    verified_at: datetime | None
    first: Mapping[str, Sighting] = field(default_factory=dict)
    """direction -> the earliest ok run observed after routed."""

    def record(self) -> dict[str, Any]:
        """For the JSON export."""
        return {
            direction: {
                "canary": seen.canary,
                "region": seen.region,
                "observed_at": seen.observed_at.isoformat(),
                "seq": seen.seq,
                "source": seen.source,
                "round_trip_s": seen.round_trip_s,
                "folder": seen.folder,
            }
            for direction, seen in self.first.items()
        }


def delivery_proof(entries: Sequence[Entry]) -> DeliveryProof | None:
    """The proof in `entries`; None when the log has no routed time or no canary ok after it."""
    timeline = effective_phases(entries)
    routed = timeline.at("routed")
    target = current_target_region(entries)
    if routed is None or target is None:
        return None
    first: dict[str, Sighting] = {}
    for entry in entries:
        for seen in _sightings(entry):
            if seen.observed_at <= routed or seen.region != target:
                continue
            held = first.get(seen.direction)
            if held is None or seen.observed_at < held.observed_at:
                first[seen.direction] = seen
    if not first:
        return None
    ordered = {direction: first[direction] for direction in DIRECTIONS if direction in first}
    return DeliveryProof(routed, timeline.at("restored"), timeline.at("verified"), ordered)


def proven_canaries(entries: Sequence[Entry], routed_at: datetime) -> set[str]:
    """Names of the canaries the log already shows arriving ok after `routed_at` (by any
    cockpit, through either kind of sighting): their proof is not written again."""
    return {
        seen.canary
        for entry in entries
        for seen in _sightings(entry)
        if seen.observed_at > routed_at
    }


def _sightings(entry: Entry) -> list[Sighting]:
    data = entry.data
    if entry.kind == "check":
        auto = data.get("auto")
        items = auto.get("evidence") if isinstance(auto, Mapping) else None
        if not isinstance(items, list):
            return []
        found = (_from_record(item, entry.seq, "tick") for item in items)
        return [seen for seen in found if seen is not None]
    if entry.kind == "probe" and data.get("area") == "canary":
        evidence = data.get("evidence")
        if not isinstance(evidence, Mapping):
            return []
        record = dict(evidence)
        inner = evidence.get("data")
        if isinstance(inner, Mapping):
            record.update(
                {key: inner.get(key) for key in ("round_trip_s", "folder") if key in inner}
            )
        record["area"] = "canary"
        record["observed_at"] = data.get("at")
        seen = _from_record(record, entry.seq, "probe")
        return [] if seen is None else [seen]
    return []


def _from_record(item: object, seq: int, source: str) -> Sighting | None:
    if not isinstance(item, Mapping) or item.get("area") != "canary":
        return None
    direction = item.get("check")
    if direction not in DIRECTIONS or item.get("status") != "ok":
        return None
    try:
        observed = parse_ts(item.get("observed_at"))  # type: ignore[arg-type]
    except ValueError:
        return None  # no readable time: it proves nothing
    name = item.get("subject")
    region = item.get("region")
    seconds = item.get("round_trip_s")
    folder = item.get("folder")
    return Sighting(
        direction=str(direction),
        canary=name if isinstance(name, str) else "?",
        region=region if isinstance(region, str) else None,
        observed_at=observed,
        seq=seq,
        source=source,
        round_trip_s=(
            float(seconds)
            if isinstance(seconds, int | float) and not isinstance(seconds, bool)
            else None
        ),
        folder=folder if isinstance(folder, str) else None,
    )
