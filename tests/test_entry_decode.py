"""A log line's JSON is read by orjson where it can, and the result is always json's own."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.incident.entry import decode_record
from tests.json_values import json_values

_decode = json.JSONDecoder().decode


def judged(raw: bytes) -> tuple[str, Any]:
    """What json itself makes of `raw` (decoded as entry_from_line decodes it)."""
    try:
        return "value", _decode(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        return "error", type(exc)


def read(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", decode_record(raw, raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        return "error", type(exc)


def same(left: Any, right: Any) -> bool:
    """Equal as JSON text: 1, 1.0 and true differ, NaN equals NaN, key order counts."""
    return json.dumps(left) == json.dumps(right)


EDGES = [
    b'{"a":NaN}',
    b'{"a":-Infinity}',
    b'{"a":1E400}',
    b'{"a":123456789012345678901234567890}',
    b'{"a":18446744073709551616}',
    b'{"a":-9223372036854775809}',
    b'{"a":9223372036854775807}',
    b'{"a":"\\ud800"}',
    b'{"a":"\\udc00x"}',
    b'{"a":"\\ud83d\\ude00"}',
    b'{"\\ud83d\\ude00":1}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\xff"}',
    b'{"a":1,"a":2}',
    b'{"a":"x\x01y"}',
    b'{"a":"x\ty"}',
    b' \t{"a":1}\r ',
    b'{"a":1}\x00',
    b'{"a":1} x',
    b'{"a":01}',
    b'{"a":.5}',
    b'{"a":-0}',
    b'{"a":-0.0}',
    b'{"a":1.0e5}',
    b'{"a":"\\u0000"}',
    b"\xef\xbb\xbf{}",
    b"[" * 3000 + b"]" * 3000,
    b"[" * 1010 + b"]" * 1010,  # orjson reads 1,024 levels, json fewer
    b"[" * 255 + b"]" * 255,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"",
    b"null",
    b'"s"',
]


def test_edge_cases_read_as_json_reads_them() -> None:
    for raw in EDGES:
        mine, theirs = read(raw), judged(raw)
        assert mine[0] == theirs[0], (raw[:60], mine, theirs)
        if mine[0] == "value":
            assert same(mine[1], theirs[1]), (raw[:60], mine, theirs)


_values = json_values(max_size=4, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(value=_values, ascii_only=st.booleans())
def test_any_json_value_reads_as_json_reads_it(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    mine, theirs = read(raw), judged(raw)
    assert mine[0] == theirs[0], (raw[:80], mine, theirs)
    if mine[0] == "value":
        assert same(mine[1], theirs[1]), (raw[:80], mine, theirs)


@settings(max_examples=400, deadline=None)
@given(value=_values, cut=st.integers(min_value=0), byte=st.integers(0, 255))
def test_damaged_lines_are_judged_as_json_judges_them(value: Any, cut: int, byte: int) -> None:
    raw = json.dumps({"seq": 1, "data": value}).encode("utf-8", "surrogatepass")
    at = cut % (len(raw) + 1)
    damaged = raw[:at] + bytes([byte]) + raw[at + 1 :]
    mine, theirs = read(damaged), judged(damaged)
    assert mine[0] == theirs[0], (damaged[:80], mine, theirs)
    if mine[0] == "value":
        assert same(mine[1], theirs[1]), (damaged[:80], mine, theirs)


# --- fast_entry: the common line read quickly, the same Entry as entry_from_line ------------

_GOOD = {
    "seq": 7,
    "ts": "2026-11-27T14:02:03.456Z",
    "author": "alice",
    "origin": {"host": "ops1", "tty": "/dev/pts/3"},
    "kind": "note",
    "text": "queue at 4,000",
    "data": {"tags": ["lesson"]},
}
_FIELD_VALUES = {
    "seq": st.sampled_from([7, 0, -1, True, 7.0, "7", 2**70, None]),
    "ts": st.sampled_from(
        [
            "2026-11-27T14:02:03.456Z",
            "2026-11-27T14:02:03.456z",
            "2026-11-27T14:02:03+00:00",
            "2026-11-27T14:02:03.4567Z",
            "2026-11-27 14:02:03.456Z",
            "2026-13-27T14:02:03.456Z",
            "2026-11-27T14:02:03.45Z ",
            "2026-11-27T16:02:03.456+02:00",
            "x" * 24,
            12,
            None,
        ]
    ),
    "author": st.sampled_from(["alice", "", 3, None, ["a"]]),
    "origin": st.sampled_from(
        [{"host": "ops1"}, {}, {"host": 1}, {"host": ["x"]}, "ops1", 5, None, {"a": {"b": "c"}}]
    ),
    "kind": st.sampled_from(["note", "probe", "vote", "", 1, ["note"], {"k": 1}]),
    "text": st.sampled_from(["t", "", 1, None, "\ud800"]),
    "data": st.sampled_from([{}, {"a": 1}, [], "d", None, {"n": 2**65}, {"x": float("nan")}]),
}


def _slow(raw: bytes) -> Any:
    from cockpit.incident.entry import entry_from_line

    entry, problems = entry_from_line(raw, 3)
    return entry, problems


@settings(max_examples=600, deadline=None)
@given(
    changes=st.fixed_dictionaries({}, optional=_FIELD_VALUES),
    dropped=st.sets(st.sampled_from(sorted(_GOOD))),
    ascii_only=st.booleans(),
)
def test_fast_entry_reads_what_entry_from_line_reads(
    changes: dict[str, Any], dropped: set[str], ascii_only: bool
) -> None:
    from cockpit.incident.entry import fast_entry

    record = {**_GOOD, **changes}
    for key in dropped:
        record.pop(key, None)
    raw = json.dumps(record, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    names: dict[str, str] = {}
    origins: dict[Any, Any] = {}
    fast = fast_entry(raw, 3, names, origins)
    entry, problems = _slow(raw)
    if fast is not None:
        assert problems == [] and fast == entry, (raw, fast, entry, problems)
    assert fast_entry(json.dumps(_GOOD).encode(), 3, {}, {}) is not None


def test_fast_entry_shares_equal_names_and_origins() -> None:
    from cockpit.incident.entry import fast_entry

    names: dict[str, str] = {}
    origins: dict[Any, Any] = {}
    first = fast_entry(json.dumps(_GOOD).encode(), 1, names, origins)
    second = fast_entry(json.dumps({**_GOOD, "seq": 8}).encode(), 2, names, origins)
    assert first is not None and second is not None
    assert second.origin is first.origin and second.author is first.author
    assert second.kind is first.kind and second.line == 2


def test_fast_entry_leaves_damage_to_entry_from_line() -> None:
    from cockpit.incident.entry import fast_entry

    good = json.dumps(_GOOD).encode()
    for raw in [good[:-1], b"[1]", b"{}", good.replace(b"alice", b"\xff"), *EDGES]:
        assert fast_entry(raw, 1, {}, {}) is None, raw[:60]
