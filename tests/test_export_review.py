"""The export as a post-incident review (issue 16): a worked drill log, byte for byte, and what
each part of the review must say.

tests/golden/review/drill.jsonl is a real drill's log (the drill the test suite runs: probes,
checklist ticks confirmed from probe results, a failover decision, DNS converging) followed by
what a team adds afterwards: queue entries falling back, canary proofs, skipped after-steps
with reasons, a step note, notes marked as cause, factor, impact and lessons, action items, a
key entry given a time with --at, and the close. It is rendered with the built-in runbook.
To regenerate after an intended change: COCKPIT_UPDATE_GOLDEN=1, then read the diff.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from cockpit.cli import main
from cockpit.compat import UTC
from cockpit.incident.entry import Entry
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.runbook import steps_for
from cockpit.safe_text import md_cell
from tests.test_export_md import GOLDEN, check_golden

STEM = "drill"
REVIEW = GOLDEN / "review"
RUNBOOK = steps_for(None)


def drill() -> tuple[list[Entry], list[Any]]:
    result = read_log(REVIEW / f"{STEM}.jsonl")
    return result.entries, result.problems


@pytest.fixture(scope="module")
def markdown() -> str:
    entries, problems = drill()
    return render_markdown(entries, problems, name=STEM, steps=RUNBOOK)


@pytest.fixture(scope="module")
def review() -> dict[str, Any]:
    entries, problems = drill()
    return json.loads(render_json(entries, problems, name=STEM, steps=RUNBOOK))["review"]


def section(text: str, title: str) -> str:
    return text.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0]


def rows(text: str) -> list[list[str]]:
    """The body rows of the tables in `text` (header rows left out)."""
    lines = text.splitlines()
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for index, line in enumerate(lines)
        if line.startswith("| ")
        and not (index + 1 < len(lines) and lines[index + 1].startswith("|---"))
    ]


def test_the_worked_drill_matches_its_golden_files(markdown: str) -> None:
    entries, problems = drill()
    check_golden(REVIEW / f"{STEM}.md", markdown)
    check_golden(REVIEW / f"{STEM}.json", render_json(entries, problems, name=STEM, steps=RUNBOOK))
    assert render_markdown(list(reversed(entries)), problems, name=STEM, steps=RUNBOOK) == (
        markdown
    )


def test_the_skeleton_has_every_review_section_and_nothing_else(markdown: str) -> None:
    tokens = MarkdownIt("gfm-like").parse(markdown)
    for token in tokens:
        for child in [token, *(token.children or [])]:
            assert child.type not in ("link_open", "image", "html_inline", "html_block")
    h2 = [tokens[i + 1].content for i, t in enumerate(tokens) if t.tag == "h2" and t.nesting == 1]
    assert h2[:4] == ["Summary", "Impact", "Trigger and root cause", "Detection"]
    assert "Action items" in h2 and "Pre- and post-incident comparison" in h2
    assert markdown.startswith("# Post-incident review: DRILL")
    assert "(without the runbook)" not in markdown


def test_metrics_measure_convergence_queue_rpo_and_canaries(markdown: str) -> None:
    metrics = {row[0]: row for row in rows(section(markdown, "## Metrics"))}
    converge = metrics[f"Time to converge ({md_cell('drill.example MX')})"]
    # From the decision (21:24:18.734) to drill-r4's new answer (21:24:22.009): 3.3 s.
    assert converge[1] == "0:00:03"
    assert f"{md_cell('drill-r4')}, observed 2026-12-05 21:24:22 UTC (seq 29)" in converge[3]
    queue = metrics[f"Peak queue depth ({md_cell('secondary-mx')}, secondary)"]
    assert queue[1] == "2310 messages"
    assert "back below the warning level 2026-12-05 21:24:35 UTC (seq 42)" in queue[3]
    assert metrics["Data at risk (RPO)"][1] == "0:00:11"
    assert metrics["Canary round trip (inbound)"][1] == "4.2 s"
    assert metrics["Canary round trip (outbound)"][1] == "6.8 s"


def test_verified_is_flagged_with_the_after_steps_it_left_open(markdown: str) -> None:
    metrics = {row[0]: row for row in rows(section(markdown, "## Metrics"))}
    # "verified" came before the team skipped nine after-steps: at that moment 11 of the
    # runbook's 12 after-steps were open.
    assert metrics["Time to verify"][3].startswith("⚠ verified with 11 of 12 after-steps open;")


def test_verified_after_skips_says_how_many_were_skipped() -> None:
    entries, _ = drill()
    before = [e for e in entries if e.seq < 37]
    at = entries[36].ts
    made: list[Entry] = []
    for index, step in enumerate(s for s in RUNBOOK if s.phase == "after"):
        if step.id in ("declare-verified", "lessons", "verify-delivery"):
            continue
        data = {"step": step.id, "result": "skipped", "title": step.title, "reason": "drill"}
        data["stage"] = step.phase
        made.append(Entry(100 + index, at, "alice", {}, "check", "", data, 0))
    verified = Entry(200, at, "alice", {}, "phase", "", {"phase": "verified"}, 0)
    document = json.loads(render_json([*before, *made, verified], name="v", steps=RUNBOOK))
    flag = document["review"]["after_steps"]["flag"]
    assert flag == "verified with 9 of 12 after-steps skipped and 3 of 12 after-steps open"
    text = render_markdown([*before, *made, verified], name="v", steps=RUNBOOK)
    assert f"⚠ {flag};" in text
    # Without the runbook the open steps cannot be counted, and the review says so.
    unknown = render_markdown([*before, *made, verified], name="v")
    assert "⚠ verified with 9 after-steps skipped; open after-steps not counted" in unknown


def test_phases_set_by_probes_cite_their_evidence(markdown: str) -> None:
    metrics = {row[0]: row for row in rows(section(markdown, "## Metrics"))}
    detect = metrics["Time to detect"][3]
    assert "set from a probe: " in detect and "observed 2026-12-05 21:24:09 UTC (seq 9)" in detect
    restore = metrics["Time to restore"][3]
    assert "confirmed from probe results" in restore
    assert "first seen to hold 2026-12-05 21:24:25 UTC" in restore
    assert restore.count("observed 2026-12-05 21:24:24 UTC (seq 35)") == 3


def test_the_timeline_groups_a_resolver_burst_and_stars_key_entries(markdown: str) -> None:
    timeline = section(markdown, "## Timeline")
    subject = md_cell("drill.example MX")
    expected = (
        f"{subject} now answers secondary: {md_cell('drill-r2')} 21:24:19,"
        f" {md_cell('drill-r3')} 21:24:19, {md_cell('drill-r1')} 21:24:20,"
        f" {md_cell('drill-r4')} 21:24:22 → converged 21:24:22"
        " (5 probe entries, seq 16, 17, 26, 29, 30)"
    )
    assert expected in timeline
    seqs = [row[0] for row in rows(timeline)]
    for grouped in ("17", "26", "29", "30"):
        assert grouped not in seqs  # said in the group's row
    assert "### Key entries" in timeline
    starred = [row for row in rows(timeline) if row[5].startswith("★ ")]
    # Given a time with --at, the key entry stands at that time; when it was written follows.
    assert starred[0][1] == "2026-12-05 21:24:24 UTC" and "(logged 21:25:05 UTC)" in starred[0][5]


def test_no_row_says_a_thing_twice(markdown: str) -> None:
    timeline = rows(section(markdown, "## Timeline"))
    for row in timeline:
        text = row[5]
        assert "Done:" not in text and "Skipped:" not in text, text
        assert not re.search(r"\d{4}\\?-\d\d\\?-\d\dT", text) or row[4] == "probe", text
    checks = [row[5] for row in timeline if row[4] == "check"]
    assert md_cell("Confirm the scope of the outage") + ": done" in checks
    assert (
        md_cell("Mail flows again in the target region")
        + ": done; "
        + md_cell("confirmed from probe results")
        in checks
    )
    phases = [row[5] for row in timeline if row[4] == "phase"]
    assert "declared; " + md_cell("Declare the incident and open its channel") in phases


def test_checklist_results_carry_reasons_and_notes(markdown: str) -> None:
    checklist = {row[0]: row for row in rows(section(markdown, "## Checklist results"))}
    assert len(checklist) == len(RUNBOOK)
    skipped = checklist[md_cell("sample-mailboxes")]
    assert skipped[1:4] == [
        "after",
        md_cell("Sample mailboxes: content and folders intact"),
        "skipped",
    ]
    assert skipped[5] == f"reason: {md_cell('drill: no user mailboxes')}"
    verify = checklist[md_cell("verify-delivery")]
    assert verify[3] == "done" and md_cell("both canaries arrived, INBOX") in verify[5]
    assert checklist["lessons"][3] == "open"


def test_marked_notes_fill_cause_impact_lessons_and_actions(markdown: str) -> None:
    cause = section(markdown, "## Trigger and root cause")
    assert md_cell("Storage controller firmware bug") in cause
    assert md_cell("MX TTL of 1 h on the secondary zone") in cause.split("### Contributing")[1]
    impact = section(markdown, "## Impact")
    assert md_cell("About 40 users saw delayed mail") in impact
    lessons = section(markdown, "## Lessons learned")
    well, badly, lucky, other = lessons.split("\n### ")[1:]
    assert md_cell("The first alarm came from the SMTP probe") in well
    assert md_cell("Nobody knew who approves a failover") in badly
    assert md_cell("The replication lag was only 11 s") in lucky
    assert md_cell("Lower the MX TTL to 300 s") in other
    actions = rows(section(markdown, "## Action items"))
    assert actions[0][1:4] == ["carol", md_cell("2026-12-19"), md_cell("OPS-412")]
    assert actions[1][1:4] == ["⚠ no owner", "⚠ no due date", ""]


def test_probe_evidence_is_readable_and_names_its_record(markdown: str) -> None:
    evidence = rows(section(markdown, "## Probe evidence"))
    by_seq = {row[0]: row for row in evidence}
    # The entry's own text was cut ("for dri…"): its subject has a column of its own.
    authoritative = by_seq["15"]
    assert authoritative[3] == md_cell("drill.example MX")
    assert authoritative[6] == md_cell(
        "10 mx1.primary.drill.example, 20 mx2.primary.drill.example (TTL 3 s)"
        " → 10 mx1.secondary.drill.example, 20 mx2.secondary.drill.example (TTL 3 s)"
    )
    resolver = by_seq["16"]
    assert resolver[4] == md_cell("drill-r2")
    assert resolver[6].startswith(md_cell("primary: 10 mx1.primary.drill.example"))
    for row in evidence:
        assert "\\{" not in row[6] and '\\"' not in row[6], row  # never escaped JSON


def test_the_appendix_holds_each_probe_entry_whole_in_a_long_enough_fence() -> None:
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    text = "````` ticks ``` and `"
    data = {"area": "dns", "subject": "x MX", "evidence": {"note": "```" + "`" * 6}}
    entries = [Entry(1, at, "cockpit", {}, "probe", text, data, 1)]
    markdown = render_markdown(entries, name="fence")
    (fence,) = [t for t in MarkdownIt("commonmark").parse(markdown) if t.info == "json"]
    assert json.loads(fence.content)["data"] == data
    assert json.loads(fence.content)["text"] == text
    assert "\n``````````json\n" in markdown  # 9 backticks inside: a fence of 10


def test_a_phase_set_with_at_uses_that_time_everywhere(tmp_path: Path) -> None:
    log_path = tmp_path / "at.jsonl"
    assert main(["log", str(log_path), "--phase", "impact", "--at", "2026-12-05T08:00:00Z"]) == 0
    assert main(["log", str(log_path), "--phase", "detected", "--at", "2026-12-05T08:05:00Z"]) == 0
    markdown = render_markdown(read_log(log_path).entries, name="at")
    metrics = {row[0]: row for row in rows(section(markdown, "## Metrics"))}
    assert metrics["Time to detect"][1] == "0:05:00"
    phases = {row[0]: row for row in rows(section(markdown, "## Phases"))}
    assert phases["detected"][1] == "2026-12-05 08:05:00 UTC"
    assert "impact to detected :impact, 2026-12-05 08:00:00, 2026-12-05 08:05:00" in markdown
    timeline = {row[5].split(" ")[0]: row for row in rows(section(markdown, "## Timeline"))}
    assert timeline["detected"][1:3] == ["2026-12-05 08:05:00 UTC", "T+0:05:00"]
    assert "Detected at 2026-12-05 08:05:00 UTC (T+0:05:00)" in markdown


def test_json_carries_the_same_review(review: dict[str, Any]) -> None:
    assert review["runbook_known"] is True
    (converge,) = review["convergence"]
    assert converge["last_resolver"] == "drill-r4" and converge["seconds"] == pytest.approx(
        3.275, abs=0.001
    )
    assert review["after_steps"]["open"] == 11 and review["after_steps"]["total"] == 12
    assert [a["owner"] for a in review["action_items"]] == ["carol", None]
    assert review["action_items"][0]["ticket"] == "OPS-412"
    assert [len(review["lessons"][k]) for k in ("well", "badly", "lucky", "other")] == [1] * 4
    assert review["causes"][0]["text"].startswith("Storage controller")
    assert review["impact"]["peak_queue"] == {
        "source": "secondary-mx",
        "region": "secondary",
        "messages": 2310,
    }
    groups = {(g["subject"], g["region"]): g for g in review["timeline_groups"]}
    assert [m["server"] for m in groups[("drill.example MX", "secondary")]["members"]] == [
        "drill-r2",
        "drill-r3",
        "drill-r1",
        "drill-r4",
    ]
    compared = {(c["subject"], c["where"]): c for c in review["comparison"]}
    r4 = compared[("drill.example MX", "drill-r4")]
    assert r4["first"]["value"].startswith("primary: ") and r4["last"]["value"].startswith(
        "secondary: "
    )
    assert review["phase_bases"]["detected"]["how"] == "probe"


def test_the_command_finds_the_runbook_beside_the_log_or_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "inc.jsonl"
    IncidentLog(log_path).append("note", "hello", {}, author="a")
    capsys.readouterr()
    assert main(["export", str(log_path)]) == 0
    assert "(without the runbook)" in capsys.readouterr().out
    config = tmp_path / "cockpit.toml"
    config.write_text(
        '[domain]\nname = "example.test"\n\n[[region]]\nname = "primary"\nmx = ["mx1.p.test"]\n'
        '\n[[region]]\nname = "secondary"\nmx = ["mx1.s.test"]\n',
        encoding="utf-8",
    )
    assert main(["export", str(log_path), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "(without the runbook)" not in out
    assert f"| {md_cell('freeze-changes')} | before |" in out  # a step nobody touched
    # The incident's own config beside its log counts, as for a drill.
    (tmp_path / "inc.jsonl.config.toml").write_text(config.read_text(), encoding="utf-8")
    assert main(["export", str(log_path)]) == 0
    assert "(without the runbook)" not in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[[regions]\n", encoding="utf-8")
    assert main(["export", str(log_path), "--config", str(bad)]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_an_entry_about_backdated_notes_and_probes_keeps_seq_order_for_equal_times() -> None:
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    entries = [
        Entry(1, at, "a", {}, "note", "first", {}, 1),
        Entry(
            2,
            at + timedelta(minutes=5),
            "a",
            {},
            "note",
            "backdated",
            {"at": "2026-12-05T09:00:00Z"},
            2,
        ),
        Entry(3, at + timedelta(minutes=6), "a", {}, "note", "last", {}, 3),
    ]
    timeline = rows(section(render_markdown(entries, name="o"), "## Timeline"))
    assert [row[0] for row in timeline] == ["1", "2", "3"]
    assert timeline[1][5] == "backdated (logged 09:05:00 UTC)"


def test_the_raw_review_reads_without_needless_backslashes(markdown: str) -> None:
    """Read raw in a terminal or a repository: times, names and hosts are not escaped."""
    for line in markdown.splitlines():
        if line.startswith("|") or line.startswith("- ") or line[:1].isalpha():
            assert not re.search(r"\\[.,:\-()]", line), line
    assert "2026-12-05 21:24:18 UTC" in markdown and "drill-r4" in markdown
