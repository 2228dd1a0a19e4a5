"""The decision form (`d`) and the entry a decision writes to the log.

API for the app shell:

    def action_decide(self) -> None:
        self.push_screen(DecisionForm(config.region_names()), self._decided)

    def _decided(self, result: DecisionResult | None) -> None:
        if result is not None:
            self._write_decision(result)          # a thread worker, see below

    @work(thread=True, group="log", exit_on_error=False)
    def _write_decision(self, result: DecisionResult) -> None:
        (entry,) = log.append_built(                              # may raise
            lambda entries: [decision_parts(result, entries, regions)], author=author
        )
        ... post LogAppended((entry,), tuple(log.read().entries))
        if result.target_region is not None:
            post TargetChanged(result.target_region)   # every pane switches at once

`DecisionForm(regions)` is a `ModalScreen[DecisionResult | None]`: labelled Inputs (each label
stays beside its field while you type) for the decision (required), why and approver, and a
Select of the configured regions ("none: not a failover" when blank). Enter in any input or
the Record button submits; Escape or Cancel returns None and nothing is written. A blank
decision is refused in the form with a message.
`DecisionForm(regions, initial=fields)` opens pre-filled from a draft's fields (text, why,
approver, target; see cockpit.incident.drafts); `typed_fields()` gives what is typed now (kept
in a plain dict as it changes, so a signal handler can read it), or None when nothing is.

`decision_parts` gives the `decision` entry, built from the log's entries as read under its
lock: data why / approver (when given) and, for a failover, target_region and previous_region
(the target of the latest earlier decision, else the first configured region), as `cockpit log
--decision` does. It raises DecisionError for a blank decision or a region that is not
configured; the append raises LogWriteError when it fails.

The `routed` phase marker is not written with the decision: a decision says what will happen,
the cutover is when it happened. After a failover decision the app asks with `CutoverPrompt`
("is traffic routed to REGION now?"): `y` confirms, and the checklist step that sets `routed`
is ticked (which writes the marker at that minute); `n` or Escape leaves it for later, when the
commander ticks that step (or confirms it from the probe hint); see cockpit.ui.checklist_pane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from cockpit.incident.entry import Entry
from cockpit.incident.log import EntryParts
from cockpit.incident.phases import failover_data
from cockpit.safe_text import clean
from cockpit.ui.confirm_prompt import ConfirmPrompt

__all__ = [
    "CutoverPrompt",
    "DecisionError",
    "DecisionForm",
    "DecisionResult",
    "DRAFT_FIELDS",
    "decision_data",
    "decision_fields",
    "decision_parts",
]


DRAFT_FIELDS = ("text", "why", "approver", "target")
"""A decision draft's fields: the decision, why, approver and the failover target ("" none)."""


class DecisionError(ValueError):
    """A decision that cannot be written: no text, or an unknown target region."""


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What the commander typed into the form (stripped)."""

    decision: str
    why: str = ""
    approver: str = ""
    target_region: str | None = None
    """A failover to this region; None when the decision is not a failover."""


def decision_data(
    result: DecisionResult, entries: Sequence[Entry], regions: Sequence[str]
) -> dict[str, Any]:
    """The data of the decision entry; see the module docstring. Raises DecisionError."""
    if not result.decision.strip():
        raise DecisionError("a decision needs text: what was decided")
    data: dict[str, Any] = {}
    if result.why.strip():
        data["why"] = result.why.strip()
    if result.approver.strip():
        data["approver"] = result.approver.strip()
    if result.target_region is None:
        return data
    target = result.target_region.strip()
    if regions and target not in regions:
        raise DecisionError(
            f"no region named {clean(target)!r}: expected one of {', '.join(regions)}"
        )
    data.update(failover_data(target, entries, regions[0] if regions else None))
    return data


def decision_fields(result: DecisionResult) -> dict[str, str]:
    """The result as a draft's fields (DRAFT_FIELDS)."""
    return {
        "text": result.decision,
        "why": result.why,
        "approver": result.approver,
        "target": result.target_region or "",
    }


def decision_parts(
    result: DecisionResult, entries: Sequence[Entry], regions: Sequence[str]
) -> EntryParts:
    """(kind, text, data) of the decision entry. Raises DecisionError."""
    return "decision", result.decision.strip(), decision_data(result, entries, regions)


class DecisionForm(ModalScreen[DecisionResult | None]):
    """Record a decision; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    DecisionForm { align: center middle; }
    DecisionForm > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    /* Compact fields, a line each: the whole form fits an 80x24 terminal. */
    DecisionForm Horizontal { height: auto; align-horizontal: right; }
    DecisionForm Horizontal.field { margin: 0 0 1 0; align-horizontal: left; }
    DecisionForm .field-label { width: 10; }
    DecisionForm Horizontal.field Input, DecisionForm Horizontal.field Select { width: 1fr; }
    DecisionForm #decision-error { color: $error; height: auto; }
    """

    def __init__(self, regions: Sequence[str], initial: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._regions = tuple(regions)
        self._typed: dict[str, str] = {
            name: str((initial or {}).get(name, "")) for name in DRAFT_FIELDS
        }

    def typed_fields(self) -> dict[str, str] | None:
        """What is typed now as draft fields (text, why, approver, target), or None when
        nothing is."""
        typed = dict(self._typed)
        try:  # the widgets themselves: a key typed just now may not have reached _typed yet
            for name, widget_id in (("text", "decision"), ("why", "why"), ("approver", "approver")):
                typed[name] = self.query_one(f"#{widget_id}", Input).value
            target = self.query_one("#target", Select).value
            typed["target"] = target if isinstance(target, str) else ""
        except Exception:  # noqa: BLE001 - not mounted, or half built when a signal came
            typed = dict(self._typed)
        return typed if any(value.strip() for value in typed.values()) else None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Record a decision")
            # A label beside each field: it stays while you type (a placeholder goes).
            with Horizontal(classes="field"):
                yield Label("Decision*", classes="field-label")
                yield Input(
                    self._typed["text"],
                    placeholder="required: what was decided",
                    id="decision",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Label("Why", classes="field-label")
                yield Input(self._typed["why"], placeholder="optional", id="why", compact=True)
            with Horizontal(classes="field"):
                yield Label("Approver", classes="field-label")
                yield Input(
                    self._typed["approver"], placeholder="optional", id="approver", compact=True
                )
            target = self._typed["target"]
            with Horizontal(classes="field"):
                yield Label("Failover", classes="field-label")
                yield Select[str](
                    [(clean(region), region) for region in self._regions],
                    prompt="none: not a failover",
                    allow_blank=True,
                    value=target if target in self._regions else Select.NULL,
                    id="target",
                    compact=True,
                )
            unknown = target and target not in self._regions
            yield Label(
                Text(f"The draft's target {clean(target)!r} is not a configured region")
                if unknown
                else "",
                id="decision-error",
            )
            with Horizontal():
                yield Button("Record", variant="primary", id="record")
                yield Button("Cancel", id="cancel")

    def result(self) -> DecisionResult | None:
        """The form's values, or None (with a message shown) when the decision is blank."""
        decision = self.query_one("#decision", Input).value.strip()
        if not decision:
            self.query_one("#decision-error", Label).update("A decision is required")
            self.query_one("#decision", Input).focus()
            return None
        target = self.query_one("#target", Select).value
        return DecisionResult(
            decision=decision,
            why=self.query_one("#why", Input).value.strip(),
            approver=self.query_one("#approver", Input).value.strip(),
            target_region=target if isinstance(target, str) else None,
        )

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        name = {"decision": "text", "why": "why", "approver": "approver"}.get(event.input.id or "")
        if name is not None:
            self._typed[name] = event.value

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        self._typed["target"] = event.value if isinstance(event.value, str) else ""

    @on(Input.Submitted)
    @on(Button.Pressed, "#record")
    def _submit(self) -> None:
        result = self.result()
        if result is not None:
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class CutoverPrompt(ConfirmPrompt):
    """After a failover decision: is the routing change live now? `y` True, `n`/Escape False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Routed now"),
        Binding("n", "answer(False)", "Later"),
        Binding("escape", "answer(False)", "Later", show=False),
    ]

    def __init__(self, region: str) -> None:
        super().__init__(
            Text(f"Failover to {clean(region)} recorded."),
            "Is traffic routed there now? y records the cutover (routed) at this minute;"
            " n leaves it for the checklist's cutover step.",
            yes="y: routed now",
            no="n: later",
        )
