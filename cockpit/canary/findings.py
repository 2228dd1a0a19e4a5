"""Every canary, once: a run's findings, and the fan-out over `[[canary]]`.

    findings = await canary_findings(config, target, asker)                 # every canary at once
    findings = await run_canary(config, canary, target, asker, clock=utc_now)  # one run
    finding = canary_unknown(config, canary, target, reason, started)       # a run that broke

Each run gives (area "canary", subject = the canary's name, region = the region it went
through, resolver = the DNS server asked or None, observed_at = when the run started):

- check "inbound" or "outbound": the run itself; status from verdict.run_status, data
  {"canary", "direction", "region", "token", "sent_at", "arrived_at", "round_trip_s",
  "folder", "junk", "smtp": {"host", "ip", "port", "tls", "tls_verified", "reply"},
  "imap": {"host", "port"}, "error", "stage", "auth_results", "swept"}; "swept" is None or
  {"late", "leftovers", "kept", "error"} (counts of the sweep of earlier messages, sweep.py);
- once the message arrived, one finding each for "dkim", "spf", "dmarc" and "path" (their data
  as dkim_verify, spf_verify, dmarc_verify and path_check give it). A message that never
  arrived has only the run's finding, which says why;
- check "late", one per earlier message of this canary that the sweep found arrived after its
  run gave up: status warn, subject its token (so each one is a change of its own in the
  log), region None (the run that sent it may have gone elsewhere), data {"canary", "token",
  "folder", "sent_at", "arrived_at", "late_s", "timeout_s", "deleted"}. The run's own summary
  counts them too.

No password and no message body is anywhere in them; every summary is cleaned text. A run that
breaks inside (a bug) is one `unknown` run finding with the reason; it never hides the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cockpit.auth.asker import Asker, RunAsker
from cockpit.canary.headers import shown
from cockpit.canary.run import RunRecord, execute, resolve_region
from cockpit.canary.verdict import VERDICT_CHECKS, RunFacts, Verdict, run_status
from cockpit.compat import UTC
from cockpit.config.model import Canary, Config
from cockpit.incident.entry import utc_now
from cockpit.model import Finding, Status
from cockpit.replication.findings import format_lag
from cockpit.safe_text import clean

__all__ = ["AREA", "canary_findings", "canary_unknown", "run_canary", "run_findings"]

AREA = "canary"
MAX_SUMMARY = 400


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _run_data(record: RunRecord) -> dict[str, Any]:
    canary = record.canary
    send = record.send
    smtp = (
        send.smtp_data()
        if send is not None
        else {"host": None, "ip": None, "port": None, "tls": False, "tls_verified": None,
              "reply": ""}
    )  # fmt: skip
    return {
        "canary": canary.name,
        "direction": canary.direction,
        "region": record.region,
        "token": record.token,
        "sent_at": _iso(record.sent_at),
        "arrived_at": _iso(record.arrived_at),
        "round_trip_s": record.round_trip_s,
        "folder": None if record.folder is None else shown(record.folder.name, 120),
        "junk": bool(record.folder and record.folder.junk),
        "smtp": smtp,
        "imap": {"host": canary.imap_host, "port": canary.imap_port},
        "error": record.error,
        "stage": record.stage,
        "auth_results": record.checked.auth_results if record.checked else [],
        "swept": None if record.swept is None else record.swept.data(),
    }


def _verdicts(record: RunRecord) -> dict[str, Verdict]:
    """The four verdicts of an arrived message; unknown ones when it could not be read."""
    if record.checked is not None:
        return record.checked.verdicts
    if record.folder is None:
        return {}
    why = record.oversize or record.verify_error or "the delivered message was not read"
    return {
        name: Verdict(Status.UNKNOWN, why, f"{name.upper()} not judged") for name in VERDICT_CHECKS
    }


def _arrival(record: RunRecord) -> str | None:
    if record.folder is None:
        return None
    took = "" if record.round_trip_s is None else f" in {record.round_trip_s:.1f} s"
    via = f" via {record.handed_to}" if record.handed_to else ""
    send = record.send
    if send is not None and send.tls and send.tls_verified is False:
        via += f" (TLS not verified: {send.tls_note or 'certificate not trusted'})"
    elif send is not None and not send.tls and record.canary.direction == "inbound":
        via += " (without TLS)"
    return f"arrived in {shown(record.folder.name, 60)}{via}{took}"


def _summary(
    record: RunRecord, status: Status, reasons: list[str], verdicts: dict[str, Verdict]
) -> str:
    parts = list(reasons)
    arrival = _arrival(record)
    if arrival is not None:
        parts.append(arrival)
        briefs = [verdicts[name].brief for name in ("dkim", "spf", "dmarc") if name in verdicts]
        shown_briefs = [brief for brief in briefs if brief not in reasons]
        if shown_briefs:
            parts.append(", ".join(shown_briefs))
    if status is Status.OK and not parts:
        parts.append("arrived")
    late = record.swept.late if record.swept is not None else []
    if late:
        slowest = max(item.late_s for item in late)
        parts.append(
            f"{len(late)} earlier message{'s' if len(late) > 1 else ''} arrived after"
            f" {'their runs' if len(late) > 1 else 'its run'} gave up (up to {format_lag(slowest)}"
            " after sending)"
        )
    return clean("; ".join(dict.fromkeys(parts)))[:MAX_SUMMARY]


def _late_findings(record: RunRecord, resolver: str | None) -> list[Finding]:
    """One `late` finding per earlier message the sweep found late (see the docstring)."""
    if record.swept is None:
        return []
    canary = record.canary
    found = []
    for item in record.swept.late:
        fate = "deleted" if item.deleted else "could not be deleted"
        summary = (
            f"a message of canary {canary.name} sent {item.sent_at.astimezone(UTC):%H:%M:%S}"
            f" (its Date) reached the server {item.arrived_at.astimezone(UTC):%H:%M:%S} UTC"
            f" (its INTERNALDATE): {format_lag(item.late_s)} after sending, after its run gave up"
            f" at {canary.timeout:g} s; found in {shown(item.folder, 60)}, {fate}"
        )
        found.append(
            Finding(
                area=AREA,
                check="late",
                subject=item.token,
                status=Status.WARN,
                summary=clean(summary)[:MAX_SUMMARY],
                region=None,
                resolver=resolver,
                data={
                    "canary": canary.name,
                    "token": item.token,
                    "folder": shown(item.folder, 120),
                    "sent_at": item.sent_at.astimezone(UTC).isoformat(),
                    "arrived_at": item.arrived_at.astimezone(UTC).isoformat(),
                    "late_s": round(item.late_s, 1),
                    "timeout_s": canary.timeout,
                    "deleted": item.deleted,
                },
                observed_at=record.started,
            )
        )
    return found


def run_findings(record: RunRecord, resolver: str | None) -> list[Finding]:
    """The findings of one finished run (see the module docstring)."""
    canary = record.canary
    verdicts = _verdicts(record)
    facts = RunFacts(
        could_not_try=record.error if record.status is Status.UNKNOWN else None,
        refused=record.error if record.status is Status.FAIL and record.stage == "send" else None,
        not_arrived=record.error
        if record.status is Status.FAIL and record.stage != "send"
        else None,
        verdicts=verdicts,
        round_trip_s=record.round_trip_s,
        warn_s=canary.warn_s,
        junk_folder=record.folder.name if record.folder and record.folder.junk else None,
        copies=max(1, record.copies),
        oversize=record.oversize,
    )
    status, reasons = run_status(facts)
    observed = record.started

    def finding(check: str, status: Status, summary: str, data: dict[str, Any]) -> Finding:
        return Finding(
            area=AREA,
            check=check,
            subject=canary.name,
            status=status,
            summary=clean(summary)[:MAX_SUMMARY],
            region=record.region,
            resolver=resolver,
            data=data,
            observed_at=observed,
        )

    found = [
        finding(
            canary.direction, status, _summary(record, status, reasons, verdicts), _run_data(record)
        )
    ]
    for name in VERDICT_CHECKS:
        if name in verdicts:
            verdict = verdicts[name]
            found.append(finding(name, verdict.status, verdict.summary, dict(verdict.data)))
    return found + _late_findings(record, resolver)


def canary_unknown(
    config: Config, canary: Canary, target: str, reason: str, started: datetime
) -> Finding:
    """The run finding of a run that could not run at all: `unknown` with `reason`."""
    region = resolve_region(config, canary, target)
    record = RunRecord(canary, started, region=region.name if region else None)
    record.stop(Status.UNKNOWN, reason)
    return run_findings(record, None)[0]


async def run_canary(
    config: Config,
    canary: Canary,
    target_region: str,
    asker: Asker,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> list[Finding]:
    """One run of `canary` through its region (or `target_region` for region "target")."""
    if type(asker) is Asker:
        asker = RunAsker.for_one_run(asker)
    record = await execute(config, canary, target_region, asker, clock)
    return run_findings(record, record.resolver)


async def canary_findings(config: Config, target: str, asker: Asker) -> list[Finding]:
    """Every configured canary once, concurrently; findings in config order."""

    async def guarded(canary: Canary) -> list[Finding]:
        started = utc_now()
        try:
            return await run_canary(config, canary, target, asker)
        except Exception as error:  # noqa: BLE001 - one broken run must not hide the others
            reason = f"canary {canary.name} could not run: {type(error).__name__}: {error}"
            return [canary_unknown(config, canary, target, shown(reason, 300), started)]

    results = await asyncio.gather(*(guarded(canary) for canary in config.canaries))
    return [finding for findings in results for finding in findings]
