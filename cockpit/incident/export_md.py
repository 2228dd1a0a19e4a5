"""The post-incident timeline as Markdown (CommonMark + GFM tables + one Mermaid chart).

The output is deterministic: the same entries and problems give byte-identical text, with
"\\n" line ends and one trailing newline. It has a fixed set of headings, in this order:

    # Incident timeline: <title>
    (an error paragraph when the log lost entries a writer acknowledged: log_mark.py)
    ## Summary, ## Metrics, ## Phases, ## Phase chart, ## Timeline, ## Decisions,
    ## Roles and handoffs, ## Checklist results, ## Probe evidence,
    ## Lessons learned and runbook edits, ## Log integrity

Every piece of log data goes through `safe_text.md_cell`/`md_inline`, so it shows literally
and can never add a link, HTML, a heading or a table cell. Strings we produce ourselves
(times, durations, phase names from PHASES, seq numbers) are written as they are. The Mermaid
chart is built only from PHASES names and timestamps, never from user text.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from cockpit.incident.entry import (
    KINDS,
    LESSON_TAG,
    PHASES,
    TORN_LINE_EVENT,
    Entry,
    LogProblem,
    data_time,
    parse_ts,
)
from cockpit.incident.phases import IncidentAnalysis, Metric, PhaseTime, analyse
from cockpit.incident.roles import handoffs
from cockpit.safe_text import clean, md_cell, md_inline

__all__ = [
    "EVIDENCE_LIMIT",
    "format_duration",
    "format_offset",
    "format_utc",
    "markdown_lines",
    "render_markdown",
    "write_markdown",
]

EVIDENCE_LIMIT = 300
"""Probe evidence longer than this many characters is cut, ending with "…"."""

NOT_AVAILABLE = "n/a"
NONE_RECORDED = "None recorded."
OUT_OF_ORDER = "⚠ out of order"
_KNOWN_KINDS = frozenset(KINDS)
_STRUCTURED_KINDS = frozenset({"phase", "correction", "check"})
"""Kinds whose timeline text is built from data even when the entry has no text."""


def format_utc(moment: datetime) -> str:
    """2026-11-27 14:02:03 UTC (whole seconds, truncated)."""
    return moment.astimezone(UTC).isoformat(" ", "seconds")[:19] + " UTC"


def _format_seconds(seconds: int) -> str:
    """A non-negative whole number of seconds as 0:05:00 or 1 d 02:03:04."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_duration(delta: timedelta) -> str:
    """0:05:00, 1 d 02:03:04, or -0:01:00; whole seconds, the fraction dropped like in times."""
    total = delta.total_seconds()
    text = _format_seconds(int(abs(total)))
    return "-" + text if total < 0 else text


def _offset_from(impact: datetime) -> Callable[[datetime], str]:
    """A fast format_offset for one impact time (the timeline calls it for every entry)."""
    # From the shown (whole-second) times, so the offset agrees with the time column:
    # the whole seconds of (moment - truncated impact), rounded down, are exactly that.
    base = impact.replace(microsecond=0)

    def offset(moment: datetime) -> str:
        delta = moment - base
        seconds = delta.days * 86400 + delta.seconds
        if seconds < 0:
            return "T-" + _format_seconds(-seconds)
        return "T+" + _format_seconds(seconds)

    return offset


def format_offset(moment: datetime, impact: datetime | None) -> str:
    """T+0:05:00 or T-0:01:00 relative to impact, from the whole-second times; "" without."""
    if impact is None:
        return ""
    return _offset_from(impact)(moment)


def _plain(value: Any) -> str:
    """A data value as plain text: str as is, None as "", anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _only_the_phase(text: str, data: Any) -> bool:
    """Whether a phase entry's text says no more than its data: the phase's name, or "<phase>
    at <its time>" as `cockpit log` and the screen write it (the row says that already)."""
    phase = data.get("phase") if isinstance(data, Mapping) else None
    if not isinstance(phase, str) or not phase:
        return False
    said = text.strip()
    if said == phase:
        return True
    head = f"{phase} at "
    if not said.startswith(head):
        return False
    try:
        return parse_ts(said[len(head) :]) == data_time(data, "at")
    except ValueError:
        return False


def _shown_time(data: Any, key: str) -> str:
    """Markdown: data[key] in our UTC format when it is a valid time, else escaped (or "?")."""
    moment = data_time(data, key)
    if moment is not None:
        return format_utc(moment)
    return md_inline(_plain(data.get(key))) or "?"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [_row(header), "|" + "---|" * len(header)]
    lines.extend(_row(cells) for cells in rows)
    return lines


def _cut(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    # clean() never makes text shorter, so cutting the raw text first loses nothing.
    cleaned = clean(text[: limit + 1])
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - 1] + "…"


def _memo(function: Callable[[str], str]) -> Callable[[Any], str]:
    """Cache md_cell for values that repeat a lot (authors, kinds)."""
    cache: dict[Any, str] = {}

    def cached(value: Any) -> str:
        key = value if isinstance(value, str) else repr(value)
        result = cache.get(key)
        if result is None:
            result = cache[key] = function(value)
        return result

    return cached


# --- sections ------------------------------------------------------------------------------


def _optional_cell(value: str | None) -> str:
    return (md_cell(value) if value is not None else "") or NOT_AVAILABLE


def _summary(analysis: IncidentAnalysis, entry_count: int) -> list[str]:
    summary = analysis.summary
    start = end = duration = NOT_AVAILABLE
    if summary.start is not None:
        origin = "impact" if summary.start_is_impact else "first entry"
        start = f"{format_utc(summary.start)} ({origin})"
    if summary.end is not None:
        origin = "last entry, ongoing" if summary.ongoing else "closed"
        end = f"{format_utc(summary.end)} ({origin})"
    if summary.duration is not None:
        duration = format_duration(summary.duration)
        if summary.duration < timedelta(0):
            duration += f" {OUT_OF_ORDER}"
        elif summary.ongoing:
            duration += " so far"
    rows = [
        ["Severity", _optional_cell(summary.severity)],
        ["Commander", _optional_cell(summary.commander)],
        ["Start", start],
        ["End", end],
        ["Duration", duration],
        ["Region before", _optional_cell(summary.region_before)],
        ["Region after", _optional_cell(summary.region_after)],
        ["Entries", str(entry_count)],
    ]
    return ["## Summary", "", *_table(["Field", "Value"], rows)]


def _duration_cell(delta: timedelta | None, suffix: str = "") -> str:
    if delta is None:
        return NOT_AVAILABLE
    marker = f" {OUT_OF_ORDER}" if delta < timedelta(0) else ""
    return f"{format_duration(delta)}{suffix}{marker}"


def _metric_row(metric: Metric) -> list[str]:
    since = metric.since_previous
    suffix = f" after {metric.previous_phase}" if metric.previous_phase else ""
    return [
        metric.name.capitalize(),
        _duration_cell(metric.from_impact),
        _duration_cell(since, suffix) if since is not None else NOT_AVAILABLE,
    ]


def _metrics(analysis: IncidentAnalysis, entries: Sequence[Entry]) -> list[str]:
    rows = [_metric_row(metric) for metric in analysis.metrics]
    header = ["Metric", "From impact", "Since previous phase"]
    return [
        "## Metrics",
        "",
        *_table(header, rows),
        *_data_at_risk(entries),
        *_delivery_proof(entries),
    ]


def _delivery_proof(entries: Sequence[Entry]) -> list[str]:
    """The canaries that proved mail flowed after routing (cockpit.incident.delivery_proof),
    next to the restored and verified times they support."""
    from cockpit.incident.delivery_proof import delivery_proof

    proof = delivery_proof(entries)
    if proof is None:
        return []
    lines = ["", "Mail flow proven by canaries (first run of each direction ok after routed):"]
    for direction, seen in proof.first.items():
        took = "" if seen.round_trip_s is None else f", round trip {seen.round_trip_s:.1f} s"
        folder = "" if seen.folder is None else f", in {md_inline(seen.folder)}"
        how = "checklist tick" if seen.source == "tick" else "probe entry"
        region = md_inline(seen.region or "?")
        lines.append(
            f"- {direction}: {md_inline(seen.canary)} through {region} at"
            f" {format_utc(seen.observed_at)}{took}{folder} ({how} seq {seen.seq})"
        )
    for name, moment in (("restored", proof.restored_at), ("verified", proof.verified_at)):
        if moment is not None:
            lines.append(f"- {name} set for {format_utc(moment)}")
    missing = [direction for direction in ("inbound", "outbound") if direction not in proof.first]
    if missing:
        lines.append(f"- no {' or '.join(missing)} canary was seen ok after routed")
    return lines


def _data_at_risk(entries: Sequence[Entry]) -> list[str]:
    """The RPO line, where the cockpit recorded the replication lag at a failover decision."""
    from cockpit.incident.rpo import data_at_risk

    risk = data_at_risk(entries)
    if risk is None:
        return []
    region = md_inline(risk.target_region)
    decided = format_utc(risk.decided_at)
    if risk.lag_s is None:
        why = md_inline(risk.reason)
        return ["", f"Data at risk (RPO): unknown at the failover to {region} ({decided}): {why}."]
    source = md_inline(risk.source or "?")
    read = "" if risk.read_at is None else f", read {format_utc(risk.read_at)}"
    lag = _format_seconds(round(risk.lag_s))
    return [
        "",
        f"Data at risk (RPO): {lag} of replication lag in {region} at the failover decision"
        f" ({decided}; {source}{read}, {md_inline(risk.reason)}).",
    ]


def _phase_note(phase_time: PhaseTime) -> str:
    notes: list[str] = []
    history = phase_time.history
    for previous, setting in zip(history, history[1:], strict=False):
        how = "corrected" if setting.kind == "correction" else "set again"
        notes.append(
            f"{how} at seq {setting.seq} by {md_cell(setting.author)}, "
            f"was {format_utc(previous.at)}"
        )
    return "; ".join(notes)


def _phases(analysis: IncidentAnalysis) -> list[str]:
    rows: list[list[str]] = []
    for phase in PHASES:
        phase_time = analysis.timeline.get(phase)
        if phase_time is None:
            rows.append([phase, NOT_AVAILABLE, "", ""])
            continue
        setter = f"{md_cell(phase_time.current.author)} (seq {phase_time.seq})"
        rows.append([phase, format_utc(phase_time.at), setter, _phase_note(phase_time)])
    return ["## Phases", "", *_table(["Phase", "Time", "Set by", "Note"], rows)]


def _mermaid_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(" ", "seconds")[:19]


def _chart(analysis: IncidentAnalysis) -> list[str]:
    present = analysis.timeline.times
    if len(present) < 2:
        return ["## Phase chart", "", "Fewer than two phases recorded: no chart."]
    lines = [
        "## Phase chart",
        "",
        "```mermaid",
        "gantt",
        "    title Incident phases (UTC)",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        "    axisFormat %H:%M",
        "    section Phases",
    ]
    for earlier, later in zip(present, present[1:], strict=False):
        label = f"{earlier.phase} to {later.phase}"
        start, end, tags = earlier.at, later.at, ""
        if end < start:
            start, end, tags = end, start, "crit, "
            label += " (out of order)"
        lines.append(
            f"    {label} :{tags}{earlier.phase}, {_mermaid_time(start)}, {_mermaid_time(end)}"
        )
    lines.append("```")
    return lines


def _entry_text(entry: Entry) -> str:
    """The Text cell of the timeline, as Markdown.

    Log data is escaped piece by piece with md_inline; the words and times around it are
    ours. That is safe because escaped data holds no bare ASCII punctuation, and our own
    pieces hold none that can start a link, HTML, emphasis, code or a cell split.
    """
    data = entry.data
    kind = entry.kind
    if not data and kind not in _STRUCTURED_KINDS:
        return md_inline(entry.text)
    parts: list[str] = []
    if kind == "phase":
        phase = md_inline(_plain(data.get("phase")))
        if data_time(data, "at") is None:
            parts.append(f"{phase} at {format_utc(entry.ts)} (entry time: no valid time given)")
        else:
            parts.append(f"{phase} at {_shown_time(data, 'at')}")
    elif kind == "correction":
        corrects = md_inline(_plain(data.get("corrects_seq"))) or "?"
        parts.append(
            f"{md_inline(_plain(data.get('phase')))} corrected to {_shown_time(data, 'at')} "
            f"(was {_shown_time(data, 'previous_at')}, corrects seq {corrects})"
        )
    elif kind == "check":
        step = data.get("step")
        shown_step = f"step {md_inline(_plain(step))} " if step is not None else ""
        result = md_inline(_plain(data.get("result"))) or "?"
        check = f"{shown_step}{md_inline(_plain(data.get('title')))}: {result}"
        if data.get("reason"):
            check += f" ({md_inline(_plain(data.get('reason')))})"
        parts.append(check)
    text = "" if kind == "phase" and _only_the_phase(entry.text, data) else md_inline(entry.text)
    if text:
        parts.append(text)
    if kind == "decision":
        for key, label in (("why", "why"), ("approver", "approver"), ("target_region", "target")):
            if data.get(key):
                parts.append(f"{label}: {md_inline(_plain(data.get(key)))}")
    elif kind == "probe" and data.get("status") is not None:
        parts.append(f"status: {md_inline(_plain(data.get('status')))}")
    combined = "; ".join(parts)
    if kind not in ("phase", "correction") and "at" in data:
        at = data_time(data, "at")
        if at is None:
            combined += f" (at {md_inline(_plain(data.get('at'))) or '?'})"
        elif at.date() == entry.ts.astimezone(UTC).date():
            combined += f" (at {format_utc(at)[11:]})"
        else:
            combined += f" (at {format_utc(at)})"
    tags = entry.tags if "tags" in data else ()
    if tags:
        combined += " (tags: " + ", ".join(md_inline(tag) for tag in tags) + ")"
    return combined.strip()


def _timeline(entries: Sequence[Entry], impact: datetime | None) -> Iterator[str]:
    """The timeline rows, produced one at a time: a long log is never held twice as text."""
    yield "## Timeline"
    yield ""
    if not entries:
        yield NONE_RECORDED
        return
    author_cell = _memo(md_cell)
    kind_cell = _memo(md_cell)
    offset: Callable[[datetime], str] = (lambda _: "") if impact is None else _offset_from(impact)
    yield from _table(["UTC time", "T+", "Author", "Kind", "Text"], [])
    for entry in entries:
        ts = entry.ts
        yield (
            f"| {format_utc(ts)} | {offset(ts)} | {author_cell(entry.author)} "
            f"| {kind_cell(entry.kind)} | {_entry_text(entry)} |"
        )


def _section(title: str, header: Sequence[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return [title, "", NONE_RECORDED]
    return [title, "", *_table(header, rows)]


def _decisions(entries: Sequence[Entry]) -> list[str]:
    rows = [
        [
            format_utc(e.ts),
            md_cell(e.text),
            md_cell(_plain(e.data.get("why"))),
            md_cell(_plain(e.data.get("approver"))),
            md_cell(_plain(e.data.get("target_region"))),
        ]
        for e in entries
        if e.kind == "decision"
    ]
    header = ["Time", "Decision", "Why", "Approver", "Target region"]
    return _section("## Decisions", header, rows)


def _roles(entries: Sequence[Entry]) -> list[str]:
    rows = [
        [
            format_utc(handoff.at),
            handoff.role,
            md_cell(handoff.holder),
            md_cell(_plain(handoff.previous)),
            md_cell(handoff.by),
        ]
        for handoff in handoffs(entries)
    ]
    header = ["Time", "Role", "Holder", "Taken from", "Written by"]
    return _section("## Roles and handoffs", header, rows)


def _checks(entries: Sequence[Entry]) -> list[str]:
    rows = [
        [
            format_utc(e.ts),
            md_cell(_plain(e.data.get("step"))),
            md_cell(_plain(e.data.get("title"))),
            md_cell(_plain(e.data.get("result"))),
            md_cell(_plain(e.data.get("reason")) or _correction_of(e.data)),
            md_cell(e.author),
        ]
        for e in entries
        if e.kind == "check"
    ]
    header = ["Time", "Step", "Title", "Result", "Reason", "Author"]
    return _section("## Checklist results", header, rows)


def _correction_of(data: Any) -> str:
    """The Reason cell of a "reopened" step: the tick or skip it takes back."""
    if data.get("result") != "reopened":
        return ""
    was = _plain(data.get("was")) or "entry"
    return f"correction: takes back the {was} at seq {_plain(data.get('corrects_seq')) or '?'}"


def _evidence(data: Any) -> str:
    if "evidence" in data:
        evidence = data.get("evidence")
    else:
        evidence = {k: v for k, v in data.items() if k not in ("status", "tags")}
        if not evidence:
            return ""
    return md_cell(_cut(_plain(evidence)))


def _probes(entries: Sequence[Entry]) -> list[str]:
    rows = [
        [
            format_utc(e.ts),
            md_cell(e.text),
            md_cell(_plain(e.data.get("status"))),
            _evidence(e.data),
        ]
        for e in entries
        if e.kind == "probe"
    ]
    return _section("## Probe evidence", ["Time", "Probe", "Status", "Evidence"], rows)


def _lessons(entries: Sequence[Entry]) -> list[str]:
    lines = ["## Lessons learned and runbook edits", ""]
    for entry in entries:
        if LESSON_TAG in entry.tags:
            author, text = md_inline(entry.author), md_inline(entry.text)
            lines.append(f"- {format_utc(entry.ts)}, {author}: {text}")
    if len(lines) == 2:
        lines.append(NONE_RECORDED)
    return lines


def _log_errors(problems: Sequence[LogProblem]) -> list[LogProblem]:
    """Errors about the log as a whole (no line): it lost entries a writer acknowledged."""
    return [p for p in problems if p.severity == "error" and p.line is None]


def _incomplete(problems: Sequence[LogProblem]) -> list[str]:
    """Said before anything else: a timeline missing acknowledged entries is not routine."""
    lines = ["**Error: this timeline is incomplete.**"]
    lines += [f"- {md_inline(problem.message)}" for problem in _log_errors(problems)]
    return lines


def _integrity(
    entries: Sequence[Entry], problems: Sequence[LogProblem], analysis: IncidentAnalysis
) -> list[str]:
    found = sorted(
        [*problems, *analysis.timeline.warnings], key=lambda p: (p.line is None, p.line or 0)
    )
    problem_rows = [
        ["" if p.line is None else str(p.line), md_cell(p.severity), md_cell(p.message)]
        for p in found
    ]
    torn = [e for e in entries if e.kind == "system" and e.data.get("event") == TORN_LINE_EVENT]
    torn_rows = [
        [str(e.seq), md_cell(_plain(e.data.get("line"))), md_cell(_plain(e.data.get("bytes")))]
        for e in torn
    ]
    unknown = Counter(e.kind for e in entries if e.kind not in _KNOWN_KINDS)
    kind_rows = [[md_cell(kind), str(count)] for kind, count in sorted(unknown.items())]
    lines = ["## Log integrity"]
    for label, count, header, rows in (
        ("Problems found", len(found), ["Line", "Severity", "Problem"], problem_rows),
        ("Torn lines recovered", len(torn), ["Seq", "Line", "Bytes"], torn_rows),
        ("Entries of unknown kinds", unknown.total(), ["Kind", "Entries"], kind_rows),
    ):
        lines += ["", f"{label}: {count}." if count else f"{label}: none."]
        if rows:
            lines += ["", *_table(header, rows)]
    return lines


def markdown_lines(
    entries: Sequence[Entry], problems: Sequence[LogProblem] = (), *, name: str
) -> Iterator[str]:
    """The lines of the post-incident timeline, without line ends, produced lazily."""
    ordered = sorted(entries, key=lambda e: e.seq)
    analysis = analyse(ordered, name=name)
    impact = analysis.timeline.at("impact")
    title = md_inline(analysis.summary.title)
    sections: list[Callable[[], Iterable[str]]] = [
        lambda: [f"# Incident timeline: {title}".rstrip()],
        *([lambda: _incomplete(problems)] if _log_errors(problems) else []),
        lambda: _summary(analysis, len(ordered)),
        lambda: _metrics(analysis, ordered),
        lambda: _phases(analysis),
        lambda: _chart(analysis),
        lambda: _timeline(ordered, impact),
        lambda: _decisions(ordered),
        lambda: _roles(ordered),
        lambda: _checks(ordered),
        lambda: _probes(ordered),
        lambda: _lessons(ordered),
        lambda: _integrity(ordered, problems, analysis),
    ]
    for index, section in enumerate(sections):
        if index:
            yield ""
        yield from section()


def render_markdown(
    entries: Sequence[Entry], problems: Sequence[LogProblem] = (), *, name: str
) -> str:
    """The post-incident timeline. `name` is the log file's stem (the title fallback)."""
    lines = list(markdown_lines(entries, problems, name=name))
    lines.append("")
    return "\n".join(lines)


def write_markdown(
    out: TextIO, entries: Sequence[Entry], problems: Sequence[LogProblem] = (), *, name: str
) -> None:
    """Write what render_markdown returns to `out`, without holding it all as one string."""
    for line in markdown_lines(entries, problems, name=name):
        out.write(line)
        out.write("\n")
