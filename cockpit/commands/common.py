"""What several subcommands share: finding the config and the themes, knowing who is typing."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import ConfigError

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.incident.entry import LogProblem
    from cockpit.incident.runbook import Step
    from cockpit.theme_data import ThemeSpec


def load_optional_config(
    explicit: str | None, *, incident: str | os.PathLike[str] | None = None
) -> tuple[Config | None, str | None]:
    """The config if one is found, else None; and a warning to show, if any.

    A file named with --config must load (its errors are raised). Without one, the incident's
    own config beside its log (`incident`, see cockpit.config.locate) comes before the search:
    a drill's log carries its world's config, so whoever opens the log joins the same world.
    A file found beside the log or by the search that does not load gives a warning: writing
    to the incident log must keep working while somebody fixes the config.
    """
    from cockpit.config import find_config_path, find_incident_config, load_config

    path: Path | None = None
    if explicit is None and incident is not None:
        try:
            path = find_incident_config(incident)
        except ConfigError as exc:
            return None, f"ignoring the incident's config:\n{exc}"
    if path is None:
        path = find_config_path(explicit)
    if path is None:
        return None, None
    try:
        return load_config(path), None
    except ConfigError as exc:
        if explicit is not None:
            raise
        return None, f"ignoring the config {path} (it does not load):\n{exc}"


def load_required_config(
    explicit: str | None, *, incident: str | os.PathLike[str] | None = None
) -> Config:
    """The config the user named, else the incident's own beside its log (a drill's), else
    the one the search found; ConfigError when there is none."""
    from cockpit.config import (
        config_search_places,
        find_config_path,
        find_incident_config,
        load_config,
        no_config_found_error,
    )

    if explicit is None and incident is not None:
        beside = find_incident_config(incident)
        if beside is not None:
            return load_config(beside)
    path = find_config_path(explicit)
    if path is None:
        raise no_config_found_error()
    return load_config(path, searched=None if explicit else config_search_places())


def resolve_author(
    typed: str | None, config: Config | None, env: Mapping[str, str] | None = None
) -> str:
    """--author, else [incident].author, else $USER, else the login name."""
    env = os.environ if env is None else env
    for candidate in (typed, config.incident.author if config else None, env.get("USER")):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def runbook_for_log(
    log_path: str | os.PathLike[str], explicit: str | None = None
) -> tuple[tuple[Step, ...] | None, str | None]:
    """The runbook an incident was worked with, for its review: the checklist of the config
    named with --config, else of the incident's own config beside its log (a drill's); None
    when neither is there (a config found by the search may belong to another incident, so
    it is not guessed). Also a warning to show when the config beside the log does not load.
    """
    from cockpit.config import find_incident_config

    if explicit is not None:
        return _runbook_of(Path(explicit)), None
    try:
        beside = find_incident_config(log_path)
        return (None if beside is None else _runbook_of(beside)), None
    except ConfigError as exc:
        return None, f"the incident's config does not load, so the runbook is not known:\n{exc}"


SHOWN_PROBLEMS = 10
"""Of each severity, the problems of a log a command lists on stderr before it counts them."""


def report_log_problems(
    log_path: Path, problems: Sequence[LogProblem], *, listed_in: str, warn: Callable[[str], None]
) -> None:
    """The problems of a log on stderr: every error and warning up to SHOWN_PROBLEMS of each
    severity, then one line counting the rest and saying where each one is (`listed_in`). A
    log damaged a thousand times would otherwise bury the terminal (and what matters in it)."""
    shown = {"error": 0, "warning": 0}
    left = {"error": 0, "warning": 0}
    for problem in problems:
        severity = problem.severity if problem.severity in shown else "warning"
        if shown[severity] < SHOWN_PROBLEMS:
            shown[severity] += 1
            warn(f"{log_path}: {problem}")
        else:
            left[severity] += 1
    counts = [f"{count} more {name}{'s' * (count != 1)}" for name, count in left.items() if count]
    if counts:
        warn(f"{log_path}: and {' and '.join(counts)}, each listed in {listed_in}")


def _runbook_of(path: Path) -> tuple[Step, ...]:
    # Imported only here: without a config, the loader is a third of export's start-up.
    from cockpit.config import load_config
    from cockpit.incident.runbook import steps_for

    return steps_for(load_config(path))


def load_theme_specs(
    warn: Callable[[str], None], note: Callable[[str], None] | None = None
) -> dict[str, ThemeSpec]:
    """The shipped themes and the user's own (`$XDG_CONFIG_HOME/cockpit/themes`), by name.

    Bad files go to `warn`, one line each. A user theme replacing a shipped one is what the
    user asked for: `note` hears of it (default: the log only; `cockpit config check` shows it).
    """
    from cockpit.config import user_themes_dir
    from cockpit.theme_data import load_all_themes

    return load_all_themes(user_themes_dir(), warn=warn, note=note)
