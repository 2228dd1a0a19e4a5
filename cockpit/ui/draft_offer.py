"""The drafts offered when an incident is opened, and reading what an open form holds.

`DraftOffer(listing)` is a `ModalScreen[DraftChoice | None]` listing the drafts kept beside the
log (cockpit.incident.drafts): kind, author, when and why it was kept, and the first line of its
text; below them, every draft file that could not be used and why. Enter reopens the highlighted
draft in its form, pre-filled (`DraftChoice("reopen", draft)`); `x` (or Delete) discards it
(`DraftChoice("discard", draft)`); Escape leaves them all for later (None). Nothing is written
from here: a reopened draft is written only when the user submits its form.

`FilledTextPrompt` is the one-line prompt (checklist_pane.TextPrompt) opened with text in it.
`typed_in(screen)` says what a form on the screen stack holds, for a draft at quit or when the
terminal goes away: the form's `typed_fields()` when it has one, else its first Input's value.
Draft text is untrusted: it is shown cleaned, in Text objects, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from cockpit.incident.drafts import Draft, DraftList
from cockpit.safe_text import clean
from cockpit.ui.checklist_pane import TextPrompt

__all__ = ["DraftChoice", "DraftOffer", "FilledTextPrompt", "draft_label", "typed_in"]

MAX_PROBLEMS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class DraftChoice:
    """What the user chose for one draft."""

    action: Literal["reopen", "discard"]
    draft: Draft


def draft_label(draft: Draft, *, ascii_only: bool = False) -> Text:
    """Two lines: "decision · alice · 2026-11-27 14:31Z · why" ("-" for "·" with
    ascii_only), then the first line of text."""
    dot = "-" if ascii_only else "·"
    head = Text()
    head.append(clean(draft.kind), style="bold")
    head.append(f" {dot} {clean(draft.author)} {dot} {draft.saved_at:%Y-%m-%d %H:%MZ} {dot} ")
    head.append(clean(draft.why)[:120], style="italic")
    head.append("\n  ")
    head.append(draft.first_line() or "(no text)")
    return head


class DraftOffer(ModalScreen[DraftChoice | None]):
    """Drafts kept beside the log; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "later", "Later"),
        Binding("x", "discard", "Discard"),
        Binding("delete", "discard", "Discard", show=False),
    ]
    DEFAULT_CSS = """
    DraftOffer { align: center middle; }
    DraftOffer > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $warning; background: $surface;
    }
    DraftOffer OptionList { height: auto; max-height: 12; margin: 1 0; }
    DraftOffer #draft-problems { color: $error; height: auto; }
    """

    def __init__(self, listing: DraftList) -> None:
        super().__init__()
        self._drafts = listing.drafts
        self._problems = listing.problems

    def compose(self) -> ComposeResult:
        count = len(self._drafts)
        ascii_only = bool(getattr(self.app, "ascii_only", False))
        with Vertical():
            yield Label(
                f"{count} draft{'s' if count != 1 else ''} kept beside this incident's log:"
                " typed, never written. Enter reopens one in its form (written only when you"
                " submit it), x discards it, Escape leaves them for later."
                if count
                else "No drafts to offer."
            )
            if count:
                yield OptionList(
                    *(
                        Option(draft_label(draft, ascii_only=ascii_only), id=f"draft-{index}")
                        for index, draft in enumerate(self._drafts)
                    ),
                    id="draft-list",
                )
            if self._problems:
                shown = [clean(problem) for problem in self._problems[:MAX_PROBLEMS_SHOWN]]
                more = len(self._problems) - len(shown)
                if more > 0:
                    shown.append(f"... and {more} more")
                yield Label(
                    Text("Not offered:\n" + "\n".join(shown)), id="draft-problems", markup=False
                )

    def _highlighted(self) -> Draft | None:
        lists = self.query(OptionList)
        if not lists:
            return None
        index = lists.first().highlighted
        return self._drafts[index] if index is not None and index < len(self._drafts) else None

    @on(OptionList.OptionSelected, "#draft-list")
    def _reopen(self, event: OptionList.OptionSelected) -> None:
        if event.option_index < len(self._drafts):
            self.dismiss(DraftChoice("reopen", self._drafts[event.option_index]))

    def action_discard(self) -> None:
        draft = self._highlighted()
        if draft is not None:
            self.dismiss(DraftChoice("discard", draft))

    def action_later(self) -> None:
        self.dismiss(None)


class FilledTextPrompt(TextPrompt):
    """A TextPrompt opened with `value` in its input (a draft reopened)."""

    def __init__(
        self,
        title: str,
        placeholder: str,
        value: str,
        *,
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(title, placeholder, check=check)
        self.filled_value = value

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).value = self.filled_value


def typed_in(screen: Screen[object]) -> dict[str, str] | None:
    """The fields a form holds now, or None when it holds no text (or is not a form).

    Called when cockpit is quitting, possibly from a signal handler: it only reads.
    """
    typed_fields = getattr(screen, "typed_fields", None)
    if callable(typed_fields):
        fields = typed_fields()
        return dict(fields) if isinstance(fields, dict) else None
    inputs = [node for node in screen.walk_children() if isinstance(node, Input)]
    if not inputs or not inputs[0].value.strip():
        return None
    return {"text": inputs[0].value}
