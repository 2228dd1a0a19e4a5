"""The checklist pane: the runbook in phases (before, during, after), ticked from the keyboard.

API for the app shell:

    pane = ChecklistPane(steps, log, author, config=config)  # steps from runbook.steps_for
    pane.show_entries(entries)                 # after every log read: the state comes from it
    pane.show_findings(findings, at, target)   # after every probe sweep: the auto hints

Keys (BINDINGS, shown in the footer): space marks the highlighted step done (on a step done
by this screen's author it offers to reopen it: a correction entry takes the tick back, the
tick itself stays in the log), `s` skips it
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

Phase markers: a "done" that counts on a step with `sets_phase` also appends the phase
entry (cockpit.ui.checklist_write, where the rules are).

Typed text: in the cockpit (a DraftKeeper app) a note's text and a skip's reason are kept as a
draft beside the log (kind "note" or "skip", fields "step" and "text") when the log cannot take
them: a full disk, a write error, the lock held past the wait, quitting or losing the terminal
with the prompt open or the write still waiting. The failure message says so; `reopen_draft`
opens such a draft, offered at the next opening, in its step's prompt, pre-filled, and the
draft is discarded once what is submitted is written. In any other app (tests) the prompt and
the write are as they always were, without drafts.

Step titles, authors, reasons and notes are untrusted: shown through `safe_text.clean` in
`Text` objects, never markup. Times are shown as UTC HH:MM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from cockpit.compat import UTC
from cockpit.config.model import Config
from cockpit.errors import IncidentLogError
from cockpit.incident.checklist import (
    AutoResult,
    ChecklistError,
    StepState,
    auto_result,
    checklist_state,
    incident_moments,
)
from cockpit.incident.drafts import Draft
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.runbook import CHECKLIST_PHASES, Step
from cockpit.model import Finding
from cockpit.safe_text import clean
from cockpit.ui.checklist_write import ProbeView, write_step
from cockpit.ui.state_entries import StateEntries
from cockpit.ui.text_prompt import TextPrompt
from cockpit.ui.ui_messages import LogAppended, LogAppendFailed

if TYPE_CHECKING:
    from cockpit.ui.draft_keeper import DraftKeeper

__all__ = ["ChecklistPane", "TextPrompt", "clock"]

_Pending = tuple["DraftKeeper", int]
"""A typed text's pending write: the app keeping drafts, and its token (begin_write)."""
_TYPED: Mapping[str, tuple[str, str, str]] = {
    "skip": ("skip a step", "Why skip this step?", "reason"),
    "note": ("add a note", "Note on this step", "note"),
}
"""Per operation that asks for text: what a refusal calls it, the prompt's title and hint."""

_MARKS: Mapping[str, str] = {"open": "[ ]", "done": "[x]", "skipped": "[-]"}
JUDGE_AGAIN_S = 5.0
"""The `auto` conditions are judged again this often without new findings: a finding that
grew stale (probes stopped answering) stops satisfying a step on screen, not only when the
next finding comes."""
LOADING_TEXT = "Reading the incident log: the steps and their ticks show once it is read"
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
        loading: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`loading`: the log is still to be read; until `show_entries` the pane says so
        instead of showing every step open."""
        super().__init__(name=name, id=id, classes=classes)
        self.loading = loading
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
        self._state_entries = StateEntries()
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
        """Rebuild the state from the log's entries, judge the conditions again, redraw.

        Probe entries are left out first: the state comes from check entries and the times
        from decisions and phases, and a big log is mostly probe entries."""
        changed = self._state_entries.update(tuple(entries))
        if not changed and not self.loading:
            return  # only probe entries came: no step and no event time changes
        self._entries = tuple(self._state_entries.entries)
        self._states = checklist_state(self._steps, self._entries)
        self._judge()
        was_loading, self.loading = self.loading, False
        self._redraw()
        if was_loading and self.is_mounted:
            self._highlight_first_step()

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

    def _now(self) -> datetime | None:
        """Now on the cockpit's clock (the findings' time in a bare app without one): freshness
        is judged at the moment of looking, not when the last findings came."""
        app_clock = getattr(self.app, "clock", None) if self.is_attached else None
        if callable(app_clock):
            now = app_clock()
            if isinstance(now, datetime):
                return now
        return self._findings_at

    def _judge_again(self) -> None:
        hints = dict(self._auto_since), {k: r.reason for k, r in self._auto.items()}
        self._judge()
        if (dict(self._auto_since), {k: r.reason for k, r in self._auto.items()}) != hints:
            self._redraw()

    def _judge(self) -> None:
        findings, at = self._findings, self._now()
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

    def state_entries(self) -> tuple[Entry, ...]:
        """The log's entries as last shown, probe entries left out (phases, decisions, ...)."""
        return self._entries

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
        if self.loading:
            return [Option(Text(LOADING_TEXT, style="dim"), disabled=True)]
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
        if state.status == "open" and state.earlier_failover is not None:
            status, by, at, target = state.earlier_failover
            whom = f" by {clean(by)}" if by else ""
            when = "" if at is None else f" at {clock(at)}"
            failover = (
                f"for the failover to {clean(target)}" if target else "before the failover decision"
            )
            line.append(f"\n    {status}{whom}{when} {failover}: open again for", style="dim")
            line.append(" the latest decision", style="dim")
        if state.status == "open" and state.reopened is not None:
            who, when = state.reopened
            line.append("\n    reopened by ", style="dim")
            line.append(clean(who), style="dim")
            line.append(f" at {clock(when)}", style="dim")
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
        self._highlight_first_step()
        self.set_interval(JUDGE_AGAIN_S, self._judge_again, name="checklist-judge")

    def _highlight_first_step(self) -> None:
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

    def _refuse(self, what: str) -> bool:
        """True (after saying why) when nothing may be written: a read-only viewer, or a log
        whose state this screen has not read yet (a tick must not be made blind)."""
        from cockpit.ui.timeline_pane import refuse_while_loading

        if refuse_if_read_only(self, self.read_only, what):
            return True
        return self.is_attached and refuse_while_loading(self, what)

    def tick_step_setting(self, phase: str) -> bool:
        """Tick the step that sets `phase` (the cutover step sets routed); False when none does.
        The log decides, under its lock: a step done for an earlier failover is open again
        after a new decision, so the tick counts and sets the phase again (a correction)."""
        if refuse_if_read_only(self, self.read_only, "tick a step"):
            return True
        for step in self._steps:
            if step.sets_phase == phase:
                self._append(step.id, "done", "")
                return True
        return False

    def action_done(self) -> None:
        if self._refuse("tick a step"):
            return
        step_id = self._highlighted_step()
        if step_id is None:
            return
        state = self._states.get(step_id)
        if state is not None and state.status == "done" and state.by == self._author:
            self._offer_reopen(state)
            return
        self._append(step_id, "done", "")

    def _offer_reopen(self, state: StepState) -> None:
        """Space on a step this author ticked: ask, then write the correction. (A step one
        skipped is ticked by Space as before: a tick overrides a skip.)"""
        from cockpit.ui.confirm_prompt import ConfirmPrompt

        when = "" if state.at is None else f" at {clock(state.at)}"
        question = Text("You ticked ")
        question.append(clean(state.step.title), style="bold")
        question.append(
            f"{when}. Reopen it? A correction entry takes your tick back (the log keeps both)."
        )
        step_id, seq = state.step.id, state.seq

        def answered(yes: bool | None) -> None:
            if yes:
                self._append(step_id, "reopen", "", expected_seq=seq)

        self.app.push_screen(ConfirmPrompt(question, "y: reopen", "n: keep it"), answered)

    def action_confirm_auto(self) -> None:
        if self._refuse("confirm a step"):
            return
        step_id = self._highlighted_step()
        if step_id is None:
            return
        self._judge_again()  # at this moment: the hint on screen may be JUDGE_AGAIN_S old
        hint = self.auto_hint(step_id)
        findings, at = self._findings, self._now()
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
        if self._refuse(_TYPED["skip"][0]):
            return
        self._ask(self._highlighted_step(), "skip")

    def action_note(self) -> None:
        if self._refuse(_TYPED["note"][0]):
            return
        self._ask(self._highlighted_step(), "note")

    def reopen_draft(self, draft: Draft) -> None:
        """Open a "note" or "skip" draft (offered by DraftKeeper) in its step's prompt,
        pre-filled: written only when submitted, and the draft discarded once it is written.

        A draft whose step this checklist does not have is not opened: a message gives its
        text, and the draft is left for the offer to discard."""
        step_id = draft.fields.get("step", "")
        text = draft.fields.get("text", "")
        if draft.kind not in _TYPED or self._refuse("reopen the draft (Drafts, in the palette)"):
            return
        if step_id not in self._states:
            self.notify(
                clean(
                    f"The {draft.kind} draft is for step {step_id!r}, which is not in this"
                    f" checklist: not reopened. Its text: {text}"
                    " (the draft stays beside the log; x in the drafts offer discards it)"
                ),
                severity="warning",
                markup=False,
                timeout=30,
            )
            return
        self._ask(step_id, draft.kind, draft)

    def _ask(self, step_id: str | None, operation: str, draft: Draft | None = None) -> None:
        """The prompt for a skip's reason or a note on `step_id`; `draft`: one reopened, whose
        text it starts with and which a written entry replaces."""
        if step_id is None:
            return
        _refusal, title, placeholder = _TYPED[operation]
        state = self._states.get(step_id)
        label = f"{title}: {state.step.title}" if state is not None else title
        keeper = self._draft_keeper()
        replaces = draft.id if draft is not None else None

        def answered(text: str | None) -> None:
            if text is None:
                return
            pending: _Pending | None = None
            if keeper is not None:
                fields = {"step": step_id, "text": text}
                what = self._what(step_id, operation)
                pending = keeper, keeper.begin_write(operation, fields, what, replaces)
            self._append(step_id, operation, text, None, pending)

        if draft is None:
            prompt = TextPrompt(label, placeholder)
        else:
            from cockpit.ui.draft_offer import FilledTextPrompt

            prompt = FilledTextPrompt(label, placeholder, draft.fields.get("text", ""))
        if keeper is None:
            self.app.push_screen(prompt, answered)
            return
        from cockpit.ui.draft_keeper import FormDraft

        purpose = FormDraft(
            operation,
            self._what(step_id, operation),
            initial=dict(draft.fields) if draft is not None else None,
            replaces=replaces,
            context={"step": step_id},
        )
        keeper.push_form(prompt, purpose, answered)

    def _draft_keeper(self) -> DraftKeeper | None:
        """The app, when it keeps drafts of typed text (the cockpit, as a writer)."""
        from cockpit.ui.draft_keeper import DraftKeeper

        app = self.app
        return app if isinstance(app, DraftKeeper) and not app.read_only else None

    @work(thread=True, group="checklist-log", exit_on_error=False)
    def _append(
        self,
        step_id: str,
        operation: str,
        text: str,
        probe: ProbeView | None = None,
        pending: _Pending | None = None,
        expected_seq: int | None = None,
    ) -> None:
        """Append the entry for `operation` (done, auto, skip, note), in a thread. `pending`:
        typed text's write, kept as a draft (DraftKeeper.write_failed) when the log cannot
        take it."""
        what = self._what(step_id, operation)
        may_start = written = None
        if pending is not None:
            keeper, token = pending
            may_start = partial(keeper.write_may_start, token)
            written = partial(keeper.write_succeeded, token)
        try:
            with self._write_lock:
                appended = write_step(
                    self._log, self._steps, self._author, step_id, operation, text, probe,
                    may_start=may_start, written=written, expected_seq=expected_seq,
                )  # fmt: skip
        except (ChecklistError, IncidentLogError) as exc:
            failure: str | None = f"{what} not written: {exc}"
            if pending is not None:
                failure = pending[0].write_failed(pending[1], what, exc)
            if failure is not None:  # None: quitting kept it as a draft; nothing to say
                self.post_message(LogAppendFailed(clean(failure)))
            return
        try:
            entries = self._log.entries_so_far()
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
        doing = "tick" if operation in ("done", "auto") else operation
        steps = [step for step in self._steps if step.id == step_id]
        title = f" ({steps[0].title})" if steps else ""
        return f"{doing} of step {step_id}{title}"

    @on(LogAppended)
    def _appended(self, message: LogAppended) -> None:
        # Not stopped: the app also gets it, to refresh the timeline and the other panes.
        self.show_entries(message.entries)
        for entry in message.appended:
            if entry.data.get("result") == "already-done":
                self.notify(clean(entry.text), severity="warning", markup=False)
            elif entry.data.get("result") == "reopened" and entry.author == self._author:
                self.notify(clean(entry.text), markup=False)
