"""The review is written whatever another writer put in an entry's data: every top-level data
field of one entry of each kind and event of the drill's golden log, set in turn to JSON values
of another type, still exports (Markdown and JSON) without an exception. A crash there costs
the incident its post-incident review (`cockpit export` said "internal error" and wrote
nothing for one list in a probe entry's `event`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from cockpit.incident.entry import Entry
from cockpit.incident.export_json import render_json
from cockpit.incident.export_md import render_markdown
from cockpit.incident.log_read import read_log
from tests.conftest import PROJECT_ROOT

GOLDEN = PROJECT_ROOT / "tests" / "golden" / "review" / "drill.jsonl"
ODD_VALUES: tuple[Any, ...] = (None, [1], {"a": 1}, 1e308, True, "9999-99-99")


def _entries() -> list[Entry]:
    return list(read_log(GOLDEN).entries)


def _one_of_each(entries: list[Entry]) -> list[int]:
    """Indexes of the first entry of each (kind, data.event, data.area)."""
    seen: set[tuple[str, str, str]] = set()
    chosen = []
    for index, entry in enumerate(entries):
        signature = (entry.kind, str(entry.data.get("event")), str(entry.data.get("area")))
        if signature not in seen:
            seen.add(signature)
            chosen.append(index)
    return chosen


ENTRIES = _entries()
CASES = [(index, key) for index in _one_of_each(ENTRIES) for key in sorted(ENTRIES[index].data)]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60, len(CASES)


@pytest.mark.parametrize(("index", "key"), CASES, ids=[f"{i}-{k}" for i, k in CASES])
def test_an_odd_value_in_any_data_field_still_exports(index: int, key: str, tmp_path: Path) -> None:
    for value in ODD_VALUES:
        entries = list(ENTRIES)
        data = {**entries[index].data, key: value}
        entries[index] = dataclasses.replace(entries[index], data=data)
        markdown = render_markdown(entries, name="odd")
        assert markdown.startswith("#"), markdown[:80]
        json.loads(render_json(entries, name="odd"))
