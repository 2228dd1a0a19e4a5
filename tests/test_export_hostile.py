"""The Markdown export keeps its structure whatever the log contains.

Every field a person or a probe can fill is set to hostile text: Markdown and HTML syntax,
links in every form, line breaks of every kind, terminal escape sequences, bidi overrides,
NUL and lone surrogates. The export is parsed with markdown-it-py (GFM-like with linkify,
and plain CommonMark) and must keep exactly its own headings, tables, list and fence, with
the hostile text showing literally in the cell it belongs to.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.rules_block.table import escapedSplit
from markdown_it.token import Token

from cockpit.compat import UTC
from cockpit.incident.entry import KINDS, LESSON_TAG, TORN_LINE_EVENT, Entry, LogProblem, format_ts
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.incident.phases import effective_phases
from cockpit.safe_text import clean

HOSTILE: tuple[str, ...] = (
    "a | b || c |",
    "| leading pipe",
    "\\|escaped pipe\\\\|",
    "line one\nline two",
    "crlf\r\nnext",
    "cr\rnext",
    "ls\u2028next\u2029para",
    "nel\x85next",
    "<b>bold</b> <div>block</div>",
    "<script>alert(1)</script>",
    "<!-- comment",
    "<img src=x onerror=alert(1)>",
    "&lt;script&gt; &amp; &#60; &#x3C;",
    "[a](http://evil)",
    "![i](http://evil/x.png)",
    "[a]: http://evil",
    "[x][ref]\n\n[ref]: http://evil",
    "<http://evil>",
    "http://evil.example/path?q=1",
    "www.evil.example",
    "evil@example.com",
    "mailto:evil@example.com",
    "//localhost/x",
    "```js\nalert(1)\n```",
    "~~~\ncode",
    "# heading",
    "> quote",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "    indented code",
    "---",
    "===",
    "|---|---|",
    "trailing backslash\\",
    "*emph* _u_ **strong** ~~strike~~ `code`",
    "\x1b[2J\x1b[H cleared",
    "\x1b]0;pwned title\x07",
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "\x9b31m C1 CSI",
    "abc\u202edcba\u202c",
    "\u2066isolate\u2069",
    "nul\x00byte",
    "lone \ud800 surrogate \udfff",
    "zero\u200bwidth \ufeffbom",
    "<?php ?> <![CDATA[x]]>",
    "$x^2$ {attr} :emoji: @user",
    "",
    "   ",
    # Only some of these characters are escaped, and only where they would be markup:
    "mx1.example.net. answers, config.py too",
    "ops@example.com mailto:a@b a@10.0.0.1 //localhost:25",
    "www.drill.example (www.a.b) ~single~ x=a.com",
    "&amp &#60 1) item",
    "--",
    "- --",
    "===",
    "issue #",
)
HEADINGS = [
    ("h2", "Summary"),
    ("h2", "Impact"),
    ("h2", "Trigger and root cause"),
    ("h3", "Contributing factors"),
    ("h2", "Detection"),
    ("h2", "Response and recovery"),
    ("h3", "Decisions"),
    ("h3", "Roles and handoffs"),
    ("h2", "Metrics"),
    ("h2", "Phases"),
    ("h2", "Phase chart"),
    ("h2", "Checklist results"),
    ("h2", "Lessons learned"),
    ("h3", "What went well"),
    ("h3", "What went badly"),
    ("h3", "Where we got lucky"),
    ("h3", "Other lessons and runbook edits"),
    ("h2", "Action items"),
    ("h2", "Pre- and post-incident comparison"),
    ("h2", "Timeline"),
    ("h2", "Probe evidence"),
    ("h2", "Log integrity"),
    ("h2", "Appendix: probe evidence as logged"),
]
"""The headings before the appendix's one heading per probe entry ("seq N, <time>")."""
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FORBIDDEN_TOKENS = {"html_block", "html_inline", "link_open", "image", "code_block", "hr"}
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def shown(text: str) -> str:
    """What a hostile string must look like once rendered: cleaned, one line, trimmed."""
    return clean(text).strip()


@dataclass
class HostileLog:
    entries: list[Entry] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)

    def add(self, kind: str, text: str, author: str, data: dict[str, Any]) -> None:
        seq = len(self.entries) + 1
        self.entries.append(
            Entry(seq, T0 + timedelta(seconds=seq), author, {}, kind, text, data, seq)
        )


def build_log() -> HostileLog:
    log = HostileLog()
    title = "\n".join(HOSTILE)
    log.add("system", "opened", "system", {"event": "opened", "title": title})
    log.add("phase", HOSTILE[9], HOSTILE[0], {"phase": "impact", "at": format_ts(T0)})
    log.add("phase", HOSTILE[13], HOSTILE[37], {"phase": "detected", "at": format_ts(T0)})
    role = {"event": "role", "role": "commander", "holder": HOSTILE[40], "previous": HOSTILE[3]}
    log.add("system", "handoff", HOSTILE[5], role)
    # An entry of a kind this version does not write claims the role: it does not count.
    log.add("handoff", "", "x", {"role": "commander", "holder": "not counted"})
    log.add("phase", "", "x", {"phase": "verified", "at": "0001-01-01T00:00:00+01:00"})
    log.add("correction", "", "x", {"phase": "verified", "at": "9999-12-31T23:59:59-01:00"})
    for hostile in HOSTILE:
        log.notes.append((len(log.entries), hostile))
        log.add("note", hostile, hostile, {})
        log.decisions.append(hostile)
        log.add(
            "decision",
            hostile,
            hostile,
            {
                "why": hostile,
                "approver": hostile,
                "target_region": hostile,
                "previous_region": hostile,
            },
        )
        log.checks.append(hostile)
        data = {"step": hostile, "title": hostile, "result": hostile, "reason": hostile}
        log.add("check", "", hostile, data)
        # A step the checklist counts: skipped with a hostile reason, with a hostile note.
        log.steps.append(hostile)
        step = f"step-{len(log.steps)}"
        data = {"step": step, "title": hostile, "result": "skipped", "reason": hostile}
        log.add("check", hostile, hostile, data)
        log.add("check", hostile, "x", {"step": step, "result": "note", "note": hostile})
        log.probes.append(hostile)
        log.add("probe", hostile, hostile, {"status": hostile, "evidence": hostile})
        log.lessons.append(hostile)
        log.add("note", hostile, hostile, {"tags": [LESSON_TAG, hostile]})
        log.torn.append(hostile)
        log.add("system", "torn", "writer", {"event": TORN_LINE_EVENT, "line": hostile, "bytes": 3})
        log.add(hostile, hostile, hostile, {"at": hostile})
    return log


LOG = build_log()
PROBLEMS = [LogProblem("error", hostile, line) for line, hostile in enumerate(HOSTILE, 1)]
OUTPUT = render_markdown(LOG.entries, PROBLEMS, name="hostile")
RENDERERS = {"gfm-like": MarkdownIt("gfm-like"), "commonmark": MarkdownIt("commonmark")}


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


def plain(inline: Token) -> str:
    kinds = {child.type for child in inline.children or []}
    assert kinds <= {"text"}, kinds
    return "".join(child.content for child in inline.children or [])


@dataclass
class Table:
    section: str
    header: list[str]
    rows: list[list[str]]


def parse_tables(tokens: list[Token]) -> list[Table]:
    tables: list[Table] = []
    section = ""
    row: list[str] | None = None
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            section = tokens[index + 1].content
        elif token.type == "table_open":
            tables.append(Table(section, [], []))
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            assert row is not None
            row.append(plain(tokens[index + 1]))
        elif token.type == "tr_close":
            assert row is not None
            if tables[-1].header:
                tables[-1].rows.append(row)
            else:
                tables[-1].header = row
    return tables


def tables_in(section: str) -> list[Table]:
    return [t for t in parse_tables(RENDERERS["gfm-like"].parse(OUTPUT)) if t.section == section]


@pytest.mark.parametrize("renderer_name", list(RENDERERS))
def test_headings_are_exactly_ours(renderer_name: str) -> None:
    tokens = RENDERERS[renderer_name].parse(OUTPUT)
    headings = [
        (token.tag, tokens[index + 1].content)
        for index, token in enumerate(tokens)
        if token.type == "heading_open"
    ]
    title = plain(next(t for i, t in enumerate(tokens) if i and tokens[i - 1].tag == "h1"))
    assert title == f"Post-incident review: {shown(chr(10).join(HOSTILE))}"
    assert headings[0][0] == "h1"
    assert headings[1 : len(HEADINGS) + 1] == HEADINGS
    probes = [e for e in LOG.entries if e.kind == "probe"]
    appendix = headings[len(HEADINGS) + 1 :]
    assert [tag for tag, _ in appendix] == ["h3"] * len(probes)
    for (_, content), entry in zip(appendix, probes, strict=True):
        assert content.startswith(f"seq {entry.seq}, 2026-11-27 ")


@pytest.mark.parametrize("renderer_name", list(RENDERERS))
def test_no_html_links_images_or_stray_blocks(renderer_name: str) -> None:
    tokens = RENDERERS[renderer_name].parse(OUTPUT)
    found = Counter(token.type for token in walk(tokens))
    assert not FORBIDDEN_TOKENS & set(found), found
    fences = [token for token in tokens if token.type == "fence"]
    probes = [e for e in LOG.entries if e.kind == "probe"]
    assert [fence.info for fence in fences] == ["mermaid"] + ["json"] * len(probes)
    for fence, entry in zip(fences[1:], probes, strict=True):
        # The appendix shows the entry exactly as logged (made terminal-safe like the JSON
        # export, which decodes to the same values).
        record = json.loads(fence.content)
        assert record["text"] == entry.text
        assert record["data"] == json.loads(json.dumps(dict(entry.data)))
    for token in walk(tokens):
        if token.type in ("s_open", "em_open", "strong_open", "code_inline", "blockquote_open"):
            pytest.fail(f"{token.type} in export")
    lists = [token for token in tokens if token.type in ("bullet_list_open", "ordered_list_open")]
    assert [token.type for token in lists] == ["bullet_list_open"]
    items = [token for token in tokens if token.type == "list_item_open"]
    assert len(items) == len(LOG.lessons)


def test_raw_output_has_no_terminal_or_bidi_controls() -> None:
    OUTPUT.encode("utf-8")
    for char in OUTPUT:
        code = ord(char)
        assert char == "\n" or code >= 0x20, hex(code)
        assert not 0x7F <= code <= 0x9F, hex(code)
        assert not 0xD800 <= code <= 0xDFFF, hex(code)
        assert char not in BIDI_CONTROLS + "\u2028\u2029\u200b\ufeff"


def test_every_table_line_keeps_its_column_count() -> None:
    """Checked on the raw lines too: markdown-it pads or cuts rows, which would hide a split."""
    columns: int | None = None
    for line in OUTPUT.split("\n"):
        if not line.startswith("|"):
            columns = None
            continue
        assert line.endswith(" |") or line.endswith("---|"), line
        cells = escapedSplit(line[1:-1])
        if columns is None:
            columns = len(cells)
        assert len(cells) == columns, line


def expected_table_shapes() -> list[tuple[str, int, int]]:
    unknown_kinds = {e.kind for e in LOG.entries if e.kind not in KINDS}
    return [
        ("Summary", 2, 8),
        ("Impact", 2, 5),
        ("Response and recovery", 6, len(LOG.decisions)),
        ("Response and recovery", 5, 1),
        # Five phase times, the time to converge and the peak queue depth (both n/a here).
        ("Metrics", 4, 7),
        ("Phases", 4, 7),
        ("Checklist results", 6, len(LOG.steps) + len(LOG.checks)),
        ("Timeline", 6, len(LOG.entries)),
        ("Probe evidence", 7, len(LOG.probes)),
        ("Log integrity", 3, len(PROBLEMS) + len(effective_phases(LOG.entries).warnings)),
        ("Log integrity", 3, len(LOG.torn)),
        ("Log integrity", 2, len(unknown_kinds)),
    ]


def test_each_table_has_the_expected_rows_and_columns() -> None:
    tables = parse_tables(RENDERERS["gfm-like"].parse(OUTPUT))
    shapes = [(t.section, len(t.header), len(t.rows)) for t in tables]
    assert shapes == expected_table_shapes()
    for table in tables:
        assert all(len(row) == len(table.header) for row in table.rows)


def test_hostile_text_shows_literally_in_its_cells() -> None:
    (timeline,) = tables_in("Timeline")
    by_seq = {row[0]: row for row in timeline.rows}
    for index, hostile in LOG.notes:
        row = by_seq[str(LOG.entries[index].seq)]
        assert row[3] == shown(hostile)  # author
        assert row[5] == shown(hostile)  # text
    decisions, _ = tables_in("Response and recovery")
    for row, hostile in zip(decisions.rows, LOG.decisions, strict=True):
        assert row[1:] == [shown(hostile)] * 5
    (checks,) = tables_in("Checklist results")
    steps, as_logged = checks.rows[: len(LOG.steps)], checks.rows[len(LOG.steps) :]
    for row, hostile in zip(as_logged, LOG.checks, strict=True):
        # Entries the checklist cannot read (a hostile result) are listed as logged.
        said = shown(hostile)
        assert row[:4] == [said, "", said, f"{said or '?'} (as logged)"]
        assert row[5] == (f"reason: {said}" if said else "")
    for number, (row, hostile) in enumerate(zip(steps, LOG.steps, strict=True), 1):
        assert row[0] == f"step-{number}"
        assert row[2] == (shown(hostile) or f"step-{number}")  # title, else the id
        assert row[3] == "skipped (not in the runbook)"
        when = r"2026-11-27 \d\d:\d\d:\d\d UTC"
        assert re.fullmatch(
            re.escape(f"{shown(hostile) or '?'}, ") + when + r" \(seq \d+\)", row[4]
        )
        reason = f"reason: {shown(hostile)}; " if shown(hostile) else ""
        note = (
            re.escape(f"{reason}note by x ") + when + re.escape(f": {shown(hostile) or '(empty)'}")
        )
        assert re.fullmatch(note, row[5]), row[5]
    (probes,) = tables_in("Probe evidence")
    for row, hostile in zip(probes.rows, LOG.probes, strict=True):
        assert row[2:5] == ["", "", ""]  # area, subject, where: none in the data
        assert row[5:] == [shown(hostile)] * 2
    problems, torn, kinds = tables_in("Log integrity")
    errors = [row for row in problems.rows if row[1] == "error"]
    for row, problem in zip(errors, PROBLEMS, strict=True):
        assert row == [str(problem.line), "error", shown(problem.message)]
    assert len(problems.rows) - len(errors) == 2  # the overflowing phase and correction times
    for row, hostile in zip(torn.rows, LOG.torn, strict=True):
        assert row[1] == shown(hostile)
    assert sorted(row[0] for row in kinds.rows) == sorted(
        shown(kind) for kind in {e.kind for e in LOG.entries if e.kind not in KINDS}
    )


def test_summary_and_phases_show_hostile_values_literally() -> None:
    (summary,) = tables_in("Summary")
    values = {row[0]: row[1] for row in summary.rows}
    assert values["Commander"] == shown(HOSTILE[40])
    regions = [hostile for hostile in LOG.decisions if hostile.strip()]
    assert values["Region after"] == shown(regions[-1])
    assert values["Region before"] == shown(regions[0])
    (phases,) = tables_in("Phases")
    set_by = {row[0]: row[2] for row in phases.rows}
    assert set_by["impact"] == f"{shown(HOSTILE[0])} (seq 2)"
    assert set_by["detected"] == f"{shown(HOSTILE[37])} (seq 3)"
    assert set_by["verified"] == "x (seq 6)"  # its data.at overflows: the entry time is used


def test_lessons_are_one_bullet_each_with_literal_text() -> None:
    tokens = RENDERERS["gfm-like"].parse(OUTPUT)
    inlines = [
        tokens[index + 2] for index, token in enumerate(tokens) if token.type == "list_item_open"
    ]
    assert len(inlines) == len(LOG.lessons)
    for inline, hostile in zip(inlines, LOG.lessons, strict=True):
        text = plain(inline)
        said = shown(hostile) or "(no text)"
        assert text.startswith(f"{said} ({shown(hostile)}, 2026-11-27 ".replace("( ,", "(,"))


def test_json_export_of_hostile_log_round_trips_and_is_terminal_safe() -> None:
    rendered = render_json(LOG.entries, PROBLEMS, name="hostile")
    rendered.encode("utf-8")
    assert "\x1b" not in rendered and "\x9b" not in rendered and "\u202e" not in rendered
    document = json.loads(rendered)
    assert [e["text"] for e in document["entries"]] == [e.text for e in LOG.entries]
    assert [p["message"] for p in document["problems"]] == list(HOSTILE)


def test_hostile_export_matches_its_golden_files() -> None:
    """Byte for byte, so any change in how hostile text is shown is seen and reviewed
    (COCKPIT_UPDATE_GOLDEN=1 regenerates them)."""
    from tests.test_export_md import GOLDEN, check_golden

    check_golden(GOLDEN / "review" / "hostile.md", OUTPUT)
    check_golden(
        GOLDEN / "review" / "hostile.json", render_json(LOG.entries, PROBLEMS, name="hostile")
    )
