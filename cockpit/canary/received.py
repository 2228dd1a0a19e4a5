"""Received headers (RFC 5321 4.4) as hops: who handed the message to whom. Pure; never raises.

    hops = received_hops(headers)       # newest first, at most MAX_HOPS
    hop.from_name, hop.helo, hop.ip, hop.by

Every MTA writes its own shape, so the parser reads only what the common ones agree on:

    Postfix    from helo.name (rdns.name [192.0.2.1]) by mx.example (Postfix) with ESMTPS id X
               from helo.name (unknown [192.0.2.1]) ...; from [127.0.0.1] (localhost [127.0.0.1])
    Exim       from rdns.name ([192.0.2.1] helo=helo.name) by mx.example with esmtps (TLS1.3) ...
    Sendmail   from helo.name (rdns.name [192.0.2.1] (may be forged)) by mx.example (8.17/8.17)
    Exchange   from EX01.corp.example (10.0.0.1) by EX02.corp.example (10.0.0.2) with Microsoft SMTP
    Gmail      from mail-f41.google.com (mail-f41.google.com. [209.85.220.41]) by mx.google.com
               by 2002:a05:6a10:a8c9:b0:3f1::1 with SMTP id ...
    qmail      from unknown (HELO helo.name) (192.0.2.1) by mx.example with SMTP
    IPv6       from helo.name (rdns.name [IPv6:2001:db8::1]) by ...

The clauses `from`, `by`, `via`, `with`, `id` and `for` are found at the top level (outside
parenthesised comments, which may nest); the date after the last top-level ";" is ignored.
`from_name` is the first word after `from` (the HELO name for Postfix and Sendmail, the
reverse-DNS name for Exim); `helo` is Exim's `helo=` or qmail's `(HELO x)` when written, else
`from_name`; `ip` is the first address literal in the from clause's comments ("[192.0.2.1]",
"[IPv6:...]", or a bare address in parentheses), or `from_name` itself when that is a literal.
A header that names no sender, address or receiver is no hop. Values are bounded (MAX_NAME
characters).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from cockpit.canary.headers import Headers, shown

__all__ = ["MAX_HOPS", "Hop", "parse_received", "received_hops"]

MAX_HOPS = 30
MAX_NAME = 255
MAX_SCANNED = 4096
"""Characters of one Received value scanned: enough for any real one."""
_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})
_HELO_EQUALS = re.compile(r"\bhelo=([^\s()\[\];,]+)", re.IGNORECASE)
_HELO_WORD = re.compile(r"\bhelo\s+([^\s()\[\];,=]+)", re.IGNORECASE)
_LITERAL = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]{2,45})\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Hop:
    """One Received header: the sending side as the receiver recorded it, and the receiver."""

    from_name: str | None = None
    helo: str | None = None
    ip: str | None = None
    """A normalised IP address, or None when the receiver recorded none."""
    by: str | None = None

    def to_data(self) -> dict[str, Any]:
        """{"from", "ip", "by"}: each value cleaned and at most 120 characters."""
        return {
            "from": None if self.from_name is None else shown(self.from_name, 120),
            "ip": self.ip,
            "by": None if self.by is None else shown(self.by, 120),
        }

    def describe(self) -> str:
        """ "name [ip]" of the sending side, for a summary (cleaned)."""
        name = shown(self.from_name or "?", 80)
        return f"{name} [{self.ip}]" if self.ip and self.ip not in name else name


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


def _scan(text: str) -> list[tuple[bool, str]]:
    """(is_comment, text) items up to the first top-level ';'. Comments keep nested ones."""
    items: list[tuple[bool, str]] = []
    index, length = 0, len(text)
    word: list[str] = []
    while index < length:
        char = text[index]
        if char == "(":
            if word:
                items.append((False, "".join(word)))
                word = []
            depth, start = 0, index
            while index < length:
                if text[index] == "(":
                    depth += 1
                elif text[index] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                index += 1
            items.append((True, text[start + 1 : index][:MAX_SCANNED]))
        elif char == ";":
            break
        elif char.isspace():
            if word:
                items.append((False, "".join(word)))
                word = []
        else:
            word.append(char)
        index += 1
    if word:
        items.append((False, "".join(word)))
    return items


def _name(word: str | None) -> str | None:
    if word is None:
        return None
    name = word.strip().rstrip(".").lower()[:MAX_NAME]
    return name or None


def parse_received(value: str) -> Hop | None:
    """One Received value as a Hop, or None when it names neither a sender nor a receiver."""
    clauses: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for is_comment, item in _scan(value[:MAX_SCANNED]):
        if is_comment:
            if current is not None:
                clauses[current][1].append(item)
            continue
        lowered = item.lower()
        open_clause = current is not None and not clauses[current][0]
        if lowered in _KEYWORDS and lowered not in clauses and not open_clause:
            current = lowered
            clauses[current] = ([], [])
        elif current is not None and not clauses[current][0]:
            clauses[current][0].append(item)
    if "from" not in clauses and "by" not in clauses:
        return None
    from_words, comments = clauses.get("from", ([], []))
    from_name = _name(from_words[0]) if from_words else None
    by_words = clauses.get("by", ([], []))[0]
    by = _name(by_words[0]) if by_words else None
    text = " ".join(comments)
    helo_match = _HELO_EQUALS.search(text) or _HELO_WORD.search(text)
    helo = _name(helo_match.group(1)) if helo_match else from_name
    ip = next((found for match in _LITERAL.finditer(text) if (found := _ip(match.group(1)))), None)
    if ip is None:
        bare = (_ip(word.strip(",;")) for word in text.replace("(", " ").replace(")", " ").split())
        ip = next((found for found in bare if found is not None), None)
    if ip is None and from_name is not None and from_name.startswith("["):
        ip = _ip(from_name.removeprefix("[ipv6:"))
    if from_name is None and ip is None and by is None:
        return None
    return Hop(from_name=from_name, helo=helo, ip=ip, by=by)


def received_hops(headers: Headers) -> list[Hop]:
    """The message's hops, newest (topmost Received) first, at most MAX_HOPS."""
    hops: list[Hop] = []
    for value in headers.all("received")[: 2 * MAX_HOPS]:
        hop = parse_received(value)
        if hop is not None:
            hops.append(hop)
            if len(hops) >= MAX_HOPS:
                break
    return hops
