"""The canary message: a small text/plain message carrying a unique token. Pure.

    token = new_token("eu-in")                    # "eu-in-3f9c0d...": name, then 20 hex digits
    raw = canary_message(canary, token, region="secondary", now=now)   # bytes, CRLF, ASCII

The token is in the `X-Cockpit-Canary` header (what IMAP searches for) and in the Subject.
The message has what receivers expect of real mail (Date, Message-ID in the sender's domain,
From, To, MIME headers) and `Auto-Submitted: auto-generated` (RFC 3834) so that no vacation
responder answers it. Nothing in it is secret; the body says what it is.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from email.utils import format_datetime

from cockpit.config.model import Canary

__all__ = ["TOKEN_HEADER", "canary_message", "new_token", "token_of", "token_shape"]

TOKEN_HEADER = "X-Cockpit-Canary"
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}-[0-9a-f]{20}")
_RANDOM = re.compile(r"[0-9a-f]{20}")


def new_token(name: str) -> str:
    """A token no other run will ever use: the canary's name, then 20 random hex digits."""
    return f"{name}-{uuid.uuid4().hex[:20]}"


def token_of(name: str, token: str) -> bool:
    """Whether `token` is one `new_token(name)` makes ("eu-in-x-..." is canary eu-in-x's, not
    eu-in's)."""
    prefix = f"{name}-"
    return token.startswith(prefix) and _RANDOM.fullmatch(token[len(prefix) :]) is not None


def token_shape(token: str) -> bool:
    """Whether `token` looks like one `new_token` makes (safe to put in an IMAP command)."""
    return _TOKEN.fullmatch(token) is not None


def canary_message(canary: Canary, token: str, *, region: str, now: datetime) -> bytes:
    """The message for one run (see the module docstring); `now` is an aware datetime."""
    domain = canary.from_address.rpartition("@")[2]
    lines = [
        f"Date: {format_datetime(now)}",
        f"Message-ID: <{token}.{uuid.uuid4().hex[:12]}@{domain}>",
        f"From: cockpit canary <{canary.from_address}>",
        f"To: <{canary.to_address}>",
        f"Subject: cockpit canary {token}",
        f"{TOKEN_HEADER}: {token}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
        "",
        f"A delivery test sent by the cockpit (canary {canary.name}, {canary.direction},",
        f"region {region}). It is looked for by its {TOKEN_HEADER} header and deleted",
        "once found. Nothing to do.",
        "",
    ]
    return "\r\n".join(lines).encode("ascii", "replace")
