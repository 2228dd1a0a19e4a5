"""What one read of a queue source gives: a sample, or the reason there is none.

A failed read is a `Reading` with `sample=None` and an `error`: it is never a sample of 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

QUEUE_NAMES: tuple[str, ...] = ("active", "deferred", "hold", "incoming", "maildrop")
"""Postfix's queues; other sources fill what they know (exim: "frozen" is kept apart)."""


@dataclass(frozen=True, slots=True)
class DeferralReason:
    reason: str
    """Grouped, e.g. "connection refused to relay 127.0.0.1:2525", "TLS handshake failed"."""
    count: int


@dataclass(frozen=True, slots=True)
class DestinationDomain:
    domain: str
    count: int
    oldest_age_s: float | None


@dataclass(frozen=True, slots=True)
class QueueSample:
    source: str
    """The QueueSource's name."""
    at: datetime
    """When the read finished (UTC, aware)."""
    total: int
    by_queue: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Counts per queue name where the source tells (empty when it only gives a total)."""
    oldest_age_s: float | None = None
    """Age of the oldest message in seconds; None when the source does not tell."""
    age_error: str | None = None
    """Why this read has no ages although its source gives them (exim's detail_command failed):
    the count is known, the oldest message's age is not."""
    size_bytes: int | None = None
    frozen: int | None = None
    """exim: frozen messages; None when not known."""
    deferral_reasons: tuple[DeferralReason, ...] = ()
    """Top deferral reasons, most frequent first."""
    top_domains: tuple[DestinationDomain, ...] = ()
    """Top destination domains, most messages first (as qshape shows)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """The outcome of one read: a sample, or why there is none."""

    source: str
    at: datetime
    sample: QueueSample | None
    error: str | None = None
    """One line a commander understands: "timed out after 10 s (killed)", "exit 255: ssh:
    connect to host mx1 port 22: Connection refused", "output is not postqueue -j JSON (line 3)"."""
    elapsed_s: float = 0.0
