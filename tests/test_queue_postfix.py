"""Queue sources, history and findings against a real Postfix whose relay refuses.

One Postfix for the module (tests/lab/postfix_queue.py): N messages are injected once and defer;
the tests read them, hold one, and finally drain the queue into a throttled SMTP sink while
sampling it. They run in file order (the drain empties the queue last).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cockpit.config.model import (
    Config,
    DnsSettings,
    DomainSettings,
    IncidentSettings,
    QueueSource,
    Region,
    TlsSettings,
)
from cockpit.model import Status
from cockpit.queue.events import QueueEvent, record
from cockpit.queue.findings import queue_findings
from cockpit.queue.history import QueueHistory, TrendKind
from cockpit.queue.sample import DeferralReason, QueueSample, Reading
from cockpit.queue.sources import read_source

if TYPE_CHECKING:  # the fixture module is loaded (and assert-rewritten) as a plugin
    from tests.lab.postfix_queue import PostfixQueueLab

pytest_plugins = ["tests.lab.postfix_queue"]

MESSAGES = 200
SINK_DELAY_S = 0.01
"""Per message in the sink: 200 messages drain in about 2.5 s instead of 0.4 s."""


@pytest.fixture(scope="module")
def injected(postfix_queue_lab: PostfixQueueLab) -> float:
    """MESSAGES deferred messages in the queue; returns the epoch time injection started."""
    started = time.time()
    postfix_queue_lab.inject(MESSAGES)
    postfix_queue_lab.wait_for_deferred(MESSAGES)
    return started


def postqueue_source(lab: PostfixQueueLab, **overrides: object) -> QueueSource:
    return QueueSource(
        name="mx1",
        kind="postqueue",
        command=tuple(lab.postqueue_argv("-j")),
        timeout=10.0,
        interval=1.0,
        **overrides,  # type: ignore[arg-type]
    )


def mailq_source(lab: PostfixQueueLab, **overrides: object) -> QueueSource:
    return QueueSource(
        name="mx1-mailq",
        kind="mailq",
        command=tuple(lab.postqueue_argv("-p")),
        timeout=10.0,
        interval=1.0,
        **overrides,  # type: ignore[arg-type]
    )


def read(source: QueueSource) -> Reading:
    return asyncio.run(read_source(source))


def sample_of(reading: Reading) -> QueueSample:
    assert reading.error is None, reading.error
    assert reading.sample is not None
    return reading.sample


def refused(lab: PostfixQueueLab, count: int) -> DeferralReason:
    return DeferralReason(f"connection refused to relay 127.0.0.1:{lab.relay_port}", count)


def assert_age_since(sample: QueueSample, started: float, resolution_s: float) -> None:
    assert sample.oldest_age_s is not None
    assert 0 <= sample.oldest_age_s <= time.time() - started + resolution_s


def test_postqueue_source_reports_the_deferred_messages(
    postfix_queue_lab: PostfixQueueLab, injected: float
) -> None:
    sample = sample_of(read(postqueue_source(postfix_queue_lab)))
    assert sample.total == MESSAGES
    assert sample.by_queue["deferred"] == MESSAGES
    assert sample.by_queue["active"] == 0 and sample.by_queue["hold"] == 0
    assert sample.deferral_reasons[0] == refused(postfix_queue_lab, MESSAGES)
    assert_age_since(sample, injected, resolution_s=1.5)


def test_mailq_source_reports_the_deferred_messages(
    postfix_queue_lab: PostfixQueueLab, injected: float
) -> None:
    sample = sample_of(read(mailq_source(postfix_queue_lab)))
    assert sample.total == MESSAGES
    assert sample.by_queue["deferred"] == MESSAGES
    assert sample.deferral_reasons[0] == refused(postfix_queue_lab, MESSAGES)
    assert_age_since(sample, injected, resolution_s=1.5)


def test_check_findings_read_every_source_at_once(
    postfix_queue_lab: PostfixQueueLab, injected: float, tmp_path: Path
) -> None:
    lab = postfix_queue_lab
    missing_etc = str(lab.workdir / "no-such-config")
    config = Config(
        source=None,
        incident=IncidentSettings(dir=tmp_path),
        domain=DomainSettings(name="example.test"),
        regions=(
            Region(
                name="primary",
                mx=("mx1.example.test",),
                queues=(postqueue_source(lab, warn=100), mailq_source(lab, warn=50, crit=150)),
            ),
            Region(
                name="backup",
                mx=("mx2.example.test",),
                queues=(
                    QueueSource(
                        name="mx2",
                        kind="postqueue",
                        command=(lab.postqueue_argv()[0], "-c", missing_etc, "-j"),
                        timeout=10.0,
                    ),
                ),
            ),
        ),
        dns=DnsSettings(),
        tls=TlsSettings(),
    )
    findings = asyncio.run(queue_findings(config))
    records = [finding.to_json() for finding in findings]
    assert [(r["subject"], r["region"], r["status"]) for r in records] == [
        ("mx1", "primary", "warn"),
        ("mx1-mailq", "primary", "fail"),
        ("mx2", "backup", "unknown"),
    ]
    for record_json in records:
        assert record_json["area"] == "queue" and record_json["check"] == "depth"
    reason = {"reason": f"connection refused to relay 127.0.0.1:{lab.relay_port}"}
    for record_json in records[:2]:
        data = record_json["data"]
        assert data["total"] == MESSAGES
        assert data["by_queue"]["deferred"] == MESSAGES
        assert 0 <= data["oldest_age_s"] <= time.time() - injected + 1.5
        assert data["deferral_reasons"] == [{**reason, "count": MESSAGES}]
        assert "error" not in data
        assert f"{MESSAGES} messages ({MESSAGES} deferred)" in record_json["summary"]
    unknown = records[2]
    assert unknown["data"]["error"]
    assert unknown["data"]["total"] is None  # a failed read is never a depth of 0
    assert unknown["summary"].startswith("unknown: ")


def test_a_held_message_shows_in_hold(postfix_queue_lab: PostfixQueueLab, injected: float) -> None:
    lab = postfix_queue_lab
    queue_id = lab.messages()[0]["queue_id"]
    lab.hold(queue_id)
    try:
        lab.wait_for("one held message", lambda ms: any(m["queue_name"] == "hold" for m in ms))
        sample = sample_of(read(postqueue_source(lab)))
        assert sample.total == MESSAGES
        assert (sample.by_queue["hold"], sample.by_queue["deferred"]) == (1, MESSAGES - 1)
        listed = sample_of(read(mailq_source(lab)))
        assert listed.total == MESSAGES
        assert (listed.by_queue["hold"], listed.by_queue["deferred"]) == (1, MESSAGES - 1)
    finally:
        lab.release(queue_id)
        lab.wait_for_deferred(MESSAGES)


def test_the_queue_drains_with_a_sane_estimate(
    postfix_queue_lab: PostfixQueueLab, injected: float
) -> None:
    lab = postfix_queue_lab
    source = postqueue_source(lab, warn=100)
    history = QueueHistory(source, "primary")
    events: list[QueueEvent] = []
    observed: list[tuple[datetime, int, TrendKind, float | None]] = []
    events += record(history, read(source))  # before the drain: full
    with lab.sink(delay_s=SINK_DELAY_S) as sink:
        lab.flush()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            events += record(history, read(source))
            sample = sample_of(history.latest)  # type: ignore[arg-type]
            trend = history.trend()
            observed.append((sample.at, sample.total, trend.kind, trend.eta_s))
            if sample.total == 0:
                break
            time.sleep(0.15)
        received = sink.received
    totals = [total for _, total, _, _ in observed]
    assert totals[-1] == 0, f"the queue did not drain: {totals}\n{lab.log_tail()}"
    assert received == MESSAGES
    assert history.status() is Status.OK
    emptied_at = observed[-1][0]

    mid_drain = [
        (at, total, eta)
        for at, total, kind, eta in observed
        if kind is TrendKind.DRAINING and 0.2 * MESSAGES <= total <= 0.8 * MESSAGES
    ]
    assert len(mid_drain) >= 3, f"too few samples mid-drain to judge the estimate: {totals}"
    for at, total, eta in mid_drain:
        actually_left = (emptied_at - at).total_seconds()
        assert eta is not None and eta > 0
        assert actually_left / 10 <= eta <= actually_left * 10, (total, eta, actually_left)
    assert all(kind is not TrendKind.GROWING for _, _, kind, _ in observed)

    # The incident log learns the backlog crossed warn at MESSAGES, and when it fell back.
    kinds = [event.kind for event in events]
    assert kinds == ["depth_up", "depth_down"]
    up, down = events
    assert up.data["total"] == MESSAGES and up.data["deferred"] == MESSAGES
    assert down.data["total"] < 100 and down.data["peak_total"] == MESSAGES
