"""Probe entry texts of bounded length that never cut a name: the evidence gives way.

A probe entry's text names its subject (a resolver, a record, a check, a queue source) and
then says what was seen (the evidence: answers, a summary, a reason). When the whole is longer
than TEXT_CHARS, the evidence is shortened, at a word boundary where one is near, and marked
with "…"; the names stay whole.

    fit("primary smtp mx1 now fail (was ok): ", summary)        # head kept, summary shortened
    fit_around("Quad9 now answers x, y, ... for example.com MX", ["Quad9", "example.com MX"])

Pure: no textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from cockpit.safe_text import clean

__all__ = ["TEXT_CHARS", "cut_words", "fit", "fit_around"]

TEXT_CHARS = 300
"""The longest entry text, in characters (a name longer than that is the one exception)."""
_WORD_BACKTRACK = 40
"""How far back from the cut a word boundary is looked for."""
_JOINT_CHARS = 8
"""The longest word (with its spaces) kept before a name as the evidence is shortened."""


def cut_words(text: str, room: int) -> str:
    """`text` in at most `room` characters: cut at a word boundary when one is near the end,
    else mid-word, with "…" marking the cut. Unchanged when it fits."""
    if len(text) <= room:
        return text
    if room <= 1:
        return "…"[:room]
    cut = text[: room - 1]
    space = cut.rfind(" ")
    if space > 0 and room - 1 - space <= _WORD_BACKTRACK:
        cut = cut[:space].rstrip(" ,;:(")
    return cut + "…"


def fit(head: str, evidence: str = "", tail: str = "", limit: int = TEXT_CHARS) -> str:
    """head + evidence + tail, cleaned; when longer than `limit` only the evidence is
    shortened. A head and tail that leave no room keep themselves whole and drop the evidence."""
    head, evidence, tail = clean(head), clean(evidence), clean(tail)
    room = limit - len(head) - len(tail)
    if len(evidence) <= room:
        return head + evidence + tail
    if room >= 2:
        return head + cut_words(evidence, room) + tail
    return head + ("…" if evidence else "") + tail


def fit_around(text: str, names: Iterable[str | None], limit: int = TEXT_CHARS) -> str:
    """`text` cleaned, at most `limit` characters, with every name in `names` that it holds
    kept whole: the longest stretch between names (the evidence) is what gets shortened.
    A text that holds none of the names is cut at its end, at a word boundary."""
    line = clean(text)
    if len(line) <= limit:
        return line
    spans: list[tuple[int, int]] = []
    for name in names:
        cleaned = clean(name or "")
        if not cleaned:
            continue
        at = line.find(cleaned) if line.startswith(cleaned) else line.rfind(cleaned)
        if at >= 0:
            spans.append((at, at + len(cleaned)))
    spans.sort()
    gaps: list[tuple[int, int]] = []
    start = 0
    for begin, end in spans:
        if begin > start:
            gaps.append((start, begin))
        start = max(start, end)
    gaps.append((start, len(line)))
    begin, end = max(gaps, key=lambda gap: gap[1] - gap[0])
    evidence, joint = line[begin:end], ""
    if end < len(line):
        # The word that leads into the next name stays with it: "… for example.com MX".
        last_space = evidence.rstrip().rfind(" ")
        if last_space >= 0 and len(evidence) - last_space <= _JOINT_CHARS:
            evidence, joint = evidence[:last_space], evidence[last_space:]
    shortened = fit(line[:begin], evidence, joint + line[end:], limit)
    return shortened if len(shortened) <= limit or spans else cut_words(line, limit)
