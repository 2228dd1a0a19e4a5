"""`cockpit export INCIDENT [-o FILE] [--format md|json]`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from cockpit.errors import CockpitError, UsageError


def run_export(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.incident.log import IncidentLog
    from cockpit.safe_text import clean

    log = IncidentLog(args.incident)
    result = log.read()
    for problem in result.problems:
        report_warning(f"{log.path}: {problem}")
    name = log.path.stem
    if args.format == "json":
        from cockpit.incident.export_json import render_json

        document = render_json(result.entries, result.problems, name=name)
    else:
        from cockpit.incident.export_md import render_markdown

        document = render_markdown(result.entries, result.problems, name=name)
    if args.output is None or args.output == "-":
        write_stdout(document)
        return 0
    target = Path(args.output)
    _refuse_to_overwrite_log(target, log.path, log.lock_path)
    _write_atomically(target, document)
    sys.stderr.write(f"cockpit: wrote {len(result.entries)} entries to {clean(str(target))}\n")
    return 0


def _refuse_to_overwrite_log(target: Path, *protected: Path) -> None:
    for path in protected:
        try:
            same = target.resolve() == path.resolve()
        except OSError:
            same = False
        if same:
            raise UsageError(f"-o {target}: that is the incident log itself; choose another file")


def _write_atomically(target: Path, document: str) -> None:
    """Readers of the export never see half a file: write beside it, fsync, rename."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise CockpitError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(document.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except OSError as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise CockpitError(f"cannot write {target}: {exc.strerror or exc}") from None
