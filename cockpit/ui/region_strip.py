"""The region strip: one line per region under the header, and the details behind it.

    strip = RegionStrip(("primary", "secondary"), ascii_only=False, clock=utc_now)
    strip.show_findings(findings, at)     # service, replication, authority, canary findings
    strip.show_entries(entries)           # the log: offers the impact proposal while none is set

A line reads "X fail primary DOWN since 14:02 · lag ? · role ? · <worst reason>": the status
glyph and word (never colour alone), the region, its state and since when, its replication lag
and role, then the reason, which is what gives way when the line is narrow. The worst region
comes first (`rows` keeps the configured order). While the log holds
a first alarm and no impact phase, one more line offers the proposed impact time (the app's `i`
key accepts it or takes another). `RegionDetails` (the app's `m` key) lists every finding
behind the lines. All data is untrusted: drawn as Text, cleaned, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from cockpit.compat import UTC
from cockpit.glyphs import glyph_set
from cockpit.hidden_rows import worst_first
from cockpit.incident.detection import ImpactProposal, impact_proposal
from cockpit.incident.entry import Entry
from cockpit.model import Finding, Status
from cockpit.region_status import RegionRow, region_rows
from cockpit.safe_text import clean
from cockpit.ui.pane_text import StatusPane, status_css

__all__ = ["ImpactPrompt", "RegionDetails", "RegionStrip"]


def _hhmm(moment: datetime | None) -> str:
    return "--:--" if moment is None else moment.astimezone(UTC).strftime("%H:%M")


def _lag_text(row: RegionRow) -> str:
    if row.lag is None:
        return ""
    lag = row.lag.data.get("lag_s")
    if isinstance(lag, int | float) and not isinstance(lag, bool):
        return f"lag {lag:.0f} s" if lag >= 1 else "lag <1 s"
    return "lag ?"


def _canary_text(run: Finding) -> str:
    """The worst canary run of a region: "canary inbound ok 3.2 s", or its reason."""
    from cockpit.canary.board import round_trip

    seconds = round_trip(run)
    took = "" if seconds is None else f" {seconds:.1f} s"
    head = f"canary {clean(run.check)} {run.status.value}{took}"
    return head if run.status is Status.OK else f"{head}: {clean(run.summary)}"


class RegionStrip(StatusPane):
    """One line per region; see the module docstring."""

    DEFAULT_CSS = """
    RegionStrip {
        height: auto;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """ + status_css("RegionStrip")

    def __init__(
        self,
        regions: Sequence[str],
        *,
        ascii_only: bool = False,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(ascii_only=ascii_only, id=id)
        self.regions = tuple(regions)
        self.rows: list[RegionRow] = region_rows(self.regions, (), now=datetime.now(UTC))
        self.findings: list[Finding] = []
        self.proposal: ImpactProposal | None = None

    def show_findings(self, findings: Sequence[Finding], at: datetime) -> None:
        self.findings = list(findings)
        rows = region_rows(self.regions, self.findings, previous=self.rows, now=at)
        if rows != self.rows:
            self.rows = rows
            self.refresh(layout=True)

    def show_entries(self, entries: Sequence[Entry]) -> None:
        proposal = impact_proposal(entries)
        if proposal != self.proposal:
            self.proposal = proposal
            self.refresh(layout=True)

    def redraw(self) -> None:
        self.refresh()

    def render(self) -> Text:
        # The worst region first; `rows` keeps the configured order.
        lines = [self._row_line(row) for row in worst_first(self.rows, lambda row: row.status)]
        if self.proposal is not None:
            lines.append(
                Text(
                    f"Impact not set: proposed {self.proposal.at.astimezone(UTC):%H:%M:%S} UTC"
                    f" ({clean(self.proposal.basis)}) - i to accept or type a time",
                    style="bold",
                )
            )
        width = self.size.width
        if self.ascii_only and width > 3:
            # CSS cuts a long line with a Unicode ellipsis: an ASCII screen gets "..." instead.
            for line in lines:
                if line.cell_len > width:
                    line.truncate(width - 3)
                    line.append("...")
        return Text("\n").join(lines)

    def _row_line(self, row: RegionRow) -> Text:
        glyphs = glyph_set(self.ascii_only)
        width = max(len(region) for region in self.regions) if self.regions else 0
        label_width = max(len(glyphs.label(status)) for status in Status)
        line = self.status_cell(row.status)
        line.pad_right(label_width - len(line.plain))
        line.append(f" {clean(row.region):<{width}} ")
        line.append(row.state.upper(), style="bold" if row.state != "up" else "")
        if row.since is not None and row.state != "waiting":
            line.append(f" since {_hhmm(row.since)}")
        extras = [_lag_text(row)] if row.lag is not None else []
        if row.roles:
            extras.append("role " + "/".join(clean(role) for role in row.roles))
        if row.authority is not None:
            extras.append(clean(row.authority.summary))
        if row.canary is not None:
            extras.append(_canary_text(row.canary))
        if row.state == "waiting":
            extras.append("no service probe has answered yet")
        elif row.reason:
            extras.append(clean(row.reason))
        for extra in extras:
            line.append(f" {glyphs.bullet} ")
            line.append(extra)
        return line


class RegionDetails(ModalScreen[None]):
    """Every service, replication, authority and canary finding behind the region strip."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("m", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    RegionDetails { align: center middle; }
    RegionDetails > Vertical {
        width: 100%; max-width: 160; height: 90%; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    RegionDetails VerticalScroll { height: 1fr; }
    """

    def __init__(self, findings: Sequence[Finding], *, ascii_only: bool = False) -> None:
        super().__init__()
        self._findings = list(findings)
        self._ascii_only = ascii_only

    def compose(self) -> ComposeResult:
        glyphs = glyph_set(self._ascii_only)
        body = Text(no_wrap=False)
        order = {"service": 0, "replication": 1, "authority": 2, "canary": 3}
        shown = sorted(
            self._findings,
            key=lambda f: (f.region or "", order.get(f.area, 9), -f.status.severity),
        )
        for index, finding in enumerate(shown):
            if index:
                body.append("\n")
            body.append(glyphs.label(finding.status), style=_STYLE.get(finding.status, ""))
            seen = "" if finding.observed_at is None else f" {finding.observed_at:%H:%M:%S}"
            body.append(f"{seen} {clean(finding.region or '-')} {finding.area} {finding.check} ")
            body.append(clean(finding.subject))
            body.append("\n    ")
            body.append(clean(finding.summary))
        if not shown:
            body.append("No service, replication, authority or canary result yet.")
        with Vertical():
            yield Label("Regions: service probes, replication lag, roles, canaries (Esc closes)")
            with VerticalScroll():
                yield Static(body, id="region-details-body")

    def action_close(self) -> None:
        self.dismiss(None)


_STYLE = {Status.FAIL: "bold", Status.WARN: "bold"}


class ImpactPrompt(ModalScreen[str | None]):
    """When did the impact begin? Offers the proposal (Enter accepts it) or takes a typed time
    (HH:MM[:SS] today UTC, or RFC 3339). Escape cancels; blank text, or a time it cannot read,
    is refused in the prompt, which stays open with the text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ImpactPrompt { align: center middle; }
    ImpactPrompt > Vertical {
        width: 76; max-width: 100%; height: auto; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    ImpactPrompt #impact-error { color: $error; }
    """

    def __init__(self, proposal: ImpactProposal | None, proposed_text: str) -> None:
        super().__init__()
        self._proposal = proposal
        self._proposed_text = proposed_text

    def compose(self) -> ComposeResult:
        if self._proposal is not None:
            title = Text("Impact began at (proposed: ")
            title.append(clean(self._proposal.basis))
            title.append(" of ")
            title.append(clean(self._proposal.subject))
            title.append("). Enter accepts; or type HH:MM[:SS] UTC")
        else:
            title = Text("Impact began at: HH:MM[:SS] today UTC, or RFC 3339")
        with Vertical():
            yield Label(title, id="impact-title")
            yield Input(value=self._proposed_text, placeholder="14:02", id="impact-input")
            yield Label("", id="impact-error")

    @on(Input.Submitted, "#impact-input")
    def _submit(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#impact-error", Label).update("Type a time, or Escape to cancel")
            return
        from cockpit.incident.when import parse_at

        clock = getattr(self.app, "clock", None)
        try:  # a time it cannot read keeps the prompt open with the text (never lost)
            parse_at(event.value, now=clock() if callable(clock) else datetime.now(UTC))
        except ValueError as error:
            self.query_one("#impact-error", Label).update(Text(clean(str(error))))
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
