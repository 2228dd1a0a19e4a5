"""Issue 13, a log that fails under the screen (Textual pilot, real files): replaced by an older
copy, truncated or deleted, the screen keeps its lines and the state it showed, names the lost
entries once, and `w` writes them to a 0600 recovery file (refused in --read-only); when the
file holds them all again it says so and follows. A torn tail stays a warning. A log that
cannot be read (a directory or a FIFO where the file was) is said once, retried on its own
with a growing pause, and its end said once."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

import cockpit.ui.app
import cockpit.ui.timeline_pane as timeline_pane
from cockpit.incident.log import IncidentLog, read_log
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.header import IncidentHeader
from cockpit.ui.timeline_pane import READ_ONLY_RECOVERY, TimelinePane
from tests.big_log import write_big_log
from tests.full_disk import fill, small_tmpfs
from tests.pilot_wait import wait_for

pytestmark = pytest.mark.anyio

SIZE = (160, 50)
ENTRIES = 45
KEPT_BY_OLDER_COPY = 30
KEPT_BY_TRUNCATION = 20
LAST_TEXT = "the last note before the loss"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingApp(CockpitApp):
    """The cockpit, keeping every notification it showed (toasts time out)."""

    CSS_PATH = str(Path(cockpit.ui.app.__file__).with_name("cockpit.tcss"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.said: list[tuple[str, str]] = []

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.said.append((str(kwargs.get("severity", "information")), str(message)))
        super().notify(message, **kwargs)

    def toasts(self, containing: str, severity: str | None = None) -> list[str]:
        return [
            text
            for level, text in self.said
            if containing in text and (severity is None or level == severity)
        ]


def make_app(path: Path, **kwargs: Any) -> RecordingApp:
    return RecordingApp(path, author="alice", config=None, probes=False, **kwargs)


def write_log(path: Path, older_copy: Path | None = None) -> None:
    """ENTRIES entries written by the real writer (and its mark); the state changes late
    (SEV1 at 31, the failover decision at 35), inside what the losses take away.
    `older_copy`: where to copy the log as it was after KEPT_BY_OLDER_COPY entries."""
    log = IncidentLog(path)
    log.append("system", "title set", {"event": "title", "title": "EU outage"}, author="bob")
    log.append("system", "severity SEV2", {"event": "severity", "severity": "SEV2"}, author="bob")
    log.append(
        "system",
        "alice takes the commander role",
        {"event": "role", "role": "commander", "holder": "alice"},
        author="alice",
    )
    log.append(
        "phase", "impact", {"phase": "impact", "at": "2026-11-27T14:00:00.000Z"}, author="bob"
    )
    log.append(
        "phase", "declared", {"phase": "declared", "at": "2026-11-27T14:10:00.000Z"}, author="bob"
    )
    for seq in range(6, ENTRIES + 1):
        if seq == KEPT_BY_OLDER_COPY + 1 and older_copy is not None:
            shutil.copyfile(path, older_copy)
        if seq == 31:
            log.append(
                "system", "severity SEV1", {"event": "severity", "severity": "SEV1"}, author="carol"
            )
        elif seq == 35:
            log.append(
                "decision",
                "Fail over to secondary",
                {"why": "storage down", "target_region": "secondary"},
                author="carol",
            )
        elif seq == ENTRIES:
            log.append("note", LAST_TEXT, author="bob")
        else:
            log.append("note", f"note number {seq}", author="bob")


def timeline_text(app: CockpitApp) -> str:
    return "\n".join(strip.text for strip in app.query_one(TimelinePane).lines)


def flat(text: str) -> str:
    """The timeline's text without its wrapping."""
    return " ".join(text.split())


def checklist_lines(app: CockpitApp) -> list[str]:
    options = app.query_one(ChecklistPane).query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


_CLOCK = re.compile(r"\b\d\d:\d\d UTC\b|\bT\+[\dd ]*\d+:\d\d\b")
"""The wall clock and the time since the start in the header: they move on their own (a minute
may turn over between two looks on a loaded machine), so the state compared leaves them out."""


def screen_state(app: CockpitApp) -> tuple[str, str, list[str]]:
    header = app.query_one(IncidentHeader)
    status = _CLOCK.sub("<clock>", str(header.status_text()))
    return header.title_text, status, checklist_lines(app)


def recovery_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.recovered-*.jsonl"))


async def loaded(pilot: Pilot[None], app: CockpitApp) -> TimelinePane:
    pane = app.query_one(TimelinePane)
    await wait_for(pilot, "the log read and drawn", lambda: pane.drawn, 20)
    await wait_for(pilot, "the last entry shown", lambda: LAST_TEXT in timeline_text(app), 10)
    return pane


# ---- losses ----------------------------------------------------------------------------------


def _replaced(path: Path, older: Path) -> None:
    os.replace(older, path)


def _truncated(path: Path, _older: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    with path.open("r+b") as handle:
        handle.truncate(sum(len(line) for line in lines[:KEPT_BY_TRUNCATION]))


def _deleted(path: Path, _older: Path) -> None:
    path.unlink()


def _put_back_by_rename(path: Path, saved: Path) -> None:
    os.replace(saved, path)


def _put_back_by_appending(path: Path, saved: Path) -> None:
    """The truncated file gets its lost lines back at its end (same file, same inode)."""
    have = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(saved.read_bytes()[have:])


LOSSES: list[Any] = [
    pytest.param(_replaced, _put_back_by_rename, KEPT_BY_OLDER_COPY, "replaced", id="replaced"),
    pytest.param(
        _truncated, _put_back_by_appending, KEPT_BY_TRUNCATION, "truncated", id="truncated"
    ),
    pytest.param(_deleted, _put_back_by_rename, 0, "removed", id="deleted"),
]


@pytest.mark.parametrize(("lose", "put_back", "kept", "why"), LOSSES)
async def test_a_lost_log_keeps_the_screen_names_the_loss_and_writes_a_recovery_file(
    tmp_path: Path,
    lose: Callable[[Path, Path], None],
    put_back: Callable[[Path, Path], None],
    kept: int,
    why: str,
) -> None:
    path = tmp_path / "incident.jsonl"
    older = tmp_path / "older.jsonl"
    write_log(path, older)
    saved = tmp_path / "saved.jsonl"
    shutil.copyfile(path, saved)
    original = path.read_bytes()
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot, app)
        before_text = timeline_text(app)
        before_state = screen_state(app)
        assert "SEV1" in before_state[1] and "target secondary" in before_state[1]
        assert not pane.recovery_offered

        lose(path, older)
        lost = f"lost entries #{kept + 1}..#{ENTRIES} ({ENTRIES - kept} entries)"
        await wait_for(pilot, "the loss named", lambda: lost in flat(timeline_text(app)), 10)
        assert pane.recovery_offered
        shown = flat(timeline_text(app))
        assert f"error: the incident log {lost} that this screen showed" in shown
        assert why in shown
        # The screen keeps what it showed: its lines, its entries, the header and checklist.
        assert timeline_text(app).startswith(before_text)
        assert [entry.text for entry in pane.entries][-1] == LAST_TEXT
        assert len(pane.entries) == ENTRIES
        assert screen_state(app) == before_state
        # The file holds nothing the screen did not show: nothing is listed under the loss.
        assert "the log file now holds" not in shown
        # The writers' mark (log_mark.py) says the same from its side, as an error too.
        marked = f"but entries up to seq {ENTRIES} were written"
        await wait_for(pilot, "the mark's error", lambda: marked in flat(timeline_text(app)), 5)

        # Said once, however many times the file is looked at (a new mtime makes it read again).
        if path.exists():
            os.utime(path)
        await pilot.pause(2 * timeline_pane.POLL_SECONDS + 0.3)
        assert flat(timeline_text(app)).count(lost) == 1
        assert len(app.toasts(lost, "error")) == 1
        assert flat(timeline_text(app)).count(marked) == 1
        assert len(app.toasts(marked, "error")) == 1
        assert screen_state(app) == before_state

        # w writes what the screen kept, exactly as it was written, to a new 0600 file.
        await pilot.press("w")
        await wait_for(pilot, "the recovery file written", lambda: bool(recovery_files(path)), 10)
        await wait_for(pilot, "it is said", lambda: "(0600)" in timeline_text(app), 10)
        (recovery,) = recovery_files(path)
        assert re.fullmatch(r"incident\.jsonl\.recovered-\d{8}T\d{6}Z\.jsonl", recovery.name)
        assert os.lstat(recovery).st_mode & 0o777 == 0o600
        assert recovery.read_bytes() == original
        assert [e.text for e in read_log(recovery).entries][-1] == LAST_TEXT
        assert not read_log(recovery).problems
        written = f"{ENTRIES} entries this screen showed written to {recovery} (0600)"
        assert "".join(written.split()) in "".join(timeline_text(app).split())  # wrapped anywhere
        assert len(app.toasts(recovery.name)) == 1

        # The file holds every entry again: said once, and the screen follows it.
        put_back(path, saved)
        again = "the incident log holds every entry this screen showed again: following it"
        await wait_for(pilot, "the file whole again", lambda: again in timeline_text(app), 10)
        assert not pane.recovery_offered
        IncidentLog(path).append("note", "written after the file came back", author="dave")
        await wait_for(
            pilot,
            "the new entry followed",
            lambda: "written after the file came back" in timeline_text(app),
            10,
        )
        await pilot.pause(2 * timeline_pane.POLL_SECONDS)
        assert timeline_text(app).count(again) == 1
        assert len(app.toasts("holds every entry this screen showed again")) == 1
        assert len(pane.entries) == ENTRIES + 1
        assert flat(timeline_text(app)).count(lost) == 1
    assert recovery_files(path) == [recovery]


async def test_a_log_replaced_by_a_big_other_log_keeps_the_kept_lines_in_sight(
    tmp_path: Path,
) -> None:
    """Another incident's log, far longer than the pane, renamed over this one: only the
    newest FILE_ENTRIES_UNDER_LOSS of it are listed, so the kept lines and the error stay."""
    path = tmp_path / "incident.jsonl"
    write_log(path)
    other = tmp_path / "other.jsonl"
    write_big_log(other, 3_000)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot, app)
        state = screen_state(app)
        os.replace(other, path)
        await wait_for(pilot, "the loss named", lambda: pane.recovery_offered, 10)
        await wait_for(pilot, "drawn", lambda: not pane.drawing, 10)
        shown = flat(timeline_text(app))
        assert f"error: the incident log lost entries #1..#{ENTRIES} ({ENTRIES} entries)" in shown
        assert LAST_TEXT in shown and "note number 6" in shown  # the kept lines are still there
        left_out = 3_000 - timeline_pane.FILE_ENTRIES_UNDER_LOSS
        assert f"the log file now holds (not part of what this screen keeps); {left_out:,}" in shown
        assert "the last entry of the big log" in shown
        assert f"#{left_out} " not in shown and f"#{left_out + 1} " in shown
        assert screen_state(app) == state
        assert [entry.text for entry in pane.entries][-1] == LAST_TEXT


async def test_a_read_only_viewer_names_the_loss_but_writes_no_recovery_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "incident.jsonl"
    write_log(path)
    app = make_app(path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot, app)
        _truncated(path, path)
        await wait_for(pilot, "the loss named", lambda: pane.recovery_offered, 10)
        await pilot.press("w")
        await wait_for(pilot, "the refusal", lambda: bool(app.toasts(READ_ONLY_RECOVERY)), 5)
        assert app.toasts(READ_ONLY_RECOVERY, "warning")
        await pilot.pause(0.3)
        assert recovery_files(path) == []
        assert pane.recovery_offered  # still on offer to a cockpit that may write


async def test_a_torn_tail_is_a_warning_not_a_loss(tmp_path: Path) -> None:
    path = tmp_path / "incident.jsonl"
    write_log(path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot, app)
        state = screen_state(app)
        with path.open("ab") as handle:  # a writer died half way through its line
            handle.write(b'{"seq": 46, "ts": "2026-11-27T15:00:00.000Z", "auth')
        await pilot.pause(2 * timeline_pane.POLL_SECONDS + 0.5)
        assert not pane.recovery_offered
        assert "lost" not in timeline_text(app)
        # The next writer fences the fragment off; the screen follows with a warning only.
        IncidentLog(path).append("note", "after the torn tail", author="dave")
        await wait_for(
            pilot, "the next entry", lambda: "after the torn tail" in timeline_text(app), 10
        )
        shown = flat(timeline_text(app))
        assert "left by an interrupted writer, recovered at seq 46" in shown
        await pilot.pause(2 * timeline_pane.POLL_SECONDS)
        assert not pane.recovery_offered
        assert "lost" not in timeline_text(app) and "error" not in timeline_text(app)
        assert not [text for severity, text in app.said if severity == "error"]
        assert screen_state(app)[0] == state[0]
        assert len(pane.entries) == ENTRIES + 2  # the recovery entry and the note
        assert read_log(path).errors == []


async def test_a_recovery_file_refused_by_a_full_disk_is_said_and_can_be_tried_again(
    tmp_path: Path,
) -> None:
    """A real full disk (a small tmpfs, filled): `w` says why nothing was written, leaves no
    file, keeps the offer; once there is room, `w` writes the whole file."""
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        path = disk / "incident.jsonl"
        write_log(path)
        original = path.read_bytes()
        app = make_app(path)
        async with app.run_test(size=SIZE) as pilot:
            pane = await loaded(pilot, app)
            _truncated(path, path)
            await wait_for(pilot, "the loss named", lambda: pane.recovery_offered, 10)
            filler = fill(disk)
            await pilot.press("w")
            refused = "recovery file not written"
            await wait_for(pilot, "the refusal", lambda: refused in timeline_text(app), 10)
            shown = flat(timeline_text(app))
            assert "No space left on device" in shown and "nothing was kept" in shown
            assert len(app.toasts(refused, "error")) == 1
            assert recovery_files(path) == [] and pane.recovery_offered
            filler.unlink()
            await pilot.press("w")
            await wait_for(pilot, "written", lambda: "(0600)" in timeline_text(app), 10)
            (recovery,) = recovery_files(path)
            assert recovery.read_bytes() == original


# ---- read errors -----------------------------------------------------------------------------


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _remove(path: Path) -> None:
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink()


UNREADABLE: list[Any] = [
    pytest.param(_directory, id="directory"),
    pytest.param(_fifo, id="fifo"),
]

FIRST, MOST = 0.1, 0.8
"""The retry pauses for these tests (the pane's defaults are RETRY_FIRST_SECONDS 0.5 up to
RETRY_MAX_SECONDS 5): the same doubling, in a fraction of the time."""


@pytest.mark.parametrize("unreadable", UNREADABLE)
async def test_a_read_error_is_said_once_retried_with_a_growing_pause_and_its_end_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable: Callable[[Path], None]
) -> None:
    monkeypatch.setattr(timeline_pane, "RETRY_FIRST_SECONDS", FIRST)
    monkeypatch.setattr(timeline_pane, "RETRY_MAX_SECONDS", MOST)
    path = tmp_path / "incident.jsonl"
    write_log(path)
    aside = tmp_path / "aside.jsonl"
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot, app)
        state = screen_state(app)
        failures: list[float] = []
        failed = pane._failed

        def counting(reason: str) -> None:
            failures.append(time.monotonic())
            failed(reason)

        pane._failed = counting  # type: ignore[method-assign]  # counts the real attempts
        pauses: list[float] = []  # the pauses the pane asked for, exactly
        set_timer = pane.set_timer

        def recording(delay: float, callback: Any = None, **kwargs: Any) -> Any:
            if callback in (pane._poll_now, pane._load_again):
                pauses.append(delay)
            return set_timer(delay, callback, **kwargs)

        pane.set_timer = recording  # type: ignore[method-assign]

        os.rename(path, aside)
        unreadable(path)
        said = "cannot read the incident log: not a regular file"
        await wait_for(pilot, "the error said", lambda: said in timeline_text(app), 10)
        assert pane.read_error is not None and "not a regular file" in pane.read_error
        await wait_for(pilot, "six attempts", lambda: len(failures) >= 6, 15)
        _remove(path)
        os.rename(aside, path)
        back = "the incident log can be read again"
        await wait_for(pilot, "the end said", lambda: back in timeline_text(app), 10)
        assert pane.read_error is None

        # Once each, on the timeline and as a toast, however many attempts failed.
        text = timeline_text(app)
        assert flat(text).count(said) == 1 and text.count(back) == 1
        assert len(app.toasts(said, "error")) == 1
        assert len(app.toasts("The incident log can be read again")) == 1
        # The pause doubles from FIRST up to MOST: exactly what the pane asked for, and the
        # attempts really were at least that far apart (a loaded machine only adds to a gap).
        assert pauses[:5] == [min(FIRST * 2**index, MOST) for index in range(5)], pauses
        assert all(pause == MOST for pause in pauses[4:]), pauses
        gaps = [later - earlier for earlier, later in zip(failures, failures[1:], strict=False)]
        for index, gap in enumerate(gaps[:5]):
            expected = min(FIRST * 2**index, MOST)
            assert expected * 0.9 <= gap <= expected + 5.0, (index, gaps)

        # The same file came back: nothing was lost, the screen follows it.
        assert not pane.recovery_offered and "lost" not in text
        assert screen_state(app) == state
        IncidentLog(path).append("note", "after the read error", author="dave")
        await wait_for(
            pilot, "followed again", lambda: "after the read error" in timeline_text(app), 10
        )
        assert len(app.toasts(said)) == 1


async def test_a_log_unreadable_at_the_start_keeps_the_state_unknown_until_it_can_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timeline_pane, "RETRY_FIRST_SECONDS", FIRST)
    monkeypatch.setattr(timeline_pane, "RETRY_MAX_SECONDS", MOST)
    path = tmp_path / "incident.jsonl"
    aside = tmp_path / "aside.jsonl"
    write_log(path)
    before = path.read_bytes()
    os.rename(path, aside)
    path.mkdir()
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TimelinePane)
        header = app.query_one(IncidentHeader)
        said = "cannot read the incident log: not a regular file"
        await wait_for(pilot, "the error said", lambda: said in timeline_text(app), 10)
        await wait_for(
            pilot, "the header says so", lambda: "log unreadable" in str(header.render()), 5
        )
        assert not pane.state_known and app.query_one(ChecklistPane).loading
        assert "SEV" not in str(header.render()) and "no phase" not in str(header.render())
        await pilot.press("d")
        await wait_for(pilot, "the refusal", lambda: bool(app.toasts("record a decision")), 5)
        (refusal,) = app.toasts("record a decision", "warning")
        assert "Not yet: the incident log cannot be read" in refusal and "not a regular" in refusal
        assert len(app.screen_stack) == 1
        await pilot.pause(1.0)  # a few attempts fail

        path.rmdir()
        os.rename(aside, path)
        await wait_for(pilot, "the true state", lambda: "SEV1" in str(header.render()), 10)
        assert "target secondary" in str(header.render())
        await wait_for(pilot, "read and drawn", lambda: pane.drawn, 10)
        text = timeline_text(app)
        assert flat(text).count(said) == 1
        assert text.count("the incident log can be read again") == 1
        assert len(app.toasts(said, "error")) == 1
        assert LAST_TEXT in text
    assert path.read_bytes() == before
