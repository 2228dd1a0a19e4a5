"""One line over the footer, shown only while probe entries wait to be written to the log.

    line = ProbeBacklogLine(ascii_only=False)
    line.show(12, "could not write the entry (No space left on device); ...")
    line.show(0, None)                      # all written: the line goes away

"! warn 12 probe entries waiting to be written: <reason>". The panes show what the probes
see whatever the log does; this line says that the log does not have it yet, so nobody takes
the timeline for the whole story. The reason is untrusted text: cleaned, drawn as Text.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cockpit.glyphs import status_label
from cockpit.model import Status
from cockpit.safe_text import clean
from cockpit.ui.pane_text import status_css

__all__ = ["ProbeBacklogLine"]


class ProbeBacklogLine(Static):
    """How many probe entries wait for the log, and why; hidden while none does."""

    DEFAULT_CSS = (
        """
    ProbeBacklogLine {
        height: 1;
        display: none;
        background: $panel;
    }
    ProbeBacklogLine.-waiting {
        display: block;
    }
    """
        + status_css("ProbeBacklogLine")
    )
    COMPONENT_CLASSES = {f"status--{status.value}" for status in Status}

    def __init__(self, *, ascii_only: bool = False, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id, markup=False)
        self.ascii_only = ascii_only
        self.waiting = 0
        self.reason: str | None = None

    def show(self, waiting: int, reason: str | None) -> None:
        self.waiting, self.reason = waiting, reason
        self.set_class(waiting > 0, "-waiting")
        if waiting <= 0:
            self.update("")
            return
        style = self.get_component_rich_style("status--warn", partial=True)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(status_label(Status.WARN, ascii_only=self.ascii_only), style=style)
        noun = "entry" if waiting == 1 else "entries"
        line.append(f" {waiting} probe {noun} waiting to be written")
        if reason:
            line.append(": " + clean(reason))
        self.update(line)
