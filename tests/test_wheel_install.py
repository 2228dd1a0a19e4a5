"""A wheel carries everything the editable install has.

This checkout is built as `pipx install .` builds it (`pip wheel .`) and through its sdist (as
`python -m build` does), the wheel installed into a fresh virtualenv with its dependencies from
the configured package index, and the installed `cockpit` run there, away from the checkout:
its version, its help, every shipped theme (found with importlib.resources inside the
installed package) and a user's own, and a drill started in a terminal (tmux) and quit.

The builds and the install take about half a minute; every step has a time limit. Nothing is
skipped: without tmux the test fails under CI=true (tests.lab.missing_in_lab).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit import __version__
from cockpit.commands.drill_cmd import WORLD_STOPPED_EVENT
from cockpit.incident.log import read_log
from tests.conftest import PROJECT_ROOT
from tests.test_user_themes import CONFIG
from tests.test_war_room import Tmux, tmux  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

SHIPPED_THEMES = sorted(path.name for path in (PROJECT_ROOT / "themes").glob("*.toml"))
# What a checkout holds that is no part of the source a build reads.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",  # the other Pythons' (tests/run-other-pythons), set up while the suite runs
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "incidents",
    "cockpit.toml",
)
BUILD_SECONDS = 180
INSTALL_SECONDS = 300


@dataclass(frozen=True)
class Installed:
    """The built artefacts and the virtualenv the wheel went into."""

    source: Path
    sdist: Path
    wheel: Path
    wheel_from_sdist: Path
    venv: Path
    work: Path

    @property
    def cockpit(self) -> Path:
        return self.venv / "bin" / "cockpit"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user on a jump host: no checkout on the path, no config."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COCKPIT_DEBUG"}
        }
        env.update(
            HOME=str(self.work / "home"),
            XDG_CONFIG_HOME=str(self.work / "xdg"),
            COCKPIT_CONFIG="",
            LANG="C.UTF-8",
        )
        env.update(extra)
        return env

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.cockpit), *args],
            cwd=self.work / "home",
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )


def _step(argv: Sequence[str], *, cwd: Path, timeout: float) -> None:
    """One build or install step; its output only when it fails."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH"}}
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _only(directory: Path, pattern: str) -> Path:
    [found] = directory.glob(pattern)
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    # A copy: building writes build/ and *.egg-info beside the sources, and a stale build/lib
    # in the checkout would slip old files into the wheel.
    source = work / "src"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    python = sys.executable
    _step(
        [python, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(work / "dist")],
        cwd=work,
        timeout=BUILD_SECONDS,
    )
    _step(
        [python, "-m", "build", "--sdist", "--outdir", str(work / "sdist"), str(source)],
        cwd=work,
        timeout=BUILD_SECONDS,
    )
    sdist = _only(work / "sdist", "cockpit-*.tar.gz")
    _step(
        [python, "-m", "pip", "wheel", str(sdist), "--no-deps", "-w", str(work / "from-sdist")],
        cwd=work,
        timeout=BUILD_SECONDS,
    )
    wheel = _only(work / "dist", "cockpit-*.whl")
    venv = work / "venv"
    _step([python, "-m", "venv", str(venv)], cwd=work, timeout=BUILD_SECONDS)
    _step(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        cwd=work,
        timeout=INSTALL_SECONDS,
    )
    (work / "home").mkdir()
    return Installed(
        source=source,
        sdist=sdist,
        wheel=wheel,
        wheel_from_sdist=_only(work / "from-sdist", "cockpit-*.whl"),
        venv=venv,
        work=work,
    )


# --- what the artefacts carry --------------------------------------------------------------------


def test_the_wheel_carries_every_file_of_the_package_and_the_themes(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        for theme in SHIPPED_THEMES:
            packaged = wheel.read(f"cockpit/themes/{theme}")
            assert packaged == (PROJECT_ROOT / "themes" / theme).read_bytes()
    package_files = {
        path.relative_to(installed.source).as_posix()
        for path in (installed.source / "cockpit").rglob("*")
        if path.is_file()
    }
    # Everything an editable install reads from cockpit/ (code, styles, templates) is there.
    assert package_files - names == set()
    # Nothing outside the package: no top-level themes/ in site-packages.
    assert {name.split("/")[0] for name in names} == {
        "cockpit",
        f"cockpit-{__version__}.dist-info",
    }


def test_the_sdist_carries_the_theme_sources_and_builds_the_same_wheel(
    installed: Installed,
) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {f"themes/{theme}" for theme in SHIPPED_THEMES} <= names
    with (
        zipfile.ZipFile(installed.wheel) as from_tree,
        zipfile.ZipFile(installed.wheel_from_sdist) as from_sdist,
    ):
        assert sorted(from_sdist.namelist()) == sorted(from_tree.namelist())


# --- the installed command -----------------------------------------------------------------------


def test_the_installed_cockpit_says_its_version_and_its_help(installed: Installed) -> None:
    version = installed.run("--version")
    assert (version.returncode, version.stdout, version.stderr) == (
        0,
        f"cockpit {__version__}\n",
        "",
    )
    usage = installed.run("--help")
    assert usage.returncode == 0, usage.stderr
    assert "drill" in usage.stdout and "cockpit/themes" in usage.stdout
    assert "Traceback" not in usage.stderr


def test_the_installed_cockpit_reads_its_themes_from_the_package(installed: Installed) -> None:
    where = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "from cockpit.theme_data import shipped_themes_dir; print(shipped_themes_dir())",
        ],
        cwd=installed.work / "home",
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    shipped = Path(where.stdout.strip())
    assert shipped.parts[-2:] == ("cockpit", "themes")
    assert shipped.is_relative_to(installed.venv)


def test_the_installed_cockpit_knows_every_shipped_theme(installed: Installed) -> None:
    config = installed.work / "unknown-theme.toml"
    config.write_text(CONFIG.format(theme="nope"), encoding="utf-8")
    refused = installed.run("config", "check", "--config", str(config))
    assert refused.returncode == 2
    names = ", ".join(sorted(Path(theme).stem for theme in SHIPPED_THEMES))
    assert refused.stderr.endswith(f"unknown theme 'nope'; expected one of {names}\n")
    assert "Traceback" not in refused.stderr and "warning" not in refused.stderr

    config = installed.work / "light.toml"
    config.write_text(CONFIG.format(theme="light"), encoding="utf-8")
    accepted = installed.run("config", "check", "--config", str(config))
    assert (accepted.returncode, accepted.stderr) == (0, "")
    assert accepted.stdout.startswith("ok: ")


def test_the_installed_cockpit_takes_a_users_own_theme(installed: Installed) -> None:
    user_themes = installed.work / "own-xdg" / "cockpit" / "themes"
    user_themes.mkdir(parents=True)
    dark = (PROJECT_ROOT / "themes" / "dark.toml").read_text(encoding="utf-8")
    (user_themes / "night.toml").write_text(
        dark.replace('name = "dark"', 'name = "night"'), encoding="utf-8"
    )
    config = installed.work / "night.toml"
    config.write_text(CONFIG.format(theme="night"), encoding="utf-8")
    done = installed.run(
        "config", "check", "--config", str(config), XDG_CONFIG_HOME=str(installed.work / "own-xdg")
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_the_installed_cockpit_runs_a_drill_and_quits(
    installed: Installed,
    tmux: Tmux,  # noqa: F811 - the fixture
) -> None:
    drills = installed.work / "drills"
    user = installed.env()
    env = {key: user[key] for key in ("HOME", "XDG_CONFIG_HOME", "COCKPIT_CONFIG", "LANG")}
    env.update(
        TERM="xterm-256color",
        # Under pytest the tmux server's own environment says 80x24: the session is 120x40.
        COLUMNS="120",
        LINES="40",
    )
    argv = ["env", "-u", "PYTHONPATH", str(installed.cockpit), "drill", "--dir", str(drills)]
    # How the drill ended is written by a shell around it: tmux 3.3a now and then leaves the
    # pane's process unreaped (a zombie whose status it never records), seen here with the
    # old and the new cockpit alike.
    exit_file = installed.work / "drill-exit-status"
    wrapper = ["sh", "-c", 'out=$1; shift; "$@"; echo "$?" > "$out"', "sh", str(exit_file)]
    tmux.start("drill", [*wrapper, *argv, "--author", "ci", "--theme", "light"], env)
    # Kept after the drill ends, to read what it printed and how it exited.
    tmux.run("set-option", "-t", "drill", "remain-on-exit", "on")
    tmux.wait_for("drill", lambda shown: "DRILL" in shown and "primary-mx" in shown, within=30)
    tmux.keys("drill", "C-q")
    ended = tmux.wait_for("drill", lambda shown: "Drill timeline:" in shown, within=20)
    assert "Traceback" not in ended and "warning" not in ended
    # The exit status (128 + N had a signal N ended it), then the pane gone: ask until both
    # say (bounded).
    deadline = time.monotonic() + 10
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    status = exit_file.read_text().strip() if exit_file.exists() else "no exit status"
    dead = tmux.run("display-message", "-p", "-t", "drill", "#{pane_dead}").strip()
    while dead != "1" and time.monotonic() < deadline:
        time.sleep(0.1)
        dead = tmux.run("display-message", "-p", "-t", "drill", "#{pane_dead}").strip()
    assert [dead, status] == ["1", "0"], (dead, status)  # exited by itself, with status 0
    (log_path,) = drills.glob("*.jsonl")
    assert log_path.with_suffix(".md").is_file()
    events = [entry.data.get("event") for entry in read_log(log_path).entries]
    assert WORLD_STOPPED_EVENT in events
