"""One incident-log entry, its JSON line form, and timestamps.

A log file is JSON Lines: one object per line, in seq order:

    {"seq": 7, "ts": "2026-11-27T14:02:03.456Z", "author": "alice",
     "origin": {"host": "ops1", "tty": "/dev/pts/3", "ssh_client": "10.1.2.3"},
     "kind": "decision", "text": "Fail over to secondary", "data": {"why": "...", ...}}

Data conventions shared by writers and the export:
- phase:      data.phase (one of PHASES), data.at (RFC 3339, when it happened)
- correction: data.phase, data.at (the new time), data.previous_at, data.corrects_seq
- decision:   data.why, data.approver (optional), data.target_region (optional, a failover),
              data.previous_region (optional: the region that was active before)
- any kind:   data.tags (list of str; "lesson" feeds the lessons section, "key" marks a key
              entry, starred), data.at (when the noted thing happened, if not at ts)
- system:     data.event (e.g. "torn_line_recovered" with data.line and data.bytes)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cockpit.compat import UTC, fromisoformat

KINDS: tuple[str, ...] = ("note", "decision", "phase", "check", "probe", "system", "correction")
"""Entry kinds this version writes. Readers keep entries of other kinds, with a warning."""

PHASES: tuple[str, ...] = (
    "impact",
    "detected",
    "declared",
    "routed",
    "restored",
    "verified",
    "closed",
)
"""Incident phases in their natural order."""

LESSON_TAG = "lesson"
KEY_TAG = "key"
"""A key (starred) entry: `cockpit log --star`, or the note form's "key entry" box."""
CAUSE_TAG = "cause"
"""The trigger or root cause (the review's "Trigger and root cause")."""
FACTOR_TAG = "factor"
"""A contributing factor."""
IMPACT_TAG = "impact"
"""What the outage did to users (users affected, volume): the review's "Impact"."""
ACTION_TAG = "action"
"""An action item; its data holds {"action": {"owner", "due" (YYYY-MM-DD), "ticket"}}, each
optional. `cockpit log --action` and the screen's action form write it."""
WENT_TAGS: dict[str, str] = {"well": "went-well", "badly": "went-badly", "lucky": "lucky"}
"""A lesson's review heading: what went well, what went badly, where we got lucky. Entries
with one of these tags carry LESSON_TAG too."""
TORN_LINE_EVENT = "torn_line_recovered"

MAX_ENTRY_BYTES = 256 * 1024
"""The largest line a writer appends (the JSON line, UTF-8, newline included)."""
MAX_LINE_BYTES = 4 * 1024 * 1024
"""The largest line a reader parses; longer lines are reported and not parsed."""
MAX_TEXT_BYTES = MAX_ENTRY_BYTES - 4 * 1024
"""The most text (as the line holds it: UTF-8, JSON-escaped) a form lets through for one
entry; the line's other members take the rest. Text past it stays in the form (`text_too_long`)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One accepted entry of an incident log."""

    seq: int
    ts: datetime
    """When the entry was written, UTC (aware)."""
    author: str
    origin: Mapping[str, str]
    kind: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0
    """1-based line number in the file it was read from (0 when not read from a file)."""

    def to_json_line(self) -> bytes:
        """The exact bytes appended to the file, newline included."""
        record = {
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "author": self.author,
            "origin": dict(self.origin),
            "kind": self.kind,
            "text": self.text,
            "data": dict(self.data),
        }
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            return line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (a string read from a line that held one as an escape) has no
            # UTF-8 form: it is written as its JSON escape, so the file stays valid UTF-8 and
            # reads back as the same string.
            return _LONE_SURROGATE.sub(_json_escape, line).encode("utf-8")

    @property
    def tags(self) -> tuple[str, ...]:
        raw = self.data.get("tags")
        if isinstance(raw, list):
            return tuple(t for t in raw if isinstance(t, str))
        return ()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def invalid_utf8(text: str) -> str | None:
    """The first thing in `text` that has no UTF-8 form, in words ("byte 0xe9 at character 4"),
    or None when it is all UTF-8. Python keeps the bytes of a command-line argument that are
    not UTF-8 (a Latin-1 terminal, a pasted byte) as lone surrogates U+DC80-U+DCFF."""
    found = _LONE_SURROGATE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
    return f"{what} at character {found.start() + 1}"


def text_too_long(text: str) -> str | None:
    """Why `text` cannot be one entry's text (it would make the line longer than the log
    takes), in words for a form; None when it fits MAX_TEXT_BYTES."""
    if len(text) * 6 <= MAX_TEXT_BYTES:
        return None  # even if every character took an escape of six bytes
    size = len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2
    if size <= MAX_TEXT_BYTES:
        return None
    return (
        f"Too long for one log entry: {size:,} bytes, and an entry takes at most"
        f" {MAX_TEXT_BYTES:,}. Shorten it or split it into several entries (Escape cancels)"
    )


Severity = Literal["warning", "error"]


@dataclass(frozen=True, slots=True)
class LogProblem:
    """Something a reader noticed in a log file. Never silently dropped."""

    severity: Severity
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{self.severity}: {where}{self.message}"


def format_ts(moment: datetime) -> str:
    """RFC 3339, UTC, milliseconds, `Z`: 2026-11-27T14:02:03.456Z."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset (or `Z`) into an aware UTC datetime.

    Raises ValueError for anything else, including times without an offset.
    """
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("not an RFC 3339 time")
    if len(text) == 24 and text[10] == "T" and text[23] == "Z":
        # The form this program writes (2026-11-27T14:02:03.456Z): the fast, common case.
        moment = fromisoformat(text)
        if moment.tzinfo is UTC:
            return moment
        if moment.utcoffset() == _ZERO:
            return moment.replace(tzinfo=UTC)
    candidate = text.strip()
    if candidate[-1:] in ("z", "Z"):
        candidate = candidate[:-1] + "+00:00"
    candidate = candidate.replace(" ", "T", 1) if "T" not in candidate.upper() else candidate
    moment = fromisoformat(candidate)
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 time needs an offset such as Z or +02:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


_ZERO = timedelta(0)


def data_time(data: Mapping[str, Any] | Any, key: str) -> datetime | None:
    """data[key] as a UTC time when it is a valid RFC 3339 string, else None."""
    raw = data.get(key) if hasattr(data, "get") else None
    if not isinstance(raw, str):
        return None
    try:
        return parse_ts(raw)
    except ValueError:
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


_decode_json = json.JSONDecoder().decode
try:
    from orjson import JSONDecodeError as _FastDecodeError
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json alone gives the same
    _fast_loads = None
_SHAPE = bytes(
    0x30 if 0x30 <= code <= 0x39 else 0x5B if code in (0x5B, 0x7B) else 0x20 for code in range(256)
)
"""Every digit to "0", "[" and "{" to "[", all else to " ": what decode_record looks for."""
_LONG_NUMBER = b"0" * 19
"""orjson reads an integer past 64 bits as a float: a line with a run of 19 digits (in a
number, or just in a string) is left to json. (Found with one translate in C: a regex takes
seven times as long.)"""
_FAST_NESTING = 256
"""orjson reads 1,024 levels deep, json as deep as the stack allows (under 1,000): a line
with this many brackets (however nested) is left to json."""


def decode_record(raw: bytes, text: str) -> Any:
    """The JSON value of one log line, exactly as json.loads(text) gives it (or its error).

    orjson reads the line about 2.5 times faster; whatever it refuses (NaN, lone surrogates,
    invalid UTF-8, deep nesting), json reads or refuses itself, saying why. `text` is `raw`
    decoded from UTF-8 (with U+FFFD for invalid bytes).
    """
    value = _fast_decode(raw)
    return _decode_json(text) if value is _NOT_FAST else value


_NOT_FAST = object()


def _fast_decode(raw: bytes) -> Any:
    """orjson's value of `raw` where orjson reads it exactly as json would, else _NOT_FAST
    (orjson missing, a run of 19 digits, deep brackets, or anything orjson refuses)."""
    if _fast_loads is None:  # pragma: no cover - orjson is a dependency
        return _NOT_FAST
    shape = raw.translate(_SHAPE)
    if _LONG_NUMBER in shape or (len(raw) >= _FAST_NESTING and shape.count(b"[") >= _FAST_NESTING):
        return _NOT_FAST
    try:
        return _fast_loads(raw)
    except _FastDecodeError:
        return _NOT_FAST


DataPack = Callable[[str, dict[str, Any]], Mapping[str, Any]]
"""Makes a probe entry's data compact in memory from (the decoded line, its data dict)."""


def entry_from_line(
    raw: bytes, line_no: int, *, pack_probe_data: DataPack | None = None
) -> tuple[Entry | None, list[LogProblem]]:
    """Parse one line (without its newline) into an Entry.

    Returns (entry, problems). A line that is not a valid entry gives (None, [error]).
    Invalid UTF-8 and unknown kinds are warnings: the entry is still returned.
    `pack_probe_data` (cockpit.incident.packed_data) keeps a `probe` entry's data compact.
    """
    problems: list[LogProblem] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        problems.append(LogProblem("warning", "invalid UTF-8 bytes, shown as U+FFFD", line_no))
    try:
        record = decode_record(raw, text)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "too deeply nested"
        problems.append(LogProblem("error", f"damaged line, not JSON ({reason})", line_no))
        return None, problems
    if not isinstance(record, dict):
        problems.append(LogProblem("error", "damaged line: not a JSON object", line_no))
        return None, problems
    shape_error = _shape_error(record)
    if shape_error:
        problems.append(LogProblem("error", f"damaged line: {shape_error}", line_no))
        return None, problems
    try:
        ts = parse_ts(record["ts"])
    except ValueError:
        problems.append(
            LogProblem(
                "error",
                f"damaged line: 'ts' is not an RFC 3339 time: {record['ts']!r:.60}",
                line_no,
            )
        )
        return None, problems
    origin = _origin(record.get("origin"))
    kind = record["kind"]
    if kind not in KINDS:
        problems.append(
            LogProblem(
                "warning",
                f"unknown kind {kind!r:.40} (written by a newer cockpit?): kept as it is",
                line_no,
            )
        )
    data = record["data"]
    if pack_probe_data is not None and kind == "probe" and data:
        data = pack_probe_data(text, data)
    entry = Entry(
        seq=record["seq"],
        ts=ts,
        author=record["author"],
        origin=origin,
        kind=kind,
        text=record["text"],
        data=data,
        line=line_no,
    )
    return entry, problems


_KIND_SET = frozenset(KINDS)
Origins = dict[tuple[tuple[str, Any], ...], Mapping[str, str]]


def fast_entry(raw: bytes, line_no: int, names: dict[str, str], origins: Origins) -> Entry | None:
    """The Entry of a line as this version writes it, about twice as fast as entry_from_line,
    with its author, kind and origin shared through `names` and `origins` (one object for
    equal values, as a long log repeats them); None for any other line, which entry_from_line
    then reads and reports (a differential test holds the two to the same entries).

    The line must be JSON orjson reads as json would, an object whose seq, ts, author, kind,
    text and data have the right types, with a known kind, a ts in the form format_ts writes
    and an origin that is an object of strings or missing.
    """
    record = _fast_decode(raw)
    if type(record) is not dict:
        return None
    get = record.get
    seq, ts, author, kind, text, data = (
        get("seq"),
        get("ts"),
        get("author"),
        get("kind"),
        get("text"),
        get("data"),
    )
    if (
        type(seq) is not int
        or seq < 1
        or type(ts) is not str
        or len(ts) != 24
        or ts[10] != "T"
        or ts[23] != "Z"
        or type(author) is not str
        or type(kind) is not str
        or kind not in _KIND_SET
        or type(text) is not str
        or type(data) is not dict
    ):
        return None
    try:
        moment = fromisoformat(ts)
    except ValueError:
        return None
    if moment.tzinfo is not UTC:
        return None
    origin = get("origin")
    key = () if origin is None else tuple(origin.items()) if type(origin) is dict else None
    if key is None:
        return None
    try:
        shared = origins.get(key)
    except TypeError:  # a list or an object among its values
        return None
    if shared is None:
        if not all(type(value) is str for _, value in key):
            return None
        shared = origins[key] = {} if origin is None else origin
    return Entry(
        seq,
        moment,
        names.setdefault(author, author),
        shared,
        names.setdefault(kind, kind),
        text,
        data,
        line_no,
    )


def _origin(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        if all(type(value) is str for value in raw.values()):
            return raw
        return {str(k): str(v) for k, v in raw.items() if isinstance(v, str | int | float)}
    if isinstance(raw, str):
        return {"host": raw}
    return {}


def _shape_error(record: dict[str, Any]) -> str:
    seq = record.get("seq")
    if type(seq) is not int or seq < 1:  # bool is an int subclass: type() keeps it out
        return "'seq' must be a positive integer"
    for key in ("ts", "author", "kind", "text"):
        if type(record.get(key)) is not str:
            return f"{key!r} must be a string"
    data = record.setdefault("data", {})
    if type(data) is not dict:
        return "'data' must be an object"
    return ""
