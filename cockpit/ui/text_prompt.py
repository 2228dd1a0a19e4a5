"""A one-line text prompt (a skip's reason, a note, the severity, a role).

Also importable as cockpit.ui.checklist_pane.TextPrompt, where it began.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cockpit.safe_text import clean

__all__ = ["TextPrompt"]


class TextPrompt(ModalScreen[str | None]):
    """Asks for one line of text (a skip reason, a note). Enter returns it, Escape cancels.

    Blank text is refused with a message; the prompt stays open.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    TextPrompt #prompt-error { color: $error; }
    """

    def __init__(self, title: str, placeholder: str = "") -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder

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
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
