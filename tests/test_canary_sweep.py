"""The sweep's judgement of one earlier message, the time formats it reads, and the FETCH reply
shapes it takes apart (cockpit.canary.sweep, imap_find._held). Pure: the runs against a real
Dovecot are in tests/test_canary_run.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cockpit.canary.imap_find import Folder, Held, _held
from cockpit.canary.sweep import judge, parse_date, parse_internaldate, sweep
from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.incident.finding_changes import finding_changes
from cockpit.model import Finding, Status
from tests.test_canary_config import INBOUND, REGIONS

NOW = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
HEX = "0123456789abcdef0123"
GRACE = 100.0
CANARY = load_config_text(REGIONS + INBOUND + "timeout = 10\n").canaries[0]


def held(token: str | None, sent: datetime | None, arrived: datetime | None) -> Held:
    return Held(
        uid=7,
        token=token,
        date=None if sent is None else sent.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        internaldate=None if arrived is None else arrived.strftime("%d-%b-%Y %H:%M:%S +0000"),
    )


def verdict(item: Held, own: str | None = None) -> str:
    return judge(item, CANARY, own, now=NOW, grace_s=GRACE)[0]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (f"eu-in-{HEX}", "late"),
        (f"eu-in-x-{HEX}", "other"),  # canary "eu-in-x"
        (f"eu-{HEX}", "other"),
        (f"eu-in-{HEX}0", "other"),
        (f"eu-in-{HEX.upper()}", "other"),
        (f"EU-IN-{HEX}", "other"),
        ("eu-in-\u241b[31m", "other"),
        (None, "other"),
    ],
)
def test_only_this_canarys_tokens_are_its_own(token: str | None, expected: str) -> None:
    sent = NOW - timedelta(minutes=10)
    assert verdict(held(token, sent, sent + timedelta(minutes=3))) == expected


def test_the_runs_own_message_is_never_swept() -> None:
    token = f"eu-in-{HEX}"
    sent = NOW - timedelta(minutes=10)
    assert verdict(held(token, sent, sent + timedelta(minutes=3)), own=token) == "other"


@pytest.mark.parametrize(
    ("sent_ago", "took", "expected"),
    [
        (600, 180, "late"),
        (600, 11, "late"),
        (600, 10, "leftover"),  # arrived within the timeout: its run had it
        (600, 0, "leftover"),
        (600, -30, "leftover"),  # the server's clock behind the sender's
        (600, None, "leftover"),  # no INTERNALDATE: nothing to claim
        (101, 60, "late"),
        (100, 60, "keep"),  # within the grace: a run may still be waiting for it
        (5, 1, "keep"),
        (-30, 1, "keep"),  # sent "in the future" by a clock ahead
    ],
)
def test_late_leftover_or_kept(sent_ago: int, took: int | None, expected: str) -> None:
    sent = NOW - timedelta(seconds=sent_ago)
    arrived = None if took is None else sent + timedelta(seconds=took)
    assert verdict(held(f"eu-in-{HEX}", sent, arrived)) == expected


def test_a_message_without_a_readable_date_is_kept() -> None:
    for date in (None, "", "yesterday", "Mon, 99 Foo 2026 25:61:00 +9999", "\u241b[31m"):
        item = Held(7, f"eu-in-{HEX}", date, "06-Dec-2026 07:00:00 +0000")
        assert verdict(item) == "keep"


def test_dates_with_offsets_are_compared_in_utc() -> None:
    assert parse_date("Sun, 06 Dec 2026 09:00:00 +0100") == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert parse_date("Sun, 06 Dec 2026 08:00:00 -0000") == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert parse_internaldate("06-Dec-2026 03:30:00 -0430") == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert parse_internaldate(" 6-Dec-2026 09:00:00 +0100") == datetime(2026, 12, 6, 8, tzinfo=UTC)
    for bad in (None, "", "06-Foo-2026 08:00:00 +0000", "31-Feb-2026 08:00:00 +0000",
                "06-Dec-2026 08:00:00", '"06-Dec-2026 08:00:00 +0000"'):  # fmt: skip
        assert parse_internaldate(bad) is None


def test_fetch_replies_in_either_order_and_with_hostile_values() -> None:
    header = b"Date: Sun, 06 Dec 2026 07:50:00 +0000\r\nX-Cockpit-Canary: eu-in-" + HEX.encode()
    data = [
        (b'1 (UID 5 INTERNALDATE "06-Dec-2026 07:55:00 +0000" BODY[HEADER.FIELDS '
         b"(X-COCKPIT-CANARY DATE)] {90}", header + b"\r\n\r\n"),
        b")",
        (b'2 (INTERNALDATE "06-Dec-2026 07:56:00 +0000" BODY[HEADER.FIELDS '
         b"(X-COCKPIT-CANARY DATE)] {40}", b"X-Cockpit-Canary: \x1b[31m[bold]x\r\n\r\n"),
        b" UID 9)",
        (b"3 (BODY[HEADER.FIELDS (X-COCKPIT-CANARY DATE)] {2}", b"\r\n"),  # no UID: not used
        b")",
        b"garbage",
    ]  # fmt: skip
    first, second = _held(data)
    assert first == Held(5, f"eu-in-{HEX}", "Sun, 06 Dec 2026 07:50:00 +0000",
                         "06-Dec-2026 07:55:00 +0000")  # fmt: skip
    assert second.uid == 9 and second.date is None
    assert second.token is not None and "\x1b" not in second.token
    assert second.internaldate == "06-Dec-2026 07:56:00 +0000"


def late(token: str) -> Finding:
    return Finding(area="canary", check="late", subject=token, status=Status.WARN,
                   summary=f"{token} came late", region=None, resolver=None,
                   data={"token": token}, observed_at=NOW)  # fmt: skip


def test_every_late_message_reaches_the_log_once() -> None:
    run = Finding(area="canary", check="inbound", subject="eu-in", status=Status.OK,
                  summary="arrived", region="primary", resolver=None, data={},
                  observed_at=NOW)  # fmt: skip
    first, second = late(f"eu-in-{HEX}"), late(f"eu-in-{HEX[::-1]}")
    logged = finding_changes("canary", [run], [run, first])
    assert [entry.data["evidence"]["subject"] for entry in logged] == [first.subject]
    # the next run finds another one: a change of its own, though both are warn
    logged = finding_changes("canary", [run, first], [run, second])
    assert [entry.data["evidence"]["subject"] for entry in logged] == [second.subject]
    assert finding_changes("canary", [run, second], [run]) == []


class _Broken:
    """A session whose search breaks as a bug would (not a server: those are real elsewhere)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def held(self, folder: object, name: str) -> list[Held]:
        raise self.error


@pytest.mark.parametrize("error", [OSError("connection reset"), KeyError("uid")])
def test_a_sweep_that_breaks_says_why_and_never_raises(error: Exception) -> None:
    folder = Folder("INBOX", "INBOX", junk=False)
    swept = sweep(_Broken(error), CANARY, None, [folder], now=NOW, grace_s=GRACE)  # type: ignore[arg-type]
    assert swept.late == [] and swept.error is not None
    assert swept.error.startswith("earlier messages not looked for: ")
