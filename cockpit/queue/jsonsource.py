"""Read a queue depth from a JSON document, at a configured path.

The path is dotted; a part that is a whole number indexes a list: "queue.active",
"queues.0.depth". (A key that is itself a number, {"0": ...}, is found in an object too.)
The value must be a whole number of 0 or more: an integer, or a float such as 12.0. true/false,
strings ("12"), negative numbers, fractions and null are refused with a message naming the
path and what was found.

Other areas read other values at a path the same way: `number_at` (a finite number of 0 or
more, fractions allowed: a replication lag) and `string_at` (a region's role).
"""

from __future__ import annotations

import json
import math
from datetime import datetime

from cockpit.queue.postqueue import QueueParseError, shown
from cockpit.queue.sample import QueueSample
from cockpit.safe_text import clean

__all__ = [
    "describe_value",
    "find_value",
    "load_json",
    "number_at",
    "parse_json_depth",
    "split_path",
    "string_at",
]


def split_path(path: str) -> tuple[str, ...]:
    """ "queues.0.depth" -> ("queues", "0", "depth"). Raises `QueueParseError` on empty parts."""
    parts = tuple(path.split("."))
    if not path or any(part == "" for part in parts):
        raise QueueParseError(f"bad JSON path {shown(path)}: empty part")
    return parts


def describe_value(value: object) -> str:
    """What a JSON value is, for an error message: "null", "a list", "the string 'x'", "12"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {shown(value, 40)}"
    return shown(json.dumps(value), 40).strip("'")


def find_value(document: object, path: str) -> object:
    """The value at `path` in `document`. Raises `QueueParseError` naming where it stopped."""
    node = document
    walked: list[str] = []
    for part in split_path(path):
        where = ".".join(walked) or "the top"
        if isinstance(node, dict):
            if part not in node:
                raise QueueParseError(f"no key {shown(part, 40)} at {clean(where)} in the JSON")
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit():
                raise QueueParseError(
                    f"{clean(where)} is a list: expected an index, found {shown(part, 40)}"
                )
            index = int(part)
            if index >= len(node):
                raise QueueParseError(
                    f"no index {index} at {clean(where)} in the JSON (the list has {len(node)})"
                )
            node = node[index]
        else:
            raise QueueParseError(
                f"{clean(where)} is {describe_value(node)}: cannot look up {shown(part, 40)}"
            )
        walked.append(part)
    return node


def load_json(data: bytes) -> object:
    """The JSON document `data` holds. Raises `QueueParseError` quoting how it starts."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
        raise QueueParseError(f"not JSON: {clean(reason)} (starts {shown(data[:40])})") from None


def number_at(data: bytes, *, path: str) -> float:
    """The finite number of 0 or more at `path` in the JSON document `data` (fractions
    allowed). true/false, strings, null, NaN, infinities and negative numbers are refused.
    Raises `QueueParseError`."""
    value = find_value(load_json(data), path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueueParseError(f"{clean(path)} is {describe_value(value)}: expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        number = math.inf
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise QueueParseError(
            f"{clean(path)} is {describe_value(value)}: expected a finite number of 0 or more"
        )
    return number


def string_at(data: bytes, *, path: str) -> str:
    """The string at `path` in the JSON document `data`, as it is (the caller bounds and
    cleans it). Raises `QueueParseError` for anything else."""
    value = find_value(load_json(data), path)
    if not isinstance(value, str):
        raise QueueParseError(f"{clean(path)} is {describe_value(value)}: expected a string")
    return value


def parse_json_depth(data: bytes, *, path: str, now: datetime, source: str) -> QueueSample:
    """The depth at `path` in the JSON document `data`. Raises `QueueParseError`."""
    value = find_value(load_json(data), path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueueParseError(
            f"{clean(path)} is {describe_value(value)}: expected a whole number of 0 or more"
        )
    if isinstance(value, float) and not value.is_integer():
        raise QueueParseError(f"{clean(path)} is {value!r}: expected a whole number of 0 or more")
    if value < 0:
        raise QueueParseError(f"{clean(path)} is {value:g}: expected a whole number of 0 or more")
    return QueueSample(source=source, at=now, total=int(value))
