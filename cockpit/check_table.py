"""`cockpit check` as a readable table (Rich). Every value from probes is shown as plain text."""

from __future__ import annotations

import io
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cockpit.glyphs import glyph_set, terminal_wants_ascii
from cockpit.model import Finding, Status
from cockpit.safe_text import clean

if TYPE_CHECKING:
    from cockpit.commands.check_skipped import SkippedCheck

# Colour repeats what the glyph and the word already say (cockpit.glyphs).
STATUS_STYLE = {
    Status.OK: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "magenta",
}


def render_findings(
    findings: Sequence[Finding],
    *,
    target: str,
    target_origin: str,
    ascii_only: bool | None = None,
    skipped: Sequence[SkippedCheck] = (),
) -> str:
    """The findings as a table; ASCII glyphs and borders if `ascii_only` (None: ask the locale).

    `skipped` checks follow as rows whose status is "— skipped" ("- skipped" in ASCII) and
    whose summary is the reason; the closing line counts them ("1 ok, 0 warn, 0 fail, 0 unknown,
    3 skipped").
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    # Colours only on a terminal (Rich honours NO_COLOR); the width is the terminal's, so an
    # 80-column SSH session gets a table that fits.
    on_terminal = sys.stdout.isatty()
    console = Console(
        file=buffer,
        width=shutil.get_terminal_size((140, 24)).columns,
        force_terminal=on_terminal,
        color_system="auto" if on_terminal else None,
        highlight=False,
        emoji=False,
        markup=False,
    )
    if ascii_only is None:
        ascii_only = terminal_wants_ascii()
    glyphs = glyph_set(ascii_only)
    table = Table(show_lines=False, expand=False, box=box.ASCII if ascii_only else box.HEAVY_HEAD)
    for column in ("status", "area", "check", "subject", "resolver", "region", "summary"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            Text(glyphs.label(finding.status), style=STATUS_STYLE[finding.status]),
            Text(clean(finding.area)),
            Text(clean(finding.check)),
            Text(clean(finding.subject)),
            Text(clean(finding.resolver or "")),
            Text(clean(finding.region or "-")),
            Text(clean(finding.summary)),
        )
    for check in skipped:
        table.add_row(
            Text(f"{glyphs.dash} skipped", style="dim"),
            Text(clean(check.area)),
            Text(clean(check.check)),
            Text(""),
            Text(""),
            Text(clean(check.region or "-")),
            Text(clean(check.reason)),
        )
    console.print(Text(f"target region: {clean(target)} ({clean(target_origin)})"))
    console.print(table)
    counts = Counter(finding.status for finding in findings)
    totals = [f"{counts.get(s, 0)} {s.value}" for s in Status]
    totals.append(f"{len(skipped)} skipped")
    console.print(Text(", ".join(totals)))
    return buffer.getvalue()
