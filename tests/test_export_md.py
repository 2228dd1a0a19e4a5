"""Golden-file tests of the Markdown and JSON exports.

Each tests/golden/<name>.jsonl is rendered and compared byte for byte with
tests/golden/<name>.md (and <name>.json where present). To regenerate after an intended
change, run with COCKPIT_UPDATE_GOLDEN=1, then read the diff before committing it.
"""

from __future__ import annotations

import io
import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from cockpit.compat import UTC
from cockpit.incident.entry import Entry, LogProblem, entry_from_line
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import (
    format_duration,
    format_offset,
    format_utc,
    render_markdown,
    write_markdown,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("COCKPIT_UPDATE_GOLDEN") == "1"
LOGS = sorted(p.stem for p in GOLDEN.glob("*.jsonl"))
JSON_GOLDENS = ["full_incident", "with_problems"]


def read_golden_log(stem: str) -> tuple[list[Entry], list[LogProblem]]:
    """Parse a golden log line by line (independent of the log reader module)."""
    entries: list[Entry] = []
    problems: list[LogProblem] = []
    raw_lines = (GOLDEN / f"{stem}.jsonl").read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for line_no, raw in enumerate(raw_lines, start=1):
        entry, line_problems = entry_from_line(raw, line_no)
        problems.extend(line_problems)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_bytes(actual.encode("utf-8"))
        return
    assert path.exists(), f"{path.name} missing: run with COCKPIT_UPDATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{path.name} differs: run with COCKPIT_UPDATE_GOLDEN=1 and review"


def test_there_are_golden_logs() -> None:
    assert {"full_incident", "notes_only", "with_problems"} <= set(LOGS)
    assert "full_incident" in JSON_GOLDENS


@pytest.mark.parametrize("stem", LOGS)
def test_markdown_matches_golden(stem: str) -> None:
    entries, problems = read_golden_log(stem)
    check_golden(GOLDEN / f"{stem}.md", render_markdown(entries, problems, name=stem))


@pytest.mark.parametrize("stem", JSON_GOLDENS)
def test_json_matches_golden(stem: str) -> None:
    entries, problems = read_golden_log(stem)
    check_golden(GOLDEN / f"{stem}.json", render_json(entries, problems, name=stem))


@pytest.mark.parametrize("stem", LOGS)
def test_rendering_is_deterministic_and_order_independent(stem: str) -> None:
    entries, problems = read_golden_log(stem)
    first = render_markdown(entries, problems, name=stem)
    assert render_markdown(list(entries), list(problems), name=stem) == first
    assert render_markdown(list(reversed(entries)), problems, name=stem) == first
    assert render_json(entries, problems, name=stem) == render_json(
        list(reversed(entries)), problems, name=stem
    )
    assert first.endswith("\n") and not first.endswith("\n\n")
    assert "\r" not in first


def test_json_round_trips_the_entries_as_written() -> None:
    entries, problems = read_golden_log("full_incident")
    document = json.loads(render_json(entries, problems, name="full_incident"))
    assert set(document) >= {"incident", "phases", "metrics", "entries", "problems"}
    for record, entry in zip(document["entries"], entries, strict=True):
        assert record["text"] == entry.text
        assert record["data"] == dict(entry.data)
    metrics = {m["name"]: m["from_impact_seconds"] for m in document["metrics"]}
    assert metrics["time to detect"] == 300.0
    assert document["incident"]["region_after"] == "eu-central"


def test_json_escapes_surrogates_and_terminal_controls_losslessly() -> None:
    text = "a\ud800b\x9b31m\u202e\x1b[2J\u2028\x7f\U000e0041"
    entry = Entry(
        seq=1,
        ts=datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        author="x\udfff",
        origin={},
        kind="note",
        text=text,
        data={"k\u200b": "v\u0085"},
    )
    rendered = render_json([entry], name="t")
    rendered.encode("utf-8")  # no lone surrogate left to fail on
    for char in "\ud800\udfff\x9b\u202e\x1b\u2028\x7f\U000e0041\u200b\x85":
        assert char not in rendered
    document = json.loads(rendered)
    assert document["entries"][0]["text"] == text
    assert document["entries"][0]["author"] == "x\udfff"
    assert document["entries"][0]["data"] == {"k\u200b": "v\u0085"}


def test_empty_log_renders() -> None:
    text = render_markdown([], name="empty")
    assert text.startswith("# Post-incident review: empty\n")
    assert "None recorded." in text
    assert json.loads(render_json([], name="empty"))["entries"] == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0:00:00"),
        (300, "0:05:00"),
        (299.6, "0:04:59"),
        (3600 * 5 + 7, "5:00:07"),
        (86400 + 2 * 3600 + 3 * 60 + 4, "1 d 02:03:04"),
        (-60, "-0:01:00"),
        (-(86400 * 3), "-3 d 00:00:00"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == expected


def test_format_offset_and_utc() -> None:
    impact = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    later = datetime(2026, 11, 27, 14, 5, 0, 999000, tzinfo=UTC)
    assert format_offset(later, impact) == "T+0:05:00"
    assert format_offset(impact - timedelta(seconds=61), impact) == "T-0:01:01"
    assert format_offset(later, None) == ""
    assert format_utc(later) == "2026-11-27 14:05:00 UTC"


@pytest.mark.parametrize("stem", LOGS)
def test_golden_markdown_parses_to_our_structure_only(stem: str) -> None:
    entries, problems = read_golden_log(stem)
    text = render_markdown(entries, problems, name=stem)
    tokens = MarkdownIt("gfm-like").parse(text)
    stack = list(tokens)
    while stack:
        token = stack.pop()
        assert token.type not in ("link_open", "image", "html_inline", "html_block"), token
        stack.extend(token.children or [])
    headings = [
        (t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"
    ]
    top = [content for tag, content in headings if tag == "h2"]
    assert top == [
        "Summary",
        "Impact",
        "Trigger and root cause",
        "Detection",
        "Response and recovery",
        "Metrics",
        "Phases",
        "Phase chart",
        "Checklist results",
        "Lessons learned",
        "Action items",
        "Pre- and post-incident comparison",
        "Timeline",
        "Probe evidence",
        "Log integrity",
        "Appendix: probe evidence as logged",
    ]
    probes = [e.seq for e in sorted(entries, key=lambda e: e.seq) if e.kind == "probe"]
    appendix = top.index("Appendix: probe evidence as logged")
    after = headings[[h for _, h in headings].index(top[appendix]) + 1 :]
    assert [content.split(",")[0] for _, content in after] == [f"seq {seq}" for seq in probes]


def test_write_markdown_writes_what_render_markdown_returns() -> None:
    entries, problems = read_golden_log("full_incident")
    out = io.StringIO()
    write_markdown(out, entries, problems, name="full_incident")
    assert out.getvalue() == render_markdown(entries, problems, name="full_incident")


def test_a_phase_row_says_its_time_once_and_keeps_a_typed_text(tmp_path: Path) -> None:
    """`cockpit log --phase` writes "<phase> at <time>" as the text: the row stands at that
    time already, so it is not repeated; a text somebody typed is kept."""
    from cockpit.incident.log import IncidentLog

    log = IncidentLog(tmp_path / "incident.jsonl")
    at = "2026-12-05T18:00:00.000Z"
    log.append("phase", f"impact at {at}", {"phase": "impact", "at": at}, author="a")
    log.append("phase", "declared", {"phase": "declared", "at": at}, author="a")
    log.append("phase", "routed by DNS TTL", {"phase": "routed", "at": at}, author="a")
    text = render_markdown(log.read().entries, [], name="incident")
    rows = [line for line in text.splitlines() if "| phase |" in line]
    # Each row stands at the phase's time; when it was written follows, as it differs.
    head = r"\| \d \| 2026-12-05 18:00:00 UTC \| T\+0:00:00 \| a \| phase \| "
    logged = r" \(logged [-0-9 :]+ UTC\) \|"
    assert re.fullmatch(head + "impact" + logged, rows[0]), rows[0]
    assert re.fullmatch(head + "declared" + logged, rows[1]), rows[1]
    assert re.fullmatch(head + "routed; routed by DNS TTL" + logged, rows[2]), rows[2]
