"""Did the log file lose entries a screen had shown? (after it was replaced, cut or removed)

A screen that followed a log holds the entries it read. When the follower starts over (the file
was replaced by another one, truncated, or removed and maybe put back), the screen compares the
file as it is now with what it holds: entry by entry from the first, the same seq, time,
author, kind and text. What the file still holds from the start is fine; from the first entry
that differs or is missing on, the entries the screen showed are lost from the file.

A screen still opening a big log has shown only some of its entries (the last ones, and those
that make the state: cockpit.incident.log_glance); `missing_from` checks those, wherever they
are in the file, for a log replaced, cut or removed while it was being opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cockpit.incident.entry import Entry

__all__ = ["Loss", "common_prefix", "loss_of", "loss_among", "missing_from", "same_entry", "union"]


def same_entry(kept: Entry, now: Entry) -> bool:
    """The same entry (line numbers may differ: a damaged line may have gone)."""
    return (
        kept.seq == now.seq
        and kept.ts == now.ts
        and kept.kind == now.kind
        and kept.author == now.author
        and kept.text == now.text
    )


def common_prefix(kept: Sequence[Entry], now: Sequence[Entry]) -> int:
    """How many entries, from the first, `now` holds exactly as `kept` has them."""
    for index, (before, after) in enumerate(zip(kept, now, strict=False)):
        if not same_entry(before, after):
            return index
    return min(len(kept), len(now))


@dataclass(frozen=True, slots=True)
class Loss:
    """Entries a screen showed that the log file no longer holds."""

    first_seq: int
    last_seq: int
    count: int

    def describe(self) -> str:
        if self.count == 1:
            return f"entry #{self.first_seq}"
        return f"entries #{self.first_seq}..#{self.last_seq} ({self.count:,} entries)"


def loss_of(kept: Sequence[Entry], common: int) -> Loss | None:
    """The entries of `kept` after the first `common`, or None when there are none."""
    if common >= len(kept):
        return None
    return Loss(kept[common].seq, kept[-1].seq, len(kept) - common)


def union(*groups: Sequence[Entry]) -> list[Entry]:
    """The entries of `groups` (each some of one log's entries), each once, in seq order."""
    by_seq: dict[int, list[Entry]] = {}
    for group in groups:
        for entry in group:
            same_seq = by_seq.get(entry.seq)
            if same_seq is None:
                by_seq[entry.seq] = [entry]
            elif not any(same_entry(entry, other) for other in same_seq):
                same_seq.append(entry)
    return [entry for seq in sorted(by_seq) for entry in by_seq[seq]]


def missing_from(shown: Sequence[Entry], now: Sequence[Entry]) -> tuple[list[Entry], int]:
    """The entries of `shown` (some of a log's entries, gaps allowed: see `union`) that `now`
    does not hold, in the order of `shown`; and the position in `now` just after the last
    one it does hold (0 when it holds none).

    An entry is looked for first where a log keeps it (seq N on line N); only when it is not
    there is `now` indexed by seq (damaged lines, seq gaps, another file)."""
    size = len(now)
    missing: list[Entry] = []
    reach = 0
    by_seq: dict[int, list[int]] | None = None
    for entry in shown:
        position = entry.seq - 1
        if not (0 <= position < size and same_entry(entry, now[position])):
            if by_seq is None:
                wanted = {item.seq for item in shown}
                by_seq = {}
                for index, item in enumerate(now):
                    if item.seq in wanted:
                        by_seq.setdefault(item.seq, []).append(index)
            candidates = by_seq.get(entry.seq, ())
            position = next((i for i in candidates if same_entry(entry, now[i])), -1)
        if position < 0:
            missing.append(entry)
        elif position >= reach:
            reach = position + 1
    return missing, reach


def loss_among(missing: Sequence[Entry]) -> Loss | None:
    """The Loss naming `missing` (from missing_from), or None when nothing is missing."""
    if not missing:
        return None
    return Loss(missing[0].seq, missing[-1].seq, len(missing))
