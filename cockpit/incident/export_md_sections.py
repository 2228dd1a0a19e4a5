"""The review sections of the Markdown export that are not the timeline (see export_md).

Each function returns the lines of one section. Log data goes through `md` (safe_text's
`md_inline`, remembered)
(shown literally: never a link, HTML, heading or extra cell); the words, times and figures
around it are ours. The reviewers' own parts say TO_FILL where the log has no answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cockpit.incident.entry import PHASES, Entry
from cockpit.incident.phases import IncidentAnalysis, Metric, PhaseTime
from cockpit.incident.review import Cited, Marked, PhaseBasis, Review
from cockpit.incident.roles import handoffs
from cockpit.safe_text import md_inline

NOT_AVAILABLE = "n/a"
NONE_RECORDED = "None recorded."
TO_FILL = "To fill in."
OUT_OF_ORDER = "⚠ out of order"

Formatter = Callable[[datetime], str]

_md_str: Callable[[str], str] = lru_cache(maxsize=16384)(md_inline)


def md(text: Any) -> str:
    """md_inline (which is md_cell), remembered for str: authors, kinds, statuses, probe
    texts, step titles and resolvers repeat thousands of times in a long log."""
    return _md_str(text) if type(text) is str else md_inline(text)


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [row(header), "|" + "---|" * len(header)]
    lines.extend(row(cells) for cells in rows)
    return lines


def section(title: str, header: Sequence[str], rows: list[list[str]], empty: str) -> list[str]:
    if not rows:
        return [title, "", empty]
    return [title, "", *table(header, rows)]


def _bullets(marked: Sequence[Marked], utc: Formatter, empty: str = TO_FILL) -> list[str]:
    if not marked:
        return [empty]
    return [
        f"- {md(m.text) or '(no text)'} ({md(m.author)}, {utc(m.at)}, seq {m.seq})" for m in marked
    ]


# --- impact, cause, detection -------------------------------------------------------------


def impact(
    analysis: IncidentAnalysis,
    review: Review,
    rpo_text: str | None,
    utc: Formatter,
    duration: Callable[[timedelta], str],
) -> list[str]:
    timeline = analysis.timeline
    start, restored = timeline.at("impact"), timeline.at("restored")
    end = analysis.summary.end
    if start is None:
        lasted = f"{NOT_AVAILABLE}: no impact time recorded"
    elif restored is not None:
        lasted = f"{duration(restored - start)} (impact to restored)"
    elif end is not None:
        lasted = f"{duration(end - start)} so far (impact to the last entry; not restored)"
    else:
        lasted = NOT_AVAILABLE
    if review.queues:
        peak = max(review.queues, key=lambda q: q.peak)
        where = md(peak.source) + (f" in {md(peak.region)}" if peak.region else "")
        queue = f"{peak.peak} messages ({where}, recorded {utc(peak.peak_logged_at)})"
        deferred_values = [q.deferred_max for q in review.queues if q.deferred_max is not None]
        deferred = (
            f"up to {max(deferred_values)} messages deferred at once (largest logged count)"
            if deferred_values
            else f"{NOT_AVAILABLE}: no deferred count in the queue entries"
        )
    else:
        queue = f"{NOT_AVAILABLE}: no queue entries in the log"
        deferred = NOT_AVAILABLE
    users = (
        f"see the impact notes below ({len(review.impact_notes)})"
        if review.impact_notes
        else TO_FILL
    )
    rows = [
        ["Duration of impact", lasted],
        ["Peak queue depth", queue],
        ["Deferred volume", deferred],
        ["Data at risk (RPO)", rpo_text or f"{NOT_AVAILABLE}: no replication lag recorded"],
        ["Users affected", users],
    ]
    lines = ["## Impact", "", *table(["Field", "Value"], rows)]
    if review.impact_notes:
        lines += ["", "Impact notes:", "", *_bullets(review.impact_notes, utc)]
    return lines


def causes(review: Review, utc: Formatter) -> list[str]:
    return [
        "## Trigger and root cause",
        "",
        *_bullets(review.causes, utc),
        "",
        "### Contributing factors",
        "",
        *_bullets(review.factors, utc),
    ]


def basis_text(basis: PhaseBasis | None, phase_time: PhaseTime, utc: Formatter) -> str:
    """How a phase was set and what it relied on, for a table cell."""
    setter = md(phase_time.current.author)
    if basis is None or basis.how == "hand":
        return f"set by {setter} (seq {phase_time.seq})"
    if basis.how == "probe":
        cited = "; ".join(_cited(c, utc) for c in basis.cited)
        return f"set from a probe: {cited}"
    step = md(basis.step or "?")
    if basis.condition is None:
        return f"step {step} ticked by {setter} (seq {phase_time.seq})"
    seen = f", first seen to hold {utc(basis.seen_at)}" if basis.seen_at is not None else ""
    cited = "; ".join(_cited(c, utc) for c in basis.cited) or "no observation cited"
    return (
        f"step {step} confirmed from probe results (condition: {md(basis.condition)}"
        f"{seen}): {cited}"
    )


def _cited(cited: Cited, utc: Formatter) -> str:
    when = "time unknown" if cited.observed_at is None else f"observed {utc(cited.observed_at)}"
    return f"{md(cited.what)} {when} (seq {cited.seq})"


def detection(
    analysis: IncidentAnalysis,
    review: Review,
    entries: Sequence[Entry],
    utc: Formatter,
    offset: Callable[[datetime], str],
) -> list[str]:
    lines = ["## Detection", ""]
    detected = analysis.timeline.get("detected")
    if detected is None:
        lines.append(f"Detected: {NOT_AVAILABLE} (no detected time recorded).")
    else:
        basis = basis_text(review.bases.get("detected"), detected, utc)
        when = utc(detected.at)
        shown = offset(detected.at)
        lines.append(f"Detected at {when}{f' ({shown})' if shown else ''}; {basis}.")
    alarms = [e for e in entries if e.kind == "probe" and e.data.get("event") == "first_alarm"]
    if alarms:
        first = alarms[0]
        said = first.text.removeprefix("First alarm: ")
        lines += ["", f"First alarm (seq {first.seq}): {md(said)}"]
    lines += ["", "How could it have been detected sooner? " + TO_FILL]
    return lines


def response(entries: Sequence[Entry], plain: Callable[[object], str], utc: Formatter) -> list[str]:
    decisions = [
        [
            utc(e.ts),
            md(e.text),
            md(plain(e.data.get("why"))),
            md(plain(e.data.get("approver"))),
            md(plain(e.data.get("target_region"))),
            md(e.author),
        ]
        for e in entries
        if e.kind == "decision"
    ]
    roles = [
        [
            utc(h.at),
            h.role,
            md(h.holder),
            md(plain(h.previous)),
            md(h.by),
        ]
        for h in handoffs(entries)
    ]
    return [
        "## Response and recovery",
        "",
        *section(
            "### Decisions",
            ["Time", "Decision", "Why", "Approver", "Target region", "Decided by"],
            decisions,
            NONE_RECORDED,
        ),
        "",
        *section(
            "### Roles and handoffs",
            ["Time", "Role", "Holder", "Taken from", "Written by"],
            roles,
            NONE_RECORDED,
        ),
        "",
        "What would have made the response faster? " + TO_FILL,
    ]


# --- metrics --------------------------------------------------------------------------------


def metrics(
    analysis: IncidentAnalysis,
    review: Review,
    extra_rows: list[list[str]],
    utc: Formatter,
    duration_cell: Callable[[timedelta | None], str],
) -> list[str]:
    rows = [_phase_metric(m, analysis, review, utc, duration_cell) for m in analysis.metrics]
    rows.extend(extra_rows)
    header = ["Metric", "Value", "Measured from", "Evidence and notes"]
    return ["## Metrics", "", *table(header, rows)]


def _phase_metric(
    metric: Metric,
    analysis: IncidentAnalysis,
    review: Review,
    utc: Formatter,
    duration_cell: Callable[[timedelta | None], str],
) -> list[str]:
    phase_time = analysis.timeline.get(metric.phase)
    since = ""
    if metric.since_previous is not None and metric.previous_phase:
        since = f"; {duration_cell(metric.since_previous)} after {metric.previous_phase}"
    measured = ("impact" if metric.from_impact is not None else NOT_AVAILABLE) + since
    if phase_time is None:
        evidence = f"{metric.phase}: not recorded"
    else:
        evidence = f"{metric.phase} {utc(phase_time.at)}, " + basis_text(
            review.bases.get(metric.phase), phase_time, utc
        )
    if metric.phase == "verified" and review.after_steps is not None:
        flag = review.after_steps.flag
        if flag:
            evidence = f"⚠ {flag}; {evidence}"
    return [metric.name.capitalize(), duration_cell(metric.from_impact), measured, evidence]


def convergence_rows(
    review: Review, has_decision: bool, utc: Formatter, duration_cell: Callable
) -> list[list[str]]:
    if not review.convergence:
        why = (
            "no DNS entries about an MX record after the failover decision"
            if has_decision
            else "no failover decision (with a target region) recorded"
        )
        return [["Time to converge (MX)", NOT_AVAILABLE, "", why]]
    rows = []
    for c in review.convergence:
        name = f"Time to converge ({md(c.subject)})"
        measured = (
            f"failover decision to {md(c.target)}, {utc(c.decided_at)} (seq {c.decision_seq})"
        )
        if c.took is None:
            rows.append([name, NOT_AVAILABLE, measured, md(c.not_converged or "")])
            continue
        if c.last_resolver is not None and c.last_resolver_at is not None:
            evidence = (
                f"last watched resolver to answer {md(c.target)}: {md(c.last_resolver)},"
                f" observed {utc(c.last_resolver_at)} (seq {c.last_resolver_seq});"
                f" converged (seq {c.converged_seq})"
            )
        else:
            evidence = f"converged (seq {c.converged_seq})"
        rows.append([name, duration_cell(c.took), measured, evidence])
    return rows


def queue_rows(review: Review, utc: Formatter) -> list[list[str]]:
    if not review.queues:
        return [
            [
                "Peak queue depth",
                NOT_AVAILABLE,
                "",
                "no queue entries in the log (queue changes are logged when they cross a"
                " threshold)",
            ]
        ]
    rows = []
    for q in review.queues:
        where = md(q.source) + (f", {md(q.region)}" if q.region else "")
        if q.back_to_ok_at is not None:
            back = f"back below the warning level {utc(q.back_to_ok_at)} (seq {q.back_to_ok_seq})"
        else:
            back = "not seen back below the warning level"
        if q.empty_at is not None:
            back += f"; empty {utc(q.empty_at)}"
        deferred = "" if q.deferred_max is None else f"; largest deferred count {q.deferred_max}"
        rows.append(
            [
                f"Peak queue depth ({where})",
                f"{q.peak} messages",
                f"{q.entries} logged queue changes",
                f"highest seen by the probe, recorded {utc(q.peak_logged_at)} (seq {q.peak_seq})"
                f"{deferred}; {back}",
            ]
        )
    return rows


# --- checklist, lessons, actions, comparison -------------------------------------------------


def checklist(review: Review, plain: Callable[[object], str], utc: Formatter) -> list[str]:
    rows = []
    for state in review.checklist:
        step = state.step
        stage = step.phase if step.phase != "unknown" else review.stages.get(step.id, "")
        by = ""
        if state.by is not None and state.at is not None:
            by = f"{md(state.by) or '?'}, {utc(state.at)}"
            if state.seq is not None:
                by += f" (seq {state.seq})"
        notes = []
        reason = md(state.reason) if state.reason else ""
        if reason:
            notes.append(f"reason: {reason}")
        if state.status == "open" and state.earlier_failover is not None:
            status, was_by, was_at, target = state.earlier_failover
            when = f" {utc(was_at)}" if was_at is not None else ""
            whom = f" by {md(was_by)}" if was_by else ""
            failover = f"for the failover to {md(target)}" if target else "before the decision"
            notes.append(f"{status}{whom}{when} {failover}; open again for the latest decision")
        if state.reopened is not None:
            notes.append(f"reopened by {md(state.reopened[0])} {utc(state.reopened[1])}")
        notes.extend(
            f"note by {md(author) or '?'} {utc(at)}: {md(text) or '(empty)'}"
            for author, at, text in state.notes
        )
        if state.also_done_by:
            names = ", ".join(md(name) for name, _ in state.also_done_by)
            notes.append(f"also ticked by {names}")
        result = state.status if state.known else f"{state.status} (not in the runbook)"
        rows.append(
            [
                md(step.id),
                md(stage),
                md(step.title) or md(step.id),
                result,
                by,
                "; ".join(notes),
            ]
        )
    for entry in review.other_checks:
        data = entry.data
        step, title = plain(data.get("step")), plain(data.get("title"))
        reason = md(plain(data.get("reason")))
        rows.append(
            [
                md(step),
                md(plain(data.get("stage"))),
                md(title) or md(step),
                f"{md(plain(data.get('result'))) or '?'} (as logged)",
                f"{md(entry.author) or '?'}, {utc(entry.ts)} (seq {entry.seq})",
                f"reason: {reason}" if reason else "",
            ]
        )
    header = ["Step", "Stage", "Title", "Result", "By", "Reasons and notes"]
    lines = ["## Checklist results", ""]
    if not review.runbook_known:
        lines += [
            "The runbook was not available (give --config, or keep the config beside the log):"
            " only steps the log mentions are listed, and steps nobody touched are not.",
            "",
        ]
    if not rows:
        return [*lines, NONE_RECORDED]
    return [*lines, *table(header, rows)]


_LESSON_HEADINGS = (
    ("well", "### What went well"),
    ("badly", "### What went badly"),
    ("lucky", "### Where we got lucky"),
    ("other", "### Other lessons and runbook edits"),
)


def lessons(review: Review, utc: Formatter) -> list[str]:
    lines = ["## Lessons learned"]
    for key, heading in _LESSON_HEADINGS:
        marked = review.lessons.get(key, ())
        empty = NONE_RECORDED if key == "other" else TO_FILL
        lines += ["", heading, "", *_bullets(marked, utc, empty)]
    return lines


def actions(review: Review, utc: Formatter) -> list[str]:
    rows = [
        [
            md(m.text),
            md(m.owner or "") or "⚠ no owner",
            md(m.due or "") or "⚠ no due date",
            md(m.ticket or ""),
            f"{md(m.author)}, {utc(m.at)} (seq {m.seq})",
        ]
        for m in review.actions
    ]
    header = ["Action", "Owner", "Due", "Ticket", "Recorded"]
    return section("## Action items", header, rows, TO_FILL)


def comparison(review: Review, utc: Formatter) -> list[str]:
    rows = [
        [
            md(c.area),
            md(c.subject),
            md(c.where),
            f"{md(c.first.value)} ({utc(c.first.at)}, seq {c.first.seq})",
            f"{md(c.last.value)} ({utc(c.last.at)}, seq {c.last.seq})",
            str(c.entries),
        ]
        for c in review.comparison
    ]
    header = ["Area", "Subject", "Where", "First observed", "Last observed", "Entries"]
    intro = [
        "The first and the last observation the log holds of each probe subject (the state"
        " before its first logged change, and after its last).",
        "",
    ]
    lines = ["## Pre- and post-incident comparison", ""]
    if not rows:
        return [*lines, "No probe observations recorded."]
    return [*lines, *intro, *table(header, rows)]


def phases(
    analysis: IncidentAnalysis, note: Callable[[PhaseTime], str], utc: Formatter
) -> list[str]:
    rows: list[list[str]] = []
    for phase in PHASES:
        phase_time = analysis.timeline.get(phase)
        if phase_time is None:
            rows.append([phase, NOT_AVAILABLE, "", ""])
            continue
        setter = f"{md(phase_time.current.author)} (seq {phase_time.seq})"
        rows.append([phase, utc(phase_time.at), setter, note(phase_time)])
    return ["## Phases", "", *table(["Phase", "Time", "Set by", "Note"], rows)]
