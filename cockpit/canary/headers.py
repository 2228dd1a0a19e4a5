"""The delivered message's header block, read as untrusted data, bounded. Pure; never raises.

    headers = read_headers(raw)          # at most MAX_HEADER_BLOCK bytes, MAX_HEADERS fields
    headers.all("received")              # unfolded values, newest (topmost) first
    headers.first("return-path")
    from_domain(headers)                 # the single From address's domain, or None
    shown(value, 120)                    # cleaned (cockpit.safe_text) and cut: safe in a summary

Headers come from whoever handled the message: any value may hold escape sequences, markup
such as "[bold red]", megabytes of text or bytes that are not UTF-8. Only the first
MAX_HEADER_BLOCK bytes of the message are analysed, each value at most MAX_VALUE_CHARS
characters; the stdlib parser (policy compat32, raw values) splits them and never raises on
garbage (a broken line ends the header block, as it would for a receiver).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from cockpit.safe_text import clean

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BLOCK",
    "MAX_VALUE_CHARS",
    "Headers",
    "address_domain",
    "from_domain",
    "read_headers",
    "shown",
    "single_address",
]

MAX_HEADER_BLOCK = 256 * 1024
MAX_HEADERS = 1000
MAX_VALUE_CHARS = 8192
"""Characters of one header value kept for analysis (a Received line is a few hundred)."""

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True, slots=True)
class Headers:
    """(lower-case name, unfolded value) pairs in message order (the newest trace on top)."""

    fields: tuple[tuple[str, str], ...]
    truncated: bool = False
    """The block was longer than MAX_HEADER_BLOCK bytes or MAX_HEADERS fields."""

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for field, value in self.fields if field == wanted]

    def first(self, name: str) -> str | None:
        found = self.all(name)
        return found[0] if found else None


def read_headers(raw: bytes) -> Headers:
    """The header block of `raw` (see the module docstring)."""
    head = raw[:MAX_HEADER_BLOCK]
    end = _END_OF_HEADERS.search(head)
    truncated = end is None and len(raw) > MAX_HEADER_BLOCK
    block = head[: end.start()] + b"\r\n\r\n" if end is not None else head
    try:
        message = BytesHeaderParser(policy=compat32).parsebytes(block)
        items = message.raw_items()
        fields: list[tuple[str, str]] = []
        for name, value in items:
            if len(fields) >= MAX_HEADERS:
                truncated = True
                break
            text = value if isinstance(value, str) else str(value)
            fields.append((str(name).strip().lower()[:100], _FOLD.sub("", text[:MAX_VALUE_CHARS])))
    except Exception:  # noqa: BLE001 - a header block the parser chokes on reads as empty
        return Headers((), truncated=True)
    return Headers(tuple(fields), truncated)


def single_address(value: str | None) -> str | None:
    """The single address in `value` ("Name <a@b.example>" -> "a@b.example", the domain
    lower-cased without a trailing dot); None for none, several, or a null "<>"."""
    if value is None:
        return None
    try:
        found = [address for _, address in getaddresses([value[:2000]]) if address]
    except Exception:  # noqa: BLE001 - hostile input that trips the stdlib parser
        return None
    if len(found) != 1 or "@" not in found[0]:
        return None
    local, _, domain = found[0].rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not local or not re.fullmatch(r"[a-z0-9._-]{1,253}", domain):
        return None
    return f"{local[:64]}@{domain}"


def address_domain(value: str | None) -> str | None:
    """The domain of the single address in `value` (see `single_address`), or None."""
    address = single_address(value)
    return None if address is None else address.rpartition("@")[2]


def from_domain(headers: Headers) -> str | None:
    """The From domain DMARC judges: None when there is not exactly one From with one address."""
    values = headers.all("from")
    return address_domain(values[0]) if len(values) == 1 else None


def shown(value: object, limit: int = 120) -> str:
    """`value` made safe to show (cleaned to one line) and cut to `limit` characters."""
    raw = value if isinstance(value, str) else str(value)
    text = clean(raw[: limit * 4])  # a megabyte header is cut before it is cleaned
    return text if len(text) <= limit else text[: limit - 3] + "..."
