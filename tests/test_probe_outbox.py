"""Probe entries reach the log once: queued until the log shows them, matched by identity and
observation time, written by the writer at once and by another cockpit only when the log still
lacks them; bounded; hostile log data changes nothing. Real log files throughout."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.incident.log import IncidentLog
from cockpit.incident.probe_log import ProbeEntry, ProbeLogger
from cockpit.incident.probe_outbox import LATE_S, NOT_KEPT_EVENT, ProbeOutbox

T0 = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def to(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


def change(source: str, status: str) -> ProbeEntry:
    """A check-area change, as finding_changes makes them."""
    data = {"area": "service", "event": "status_changed", "status": status, "subject": source}
    return ProbeEntry(f"{source} now {status}", data | {"dedupe_key": f"service|{source}"})


class Cockpit:
    """One cockpit's logger and outbox on a shared clock."""

    def __init__(self, clock: Clock, **outbox: Any) -> None:
        self.logger = ProbeLogger(clock=clock, burst=None, min_interval_s=0)
        settings = {"window_s": 30.0, "grace_s": 60.0} | outbox
        self.outbox = ProbeOutbox(clock=clock, **settings)

    def sees(self, *changes: ProbeEntry) -> None:
        self.outbox.put(self.logger.offer(changes))

    def write(self, log: IncidentLog, *, writer: bool) -> list[Any]:
        written = log.append_built(
            lambda entries: self.outbox.build(entries, writer=writer), author="cockpit"
        )
        self.outbox.written(written)
        return written


def statuses(log: IncidentLog, subject: str) -> list[str]:
    return [
        entry.data["status"]
        for entry in log.read().entries
        if entry.kind == "probe" and entry.data.get("subject") == subject
    ]


def test_the_writer_writes_at_once_and_once(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    one = Cockpit(clock)
    one.sees(change("mx1", "fail"))
    assert one.outbox.due(writer=True) and one.outbox.waiting == 1
    assert len(one.write(log, writer=True)) == 1
    assert one.outbox.waiting == 0 and not one.outbox.due(writer=True)
    assert one.write(log, writer=True) == []
    assert statuses(log, "mx1") == ["fail"]


def test_another_cockpit_leaves_to_the_writer_what_the_writer_wrote(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    writer, other = Cockpit(clock), Cockpit(clock)
    writer.sees(change("mx1", "fail"))
    clock.to(3)  # the other cockpit's run came a little later
    other.sees(change("mx1", "fail"))
    writer.write(log, writer=True)
    assert not other.outbox.due(writer=False)  # within the grace: the writer's to write
    clock.to(70)
    assert other.outbox.due(writer=False)
    assert other.write(log, writer=False) == []  # the log holds it: nothing more
    assert other.outbox.waiting == 0
    assert statuses(log, "mx1") == ["fail"]


def test_a_change_only_another_cockpit_saw_is_written_by_it_after_the_grace(
    tmp_path: Path,
) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    other = Cockpit(clock)
    other.sees(change("mx1", "fail"))
    clock.to(59)
    assert other.write(log, writer=False) == []
    clock.to(61)
    (entry,) = other.write(log, writer=False)
    # written 61 s after it was seen: it says when it was seen
    assert entry.data["at"] == T0.isoformat() and entry.data["observed_at"] == T0.isoformat()
    assert statuses(log, "mx1") == ["fail"]


def test_the_survivor_of_a_takeover_writes_exactly_what_the_log_lacks(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    dead, survivor = Cockpit(clock), Cockpit(clock)
    for second, status in enumerate(("fail", "ok", "fail", "ok")):
        clock.to(second * 4)
        dead.sees(change("mx1", status))
        clock.to(second * 4 + 1)
        survivor.sees(change("mx1", status))
        if second < 2:
            dead.write(log, writer=True)  # the writer wrote the first two, then died
    clock.to(17)
    survivor.write(log, writer=True)
    assert statuses(log, "mx1") == ["fail", "ok", "fail", "ok"]
    assert survivor.outbox.waiting == 0


def test_one_logged_change_vouches_for_one_queued_change(tmp_path: Path) -> None:
    """B, A, B: the first B in the log does not cover the second B (the nearest is taken)."""
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    dead, survivor = Cockpit(clock), Cockpit(clock)
    dead.sees(change("mx1", "fail"))
    dead.write(log, writer=True)
    clock.to(1)
    survivor.sees(change("mx1", "fail"))
    clock.to(5)
    survivor.sees(change("mx1", "ok"))
    clock.to(10)
    survivor.sees(change("mx1", "fail"))
    survivor.write(log, writer=True)
    assert statuses(log, "mx1") == ["fail", "ok", "fail"]


def test_nothing_leaves_the_queue_while_writing_fails(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    one = Cockpit(clock)
    one.sees(change("mx1", "fail"))
    path.mkdir()  # the log cannot be written (a directory sits in its place)
    with pytest.raises(Exception, match="not a regular file|Is a directory"):
        one.write(log, writer=True)
    assert one.outbox.waiting == 1
    clock.to(2)
    one.sees(change("mx2", "fail"))
    path.rmdir()
    clock.to(30)
    written = one.write(log, writer=True)
    assert [entry.data["subject"] for entry in written] == ["mx1", "mx2"]
    assert written[0].data["at"] == T0.isoformat()  # its own observation time
    assert one.outbox.waiting == 0


def test_the_queue_keeps_the_oldest_and_counts_the_rest(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    one = Cockpit(clock, limit=3)
    for number in range(5):
        clock.to(number)
        one.sees(change(f"mx{number}", "fail"))
    assert one.outbox.waiting == 5  # 3 kept, 2 counted
    written = one.write(log, writer=True)
    assert [entry.data.get("subject") for entry in written[:3]] == ["mx0", "mx1", "mx2"]
    notice = written[3]
    assert notice.data["event"] == NOT_KEPT_EVENT and notice.data["count"] == 2
    assert notice.data["since"] == (T0 + timedelta(seconds=3)).isoformat()
    assert "2 probe changes" in notice.text and "may lack them" in notice.text
    assert one.outbox.waiting == 0
    assert one.write(log, writer=True) == []


def test_a_burst_is_folded_and_the_summary_covers_its_changes(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    writer = Cockpit(clock, burst=3)
    other = Cockpit(clock, burst=3)
    burst = [change(f"mx{number}", "fail") for number in range(6)]
    writer.sees(*burst)
    other.sees(*burst)
    written = writer.write(log, writer=True)
    assert len(written) == 3 and written[-1].data["event"] == "folded"
    assert len(written[-1].data["covers"]) == 4
    clock.to(90)
    assert other.write(log, writer=True) == []  # every one of the six is in the log


def test_changes_seen_apart_are_written_apart(tmp_path: Path) -> None:
    """A backlog is not one burst: each offer keeps its own entries."""
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    one = Cockpit(clock, burst=2)
    for number in range(4):
        clock.to(number * 10)
        one.sees(change(f"mx{number}", "fail"))
    assert [entry.data["event"] for entry in one.write(log, writer=True)] == ["status_changed"] * 4


HOSTILE_DATA: list[dict[str, Any]] = [
    {"probe_id": 7, "observed_at": T0.isoformat()},
    {"probe_id": "x", "observed_at": "not a time"},
    {"probe_id": "x", "observed_at": "2026-12-05T10:00:00"},  # no zone
    {"probe_id": "x", "observed_at": "9" * 500},
    {"covers": "everything"},
    {"covers": [["x"], [1, 2], ["x", None], None, ["x", "2026-13-45T99:00:00+00:00"]]},
]


@pytest.mark.parametrize("data", HOSTILE_DATA, ids=range(len(HOSTILE_DATA)))
def test_hostile_probe_entries_in_the_log_cover_nothing(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    log.append("probe", "written by someone else", data, author="mallory")
    one = Cockpit(clock)
    one.sees(change("mx1", "fail"))
    assert len(one.write(log, writer=True)) == 1


def test_a_replaced_log_is_indexed_again(tmp_path: Path) -> None:
    clock = Clock()
    one = Cockpit(clock)
    first = IncidentLog(tmp_path / "a.jsonl")
    for number in range(3):
        first.append("note", f"n{number}", author="a")
    one.sees(change("mx1", "fail"))
    one.write(first, writer=True)
    second = IncidentLog(tmp_path / "b.jsonl")  # shorter: its seqs start again
    one.sees(change("mx1", "ok"))
    assert [entry.seq for entry in one.write(second, writer=True)] == [1]


def test_a_late_write_says_when_it_was_seen_and_a_prompt_one_does_not(tmp_path: Path) -> None:
    clock, log = Clock(), IncidentLog(tmp_path / "inc.jsonl")
    one = Cockpit(clock)
    one.sees(change("mx1", "fail"))
    clock.to(LATE_S - 1)
    (prompt,) = one.write(log, writer=True)
    assert "at" not in prompt.data
    one.sees(change("mx1", "ok"))
    clock.to(2 * LATE_S + 1)
    (late,) = one.write(log, writer=True)
    assert late.data["at"] == (T0 + timedelta(seconds=LATE_S - 1)).isoformat()
