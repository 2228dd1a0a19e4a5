"""The appendix lays each probe record out as JSON for reading: objects one member per line
down to three levels (the record, its data, the evidence), deeper values on one line, the
keys sorted, every value as json.dumps writes it. The fast layout is held to that here."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.compat import UTC
from cockpit.incident.entry import Entry
from cockpit.incident.export_json import entry_record, format_record_ts
from cockpit.incident.export_md import _record_text
from tests.json_values import json_values


def reference(value: Any, depth: int = 0) -> str:
    if not isinstance(value, dict) or not value or depth >= 3:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    inner = "  " * (depth + 1)
    members = [
        f"{inner}{json.dumps(str(key), ensure_ascii=False)}: {reference(value[key], depth + 1)}"
        for key in sorted(value, key=str)
    ]
    return "{\n" + ",\n".join(members) + "\n" + "  " * depth + "}"


_values = json_values(max_size=3, max_leaves=14)


@settings(max_examples=500, deadline=None)
@given(
    data=st.dictionaries(st.text(), _values, max_size=4),
    origin=st.dictionaries(st.text(), st.text(), max_size=3),
    text=st.text(),
    author=st.text(),
    seq=st.integers(min_value=1, max_value=10**20),
    micros=st.integers(min_value=0, max_value=10**15),
)
def test_the_fast_layout_is_the_reference_layout(
    data: dict[str, Any], origin: dict[str, str], text: str, author: str, seq: int, micros: int
) -> None:
    moment = datetime.fromtimestamp(micros / 1e6, UTC)
    entry = Entry(seq, moment, author, origin, "probe", text, data, line=seq + 1)
    assert _record_text(entry, format_record_ts) == reference(entry_record(entry))


def test_a_packed_or_read_only_mapping_is_laid_out_like_a_dict() -> None:
    from types import MappingProxyType

    data = {"evidence": {"before": {"answers": ["a"]}, "after": {}}, "status": "ok"}
    moment = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    entry = Entry(3, moment, "cockpit", MappingProxyType({"host": "h"}), "probe", "t", data)
    proxied = Entry(3, moment, "cockpit", {"host": "h"}, "probe", "t", MappingProxyType(data))
    assert _record_text(entry, format_record_ts) == reference(entry_record(entry))
    assert _record_text(proxied, format_record_ts) == reference(entry_record(entry))
