"""Probe entries for findings whose status changed: auth, service, replication, authority and
canary; and the entry that records a canary proving mail flows after routing.

    entries = finding_changes("service", previous, current)     # ProbeEntry list for ProbeLogger
    entries = auth_changes(previous, current)                    # the same for area "auth"

A check is identified by (region, check, subject, resolver). The first run (previous None) logs
no entry per check: it gives ONE "starting picture" entry listing the checks that are not ok, or
nothing when all are ok. Later runs give one entry per check whose status changed (a check new in
this run counts as changed from ok); a check missing from the current run gives nothing (there
is nothing to compare). Each entry carries the finding's observation time as data.at when the
finding knows it, so the log says when the change was seen, not when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cockpit.incident.probe_log import ProbeEntry, _key, bound_evidence
from cockpit.incident.probe_text import TEXT_CHARS, fit
from cockpit.model import Finding, Status, worst
from cockpit.safe_text import clean

__all__ = ["PROVEN_EVENT", "auth_changes", "canary_proof_entry", "finding_changes"]

PROVEN_EVENT = "delivery_proven"
"""data.event of the entry that records the first ok canary run after routing."""

_LIST_ITEMS = 20
"""Findings named in a starting picture's evidence."""

_Identity = tuple[str | None, str, str, str | None]


def _identity(finding: Finding) -> _Identity:
    return (finding.region, finding.check, finding.subject, finding.resolver)


def _by_identity(findings: Sequence[Finding]) -> dict[_Identity, Finding]:
    """Findings by identity; of two with one identity the worse one counts (the first on a tie)."""
    found: dict[_Identity, Finding] = {}
    for finding in findings:
        identity = _identity(finding)
        held = found.get(identity)
        if held is None or finding.status.severity > held.status.severity:
            found[identity] = finding
    return found


def _finding_evidence(finding: Finding) -> dict[str, Any]:
    return {
        "region": finding.region,
        "check": finding.check,
        "subject": finding.subject,
        "resolver": finding.resolver,
        "status": finding.status.value,
        "summary": finding.summary,
    }


def _where(finding: Finding) -> str:
    where = " ".join(part for part in (finding.region, finding.check) if part)
    if finding.subject and finding.subject != finding.region:
        where += f" {finding.subject}"
    if finding.resolver:
        where += f" via {finding.resolver}"
    return where


def finding_changes(
    area: str, previous: Sequence[Finding] | None, current: Sequence[Finding]
) -> list[ProbeEntry]:
    """Entries for `area`'s checks whose status changed since `previous` (module docstring)."""
    now = _by_identity(current)
    if previous is None:
        return _starting_picture(area, list(now.values()))
    before = _by_identity(previous)
    entries: list[ProbeEntry] = []
    for identity, finding in now.items():
        old = before.get(identity)
        old_status = old.status if old is not None else Status.OK
        if old_status is finding.status:
            continue
        was = old_status.value if old is not None else "ok, new check"
        # The check's name stays whole; its summary (the evidence) gives way.
        text = fit(f"{_where(finding)} now {finding.status.value} (was {was}): ", finding.summary)
        previous_status = old.status.value if old is not None else None
        data = _entry_data(area, "status_changed", finding, _key(area, *identity), previous_status)
        entries.append(ProbeEntry(text, data))
    return entries


def _entry_data(
    area: str, event: str, finding: Finding, dedupe_key: str, previous_status: str | None
) -> dict[str, Any]:
    """The data of an entry about one finding: what it says, its evidence (bounded), its key,
    and data.at = when it was observed (when the finding knows it)."""
    evidence = _finding_evidence(finding) | {
        "previous_status": previous_status,
        "data": finding.data,
    }
    data: dict[str, Any] = {
        "area": area,
        "event": event,
        "status": finding.status.value,
        "subject": finding.subject,
        "region": finding.region,
        "evidence": bound_evidence(evidence),
        "dedupe_key": dedupe_key,
    }
    if finding.observed_at is not None:
        data["at"] = finding.observed_at.isoformat()
    return data


def auth_changes(
    previous: Sequence[Finding] | None, current: Sequence[Finding]
) -> list[ProbeEntry]:
    """`finding_changes` for the auth checks."""
    return finding_changes("auth", previous, current)


def _starting_picture(area: str, findings: list[Finding]) -> list[ProbeEntry]:
    not_ok = [finding for finding in findings if finding.status is not Status.OK]
    if not not_ok:
        return []
    counts = {status: sum(f.status is status for f in not_ok) for status in Status}
    shown = ", ".join(
        f"{count} {status.value}"
        for status, count in sorted(counts.items(), key=lambda item: -item[0].severity)
        if count
    )
    counted = f"{len(not_ok)} of {len(findings)} checks not ok ({shown})"
    text = _named_checks(f"{area.capitalize()} starting picture: {counted}: ", not_ok)
    evidence = {
        "checks": len(findings),
        "not_ok": [_finding_evidence(f) for f in not_ok[:_LIST_ITEMS]],
        "not_ok_total": len(not_ok),
    }
    data: dict[str, Any] = {
        "area": area,
        "event": "starting_picture",
        "status": worst([f.status for f in not_ok]).value,
        "subject": f"{area} checks",
        "evidence": bound_evidence(evidence),
        "dedupe_key": _key(area, "starting_picture"),
    }
    seen = [f.observed_at for f in not_ok if f.observed_at is not None]
    if seen:
        data["at"] = min(seen).isoformat()
    return [ProbeEntry(text, data)]


def _named_checks(head: str, not_ok: list[Finding], most: int = 3) -> str:
    """`head` and up to `most` checks by name, "; and N more" for the rest: a check that does
    not fit whole is counted, never cut mid-name."""
    for named in range(min(most, len(not_ok)), -1, -1):
        parts = [f"{_where(f)} {f.status.value}" for f in not_ok[:named]]
        if len(not_ok) > named:
            parts.append(f"and {len(not_ok) - named} more" if named else f"{len(not_ok)} checks")
        named_text = "; ".join(parts)
        if len(clean(head)) + len(clean(named_text)) <= TEXT_CHARS:
            return fit(head, named_text)
    return fit(head, "")


def canary_proof_entry(
    run: Finding, routed_at: datetime, target: str | None
) -> ProbeEntry | None:
    """The entry recording `run` (a canary's inbound or outbound finding) as proof that mail
    flowed after routing at `routed_at` to `target` (the region of the latest failover
    decision): only an `ok` run through that region observed after that time proves it (None
    otherwise: a canary pinned to the old region that came back proves nothing about the new
    route). A canary that stays ok logs no status change, so without this entry the log would
    hold no evidence that the new route carried mail. Its key names the canary and the
    routing, so one routing is proven once per canary."""
    if run.status is not Status.OK or run.observed_at is None or run.observed_at <= routed_at:
        return None
    if target is None or run.region != target:
        return None
    text = fit(f"{_where(run)} proves mail flows after routing: ", run.summary)
    key = _key("canary", "proven", run.subject, routed_at.isoformat())
    return ProbeEntry(text, _entry_data("canary", PROVEN_EVENT, run, key, None))
