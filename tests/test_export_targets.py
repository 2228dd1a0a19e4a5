"""No export is ever written over the incident's own files: `cockpit export -o` and the
screen's export refuse the log itself, its lock, mark, probe-writer lock, config, drafts and
recovery files, and say which. Real files, real `cockpit` processes, a real pilot run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.errors import OutputFileError
from cockpit.incident.drafts import drafts_dir, save_draft
from cockpit.incident.log import IncidentLog, read_log
from cockpit.incident.probe_writer import ProbeWriterLock
from cockpit.ui.incident_actions import export_target, write_export
from tests.conftest import run_cockpit
from tests.pilot_wait import wait_for
from tests.test_ui_app import make_app, write_incident

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A log with every file an incident keeps beside it."""
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    for text in ("one", "fail over to secondary", "three"):
        log.append("note", text, author="alice")
    writer = ProbeWriterLock(path)
    assert writer.try_hold()
    writer.release()
    path.with_name("inc.jsonl.config.toml").write_text("[domain]\nname = 'example.com'\n")
    save_draft(path, "note", {"text": "typed"}, author="alice", why="could not write")
    path.with_name("inc.jsonl.recovered-20261127T143005Z.jsonl").write_bytes(path.read_bytes())
    return path


def the_draft(log_path: Path) -> Path:
    (draft,) = [name for name in os.listdir(drafts_dir(log_path)) if not name.startswith(".")]
    return drafts_dir(log_path) / draft


OWN_FILES = [
    pytest.param("inc.jsonl", "the incident log itself", id="log"),
    pytest.param("inc.jsonl.lock", "the incident log's lock file (inc.jsonl.lock)", id="lock"),
    pytest.param("inc.jsonl.mark", "the incident log's mark", id="mark"),
    pytest.param("inc.jsonl.probes.lock", "the probe writers' lock file", id="probes-lock"),
    pytest.param("inc.jsonl.config.toml", "the incident's own config", id="config"),
    pytest.param(
        "inc.jsonl.recovered-20261127T143005Z.jsonl",
        "a recovery file of the incident log",
        id="recovered",
    ),
    pytest.param("sub/../inc.jsonl.mark", "the incident log's mark", id="dotdot"),
]


@pytest.mark.parametrize(("name", "said"), OWN_FILES)
def test_export_o_refuses_every_file_of_the_incident_and_says_which(
    log_path: Path, name: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (log_path.parent / "sub").mkdir()
    target = log_path.parent / name
    before = {path.name: path.read_bytes() for path in log_path.parent.iterdir() if path.is_file()}
    assert main(["export", str(log_path), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write -o {target}: that is {said}" in err
    assert "an export never replaces the incident's own files: choose another file" in err
    after = {path.name: path.read_bytes() for path in log_path.parent.iterdir() if path.is_file()}
    assert after == before
    assert read_log(log_path).problems == []


def test_export_o_refuses_a_draft_a_hard_link_and_a_side_file_not_made_yet_only(
    tmp_path: Path, log_path: Path
) -> None:
    draft = the_draft(log_path)
    kept = draft.read_bytes()
    hard_link = tmp_path / "copy-of-the-log.jsonl"
    os.link(log_path, hard_link)
    log_before = log_path.read_bytes()
    (tmp_path / "inc.jsonl.probes.lock").unlink()
    for target, said in (
        (draft, "a file in the incident's drafts directory (inc.jsonl.drafts)"),
        (hard_link, "the incident log itself"),
        (tmp_path / "inc.jsonl.probes.lock", "the probe writers' lock file"),
    ):
        done = run_cockpit("export", str(log_path), "-o", str(target))
        assert done.returncode == 2, done.stderr
        assert f"that is {said}" in done.stderr
        assert "Traceback" not in done.stderr
    assert draft.read_bytes() == kept
    assert log_path.read_bytes() == log_before
    assert not (tmp_path / "inc.jsonl.probes.lock").exists()
    # A name that only starts like the log's is no file of the incident.
    done = run_cockpit("export", str(log_path), "-o", str(tmp_path / "inc.jsonl.review.md"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "inc.jsonl.review.md").read_text().startswith("# Post-incident review")


def test_the_mark_survives_an_export_aimed_at_it_and_still_catches_a_loss(
    tmp_path: Path,
) -> None:
    """What the refusal protects: with the mark replaced by a review, a log later replaced by
    an older copy went unnoticed and the next writer reused an acknowledged seq."""
    path = tmp_path / "inc.jsonl"
    log = IncidentLog(path)
    log.append("note", "one", author="alice")
    older = path.read_bytes()
    log.append("decision", "fail over to secondary", author="alice")
    done = run_cockpit("export", str(path), "-o", str(tmp_path / "inc.jsonl.mark"))
    assert done.returncode == 2
    path.write_bytes(older)  # the log replaced by its older copy
    problems = [str(problem) for problem in read_log(path).problems]
    assert any("has lost acknowledged entries" in problem for problem in problems), problems


def test_the_screen_export_target_is_never_the_log(tmp_path: Path) -> None:
    assert export_target(tmp_path / "inc.jsonl") == tmp_path / "inc.md"
    assert export_target(tmp_path / "notes.md") == tmp_path / "notes.md.md"
    assert export_target(tmp_path / "inc") == tmp_path / "inc.md"


@pytest.mark.parametrize("suffix", ["", ".mark", ".lock"])
def test_write_export_refuses_the_log_and_its_files(log_path: Path, suffix: str) -> None:
    target = log_path.with_name(log_path.name + suffix)
    before = target.read_bytes()
    with pytest.raises(OutputFileError, match="an export never replaces the incident's own"):
        write_export(log_path, target)
    assert target.read_bytes() == before


async def test_e_on_a_log_named_md_writes_beside_it_and_leaves_the_log(tmp_path: Path) -> None:
    path = tmp_path / "eu-outage-notes.md"
    write_incident(path)
    before = path.read_bytes()
    app = make_app(path)
    review = tmp_path / "eu-outage-notes.md.md"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, "the export's toast", lambda: bool(app._notifications), 10)
        messages = [str(n.message) for n in app._notifications]
        assert any(str(review) in message for message in messages), messages
    assert path.read_bytes() == before
    assert read_log(path).problems == []
    assert review.read_text(encoding="utf-8").startswith("# Post-incident review: EU storage")
