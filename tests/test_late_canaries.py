"""The review lists canary messages that arrived after their runs gave up: from the log entries
a cockpit writes for `late` findings (made here by the canary's own code, logged by
finding_changes), in the Markdown metrics and the JSON; once per message; malformed ones
skipped."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from cockpit.canary.findings import run_findings
from cockpit.canary.run import RunRecord
from cockpit.canary.sweep import Late, Sweep
from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.incident.entry import Entry
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.incident.finding_changes import finding_changes
from cockpit.incident.late_canaries import late_canaries
from tests.test_canary_config import INBOUND, REGIONS

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CANARY = load_config_text(REGIONS + INBOUND + "timeout = 60\n").canaries[0]
TOKENS = [f"eu-in-{n:020x}" for n in range(1, 9)]


def late_entries(first_seq: int, tokens: list[str], *, late_s: float = 360) -> list[Entry]:
    """A run that swept these tokens, and the log entries its findings make."""
    record = RunRecord(CANARY, T0, region="primary", token="eu-in-" + "f" * 20, stage="done")
    sent = T0 - timedelta(minutes=30)
    arrived = sent + timedelta(seconds=late_s)
    record.swept = Sweep(late=[Late(token, "INBOX", sent, arrived, True) for token in tokens])
    findings = run_findings(record, None)
    changes = finding_changes("canary", findings[:1], findings)
    return [
        Entry(first_seq + n, T0, "cockpit", {}, "probe", change.text, change.data)
        for n, change in enumerate(changes)
    ]


def test_each_late_message_is_listed_once_with_its_times() -> None:
    entries = late_entries(1, TOKENS[:2]) + late_entries(3, TOKENS[:1])  # seen again later
    late = late_canaries(entries)
    assert [item.token for item in late] == TOKENS[:2]
    assert [item.seq for item in late] == [1, 2]
    first = late[0]
    assert first.canary == "eu-in" and first.late_s == 360.0 and first.timeout_s == 60.0
    assert first.sent_at == T0 - timedelta(minutes=30)
    assert first.arrived_at == T0 - timedelta(minutes=24)

    markdown = render_markdown(entries, name="inc")
    (row,) = [
        line for line in markdown.splitlines() if "| Canary messages that arrived late" in line
    ]
    assert "| 2 (up to 0:06:00) |" in row
    assert (
        "eu-in sent 2026-12-06 08:30:00 UTC, reached the server 08:36:00 UTC, 0:06:00 after"
        " sending (seq 1)"
    ) in row
    document = json.loads(render_json(entries, name="inc"))
    assert [item["token"] for item in document["late_canaries"]] == TOKENS[:2]
    assert document["late_canaries"][0] == {
        "canary": "eu-in",
        "token": TOKENS[0],
        "sent_at": "2026-12-06T08:30:00.000Z",
        "arrived_at": "2026-12-06T08:36:00.000Z",
        "late_seconds": 360.0,
        "timeout_seconds": 60.0,
        "seq": 1,
    }


def test_many_are_counted_and_the_first_five_named() -> None:
    markdown = render_markdown(late_entries(1, TOKENS), name="inc")
    (row,) = [line for line in markdown.splitlines() if "arrived late |" in line]
    assert "| 8 (up to 0:06:00) |" in row and row.count(" after sending (seq ") == 5
    assert "; and 3 more |" in row


def test_without_late_messages_nothing_is_said() -> None:
    entries = late_entries(1, [])
    assert late_canaries(entries) == []
    assert "arrived late" not in render_markdown(entries, name="inc")
    assert "late_canaries" not in json.loads(render_json(entries, name="inc"))


def _broken(data: dict[str, Any]) -> Entry:
    evidence = {"check": "late", "subject": TOKENS[0], "data": data}
    return Entry(1, T0, "cockpit", {}, "probe", "late", {"area": "canary", "evidence": evidence})


def test_an_entry_that_cannot_be_read_is_skipped_never_guessed() -> None:
    good = late_entries(1, TOKENS[:1])[0].data["evidence"]["data"]
    assert late_canaries([_broken(dict(good))]) != []
    for key, value in [
        ("sent_at", "yesterday"),
        ("arrived_at", None),
        ("late_s", "360"),
        ("late_s", True),
        ("token", 7),
        ("canary", None),
    ]:
        assert late_canaries([_broken({**good, key: value})]) == [], key
    assert late_canaries([_broken(None)]) == []  # type: ignore[arg-type]
    other_area = late_entries(1, TOKENS[:1])[0]
    other_area.data["area"] = "service"
    assert late_canaries([other_area]) == []
