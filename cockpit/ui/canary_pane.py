"""The canary lines under the auth table: one line per canary, its latest run.

    pane = CanaryPane(("eu-in", "eu-out"), ascii_only=False, id="canaries")
    pane.show_rows(rows, now)        # rows from cockpit.canary.board.CanaryBoard.rows()

A line reads "✓ ok  eu-in  inbound  primary  3.2 s  DKIM ✓ SPF ✓ DMARC ✓ path ✓  ▁▂▁█  2m ago",
then the reason when the run is not ok, or how many earlier messages it found had arrived after
their runs gave up (canary.sweep), in the warn colour (such a line counts as warn when lines
are ordered or hidden). A canary configured but not run yet says so ("waiting for its first
run": nothing was seen, never ok). The worst run comes first (waiting counts as unknown); when
the pane cannot show every line, its frame says how many it shows and the worst it hides. The
round-trip history is a small bar chart of the last runs, a run that did not arrive drawn as
"x" (never as a short bar). Every string from a finding is cleaned and drawn as Text, never as
markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text

from cockpit.canary.board import CanaryRow
from cockpit.glyphs import glyph_set
from cockpit.hidden_rows import Hidden, HiddenItem, worst_first
from cockpit.model import Status
from cockpit.queue.history import format_age
from cockpit.safe_text import clean
from cockpit.ui.pane_text import StatusPane, short, status_css, status_style

__all__ = ["CanaryPane", "history_bars"]

BARS = "▁▂▃▄▅▆▇█"
ASCII_BARS = "._-=+*#@"
MISSED = "x"
VERDICT_LABELS = {"dkim": "DKIM", "spf": "SPF", "dmarc": "DMARC", "path": "path"}


def history_bars(history: Sequence[float | None], *, ascii_only: bool = False) -> str:
    """The round trips as bars scaled to the slowest one; a run that did not arrive is "x"."""
    bars = ASCII_BARS if ascii_only else BARS
    arrived = [seconds for seconds in history if seconds is not None]
    top = max(arrived, default=0.0)
    out = []
    for seconds in history:
        if seconds is None:
            out.append(MISSED)
        elif top <= 0:
            out.append(bars[0])
        else:
            out.append(bars[min(len(bars) - 1, int(seconds / top * (len(bars) - 1) + 0.5))])
    return "".join(out)


class CanaryPane(StatusPane):
    """The canaries' latest runs; see the module docstring."""

    DEFAULT_CSS = """
    CanaryPane { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    """ + status_css("CanaryPane")

    def __init__(
        self,
        names: Sequence[str],
        *,
        ascii_only: bool = False,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
    ) -> None:
        super().__init__(ascii_only=ascii_only, id=id)
        self.names = tuple(names)
        self.rows: list[CanaryRow] = []
        self._now: datetime | None = None

    HIDDEN_NOUN = "canaries"

    def show_rows(self, rows: Sequence[CanaryRow], now: datetime) -> None:
        self.rows = list(rows)
        self._now = now
        self.refresh(layout=True)
        self.refresh_hidden()

    def ordered(self) -> list[tuple[str, CanaryRow | None]]:
        """(name, latest run or None while waiting), the worst first, then as configured."""
        by_name = {row.name: row for row in self.rows}
        names = [*self.names, *(name for name in by_name if name not in self.names)]
        return worst_first(
            [(name, by_name.get(name)) for name in names],
            lambda item: _line_status(item[1]),
        )

    def hidden_now(self) -> Hidden | None:
        """Which canary lines are on screen (a line is cut at the right, never its status)."""
        try:
            clip = self.screen.find_widget(self).visible_region
        except Exception:  # noqa: BLE001 - not laid out yet or not on this screen
            return None
        top = self.region.y + 1  # under the "canaries" line
        shown = 0
        items: list[HiddenItem] = []
        for index, (name, row) in enumerate(self.ordered()):
            if clip.y <= top + index < clip.y + clip.height:
                shown += 1
            else:
                items.append(HiddenItem(_line_status(row), clean(name)))
        return Hidden(self.HIDDEN_NOUN, shown, shown + len(items), tuple(items))

    def redraw(self) -> None:
        self.refresh()

    def render(self) -> Text:
        ordered = self.ordered()
        width = max((len(name) for name, _ in ordered), default=0)
        lines = [Text("canaries", style="bold")]
        for name, row in ordered:
            if row is None:
                line = self.status_cell(Status.UNKNOWN)
                line.append(f" {clean(name):<{width}}  waiting for its first run")
            else:
                line = self._line(row, width)
            lines.append(line)
        return Text("\n").join(lines)

    def _line(self, row: CanaryRow, width: int) -> Text:
        glyphs = glyph_set(self.ascii_only)
        line = self.status_cell(row.status)
        line.append(f" {clean(row.name):<{width}}  {clean(row.direction)}")
        line.append(f"  {short(row.region or '-', 16, ascii_only=self.ascii_only)}")
        took = "--" if row.round_trip_s is None else f"{row.round_trip_s:.1f} s"
        line.append(f"  {took:>7}")
        for check, status in row.verdicts:
            label = VERDICT_LABELS.get(check, check)
            line.append(f"  {label} ")
            if status is None:
                line.append("-", style="dim")
            else:
                line.append(glyphs.status[status].glyph, style=status_style(self, status))
        if row.history:
            line.append("  ")
            line.append(history_bars(row.history, ascii_only=self.ascii_only))
        if row.observed_at is not None and self._now is not None:
            age = max((self._now - row.observed_at).total_seconds(), 0.0)
            line.append(f"  {format_age(age)}", style="dim")
        if row.status is not Status.OK:
            line.append(f" {glyphs.bullet} ")
            line.append(clean(row.summary))
        elif row.late:  # (a run that is not ok says it in its summary)
            line.append(f" {glyphs.bullet} ")
            late = f"{row.late} earlier message{'s' if row.late > 1 else ''} arrived late"
            line.append(late, style=status_style(self, Status.WARN))
        return line


def _line_status(row: CanaryRow | None) -> Status:
    """What a line counts as when lines are ordered or hidden: unknown while waiting, and at
    least warn when its run found earlier messages that arrived late (the line says so in the
    warn colour)."""
    if row is None:
        return Status.UNKNOWN
    if row.late and row.status.severity < Status.WARN.severity:
        return Status.WARN
    return row.status
