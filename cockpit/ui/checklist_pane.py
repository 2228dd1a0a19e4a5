"""The checklist pane: the runbook in phases (before, during, after), ticked from the keyboard.

API for the app shell:

    pane = ChecklistPane(steps, log, author, config=config)  # steps from runbook.steps_for
    pane.show_entries(entries)                 # after every log read: the state comes from it
    pane.show_findings(findings, at, target)   # after every probe sweep: the auto hints

Keys (BINDINGS, shown in the footer): space marks the highlighted step done, `s` skips it
(asks for a reason), `n` attaches a note (asks for the text), `c` confirms a step whose `auto`
condition holds ("satisfied by probe at 14:02"). Each key appends in a thread worker (the
append blocks on the log's lock): the worker reads the log, computes the entry from the state
the log holds *then* (so a step someone else ticked gives "already done by X"), appends it,
reads the log back and posts `LogAppended` (the pane refreshes itself; the message bubbles on
to the app) or `LogAppendFailed`.

Auto conditions (cockpit.incident.checklist_auto) are judged on the latest findings, at the
time `show_findings` was given, against what the log says: the decided target and the event
times come from the entries, never from the probe runner's target (which defaults to the first
region before any decision). Each open step with a condition shows either "satisfied by probe
at 14:02: c to confirm" or a dim "waiting for evidence: why". `c` judges the condition again
against the log as it is under the lock, and the "done" entry cites the evidence (data.auto:
seen_at, condition, evidence); when it no longer holds, nothing is written and the pane says why.
Freshness bounds come from the config given to the pane, else the app's `config` attribute.

Phase markers: a "done" that counts on a step with `sets_phase` (declare, cutover,
mail-flowing, declare-verified) also appends the phase entry from `phase_record`, timed at the
done entry. A phase that is already set (by the CLI, or by a step ticked before) is left as it
is: changing its time is a deliberate correction (`cockpit log --phase ... --at ...`).
The `routed` marker therefore comes from ticking or confirming the "cutover" step, which the
auto hint offers once the target region's MX answers, observed after the failover decision, are ok.

Step titles, authors, reasons and notes are untrusted: shown through `safe_text.clean` in
`Text` objects, never markup. Times are shown as UTC HH:MM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from cockpit.config.model import Config
from cockpit.errors import IncidentLogError
from cockpit.incident.checklist import (
    AutoResult,
    ChecklistError,
    StepState,
    add_note,
    auto_record,
    auto_result,
    checklist_state,
    incident_moments,
    mark_done,
    phase_to_set,
    skip,
)
from cockpit.incident.entry import Entry
from cockpit.incident.log import EntryParts, IncidentLog
from cockpit.incident.phases import effective_phases, phase_record
from cockpit.incident.runbook import CHECKLIST_PHASES, Step
from cockpit.model import Finding
from cockpit.safe_text import clean
from cockpit.ui.ui_messages import LogAppended, LogAppendFailed

__all__ = ["ChecklistPane", "TextPrompt", "clock"]

_ProbeView = tuple[tuple[Finding, ...], datetime, datetime, Config | None]
"""What a confirm is judged on: the findings, when they were given, when the condition was
first seen to hold, and the config for the freshness bounds."""

_MARKS: Mapping[str, str] = {"open": "[ ]", "done": "[x]", "skipped": "[-]"}
READ_ONLY_REASON = "Read-only viewer (--read-only): cannot {what}; nothing is written to the log"


def refuse_if_read_only(widget: Widget | App[Any], read_only: bool, what: str) -> bool:
    """True (after telling the user why through `widget`) when `read_only`: nothing may be
    written, so the caller does not `what`."""
    if read_only:
        widget.notify(READ_ONLY_REASON.format(what=what), severity="warning", markup=False)
    return read_only


def clock(moment: datetime) -> str:
    """HH:MM in UTC, as the CLI's `--at` reads it."""
    return moment.astimezone(UTC).strftime("%H:%M")


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


class ChecklistPane(Widget):
    """The guided checklist; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "done", "Done"),
        Binding("s", "skip", "Skip"),
        Binding("n", "note", "Note"),
        Binding("c", "confirm_auto", "Confirm auto"),
    ]
    DEFAULT_CSS = """
    ChecklistPane { height: 1fr; }
    ChecklistPane > OptionList { height: 1fr; }
    """

    def __init__(
        self,
        steps: Sequence[Step],
        log: IncidentLog,
        author: str,
        *,
        read_only: bool = False,
        config: Config | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.read_only = read_only
        """A viewer: every action that would write says why it cannot."""
        self._steps = tuple(steps)
        self._log = log
        self._author = author
        self._states: dict[str, StepState] = checklist_state(self._steps, ())
        self._write_lock = threading.Lock()
        """This screen's appends go one at a time, so a double key press reads the first."""
        self._config = config
        self._entries: tuple[Entry, ...] = ()
        self._findings: tuple[Finding, ...] | None = None
        """The latest findings given; None until the first probe results arrive."""
        self._findings_at: datetime | None = None
        self._auto: dict[str, AutoResult] = {}
        """Step id -> how its condition was last judged (steps with a condition only)."""
        self._auto_since: dict[str, datetime] = {}
        """Step id -> when the probe findings were first seen to satisfy its condition."""
        self._drawn: list[tuple[str | None, str]] = []
        """What the option list shows (id and text per option), to skip redrawing the same."""

    # ---- data in ------------------------------------------------------------------------------

    def show_entries(self, entries: Iterable[Entry]) -> None:
        """Rebuild the state from the log's entries, judge the conditions again, redraw."""
        self._entries = tuple(entries)
        self._states = checklist_state(self._steps, self._entries)
        self._judge()
        self._redraw()

    def show_findings(self, findings: Sequence[Finding], at: datetime, target: str | None) -> None:
        """Judge every `auto` condition on the latest findings, given at `at`.

        `target` (the probe runner's) is not used: TARGET is what the log's latest failover
        decision names, and with no decision a TARGET condition waits."""
        self._findings = tuple(findings)
        self._findings_at = at
        self._judge()
        self._redraw()

    def _judging_config(self) -> Config | None:
        if self._config is not None:
            return self._config
        shell_config = getattr(self.app, "config", None) if self.is_attached else None
        return shell_config if isinstance(shell_config, Config) else None

    def _judge(self) -> None:
        findings, at = self._findings, self._findings_at
        if findings is None or at is None:
            return
        moments = incident_moments(self._entries, now=at, config=self._judging_config())
        results: dict[str, AutoResult] = {}
        since: dict[str, datetime] = {}
        for step in self._steps:
            if step.auto is None:
                continue
            result = results[step.id] = auto_result(step, findings, moments)
            if result.satisfied:
                since[step.id] = self._auto_since.get(step.id, at)
        self._auto = results
        self._auto_since = since

    def state_of(self, step_id: str) -> StepState | None:
        return self._states.get(step_id)

    def auto_hint(self, step_id: str) -> str | None:
        """The hint "satisfied by probe at 14:02" for an open step whose condition holds."""
        since = self._auto_since.get(step_id)
        state = self._states.get(step_id)
        if since is None or state is None or state.status != "open":
            return None
        return f"satisfied by probe at {clock(since)}"

    def auto_waiting(self, step_id: str) -> str | None:
        """The dim "waiting for evidence: why" of an open step whose condition does not hold."""
        state = self._states.get(step_id)
        if state is None or state.status != "open" or state.step.auto is None:
            return None
        if step_id in self._auto_since:
            return None
        result = self._auto.get(step_id)
        reason = "no probe results yet" if result is None else result.reason
        return f"waiting for evidence: {reason}"

    # ---- drawing ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield OptionList(*self._options(), id="checklist-steps")

    def _options(self) -> list[Option]:
        options: list[Option] = []
        phases = [*CHECKLIST_PHASES, "unknown"]
        for phase in phases:
            in_phase = [state for state in self._states.values() if state.step.phase == phase]
            if not in_phase:
                continue
            header = "Other (not in this runbook)" if phase == "unknown" else phase.capitalize()
            options.append(
                # No id: a step id from the log (any text) can never clash with a heading.
                Option(Text(header, style="bold"), disabled=True)
            )
            options.extend(Option(self._prompt(state), id=state.step.id) for state in in_phase)
        return options

    def _prompt(self, state: StepState) -> Text:
        step = state.step
        line = Text(f"{_MARKS.get(state.status, '[?]')} ")
        line.append(clean(step.title))
        if step.sets_phase:
            line.append(f"  (sets {step.sets_phase})", style="dim")
        if state.status in ("done", "skipped") and state.by is not None:
            when = "" if state.at is None else f" at {clock(state.at)}"
            line.append(f"\n    {state.status} by ", style="dim")
            line.append(clean(state.by), style="dim")
            line.append(when, style="dim")
            if state.reason:
                line.append(": ", style="dim")
                line.append(clean(state.reason), style="dim")
        if state.also_done_by:
            names = ", ".join(clean(author) for author, _ in state.also_done_by)
            line.append(f"\n    also ticked by {names}", style="dim")
        for author, ts, note in state.notes:
            line.append(f"\n    note {clock(ts)} ")
            line.append(clean(author))
            line.append(": ")
            line.append(clean(note))
        hint = self.auto_hint(step.id)
        if hint is not None:
            line.append(f"\n    {hint}: c to confirm", style="bold")
        waiting = self.auto_waiting(step.id)
        if waiting is not None:
            line.append(f"\n    {clean(waiting)}", style="dim")
        return line

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        option_list = self.query_one(OptionList)
        options = self._options()
        drawn = [(option.id, str(option.prompt)) for option in options]
        if drawn == self._drawn:
            return  # nothing changed: nothing to send to the terminal
        self._drawn = drawn
        highlighted = option_list.highlighted
        option_list.set_options(options)
        if highlighted is not None and highlighted < option_list.option_count:
            option_list.highlighted = highlighted

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        for index in range(option_list.option_count):
            if not option_list.get_option_at_index(index).disabled:
                option_list.highlighted = index
                break

    def _highlighted_step(self) -> str | None:
        option = self.query_one(OptionList).highlighted_option
        if option is None or option.id is None or option.disabled:
            return None
        return option.id

    # ---- actions ------------------------------------------------------------------------------

    def tick_step_setting(self, phase: str) -> bool:
        """Tick the step that sets `phase` (the cutover step sets routed); False when none does."""
        if refuse_if_read_only(self, self.read_only, "tick a step"):
            return True
        for step in self._steps:
            if step.sets_phase == phase:
                self._append(step.id, "done", "")
                return True
        return False

    def action_done(self) -> None:
        if refuse_if_read_only(self, self.read_only, "tick a step"):
            return
        step_id = self._highlighted_step()
        if step_id is not None:
            self._append(step_id, "done", "")

    def action_confirm_auto(self) -> None:
        if refuse_if_read_only(self, self.read_only, "confirm a step"):
            return
        step_id = self._highlighted_step()
        if step_id is None:
            return
        hint = self.auto_hint(step_id)
        findings, at = self._findings, self._findings_at
        if hint is None or findings is None or at is None:
            waiting = self.auto_waiting(step_id)
            why = f" ({waiting})" if waiting else ""
            self.notify(
                f"No probe result satisfies this step yet{clean(why)}",
                severity="warning",
                markup=False,
            )
            return
        probe = (findings, at, self._auto_since[step_id], self._judging_config())
        self._append(step_id, "auto", "", probe)

    def action_skip(self) -> None:
        if refuse_if_read_only(self, self.read_only, "skip a step"):
            return
        self._ask(self._highlighted_step(), "skip", "Why skip this step?", "reason")

    def action_note(self) -> None:
        if refuse_if_read_only(self, self.read_only, "add a note"):
            return
        self._ask(self._highlighted_step(), "note", "Note on this step", "note")

    def _ask(self, step_id: str | None, operation: str, title: str, placeholder: str) -> None:
        if step_id is None:
            return
        state = self._states.get(step_id)
        label = f"{title}: {state.step.title}" if state is not None else title

        def answered(text: str | None) -> None:
            if text is not None:
                self._append(step_id, operation, text)

        self.app.push_screen(TextPrompt(label, placeholder), answered)

    @work(thread=True, group="checklist-log", exit_on_error=False)
    def _append(
        self, step_id: str, operation: str, text: str, probe: _ProbeView | None = None
    ) -> None:
        """Append the entry for `operation` (done, auto, skip, note), in a thread."""
        what = self._what(step_id, operation)
        try:
            with self._write_lock:
                appended = self._write(step_id, operation, text, probe)
        except (ChecklistError, IncidentLogError) as exc:
            self.post_message(LogAppendFailed(clean(f"{what} not written: {exc}")))
            return
        try:
            entries = tuple(self._log.read().entries)
        except IncidentLogError as exc:
            # Written: only reading it back failed. The timeline's next poll catches up.
            reason = (
                f"{what} written (seq {appended[0].seq}), but the log could not be read back: {exc}"
            )
            self.post_message(LogAppendFailed(clean(reason), severity="warning"))
            return
        self.post_message(LogAppended(tuple(appended), entries))

    def _what(self, step_id: str, operation: str) -> str:
        """The write a message is about: "tick of step 3 (Confirm the MX change)"."""
        doing = {"done": "tick", "auto": "tick", "skip": "skip", "note": "note"}.get(
            operation, operation
        )
        steps = [step for step in self._steps if step.id == step_id]
        title = f" ({steps[0].title})" if steps else ""
        return f"{doing} of step {step_id}{title}"

    def _write(
        self, step_id: str, operation: str, text: str, probe: _ProbeView | None = None
    ) -> list[Entry]:
        """Append the step's entry, built from the log as it is under the lock, then its phase."""
        steps = [step for step in self._steps if step.id == step_id]

        def build(entries: Sequence[Entry]) -> list[EntryParts]:
            state = checklist_state(self._steps, entries)
            if operation in ("done", "auto"):
                kind, body, data = mark_done(state, step_id, self._author)
                if operation == "auto" and data["result"] == "done" and probe is not None:
                    # Judged again on the log as it is now: a decision or phase written since
                    # the pane last read it can change what the findings prove.
                    findings, at, seen_at, config = probe
                    moments = incident_moments(entries, now=at, config=config)
                    result = auto_result(state[step_id].step, findings, moments)
                    if not result.satisfied:
                        raise ChecklistError(
                            f"not confirmed: waiting for evidence: {result.reason}"
                        )
                    data["auto"] = auto_record(result, seen_at)
                    body += " (confirmed from probe results)"
                return [(kind, body, data)]
            if operation == "skip":
                return [skip(state, step_id, text)]
            return [add_note(state, step_id, text)]

        written = self._log.append_built(build, author=self._author)
        phase = phase_to_set(steps[0]) if written[0].data["result"] == "done" else None
        if phase is None:
            return written

        def build_phase(entries: Sequence[Entry]) -> list[EntryParts]:
            # Only the "done" that counts sets the phase: another screen may have won the race.
            counts = checklist_state(self._steps, entries)[step_id].seq == written[0].seq
            if not counts or effective_phases(entries).get(phase) is not None:
                return []
            phase_kind, phase_data = phase_record(entries, phase, written[0].ts)
            phase_data["step"] = step_id
            phase_text = f"{phase} at {phase_data['at']} ({steps[0].title})"
            return [(phase_kind, phase_text, phase_data)]

        return written + self._log.append_built(build_phase, author=self._author)

    @on(LogAppended)
    def _appended(self, message: LogAppended) -> None:
        # Not stopped: the app also gets it, to refresh the timeline and the other panes.
        self.show_entries(message.entries)
        for entry in message.appended:
            if entry.data.get("result") == "already-done":
                self.notify(clean(entry.text), severity="warning", markup=False)
