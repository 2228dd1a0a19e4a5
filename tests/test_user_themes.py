"""A user's own themes in `$XDG_CONFIG_HOME/cockpit/themes/*.toml`: checked like the shipped ones,
a bad file one warning line (never a traceback) while every other theme still loads, and a
user theme with a shipped theme's name replaces it with a note in `cockpit config check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.commands.common import load_theme_specs
from cockpit.config import user_config_file, user_themes_dir
from cockpit.theme_data import ThemeSpec, load_all_themes, load_themes
from tests.conftest import PROJECT_ROOT
from tests.test_cli_errors import GOOD, run_cockpit

DARK = (PROJECT_ROOT / "themes" / "dark.toml").read_text(encoding="utf-8")
SHIPPED = {"colorblind", "dark", "high-contrast", "light"}
CONFIG = GOOD + '\n[ui]\ntheme = "{theme}"\n'


def theme_text(name: str, background: str = "#121212") -> str:
    return DARK.replace('name = "dark"', f'name = "{name}"').replace(
        'background = "#121212"', f'background = "{background}"'
    )


def load(user_directory: Path) -> tuple[dict[str, ThemeSpec], list[str], list[str]]:
    warnings: list[str] = []
    notes: list[str] = []
    themes = load_all_themes(user_directory, warn=warnings.append, note=notes.append)
    return themes, warnings, notes


# --- where they go -------------------------------------------------------------------------------


def test_user_themes_live_beside_the_user_config(tmp_path: Path) -> None:
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert user_themes_dir(xdg) == tmp_path / "xdg" / "cockpit" / "themes"
    assert user_themes_dir(xdg).parent == user_config_file(xdg).parent
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec asks.
    home = {"XDG_CONFIG_HOME": "relative", "HOME": str(tmp_path / "home")}
    assert user_themes_dir(home) == tmp_path / "home" / ".config" / "cockpit" / "themes"


# --- loading -------------------------------------------------------------------------------------


def test_a_valid_user_theme_joins_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "night.toml").write_text(theme_text("night"), encoding="utf-8")
    themes, warnings, notes = load(tmp_path)
    assert set(themes) == SHIPPED | {"night"}
    assert themes["night"].source == tmp_path / "night.toml"
    assert (warnings, notes) == ([], [])


def test_no_user_directory_is_quiet(tmp_path: Path) -> None:
    themes, warnings, notes = load(tmp_path / "nowhere")
    assert set(themes) == SHIPPED and (warnings, notes) == ([], [])


def test_a_file_where_the_directory_should_be_is_one_warning(tmp_path: Path) -> None:
    (tmp_path / "themes").write_text("", encoding="utf-8")
    themes, warnings, _ = load(tmp_path / "themes")
    assert set(themes) == SHIPPED
    [warning] = warnings
    assert warning.startswith(f"{tmp_path / 'themes'}: not a directory")


def test_a_bad_user_theme_is_one_warning_and_the_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "night.toml").write_text(theme_text("night"), encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(
        theme_text("broken", background="black").replace("dark = true", 'dark = "yes"'),
        encoding="utf-8",
    )
    (tmp_path / "garbage.toml").write_text("name = 'x'\n[unclosed", encoding="utf-8")
    themes, warnings, notes = load(tmp_path)
    assert set(themes) == SHIPPED | {"night"} and notes == []
    assert len(warnings) == 2
    [about_broken] = [warning for warning in warnings if str(broken) in warning]
    assert about_broken.startswith(f"theme skipped: {broken}: ")
    assert "dark: expected true or false, found 'yes'" in about_broken
    assert "background: expected a colour" in about_broken
    assert "\n" not in about_broken


def test_a_user_theme_with_a_shipped_name_replaces_it_with_a_note(tmp_path: Path) -> None:
    mine = tmp_path / "my-dark.toml"
    mine.write_text(theme_text("dark", background="#000000"), encoding="utf-8")
    shipped = load_themes()["dark"]
    themes, warnings, notes = load(tmp_path)
    assert set(themes) == SHIPPED and warnings == []
    assert themes["dark"].background == "#000000" and themes["dark"].source == mine
    assert notes == [f"theme 'dark': {mine} replaces the shipped one ({shipped.source})"]


def test_a_bad_user_file_never_takes_a_shipped_themes_place(tmp_path: Path) -> None:
    (tmp_path / "dark.toml").write_text(theme_text("dark", background="black"), encoding="utf-8")
    themes, warnings, notes = load(tmp_path)
    assert themes["dark"].source == PROJECT_ROOT / "themes" / "dark.toml"
    assert len(warnings) == 1 and notes == []


def test_the_commands_read_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "cockpit" / "themes").mkdir(parents=True)
    (tmp_path / "cockpit" / "themes" / "night.toml").write_text(
        theme_text("night"), encoding="utf-8"
    )
    warnings: list[str] = []
    assert "night" in load_theme_specs(warn=warnings.append) and warnings == []


# --- `cockpit config check` ----------------------------------------------------------------------


def config_check(tmp_path: Path, theme: str) -> tuple[int, str, str]:
    config = tmp_path / "cockpit.toml"
    config.write_text(CONFIG.format(theme=theme), encoding="utf-8")
    done = run_cockpit(
        "config",
        "check",
        "--config",
        str(config),
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT), "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def user_theme_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "xdg" / "cockpit" / "themes"
    folder.mkdir(parents=True)
    return folder


def test_config_check_accepts_a_user_theme_by_name(tmp_path: Path) -> None:
    (user_theme_dir(tmp_path) / "night.toml").write_text(theme_text("night"), encoding="utf-8")
    code, stdout, stderr = config_check(tmp_path, "night")
    assert (code, stderr) == (0, "") and stdout.startswith("ok: ")


def test_config_check_warns_about_a_bad_user_theme_in_one_line(tmp_path: Path) -> None:
    folder = user_theme_dir(tmp_path)
    (folder / "broken.toml").write_text(theme_text("broken", background="black"), encoding="utf-8")
    code, stdout, stderr = config_check(tmp_path, "light")
    assert code == 0 and stdout.startswith("ok: ")
    assert stderr.splitlines() == [
        f"cockpit: warning: theme skipped: {folder / 'broken.toml'}: background: expected a"
        " colour '#RGB' or '#RRGGBB', found 'black'"
    ]


def test_config_check_names_the_user_themes_among_the_known_ones(tmp_path: Path) -> None:
    (user_theme_dir(tmp_path) / "night.toml").write_text(theme_text("night"), encoding="utf-8")
    code, _, stderr = config_check(tmp_path, "nigth")
    assert code == 2
    assert stderr.endswith(
        "unknown theme 'nigth' (did you mean 'night'?);"
        " expected one of colorblind, dark, high-contrast, light, night\n"
    )


def test_config_check_notes_a_user_theme_replacing_a_shipped_one(tmp_path: Path) -> None:
    mine = user_theme_dir(tmp_path) / "dark.toml"
    mine.write_text(theme_text("dark", background="#000000"), encoding="utf-8")
    code, stdout, stderr = config_check(tmp_path, "dark")
    assert code == 0 and stdout.startswith("ok: ")
    assert stderr.splitlines() == [
        f"cockpit: note: theme 'dark': {mine} replaces the shipped one"
        f" ({PROJECT_ROOT / 'themes' / 'dark.toml'})"
    ]
