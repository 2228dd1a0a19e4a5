"""The small, composable readers the schema is built from.

A reader takes a value straight from `tomllib`, the key path it sits at, and the `Context`; it
returns the checked, converted value, or `INVALID` after recording why in `ctx.problems`. Readers
never raise for bad input, so one pass over a document reports every problem in it.

A table is described by a tuple of `Key`s, so adding a key to the schema is one line.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cockpit.config.report import (
    KeyPath,
    Problems,
    describe,
    format_path,
    quoted,
    show_int,
    show_key,
)
from cockpit.config.values import BadValue, has_control_chars, parse_label_name, parse_plain_text


class Invalid:
    """The type of `INVALID`; there is one instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID = Invalid()
"""Returned by a reader for a value that broke a rule (the problem is already recorded)."""

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Context:
    """What every reader may need besides the value."""

    problems: Problems
    base_dir: Path | None
    """Relative paths in the file are taken relative to this (None: leave them relative)."""

    def problem(self, at: KeyPath, message: str) -> Invalid:
        """Record a problem and return `INVALID`, so a reader can `return ctx.problem(...)`."""
        self.problems.add(at, message)
        return INVALID


Reader = Callable[[object, KeyPath, Context], object]
"""(value, key path, context) -> checked value or INVALID."""

Builder = Callable[[dict[str, object], KeyPath, Context], object]
"""(checked fields of one table, its key path, context) -> an object or INVALID."""


@dataclass(frozen=True)
class Key:
    """One key of a table in the schema."""

    name: str
    read: Reader
    default: object = None
    """Value used when the key is absent (already in its final form)."""
    raw_default: object = _NO_DEFAULT
    """When set, used instead of `default`: fed through `read` as if the file held it."""
    required: str | None = None
    """When set the key must be present; the text says what it holds, for the message."""


def any_invalid(fields: Mapping[str, object] | Sequence[object]) -> bool:
    """True when any checked value (of a table's fields or of a list) is INVALID."""
    values = fields.values() if isinstance(fields, Mapping) else fields
    return any(value is INVALID for value in values)


def _unknown_key_message(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1) if len(name) <= 100 else []
    if close:
        return f"unknown key {show_key(name)} (did you mean {show_key(close[0])}?)"
    return f"unknown key {show_key(name)}; the keys allowed here are: {', '.join(valid)}"


def read_fields(
    value: object, at: KeyPath, keys: Sequence[Key], ctx: Context, *, expected: str = "a table"
) -> dict[str, object] | Invalid:
    """Check a table against `keys`: unknown keys, missing required keys, then each value."""
    if not isinstance(value, dict):
        return ctx.problem(at, f"expected {expected}, found {describe(value)}")
    valid = [key.name for key in keys]
    for name in value:
        if name not in valid:
            ctx.problem((*at, name), _unknown_key_message(str(name), valid))
    fields: dict[str, object] = {}
    for key in keys:
        where = (*at, key.name)
        if key.name in value:
            fields[key.name] = key.read(value[key.name], where, ctx)
        elif key.required is not None:
            fields[key.name] = ctx.problem(
                where, f"missing required key {show_key(key.name)}: expected {key.required}"
            )
        elif key.raw_default is not _NO_DEFAULT:
            fields[key.name] = key.read(key.raw_default, where, ctx)
        else:
            fields[key.name] = key.default
    return fields


def table(keys: Sequence[Key], build: Builder, *, expected: str = "a table") -> Reader:
    """A reader for one table described by `keys`, turned into an object by `build`."""

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        fields = read_fields(value, at, keys, ctx, expected=expected)
        if isinstance(fields, Invalid):
            return INVALID
        return build(fields, at, ctx)

    return read


def array_of_tables(keys: Sequence[Key], build: Builder, *, header: str) -> Reader:
    """A reader for `[[header]]`: a list of tables, each read like `table(keys, build)`."""
    one = table(keys, build, expected=f"a [[{header}]] table")

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if isinstance(value, dict):
            return ctx.problem(
                at,
                f"expected an array of tables ([[{header}]]), found a single table: "
                f"write [[{header}]] (double brackets) for each entry",
            )
        if not isinstance(value, list):
            return ctx.problem(
                at, f"expected an array of tables ([[{header}]]), found {describe(value)}"
            )
        items = [one(item, (*at, index), ctx) for index, item in enumerate(value)]
        return INVALID if any_invalid(items) else tuple(items)

    return read


def text(parse: Callable[[str], object], expected: str, *, empty_is_none: bool = False) -> Reader:
    """A reader for a string checked (and normalised) by `parse`."""

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if not isinstance(value, str):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}")
        if empty_is_none and value == "":
            return None
        try:
            return parse(value)
        except BadValue as error:
            return ctx.problem(at, f"expected {expected}, found {describe(value)}: {error}")

    return read


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A `text` parser accepting exactly one of `choices`, with a "did you mean" otherwise."""

    def parse(value: str) -> str:
        if value in choices:
            return value
        close = difflib.get_close_matches(value, choices, n=1) if len(value) < 50 else []
        hint = f" (did you mean {quoted(close[0])}?)" if close else ""
        raise BadValue(f"not one of {', '.join(choices)}{hint}")

    return parse


def boolean(expected: str) -> Reader:
    """A reader for true or false (never a string or a number standing for one)."""

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if not isinstance(value, bool):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}")
        return value

    return read


def number(
    expected: str,
    *,
    minimum: float,
    maximum: float | None,
    above_minimum: bool = False,
    integer: bool = False,
) -> Reader:
    """A reader for a number in a range: never a boolean, never NaN or infinite.

    `integer` refuses floats and returns an int; otherwise the result is a float.
    `maximum` None means no upper bound.
    `above_minimum` makes the lower bound exclusive.
    """
    low = _show_bound(minimum)
    if maximum is None:
        rule = f"above {low}" if above_minimum else f"{low} or more"
    else:
        high = _show_bound(maximum)
        rule = f"above {low} and at most {high}" if above_minimum else f"from {low} to {high}"

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if isinstance(value, bool):
            return ctx.problem(
                at, f"expected {expected}, found {describe(value)} (a boolean is not a number)"
            )
        if integer and isinstance(value, float):
            return ctx.problem(at, f"expected {expected} (a whole number), found {describe(value)}")
        if not isinstance(value, int | float):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}: not finite")
        too_low = value <= minimum if above_minimum else value < minimum
        if too_low or (maximum is not None and value > maximum):
            shown = show_int(value) if isinstance(value, int) else repr(value)
            return ctx.problem(at, f"expected {expected}, {rule}, found {shown}")
        return int(value) if integer else float(value)

    return read


def _show_bound(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def optional(reader: Reader) -> Reader:
    """`reader`, but an explicit empty string means "not set" (None)."""

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if value == "" and isinstance(value, str):
            return None
        return reader(value, at, ctx)

    return read


def list_of(
    item: Reader,
    expected: str,
    *,
    non_empty: bool = False,
    unique: bool = False,
    string_hint: str | None = None,
) -> Reader:
    """A reader for a list whose every element `item` accepts; the result is a tuple.

    `expected` names the list ("a list of hostnames"). `string_hint` replaces the usual message
    when a single string was given instead of a list.
    """

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if isinstance(value, str) and string_hint is not None:
            return ctx.problem(at, f"expected {string_hint}, found {describe(value)}")
        if not isinstance(value, list):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}")
        if non_empty and not value:
            return ctx.problem(at, f"expected {expected} with at least one entry, found none")
        items = [item(element, (*at, index), ctx) for index, element in enumerate(value)]
        if unique:
            first_seen: dict[object, int] = {}
            for index, checked in enumerate(items):
                if checked is INVALID:
                    continue
                if checked in first_seen:
                    also = format_path((*at, first_seen[checked]))
                    ctx.problem((*at, index), f"listed twice (also {also})")
                    items[index] = INVALID
                else:
                    first_seen[checked] = index
        return INVALID if any_invalid(items) else tuple(items)

    return read


def mapping_of(
    parse_key: Callable[[str], str], key_expected: str, value: Reader, expected: str
) -> Reader:
    """A reader for a table of free keys (checked by `parse_key`) to values `value` accepts."""

    def read(found: object, at: KeyPath, ctx: Context) -> object:
        if not isinstance(found, dict):
            return ctx.problem(at, f"expected {expected}, found {describe(found)}")
        result: dict[str, object] = {}
        ok = True
        for name, element in found.items():
            where = (*at, name)
            try:
                checked_name = parse_key(name)
            except BadValue as error:
                ctx.problem(
                    where, f"expected {key_expected} as the key, found {describe(name)}: {error}"
                )
                ok = False
                continue
            checked = value(element, where, ctx)
            if checked is INVALID:
                ok = False
            elif checked_name in result:
                ctx.problem(where, f"the key {show_key(checked_name)} is given twice")
                ok = False
            else:
                result[checked_name] = checked
        return MappingProxyType(result) if ok else INVALID

    return read


def path(expected: str) -> Reader:
    """A reader for a file or directory path, taken relative to the config file's directory."""

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if not isinstance(value, str):
            return ctx.problem(at, f"expected {expected}, found {describe(value)}")
        if value == "":
            return ctx.problem(at, f"expected {expected}, found an empty string")
        if has_control_chars(value):
            return ctx.problem(
                at, f"expected {expected}, found {describe(value)}: control characters in a path"
            )
        result = Path(value)
        if value.startswith("~"):
            try:
                result = result.expanduser()
            except RuntimeError:
                return ctx.problem(
                    at, f"expected {expected}, found {describe(value)}: cannot expand '~' here"
                )
        if not result.is_absolute() and ctx.base_dir is not None:
            result = ctx.base_dir / result
        return result

    return read


def argv(expected_example: str) -> Reader:
    """A reader for a command: a non-empty list of non-empty strings, run without a shell."""
    wanted = f"an argv list such as {expected_example}, never a shell string"

    def read(value: object, at: KeyPath, ctx: Context) -> object:
        if not isinstance(value, list):
            return ctx.problem(at, f"expected {wanted}, found {describe(value)}")
        if not value:
            return ctx.problem(at, f"expected {wanted}, found an empty list")
        ok = True
        for index, element in enumerate(value):
            where = (*at, index)
            if not isinstance(element, str):
                ctx.problem(where, f"expected a string, found {describe(element)}")
            elif element == "":
                ctx.problem(where, "expected a non-empty argument, found an empty string")
            elif has_control_chars(element):
                ctx.problem(where, f"control characters in a command argument: {describe(element)}")
            else:
                continue
            ok = False
        if not ok:
            return INVALID
        return tuple(str(element) for element in value)

    return read


PROMETHEUS_LABELS: Reader = mapping_of(
    parse_label_name,
    "a Prometheus label name",
    text(parse_plain_text, "a label value"),
    "a table of label names to values",
)
"""Label matchers for a Prometheus query or exposition (queue, replication and role sources,
prometheus vantages): `{ queue = "deferred" }`."""
