"""The post-incident review as Markdown (CommonMark + GFM tables + one Mermaid chart).

The output is deterministic: the same entries, problems and runbook give byte-identical text,
with "\\n" line ends and one trailing newline. Its headings, in this order (a reviewer fills in
what says "To fill in"; everything else is read from the log, cockpit.incident.review):

    # Post-incident review: <title>
    (an error paragraph when the log lost entries a writer acknowledged: log_mark.py)
    ## Summary, ## Impact, ## Trigger and root cause (### Contributing factors), ## Detection,
    ## Response and recovery (### Decisions, ### Roles and handoffs), ## Metrics, ## Phases,
    ## Phase chart, ## Checklist results, ## Lessons learned (### What went well, ### What
    went badly, ### Where we got lucky, ### Other lessons and runbook edits), ## Action items,
    ## Pre- and post-incident comparison, ## Timeline (### Key entries when any are starred),
    ## Probe evidence, ## Log integrity, ## Appendix: probe evidence as logged
    (### seq N per probe entry)

Every piece of log data goes through `safe_text.md_cell`/`md_inline`, so it shows literally
and can never add a link, HTML, a heading or a table cell; in the appendix it is JSON inside a
code fence longer than any run of backticks in it, made terminal-safe like the JSON export.
Strings we produce ourselves (times, durations, phase names from PHASES, seq numbers) are
written as they are. The Mermaid chart is built only from PHASES names and timestamps.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from cockpit.compat import UTC
from cockpit.incident import export_md_sections as sections
from cockpit.incident.entry import (
    KEY_TAG,
    KINDS,
    TORN_LINE_EVENT,
    Entry,
    LogProblem,
    data_time,
    parse_ts,
)
from cockpit.incident.export_md_sections import (
    NONE_RECORDED,
    NOT_AVAILABLE,
    OUT_OF_ORDER,
    table,
)
from cockpit.incident.export_md_sections import md as _md
from cockpit.incident.phases import IncidentAnalysis, PhaseTime, analyse
from cockpit.incident.review import (
    Burst,
    Review,
    build_review,
    effective_time,
    plain_text,
    probe_change,
    probe_subject,
    probe_where,
)
from cockpit.incident.runbook import Step
from cockpit.safe_text import clean, md_cell, md_inline

__all__ = [
    "EVIDENCE_LIMIT",
    "format_duration",
    "format_offset",
    "format_utc",
    "markdown_lines",
    "markdown_parts",
    "probe_parts",
    "TimelinePart",
    "render_markdown",
    "write_markdown",
]

EVIDENCE_LIMIT = 300
"""A probe's change summary longer than this many characters is cut, ending with "…" (the
entry's subject has a column of its own, and the appendix has the whole entry)."""
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


def _phase_remainder(text: str, data: Any) -> str:
    """What a phase entry's text says beyond its data: "" for the phase's name or "<phase> at
    <its time>" as `cockpit log` and the screen write it; the rest of "<phase> at <time>
    (<why>)" as "<why>"; else the whole text."""
    phase = data.get("phase") if isinstance(data, Mapping) else None
    said = text.strip()
    if not isinstance(phase, str) or not phase:
        return said
    if said == phase:
        return ""
    head = f"{phase} at "
    if not said.startswith(head):
        return said
    moment, _, rest = said[len(head) :].partition(" ")
    try:
        if parse_ts(moment) != data_time(data, "at"):
            return said
    except ValueError:
        return said
    rest = rest.strip()
    if rest.startswith("(") and rest.endswith(")") and rest.count("(") == 1:
        rest = rest[1:-1].strip()
    return rest


def _shown_time(data: Any, key: str) -> str:
    """Markdown: data[key] in our UTC format when it is a valid time, else escaped (or "?")."""
    moment = data_time(data, key)
    if moment is not None:
        return format_utc(moment)
    return md_inline(plain_text(data.get(key))) or "?"


def _cut(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    # clean() never makes text shorter, so cutting the raw text first loses nothing.
    cleaned = clean(text[: limit + 1])
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - 1] + "…"


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
    return [
        "## Summary",
        "",
        *table(["Field", "Value"], rows),
        "",
        "What happened, in a few sentences: " + sections.TO_FILL,
    ]


def _duration_cell(delta: timedelta | None, suffix: str = "") -> str:
    if delta is None:
        return NOT_AVAILABLE
    marker = f" {OUT_OF_ORDER}" if delta < timedelta(0) else ""
    return f"{format_duration(delta)}{suffix}{marker}"


def _rpo(entries: Sequence[Entry]) -> tuple[str, str] | None:
    """The data at risk where the cockpit recorded the replication lag at a decision: the
    figure (the lag, or "unknown") and the sentence that says where it comes from."""
    from cockpit.incident.rpo import data_at_risk

    risk = data_at_risk(entries)
    if risk is None:
        return None
    region = md_cell(risk.target_region)
    decided = format_utc(risk.decided_at)
    if risk.lag_s is None:
        why = md_cell(risk.reason)
        return "unknown", f"unknown at the failover to {region} ({decided}): {why}"
    source = md_cell(risk.source or "?")
    read = "" if risk.read_at is None else f", read {format_utc(risk.read_at)}"
    lag = _format_seconds(round(risk.lag_s))
    return lag, (
        f"{lag} of replication lag in {region} at the failover decision ({decided};"
        f" {source}{read}, {md_cell(risk.reason)})"
    )


def _extra_metrics(
    entries: Sequence[Entry], review: Review, rpo: tuple[str, str] | None, has_decision: bool
) -> list[list[str]]:
    rows = sections.convergence_rows(review, has_decision, format_utc, _duration_cell)
    rows += sections.queue_rows(review, format_utc)
    if rpo is not None:
        rows.append(["Data at risk (RPO)", rpo[0], "failover decision", rpo[1]])
    rows += _canary_rows(entries)
    rows += _late_canary_rows(entries)
    return rows


LATE_CANARIES_LISTED = 5


def _late_canary_rows(entries: Sequence[Entry]) -> list[list[str]]:
    """Canary messages that arrived after their runs gave up (cockpit.incident.late_canaries):
    mail flowed, slower than the canary waited."""
    from cockpit.incident.late_canaries import late_canaries

    late = late_canaries(entries)
    if not late:
        return []
    listed = [
        f"{md_cell(item.canary)} sent {format_utc(item.sent_at)}, reached the server"
        f" {format_utc(item.arrived_at)[11:]}, {_format_seconds(round(item.late_s))} after"
        f" sending (seq {item.seq})"
        for item in late[:LATE_CANARIES_LISTED]
    ]
    if len(late) > LATE_CANARIES_LISTED:
        listed.append(f"and {len(late) - LATE_CANARIES_LISTED} more")
    slowest = _format_seconds(round(max(item.late_s for item in late)))
    return [
        [
            "Canary messages that arrived late",
            f"{len(late)} (up to {slowest})",
            "sending (Date header) to arrival (server time)",
            "after their runs gave up: " + "; ".join(listed),
        ]
    ]


def _canary_rows(entries: Sequence[Entry]) -> list[list[str]]:
    """Round trips of the canaries that proved mail flowed after routing
    (cockpit.incident.delivery_proof)."""
    from cockpit.incident.delivery_proof import DIRECTIONS, delivery_proof

    proof = delivery_proof(entries)
    if proof is None:
        return []
    rows = []
    for direction in DIRECTIONS:
        seen = proof.first.get(direction)
        name = f"Canary round trip ({direction})"
        if seen is None:
            rows.append(
                [name, NOT_AVAILABLE, "routed", f"no {direction} canary seen ok after routed"]
            )
            continue
        took = NOT_AVAILABLE if seen.round_trip_s is None else f"{seen.round_trip_s:.1f} s"
        folder = "" if seen.folder is None else f", in {md_cell(seen.folder)}"
        how = "checklist tick" if seen.source == "tick" else "probe entry"
        rows.append(
            [
                name,
                took,
                "first ok run after routed",
                f"mail flow proven by canaries: {md_cell(seen.canary)} through"
                f" {md_cell(seen.region or '?')} at {format_utc(seen.observed_at)}{folder}"
                f" ({how} seq {seen.seq})",
            ]
        )
    return rows


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


# --- the timeline --------------------------------------------------------------------------


def _check_text(entry: Entry) -> str:
    """A checklist entry: "<title>: <result> (<reason>)", then what its text adds."""
    data = entry.data
    title = plain_text(data.get("title")) or plain_text(data.get("step")) or "?"
    result = plain_text(data.get("result")) or "?"
    reason = plain_text(data.get("reason"))
    note = plain_text(data.get("note"))
    parts = [f"{_md(title)}: {_md(result)}"]
    if reason:
        parts[0] += f" ({_md(reason)})"
    if note:
        parts.append(_md(note))
    said = entry.text.strip()
    heads = (
        f"Done: {title}",
        f"Skipped: {title} ({reason})",
        f"Skipped: {title}",
        f"Note on {title}: {note}",
        f"Already done by {plain_text(data.get('done_by'))}: {title}",
        f"Reopened: {title}",
    )
    for head in heads:
        if said.startswith(head):
            said = said[len(head) :].strip()
            break
    if said.startswith("(") and said.endswith(")") and said.count("(") == 1:
        said = said[1:-1].strip()
    if said:
        parts.append(_md(said))
    return "; ".join(parts)


def _entry_text(entry: Entry) -> str:
    """The Text cell of the timeline, as Markdown.

    Log data is escaped piece by piece with md_inline; the words and times around it are
    ours. What touches an escaped piece is a space or one of `,;:()` (or a `.` after them),
    which md_inline's escaping allows for (safe_text's tests join pieces that way).
    """
    data = entry.data
    kind = entry.kind
    if not data and kind not in _STRUCTURED_KINDS:
        return _md(entry.text)
    parts: list[str] = []
    if kind == "phase":
        phase = _md(plain_text(data.get("phase")))
        if data_time(data, "at") is None:
            parts.append(f"{phase} (entry time: no valid time given)")
        else:
            parts.append(phase)
        rest = _phase_remainder(entry.text, data)
        if rest:
            parts.append(_md(rest))
    elif kind == "correction":
        corrects = _md(plain_text(data.get("corrects_seq"))) or "?"
        parts.append(
            f"{_md(plain_text(data.get('phase')))} corrected to {_shown_time(data, 'at')} "
            f"(was {_shown_time(data, 'previous_at')}, corrects seq {corrects})"
        )
        if entry.text.strip():
            parts.append(_md(entry.text))
    elif kind == "check":
        parts.append(_check_text(entry))
    else:
        text = _md(entry.text)
        if text:
            parts.append(text)
    if kind == "decision":
        for key, label in (("why", "why"), ("approver", "approver"), ("target_region", "target")):
            if data.get(key):
                parts.append(f"{label}: {_md(plain_text(data.get(key)))}")
    elif kind == "probe":
        if entry.text.rstrip().endswith("…") and probe_subject(entry):
            parts.append(f"about {_md(probe_subject(entry))}")
        if data.get("status") is not None:
            parts.append(f"status: {_md(plain_text(data.get('status')))}")
    combined = "; ".join(parts)
    if kind not in ("phase", "correction", "note", "decision") and "at" in data:
        at = data_time(data, "at")
        if at is None:
            combined += f" (at {_md(plain_text(data.get('at'))) or '?'})"
        elif at.date() == entry.ts.astimezone(UTC).date():
            combined += f" (at {format_utc(at)[11:]})"
        else:
            combined += f" (at {format_utc(at)})"
    elif kind in ("note", "decision") and "at" in data and data_time(data, "at") is None:
        combined += f" (at {_md(plain_text(data.get('at'))) or '?'}: not a valid time)"
    tags = entry.tags if "tags" in data else ()
    shown_tags = [tag for tag in tags if tag != KEY_TAG]
    if shown_tags:
        combined += " (tags: " + ", ".join(_md(tag) for tag in shown_tags) + ")"
    if KEY_TAG in tags:
        combined = "★ " + combined
    return combined.strip()


def _burst_text(burst: Burst) -> str:
    members = ", ".join(f"{_md(server)} {format_utc(at)[11:19]}" for server, at, _ in burst.members)
    text = f"{_md(burst.subject)} now answers {_md(burst.region)}: {members}"
    if burst.converged is not None:
        text += f" → converged {format_utc(burst.converged[0])[11:19]}"
    seqs = burst.seqs
    return f"{text} ({len(seqs)} probe entries, seq {', '.join(map(str, seqs))})"


def _by_time_and_seq(row: tuple[datetime, int, Entry]) -> tuple[datetime, int]:
    return row[0], row[1]


TIMELINE_PIECE_ROWS = 1000
"""The timeline is made in pieces of this many rows (TimelinePart.pieces)."""


class TimelinePart:
    """The timeline section: a part whose lines may also be made in pieces, in any order and
    in any process (cockpit.commands.export_parallel shares them between two cores).

    Rows are in order of when things happened (a phase or note given a time with --at stands
    at that time; the time it was written follows when it differs), bursts of probe entries
    that say one thing are one row, and key entries are starred. Calling the part gives its
    lines one at a time: a long log is never held twice as text."""

    def __init__(self, entries: Sequence[Entry], impact: datetime | None, review: Review) -> None:
        self._entries = entries
        self._review = review
        self._offset: Callable[[datetime], str] = (
            (lambda _: "") if impact is None else _offset_from(impact)
        )
        grouped = {seq for burst in review.bursts.values() for seq in burst.seqs}
        bursts = review.bursts
        timed = sorted(((effective_time(e), e.seq, e) for e in entries), key=_by_time_and_seq)
        self._rows = [row for row in timed if row[1] in bursts or row[1] not in grouped]
        """(when, seq, entry) of each row, in order."""

    def __call__(self) -> Iterator[str]:
        for piece in self.pieces():
            yield from piece()

    def pieces(self) -> list[Callable[[], Iterable[str]]]:
        """The part's lines as pieces: the heading (and key entries) first, then the rows
        TIMELINE_PIECE_ROWS at a time. Their lines, in this order, are the part's."""
        count = len(self._rows)
        return [self._head] + [
            (lambda start=start: self._row_lines(start, min(start + TIMELINE_PIECE_ROWS, count)))
            for start in range(0, count, TIMELINE_PIECE_ROWS)
        ]

    def _head(self) -> Iterator[str]:
        yield "## Timeline"
        yield ""
        if not self._entries:
            yield NONE_RECORDED
            return
        key_entries = self._review.key_entries
        if key_entries:
            yield "### Key entries"
            yield ""
            for marked in key_entries:
                author, text = _md(marked.author), _md(marked.text) or "(no text)"
                yield f"- ★ {format_utc(marked.at)}, {author}: {text} (seq {marked.seq})"
            yield ""
            yield "### All entries"
            yield ""
        yield from table(["Seq", "UTC time", "T+", "Author", "Kind", "Text"], [])

    def _row_lines(self, start: int, stop: int) -> Iterator[str]:
        bursts, offset = self._review.bursts, self._offset
        for when, seq, entry in self._rows[start:stop]:
            burst = bursts.get(seq)
            shown = format_utc(when)
            text = _burst_text(burst) if burst is not None else _entry_text(entry)
            written = shown if when is entry.ts else format_utc(entry.ts)
            if written != shown:
                text += f" (logged {written if written[:10] != shown[:10] else written[11:]})"
            yield (
                f"| {seq} | {shown} | {offset(when)} | {_md(entry.author)} "
                f"| {_md(entry.kind)} | {text} |"
            )


# --- probe evidence and its appendix ----------------------------------------------------------


def _probes(entries: Sequence[Entry]) -> Iterator[str]:
    yield "## Probe evidence"
    yield ""
    probes = [e for e in entries if e.kind == "probe"]
    if not probes:
        yield NONE_RECORDED
        return
    yield ("What each probe entry saw; its whole record is in the appendix under its seq.")
    yield ""
    header = ["Seq", "Time", "Area", "Subject", "Where", "Status", "What it saw"]
    yield from table(header, [])
    for entry in probes:
        data = entry.data
        change = probe_change(entry)
        if not change or change == data.get("status"):
            change = entry.text
        yield sections.row(
            [
                str(entry.seq),
                format_utc(entry.ts),
                _md(plain_text(data.get("area"))),
                _md(probe_subject(entry)),
                _md(probe_where(entry)),
                _md(plain_text(data.get("status"))),
                _md(_cut(change)),
            ]
        )


_BACKTICK_RUNS = re.compile("`+")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text` (at least three)."""
    if "`" not in text:
        return "```"
    return "`" * max(3, max(map(len, _BACKTICK_RUNS.findall(text))) + 1)


_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]
_c_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_encode_other = (
    # The C encoder JSONEncoder.encode builds on each call, built once (the values come from
    # parsed JSON: no cycles to look for, so no markers).
    _c_encoder(None, str, _encode_str, None, ": ", ", ", True, False, True)
    if _c_encoder is not None
    else None
)
_encode_fallback = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode


def _encode(value: Any) -> str:
    """json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), faster."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is int:
        return int.__repr__(value)
    if _encode_other is None:
        return _encode_fallback(value)
    return "".join(_encode_other(value, 0))


_EXPANDED_LEVELS = 3
"""Objects are laid out one member per line down to this depth (the record, its data, the
evidence); deeper values (an answer before and after) stay on one line each."""
_INDENTS = tuple("  " * depth for depth in range(_EXPANDED_LEVELS + 1))


def _laid_out(value: Any, depth: int) -> str:
    """`value` as JSON for reading, at `depth`: objects one member per line down to
    _EXPANDED_LEVELS, every other value through the C encoder (the indenting encoder is
    pure Python, too slow for tens of thousands of entries)."""
    if type(value) is not dict or not value or depth >= _EXPANDED_LEVELS:
        return _encode(value)
    deeper = depth + 1
    indent = _INDENTS[deeper]
    try:
        names = sorted(value)
    except TypeError:  # not all str (never from a log line): json's order
        names = sorted(value, key=str)
    members = []
    for name in names:
        item = value[name]
        key = _encode_str(name) if type(name) is str else _encode_str(str(name))
        shown = (
            _laid_out(item, deeper)
            if type(item) is dict and item and deeper < _EXPANDED_LEVELS
            else _encode(item)
        )
        members.append(f"{indent}{key}: {shown}")
    return "{\n" + ",\n".join(members) + "\n" + _INDENTS[depth] + "}"


def _record_text(entry: Entry, format_record_ts: Callable[[datetime], str]) -> str:
    """The entry's record (export_json.entry_record) laid out for reading (_laid_out), made
    without building the record: its keys, sorted, are always these."""
    data, origin = entry.data, entry.origin
    return (
        f'{{\n  "author": {_encode(entry.author)},'
        f'\n  "data": {_laid_out(data if type(data) is dict else dict(data), 1)},'
        f'\n  "kind": {_encode(entry.kind)},'
        f'\n  "line": {_encode(entry.line)},'
        f'\n  "origin": {_laid_out(origin if type(origin) is dict else dict(origin), 1)},'
        f'\n  "seq": {_encode(entry.seq)},'
        f'\n  "text": {_encode(entry.text)},'
        f'\n  "ts": {_encode(format_record_ts(entry.ts))}\n}}'
    )


def _appendix(entries: Sequence[Entry]) -> Iterator[str]:
    """One block per probe entry, yielded as one piece (lines joined by "\n")."""
    from cockpit.incident.export_json import format_record_ts, terminal_safe

    probes = [e for e in entries if e.kind == "probe"]
    yield "## Appendix: probe evidence as logged"
    yield ""
    if not probes:
        yield NONE_RECORDED
        return
    first = True
    for entry in probes:
        # The JSON holds no raw line end (the encoder escapes them), so the block is made
        # terminal-safe in one go, and its fence is found in one search.
        body = terminal_safe(_record_text(entry, format_record_ts))
        fence = _fence(body)
        yield (
            f"{'' if first else chr(10)}### seq {entry.seq}, {format_utc(entry.ts)}\n\n"
            f"{fence}json\n{body}\n{fence}"
        )
        first = False


# --- integrity -----------------------------------------------------------------------------


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
        [
            str(e.seq),
            md_cell(plain_text(e.data.get("line"))),
            md_cell(plain_text(e.data.get("bytes"))),
        ]
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
            lines += ["", *table(header, rows)]
    return lines


def _intro(name: str, count: int, runbook_known: bool) -> list[str]:
    runbook = "" if runbook_known else " (without the runbook)"
    return [
        f"Drafted by cockpit from the incident log {md_inline(name)} ({count} entries)"
        f'{runbook}. Parts that say "To fill in" are for the reviewers;'
        " everything else is read from the log, with the seq of the entries it relies on."
    ]


Part = Callable[[], Iterable[str]]
"""One section (or more) of the review: its lines, without line ends, made when called."""
ProbeParts = Callable[[Sequence[Entry]], tuple[Part, Part]]
"""Makes the "Probe evidence" and appendix parts from the entries in seq order."""


def probe_parts(ordered: Sequence[Entry]) -> tuple[Part, Part]:
    """The "Probe evidence" part and the appendix part of the review: made from the probe
    entries of `ordered` (in seq order) alone, so the same from those entries only."""
    return (lambda: _probes(ordered)), (lambda: _appendix(ordered))


def markdown_parts(
    entries: Sequence[Entry],
    problems: Sequence[LogProblem] = (),
    *,
    name: str,
    steps: Sequence[Step] | None = None,
    make_probe_parts: ProbeParts = probe_parts,
) -> tuple[list[Part], int]:
    """The review's parts in order (an empty line goes between two parts), and the index of
    the timeline's, the biggest: a caller with a second core may make it beside the others
    (cockpit.commands.export_cmd). The log is analysed here, once, before any part is made.
    `make_probe_parts`: where the probe parts come from (a caller may have made them)."""
    ordered = sorted(entries, key=lambda e: e.seq)
    probes, appendix = make_probe_parts(ordered)
    analysis = analyse(ordered, name=name)
    review = build_review(ordered, analysis.timeline, steps=steps)
    impact = analysis.timeline.at("impact")
    offset = (lambda _: "") if impact is None else _offset_from(impact)
    title = md_inline(analysis.summary.title)
    rpo = _rpo(ordered)
    has_decision = any(e.kind == "decision" and e.data.get("target_region") for e in ordered)
    parts: list[Callable[[], Iterable[str]]] = [
        lambda: [f"# Post-incident review: {title}".rstrip()],
        *([lambda: _incomplete(problems)] if _log_errors(problems) else []),
        lambda: _intro(name, len(ordered), steps is not None),
        lambda: _summary(analysis, len(ordered)),
        lambda: sections.impact(
            analysis, review, None if rpo is None else rpo[1], format_utc, format_duration
        ),
        lambda: sections.causes(review, format_utc),
        lambda: sections.detection(analysis, review, ordered, format_utc, offset),
        lambda: sections.response(ordered, plain_text, format_utc),
        lambda: sections.metrics(
            analysis,
            review,
            _extra_metrics(ordered, review, rpo, has_decision),
            format_utc,
            _duration_cell,
        ),
        lambda: sections.phases(analysis, _phase_note, format_utc),
        lambda: _chart(analysis),
        lambda: sections.checklist(review, plain_text, format_utc),
        lambda: sections.lessons(review, format_utc),
        lambda: sections.actions(review, format_utc),
        lambda: sections.comparison(review, format_utc),
        TimelinePart(ordered, impact, review),
        probes,
        lambda: _integrity(ordered, problems, analysis),
        appendix,
    ]
    return parts, len(parts) - 4


def markdown_lines(
    entries: Sequence[Entry],
    problems: Sequence[LogProblem] = (),
    *,
    name: str,
    steps: Sequence[Step] | None = None,
) -> Iterator[str]:
    """The lines of the post-incident review, without line ends, produced lazily.
    `steps`: the runbook's steps when the caller has them (the checklist is then complete)."""
    parts, _ = markdown_parts(entries, problems, name=name, steps=steps)
    for index, part in enumerate(parts):
        if index:
            yield ""
        yield from part()


def render_markdown(
    entries: Sequence[Entry],
    problems: Sequence[LogProblem] = (),
    *,
    name: str,
    steps: Sequence[Step] | None = None,
) -> str:
    """The post-incident review. `name` is the log file's stem (the title fallback)."""
    lines = list(markdown_lines(entries, problems, name=name, steps=steps))
    lines.append("")
    return "\n".join(lines)


def write_markdown(
    out: TextIO,
    entries: Sequence[Entry],
    problems: Sequence[LogProblem] = (),
    *,
    name: str,
    steps: Sequence[Step] | None = None,
) -> None:
    """Write what render_markdown returns to `out`, without holding it all as one string."""
    for line in markdown_lines(entries, problems, name=name, steps=steps):
        out.write(line)
        out.write("\n")
