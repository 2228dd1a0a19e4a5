"""`cockpit config check`.

Beyond what loading checks, it checks what the cockpit screen would only warn about at start:
every theme file, shipped and the user's own (`$XDG_CONFIG_HOME/cockpit/themes`), is read,
each bad one a warning line and each user theme replacing a shipped one a note; and
`[ui] theme` must name a theme that exists (one of those, or the built-in dark).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from cockpit.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from pathlib import Path

    from cockpit.config import Config


def run_config_check(explicit: str | None) -> int:
    from cockpit.cli import report_note, report_warning, write_stdout
    from cockpit.commands.common import load_required_config, load_theme_specs

    config = load_required_config(explicit)
    themes = load_theme_specs(warn=report_warning, note=report_note)
    theme_problem = _theme_problem(config, themes)
    if theme_problem is not None:
        raise ConfigError([theme_problem])
    for warning in _missing_files(config):
        report_warning(warning)
    queue_count = sum(len(region.queues) for region in config.regions)
    resolver_origin = "built-in" if config.dns.resolvers_are_builtin else "configured"
    write_stdout(
        f"ok: {config.source}: domain {config.domain.name}, {len(config.regions)} regions,"
        f" {queue_count} queue sources, {len(config.dns.resolvers)} {resolver_origin} resolvers\n"
    )
    return 0


def _missing_files(config: Config) -> list[str]:
    """Files the config names that are not there: not fatal here; the checks report them too."""
    from cockpit.read_file import kind_of

    missing: list[str] = []
    for index, region in enumerate(config.regions):
        for selector, key_path in region.dkim_private_keys.items():
            kind = kind_of(key_path)
            if kind is not None:
                missing.append(
                    f"region[{index}].dkim_private_keys.{selector}: {_what(kind, key_path)}"
                )
    if config.tls.ca_file is not None:
        kind = kind_of(config.tls.ca_file)
        if kind is not None:
            missing.append(f"tls.ca_file: {_what(kind, config.tls.ca_file)}")
    return missing


def _what(kind: str, path: Path) -> str:
    """ "no such file PATH", "PATH is a FIFO, not a regular file"."""
    if kind == "no such file":
        return f"no such file {path}"
    if kind.startswith("a "):
        return f"{path} is {kind}, not a regular file"
    return f"{path}: {kind}"


def _theme_problem(config: Config, themes: Collection[str]) -> ConfigProblem | None:
    """`[ui] theme` naming none of `themes`: the problem, with the file's line and the names."""
    import difflib

    from cockpit.safe_text import clean
    from cockpit.theme_data import FALLBACK_THEME

    name = config.ui.theme
    if not name:
        return None
    known = set(themes) | {FALLBACK_THEME.name}
    if name in known:
        return None
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigProblem(
        clean(str(config.source)) if config.source is not None else "<string>",
        "ui.theme",
        f"unknown theme {name!r}{hint}; expected one of {', '.join(names)}",
        line=_line_of(config, ("ui", "theme")),
    )


def _line_of(config: Config, key_path: tuple[str, ...]) -> int | None:
    """Where `key_path` is set in the config file; None when the file cannot be read again."""
    from cockpit.config.lines import locate_keys

    if config.source is None:
        return None
    try:
        text = config.source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError):
        return None
    return locate_keys(text).get(key_path)
