"""`cockpit replay INCIDENT [--speed N]`: play a finished incident back, for the review."""

from __future__ import annotations

import argparse
from pathlib import Path

from cockpit.errors import UsageError


def run_replay(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning
    from cockpit.commands.common import load_theme_specs, report_log_problems
    from cockpit.glyphs import terminal_wants_ascii
    from cockpit.incident.log import read_log
    from cockpit.read_file import kind_of

    path = Path(args.incident)
    kind = kind_of(path)
    if kind == "no such file":
        raise UsageError(f"{path}: no such incident log")
    if kind is not None:
        what = f"is {kind}, not a regular file" if kind.startswith("a ") else kind
        raise UsageError(f"{path}: {what}; name an incident log file")
    if not 0 < args.speed <= 10000:
        raise UsageError(f"--speed {args.speed:g}: expected a factor above 0 and up to 10000")
    result = read_log(path)
    where = 'the "Log integrity" section of the review `cockpit export` writes'
    report_log_problems(path, result.problems, listed_in=where, warn=report_warning)
    if not result.entries:
        raise UsageError(f"{path}: no entries to replay")
    from cockpit.ui.replay_app import ReplayApp

    ReplayApp(
        path,
        result.entries,
        speed=args.speed,
        theme_name=args.theme,
        theme_specs=load_theme_specs(warn=report_warning),
        ascii_only=args.ascii or terminal_wants_ascii(),
    ).run()
    return 0
