"""The keys every cockpit screen shares: `q` quits, `?` lists every key, `j`/`k` move.

`KEY_BINDINGS` go into CockpitShell.BINDINGS (so the live cockpit and its replay both have
them) and `KeyActions` is mixed into the shell for their actions:

- `q` quits at once, unless a form is open or a field on the screen has unsaved text: then
  `QuitConfirm` asks first (`y` or `q` again quits, `n` or Escape stays). A `q` typed into a
  field is text, not a key: the action skips itself (SkipAction) while a text field has focus.
  Textual's ctrl+q (and the palette's Quit) ask the same way, even from a field.
- `?` opens the help overlay (cockpit.ui.help_screen), built from the bindings themselves.
- `j`/`k` move like Down/Up in lists and tables, and scroll a scrolling pane.
- Lists never wrap from the last item to the first (or back): Down on the last option and Up
  on the first stay where they are. Textual's OptionList wraps, so Up/Down/j/k on a focused
  OptionList (the checklist, the draft offer, a Select's menu) move without wrapping here.

These bindings are priority bindings so they also work over a modal form; each one skips
itself where it does not apply, and the key goes on to the focused widget as usual.
"""

from __future__ import annotations

from typing import ClassVar

from textual._widget_navigation import find_next_enabled_no_wrap
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import DataTable, Input, OptionList

from cockpit.ui.confirm_prompt import ConfirmPrompt

__all__ = ["KEY_BINDINGS", "KeyActions", "QuitConfirm", "form_is_open"]

KEY_BINDINGS: list[BindingType] = [
    Binding(
        "q",
        "request_quit",
        "Quit",
        tooltip="Quit cockpit (asks first while a form is open)",
        priority=True,
    ),
    Binding(
        "question_mark",
        "help",
        "Help",
        key_display="?",
        tooltip="Every key, in a list",
        priority=True,
    ),
    Binding("j", "move(1)", "Down", show=False, priority=True),
    Binding("k", "move(-1)", "Up", show=False, priority=True),
    Binding("down", "move_no_wrap(1)", "Down", show=False, priority=True),
    Binding("up", "move_no_wrap(-1)", "Up", show=False, priority=True),
]


def _typing(widget: Widget | None) -> bool:
    """A text field has focus: printable keys are text there."""
    if isinstance(widget, Input):
        return True
    # Imported here, at the first key: TextArea's modules are not needed for the first frame.
    from textual.widgets import TextArea

    return isinstance(widget, TextArea)


def _has_text(screen: Screen[object]) -> bool:
    return any(isinstance(node, Input) and node.value.strip() for node in screen.walk_children())


def form_is_open(app: App[object]) -> bool:
    """A form (a modal screen with a text field, or one the cockpit pushed as a form) is on
    the screen stack, or a field anywhere on it holds text."""
    forms = getattr(app, "open_forms", {})
    for screen in app.screen_stack:
        if isinstance(screen, QuitConfirm):
            continue
        if screen in forms or _has_text(screen):
            return True
        if screen.is_modal and any(isinstance(n, Input) for n in screen.walk_children()):
            return True
    return False


class QuitConfirm(ConfirmPrompt):
    """Quit while a form is open? `y` (or `q` again) quits; `n` or Escape returns to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Quit"),
        Binding("n", "answer(False)", "Stay"),
        Binding("escape", "answer(False)", "Stay", show=False),
    ]
    DEFAULT_CSS = """
    QuitConfirm > Vertical { width: 60; border: thick $warning; }
    """

    def __init__(self, kept: bool) -> None:
        super().__init__(
            "Quit cockpit? A form is open or a field has text.",
            "What is typed is kept as a draft beside the log and offered next time."
            if kept
            else "Nothing is written: what is typed is lost.",
            yes="y: quit",
            no="n: stay",
            yes_variant="warning",
        )


class KeyActions:
    """Mixed into CockpitShell (an App); see the module docstring."""

    def get_key_display(self, binding: Binding) -> str:
        """ASCII mode: a key shown with a glyph (an arrow) is shown by its name ("up")."""
        shown: str = super().get_key_display(binding)  # type: ignore[misc]
        if getattr(self, "ascii_only", False) and not shown.isascii():
            return binding.key
        return shown

    async def action_request_quit(self) -> None:
        """`q`: text in a focused field, else quit (asking first while a form is open)."""
        if _typing(self._key_app().focused):
            raise SkipAction()
        await self.action_quit()

    async def action_quit(self) -> None:
        """Textual's ctrl+q and the palette's Quit ask too while a form is open."""
        app = self._key_app()
        if isinstance(app.screen, QuitConfirm) or not form_is_open(app):
            app.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                app.exit()

        kept = not getattr(app, "read_only", False) and hasattr(app, "open_forms")
        app.push_screen(QuitConfirm(kept), answered)

    def action_help(self) -> None:
        from cockpit.ui.help_screen import HelpScreen

        app = self._key_app()
        if _typing(app.focused):
            raise SkipAction()
        if isinstance(app.screen, HelpScreen):
            app.screen.dismiss(None)
            return
        app.push_screen(HelpScreen(app, ascii_only=bool(getattr(app, "ascii_only", False))))

    def action_move(self, step: int) -> None:
        """j/k: Down/Up in a list or table, a scroll in a scrolling pane; else the key's own."""
        widget = self._key_app().focused
        if _typing(widget) or widget is None:
            raise SkipAction()
        if isinstance(widget, OptionList):
            self._move_option(widget, step)
        elif isinstance(widget, DataTable):
            widget.action_cursor_down() if step > 0 else widget.action_cursor_up()
        elif isinstance(widget, ScrollView) or widget.allow_vertical_scroll:
            widget.scroll_down() if step > 0 else widget.scroll_up()
        else:
            raise SkipAction()

    def action_move_no_wrap(self, step: int) -> None:
        """Down/Up on an OptionList stop at its ends; everywhere else the key does its own."""
        widget = self._key_app().focused
        if not isinstance(widget, OptionList):
            raise SkipAction()
        self._move_option(widget, step)

    @staticmethod
    def _move_option(option_list: OptionList, step: int) -> None:
        moved = find_next_enabled_no_wrap(
            option_list.options, anchor=option_list.highlighted, direction=step
        )
        if moved is not None:
            option_list.highlighted = moved

    def _key_app(self) -> App[object]:
        assert isinstance(self, App)
        return self
