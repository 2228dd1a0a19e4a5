"""Theme files (TOML data) read into plain, validated ThemeSpecs.

Pure: no textual here; `cockpit.ui.themes` turns a ThemeSpec into a Textual `Theme`.

A theme file names a theme, says whether it is dark, gives Textual's base colours and a
`[variables]` table that must carry the status meanings (`status-ok`, `status-warn`,
`status-fail`, `status-unknown`). A broken file is skipped with a warning naming the file, the
key, what was expected and what was found; it never stops the cockpit. An unknown theme name
falls back to "dark" with a clear message.

Where the files are found (`load_all_themes`):
- shipped themes: the project's `themes/` is their source. A wheel carries a copy as package
  data, `cockpit/themes/` (setup.py copies it in at build time), found with importlib.resources;
  in a checkout or an editable install the package has no copy and `themes/` beside it is read.
  When neither is there the cockpit runs with FALLBACK_THEME (the dark theme built in).
- the user's own: `$XDG_CONFIG_HOME/cockpit/themes/*.toml` (`cockpit.config.user_themes_dir`),
  checked the same way. A user theme with a shipped theme's name replaces it, with a note
  (`cockpit config check` prints it): the user made it to be used.
"""

from __future__ import annotations

import difflib
import importlib.resources
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cockpit.compat import tomllib
from cockpit.errors import ConfigError, ConfigProblem
from cockpit.safe_text import clean

logger = logging.getLogger(__name__)

DEFAULT_THEME = "dark"
STATUS_VARIABLES = ("status-ok", "status-warn", "status-fail", "status-unknown")
BASE_COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "warning",
    "error",
    "success",
)
_OPTIONAL_NUMBERS = {"luminosity_spread": (0.0, 1.0), "text_alpha": (0.0, 1.0)}
_TOP_LEVEL_KEYS = ("name", "dark", "description", "variables", *BASE_COLOURS, *_OPTIONAL_NUMBERS)
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
THEME_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
_VARIABLE_NAME = re.compile(r"[a-z][a-z0-9-]{0,59}")
_MAX_FILE_BYTES = 64 * 1024

Warn = Callable[[str], None]


class ThemeFileError(ConfigError):
    """A theme file that cannot be used; `problems` names the file, key and what was wrong."""


@dataclass(frozen=True, slots=True)
class ThemeSpec:
    """One theme as data: the colours Textual needs and the semantic variables."""

    name: str
    dark: bool
    primary: str
    secondary: str
    accent: str
    foreground: str
    background: str
    surface: str
    panel: str
    warning: str
    error: str
    success: str
    variables: Mapping[str, str] = field(default_factory=dict)
    """Textual CSS variables without the `$`; always holds every name in STATUS_VARIABLES."""
    description: str = ""
    luminosity_spread: float | None = None
    text_alpha: float | None = None
    source: Path | None = None
    """The file it was read from; None for the built-in fallback."""


FALLBACK_THEME = ThemeSpec(
    name="dark",
    dark=True,
    description="The default dark theme (built-in copy, used when themes/ cannot be read).",
    primary="#0178D4",
    secondary="#004578",
    accent="#FFA62B",
    foreground="#E0E0E0",
    background="#121212",
    surface="#1E1E1E",
    panel="#24292F",
    warning="#FFA62B",
    error="#F85149",
    success="#4EBF71",
    variables=MappingProxyType(
        {
            "status-ok": "#4EBF71",
            "status-warn": "#FFA62B",
            "status-fail": "#FF6B6B",
            "status-unknown": "#B392F0",
        }
    ),
)


def shipped_themes_dir() -> Path | None:
    """The themes shipped with cockpit: `cockpit/themes/` in an installed wheel, else the
    project's `themes/` in a checkout (the directory holding the package and pyproject.toml).

    None when neither is there (a wheel built without them, or a zipped install).
    """
    packaged = importlib.resources.files("cockpit") / "themes"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    # Only beside a pyproject.toml: in site-packages, `themes/` would be another package's.
    project = Path(__file__).resolve().parent.parent
    if (project / "pyproject.toml").is_file() and (project / "themes").is_dir():
        return project / "themes"
    return None


def load_themes(directory: Path | None = None, *, warn: Warn | None = None) -> dict[str, ThemeSpec]:
    """Every valid `*.toml` theme in `directory` (default: the shipped themes), by name.

    Never raises for a bad file: it is skipped, and one line naming the file and every problem
    in it goes to `warn` (default: the module logger). A missing directory is a warning and an
    empty result.
    """
    report = warn if warn is not None else logger.warning
    folder = directory if directory is not None else shipped_themes_dir()
    if folder is None:
        report(
            "the shipped themes are missing (no cockpit/themes in the package, no themes/ in a"
            " checkout); only the built-in dark theme is available"
        )
        return {}
    if not folder.is_dir():
        report(f"{folder}: no themes directory; only the built-in dark theme is available")
        return {}
    return _load_directory(folder, report)


def load_all_themes(
    user_directory: Path | None,
    *,
    warn: Warn | None = None,
    note: Warn | None = None,
) -> dict[str, ThemeSpec]:
    """The shipped themes, then the user's own from `user_directory`, by name.

    A user theme with a shipped theme's name replaces it; `note` (default: the module logger,
    at info) is told which file replaced which. A user directory that does not exist is the
    usual case and is quiet; its bad files are warnings exactly as shipped ones would be, and a
    bad file never takes a shipped theme's place.
    """
    report = warn if warn is not None else logger.warning
    tell = note if note is not None else logger.info
    themes = load_themes(warn=report)
    if user_directory is None:
        return themes
    try:
        user_directory.stat()
    except FileNotFoundError:
        return themes
    except OSError as exc:
        report(f"{user_directory}: cannot read user themes ({exc.strerror or exc})")
        return themes
    if not user_directory.is_dir():
        report(f"{user_directory}: not a directory; user themes go in a directory of that name")
        return themes
    for name, spec in _load_directory(user_directory, report).items():
        shipped = themes.get(name)
        if shipped is not None:
            tell(f"theme {name!r}: {spec.source} replaces the shipped one ({shipped.source})")
        themes[name] = spec
    return themes


def _load_directory(folder: Path, report: Warn) -> dict[str, ThemeSpec]:
    try:
        paths = sorted(folder.glob("*.toml"))
    except OSError as exc:
        report(f"{folder}: cannot list theme files ({exc.strerror or exc})")
        return {}
    themes: dict[str, ThemeSpec] = {}
    for path in paths:
        try:
            spec = load_theme_file(path)
        except ThemeFileError as exc:
            report(_skipped(path, exc))
            continue
        if spec.name in themes:
            first = themes[spec.name].source
            report(f"theme skipped: {path}: name {spec.name!r} is already used by {first}")
            continue
        themes[spec.name] = spec
    return themes


def load_theme_file(path: Path) -> ThemeSpec:
    """Read and validate one theme file; ThemeFileError lists everything wrong with it."""
    shown = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ThemeFileError(
            [ConfigProblem(shown, "", f"cannot read: {exc.strerror or exc}")]
        ) from None
    if len(raw) > _MAX_FILE_BYTES:
        problem = ConfigProblem(shown, "", f"expected at most {_MAX_FILE_BYTES} bytes, found more")
        raise ThemeFileError([problem])
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = ConfigProblem(shown, "", f"expected UTF-8 text, found byte {exc.start}")
        raise ThemeFileError([problem]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError([ConfigProblem(shown, "", f"not valid TOML: {exc}")]) from None
    return theme_from_document(document, source=path)


def theme_from_document(document: Mapping[str, object], *, source: Path) -> ThemeSpec:
    """Validate a parsed theme document; ThemeFileError lists every problem at once."""
    shown = str(source)
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(shown, key, message))

    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            problem(clean(key), _unknown_key(key, _TOP_LEVEL_KEYS))

    name = document.get("name")
    if name is None:
        problem("name", "missing; expected a theme name such as 'dark'")
    elif not isinstance(name, str) or not THEME_NAME.fullmatch(name):
        problem("name", f"expected lower-case letters, digits and '-', found {_show(name)}")

    dark = document.get("dark")
    if dark is None:
        problem("dark", "missing; expected true or false")
    elif not isinstance(dark, bool):
        problem("dark", f"expected true or false, found {_show(dark)}")

    description = document.get("description", "")
    if not isinstance(description, str):
        problem("description", f"expected a string, found {_show(description)}")

    colours: dict[str, str] = {}
    for key in BASE_COLOURS:
        value = document.get(key)
        if value is None:
            problem(key, "missing; expected a colour such as '#1E1E1E'")
        elif not isinstance(value, str) or not _HEX_COLOUR.fullmatch(value):
            problem(key, f"expected a colour '#RGB' or '#RRGGBB', found {_show(value)}")
        else:
            colours[key] = value

    numbers: dict[str, float] = {}
    for key, (low, high) in _OPTIONAL_NUMBERS.items():
        value = document.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problem(key, f"expected a number from {low} to {high}, found {_show(value)}")
        elif not (math.isfinite(value) and low <= value <= high):
            problem(key, f"expected a number from {low} to {high}, found {value}")
        else:
            numbers[key] = float(value)

    variables = _variables(document.get("variables"), problem)

    if problems:
        raise ThemeFileError(problems)
    assert isinstance(name, str) and isinstance(dark, bool) and isinstance(description, str)
    return ThemeSpec(
        name=name,
        dark=dark,
        description=description,
        variables=MappingProxyType(variables),
        source=source,
        luminosity_spread=numbers.get("luminosity_spread"),
        text_alpha=numbers.get("text_alpha"),
        **colours,
    )


def _variables(table: object, problem: Callable[[str, str], None]) -> dict[str, str]:
    if table is None:
        problem("variables", f"missing; expected a table with {', '.join(STATUS_VARIABLES)}")
        return {}
    if not isinstance(table, dict):
        problem("variables", f"expected a table, found {_show(table)}")
        return {}
    variables: dict[str, str] = {}
    for key, value in table.items():
        path = f"variables.{clean(key)}"
        if not _VARIABLE_NAME.fullmatch(key):
            problem(path, "expected a variable name of lower-case letters, digits and '-'")
        elif not isinstance(value, str) or not value.strip():
            problem(path, f"expected a non-empty string, found {_show(value)}")
        elif key.startswith("status-") and not _HEX_COLOUR.fullmatch(value):
            problem(path, f"expected a colour '#RGB' or '#RRGGBB', found {_show(value)}")
        else:
            variables[key] = value
    for key in STATUS_VARIABLES:
        if key not in table:
            problem(f"variables.{key}", "missing; expected a colour such as '#4EBF71'")
    return variables


def resolve_theme(
    name: str | None, available: Mapping[str, ThemeSpec]
) -> tuple[ThemeSpec, str | None]:
    """The theme called `name`, or the fallback and a message saying why.

    The fallback is "dark" from `available`, or FALLBACK_THEME when even that is missing.
    No name (None or "") means the default quietly.
    """
    if name and name in available:
        return available[name], None
    fallback = available.get(DEFAULT_THEME, FALLBACK_THEME)
    if not name:
        return fallback, None
    names = sorted(available) or [FALLBACK_THEME.name]
    close = difflib.get_close_matches(name, names, n=1) if len(name) <= 100 else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    message = (
        f"unknown theme {_show(name)}{hint}; using {fallback.name!r}. Available: {', '.join(names)}"
    )
    return fallback, message


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a '#RGB' or '#RRGGBB' colour (0 black to 1 white)."""
    red, green, blue = (_linear(channel) for channel in hex_to_rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio, from 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    if not _HEX_COLOUR.fullmatch(colour):
        raise ValueError(f"expected '#RGB' or '#RRGGBB', found {colour!r}")
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def _skipped(path: Path, error: ThemeFileError) -> str:
    """One line per skipped file, so a toast or a log line says everything about it."""
    details = "; ".join(
        f"{problem.key_path}: {problem.message}" if problem.key_path else problem.message
        for problem in error.problems
    )
    return f"theme skipped: {path}: {details}"


def _unknown_key(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1) if len(key) <= 100 else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; expected one of {', '.join(valid)}"


def _show(value: object) -> str:
    text = repr(value)
    text = clean(text if len(text) <= 60 else text[:57] + "...")
    return text
