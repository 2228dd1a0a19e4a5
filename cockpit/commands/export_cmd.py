"""`cockpit export INCIDENT [-o FILE] [--format md|json]`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from cockpit.errors import CockpitError, UsageError


def run_export(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning
    from cockpit.incident.log import IncidentLog
    from cockpit.safe_text import clean

    log = IncidentLog(args.incident)
    if args.output not in (None, "-"):
        _refuse_to_overwrite_log(Path(args.output), log.path, log.lock_path)
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
    chunks = _document(
        args.format, result.entries, result.problems, name=log.path.stem, steps=steps
    )
    if args.output is None or args.output == "-":
        sys.stdout.flush()
        _write_chunks(sys.stdout.buffer, chunks)
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.output)
    _write_atomically(target, chunks)
    sys.stderr.write(f"cockpit: wrote {len(result.entries)} entries to {clean(str(target))}\n")
    return 0


def _document(fmt: str, entries, problems, *, name: str, steps) -> Iterable[str]:  # noqa: ANN001
    """The export as text pieces, so a large timeline is never held twice in memory."""
    if fmt == "json":
        from cockpit.incident.export_json import render_json

        return [render_json(entries, problems, name=name, steps=steps)]
    from cockpit.incident.export_md import markdown_lines

    return (line + "\n" for line in markdown_lines(entries, problems, name=name, steps=steps))


def _write_chunks(out: BinaryIO, chunks: Iterable[str]) -> None:
    batch: list[str] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= 1 << 20:
            out.write("".join(batch).encode("utf-8"))
            batch, size = [], 0
    out.write("".join(batch).encode("utf-8"))


def _refuse_to_overwrite_log(target: Path, *protected: Path) -> None:
    for path in protected:
        try:
            same = target.resolve() == path.resolve()
        except OSError:
            same = False
        if same:
            raise UsageError(f"-o {target}: that is the incident log itself; choose another file")


def _write_atomically(target: Path, chunks: Iterable[str]) -> None:
    """Readers of the export never see half a file: write beside it, fsync, rename."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise CockpitError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_chunks(handle, chunks)
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
