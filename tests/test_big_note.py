"""Typed text the log cannot take is never lost and never garbled: a note longer than an entry
stays in its form (or, from a form that cannot tell, is kept as a draft: a draft holds what
the log refuses), and `cockpit log` refuses an argument that is not UTF-8 with a clear error
instead of writing invalid UTF-8 into the log. Real files, real processes, real pilot runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label

from cockpit.errors import LogWriteError
from cockpit.incident.drafts import MAX_DRAFT_BYTES, list_drafts, save_draft
from cockpit.incident.entry import (
    MAX_ENTRY_BYTES,
    MAX_TEXT_BYTES,
    Entry,
    text_too_long,
    utc_now,
)
from cockpit.incident.log import IncidentLog, read_log
from cockpit.ui.app import CockpitApp
from cockpit.ui.checklist_pane import TextPrompt
from cockpit.ui.record_forms import NoteForm
from tests.pilot_wait import wait_for
from tests.test_ui_app import make_app, write_incident
from tests.test_ui_drafts import entries, only_draft, opened, toasts, type_decision
from tests.test_ui_record import open_note

pytestmark = pytest.mark.anyio

PASTED = "deferred: connect to mx2.example.net[192.0.2.7]:25: Connection timed out; " * 4700
"""A pasted log excerpt of about 350 KB: more than one entry takes."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "inc.jsonl"
    write_incident(path)
    return path


async def submit_a_pasted_note(pilot: Pilot[None], app: CockpitApp) -> NoteForm:
    """Open the note form on a loaded screen, paste PASTED, press Enter; the form."""
    await opened(pilot, app)
    form = await open_note(pilot, app)
    form.query_one("#note-text", Input).value = PASTED
    form.query_one("#note-text", Input).focus()
    await pilot.press("enter")
    return form


# ---- too long ---------------------------------------------------------------------------------


def test_a_draft_keeps_a_note_the_log_refused_for_its_size(path: Path) -> None:
    assert len(PASTED.encode()) > MAX_ENTRY_BYTES
    with pytest.raises(LogWriteError, match="larger than the 262144-byte limit"):
        IncidentLog(path).append("note", PASTED, author="alice")
    fields = {"text": PASTED, "key": "", "lesson": ""}
    save_draft(path, "note", fields, author="alice", why="could not write: too long")
    (draft,) = list_drafts(path).drafts
    assert draft.fields == fields
    # A draft has a bound of its own, well above any entry.
    assert MAX_DRAFT_BYTES >= 8 * MAX_ENTRY_BYTES


def test_text_too_long_says_how_long_and_what_fits() -> None:
    assert text_too_long("x" * MAX_TEXT_BYTES) is None
    said = text_too_long("x" * (MAX_TEXT_BYTES + 1))
    assert said is not None
    assert f"{MAX_TEXT_BYTES + 1:,} bytes" in said and f"at most {MAX_TEXT_BYTES:,}" in said
    assert text_too_long("\x01" * (MAX_TEXT_BYTES // 6 + 1)) is not None  # escapes count


async def test_a_note_too_long_keeps_the_form_open_with_the_text(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await submit_a_pasted_note(pilot, app)
        await pilot.pause(0.3)
        assert isinstance(app.screen, NoteForm), "the form closed with the text"
        assert form.query_one("#note-text", Input).value == PASTED
        said = str(form.query_one("#note-error", Label).render())
        assert "Too long for one log entry" in said
        assert toasts(app, "not written") == []
        # Shortened, it is written.
        form.query_one("#note-text", Input).value = PASTED[:1000]
        await pilot.press("enter")
        await wait_for(pilot, "the note", lambda: len(entries(path)) == len(before) + 1, 5)
    assert entries(path)[-1].text == PASTED[:1000].strip()


async def test_quitting_with_a_too_long_note_open_keeps_it_as_a_draft(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await submit_a_pasted_note(pilot, app)
        await pilot.pause(0.2)
        app.exit()
    assert entries(path) == before
    draft = only_draft(path)
    assert (draft.kind, draft.fields["text"]) == ("note", PASTED)


async def test_a_decision_too_long_is_refused_by_the_log_and_kept_as_a_draft(path: Path) -> None:
    """The decision form cannot tell the size: the log refuses it, the draft keeps it, and
    the toast says both, once."""
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await type_decision(pilot, app, PASTED)
        await pilot.press("enter")
        await wait_for(pilot, "the toast", lambda: bool(toasts(app, "not written")), 10)
        (toast,) = toasts(app, "not written")
        assert toast.startswith("decision not written: ")
        assert "larger than the 262144-byte limit" in toast
        assert toast.endswith("kept as a draft beside the log")
    assert entries(path) == before
    draft = only_draft(path)
    assert (draft.kind, draft.fields["text"]) == ("decision", PASTED.strip())


async def test_a_one_line_prompt_keeps_a_text_too_long_open(path: Path) -> None:
    before = entries(path)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, "the role prompt", lambda: isinstance(app.screen, TextPrompt), 5)
        prompt = app.screen
        typed = "commander " + PASTED
        prompt.query_one("#prompt-input", Input).value = typed
        prompt.query_one("#prompt-input", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen is prompt
        assert prompt.query_one("#prompt-input", Input).value == typed
        assert "Too long for one log entry" in str(
            prompt.query_one("#prompt-error", Label).render()
        )
    assert entries(path) == before


# ---- not UTF-8 --------------------------------------------------------------------------------

LATIN_1 = b"caf\xe9 au lait: r\xe9gion bascul\xe9e"


def cockpit_log(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    env.pop("COCKPIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "cockpit", "log", *args],
        capture_output=True,
        env=env,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param((LATIN_1,), "TEXT", id="text"),
        pytest.param((b"fail over", b"--decision", b"--why", LATIN_1), "--why", id="why"),
        pytest.param((b"note", b"--author", b"ren\xe9"), "--author", id="author"),
    ],
)
def test_cockpit_log_refuses_an_argument_that_is_not_utf8(
    tmp_path: Path, args: tuple[bytes, ...], named: str
) -> None:
    path = tmp_path / "inc.jsonl"
    IncidentLog(path).append("note", "first", author="alice")
    before = path.read_bytes()
    done = cockpit_log(str(path).encode(), *args)
    assert done.returncode == 2
    err = done.stderr.decode("utf-8")
    assert err.startswith(f"cockpit: error: {named} is not valid UTF-8 (byte 0x")
    assert "the incident log takes UTF-8 text only" in err and "nothing was written" in err
    assert "Traceback" not in err
    assert done.stdout == b""
    assert path.read_bytes() == before
    # The same, typed on a UTF-8 terminal, is written as typed.
    done = cockpit_log(str(path).encode(), *(arg.decode("latin-1").encode() for arg in args))
    assert done.returncode == 0, done.stderr
    result = read_log(path)
    assert len(result.entries) == 2 and result.problems == []
    assert "é" in result.entries[-1].text + result.entries[-1].author + str(result.entries[-1].data)


def test_an_entry_line_is_always_valid_utf8_and_reads_back_the_same() -> None:
    """A lone surrogate (a string read back from a line that held its escape) is written as
    that JSON escape, never as bytes that are not UTF-8."""
    text = "caf\udce9 \ud800 ok é"
    entry = Entry(1, utc_now(), "alice\udcff", {"host": "h"}, "note", text, {"k": "v\udc80"})
    line = entry.to_json_line()
    decoded = line.decode("utf-8")  # raises if not UTF-8
    record = json.loads(decoded)
    assert (record["text"], record["author"], record["data"]) == (
        text,
        "alice\udcff",
        {"k": "v\udc80"},
    )
