"""A yes/no question in a small dialog: `y` (or the first button) True, `n` or Escape False.

Asked before a step's own tick is taken back (reopened); QuitConfirm (cockpit.ui.key_actions)
and CutoverPrompt (cockpit.ui.decision_form) are the same dialog with their own words and keys.
The question and its details are given as Text made of cleaned pieces, or as our own plain
strings: nothing in them is read as markup.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

__all__ = ["ConfirmPrompt"]


class ConfirmPrompt(ModalScreen[bool]):
    """Asks `question`; `y` answers yes (True), `n` or Escape no (False)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmPrompt { align: center middle; }
    ConfirmPrompt > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    ConfirmPrompt Label { width: 1fr; }
    ConfirmPrompt Horizontal { height: auto; align-horizontal: right; }
    """

    def __init__(
        self,
        question: Text | str,
        *details: Text | str,
        yes: str = "y: yes",
        no: str = "n: no",
        yes_variant: str = "primary",
    ) -> None:
        super().__init__()
        self._question = question
        self._details = details
        self._yes = yes
        self._no = no
        self._yes_variant = yes_variant

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._question, id="confirm-question", markup=False)
            for detail in self._details:
                yield Label(detail, markup=False)
            with Horizontal():
                yield Button(self._yes, variant=self._yes_variant, id="confirm-yes")  # type: ignore[arg-type]
                yield Button(self._no, id="confirm-no")

    @on(Button.Pressed, "#confirm-yes")
    def _yes_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no_pressed(self) -> None:
        self.dismiss(False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
