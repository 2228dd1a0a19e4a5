"""The auth pane: regions (rows) by checks (columns), rendered from the findings handed to it.

API for the shell (call the show_ methods once the pane is mounted):
    AuthPane(ascii_only=False, skipped=(), id=...): `skipped` are the checks `[auth] skip`
        names (smtp-tls takes DANE with it).
    AuthPane.show_findings(findings): auth findings (area "auth"); it never does I/O.
    Selecting (highlighting) a cell shows every finding of that region and check, with its
    reason (summary) and evidence (data), in the detail line under the table (#auth-detail).

Rows: the worst region first; its name stays in view as the table scrolls sideways.
Columns: SPF, DKIM, DMARC, PTR, MTA-STS, TLS-RPT, SMTP TLS, DANE, webmail, IdP, then any other
check seen. A cell is the worst status of its findings, glyph and word ("! warn"), with a count
when there are several; "- skipped" for a check the config skips, "-" when nothing is configured
for it in that region (webmail and IdP need a URL); the detail says which. A check named "spf-
lookups" goes under SPF (the part before the first "-" when the full name is not a column).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static
from textual.widgets.data_table import CellKey

from cockpit.model import Finding, worst
from cockpit.ui.hidden_view import StatusTable
from cockpit.ui.pane_text import (
    CellDetailPane,
    safe,
    short,
    status_css,
)

CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("spf", "SPF"),
    ("dkim", "DKIM"),
    ("dmarc", "DMARC"),
    ("ptr", "PTR"),
    ("mta-sts", "MTA-STS"),
    ("tls-rpt", "TLS-RPT"),
    ("smtp-tls", "SMTP TLS"),
    ("dane", "DANE"),
    ("webmail", "webmail"),
    ("idp", "IdP"),
)
SKIPPED_WITH = {"dane": "smtp-tls"}
"""A column not run when another check is skipped: DANE reuses the smtp-tls conversations."""
NO_REGION = "(all)"
DETAIL_HINT = "select a cell for the reason and evidence"
EVIDENCE_ITEMS = 12
"""At most this many data items per finding in the detail."""


def column_of(check: str, known: Sequence[str]) -> str:
    """The column a check goes under: itself, or the part before its first "-"."""
    name = check.lower()
    if name in known:
        return name
    head = name.split("-", 1)[0]
    return head if head in known else name


def evidence_json(value: object) -> str:
    """A non-string evidence value as compact JSON (its strings then go through `clean` like
    any other text), not as a Python repr that would spell control characters as escapes."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return str(value)


class AuthPane(CellDetailPane):
    """Auth checks per region; see the module docstring."""

    TABLE_ID = "auth-table"
    DETAIL_ID = "auth-detail"
    DETAIL_HINT = DETAIL_HINT
    HIDDEN_NOUN = "regions"

    DEFAULT_CSS = """
    AuthPane { height: auto; }
    AuthPane > DataTable { height: auto; max-height: 10; }
    AuthPane > #auth-detail { height: auto; max-height: 8; }
    """ + status_css("AuthPane")

    def __init__(
        self,
        *,
        ascii_only: bool = False,
        skipped: Collection[str] = (),
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(ascii_only=ascii_only, name=name, id=id, classes=classes)
        self._skipped = frozenset(check.lower() for check in skipped)
        self._cells: dict[tuple[str, str], list[Finding]] = {}
        self._shown: Sequence[Finding] | None = None

    def redraw(self) -> None:
        """Status colours are baked into the cells: draw them again in the new theme."""
        if self._shown is not None:
            self.show_findings(self._shown)

    def compose(self) -> ComposeResult:
        # The region stays in view while the checks scroll by.
        yield StatusTable(id="auth-table", cursor_type="cell", fixed_columns=1)
        yield Static(Text(DETAIL_HINT), id="auth-detail")

    def show_findings(self, findings: Sequence[Finding]) -> None:
        self._shown = findings
        known = [key for key, _ in CHECK_COLUMNS]
        columns = list(CHECK_COLUMNS)
        regions: list[str] = []
        cells: dict[tuple[str, str], list[Finding]] = {}
        for finding in findings:
            column = column_of(finding.check, known)
            if column not in known:
                known.append(column)
                columns.append((column, column))
            region = finding.region or NO_REGION
            if region not in regions:
                regions.append(region)
            cells.setdefault((region, column), []).append(finding)
        self._cells = cells
        table_columns = [("region", Text("region"))]
        table_columns += [
            (key, safe(short(label, 12, ascii_only=self.ascii_only))) for key, label in columns
        ]
        rows = [
            (
                region,
                [safe(short(region, 16, ascii_only=self.ascii_only))]
                + [self._cell(cells.get((region, key), []), key) for key, _ in columns],
            )
            for region in regions
        ]
        self.show_rows(table_columns, rows)

    def detail_for(self, cell_key: CellKey) -> Text:
        region = cell_key.row_key.value
        column = cell_key.column_key.value
        if region is None or column is None or column == "region":
            return Text(DETAIL_HINT)
        return self.detail_text(region, column)

    def _skipped_by(self, column: str) -> str | None:
        """The `[auth] skip` name that keeps this column's check from running, if any."""
        for name in (column, SKIPPED_WITH.get(column)):
            if name is not None and name in self._skipped:
                return name
        return None

    def _cell(self, findings: list[Finding], column: str) -> Text:
        if not findings:
            return Text("- skipped" if self._skipped_by(column) else "-", style="dim")
        status = worst([finding.status for finding in findings])
        extra = f"({len(findings)})" if len(findings) > 1 else ""
        return self.status_cell(status, extra)

    def detail_text(self, region: str, column: str) -> Text:
        """The reason and evidence of every finding in one cell."""
        findings = self._cells.get((region, column), [])
        text = Text()
        text.append_text(safe(f"{region} / {column}"))
        if not findings:
            skipped_by = self._skipped_by(column)
            if skipped_by is not None:
                text.append(f"\nnot checked: [auth] skip in the config lists {skipped_by}")
            else:
                text.append(
                    "\nno finding: nothing is configured for this check in this region"
                    " (webmail and IdP need a URL)"
                )
            return text
        for finding in findings:
            text.append("\n")
            text.append_text(self.status_cell(finding.status))
            text.append(" ")
            text.append_text(safe(f"{finding.check} {finding.subject}: {finding.summary}"))
            for key, value in list(finding.data.items())[:EVIDENCE_ITEMS]:
                text.append("\n    ")
                shown = value if isinstance(value, str) else evidence_json(value)
                text.append_text(safe(short(f"{key}: {shown}", 200, ascii_only=self.ascii_only)))
        return text
