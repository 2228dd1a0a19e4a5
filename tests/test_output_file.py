"""Files cockpit writes never replace what is not a regular file (cockpit.output_file).

`cockpit export -o PATH` runs as a whole process, as a user runs it (as root here, which is
when replacing /dev/null by a regular file used to happen). The screen's export, the drill's
files and drafts use the same rules through the same helper.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.drill.config import write_config_file
from cockpit.errors import OutputFileError, UsageError
from cockpit.incident.drafts import RESERVE_NAME, drafts_dir, reserve_space
from cockpit.output_file import OutputKind, not_replaceable, output_file, plan_output
from cockpit.ui.incident_actions import write_export
from tests.conftest import run_cockpit

EXPECTED_WORDS = "expected a file name"


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "eu-outage.jsonl"
    assert main(["log", str(path), "first"]) == 0
    assert main(["log", str(path), "declared", "--phase", "declared"]) == 0
    return path


@pytest.fixture
def markdown(log_path: Path) -> str:
    done = run_cockpit("export", str(log_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Post-incident review")
    return done.stdout


def export_to(log_path: Path, target: str | Path) -> tuple[int, str, str]:
    done = run_cockpit("export", str(log_path), "-o", str(target))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith("."))


# --- what may be written ------------------------------------------------------------------------


def test_a_new_file_and_a_regular_file_are_written_atomically(
    log_path: Path, markdown: str, tmp_path: Path
) -> None:
    target = tmp_path / "review.md"
    assert export_to(log_path, target)[0] == 0
    assert target.read_text(encoding="utf-8") == markdown
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    first_inode = target.stat().st_ino
    target.write_text("an older review\n")
    code, _, stderr = export_to(log_path, target)
    assert code == 0 and f"to {target}" in stderr
    assert target.read_text(encoding="utf-8") == markdown
    assert target.stat().st_ino != first_inode, "replaced by a rename, not rewritten in place"
    assert leftovers(tmp_path) == []


def test_dev_null_stays_a_character_device(log_path: Path) -> None:
    before = os.stat("/dev/null")
    dev_entries = set(os.listdir("/dev"))
    code, stdout, stderr = export_to(log_path, "/dev/null")
    assert code == 0, stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode), "the device node was replaced"
    assert (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)
    assert stdout == ""
    assert set(os.listdir("/dev")) == dev_entries, "no temporary file is left in /dev"


def test_a_fifo_is_written_directly_to_its_reader(
    log_path: Path, markdown: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "review.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read_all() -> None:
        with open(fifo, "rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    code, _, stderr = export_to(log_path, fifo)
    reader.join(timeout=10)
    assert code == 0, stderr
    assert not reader.is_alive() and received == [markdown.encode("utf-8")]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO is still a FIFO"
    assert leftovers(tmp_path) == []


def test_dash_is_standard_output(log_path: Path, markdown: str, tmp_path: Path) -> None:
    code, stdout, stderr = export_to(log_path, "-")
    assert code == 0 and stdout == markdown and "wrote" not in stderr
    assert not (tmp_path / "-").exists()


def test_dev_stdout_is_written_through_its_link(log_path: Path, markdown: str) -> None:
    """/dev/stdout is a symbolic link (to the pipe the test reads): a path the user typed may
    be a link to a FIFO or a character device."""
    code, stdout, stderr = export_to(log_path, "/dev/stdout")
    assert code == 0, stderr
    assert stdout == markdown


# --- what is refused ----------------------------------------------------------------------------


def test_a_directory_is_refused_with_what_where_and_what_was_expected(
    log_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "reviews"
    target.mkdir()
    code, stdout, stderr = export_to(log_path, target)
    assert code == 2 and stdout == ""
    assert f"cannot write -o {target}: it is a directory;" in stderr
    assert EXPECTED_WORDS in stderr and "/dev/null" in stderr
    assert os.listdir(target) == [] and leftovers(tmp_path) == []


def test_a_symlink_to_a_directory_is_refused(log_path: Path, tmp_path: Path) -> None:
    real = tmp_path / "reviews"
    real.mkdir()
    link = tmp_path / "latest"
    link.symlink_to(real)
    code, _, stderr = export_to(log_path, link)
    assert code == 2
    assert f"it is a symbolic link to the directory {real}" in stderr and EXPECTED_WORDS in stderr
    assert link.is_symlink() and os.listdir(real) == []


def test_a_symlink_to_a_file_is_refused_and_names_the_file(log_path: Path, tmp_path: Path) -> None:
    real = tmp_path / "inc-42.md"
    real.write_text("the review so far\n")
    link = tmp_path / "latest.md"
    link.symlink_to(real)
    code, _, stderr = export_to(log_path, link)
    assert code == 2
    assert f"it is a symbolic link to the file {real}" in stderr
    assert f"give {real} itself" in stderr
    assert link.is_symlink() and real.read_text() == "the review so far\n"
    # Given the file itself, it is written.
    assert export_to(log_path, real)[0] == 0 and real.read_text().startswith("# Post-incident")


def test_a_socket_is_refused(log_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "cockpit.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        code, _, stderr = export_to(log_path, path)
    assert code == 2 and "it is a socket;" in stderr
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_missing_directory_is_refused_before_any_work(log_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "review.md"
    code, _, stderr = export_to(log_path, target)
    assert code == 2
    assert f"cannot write -o {target}: its directory {target.parent} does not exist" in stderr
    assert not (tmp_path / "no").exists()


def test_refusals_exit_like_other_usage_errors(log_path: Path, tmp_path: Path) -> None:
    usage = run_cockpit("export", str(log_path), "--format", "nope")
    refused = export_to(log_path, tmp_path)
    assert refused[0] == 2 and usage.returncode == 2
    assert issubclass(OutputFileError, UsageError)


# --- the helper, and the other writers ---------------------------------------------------------


def test_a_link_to_a_device_is_followed_only_for_a_path_the_user_typed(tmp_path: Path) -> None:
    link = tmp_path / "sink"
    link.symlink_to("/dev/null")
    assert plan_output(link, named_by_user=True).kind is OutputKind.STREAM
    with pytest.raises(OutputFileError, match="which cockpit does not follow"):
        plan_output(link)
    assert plan_output("/dev/null").kind is OutputKind.STREAM
    assert plan_output("-").kind is OutputKind.STDOUT


def test_a_failure_inside_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "review.md"
    target.write_text("old\n")

    class Stop(Exception):
        pass

    with pytest.raises(Stop), output_file(target, encoding="utf-8") as handle:
        handle.write("half of a new")
        raise Stop
    assert target.read_text() == "old\n" and leftovers(tmp_path) == []


def test_a_fifo_cockpit_chose_without_a_reader_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "inc.md"
    os.mkfifo(fifo)
    with pytest.raises(OutputFileError, match="no process is reading"):
        with output_file(fifo) as handle:
            handle.write(b"x")


def test_the_screen_export_refuses_a_directory_and_keeps_dev_null(
    log_path: Path, tmp_path: Path
) -> None:
    target = log_path.with_suffix(".md")
    target.mkdir()
    with pytest.raises(OutputFileError, match="it is a directory"):
        write_export(log_path, target)
    assert target.is_dir() and os.listdir(target) == []
    write_export(log_path, Path("/dev/null"))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_drill_config_refuses_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "inc.jsonl.config.toml"
    target.mkdir()
    with pytest.raises(OutputFileError, match="it is a directory"):
        write_config_file(target, "[domain]\n")
    assert target.is_dir() and leftovers(tmp_path) == []


@pytest.fixture
def drafts(log_path: Path) -> Iterator[Path]:
    directory = drafts_dir(log_path)
    directory.mkdir(mode=0o700)
    yield directory


def test_a_fifo_in_place_of_the_draft_reserve_does_not_hang(drafts: Path, log_path: Path) -> None:
    os.mkfifo(drafts / RESERVE_NAME)
    outcome: list[str | None] = []
    worker = threading.Thread(target=lambda: outcome.append(reserve_space(log_path)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "reserve_space hung on a FIFO"
    assert outcome and outcome[0] is not None


def test_not_replaceable_names_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = {name: not_replaceable(name, dir_fd=fd) for name in ("file", "dir", "link", "none")}
    finally:
        os.close(fd)
    assert found == {
        "file": None,
        "dir": "a directory",
        "link": "a symbolic link",
        "none": None,
    }
