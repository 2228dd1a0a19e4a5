"""Authentication-Results headers (RFC 8601), read only from receivers the config trusts. Pure.

    auth_results(headers, trusted=("mx.outside.test",))
    -> [{"authserv_id": "mx.outside.test", "trusted": True,
         "results": [{"method": "dkim", "result": "pass", "reason": None,
                      "props": {"header.d": "example.test"}}, ...]},
        {"authserv_id": "forged.example", "trusted": False, "note": "ignored (not trusted)"}]

Anyone on the path can add such a header, so only a header whose authserv-id is listed in
`trusted_authserv_ids` is read past its id (RFC 8601 section 5: a receiver trusts only its
own); the others are listed by id only. The parser is tolerant and bounded: comments (which
may nest) are dropped, ";" inside quoted strings is kept, and at most MAX_HEADERS headers,
MAX_RESULTS results per header and MAX_PROPS properties per result are kept, each value
cleaned and cut to MAX_VALUE characters. Garbage gives fewer results, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cockpit.canary.headers import Headers, shown

__all__ = ["MAX_HEADERS", "auth_results", "parse_auth_results"]

MAX_HEADERS = 10
MAX_RESULTS = 16
MAX_PROPS = 8
MAX_VALUE = 120
_SCANNED = 4096
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s"]+')


def _without_comments(text: str) -> str:
    """`text` with (comments) removed, quoted strings kept as they are."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in text:
        if quoted:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
            quoted = char == '"'
    return "".join(out)


def _split(text: str) -> list[str]:
    """Parts between ";" outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _result(part: str) -> dict[str, Any] | None:
    tokens = _joined_values(_TOKEN.findall(part))
    if not tokens or "=" not in tokens[0]:
        return None
    method, _, result = tokens[0].partition("=")
    entry: dict[str, Any] = {
        "method": shown(method.split("/")[0].lower(), MAX_VALUE),
        "result": shown(_unquote(result).lower(), MAX_VALUE),
        "reason": None,
        "props": {},
    }
    for token in tokens[1:]:
        name, sep, value = token.partition("=")
        if not sep:
            continue
        if name.lower() == "reason":
            entry["reason"] = shown(_unquote(value), MAX_VALUE)
        elif "." in name and len(entry["props"]) < MAX_PROPS:
            entry["props"][shown(name.lower(), 40)] = shown(_unquote(value), MAX_VALUE)
    return entry


def _joined_values(tokens: Iterable[str]) -> list[str]:
    """`reason = "x"` written with spaces around "=" becomes one token again."""
    joined: list[str] = []
    for token in tokens:
        if joined and (token.startswith("=") or joined[-1].endswith("=")):
            joined[-1] += token
        else:
            joined.append(token)
    return joined


def parse_auth_results(value: str) -> tuple[str, list[dict[str, Any]]]:
    """(authserv-id lower-cased, results) of one header value; ("", []) for garbage."""
    parts = _split(_without_comments(value[:_SCANNED]))
    head = _TOKEN.findall(parts[0])
    if not head:
        return "", []
    authserv_id = _unquote(head[0]).lower()
    results: list[dict[str, Any]] = []
    for part in parts[1:]:
        if part.strip().lower() == "none":
            continue
        entry = _result(part)
        if entry is not None:
            results.append(entry)
            if len(results) >= MAX_RESULTS:
                break
    return authserv_id, results


def auth_results(headers: Headers, trusted: Iterable[str]) -> list[dict[str, Any]]:
    """Every Authentication-Results header (newest first, at most MAX_HEADERS) as data; only
    the trusted ones with their results (see the module docstring)."""
    trusted_ids = {item.lower() for item in trusted}
    found: list[dict[str, Any]] = []
    for value in headers.all("authentication-results")[:MAX_HEADERS]:
        authserv_id, results = parse_auth_results(value)
        shown_id = shown(authserv_id or "?", MAX_VALUE)
        if authserv_id and authserv_id in trusted_ids:
            found.append({"authserv_id": shown_id, "trusted": True, "results": results})
        else:
            found.append(
                {"authserv_id": shown_id, "trusted": False, "note": "ignored (not trusted)"}
            )
    return found
