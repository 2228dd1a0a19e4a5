"""The help overlay (`?`): every key, built from the bindings themselves (no hand-kept list).

    app.push_screen(HelpScreen(app, ascii_only=False))

`key_sections(app)` reads the bindings: the app's own (with Textual's command palette key),
then each pane's (the widgets under a PaneFrame on the main screen, headed by the pane's title),
then each of the cockpit's dialogs (every ModalScreen subclass defined in a cockpit module and
imported, headed "In the decision form" from its class name).
Only the cockpit's own classes' BINDINGS are listed, so Textual's internal keys of a widget
(a table's Page Down, say) do not drown them; the keys that share a description are one row
("j, down"), and a binding's tooltip follows its description. Escape or `?` closes the
overlay; `q` still quits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Label, Static

__all__ = ["HelpScreen", "KeyRow", "key_sections"]


@dataclass(frozen=True, slots=True)
class KeyRow:
    keys: str
    """The keys as shown, comma separated ("j, down")."""
    description: str


def _own_bindings(cls: type) -> Iterator[Binding]:
    """The bindings declared by `cls` and its bases that belong to cockpit (in MRO order, the
    most derived first)."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("cockpit") or "BINDINGS" not in klass.__dict__:
            continue
        bindings: list[BindingType] = klass.__dict__["BINDINGS"]
        for _key, binding in BindingsMap(bindings):
            yield binding


def _rows(app: App[object], bindings: Iterable[Binding]) -> list[KeyRow]:
    rows: dict[str, list[str]] = {}
    for binding in bindings:
        if binding.system:
            continue
        description = binding.description or binding.tooltip or binding.action
        if binding.description and binding.tooltip:
            description = f"{binding.description}: {binding.tooltip}"
        keys = rows.setdefault(description, [])
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    return [KeyRow(", ".join(keys), description) for description, keys in rows.items()]


def _modal_classes(base: type = ModalScreen) -> Iterator[type]:
    seen: set[type] = set()
    stack = list(base.__subclasses__())
    while stack:
        cls = stack.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("cockpit") and cls.__name__ != "HelpScreen":
            yield cls


def _dialog_title(cls: type) -> str:
    """ "DecisionForm" as "In the decision form"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", cls.__name__).lower()
    return f"In the {words}"


def key_sections(app: App[object]) -> list[tuple[str, list[KeyRow]]]:
    """(heading, rows) for the app, each pane, then each dialog; see the module docstring."""
    everywhere = list(_own_bindings(type(app)))
    palette = getattr(app, "COMMAND_PALETTE_BINDING", None)
    if app.ENABLE_COMMAND_PALETTE and isinstance(palette, str):
        everywhere.append(Binding(palette, "command_palette", "Command palette: every action"))
    everywhere.extend(b for _k, b in BindingsMap(App.BINDINGS) if not b.system)
    sections: list[tuple[str, list[KeyRow]]] = [("Everywhere", _rows(app, everywhere))]
    main = app.screen_stack[0] if app.screen_stack else None
    if main is not None:
        sections.extend(_pane_sections(app, main))
    for cls in _modal_classes():
        rows = _rows(app, _own_bindings(cls))
        parent_rows = [_rows(app, _own_bindings(base)) for base in cls.__mro__[1:2]]
        if rows and rows not in parent_rows:  # a subclass with its parent's keys: listed once
            sections.append((_dialog_title(cls), rows))
    return sections


def _pane_sections(app: App[object], main: DOMNode) -> Iterator[tuple[str, list[KeyRow]]]:
    seen: set[type] = set()
    for frame in main.query(".pane"):
        bindings: list[Binding] = []
        for node in (frame, *frame.walk_children()):
            if type(node) in seen:
                continue
            seen.add(type(node))
            bindings.extend(_own_bindings(type(node)))
        rows = _rows(app, bindings)
        if rows:
            title = str(getattr(frame, "border_title", "") or frame.id or "pane")
            yield f"Pane {title}", rows


def help_text(sections: list[tuple[str, list[KeyRow]]]) -> Text:
    text = Text()
    width = max((len(row.keys) for _h, rows in sections for row in rows), default=4) + 2
    width = min(width, 18)
    for index, (heading, rows) in enumerate(sections):
        if index:
            text.append("\n")
        text.append(heading, style="bold")
        for row in rows:
            text.append("\n  ")
            text.append(row.keys.ljust(width), style="bold")
            text.append(row.description)
    return text


class HelpScreen(ModalScreen[None]):
    """Every key (`?`); Escape or `?` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90; max-width: 100%; height: 1fr; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    HelpScreen #help-keys { height: 1fr; }
    HelpScreen #help-title { text-style: bold; }
    """

    def __init__(self, app: App[object], *, ascii_only: bool = False) -> None:
        super().__init__()
        self._sections = key_sections(app)
        self._ascii_only = ascii_only

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Keys: Escape or ? closes, j/k or arrows scroll", id="help-title")
            with VerticalScroll(id="help-keys", can_focus=True):
                yield Static(help_text(self._sections), id="help-text", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help-keys").focus()

    def action_close(self) -> None:
        self.dismiss(None)
