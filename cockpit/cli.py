"""The `cockpit` command.

Start-up stays light: only argparse and this module load before a subcommand runs, and each
subcommand imports what it needs. `cockpit --help` and `--version` never import textual.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import NoReturn

from cockpit import __version__
from cockpit.errors import CockpitError, UsageError

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERNAL = 70

_DESCRIPTION = """\
cockpit: a terminal incident cockpit for business email failover.
Queue depth, DNS propagation, mail authentication, a guided checklist and a durable
incident log, for the commander in an SSH session."""

_EPILOG = """\
examples:
  cockpit --config cockpit.toml --incident incidents/2026-11-27-eu.jsonl
  cockpit config check --config cockpit.toml
  cockpit log incidents/2026-11-27-eu.jsonl "Inbound queue growing on mx1" --phase detected
  cockpit log incidents/2026-11-27-eu.jsonl "Fail over to secondary" --decision \\
      --why "primary storage down" --approver carol --target-region secondary
  cockpit export incidents/2026-11-27-eu.jsonl -o timeline.md"""


_THEME_HELP = (
    "colour theme: dark (default), light, high-contrast, colorblind, or your own from"
    " $XDG_CONFIG_HOME/cockpit/themes/*.toml (else ~/.config/cockpit/themes)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, remembering the last error it reported (`cockpit check --json` repeats it as
    JSON on stdout). Subparsers are made of the same class."""

    last_error: str | None = None

    def error(self, message: str) -> NoReturn:
        _Parser.last_error = message
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cockpit",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    # Without a COMMAND, `cockpit` opens the cockpit screen; these options are for that.
    parser.add_argument(
        "--config",
        dest="ui_config",
        metavar="FILE",
        help="config file for the cockpit screen (else the incident's own beside its log,"
        " LOG.config.toml, then the search; it opens without one)",
    )
    parser.add_argument(
        "--incident",
        dest="ui_incident",
        metavar="PATH",
        help="incident log to open (else asks for a name and creates it in [incident].dir)",
    )
    parser.add_argument(
        "--author",
        dest="ui_author",
        metavar="NAME",
        help="who is at this keyboard (else [incident].author, else the login name)",
    )
    parser.add_argument(
        "--read-only",
        dest="ui_read_only",
        action="store_true",
        help="open the incident as a viewer: every pane live, nothing written",
    )
    parser.add_argument("--theme", metavar="NAME", help=_THEME_HELP)
    parser.add_argument(
        "--ascii",
        action="store_true",
        help="draw with ASCII only (automatic in a non-UTF-8 locale)",
    )
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config",
        metavar="FILE",
        help="config file (else $COCKPIT_CONFIG, ./cockpit.toml, then the user config directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    config_cmd = commands.add_parser("config", help="work with the config file")
    config_sub = config_cmd.add_subparsers(dest="config_command", metavar="ACTION")
    config_sub.required = True
    config_sub.add_parser(
        "check",
        parents=[config_option],
        help="validate the config: prints 'ok' (exit 0) or every error (exit 2)",
    )

    log = commands.add_parser(
        "log",
        parents=[config_option],
        help="append an entry to an incident log (created if missing); prints its seq",
        description="Append one entry to the incident log INCIDENT (a file path; created if"
        " missing) and print its seq.",
    )
    log.add_argument("incident", metavar="INCIDENT", help="path of the incident log file")
    log.add_argument("text", metavar="TEXT", nargs="?", help="what happened or was decided")
    log.add_argument("--decision", action="store_true", help="record a decision")
    log.add_argument("--why", metavar="TEXT", help="why the decision was taken (with --decision)")
    log.add_argument("--approver", metavar="NAME", help="who approved it (with --decision)")
    log.add_argument(
        "--target-region",
        metavar="NAME",
        help="a failover decision: the region that should be active (with --decision)",
    )
    log.add_argument(
        "--phase",
        metavar="PHASE",
        help="mark a phase: impact, detected, declared, routed, restored, verified, closed",
    )
    log.add_argument(
        "--at",
        metavar="TIME",
        help=(
            "when it happened: RFC 3339, or HH:MM[:SS] UTC, today or (past midnight) yesterday"
            " (default: now)"
        ),
    )
    log.add_argument("--author", metavar="NAME", help="who writes (else config, else $USER)")
    log.add_argument("--lesson", action="store_true", help="tag as a lesson learned / runbook edit")
    log.add_argument("--star", action="store_true", help="tag as a key entry (starred)")
    log.add_argument("--title", metavar="TEXT", help="set the incident's title")
    log.add_argument(
        "--role",
        metavar="ROLE",
        help="the author takes the role: commander or scribe (a handoff when someone held it)",
    )
    log.add_argument(
        "--severity",
        metavar="SEV",
        help="set the incident's severity: SEV1 (most severe), SEV2, SEV3 or SEV4",
    )
    log.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_wait_seconds,
        default=None,
        help="how long to wait while another writer holds the log's lock (default: 5)",
    )
    _add_review_options(log)

    check = commands.add_parser(
        "check",
        parents=[config_option],
        help="run one sweep of the probes; exit 0 ok, 1 warn/unknown, 2 fail, 3 cannot run",
        description="Run one sweep of every probe and print the findings. Exit status: 0 all"
        " ok, 1 the worst is warn or unknown, 2 the worst is fail, 3 could not run.",
    )
    check.add_argument(
        "--target",
        metavar="REGION",
        help="the region that should be active (else the latest failover decision, else the"
        " first region)",
    )
    check.add_argument(
        "--incident",
        metavar="PATH",
        help="incident log to read the failover decision from (default: the newest log in"
        " [incident].dir)",
    )
    check.add_argument(
        "--only",
        metavar="AREAS",
        help="comma-separated: dns,auth,queue,service,replication,authority,checklist,canary"
        " (canary sends one real message per [[canary]]: only when named)",
    )
    check.add_argument(
        "--via",
        metavar="RESOLVER",
        help="the DNS server auth checks ask: a configured resolver's name, or 'authoritative'"
        " (default: the first resolver)",
    )
    check.add_argument("--json", action="store_true", help="one JSON object on stdout")

    drill = commands.add_parser(
        "drill",
        help="a practice incident against a built-in world on loopback (no config, no root)",
        description="Run a practice incident: a built-in mail domain on loopback whose primary"
        " region is down. Follow the checklist, declare, decide the failover; the resolvers"
        " converge and the queue drains. The log and its timeline are kept in DIR. While it"
        " runs, `cockpit --incident LOG` from another terminal joins it (its config is kept"
        " beside the log as LOG.config.toml).",
    )
    drill.add_argument(
        "--dir", metavar="DIR", help="where drill logs go (default: the user state directory)"
    )
    drill.add_argument("--author", metavar="NAME", help="who is at this keyboard")
    _add_look_options(drill)

    replay = commands.add_parser(
        "replay",
        help="play a finished incident back in the cockpit, for the post-incident review",
        description="Play the incident log INCIDENT back on the cockpit's screen: entries appear"
        " at their own times, sped up; probe panes show what the probes had logged by then."
        " Keys: space pause, + and - speed, n next entry.",
    )
    replay.add_argument("incident", metavar="INCIDENT", help="path of the incident log file")
    replay.add_argument(
        "--speed",
        type=float,
        default=60.0,
        metavar="N",
        help="N times real time (default 60: an hour in a minute)",
    )
    _add_look_options(replay)

    export = commands.add_parser(
        "export",
        help="export an incident log as a post-incident review (Markdown or JSON)",
        description=(
            "Export the incident log INCIDENT as a post-incident review: the summary,"
            " impact, metrics with the evidence they rest on, checklist results, lessons,"
            " action items, the timeline and the probe evidence. Parts the log cannot answer"
            " are left for the reviewers to fill in."
        ),
    )
    export.add_argument("incident", metavar="INCIDENT", help="path of the incident log file")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    export.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    export.add_argument(
        "--config",
        metavar="FILE",
        help="the config the incident was worked with, for its runbook (default: the"
        " incident's own config beside the log, if any)",
    )

    vantage = commands.add_parser(
        "vantage",
        help="vantage points: what to deploy for a Prometheus blackbox vantage",
    )
    vantage_sub = vantage.add_subparsers(dest="vantage_command", metavar="ACTION")
    vantage_sub.required = True
    modules = vantage_sub.add_parser(
        "blackbox-modules",
        parents=[config_option],
        help="print the blackbox_exporter modules for the configured records and regions",
        description=(
            "Print a blackbox_exporter config (modules:) with one DNS module per record judged"
            " by region and per region, matching that region's targets, and an SMTP banner"
            " module per MX host. With --scrape-config, print instead an example Prometheus"
            " scrape config that keeps the module and site labels the cockpit reads."
        ),
    )
    modules.add_argument(
        "--scrape-config",
        action="store_true",
        help="print an example Prometheus scrape config for these modules instead",
    )

    from cockpit.commands.serve_cmd import add_serve_parser

    add_serve_parser(commands)
    return parser


def _wait_seconds(text: str) -> float:
    """`--wait`: seconds, 0 or more (0: do not wait at all)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= seconds <= 3600 or seconds != seconds:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds from 0 to 3600")
    return seconds


def _add_review_options(log: argparse.ArgumentParser) -> None:
    """`cockpit log`: file a note under a section of the post-incident review, or log an
    action item (cockpit.incident.review_marks holds the rules)."""
    review = log.add_argument_group(
        "post-incident review",
        "One per entry: file a note (TEXT) under a section of the review, or log an action"
        " item. --star and --lesson may be added.",
    )
    review.add_argument(
        "--cause", action="store_true", help="the trigger or root cause of the incident"
    )
    review.add_argument("--factor", action="store_true", help="a contributing factor")
    review.add_argument(
        "--impact",
        action="store_true",
        help="what it did to users: who was affected, how much mail (when it began is"
        " --phase impact)",
    )
    review.add_argument(
        "--went",
        metavar="{well,badly,lucky}",
        help="a lesson, under what went well, what went badly or where we got lucky"
        " (tags it as a lesson too)",
    )
    review.add_argument(
        "--action",
        action="store_true",
        help="an action item: TEXT is what is to be done; --owner, --due and --ticket optional",
    )
    review.add_argument("--owner", metavar="NAME", help="who owns the action item (with --action)")
    review.add_argument(
        "--due", metavar="YYYY-MM-DD", help="when the action item is due (with --action)"
    )
    review.add_argument(
        "--ticket",
        metavar="ID",
        help="the action item's ticket, an id or a URL (with --action)",
    )


def _add_look_options(parser: argparse.ArgumentParser) -> None:
    """--theme and --ascii, for the subcommands that open a screen."""
    parser.add_argument("--theme", metavar="NAME", help=_THEME_HELP)
    parser.add_argument("--ascii", action="store_true", help="draw with ASCII only")


def _take_late_text(
    parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]
) -> None:
    """`cockpit log INCIDENT --role commander "taking over"`: TEXT after an option.

    argparse gives an optional positional its empty value when the positionals before the
    first option are matched, and then has nowhere to put a TEXT given after an option; it
    is taken here. Anything else left over is refused as argparse would.
    """
    if (
        args.command == "log"
        and args.text is None
        and len(extras) == 1
        and not extras[0].startswith("-")
    ):
        args.text = extras[0]
        return
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        _take_late_text(parser, args, extras)
    except SystemExit as stop:
        # `cockpit check` follows the monitoring-plugin convention: 3 means "could not run".
        if stop.code == 2 and _command_word(argv) == "check":
            if "--json" in _words(argv):
                _write_json_usage_error(_Parser.last_error or "bad command line")
            return 3
        raise
    if argv is None:  # the real command line, not a caller inside another program
        from cockpit import children

        children.install()
    try:
        return _dispatch(parser, args)
    except CockpitError as exc:
        report_error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        if os.environ.get("COCKPIT_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        report_error(f"{message} (set COCKPIT_DEBUG=1 for details)")
        if _command_word(argv) == "check":
            # The monitoring contract holds even here: "could not run" is 3, and a monitor
            # reading stdout (--json) gets JSON.
            if "--json" in _words(argv):
                _write_json_error(message, "internal")
            return 3
        return EXIT_INTERNAL


_RUNNERS: dict[str | None, tuple[str, str]] = {
    None: ("cockpit.commands.ui_cmd", "run_ui"),
    "log": ("cockpit.commands.log_cmd", "run_log"),
    "check": ("cockpit.commands.check_cmd", "run_check"),
    "export": ("cockpit.commands.export_cmd", "run_export"),
    "serve": ("cockpit.commands.serve_cmd", "run_serve"),
    "replay": ("cockpit.commands.replay_cmd", "run_replay"),
    "drill": ("cockpit.commands.drill_cmd", "run_drill"),
    "vantage": ("cockpit.commands.vantage_cmd", "run_vantage"),
}
"""Subcommand -> (module, function taking the parsed args); imported only when chosen."""


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "config":
        from cockpit.commands.config_cmd import run_config_check

        return run_config_check(args.config)
    runner = _RUNNERS.get(args.command)
    if runner is None:
        parser.print_help()
        return EXIT_OK
    module, function = runner
    run: Callable[[argparse.Namespace], int] = getattr(import_module(module), function)
    return run(args)


def _words(argv: Sequence[str] | None) -> list[str]:
    return sys.argv[1:] if argv is None else list(argv)


def _command_word(argv: Sequence[str] | None) -> str | None:
    return next((word for word in _words(argv) if not word.startswith("-")), None)


def _write_json_usage_error(message: str) -> None:
    """`cockpit check --json` with a command line argparse refused: JSON on stdout all the same."""
    _write_json_error(message, "usage")


def _write_json_error(message: str, kind: str) -> None:
    """`cockpit check --json` that could not run: {"error": {...}} on stdout all the same."""
    import json

    from cockpit.safe_text import clean

    document = {"error": {"message": clean(message), "kind": kind, "exit": 3}}
    write_stdout(json.dumps(document, ensure_ascii=False) + "\n")


def report_error(message: str) -> None:
    """Print an error for a person: one safe line per line of message, never raw control bytes."""
    from cockpit.safe_text import clean

    for line in message.splitlines() or [""]:
        sys.stderr.write(f"cockpit: error: {clean(line)}\n")


def report_warning(message: str) -> None:
    from cockpit.safe_text import clean

    for line in message.splitlines() or [""]:
        sys.stderr.write(f"cockpit: warning: {clean(line)}\n")


def report_note(message: str) -> None:
    """Something worth knowing that is not wrong (a user theme replacing a shipped one)."""
    from cockpit.safe_text import clean

    for line in message.splitlines() or [""]:
        sys.stderr.write(f"cockpit: note: {clean(line)}\n")


def write_stdout(text: str) -> None:
    """UTF-8 on stdout whatever the locale says."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "backslashreplace"))
    sys.stdout.buffer.flush()


def _silence_stdout() -> None:
    # The reader went away (`cockpit export x | head`): nothing more to say to it.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


__all__ = ["main", "build_parser", "UsageError"]
