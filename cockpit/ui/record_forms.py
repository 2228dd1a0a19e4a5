"""The forms that record what the export reports, from the keyboard: a timeline note and a phase.

`NoteForm` (a `ModalScreen[NoteResult | None]`): one line of text for the timeline, with two
check boxes: a key entry (starred: tag "key") and a lesson learned (tag "lesson", the export's
lessons section), and a one-line Select, "Review", that files the note under a section of the
post-incident review (cause, contributing factor, impact, went well, went badly, lucky:
cockpit.incident.review_marks.REVIEW_SECTIONS). Enter in the text records it; choosing a
section returns to the text, so Enter records it from there. Blank text is refused and the
form stays open, and so does text too long for one log entry (said under the field).

`PhaseForm` (a `ModalScreen[PhaseResult | None]`): one of the phases (impact ... closed), each
listed with the time it is set at now, and when it happened: "now", `HH:MM[:SS]` today in UTC or
RFC 3339 (cockpit.incident.when.parse_at). A time that cannot be read, or one in the future, is
shown under the field and the form stays open with what was typed. Enter on a phase moves to
the time; Enter in the time records it.

Both keep visible labels above their fields, and say what they hold through `typed_fields()`
(drafts at quit, cockpit.ui.draft_offer.typed_in). Text from the log (who set a phase) is shown
cleaned, in Text objects, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from cockpit.incident.entry import PHASES, text_too_long
from cockpit.incident.review_marks import REVIEW_SECTIONS, note_tags, review_section
from cockpit.incident.when import parse_at
from cockpit.safe_text import clean

__all__ = ["NOW_WORDS", "NoteForm", "NoteResult", "PhaseForm", "PhaseResult", "read_when"]

NOW_WORDS = ("", "now")
"""What a phase's time field may hold to mean "now"."""
YES = "yes"


@dataclass(frozen=True, slots=True)
class NoteResult:
    """A note for the timeline, as typed."""

    text: str
    key: bool = False
    """A key entry (starred): tagged "key"."""
    lesson: bool = False
    """A lesson learned or runbook edit: tagged "lesson"."""
    section: str | None = None
    """The review section it is filed under (a REVIEW_SECTIONS name), or None."""

    def fields(self) -> dict[str, str]:
        """The draft fields (all strings; "section" only when one is chosen)."""
        fields = {
            "text": self.text,
            "key": YES if self.key else "",
            "lesson": YES if self.lesson else "",
        }
        if self.section:
            fields["section"] = self.section
        return fields

    def tags(self) -> list[str]:
        return note_tags(lesson=self.lesson, key=self.key, section=self.section)

    def what(self) -> str:
        """What messages call this note ("lesson not written: ...")."""
        filed = review_section(self.section)
        if filed is not None:
            return filed.what
        return "lesson" if self.lesson else "key entry" if self.key else "note"


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """A phase and when it happened."""

    phase: str
    at: datetime
    typed: str
    """The time as typed ("now" when left as it was)."""


def read_when(typed: str, now: datetime) -> datetime:
    """`now` for "now" (or nothing), else the typed time; ValueError says what is wrong."""
    if typed.strip().lower() in NOW_WORDS:
        return now
    return parse_at(typed, now=now)


class NoteForm(ModalScreen[NoteResult | None]):
    """A free-form note for the timeline; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    NoteForm { align: center middle; }
    NoteForm > Vertical {
        width: 74; max-width: 100%; height: auto; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    NoteForm Checkbox { border: none; padding: 0; height: 1; }
    NoteForm Horizontal { height: auto; }
    NoteForm #note-section-label { width: 8; padding: 0 1 0 0; }
    NoteForm #note-section { width: 1fr; }
    NoteForm #note-error { color: $error; width: 1fr; height: auto; }
    """

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._initial = dict(initial or {})

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Note for the timeline (Enter records it, Escape cancels)")
            yield Input(
                value=self._initial.get("text", ""),
                placeholder="what happened, was seen or was said",
                id="note-text",
            )
            yield self._box("Key entry (starred)", "key")
            yield self._box("Lesson learned / runbook edit", "lesson")
            section = self._initial.get("section", "")
            known = [filed.name for filed in REVIEW_SECTIONS]
            with Horizontal():
                yield Label("Review", id="note-section-label")
                yield Select[str](
                    [(filed.label, filed.name) for filed in REVIEW_SECTIONS],
                    prompt="not filed in a section",
                    allow_blank=True,
                    value=section if section in known else Select.NULL,
                    id="note-section",
                    compact=True,
                )
            yield Label(
                Text(f"The draft's review section {clean(section)[:40]!r} is not known")
                if section and section not in known
                else "",
                id="note-error",
            )

    def _box(self, label: str, field: str) -> Checkbox:
        box = Checkbox(label, bool(self._initial.get(field)), id=f"note-{field}")
        if getattr(self.app, "ascii_only", False):  # --ascii: [X] instead of half blocks
            box.BUTTON_LEFT, box.BUTTON_RIGHT = "[", "]"
        return box

    def result(self) -> NoteResult:
        section = self.query_one("#note-section", Select).value
        return NoteResult(
            self.query_one("#note-text", Input).value,
            self.query_one("#note-key", Checkbox).value,
            self.query_one("#note-lesson", Checkbox).value,
            section if isinstance(section, str) else None,
        )

    def typed_fields(self) -> dict[str, str] | None:
        """What the form holds, for a draft; None when no text was typed."""
        result = self.result()
        return result.fields() if result.text.strip() else None

    @on(Select.Changed, "#note-section")
    def _section_chosen(self, event: Select.Changed) -> None:
        # Chosen from its menu: back to the text, where Enter records the note.
        if event.select.has_focus:
            self.query_one("#note-text", Input).focus()

    @on(Input.Submitted, "#note-text")
    def _submit(self) -> None:
        result = self.result()
        if not result.text.strip():
            self.query_one("#note-error", Label).update("Type the note, or Escape to cancel")
            return
        too_long = text_too_long(result.text.strip())
        if too_long is not None:  # the log would refuse it: the form keeps the text
            self.query_one("#note-error", Label).update(Text(too_long))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PhaseForm(ModalScreen[PhaseResult | None]):
    """Set (or correct) a phase's time; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PhaseForm { align: center middle; }
    PhaseForm > Vertical {
        width: 74; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    PhaseForm OptionList { height: auto; max-height: 9; }
    PhaseForm #phase-error { color: $error; }
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        current: Mapping[str, Text] | None = None,
        *,
        phase: str | None = None,
        at: str = "now",
    ) -> None:
        """`now`: the clock; `current`: each phase set so far -> "14:02 by alice" (cleaned);
        `phase` and `at`: what the form starts with (closing the incident: "closed")."""
        super().__init__()
        self._now = now
        self._current = dict(current or {})
        self._phase = phase if phase in PHASES else None
        self._at = at

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Phase (Enter moves to the time)")
            yield OptionList(*self._options(), id="phase-list")
            yield Label("When: now, HH:MM[:SS] today (UTC) or RFC 3339")
            yield Input(value=self._at, placeholder="now", id="phase-at")
            yield Label("", id="phase-error")

    def _options(self) -> list[Option]:
        options = []
        for phase in PHASES:
            line = Text(f"{phase:<9}")
            setting = self._current.get(phase)
            if setting is None:
                line.append(" not set", style="dim")
            else:
                line.append(" set ", style="dim")
                line.append_text(setting)
                line.append(": a new time is a correction", style="dim")
            options.append(Option(line, id=phase))
        return options

    def on_mount(self) -> None:
        phases = self.query_one("#phase-list", OptionList)
        phases.highlighted = PHASES.index(self._phase) if self._phase is not None else 0
        if self._phase is not None:
            self.query_one("#phase-at", Input).focus()

    def chosen_phase(self) -> str | None:
        option = self.query_one("#phase-list", OptionList).highlighted_option
        return None if option is None else option.id

    def typed_fields(self) -> dict[str, str] | None:
        """The phase and the time as typed, for a draft; None while the time says "now"
        (choosing a phase is one key: only a typed time is worth keeping)."""
        phase = self.chosen_phase()
        typed = self.query_one("#phase-at", Input).value
        if phase is None or typed.strip().lower() in NOW_WORDS:
            return None
        return {"phase": phase, "at": typed}

    @on(OptionList.OptionSelected, "#phase-list")
    def _phase_chosen(self) -> None:
        self.query_one("#phase-at", Input).focus()

    @on(Input.Submitted, "#phase-at")
    def _submit(self) -> None:
        error = self.query_one("#phase-error", Label)
        phase = self.chosen_phase()
        typed = self.query_one("#phase-at", Input).value
        if phase is None:
            error.update("Choose a phase first (arrows, then Enter)")
            return
        try:
            at = read_when(typed, self._now())
        except ValueError as exc:
            error.update(Text(clean(str(exc))))
            return  # the form stays open with what was typed
        self.dismiss(PhaseResult(phase, at, typed.strip() or "now"))

    def action_cancel(self) -> None:
        self.dismiss(None)
