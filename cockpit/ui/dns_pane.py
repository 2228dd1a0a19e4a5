"""The DNS pane: watched records (rows) by resolvers (columns), rendered from one sweep.

API for the shell (call the show_ methods once the pane is mounted):
    DnsPane(ascii_only=False, clock=None, domain=None, id=...): `clock` returns the aware UTC
        now (default datetime.now(UTC)); the pane reads it to count the TTLs down. Names under
        `domain` are shown relative to it ("MX @", "DKIM s1._domainkey"), as in a zone file.
    DnsPane.show_sweep(sweep, target): show a finished SweepResult judged against the target
        region (cockpit.dns.findings_pure.findings_from_sweep); it never does I/O.
    DnsPane.show_progress(done, total): a sweep in progress ("sweep in progress 3/12").
    DnsPane.tick(now=None): re-count the TTLs (the pane's own timer calls it every TICK_SECONDS).

Columns: record, converged share, one per resolver (the table scrolls sideways when many; the
record and its share stay in view, only the record when the pane is narrow), estimate. Each
resolver cell is the status glyph and word, a short word for what it points at (the region name,
"mixed", "unexpected", "current", "stale", "NXDOMAIN", "NODATA") or the failure ("timeout",
"SERVFAIL", ...), and the TTL left: for a stale answer, the TTL of the link holding the stale
part (a moved CNAME's, not the short TTL of the record it leads to: propagation.stale_ttl), so
the count reaches 0 when that cache can have let go. The first row is the authoritative
servers with their SOA serials; the rows are ordered worst first (a row's worst cell), the
authoritative row among them. Highlighting a cell shows its raw answer, TTL, latency and rcode
in the detail line under the table (#dns-detail).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static
from textual.widgets.data_table import CellKey

from cockpit.compat import UTC
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding, Status, worst
from cockpit.ui.hidden_view import StatusTable
from cockpit.ui.pane_text import (
    CellDetailPane,
    safe,
    short,
    status_css,
)

if TYPE_CHECKING:
    # The judgement modules load dnspython: imported when the first sweep is shown.
    from cockpit.dns.propagation import Propagation
    from cockpit.dns.sweep_model import SweepResult

AUTHORITATIVE_ROW = "authoritative"
RAW_ANSWERS_SHOWN = 8
DETAIL_HINT = "select a cell for the raw answer, TTL, latency and rcode"
_FAILURE_WORDS = {
    Outcome.TIMEOUT: "timeout",
    Outcome.SERVFAIL: "SERVFAIL",
    Outcome.REFUSED: "REFUSED",
    Outcome.NETWORK_ERROR: "network error",
    Outcome.MALFORMED: "malformed",
    Outcome.REFERRAL: "referral",
    Outcome.UNOBSERVED: "not seen",
}


def add_line(text: Text, value: str) -> None:
    """Append a line break, then `value` cleaned (a break inside it becomes " ↵ ")."""
    text.append("\n")
    text.append_text(safe(value))


def clock(moment: datetime, reference: datetime | None = None) -> str:
    """A time as the propagation estimates write it (cockpit.dns.propagation.clock)."""
    from cockpit.dns.propagation import clock as propagation_clock

    return propagation_clock(moment, reference)


def ttl_left(obs: Observation, now: datetime, ttl: int | None = None) -> int | None:
    """Seconds left at `now` of `ttl` (default the answer's TTL), counted from when it was
    observed, never below 0; None when there is no TTL."""
    ttl = obs.ttl if ttl is None else ttl
    if ttl is None:
        return None
    elapsed = (now - obs.observed_at).total_seconds()
    return max(0, math.ceil(ttl - elapsed))


def cell_word(finding: Finding, obs: Observation | None) -> str:
    """What an answer points at, or why there is none, in a word or two."""
    if obs is None:
        return "not asked"
    verdict = finding.data.get("verdict")
    if verdict == "region":
        return finding.region or "/".join(finding.data.get("regions", ())) or "region"
    if verdict == "missing":
        return "NXDOMAIN" if obs.outcome is Outcome.NXDOMAIN else "NODATA"
    if verdict == "failed":
        if obs.outcome is Outcome.OTHER_RCODE:
            return obs.rcode or "error"
        return _FAILURE_WORDS.get(obs.outcome, "no view")
    return str(verdict or "?")


def in_how_long(moment: datetime, now: datetime) -> str:
    """ "in 4 min", "in 30 s", or "now" once the moment has passed."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 60:
        return f"in {math.ceil(seconds)} s"
    return f"in {math.ceil(seconds / 60)} min"


def estimate_text(propagation: Propagation, now: datetime) -> str:
    """The reason, with "in N min" after an estimate ("all caches fresh by 14:32:05 UTC, in 4
    min")."""
    if propagation.estimate is None:
        return propagation.reason
    return f"{propagation.reason}, {in_how_long(propagation.estimate, now)}"


def record_label(check: str, name: str, domain: str | None) -> str:
    """What a record's row is called: its check and its name, relative to `domain` ("@" for the
    domain itself) when it is under it, as in a zone file; the detail line has the full name."""
    if domain is not None:
        if name == domain:
            name = "@"
        elif name.endswith("." + domain):
            name = name[: -len(domain) - 1]
    return f"{check} {name}"


RECORD_LABEL_CHARS = 28
"""A longer record label is cut (with an ellipsis); the detail line shows the whole name."""
MIN_RECORD_LABEL_CHARS = 16
SHARE_CHARS = 22
"""What the converged share needs beside the record label: its widest common cell ("? unknown
5/10 50%") and the padding of both columns."""
TWO_FIXED_COLUMNS_FROM = 60
"""From this pane width the converged share stays in view beside the record as the table
scrolls sideways; below it only the record does."""
PROGRESS_EVERY_S = 1.0
"""A sweep's running count is shown at most this often (and not for a sweep shorter)."""
TICK_SECONDS = 5.0
"""How often the TTLs and estimates count down between sweeps (each tick repaints cells)."""


class DnsPane(CellDetailPane):
    """Watched records by resolvers; see the module docstring."""

    TABLE_ID = "dns-table"
    DETAIL_ID = "dns-detail"
    DETAIL_HINT = DETAIL_HINT
    HIDDEN_NOUN = "records"

    DEFAULT_CSS = """
    DnsPane { height: auto; }
    DnsPane > #dns-progress { height: 1; }
    DnsPane > DataTable { height: auto; max-height: 14; }
    DnsPane > #dns-detail { height: auto; max-height: 10; }
    """ + status_css("DnsPane")

    def __init__(
        self,
        *,
        ascii_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        domain: str | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(ascii_only=ascii_only, name=name, id=id, classes=classes)
        self._progress_at = 0.0
        """When the progress line last showed a count (monotonic)."""
        self._running_since: float | None = None
        """When the sweep in progress sent its first answer; None between sweeps."""
        self._clock = clock or (lambda: datetime.now(UTC))
        self._domain = domain.lower().rstrip(".") if domain else None
        self._label_chars = RECORD_LABEL_CHARS
        """The longest record label shown; less in a narrow pane (see on_resize)."""
        self._sweep: SweepResult | None = None
        self._target = ""
        self._findings: dict[tuple[str, str, str | None], Finding] = {}
        self._propagation: dict[str, Propagation] = {}
        self._soa: list[Finding] = []
        self._resolver_columns: dict[str, str] = {}
        """column key -> resolver name."""

    def compose(self) -> ComposeResult:
        yield Static(Text("no sweep yet"), id="dns-progress")
        # The record name and its converged share stay in view while the resolvers scroll by.
        yield StatusTable(id="dns-table", cursor_type="cell", fixed_columns=2)
        yield Static(Text(DETAIL_HINT), id="dns-detail")

    def on_mount(self) -> None:
        self.set_interval(TICK_SECONDS, self.tick)

    def on_resize(self) -> None:
        # Two fixed columns in a narrow pane would leave no room for the resolvers to scroll by.
        width = self.size.width
        fixed = 2 if width >= TWO_FIXED_COLUMNS_FROM else 1
        if self.table.fixed_columns != fixed:
            self.table.fixed_columns = fixed
        # In a narrow pane the record labels give way, so that the converged share still shows.
        label_chars = max(MIN_RECORD_LABEL_CHARS, min(RECORD_LABEL_CHARS, width - SHARE_CHARS))
        if label_chars != self._label_chars:
            self._label_chars = label_chars
            self.redraw()

    def redraw(self) -> None:
        """Status colours are baked into the cells: draw them again in the new theme."""
        if self._sweep is not None:
            self.show_sweep(self._sweep, self._target)

    @property
    def progress(self) -> Static:
        return self.query_one("#dns-progress", Static)

    def show_progress(self, done: int, total: int) -> None:
        """At most every PROGRESS_EVERY_S: a fast sweep needs no running count on the wire."""
        now = time.monotonic()
        if self._running_since is None:  # the first answer of a new sweep
            self._running_since = now
        if now - max(self._running_since, self._progress_at) < PROGRESS_EVERY_S:
            return
        self._progress_at = now
        self.progress.update(Text(f"sweep in progress {done}/{total}"), layout=False)

    def show_error(self, reason: str) -> None:
        """The latest sweep failed: say why; the matrix keeps the last sweep, with its time."""
        last = (
            f"; the matrix is the sweep of {clock(self._sweep.finished_at)}"
            if self._sweep is not None
            else ""
        )
        self.progress.update(safe(f"{reason}{last}", style="bold"))

    def show_sweep(self, sweep: SweepResult, target: str) -> None:
        self._running_since = None
        if sweep is not self._sweep or target != self._target:
            self._judge(sweep, target)
        seconds = (sweep.finished_at - sweep.started_at).total_seconds()
        self.progress.update(
            safe(f"last sweep {clock(sweep.finished_at)} ({seconds:.1f} s), target {target}"),
            layout=False,
        )
        now = self._clock()
        columns = [("record", Text("record")), ("converged", Text("converged"))]
        columns += [
            (key, safe(short(resolver, 16, ascii_only=self.ascii_only)))
            for key, resolver in self._resolver_columns.items()
        ]
        columns.append(("estimate", Text("estimate")))
        rows = [(AUTHORITATIVE_ROW, self._authoritative_cells(sweep))]
        for watched in sweep.watched:
            label = record_label(watched.check, watched.name, self._domain)
            cells = [safe(short(label, self._label_chars, ascii_only=self.ascii_only))]
            cells.append(self._share_cell(self._propagation[watched.key]))
            cells += [self._resolver_cell(watched.key, key, now) for key in self._resolver_columns]
            cells.append(safe(estimate_text(self._propagation[watched.key], now)))
            rows.append((watched.key, cells))
        self.show_rows(columns, rows)

    def _judge(self, sweep: SweepResult, target: str) -> None:
        """Judge a new sweep (or the same sweep against another target); a redraw keeps it."""
        from cockpit.dns.findings_pure import findings_from_sweep
        from cockpit.dns.propagation import record_propagation

        self._sweep = sweep
        self._target = target
        findings = findings_from_sweep(sweep, target)
        self._findings = {(f.check, f.subject, f.resolver): f for f in findings}
        self._soa = [f for f in findings if f.check in ("SOA", "authoritative")]
        self._propagation = {w.key: record_propagation(sweep, w, target) for w in sweep.watched}
        self._resolver_columns = {f"r{i}": spec.name for i, spec in enumerate(sweep.resolvers)}

    def detail_for(self, cell_key: CellKey) -> Text | None:
        record_key, column_key = cell_key.row_key.value, cell_key.column_key.value
        if record_key is None or column_key is None:
            return None
        return self.detail_text(record_key, column_key)

    def tick(self, now: datetime | None = None) -> None:
        """Count the TTLs and the estimates down to `now` (default: the pane's clock).

        Skipped while the matrix is younger than TICK_SECONDS (a sweep every few seconds
        redraws it anyway)."""
        sweep = self._sweep
        if sweep is None:
            return
        now = now or self._clock()
        if (now - sweep.finished_at).total_seconds() < TICK_SECONDS:
            return
        table = self.table
        for watched in sweep.watched:
            cells = {
                key: self._resolver_cell(watched.key, key, now) for key in self._resolver_columns
            }
            cells["estimate"] = safe(estimate_text(self._propagation[watched.key], now))
            for key, cell in cells.items():
                shown = table.get_cell(watched.key, key)
                if not (isinstance(shown, Text) and shown.plain == cell.plain):
                    table.update_cell(watched.key, key, cell)

    def _authoritative_cells(self, sweep: SweepResult) -> list[Text]:
        status = worst([f.status for f in self._soa]) if self._soa else Status.UNKNOWN
        if sweep.authoritative_error is not None or not sweep.authoritative:
            shown = f"none: {sweep.authoritative_error or 'no authoritative servers'}"
        else:
            from cockpit.dns.propagation import serial_view

            view = serial_view(sweep)
            shown = ", ".join(
                f"{name} {serial if serial is not None else '?'}"
                for name, serial in view.serials.items()
            )
        blanks = [Text("") for _ in self._resolver_columns]
        return [
            Text("authoritative SOA"),
            self.status_cell(status),
            *blanks,
            safe(short(f"serials {shown}", 80, ascii_only=self.ascii_only)),
        ]

    def _share_cell(self, propagation: Propagation) -> Text:
        finding = self._findings.get(("propagation", propagation.key, None))
        status = finding.status if finding is not None else Status.UNKNOWN
        percent = round(propagation.share * 100)
        return self.status_cell(status, f"{propagation.converged}/{propagation.total} {percent}%")

    def _cell_parts(
        self, record_key: str, column_key: str
    ) -> tuple[Finding | None, Observation | None]:
        sweep = self._sweep
        resolver = self._resolver_columns.get(column_key)
        if sweep is None or resolver is None:
            return None, None
        watched = next((w for w in sweep.watched if w.key == record_key), None)
        if watched is None:
            return None, None
        finding = self._findings.get((watched.check, watched.name, resolver))
        return finding, sweep.observations.get((resolver, record_key))

    def _stale_ttl(self, record_key: str, column_key: str) -> int | None:
        """The TTL holding this resolver's stale part, when its answer is stale."""
        propagation = self._propagation.get(record_key)
        resolver = self._resolver_columns.get(column_key)
        if propagation is None or resolver is None:
            return None
        return propagation.stale_ttls.get(resolver)

    def _resolver_cell(self, record_key: str, column_key: str, now: datetime) -> Text:
        finding, obs = self._cell_parts(record_key, column_key)
        resolver = self._resolver_columns.get(column_key)
        sweep = self._sweep
        if finding is None and sweep is not None and (resolver, record_key) in sweep.not_asked:
            return Text("—" if not self.ascii_only else "-")  # not probed from that vantage
        if finding is None:
            return self.status_cell(Status.UNKNOWN, "not asked")
        word = short(cell_word(finding, obs), 14, ascii_only=self.ascii_only)
        held = self._stale_ttl(record_key, column_key)
        left = ttl_left(obs, now, held) if obs is not None else None
        propagation = self._propagation.get(record_key)
        if propagation is not None and resolver in propagation.served_stale_resolvers:
            left = None  # served from an expired cache entry: its TTL counts down to nothing
        if left is not None:
            word += f" {left}s"
        return self.status_cell(finding.status, word)

    def detail_text(self, record_key: str, column_key: str) -> Text:
        """What one cell stands for: raw answer, TTL, latency and rcode, or the serials."""
        now = self._clock()
        text = Text()
        if record_key == AUTHORITATIVE_ROW:
            text.append("authoritative servers")
            for soa in self._soa:
                text.append("\n")
                text.append_text(self.status_cell(soa.status))
                text.append(" ")
                text.append_text(safe(f"{soa.resolver or ''} {soa.summary}".strip()))
            return text
        propagation = self._propagation.get(record_key)
        if column_key not in self._resolver_columns:
            text.append_text(safe(record_key))
            if propagation is not None:
                text.append("\n")
                text.append_text(safe(f"{propagation.converged}/{propagation.total} converged; "))
                text.append_text(safe(estimate_text(propagation, now)))
                if propagation.stale_resolvers:
                    add_line(text, f"stale: {', '.join(propagation.stale_resolvers)}")
                if propagation.unknown_resolvers:
                    unknown = ", ".join(propagation.unknown_resolvers)
                    add_line(text, f"could not tell: {unknown}")
            return text
        finding, obs = self._cell_parts(record_key, column_key)
        resolver = self._resolver_columns[column_key]
        text.append_text(safe(f"{record_key} at {resolver}"))
        if finding is not None:
            text.append("\n")
            text.append_text(self.status_cell(finding.status))
            text.append(" ")
            text.append_text(safe(finding.summary))
        if obs is None:
            text.append("\nnot asked in this sweep")
            return text
        left = ttl_left(obs, now)
        ttl = "none" if obs.ttl is None else f"{obs.ttl} s ({left} s left)"
        held = self._stale_ttl(record_key, column_key)
        if held is not None and held != obs.ttl:
            ttl += f", stale part {held} s ({ttl_left(obs, now, held)} s left)"
        latency = "no reply" if obs.latency_ms is None else f"{obs.latency_ms:.1f} ms"
        add_line(
            text,
            f"rcode {obs.rcode or 'none'}, TTL {ttl}, latency {latency}, "
            f"attempts {obs.attempts}, observed {clock(obs.observed_at)}",
        )
        if obs.error:
            add_line(text, f"error: {obs.error}")
        raw = obs.raw_answers or obs.answers
        if not raw:
            text.append("\nno answer records")
        for line in raw[:RAW_ANSWERS_SHOWN]:
            text.append("\n  ")
            text.append_text(safe(short(line, 200, ascii_only=self.ascii_only)))
        if len(raw) > RAW_ANSWERS_SHOWN:
            text.append(f"\n  and {len(raw) - RAW_ANSWERS_SHOWN} more")
        return text
