"""The first alarm of an incident: detection from probe findings, and the impact it suggests.

    watch = AlarmWatch()
    alarm = watch.observe(findings, fallback_at=now)    # an Alarm the first time, then None
    parts = first_alarm_parts(entries, alarm)           # [] when the log already has one

An alarm is a finding of an area that says a region is not serving (ALARM_AREAS: service,
queue, replication, authority) whose status is `fail`. DNS and auth findings are not alarms:
they describe records, which a failover changes on purpose.

What goes into the log, once per incident (the caller appends `first_alarm_parts` under the
log's lock, so two cockpits write it once between them):
- a `probe` entry, event "first_alarm", whose data.at is the failing observation's own time and
  whose data.impact_proposal says when the impact most likely began: the last time that same
  probe was seen healthy, or the first failure when it never was;
- when no `detected` phase is set yet, a `phase` entry for `detected` at the alarm's
  observation time, by the cockpit, citing the alarm. A person corrects it like any phase.

The impact is never set by the cockpit: `impact_proposal(entries)` gives the proposal for the
screen to offer while no impact phase exists; the commander accepts it or types another time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.incident.entry import Entry, data_time, format_ts
from cockpit.incident.phases import effective_phases, phase_record
from cockpit.incident.probe_text import fit
from cockpit.model import Finding, Status
from cockpit.safe_text import clean

__all__ = [
    "ALARM_AREAS",
    "FIRST_ALARM_EVENT",
    "Alarm",
    "AlarmWatch",
    "ImpactProposal",
    "first_alarm_parts",
    "has_first_alarm",
    "impact_proposal",
]

ALARM_AREAS = frozenset({"service", "queue", "replication", "authority"})
"""Areas whose failing findings mean a region is not serving."""
FIRST_ALARM_EVENT = "first_alarm"
LAST_HEALTHY = "last healthy observation"
FIRST_FAILURE = "first failure observed (never seen healthy)"

_Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Alarm:
    """The first failing finding, when it was seen, and the impact time it suggests."""

    finding: Finding
    at: datetime
    """When the failing observation was made."""
    impact_at: datetime
    """The last time this probe was seen healthy, else `at`."""
    impact_basis: str
    """LAST_HEALTHY or FIRST_FAILURE."""


@dataclass(frozen=True, slots=True)
class ImpactProposal:
    """What the screen offers as the impact time while none is set."""

    at: datetime
    basis: str
    subject: str
    """The probe it comes from, for the prompt ("service smtp mx1.example.com:25")."""
    alarm_seq: int


def _key(finding: Finding) -> _Key:
    return (finding.area, finding.check, finding.subject, finding.region or "")


class AlarmWatch:
    """Remembers, per probe, when it was last healthy; raises the first alarm once."""

    def __init__(self) -> None:
        self._last_ok: dict[_Key, datetime] = {}
        self.raised = False
        """True once an alarm was raised here, or the log was found to hold one."""

    def observe(self, findings: Iterable[Finding], *, fallback_at: datetime) -> Alarm | None:
        """Take one run's findings; the Alarm when the first failure of an alarm area is among
        them (the earliest observed, on a tie the first given). `fallback_at` stands in for a
        finding that does not say when it was observed."""
        failing: list[tuple[datetime, Finding]] = []
        for finding in findings:
            if finding.area not in ALARM_AREAS or finding.region is None:
                continue
            at = finding.observed_at or fallback_at
            key = _key(finding)
            if finding.status is Status.OK:
                previous = self._last_ok.get(key)
                self._last_ok[key] = at if previous is None else max(previous, at)
            elif finding.status is Status.FAIL:
                failing.append((at, finding))
        if self.raised or not failing:
            return None
        at, finding = min(failing, key=lambda pair: pair[0])
        self.raised = True
        healthy = self._last_ok.get(_key(finding))
        if healthy is not None and healthy <= at:
            return Alarm(finding, at, healthy, LAST_HEALTHY)
        return Alarm(finding, at, at, FIRST_FAILURE)


def _probe_name(finding: Finding) -> str:
    parts = [finding.area, finding.check]
    if finding.subject and finding.subject != finding.check:
        parts.append(finding.subject)
    return " ".join(parts)


def has_first_alarm(entries: Iterable[Entry]) -> bool:
    return any(
        entry.kind == "probe" and entry.data.get("event") == FIRST_ALARM_EVENT for entry in entries
    )


def first_alarm_parts(
    entries: Sequence[Entry], alarm: Alarm
) -> list[tuple[str, str, dict[str, Any]]]:
    """The (kind, text, data) to append for `alarm`, built from the log as it is now: nothing
    when it already holds a first alarm; the `detected` phase only when none is set."""
    if has_first_alarm(entries):
        return []
    finding = alarm.finding
    name = _probe_name(finding)
    region = finding.region or "?"
    evidence: dict[str, Any] = {
        "area": finding.area,
        "check": finding.check,
        "subject": finding.subject,
        "region": finding.region,
        "status": finding.status.value,
        "summary": finding.summary,
    }
    proposal = {"at": format_ts(alarm.impact_at), "basis": alarm.impact_basis}
    alarm_data: dict[str, Any] = {
        "area": finding.area,
        "event": FIRST_ALARM_EVENT,
        "status": finding.status.value,
        "subject": finding.subject,
        "region": finding.region,
        "at": format_ts(alarm.at),
        "evidence": evidence,
        "impact_proposal": proposal,
        "dedupe_key": FIRST_ALARM_EVENT,
    }
    parts: list[tuple[str, str, dict[str, Any]]] = [
        (
            "probe",
            fit(f"First alarm: {region} {name} failed at {format_ts(alarm.at)}: ", finding.summary),
            alarm_data,
        )
    ]
    if effective_phases(entries).get("detected") is None:
        kind, data = phase_record(entries, "detected", alarm.at)
        data["source"] = "probe"
        data["evidence"] = evidence
        parts.append((kind, f"detected at {data['at']} (first alarm: {region} {name})", data))
    return parts


def impact_proposal(entries: Sequence[Entry]) -> ImpactProposal | None:
    """The first alarm's impact proposal, while no impact phase is set; else None."""
    if effective_phases(entries).get("impact") is not None:
        return None
    for entry in sorted(entries, key=lambda entry: entry.seq):
        if entry.kind != "probe" or entry.data.get("event") != FIRST_ALARM_EVENT:
            continue
        proposal = entry.data.get("impact_proposal")
        if not isinstance(proposal, Mapping):
            return None
        at = data_time(proposal, "at")
        if at is None:
            return None
        basis = proposal.get("basis")
        evidence = entry.data.get("evidence")
        subject = (
            " ".join(
                str(evidence.get(key))
                for key in ("region", "area", "check", "subject")
                if evidence.get(key)
            )
            if isinstance(evidence, Mapping)
            else str(entry.data.get("subject") or "")
        )
        # The basis is one of the cockpit's own two phrases: any other text in a shared log is
        # somebody's data, never shown as the basis.
        known = basis if basis in (LAST_HEALTHY, FIRST_FAILURE) else FIRST_FAILURE
        return ImpactProposal(at, known, clean(subject), entry.seq)
    return None
