"""`cockpit export INCIDENT [-o FILE] [--format md|json]`."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

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
    # A regular file is replaced atomically; /dev/null, a FIFO or - are written directly; a
    # directory, a socket or a link to a file are refused (cockpit.output_file).
    if args.format == "md":
        from cockpit.commands.export_parallel import (
            PARALLEL_FROM_ENTRIES,
            part_lines,
            write_parallel,
            write_text,
        )
        from cockpit.incident.export_md import markdown_parts

        parts, timeline = markdown_parts(
            result.entries, result.problems, name=log.path.stem, steps=steps
        )
        with output_file(target, mode=0o644, named_by_user=True, label=label) as handle:
            # A long log's timeline is made on the second core beside the other parts.
            if len(result.entries) < PARALLEL_FROM_ENTRIES or not write_parallel(
                handle, parts, timeline
            ):
                write_text(handle, (line for i, p in enumerate(parts) for line in part_lines(i, p)))
    else:
        chunks = _document(
            args.format, result.entries, result.problems, name=log.path.stem, steps=steps
        )
        with output_file(target, mode=0o644, named_by_user=True, label=label) as handle:
            _write_chunks(handle, chunks)
    if target != "-":
        sys.stderr.write(f"cockpit: wrote {len(result.entries)} entries to {clean(target)}\n")
    return 0


def _document(fmt: str, entries, problems, *, name: str, steps) -> Iterable[str]:  # noqa: ANN001
    """The JSON export as text pieces."""
    from cockpit.incident.export_json import render_json

    return [render_json(entries, problems, name=name, steps=steps)]


def _write_chunks(out: BinaryIO, chunks: Iterable[str]) -> None:
    from cockpit.commands.export_parallel import write_text

    write_text(out, chunks)


def _refuse_to_overwrite_log(target: Path, *protected: Path) -> None:
    for path in protected:
        try:
            same = target.resolve() == path.resolve()
        except OSError:
            same = False
        if same:
            raise UsageError(f"-o {target}: that is the incident log itself; choose another file")
