"""Pure parsers of queue sources: postqueue -j, mailq, exim, Prometheus exposition, JSON paths."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from cockpit.compat import UTC
from cockpit.queue.exim import parse_exim_bp, parse_exim_count, parse_whole_number
from cockpit.queue.jsonsource import parse_json_depth
from cockpit.queue.mailq import arrival_datetime, parse_mailq
from cockpit.queue.postqueue import (
    QueueParseError,
    group_reason,
    parse_postqueue_json,
    parse_postqueue_lines,
)
from cockpit.queue.prometheus import parse_prometheus
from cockpit.queue.sample import QUEUE_NAMES

NOW = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)
T = NOW.timestamp()

REFUSED = "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"
SUSPENDED = "delivery temporarily suspended: " + REFUSED
TIMED_OUT = "connect to mx.example.net[203.0.113.5]:25: Connection timed out"
NOT_FOUND = (
    "Host or domain name not found. Name service error for name=nxdomain.example type=MX: "
    "Host not found, try again"
)
FULL = (
    "host mx.example.org[198.51.100.7] said: 452 4.2.2 <bob@example.org>: Mailbox full "
    "(in reply to RCPT TO command)"
)
GREY = (
    "host mx.grey.example[198.51.100.8] said: 450 4.7.1 <c@grey.example>: Recipient address "
    "rejected: Greylisted, see http://postgrey.example/help/grey.example.html "
    "(in reply to RCPT TO command)"
)
TLS = "Cannot start TLS: handshake failure"


def message(
    queue_id: str,
    queue: str,
    age_s: float,
    recipients: list[tuple[str, str | None]],
    size: int = 1000,
) -> str:
    rcpts: list[dict[str, str]] = []
    for address, reason in recipients:
        item = {"address": address}
        if reason is not None:
            item["delay_reason"] = reason
        rcpts.append(item)
    return json.dumps(
        {
            "queue_name": queue,
            "queue_id": queue_id,
            "arrival_time": int(T - age_s),
            "message_size": size,
            "forced_expire": False,
            "sender": "alerts@example.com",
            "recipients": rcpts,
        }
    )


# ---- postqueue -j ---------------------------------------------------------------------------


def _realistic_output() -> bytes:
    lines = [
        message("4Qx7Zh0001", "active", 30, [("a@example.net", None)], size=500),
        message("4Qx7Zh0002", "deferred", 3600, [("b@example.net", REFUSED)], size=2000),
        message("4Qx7Zh0003", "deferred", 7200, [("c@example.org", SUSPENDED)]),
        message("4Qx7Zh0004", "deferred", 600, [("d@example.org", FULL), ("e@example.org", FULL)]),
        message("4Qx7Zh0005", "deferred", 100, [("f@grey.example", GREY)]),
        message("4Qx7Zh0006", "deferred", 50, [("g@nxdomain.example", NOT_FOUND)]),
        message("4Qx7Zh0007", "deferred", 40, [("h@tls.example", TLS)]),
        message("4Qx7Zh0008", "deferred", 86400, [("i@far.example", TIMED_OUT)]),
        message("4Qx7Zh0009", "hold", 900, [("j@example.net", None)]),
        message("4Qx7Zh0010", "incoming", 1, [("k@example.net", None)]),
        message("4Qx7Zh0011", "maildrop", 2, [("l@Example.NET", None)]),
        # the queue moved while it was listed: the same message again, now deferred
        message("4Qx7Zh0001", "deferred", 30, [("a@example.net", REFUSED)], size=500),
    ]
    return ("\n".join(lines) + "\n").encode()


def test_postqueue_counts_every_queue_and_each_message_once() -> None:
    result = parse_postqueue_lines(_realistic_output(), now=NOW, source="mx1")
    sample = result.sample
    assert result.duplicates == 1 and result.skipped_lines == 0
    assert sample.source == "mx1" and sample.at == NOW
    assert sample.total == 11
    assert dict(sample.by_queue) == {
        "active": 1,
        "deferred": 7,
        "hold": 1,
        "incoming": 1,
        "maildrop": 1,
    }
    assert sample.oldest_age_s == 86400
    assert sample.size_bytes == 500 + 2000 + 9 * 1000
    assert sample.frozen is None


def test_postqueue_groups_reasons_and_ranks_domains() -> None:
    sample = parse_postqueue_json(_realistic_output(), now=NOW, source="mx1")
    reasons = {r.reason: r.count for r in sample.deferral_reasons}
    # refused and "delivery temporarily suspended: refused" are one group; FULL counted once
    assert reasons["connection refused to relay 127.0.0.1:2525"] == 2
    # six groups: the top 5, most frequent first, ties in name order
    assert len(sample.deferral_reasons) == 5
    assert set(reasons) == {
        "connection refused to relay 127.0.0.1:2525",
        "TLS handshake failed",
        "connection timed out to relay mx.example.net:25",
        "greylisted by mx.grey.example",
        "host not found: nxdomain.example",
    }
    assert all(count == 1 for reason, count in reasons.items() if "refused" not in reason)
    assert sample.deferral_reasons[0].reason == "connection refused to relay 127.0.0.1:2525"
    domains = {d.domain: d for d in sample.top_domains}
    assert domains["example.net"].count == 5  # case folded, duplicate not counted
    assert domains["example.net"].oldest_age_s == 3600
    assert domains["example.org"].count == 2
    assert sample.top_domains[0].domain == "example.net"


@pytest.mark.parametrize(
    ("raw", "grouped"),
    [
        (REFUSED, "connection refused to relay 127.0.0.1:2525"),
        (SUSPENDED, "connection refused to relay 127.0.0.1:2525"),
        (TIMED_OUT, "connection timed out to relay mx.example.net:25"),
        (NOT_FOUND, "host not found: nxdomain.example"),
        (FULL, "mailbox full / 4.2.2 at mx.example.org"),
        (GREY, "greylisted by mx.grey.example"),
        (TLS, "TLS handshake failed"),
        (
            "lost connection with mx.example.com[192.0.2.9] while receiving the initial "
            "server greeting",
            "lost connection with mx.example.com",
        ),
        (
            "conversation with mx.example.com[192.0.2.9] timed out while sending end of data",
            "conversation timed out with mx.example.com",
        ),
        (
            "host mx.example.com[192.0.2.9] said: 421 4.3.0 Temporary failure, queued as "
            "8F1A2B3C4D (in reply to end of DATA command)",
            "421 4.3.0 from mx.example.com",
        ),
        ("mail transport unavailable", "mail transport unavailable"),
    ],
)
def test_group_reason(raw: str, grouped: str) -> None:
    assert group_reason(raw) == grouped


def test_group_reason_drops_varying_ids_and_is_safe() -> None:
    one = group_reason("Temporary lookup failure id=1234567 for 98765 \x1b[31m")
    two = group_reason("Temporary lookup failure id=7654321 for 12345 \x1b[31m")
    assert one == two
    assert "\x1b" not in one


def test_postqueue_empty_output_is_an_empty_queue() -> None:
    sample = parse_postqueue_json(b"", now=NOW, source="mx1")
    assert sample.total == 0
    assert dict(sample.by_queue) == dict.fromkeys(QUEUE_NAMES, 0)
    assert sample.oldest_age_s is None
    assert sample.deferral_reasons == () and sample.top_domains == ()


def test_postqueue_tolerates_a_few_garbage_lines() -> None:
    good = [message(f"ID{i:04d}", "deferred", 60, [("x@example.net", REFUSED)]) for i in range(5)]
    data = "\n".join(
        [good[0], "postqueue: warning: Mail system is down", good[1], "{", *good[2:], "[]"]
    )
    result = parse_postqueue_lines(data.encode(), now=NOW, source="mx1")
    assert result.skipped_lines == 3
    assert result.sample.total == 5


def test_postqueue_mostly_garbage_is_an_error_naming_the_line() -> None:
    data = b"-Queue ID-  --Size--\n" + b"3F2A1C0B7E*  1234 Fri Nov 27\n" + b"\x1b[2J\n"
    with pytest.raises(QueueParseError, match=r"output is not postqueue -j JSON \(line 1") as info:
        parse_postqueue_json(data, now=NOW, source="mx1")
    assert "\x1b" not in str(info.value)


def test_postqueue_local_recipient_without_domain() -> None:
    data = "\n".join(
        [
            message("A", "deferred", 10, [("postmaster", None)]),
            message("B", "deferred", 10, [("x@postmaster", None)]),
        ]
    ).encode()
    domains = {
        d.domain: d.count for d in parse_postqueue_json(data, now=NOW, source="m").top_domains
    }
    assert domains == {"(local)": 1, "postmaster": 1}


def test_postqueue_future_arrival_is_age_zero() -> None:
    data = message("A", "active", -120, [("a@example.net", None)]).encode()
    assert parse_postqueue_json(data, now=NOW, source="mx1").oldest_age_s == 0


# ---- mailq ----------------------------------------------------------------------------------

MAILQ = """\
-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
3F2A1C0B7E*    1234 Fri Nov 27 20:41:02  sender@example.com
                                         rcpt@example.net

4B7D2E1A9C!     567 Thu Nov 26 19:00:00  MAILER-DAEMON
                                         postmaster@example.com

4Qx7Zh0Sxyz1    2048 Wed Nov 25 22:00:00  alerts@example.com
(host mx.example.org[198.51.100.7] said: 452 4.2.2 <a@example.org>: Mailbox full (in
    reply to RCPT TO command))
                                         a@example.org
(connect to 127.0.0.1[127.0.0.1]:2525: Connection refused)
                                         b@example.net
                                         c@example.net

-- 4 Kbytes in 3 Requests.
"""


def test_mailq_listing() -> None:
    sample = parse_mailq(MAILQ, now=NOW, source="mx2", tz=UTC)
    assert sample.total == 3
    assert dict(sample.by_queue) == {
        "active": 1,
        "deferred": 1,
        "hold": 1,
        "incoming": 0,
        "maildrop": 0,
    }
    assert sample.oldest_age_s == 2 * 86400
    assert sample.size_bytes == 1234 + 567 + 2048
    reasons = {r.reason: r.count for r in sample.deferral_reasons}
    assert reasons == {
        "mailbox full / 4.2.2 at mx.example.org": 1,
        "connection refused to relay 127.0.0.1:2525": 1,
    }
    domains = {d.domain: d.count for d in sample.top_domains}
    assert domains == {"example.net": 2, "example.com": 1, "example.org": 1}


def test_mailq_empty() -> None:
    sample = parse_mailq("Mail queue is empty\n", now=NOW, source="mx2")
    assert sample.total == 0 and sample.oldest_age_s is None


def test_mailq_summary_wins_when_the_queue_moved() -> None:
    text = MAILQ.replace("-- 4 Kbytes in 3 Requests.", "-- 9 Kbytes in 7 Requests.")
    sample = parse_mailq(text, now=NOW, source="mx2", tz=UTC)
    assert sample.total == 7
    assert sample.size_bytes == 9 * 1024
    assert sum(sample.by_queue.values()) == 3


def test_mailq_one_request_summary() -> None:
    text = "\n".join(MAILQ.splitlines()[:4]) + "\n\n-- 1 Kbytes in 1 Request.\n"
    sample = parse_mailq(text, now=NOW, source="mx2", tz=UTC)
    assert sample.total == 1 and sample.by_queue["active"] == 1


def test_mailq_refuses_other_output() -> None:
    with pytest.raises(QueueParseError, match="not a mailq listing"):
        parse_mailq("sh: 1: mailq: not found\n", now=NOW, source="mx2")
    with pytest.raises(QueueParseError, match="not a mailq listing"):
        parse_mailq("", now=NOW, source="mx2")


def test_mailq_date_without_year_is_the_latest_not_in_the_future() -> None:
    # Dec 30 seen on Nov 27 2026: last year's (Wed Dec 30 2025).
    when = arrival_datetime("Dec", 30, "10:00:00", "Tue", now=NOW, tz=UTC)
    assert when == datetime(2025, 12, 30, 10, 0, tzinfo=UTC)
    # A few minutes ahead (clocks disagree): this year, not last year.
    ahead = arrival_datetime("Nov", 27, "22:05:00", "Fri", now=NOW, tz=UTC)
    assert ahead is not None and ahead.year == 2026
    # Feb 29 exists only in leap years: the latest one before now.
    leap = arrival_datetime("Feb", 29, "12:00:00", None, now=NOW, tz=UTC)
    assert leap is not None and leap.year == 2024
    sample = parse_mailq(
        "ABC123*  100 Fri Nov 27 22:05:00  a@b\n"
        "          c@example.net\n\n-- 1 Kbytes in 1 Request.\n",
        now=NOW,
        source="x",
        tz=UTC,
    )
    assert sample.oldest_age_s == 0


# ---- exim -----------------------------------------------------------------------------------

EXIM_BP = """\
25m  2.9K 1qvJ3k-000123-AB <sender@example.com>
          rcpt@example.net

 2h   12K 1qvJ3k-000124-CD <> *** frozen ***
          postmaster@example.org

 3d  512 1rKzCX-00000004CZL-4qvf <alerts@example.com>
        D done@example.com
          x@example.net
          y@example.org

"""


def test_exim_count() -> None:
    assert parse_exim_count(b"  42\n") == 42
    assert parse_exim_count(b"0\n") == 0
    with pytest.raises(QueueParseError, match=r"printed 'exim: permission denied'"):
        parse_exim_count(b"exim: permission denied\n")
    with pytest.raises(QueueParseError, match="printed nothing"):
        parse_exim_count(b"  \n")


def test_exim_listing_ages_sizes_frozen_domains() -> None:
    listing = parse_exim_bp(EXIM_BP, now=NOW)
    sample = listing.sample(source="ex", now=NOW, total=4)
    assert sample.total == 4  # -bpc is the depth; the listing may be a moment older
    assert sample.frozen == 1
    assert sample.oldest_age_s == 3 * 86400
    assert sample.size_bytes == int(2.9 * 1024) + 12 * 1024 + 512
    assert dict(sample.by_queue) == {}
    domains = {d.domain: d for d in sample.top_domains}
    assert "example.com" not in domains  # delivered recipient
    assert domains["example.net"].count == 2
    assert domains["example.net"].oldest_age_s == 3 * 86400


def test_exim_listing_empty_and_garbage() -> None:
    assert parse_exim_bp("", now=NOW).sample(source="ex", now=NOW).total == 0
    with pytest.raises(QueueParseError, match="not an exim -bp listing"):
        parse_exim_bp("exim: not found\n", now=NOW)


@pytest.mark.parametrize(
    ("printed", "value"), [(b"7", 7), (b" 12 \n", 12), (b"+3\n", 3), (b"\t0\r\n", 0)]
)
def test_whole_number(printed: bytes, value: int) -> None:
    assert parse_whole_number(printed) == value


@pytest.mark.parametrize("printed", [b"-1", b"1.5", b"12 13", b"lots", b"0x10", b"\x1b[31m5"])
def test_whole_number_refused_and_named(printed: bytes) -> None:
    with pytest.raises(QueueParseError, match="printed") as info:
        parse_whole_number(printed)
    assert "\x1b" not in str(info.value)


def test_whole_number_message_is_bounded() -> None:
    with pytest.raises(QueueParseError) as info:
        parse_whole_number(b"x" * 100_000)
    assert len(str(info.value)) < 200


# ---- prometheus -----------------------------------------------------------------------------

EXPOSITION = """\
# HELP postfix_up Whether scraping Postfix's metrics was successful.
# TYPE postfix_up gauge
postfix_up{path="/var/spool/postfix/public/showq"} 1
# HELP postfix_showq_message_age_seconds Age of messages in Postfix's message queue, in seconds
# TYPE postfix_showq_message_age_seconds histogram
postfix_showq_message_age_seconds_bucket{queue="deferred",le="60"} 3
postfix_showq_message_age_seconds_bucket{queue="deferred",le="3600"} 10
postfix_showq_message_age_seconds_bucket{queue="deferred",le="+Inf"} 12
postfix_showq_message_age_seconds_sum{queue="deferred"} 54321
postfix_showq_message_age_seconds_count{queue="deferred"} 12
# HELP postfix_showq_message_size_bytes Size of messages in Postfix's message queue, in bytes
# TYPE postfix_showq_message_size_bytes histogram
postfix_showq_message_size_bytes_bucket{queue="active",le="1e+06"} 4
postfix_showq_message_size_bytes_bucket{queue="active",le="+Inf"} 4
postfix_showq_message_size_bytes_sum{queue="active"} 40960
postfix_showq_message_size_bytes_count{queue="active"} 4
postfix_showq_message_size_bytes_bucket{queue="deferred",le="1e+06"} 11
postfix_showq_message_size_bytes_bucket{queue="deferred",le="+Inf"} 12
postfix_showq_message_size_bytes_sum{queue="deferred"} 2.5e+06
postfix_showq_message_size_bytes_count{queue="deferred"} 12
postfix_showq_message_size_bytes_bucket{queue="hold",le="+Inf"} 0
postfix_showq_message_size_bytes_sum{queue="hold"} 0
postfix_showq_message_size_bytes_count{queue="hold"} 0
# HELP postfix_smtp_delivery_delay_seconds SMTP message processing time in seconds.
# TYPE postfix_smtp_delivery_delay_seconds summary
postfix_smtp_delivery_delay_seconds{quantile="0.5"} 0.2
postfix_smtp_delivery_delay_seconds_sum 4.5
postfix_smtp_delivery_delay_seconds_count 20
# HELP postfix_queue_length Messages in the queue.
# TYPE postfix_queue_length gauge
postfix_queue_length{instance="mx2.example.com",queue="deferred"} 17
postfix_queue_length{instance="mx3.example.com",queue="deferred"} 5
"""

SIZE_COUNT = "postfix_showq_message_size_bytes_count"


def _prom(metric: str, **labels: str) -> int:
    return parse_prometheus(EXPOSITION, metric=metric, labels=labels, now=NOW, source="p").total


def test_prometheus_histogram_count_per_queue() -> None:
    sample = parse_prometheus(
        EXPOSITION, metric=SIZE_COUNT, labels={"queue": "deferred"}, now=NOW, source="p"
    )
    assert sample.total == 12
    assert dict(sample.by_queue) == {"deferred": 12}
    assert _prom(SIZE_COUNT, queue="hold") == 0  # a real series at 0 is a real 0


def test_prometheus_sums_matching_series() -> None:
    assert _prom(SIZE_COUNT) == 16
    assert _prom("postfix_queue_length", queue="deferred") == 22
    assert _prom("postfix_queue_length", instance="mx2.example.com") == 17


def test_prometheus_base_name_of_a_histogram_uses_count() -> None:
    assert _prom("postfix_showq_message_size_bytes", queue="deferred") == 12
    assert _prom("postfix_smtp_delivery_delay_seconds") == 20
    assert _prom("postfix_showq_message_size_bytes_sum", queue="active") == 40960


def test_prometheus_no_match_is_an_error_never_zero() -> None:
    with pytest.raises(
        QueueParseError,
        match=r'no series postfix_showq_message_size_bytes_count\{queue="incoming"\} in the',
    ):
        _prom(SIZE_COUNT, queue="incoming")
    with pytest.raises(QueueParseError, match="no series nope_total in the exposition"):
        _prom("nope_total")


def test_prometheus_exporter_down_says_so() -> None:
    down = (
        "# HELP postfix_up Whether scraping Postfix's metrics was successful.\n"
        "# TYPE postfix_up gauge\n"
        'postfix_up{path="/var/spool/postfix/public/showq"} 0\n'
    )
    with pytest.raises(QueueParseError, match="postfix_up is 0"):
        parse_prometheus(down, metric=SIZE_COUNT, labels={"queue": "deferred"}, now=NOW, source="p")


def test_prometheus_refuses_non_exposition_and_nan() -> None:
    with pytest.raises(QueueParseError, match="not a Prometheus text exposition"):
        parse_prometheus("<html>oops</html>\n", metric="m", labels={}, now=NOW, source="p")
    with pytest.raises(QueueParseError, match="expected a depth"):
        parse_prometheus("m NaN\n", metric="m", labels={}, now=NOW, source="p")
    with pytest.raises(QueueParseError, match="expected a depth"):
        parse_prometheus("m -3\n", metric="m", labels={}, now=NOW, source="p")


# ---- json -----------------------------------------------------------------------------------

DOC = json.dumps(
    {
        "queue": {"active": 12, "deferred": 40.0, "hold": True, "text": "12", "neg": -1},
        "queues": [{"depth": 3}, {"depth": 2.5}, {"depth": None}],
        "0": {"x": 9},
    }
).encode()


@pytest.mark.parametrize(
    ("path", "depth"),
    [("queue.active", 12), ("queue.deferred", 40), ("queues.0.depth", 3), ("0.x", 9)],
)
def test_json_paths(path: str, depth: int) -> None:
    assert parse_json_depth(DOC, path=path, now=NOW, source="j").total == depth


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("queue.missing", "no key 'missing' at queue"),
        ("queues.7.depth", "no index 7 at queues"),
        ("queues.first", "queues is a list: expected an index"),
        ("queue.active.x", "queue.active is 12: cannot look up"),
        ("queue.hold", "queue.hold is true: expected a whole number"),
        ("queue.text", "queue.text is the string '12'"),
        ("queue.neg", "queue.neg is -1"),
        ("queues.1.depth", "queues.1.depth is 2.5"),
        ("queues.2.depth", "is null"),
        ("queue", "queue is an object"),
        ("queue..active", "empty part"),
    ],
)
def test_json_paths_refused(path: str, message: str) -> None:
    with pytest.raises(QueueParseError) as info:
        parse_json_depth(DOC, path=path, now=NOW, source="j")
    assert message in str(info.value)


def test_json_not_json() -> None:
    with pytest.raises(QueueParseError, match="not JSON"):
        parse_json_depth(b"<html>\x1b[2J", path="a", now=NOW, source="j")


def test_sample_times_are_the_given_now() -> None:
    later = NOW + timedelta(seconds=5)
    assert parse_json_depth(DOC, path="queue.active", now=later, source="j").at == later
