"""Earlier messages of a canary still in its mailbox: those that came after their run gave up
(late: mail did flow, slowly) and those a run left behind. Blocking (in the run's IMAP thread).

    swept = sweep(session, canary, own_token, folders, now=now, grace_s=g)   # never raises
    verdict, sent, arrived = judge(held, canary, own_token, now=now, grace_s=g)   # pure

A run that does not find its message within the canary's `timeout` reports `fail` and stops
looking. If the message arrives later, it stays in the mailbox, as does one whose run was
stopped before it could delete it. So after its own search, a run of a canary with
`delete = true` looks in the folders it searched for messages carrying another token of the
same canary: "<name>-" and 20 hex digits ("eu-in-x-..." belongs to canary "eu-in-x", not
"eu-in"). It reads only their X-Cockpit-Canary and Date headers and the server's INTERNALDATE,
and deletes those sent (by their Date) more than `grace_s` seconds ago (the run gives the
canary's `timeout`, its time to read and delete, and CLOCK_MARGIN): no run of this canary can
still be waiting for them, whichever cockpit sent them.

Of those, a message that reached the server (INTERNALDATE) more than `timeout` seconds after it
was sent (Date) is LATE: its run had given up on it. The others are leftovers: deleted, counted,
not reported one by one. The two times come from two clocks (the sender's and the server's), so
a late message is reported with both. A message with no readable Date, or sent too recently, is
left alone (counted as kept); at most MAX_UIDS per folder are looked at in one run, and at most
MAX_LATE late ones reported: the others wait for the next run.

A sweep never changes its run's own result: what goes wrong is its `error`.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from cockpit.canary.headers import shown
from cockpit.canary.imap_find import Folder, Held, ImapSession
from cockpit.canary.message import token_of
from cockpit.compat import UTC
from cockpit.config.model import Canary

__all__ = ["CLOCK_MARGIN", "MAX_LATE", "Late", "Sweep", "judge", "sweep"]

CLOCK_MARGIN = 60.0
MAX_LATE = 10
"""Late messages reported (and deleted) by one run; more are left for the next runs, so a
drained queue full of canaries never floods the log at once."""
"""Seconds allowed for clocks that disagree (the sender's Date, the server's, ours)."""
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_INTERNALDATE = re.compile(
    r"\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"
)


@dataclass(frozen=True, slots=True)
class Late:
    """A message of this canary that reached the server after its run had given up."""

    token: str
    folder: str
    sent_at: datetime
    """Its Date header (the sending cockpit's clock)."""
    arrived_at: datetime
    """Its INTERNALDATE (the server's clock)."""
    deleted: bool

    @property
    def late_s(self) -> float:
        """Seconds from sending to arrival."""
        return (self.arrived_at - self.sent_at).total_seconds()


@dataclass
class Sweep:
    """What one run's sweep found and did."""

    late: list[Late] = field(default_factory=list)
    leftovers: int = 0
    """Earlier messages that arrived in time (or with no arrival time) and were deleted."""
    kept: int = 0
    """Messages of this canary left: maybe still awaited, no readable Date, or not deleted
    (a late one that could not be deleted is counted here too)."""
    error: str | None = None

    def data(self) -> dict[str, object]:
        return {"late": len(self.late), "leftovers": self.leftovers, "kept": self.kept,
                "error": self.error}  # fmt: skip


def judge(
    held: Held, canary: Canary, own_token: str | None, *, now: datetime, grace_s: float
) -> tuple[str, datetime | None, datetime | None]:
    """What to do with one held message, with its sent and arrival times as read: "other"
    (not this canary's, or this run's own), "keep" (maybe still awaited, or no readable Date),
    "late" or "leftover" (to delete)."""
    token = held.token
    if token is None or token == own_token or not token_of(canary.name, token):
        return "other", None, None
    sent = parse_date(held.date)
    if sent is None or (now - sent).total_seconds() <= grace_s:
        return "keep", sent, None
    arrived = parse_internaldate(held.internaldate)
    if arrived is not None and (arrived - sent).total_seconds() > canary.timeout:
        return "late", sent, arrived
    return "leftover", sent, arrived


def sweep(
    session: ImapSession,
    canary: Canary,
    own_token: str | None,
    folders: Sequence[Folder],
    *,
    now: datetime,
    grace_s: float,
) -> Sweep:
    """Look in `folders` and delete what `judge` says (see the module docstring)."""
    swept = Sweep()
    try:
        for folder in folders:
            _sweep_folder(session, canary, own_token, folder, (now, grace_s), swept)
    except (OSError, ssl.SSLError, imaplib.IMAP4.error, ValueError) as error:
        reason = str(error) or type(error).__name__
        swept.error = shown(f"earlier messages not looked for: {reason}", 200)
    except Exception as error:  # noqa: BLE001 - a bug here must not change the run's result
        swept.error = shown(
            f"earlier messages not looked for: {type(error).__name__}: {error}", 200
        )
    return swept


def _sweep_folder(
    session: ImapSession,
    canary: Canary,
    own_token: str | None,
    folder: Folder,
    when: tuple[datetime, float],
    swept: Sweep,
) -> None:
    now, grace_s = when
    held = session.held(folder, canary.name)
    judged = [(item, *judge(item, canary, own_token, now=now, grace_s=grace_s)) for item in held]
    room = MAX_LATE - len(swept.late)
    for index, (item, verdict, sent, arrived) in enumerate(judged):
        if verdict == "late":
            if room <= 0:  # left for a later run to report: each is reported once, bounded
                judged[index] = (item, "keep", sent, arrived)
            room -= 1
    gone = [item.uid for item, verdict, _, _ in judged if verdict in ("late", "leftover")]
    deleted = session.remove(folder, gone) if gone else False
    for item, verdict, sent, arrived in judged:
        if verdict == "late" and sent is not None and arrived is not None and item.token:
            swept.late.append(Late(item.token, folder.name, sent, arrived, deleted))
            swept.kept += 0 if deleted else 1
        elif verdict == "leftover" and deleted:
            swept.leftovers += 1
        elif verdict != "other":
            swept.kept += 1


def parse_date(value: str | None) -> datetime | None:
    """A Date header as an aware datetime (UTC when it says -0000), or None."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_internaldate(value: str | None) -> datetime | None:
    """INTERNALDATE ("06-Dec-2026 07:50:01 +0000", RFC 3501 date-time) as an aware datetime."""
    match = _INTERNALDATE.fullmatch(value or "")
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    number = _MONTHS.get(month.capitalize())
    if number is None:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    try:
        local = datetime(int(year), number, int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    utc = local - offset if sign == "+" else local + offset
    return utc.replace(tzinfo=UTC)
