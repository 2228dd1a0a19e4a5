"""The incident as one deterministic JSON document.

    {"incident": summary, "phases": [...], "metrics": [...], "review": {...},
     "entries": [...], "problems": [...], "warnings": [...],
     "delivery_proof": {...} (only when canaries proved mail flowed after routed:
     cockpit.incident.delivery_proof),
     "late_canaries": [...] (only when canary messages arrived after their runs gave up:
     cockpit.incident.late_canaries),
     "incomplete": [...] (only when the log lost entries a writer had acknowledged: the
     reasons, also in "problems" as errors)}

"review" has what the Markdown review says besides the timeline, in the same structure
(cockpit.incident.review): impact, causes and factors, detection, how each phase was set and
on what evidence, convergence, queue peaks, the after-steps at "verified", the checklist,
lessons by heading, action items, key entries, the pre/post comparison, the grouped probe
bursts and a one-line summary of each probe entry. Times are RFC 3339 UTC; a figure the log
cannot give is null.

The document is indented by 2 with sorted keys, except that each entry is one compact line
(the indenting encoder is too slow for 100,000 entries). Entries are exactly as written (the
record of `Entry.to_json_line`, plus the line number), so a reader gets every string back.

The text itself is made safe to print: besides what json.dumps escapes (C0 controls), DEL,
C1 controls, lone surrogates, format characters (bidi controls and the like, see safe_text)
and U+2028/U+2029 are written as \\uXXXX escapes. A terminal showing the raw file never sees
an escape sequence, and lone surrogates neither crash the export nor get lost. NaN and
Infinity, which the log reader accepts, are written as Python's json module writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cockpit.compat import UTC
from cockpit.incident.entry import Entry, LogProblem, format_ts
from cockpit.incident.phases import IncidentAnalysis, analyse
from cockpit.incident.review import Review, build_review, review_record
from cockpit.incident.runbook import Step
from cockpit.safe_text import FORMAT_CHAR_RANGES

__all__ = ["entry_record", "render_json", "terminal_safe"]

SCHEMA_VERSION = 2
"""2: the "review" object (issue 16)."""


def _unsafe_class() -> str:
    ranges = [(0x7F, 0x9F), (0xD800, 0xDFFF), (0x2028, 0x2029), *FORMAT_CHAR_RANGES]
    return "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]"


# Lone surrogates are only legal as escapes, and raw C1/bidi characters are not for terminals.
# Inside a JSON string these become \uXXXX (astral characters as a surrogate pair), which
# decodes to the very same str. Such characters can only occur inside JSON strings.
_UNSAFE = re.compile(_unsafe_class())


def _escape_match(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


_ENTRIES_PLACEHOLDER = '\n  "entries": null'
"""Where the entries go: the only top-level line of that form (data strings hold no raw \\n)."""


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_ts(moment)


def format_record_ts(moment: datetime) -> str:
    """format_ts, faster through isoformat (the same text for years 1000 to 9999)."""
    utc = moment.astimezone(UTC)
    if utc.year < 1000:
        return format_ts(utc)
    return utc.isoformat(timespec="milliseconds")[:23] + "Z"


def entry_record(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "ts": format_record_ts(entry.ts),
        "author": entry.author,
        "origin": dict(entry.origin),
        "kind": entry.kind,
        "text": entry.text,
        "data": dict(entry.data),
        "line": entry.line,
    }


def _problem_record(problem: LogProblem) -> dict[str, Any]:
    return {"severity": problem.severity, "line": problem.line, "message": problem.message}


def _document(
    entries: Sequence[Entry],
    problems: Sequence[LogProblem],
    analysis: IncidentAnalysis,
    review: Review,
) -> dict[str, Any]:
    summary = analysis.summary
    return {
        "schema": SCHEMA_VERSION,
        "incident": {
            "title": summary.title,
            "commander": summary.commander,
            "start": _time(summary.start),
            "start_is_impact": summary.start_is_impact,
            "end": _time(summary.end),
            "ongoing": summary.ongoing,
            "duration_seconds": _seconds(summary.duration),
            "region_before": summary.region_before,
            "region_after": summary.region_after,
            "entries": len(entries),
        },
        "phases": [
            {
                "phase": phase_time.phase,
                "at": format_ts(phase_time.at),
                "seq": phase_time.seq,
                "set_by": phase_time.current.author,
                "history": [
                    {
                        "at": format_ts(s.at),
                        "seq": s.seq,
                        "author": s.author,
                        "kind": s.kind,
                    }
                    for s in phase_time.history
                ],
            }
            for phase_time in analysis.timeline.times
        ],
        "metrics": [
            {
                "name": metric.name,
                "phase": metric.phase,
                "from_impact_seconds": _seconds(metric.from_impact),
                "previous_phase": metric.previous_phase,
                "since_previous_seconds": _seconds(metric.since_previous),
                "out_of_order": metric.out_of_order,
            }
            for metric in analysis.metrics
        ],
        **_data_at_risk(entries),
        "review": review_record(review, entries, analysis.timeline),
        "entries": [entry_record(entry) for entry in entries],
        "problems": [_problem_record(problem) for problem in problems],
        "warnings": [_problem_record(problem) for problem in analysis.timeline.warnings],
        **_lost(problems),
        **_delivery_proof(entries),
        **_late_canaries(entries),
    }


def _late_canaries(entries: Sequence[Entry]) -> dict[str, Any]:
    """{"late_canaries": [...]}: canary messages that arrived after their runs gave up."""
    from cockpit.incident.late_canaries import late_canaries

    late = late_canaries(entries)
    return {"late_canaries": [item.record() for item in late]} if late else {}


def _delivery_proof(entries: Sequence[Entry]) -> dict[str, Any]:
    """{"delivery_proof": {direction: the first canary ok after routed}} when there is one."""
    from cockpit.incident.delivery_proof import delivery_proof

    proof = delivery_proof(entries)
    return {} if proof is None else {"delivery_proof": proof.record()}


def _lost(problems: Sequence[LogProblem]) -> dict[str, Any]:
    """{"incomplete": [why, ...]} when the log lost entries a writer acknowledged (errors
    about the whole log, not a line): a reader must not take the timeline as complete."""
    lost = [p.message for p in problems if p.severity == "error" and p.line is None]
    return {"incomplete": lost} if lost else {}


def _data_at_risk(entries: Sequence[Entry]) -> dict[str, Any]:
    """{"data_at_risk": {...}} where a replication lag was recorded at a failover decision."""
    from cockpit.incident.rpo import data_at_risk

    risk = data_at_risk(entries)
    if risk is None:
        return {}
    return {
        "data_at_risk": {
            "target_region": risk.target_region,
            "decided_at": format_ts(risk.decided_at),
            "lag_seconds": risk.lag_s,
            "source": risk.source,
            "read_at": None if risk.read_at is None else format_ts(risk.read_at),
            "reason": risk.reason,
        }
    }


def terminal_safe(text: str) -> str:
    """Escape what must not appear raw (see the module docstring); JSON stays equivalent."""
    if text.isascii():
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape_match, text)


def render_json(
    entries: Sequence[Entry],
    problems: Sequence[LogProblem] = (),
    *,
    name: str,
    steps: Sequence[Step] | None = None,
) -> str:
    """The incident as JSON: sorted keys, indent 2, one entry per line, one trailing newline.
    `steps`: the runbook's steps when the caller has them."""
    ordered = sorted(entries, key=lambda e: e.seq)
    analysis = analyse(ordered, name=name)
    review = build_review(ordered, analysis.timeline, steps=steps)
    document = _document(ordered, problems, analysis, review)
    records = document.pop("entries")
    document["entries"] = None
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    head, tail = text.split(_ENTRIES_PLACEHOLDER, 1)
    # json's indenting encoder is pure Python (about 30 us an entry); entries go through the C
    # encoder instead, one compact object per line, like the log itself.
    encode = json.JSONEncoder(
        sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=str
    ).encode
    parts = [terminal_safe(head), '\n  "entries": [']
    separator = "\n    "
    for record in records:
        parts.append(separator)
        parts.append(terminal_safe(encode(record)))
        separator = ",\n    "
    parts.append("\n  ]" if records else "]")
    parts.append(terminal_safe(tail))
    parts.append("\n")
    return "".join(parts)
