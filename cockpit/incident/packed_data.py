"""Probe entries' data kept small in memory, for readers that hold a whole log for hours.

A 100,000-entry log is mostly `probe` entries whose `data` carries evidence (nested objects
up to 2 KB of JSON). Parsed into dicts and lists, that evidence takes four to five times its
JSON size, and every entry's dict repeats the same dozen keys. A screen needs the evidence of
almost none of them, yet it must keep every entry whole (a recovery file is written from them
when the log file is lost). So `DataPacker.pack` keeps a probe entry's data as:

- a layout shared by every entry with the same keys in the same order (keys are stored once);
- a tuple of the values: strings shared with equal values of other entries (per key, until a
  key turns out to hold values that hardly repeat, like an id or a time);
- each nested value (object or list) as its compact JSON text, decoded again only when
  someone reads it. The text is encoded from the value as Entry.to_json_line encodes it, not
  cut from the line: a slice found by the member's name could be another member of that name
  nested elsewhere whose value only compares equal (`[1]` == `[1.0]` == `[true]`), and the
  entry would then no longer be written back, or exported, as it was.

`PackedData` is a read-only Mapping: `data.get("evidence")`, `data["status"]`, `dict(data)`,
`Entry.to_json_line()` all see the same values as before (a nested value comes back as a new
dict or list each time it is read, so no reader can change what another one sees).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["DataPacker", "PackedData"]

SHARED_VALUES_PER_KEY = 4096
"""Distinct string values remembered per key; a key with more (ids, times) stops sharing."""
SHARED_STRING_CHARS = 200
"""Longer strings are kept as they are: they rarely repeat."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""As Entry.to_json_line encodes (json.dumps with these options): decoding gives the value
back exactly, and encoding that again gives the same text."""


class _Layout:
    """The keys of a packed mapping, in order, and which of them hold JSON text."""

    __slots__ = ("index", "keys", "raw")

    def __init__(self, keys: tuple[str, ...], raw: frozenset[int]) -> None:
        self.keys = keys
        self.index = {key: position for position, key in enumerate(keys)}
        self.raw = raw


class PackedData(Mapping[str, Any]):
    """A read-only mapping made by DataPacker.pack (see the module docstring)."""

    __slots__ = ("_layout", "_values")

    def __init__(self, layout: _Layout, values: tuple[Any, ...]) -> None:
        self._layout = layout
        self._values = values

    def _value(self, position: int) -> Any:
        value = self._values[position]
        return json.loads(value) if position in self._layout.raw else value

    def __getitem__(self, key: str) -> Any:
        position = self._layout.index[key]
        return self._value(position)

    def get(self, key: str, default: Any = None) -> Any:
        position = self._layout.index.get(key)
        return default if position is None else self._value(position)

    def __contains__(self, key: object) -> bool:
        return key in self._layout.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.keys)

    def __len__(self) -> int:
        return len(self._layout.keys)

    def __repr__(self) -> str:
        return f"PackedData({dict(self)!r})"


class DataPacker:
    """Packs the data of the entries of one log as they are read (one packer per reader)."""

    __slots__ = ("_layouts", "_strings")

    def __init__(self) -> None:
        self._layouts: dict[tuple[tuple[str, ...], frozenset[int]], _Layout] = {}
        self._strings: dict[str, dict[str, str] | None] = {}
        """Key -> its values seen so far (shared); None once the key's values hardly repeat."""

    def share(self, key: str, value: str) -> str:
        """`value`, or an equal string seen before under `key` (see the module docstring)."""
        if len(value) > SHARED_STRING_CHARS:
            return value
        strings = self._strings
        seen = strings.get(key, _NEW)
        if seen is _NEW:
            seen = strings[key] = {}
        if seen is None:
            return value
        shared = seen.setdefault(value, value)
        if len(seen) > SHARED_VALUES_PER_KEY:
            strings[key] = None  # ids, times: remembering them costs memory
        return shared

    def pack(self, line_text: str, data: dict[str, Any]) -> Mapping[str, Any]:
        """`data` (decoded from `line_text`, the entry's whole line) packed. `line_text` is
        not used (see the module docstring); the signature is entry.DataPack's."""
        del line_text
        keys = tuple(data)
        values = list(data.values())
        raw: list[int] = []
        for position, (key, value) in enumerate(zip(keys, values, strict=True)):
            kind = type(value)
            if kind is str:
                values[position] = self.share(key, value)
            elif kind is dict or kind is list:
                values[position] = _encode(value)
                raw.append(position)
        shape = (keys, frozenset(raw))
        layout = self._layouts.get(shape)
        if layout is None:
            layout = self._layouts[shape] = _Layout(*shape)
        return PackedData(layout, tuple(values))


_NEW: dict[str, str] = {}
"""Marks a key not seen yet (None marks one whose values are no longer shared)."""
