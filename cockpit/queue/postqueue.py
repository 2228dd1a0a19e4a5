"""Parse `postqueue -j` output, and the grouping every listing parser shares.

`postqueue -j` prints one JSON object per message:

    {"queue_name": "deferred", "queue_id": "4Qx7Zh0Sxyz1", "arrival_time": 1764275000,
     "message_size": 2345, "forced_expire": false, "sender": "a@example.com",
     "recipients": [{"address": "b@example.net",
                     "delay_reason": "connect to mx.example.net[203.0.113.5]:25: ..."}]}

What `parse_postqueue_json` makes of it:

- counts per queue (every name in `QUEUE_NAMES` is present, 0 included: postqueue lists every
  queue, so a 0 there is observed, not assumed); a queue name outside `QUEUE_NAMES` still counts
  in the total and gets its own key;
- a message listed twice while the queue moves (same `queue_id`) counts once: its first listing;
- the oldest message's age (from `arrival_time`; a clock a little ahead gives 0, never < 0);
- the total size (`message_size`);
- the top 5 deferral reasons, grouped by `group_reason` (a message counts once per group);
- the top 10 destination domains with the age of their oldest message, as qshape shows them
  (a message counts once per domain).

Empty output is an empty queue. A few lines that are not message objects are skipped and
counted (`PostqueueResult.skipped_lines`); when they are at least half of the non-blank lines
the output is refused: "output is not postqueue -j JSON (line N: ...)".

Exceptions: `QueueParseError(ValueError)`, raised by every parser in `cockpit.queue` with a
one-line message that is already safe to show.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from cockpit.queue.sample import QUEUE_NAMES, DeferralReason, DestinationDomain, QueueSample
from cockpit.safe_text import clean

__all__ = [
    "TOP_DOMAINS",
    "TOP_REASONS",
    "PostqueueResult",
    "QueueParseError",
    "QueueTally",
    "group_reason",
    "parse_postqueue_json",
    "parse_postqueue_lines",
    "shown",
]

TOP_REASONS = 5
TOP_DOMAINS = 10
_MAX_REASON_LEN = 100


class QueueParseError(ValueError):
    """Output that is not what the source kind prints; the message is one safe line."""


def shown(text: str | bytes, limit: int = 80) -> str:
    """Untrusted output as a short, safe quotation for an error message."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = clean(text.strip()).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return repr(text)


# ---- deferral reasons ---------------------------------------------------------------------------

_PREFIXES = re.compile(r"^(?:delivery temporarily suspended:\s*|\s+)", re.IGNORECASE)
# "connect to mx.example.net[203.0.113.5]:25: Connection refused"
_CONNECT = re.compile(
    r"^connect to (?P<host>[^\s\[\]:]+)(?:\[(?P<ip>[^\]]*)\])?(?::(?P<port>\d+))?:\s*(?P<what>.+)$",
    re.IGNORECASE,
)
# "host mx.example.net[203.0.113.5] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)"
_SAID = re.compile(
    r"^host (?P<host>[^\s\[\]]+)(?:\[[^\]]*\])?(?::\d+)? said:\s*(?P<what>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LOST = re.compile(
    r"^(?P<verb>lost connection|conversation) with (?P<host>[^\s\[\]]+)(?:\[[^\]]*\])?(?::\d+)?"
    r"\s*(?P<what>.*)$",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"(?:Host or domain name not found|Name service error for name=(?P<name>[^\s]+)|"
    r"Host not found)",
    re.IGNORECASE,
)
_NAME_IN_ERROR = re.compile(r"name=(?P<name>[^\s]+)", re.IGNORECASE)
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_CODE = re.compile(r"^\s*([245]\d\d)[\s-]")
_BRACKETED_IP = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_VARYING = re.compile(
    # queue ids, message ids, long numbers and hex: they differ per message, not per cause
    r"(?:\b(?:id|queued as|ref|session)[=: ]+\S+|<[^>]*>|\b[0-9A-Fa-f]{8,}\b|\b\d{4,}\b)",
    re.IGNORECASE,
)
_IN_REPLY = re.compile(r"\s*\(in reply to [^)]*\)\s*$", re.IGNORECASE)


def _host_port(host: str, ip: str | None, port: str | None) -> str:
    name = host if host and host != "unknown" else (ip or host)
    return f"{name}:{port}" if port else name


def _classify_said(host: str, what: str) -> str:
    text = _IN_REPLY.sub("", what)
    low = text.lower()
    enhanced = _ENHANCED.search(text)
    if "greylist" in low or "graylist" in low:
        return f"greylisted by {host}"
    if "4.2.2" in low or "mailbox full" in low or "over quota" in low or "quota exceeded" in low:
        return f"mailbox full / 4.2.2 at {host}"
    if "tls" in low and ("required" in low or "must issue a starttls" in low):
        return f"TLS required by {host}"
    if "rate" in low and "limit" in low or "too many" in low:
        return f"rate limited by {host}"
    code = _SMTP_CODE.match(text)
    parts = [
        p for p in (code.group(1) if code else None, enhanced.group(1) if enhanced else None) if p
    ]
    head = " ".join(parts) if parts else "reply"
    return f"{head} from {host}"


def _group_reason_uncached(raw: str) -> str:
    text = _PREFIXES.sub("", raw.strip()).strip()
    low = text.lower()
    if not text:
        return "no reason given"
    connect = _CONNECT.match(text)
    if connect:
        where = _host_port(connect["host"], connect["ip"], connect["port"])
        what = connect["what"].strip().lower().rstrip(".")
        if "refused" in what:
            return f"connection refused to relay {where}"
        if "timed out" in what:
            return f"connection timed out to relay {where}"
        if "no route" in what:
            return f"no route to relay {where}"
        if "unreachable" in what:
            return f"network unreachable to relay {where}"
        return f"cannot connect to relay {where}: {_VARYING.sub('…', what)}"
    if "tls" in low and ("handshake" in low or "cannot start tls" in low):
        return "TLS handshake failed"
    if "tls is required" in low:
        return "TLS required but not offered"
    if _NOT_FOUND.search(text):
        name = _NAME_IN_ERROR.search(text)
        return f"host not found: {name['name'].lower()}" if name else "host not found"
    said = _SAID.match(text)
    if said:
        return _classify_said(said["host"].lower(), said["what"])
    lost = _LOST.match(text)
    if lost:
        host = lost["host"].lower()
        what = lost["what"].lower()
        if "timed out" in what or lost["verb"].lower() == "conversation":
            return f"conversation timed out with {host}"
        return f"lost connection with {host}"
    if "mailbox full" in low or "4.2.2" in low:
        return "mailbox full / 4.2.2"
    if "greylist" in low:
        return "greylisted"
    text = _BRACKETED_IP.sub("", text)
    text = _VARYING.sub("…", text)
    return text.rstrip(".")


def group_reason(raw: str) -> str:
    """The group of a Postfix delay reason: queue ids, message ids, bracketed addresses and
    numbers that vary are dropped; the remote host is kept. The result is safe to show.

    "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"
        -> "connection refused to relay 127.0.0.1:2525"
    "host mx.example.net[203.0.113.5] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)"
        -> "mailbox full / 4.2.2 at mx.example.net"
    """
    return _group_key(_MEMO_KEY.sub("", raw))


# What never changes a group: bracketed addresses and <mail addresses>. Reasons that differ
# only there share one memo entry, so a parse runs the classifier once per distinct cause.
_MEMO_KEY = re.compile(r"\[[^\]]*\]|<[^>]*>")


def _group_key(key: str) -> str:
    grouped = clean(_group_reason_uncached(key))
    if len(grouped) > _MAX_REASON_LEN:
        grouped = grouped[: _MAX_REASON_LEN - 1] + "\u2026"
    return grouped


def _domain_of(domain_part: str) -> str:
    """The domain of an address's part after its last "@" ("" when it has none)."""
    domain = domain_part.strip().rstrip(".").lower()
    return clean(domain)[:100] if domain else "(local)"


# ---- the tally every listing parser fills ------------------------------------------------------


class QueueTally:
    """Counts built one message at a time, then turned into a `QueueSample`."""

    __slots__ = (
        "by_queue",
        "total",
        "size",
        "oldest_arrival",
        "reasons",
        "domains",
        "domain_oldest",
        "_domain_memo",
        "_reason_memo",
    )

    def __init__(self, queue_names: tuple[str, ...] = QUEUE_NAMES) -> None:
        self.by_queue: dict[str, int] = dict.fromkeys(queue_names, 0)
        self.total = 0
        self.size = 0
        self.oldest_arrival: float | None = None
        self.reasons: dict[str, int] = {}
        self.domains: dict[str, int] = {}
        self.domain_oldest: dict[str, float] = {}
        # Per tally, so they are as big as one listing's distinct values and die with it.
        self._domain_memo: dict[str, str] = {}
        self._reason_memo: dict[str, str] = {}

    def add(
        self,
        queue: str | None,
        arrival: float | None,
        size: int | None,
        recipients: list[tuple[str, str | None]],
    ) -> None:
        """One message: its queue, arrival (epoch seconds), size, and (address, reason) pairs.

        A message counts once per destination domain and once per reason group."""
        self.total += 1
        if queue is not None:
            self.by_queue[queue] = self.by_queue.get(queue, 0) + 1
        if size is not None:
            self.size += size
        if arrival is not None and (self.oldest_arrival is None or arrival < self.oldest_arrival):
            self.oldest_arrival = arrival
        domain_memo = self._domain_memo
        reason_memo = self._reason_memo
        domains: set[str] = set()
        reasons: set[str] = set()
        for address, reason in recipients:
            _, at, raw_domain = address.rpartition("@")
            if not at:
                raw_domain = ""
            domain = domain_memo.get(raw_domain)
            if domain is None:
                domain = domain_memo[raw_domain] = _domain_of(raw_domain)
            domains.add(domain)
            if reason:
                key = _MEMO_KEY.sub("", reason) if ("[" in reason or "<" in reason) else reason
                grouped = reason_memo.get(key)
                if grouped is None:
                    grouped = reason_memo[key] = _group_key(key)
                reasons.add(grouped)
        counted_reasons = self.reasons
        for grouped in reasons:
            counted_reasons[grouped] = counted_reasons.get(grouped, 0) + 1
        counted_domains = self.domains
        oldest = self.domain_oldest
        for domain in domains:
            counted_domains[domain] = counted_domains.get(domain, 0) + 1
            if arrival is not None:
                known = oldest.get(domain)
                if known is None or arrival < known:
                    oldest[domain] = arrival

    def sample(
        self,
        *,
        source: str,
        now: datetime,
        total: int | None = None,
        size: int | None = None,
        with_by_queue: bool = True,
        frozen: int | None = None,
    ) -> QueueSample:
        now_s = now.timestamp()

        def age(arrival: float | None) -> float | None:
            return None if arrival is None else max(0.0, now_s - arrival)

        domains = tuple(
            DestinationDomain(domain, count, age(self.domain_oldest.get(domain)))
            for domain, count in sorted(self.domains.items(), key=lambda item: (-item[1], item[0]))[
                :TOP_DOMAINS
            ]
        )
        reasons = tuple(
            DeferralReason(reason, count)
            for reason, count in sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))[
                :TOP_REASONS
            ]
        )
        return QueueSample(
            source=source,
            at=now,
            total=self.total if total is None else total,
            by_queue=MappingProxyType(dict(self.by_queue))
            if with_by_queue
            else MappingProxyType({}),
            oldest_age_s=age(self.oldest_arrival),
            size_bytes=self.size if size is None else size,
            frozen=frozen,
            deferral_reasons=reasons,
            top_domains=domains,
        )


# ---- postqueue -j ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostqueueResult:
    sample: QueueSample
    skipped_lines: int
    """Non-blank lines that were not message objects (tolerated while fewer than half)."""
    duplicates: int
    """Messages listed more than once (same queue_id) and counted once."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _message(
    obj: object,
) -> tuple[str, str, float | None, int | None, list[tuple[str, str | None]]]:
    """(queue_id, queue_name, arrival, size, recipients) of one message object; ValueError."""
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    queue_id = obj.get("queue_id")
    queue_name = obj.get("queue_name")
    if not isinstance(queue_id, str) or not isinstance(queue_name, str):
        raise ValueError("no queue_id/queue_name")
    arrival = _number(obj.get("arrival_time"))
    size_value = _number(obj.get("message_size"))
    size = int(size_value) if size_value is not None and size_value >= 0 else None
    recipients: list[tuple[str, str | None]] = []
    raw_recipients = obj.get("recipients")
    if isinstance(raw_recipients, list):
        for item in raw_recipients:
            if isinstance(item, dict):
                address = item.get("address")
                reason = item.get("delay_reason")
                recipients.append(
                    (
                        address if isinstance(address, str) else "",
                        reason if isinstance(reason, str) else None,
                    )
                )
    if queue_name not in QUEUE_NAMES:
        queue_name = clean(queue_name)[:40]
    return queue_id, queue_name, arrival, size, recipients


def parse_postqueue_lines(data: bytes, *, now: datetime, source: str) -> PostqueueResult:
    """`parse_postqueue_json` with the counts of skipped lines and duplicates."""
    tally = QueueTally()
    seen_ids: set[str] = set()
    duplicates = 0
    skipped = 0
    lines = 0
    first_bad: tuple[int, str] | None = None
    # The decoder's raw_decode on each line, decoded as it is reached (bad UTF-8 becomes
    # U+FFFD): no copy of the whole output as text or as a list of lines, and none of the
    # checks json.loads repeats per call.
    raw_decode = json.JSONDecoder().raw_decode
    find = data.find
    data_length = len(data)
    start = 0
    number = 0
    while start < data_length:
        stop = find(b"\n", start)
        if stop < 0:
            stop = data_length
        number += 1
        line = data[start:stop].decode("utf-8", errors="replace").strip()
        start = stop + 1
        if not line:
            continue
        lines += 1
        try:
            obj, end = raw_decode(line)
            if end != len(line):
                raise ValueError("text after the object")
            queue_id, queue_name, arrival, size, recipients = _message(obj)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            skipped += 1
            if first_bad is None:
                first_bad = (number, line[:200])
            continue
        if queue_id in seen_ids:
            duplicates += 1
            continue
        seen_ids.add(queue_id)
        tally.add(queue_name, arrival, size, recipients)
    if first_bad is not None and skipped * 2 >= lines:
        number, line = first_bad
        raise QueueParseError(f"output is not postqueue -j JSON (line {number}: {shown(line)})")
    return PostqueueResult(tally.sample(source=source, now=now), skipped, duplicates)


def parse_postqueue_json(data: bytes, *, now: datetime, source: str) -> QueueSample:
    """The queue described by `postqueue -j` output (see the module docstring).

    Raises `QueueParseError` when most non-blank lines are not message objects.
    """
    return parse_postqueue_lines(data, now=now, source=source).sample
