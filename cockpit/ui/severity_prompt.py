"""The severity dialog (`v`): SEV1 to SEV4 chosen from a list, never typed.

    app.push_screen(SeverityPrompt(current="SEV2"), callback)   # callback("SEV1".."SEV4" | None)

Keys 1-4 (or j/k and the arrows) highlight a severity; Enter records the highlighted one;
Escape cancels. Any other digit says so in the dialog, which stays open with its choice: an
invalid value never closes it. `initial` (a reopened draft's text) is parsed leniently and
highlighted when it names a severity; `typed_fields()` gives the highlighted choice as a draft
field ({"text": "SEV2"}) when the highlight is not where it opened (on the current severity,
else SEV1), else None.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from cockpit.incident.severity import SEVERITIES, SeverityError, parse_severity
from cockpit.safe_text import clean

__all__ = ["MEANINGS", "SeverityPrompt"]

MEANINGS = {
    "SEV1": "most severe: mail down for many",
    "SEV2": "major: a region or a service down",
    "SEV3": "minor: degraded, a workaround exists",
    "SEV4": "least severe: cosmetic or at risk",
}
"""A reminder beside each severity; the runbook's own definitions rule."""


class SeverityPrompt(ModalScreen[str | None]):
    """Set the severity: 1-4 or j/k highlight, Enter records, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *(
            Binding(str(number), f"choose({number})", f"SEV{number}", show=False)
            for number in range(1, len(SEVERITIES) + 1)
        ),
    ]
    DEFAULT_CSS = """
    SeverityPrompt { align: center middle; }
    SeverityPrompt > Vertical {
        width: 66; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    SeverityPrompt OptionList { height: auto; margin: 1 0 0 0; }
    SeverityPrompt #severity-error { color: $error; height: auto; }
    """

    def __init__(self, current: str | None = None, initial: str = "") -> None:
        super().__init__()
        self._current = current if current in SEVERITIES else None
        self._initial = self._parse(initial)
        self._start: str | None = None
        """What was highlighted when it opened: not a choice of the user's."""
        self._unreadable = "" if self._initial is not None else initial.strip()
        """A draft's text that names no severity: shown, so it is not silently lost."""

    @staticmethod
    def _parse(typed: str) -> str | None:
        try:
            return parse_severity(typed) if typed.strip() else None
        except SeverityError:
            return None

    def compose(self) -> ComposeResult:
        with Vertical():
            now = f" (now {self._current})" if self._current else " (none yet)"
            yield Label(f"Severity{now}: 1-4 or j/k, Enter records, Esc cancels")
            yield OptionList(
                *(
                    Option(Text(f"{number}  {name}  {MEANINGS[name]}"), id=name)
                    for number, name in enumerate(SEVERITIES, 1)
                ),
                id="severity-list",
            )
            yield Label(
                Text(f"The draft said {clean(self._unreadable)[:40]!r}: not a severity; choose one")
                if self._unreadable
                else "",
                id="severity-error",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        start = self._initial or self._current
        options.highlighted = SEVERITIES.index(start) if start is not None else 0
        self._start = self.highlighted()
        options.focus()

    def highlighted(self) -> str | None:
        index = self.query_one(OptionList).highlighted
        return SEVERITIES[index] if index is not None else None

    def typed_fields(self) -> dict[str, str] | None:
        """The chosen severity as a draft's fields, or None before one is chosen."""
        try:
            chosen = self.highlighted()
        except Exception:  # noqa: BLE001 - not mounted, or half built when a signal came
            chosen = self._initial
        if chosen is None or (chosen == self._start and self._initial is None):
            return None  # nothing chosen: what it opened with
        return {"text": chosen}

    def action_choose(self, number: int) -> None:
        self.query_one(OptionList).highlighted = number - 1
        self.query_one("#severity-error", Label).update("")

    def on_key(self, event: events.Key) -> None:
        digit = event.character
        if digit is not None and digit.isdigit() and not 1 <= int(digit) <= len(SEVERITIES):
            event.stop()
            self.query_one("#severity-error", Label).update(
                Text(
                    f"No SEV{clean(event.character)}: choose 1 (most severe) to"
                    f" {len(SEVERITIES)}, or Escape to cancel"
                )
            )

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(SEVERITIES[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
