"""A one-line text prompt (a skip's reason, a note, the severity, a role).

Also importable as cockpit.ui.checklist_pane.TextPrompt, where it began.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cockpit.incident.entry import text_too_long
from cockpit.safe_text import clean

__all__ = ["TextPrompt"]


class TextPrompt(ModalScreen[str | None]):
    """Asks for one line of text (a skip reason, a note). Enter returns it, Escape cancels.

    Blank text is refused with a message; the prompt stays open, and so does text too long for
    one log entry, or that `check` finds wrong (its message shown under the field, the text
    kept). The title stays above the
    field as its label while you type (the placeholder goes); 74 columns of it fit at 80.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical {
        width: 78; max-width: 100%; height: auto; padding: 1 1;
        border: thick $accent; background: $surface;
    }
    TextPrompt #prompt-error { color: $error; }
    """

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        *,
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._check = check
        """Says what is wrong with the text (the prompt stays open, the text kept), or None."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(clean(self._title)), id="prompt-title")
            yield Input(placeholder=self._placeholder, id="prompt-input")
            yield Label("", id="prompt-error")

    @on(Input.Submitted, "#prompt-input")
    def _submit(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#prompt-error", Label).update("Type something, or Escape to cancel")
            return
        problem = text_too_long(event.value.strip())
        if problem is None and self._check is not None:
            problem = self._check(event.value)
        if problem is not None:
            self.query_one("#prompt-error", Label).update(Text(clean(problem)))
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
