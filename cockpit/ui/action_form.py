"""The action-item form (`a`): an action item for the post-incident review.

`ActionForm(initial=None)` is a `ModalScreen[ActionResult | None]`: labelled one-line fields for
what is to be done (required), its owner, its due date (YYYY-MM-DD) and its ticket. Enter in any
field or the Record button records it; Escape or Cancel returns None and nothing is written.
A blank action, a due date that is not a calendar date, or an owner or ticket the log would
refuse (cockpit.incident.review_marks.action_data) is named under the fields, the field at fault
gets the focus, and the form stays open with everything typed.

`ActionResult.data()` is the entry's data ({"action": {...}, "tags": [..., "action"]}), as
`cockpit log --action --owner --due --ticket` writes it; `fields()` and `typed_fields()` are its
draft fields (text, owner, due, ticket), for drafts at quit and a draft reopened pre-filled.
Messages repeat typed text cleaned, in Text objects, never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from cockpit.incident.review_marks import ActionFieldError, action_data, action_tags
from cockpit.safe_text import clean

__all__ = ["DRAFT_FIELDS", "ActionForm", "ActionResult"]

DRAFT_FIELDS = ("text", "owner", "due", "ticket")
"""An action item draft's fields."""
_LABELS = {"text": "Action*", "owner": "Owner", "due": "Due", "ticket": "Ticket"}
_PLACEHOLDERS = {
    "text": "required: what is to be done",
    "owner": "optional: who does it",
    "due": "optional: YYYY-MM-DD",
    "ticket": "optional: id or URL",
}


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action item as typed (the text stripped; the fields as they were typed)."""

    text: str
    owner: str = ""
    due: str = ""
    ticket: str = ""

    def data(self) -> dict[str, Any]:
        """The entry's data: the action's fields and its tags. Raises ActionFieldError."""
        return {**action_data(self.owner, self.due, self.ticket), "tags": action_tags()}

    def fields(self) -> dict[str, str]:
        """The draft fields (DRAFT_FIELDS)."""
        return {"text": self.text, "owner": self.owner, "due": self.due, "ticket": self.ticket}


class ActionForm(ModalScreen[ActionResult | None]):
    """Record an action item; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ActionForm { align: center middle; }
    ActionForm > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    /* A line for each field, so the whole form fits a 60x20 terminal. */
    ActionForm Horizontal { height: auto; align-horizontal: right; }
    ActionForm Horizontal.field { margin: 0 0 1 0; align-horizontal: left; }
    ActionForm .field-label { width: 8; }
    ActionForm Horizontal.field Input { width: 1fr; }
    ActionForm #action-error { color: $error; width: 1fr; height: auto; }
    """

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._initial = {name: str((initial or {}).get(name, "")) for name in DRAFT_FIELDS}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Action item (Enter records it, Escape cancels)")
            for name in DRAFT_FIELDS:
                with Horizontal(classes="field"):
                    yield Label(_LABELS[name], classes="field-label")
                    yield Input(
                        self._initial[name],
                        placeholder=_PLACEHOLDERS[name],
                        id=f"action-{name}",
                        compact=True,
                    )
            yield Label("", id="action-error")
            with Horizontal():
                yield Button("Record", variant="primary", id="record")
                yield Button("Cancel", id="cancel")

    def _typed(self) -> ActionResult:
        values = {name: self.query_one(f"#action-{name}", Input).value for name in DRAFT_FIELDS}
        return ActionResult(**values)

    def typed_fields(self) -> dict[str, str] | None:
        """What is typed now as draft fields, or None when nothing is."""
        fields = self._typed().fields()
        return fields if any(value.strip() for value in fields.values()) else None

    def result(self) -> ActionResult | None:
        """The action item, or None (the reason shown, the field at fault focused)."""
        typed = self._typed()
        if not typed.text.strip():
            return self._refuse("text", "Type the action item, or Escape to cancel")
        try:
            typed.data()
        except ActionFieldError as error:
            return self._refuse(error.field, f"{_LABELS[error.field]}: {error}")
        return ActionResult(typed.text.strip(), typed.owner, typed.due, typed.ticket)

    def _refuse(self, field: str, message: str) -> None:
        self.query_one("#action-error", Label).update(Text(clean(message)))
        self.query_one(f"#action-{field}", Input).focus()
        return None

    @on(Input.Submitted)
    @on(Button.Pressed, "#record")
    def _submit(self) -> None:
        result = self.result()
        if result is not None:
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
