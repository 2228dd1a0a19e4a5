"""`cockpit export INCIDENT [-o FILE] [--format md|json]`."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from cockpit.errors import UsageError
from cockpit.output_file import output_file, plan_output


def run_export(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning
    from cockpit.incident.log import IncidentLog
    from cockpit.safe_text import clean

    log = IncidentLog(args.incident)
    target = "-" if args.output is None else args.output
    label = f"-o {args.output}"
    if target != "-":
        _refuse_to_overwrite_log(Path(target), log.path, log.lock_path)
        plan_output(target, named_by_user=True, label=label)  # refused before any work
    from cockpit.commands.common import runbook_for_log

    steps, warning = runbook_for_log(log.path, args.config)
    if warning is not None:
        report_warning(warning)
    result = log.read()
    # The entries live until the process ends: keep the collector from walking them again and
    # again while the export creates its many small objects (about 15% of the export's time).
    gc.freeze()
    for problem in result.problems:
        report_warning(f"{log.path}: {problem}")
    from cockpit.commands.export_parallel import write_review, write_text

    name = log.path.stem
    if args.format == "md":
        from cockpit.incident.export_md import markdown_parts

        parts, timeline = markdown_parts(result.entries, result.problems, name=name, steps=steps)
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


def _refuse_to_overwrite_log(target: Path, *protected: Path) -> None:
    for path in protected:
        try:
            same = target.resolve() == path.resolve()
        except OSError:
            same = False
        if same:
            raise UsageError(f"-o {target}: that is the incident log itself; choose another file")
