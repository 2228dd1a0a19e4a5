"""`cockpit export INCIDENT [-o FILE] [--format md|json]`."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import UsageError
from cockpit.output_file import output_file, plan_output, refuse_incident_file

if TYPE_CHECKING:
    from cockpit.commands.export_early import EarlyProbeParts
    from cockpit.incident.log import IncidentLog


def run_export(args: argparse.Namespace) -> int:
    from cockpit.incident.log import IncidentLog

    log = IncidentLog(args.incident)
    target = "-" if args.output is None else args.output
    label = f"-o {args.output}"
    if not target.strip():
        raise UsageError("-o: expected a file name (or - for standard output), found nothing")
    if target != "-":
        refuse_incident_file(log.path, Path(target), label)
        plan_output(target, named_by_user=True, label=label)  # refused before any work
    early = None
    if args.format == "md":
        from cockpit.commands.export_early import start_probe_parts

        early = start_probe_parts(log.path)  # a child makes the probe parts as we read
    try:
        return _export(args, log, target, label, early)
    finally:
        if early is not None:
            early.close()


def _export(
    args: argparse.Namespace,
    log: IncidentLog,
    target: str,
    label: str,
    early: EarlyProbeParts | None,
) -> int:
    from cockpit.cli import report_warning
    from cockpit.commands.common import report_log_problems, runbook_for_log
    from cockpit.safe_text import clean

    steps, warning = runbook_for_log(log.path, args.config)
    if warning is not None:
        report_warning(warning)
    result = log.read()
    # The entries live until the process ends: keep the collector from walking them again and
    # again while the export creates its many small objects (about 15% of the export's time).
    gc.freeze()
    where = 'the review\'s "Log integrity" section' if args.format == "md" else '"problems"'
    report_log_problems(log.path, result.problems, listed_in=where, warn=report_warning)
    from cockpit.commands.export_parallel import write_review, write_text

    name = log.path.stem
    if args.format == "md":
        from cockpit.incident.export_md import markdown_parts, probe_parts

        parts, timeline = markdown_parts(
            result.entries,
            result.problems,
            name=name,
            steps=steps,
            make_probe_parts=probe_parts if early is None else early.parts,
        )
    else:
        from cockpit.incident.export_json import render_json

        document = render_json(result.entries, result.problems, name=name, steps=steps)
    # A regular file is replaced atomically; /dev/null, a FIFO or - are written directly; a
    # directory, a socket or a link to a file are refused (cockpit.output_file).
    with output_file(target, mode=0o644, named_by_user=True, label=label) as handle:
        if args.format == "md":
            write_review(handle, parts, timeline, entries=len(result.entries))
        else:
            write_text(handle, [document])
    if target != "-":
        sys.stderr.write(f"cockpit: wrote {len(result.entries)} entries to {clean(target)}\n")
    return 0
