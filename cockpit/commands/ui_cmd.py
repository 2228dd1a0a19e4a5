"""`cockpit [--config FILE] [--incident PATH] [--author NAME] [--read-only] [--theme NAME]
[--ascii]`: open the cockpit.

Everything that talks to the user on the command line (the config, the incident's slug)
happens here before Textual starts; textual itself is imported only when the app runs.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import UsageError

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.ui.app import CockpitApp

DEFAULT_INCIDENT_DIR = Path("incidents")
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
"""What a typed slug must be: lower-case letters, digits and inner hyphens, at most 40."""
_MAX_ASKS = 3


def run_ui(args: argparse.Namespace) -> int:
    # What is imported and made before the app runs (Textual, the panes, the config: some 500
    # modules) lives as long as the process. The collector would walk it again and again while
    # it is made and while the first frame is drawn (about 5% of the start): it waits, and
    # then leaves all of it out of its walks (gc.freeze).
    gc.disable()
    try:
        app = _make_app(args)
    finally:
        gc.freeze()
        gc.enable()
    app.run()
    return 0


def _make_app(args: argparse.Namespace) -> CockpitApp:
    from cockpit.cli import report_warning
    from cockpit.commands.common import load_optional_config, load_theme_specs, resolve_author
    from cockpit.glyphs import terminal_wants_ascii

    # An incident's own config beside its log (a drill's world) comes before the search.
    config, config_warning = load_optional_config(args.ui_config, incident=args.ui_incident)
    if config_warning:
        report_warning(config_warning)
    author = resolve_author(args.ui_author, config)
    if args.ui_incident:
        log_path = Path(args.ui_incident)
    elif args.ui_read_only:
        raise UsageError("--read-only opens an existing incident: pass --incident PATH")
    else:
        log_path = new_incident_path(config, ask=input, interactive=sys.stdin.isatty())
        _create_log(log_path, author)
    if log_path.is_dir():
        raise UsageError(f"--incident {log_path}: that is a directory; name a log file")
    if log_path.exists() and not log_path.is_file():
        # A FIFO or a device: opening it to read would wait for a writer with no screen up.
        raise UsageError(f"--incident {log_path}: not a regular file; name a log file")
    if args.ui_read_only and not log_path.is_file():
        raise UsageError(f"--read-only: {log_path} does not exist; a viewer creates nothing")
    themes = load_theme_specs(warn=report_warning)

    from cockpit.commands.drill_cmd import is_drill_log
    from cockpit.ui.app import CockpitApp

    return CockpitApp(
        log_path,
        author=author,
        config=config,
        theme_name=args.theme or (config.ui.theme if config is not None else None),
        theme_specs=themes,
        ascii_only=args.ascii or terminal_wants_ascii(),
        read_only=args.ui_read_only,
        drill=is_drill_log(log_path),
    )


def incident_dir(config: Config | None) -> Path:
    return config.incident.dir if config is not None else DEFAULT_INCIDENT_DIR


def normalise_slug(typed: str) -> str:
    """The slug for what the commander typed: lower case, spaces and underscores as hyphens.

    Raises UsageError when the result is not a SLUG.
    """
    slug = re.sub(r"[\s_]+", "-", typed.strip().lower())
    if not SLUG.fullmatch(slug):
        raise UsageError(
            "a slug is 1 to 40 lower-case letters, digits and hyphens (not at either end),"
            " such as eu-storage"
        )
    return slug


def new_incident_path(
    config: Config | None,
    *,
    ask: Callable[[str], str],
    interactive: bool,
    today: datetime | None = None,
) -> Path:
    """`[incident].dir/YYYY-MM-DD-slug.jsonl` for a slug asked on the command line."""
    from cockpit.cli import report_error
    from cockpit.incident.entry import utc_now

    if not interactive:
        raise UsageError(
            "no --incident given and no terminal to ask for a name: pass --incident PATH"
        )
    date = (today or utc_now()).strftime("%Y-%m-%d")
    directory = incident_dir(config)
    for _ in range(_MAX_ASKS):
        try:
            typed = ask(f"New incident in {directory}/ - short name (slug, e.g. eu-storage): ")
        except EOFError:
            raise UsageError("no incident name given") from None
        try:
            slug = normalise_slug(typed)
        except UsageError as exc:
            report_error(str(exc))
            continue
        path = directory / f"{date}-{slug}.jsonl"
        if path.exists():
            report_error(f"{path} already exists: open it with --incident {path}, or pick another")
            continue
        return path
    raise UsageError("no valid incident name given")


def _create_log(path: Path, author: str) -> None:
    from cockpit.incident.log import IncidentLog

    IncidentLog(path).append(
        "system", f"incident log opened: {path.stem}", {"event": "opened"}, author=author
    )
