"""The cockpit's keys that write to the incident log: decision, cutover, severity, role, a
timeline note (with its key and lesson marks and its review section), an action item for the
review, a phase at any time (closing the incident too), export.

`IncidentActions` is mixed into `CockpitApp`; it needs the app's `incident_log`, `log_path`,
`author`, `clock`, `read_only` and `region_names()`. Every write runs in a thread worker
(`_append_built`): under the log's lock it reads the log, builds the entry from what the log
says then (so a role names its previous holder and a phase its earlier setting even when another
cockpit wrote just before) and appends it; then it reads the log back and posts `LogAppended`;
a refusal or a failure posts `LogAppendFailed` with the reason, once, naming the write
("decision not written: ..."). What a form's user typed goes through DraftKeeper: when the log
cannot take it (lock held, full disk, lost entries, quitting) it is kept as a draft beside the
log, and `reopen_draft` opens a draft offered at the next opening in its form, pre-filled. A
read-only viewer is told why, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work

from cockpit.compat import UTC
from cockpit.errors import CockpitError, OutputFileError
from cockpit.incident.drafts import Draft
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.log_lock import WriteAbandoned
from cockpit.incident.roles import RoleError, parse_role, role_entry
from cockpit.incident.runbook import Step, steps_for
from cockpit.incident.severity import SeverityError, parse_severity, severity_entry
from cockpit.output_file import output_file, plan_output, refuse_incident_file
from cockpit.safe_text import clean
from cockpit.ui.action_form import ActionForm, ActionResult
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt, refuse_if_read_only
from cockpit.ui.decision_form import (
    CutoverPrompt,
    DecisionError,
    DecisionForm,
    DecisionResult,
    decision_fields,
    decision_parts,
)
from cockpit.ui.draft_keeper import DraftKeeper, FormDraft
from cockpit.ui.draft_offer import FilledTextPrompt
from cockpit.ui.messages import ExportFinished
from cockpit.ui.record_forms import NoteResult, PhaseResult
from cockpit.ui.severity_prompt import SeverityPrompt
from cockpit.ui.timeline_pane import refuse_while_loading
from cockpit.ui.ui_messages import LogAppended, LogAppendFailed, TargetChanged

__all__ = ["IncidentActions", "export_target", "write_export"]

EntryParts = tuple[str, str, dict[str, Any]]
"""(kind, text, data) of an entry to append."""
Build = Callable[[Sequence[Entry]], EntryParts]
"""Builds the entry from the log's entries as they are just before the append."""

ROLE_PROMPT = "Role: commander or scribe; add a name to hand over (commander carol)"


class IncidentActions(DraftKeeper):
    """Mixed into CockpitApp (an App subclass itself, so Textual sees the actions)."""

    incident_log: IncidentLog
    log_path: Path
    author: str
    clock: Callable[[], datetime]
    read_only: bool

    def region_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    # Not exclusive: two entries written in quick succession must both be written.
    @work(thread=True, exclusive=False, exit_on_error=False, group="log")
    def _append_built(
        self,
        build: Build,
        what: str,
        then: Callable[[Entry], None] | None = None,
        token: int | None = None,
    ) -> None:
        """`token`: the typed text's pending write (DraftKeeper.begin_write), kept as a draft
        when the log cannot take it."""
        log = self.incident_log

        def build_once(entries: Sequence[Entry]) -> list[EntryParts]:
            if token is not None and not self.write_may_start(token):
                raise WriteAbandoned(
                    "not written: cockpit was quitting", path=self.log_path, holder=None
                )
            return [build(entries)]

        try:
            (entry,) = log.append_built(build_once, author=self.author)
            if token is not None:
                self.write_succeeded(token)
                token = None  # written: nothing after this keeps it as a draft
            everything = log.entries_so_far()
        except (CockpitError, DecisionError, RoleError, ValueError) as exc:
            failure = self.write_failed(token, what, exc)
            if failure is not None:  # None: quitting kept it as a draft; nothing to say
                self.post_message(LogAppendFailed(failure))
            return
        self.post_message(LogAppended((entry,), everything))
        if then is not None:
            then(entry)

    # ---- decisions and the cutover -----------------------------------------------------------

    def action_decide(self) -> None:
        if refuse_if_read_only(self, self.read_only, "record a decision") or refuse_while_loading(
            self, "record a decision"
        ):
            return
        self.push_form(
            DecisionForm(self.region_names()), FormDraft("decision", "decision"), self._decided
        )

    def _decided(self, result: DecisionResult | None, replaces: str | None = None) -> None:
        if result is None:
            return

        def build(entries: Sequence[Entry]) -> EntryParts:
            return decision_parts(result, entries, self.region_names())

        def announced(_entry: Entry) -> None:
            if result.target_region is not None:
                self.post_message(TargetChanged(result.target_region))

        token = self.begin_write("decision", decision_fields(result), "decision", replaces)
        self._append_built(build, "decision", announced, token)

    def ask_about_cutover(self, region: str) -> None:
        """After a failover decision: is traffic routed there now? (see CutoverPrompt)"""
        self.push_screen(CutoverPrompt(region), self._cutover_answered)

    def _cutover_answered(self, routed: bool | None) -> None:
        if routed and not self.query_one(ChecklistPane).tick_step_setting("routed"):
            self._write_phase("routed")

    def _write_phase(self, phase: str) -> None:
        """A phase marker at this minute, when no checklist step sets it."""
        from cockpit.incident.phases import phase_record

        def build(entries: Sequence[Entry]) -> EntryParts:
            kind, data = phase_record(entries, phase, self.clock())
            return kind, f"{phase} at {data['at']}", data

        self._append_built(build, f"phase {phase}")

    # ---- impact ------------------------------------------------------------------------------

    def action_impact(self) -> None:
        """Set the impact phase: the first alarm's proposal with Enter, or a typed time."""
        if refuse_if_read_only(self, self.read_only, "set the impact time") or refuse_while_loading(
            self, "set the impact time"
        ):
            return
        from cockpit.incident.entry import format_ts
        from cockpit.ui.region_strip import ImpactPrompt, RegionStrip

        strips = self.query(RegionStrip)
        proposal = strips.first().proposal if strips else None
        proposed = "" if proposal is None else format_ts(proposal.at)

        def answered(typed: str | None) -> None:
            if typed is not None:
                self._write_impact(typed)

        # The proposal is not typed text: only a changed time is kept as a draft at quit.
        purpose = FormDraft("impact", "impact", initial={"text": proposed})
        self.push_form(ImpactPrompt(proposal, proposed), purpose, answered)

    def _write_impact(self, typed: str, replaces: str | None = None) -> None:
        from cockpit.incident.entry import format_ts
        from cockpit.incident.phases import effective_phases, phase_record
        from cockpit.incident.when import parse_at

        try:
            at = parse_at(typed, now=self.clock())
        except ValueError as error:
            self.notify(clean(f"impact not written: {error}"), severity="error", markup=False)
            return

        def build(entries: Sequence[Entry]) -> EntryParts:
            current = effective_phases(entries).get("impact")
            if current is not None:
                raise ValueError(
                    f"impact is already set ({format_ts(current.at)}, by {current.current.author});"
                    " correct it with p (Set a phase), or cockpit log --phase impact --at TIME"
                )
            kind, data = phase_record(entries, "impact", at)
            return kind, f"impact at {data['at']}", data

        token = self.begin_write("impact", {"text": typed}, "impact", replaces)
        self._append_built(build, "impact", None, token)

    # ---- severity and roles ------------------------------------------------------------------

    def action_severity(self) -> None:
        if refuse_if_read_only(self, self.read_only, "set the severity") or refuse_while_loading(
            self, "set the severity"
        ):
            return
        prompt = SeverityPrompt(current=self._current_severity())
        self.push_form(prompt, FormDraft("severity", "severity"), self._severity_typed)

    def _current_severity(self) -> str | None:
        from cockpit.ui.header import IncidentHeader

        headers = self.query(IncidentHeader)
        return headers.first().severity if headers else None

    def _severity_typed(self, typed: str | None, replaces: str | None = None) -> None:
        if typed is None:
            return
        try:
            parts = severity_entry(parse_severity(typed))
        except SeverityError as error:
            self.notify(clean(f"severity not written: {error}"), severity="error", markup=False)
            return
        token = self.begin_write("severity", {"text": typed}, "severity", replaces)
        self._append_built(lambda _entries: parts, "severity", None, token)

    def action_role(self) -> None:
        if refuse_if_read_only(self, self.read_only, "take a role") or refuse_while_loading(
            self, "take a role"
        ):
            return
        prompt = TextPrompt(ROLE_PROMPT, "commander", check=role_problem)
        self.push_form(prompt, FormDraft("role", "role"), self._role_typed)

    def _role_typed(self, typed: str | None, replaces: str | None = None) -> None:
        if typed is None:
            return
        words = typed.split(maxsplit=1)
        try:
            role = parse_role(words[0] if words else "")
        except RoleError as error:
            self.notify(clean(f"role not written: {error}"), severity="error", markup=False)
            return
        holder = words[1] if len(words) > 1 else self.author
        token = self.begin_write("role", {"text": typed}, "role", replaces)
        self._append_built(lambda entries: role_entry(role, holder, entries), "role", None, token)

    # ---- a note, a phase, closing ----------------------------------------------------------

    def action_timeline_note(self) -> None:
        """A free-form note to the timeline (a key entry, a lesson), from any pane."""
        if refuse_if_read_only(self, self.read_only, "add a note") or refuse_while_loading(
            self, "add a note"
        ):
            return
        from cockpit.ui.record_forms import NoteForm

        self.push_form(NoteForm(), FormDraft("note", "note"), self._note_typed)

    def _note_typed(self, result: NoteResult | None, replaces: str | None = None) -> None:
        if result is None:
            return
        text = result.text.strip()
        tags = result.tags()
        data: dict[str, Any] = {"tags": tags} if tags else {}
        what = result.what()
        token = self.begin_write("note", result.fields(), what, replaces)
        self._append_built(lambda _entries: ("note", text, dict(data)), what, None, token)

    def action_action_item(self) -> None:
        """An action item for the review: what, its owner, due date and ticket."""
        if refuse_if_read_only(self, self.read_only, "add an action item") or refuse_while_loading(
            self, "add an action item"
        ):
            return
        self.push_form(ActionForm(), FormDraft("action", "action item"), self._action_typed)

    def _action_typed(self, result: ActionResult | None, replaces: str | None = None) -> None:
        if result is None:
            return
        try:
            parts: EntryParts = ("note", result.text.strip(), result.data())
        except ValueError as error:  # the form checked it: only a caller that did not
            self.notify(clean(f"action item not written: {error}"), severity="error", markup=False)
            return
        token = self.begin_write("action", result.fields(), "action item", replaces)
        self._append_built(lambda _entries: parts, "action item", None, token)

    def action_phase(self, phase: str | None = None) -> None:
        """Set a phase (impact ... closed) now or at a typed time; a set phase is corrected."""
        doing = "close the incident" if phase == "closed" else "set a phase"
        if refuse_if_read_only(self, self.read_only, doing) or refuse_while_loading(self, doing):
            return
        self._open_phase_form(phase, "now", None)

    def action_close_incident(self) -> None:
        self.action_phase("closed")

    def _open_phase_form(self, phase: str | None, at: str, draft: Draft | None) -> None:
        from cockpit.ui.record_forms import PhaseForm

        form = PhaseForm(self.clock, self._phase_settings(), phase=phase, at=at)
        initial = {"phase": phase, "at": at} if phase is not None else None
        if draft is not None:
            initial = dict(draft.fields)
        purpose = FormDraft("phase", "phase", initial, draft.id if draft else None)
        replaces = draft.id if draft is not None else None
        self.push_form(form, purpose, partial(self._phase_chosen, replaces=replaces))

    def _phase_settings(self) -> dict[str, Text]:
        """Each phase set so far -> "14:02 by alice", as this screen last read the log."""
        from cockpit.incident.phases import effective_phases

        entries = self.query_one(ChecklistPane).state_entries()
        shown: dict[str, Text] = {}
        for setting in effective_phases(entries).times:
            line = Text(f"{setting.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z by ")
            line.append(clean(setting.current.author))
            shown[setting.phase] = line
        return shown

    def _phase_chosen(self, result: PhaseResult | None, replaces: str | None = None) -> None:
        if result is None:
            return
        from cockpit.incident.entry import format_ts
        from cockpit.incident.phases import effective_phases, phase_record

        def build(entries: Sequence[Entry]) -> EntryParts:
            current = effective_phases(entries).get(result.phase)
            if current is not None and current.at == result.at:
                raise ValueError(
                    f"{result.phase} is already set at {format_ts(current.at)}"
                    f" (by {current.current.author}): nothing to change"
                )
            kind, data = phase_record(entries, result.phase, result.at)
            if kind == "correction":
                text = f"{result.phase} corrected to {data['at']} (was {data['previous_at']})"
            else:
                text = f"{result.phase} at {data['at']}"
            return kind, text, data

        fields = {"phase": result.phase, "at": result.typed}
        what = f"phase {result.phase}"
        token = self.begin_write("phase", fields, what, replaces)
        self._append_built(build, what, None, token)

    # ---- drafts ------------------------------------------------------------------------------

    def reopen_draft(self, draft: Draft) -> None:
        """Open `draft` in its form, pre-filled; written only if the user submits it, and
        discarded once it is written."""
        from cockpit.ui.region_strip import ImpactPrompt

        text = draft.fields.get("text", "")
        purpose = FormDraft(draft.kind, draft.kind, dict(draft.fields), draft.id)
        if draft.kind == "decision":
            form = DecisionForm(self.region_names(), initial=draft.fields)
            self.push_form(form, purpose, partial(self._decided, replaces=draft.id))
        elif draft.kind == "severity":
            prompt = SeverityPrompt(current=self._current_severity(), initial=text)
            self.push_form(prompt, purpose, partial(self._severity_typed, replaces=draft.id))
        elif draft.kind == "role":
            prompt = FilledTextPrompt(ROLE_PROMPT, "commander", text, check=role_problem)
            self.push_form(prompt, purpose, partial(self._role_typed, replaces=draft.id))
        elif draft.kind == "note" and not draft.fields.get("step"):
            from cockpit.ui.record_forms import NoteForm

            form = NoteForm(draft.fields)
            self.push_form(form, purpose, partial(self._note_typed, replaces=draft.id))
        elif draft.kind == "action":
            form = ActionForm(draft.fields)
            self.push_form(form, purpose, partial(self._action_typed, replaces=draft.id))
        elif draft.kind == "phase":
            phase = draft.fields.get("phase")
            self._open_phase_form(phase, draft.fields.get("at", "now"), draft)
        elif draft.kind == "impact":
            impact = ImpactPrompt(None, text)
            self.push_form(impact, purpose, partial(self._write_impact_typed, replaces=draft.id))
        elif callable(checklist_reopen := self._checklist_reopener(draft)):
            checklist_reopen(draft)  # a step's note or skip reason: the checklist's own prompt
        else:
            self.notify(
                clean(
                    f"A {draft.kind} draft cannot be reopened in a form here; its text:"
                    f" {text or dict(draft.fields)}"
                ),
                severity="warning",
                markup=False,
                timeout=30,
            )

    def _checklist_reopener(self, draft: Draft) -> object:
        """ChecklistPane.reopen_draft for a step's note or skip draft, when the pane has one."""
        if draft.kind not in ("note", "skip") or not draft.fields.get("step"):
            return None
        return getattr(self.query_one(ChecklistPane), "reopen_draft", None)

    def _write_impact_typed(self, typed: str | None, replaces: str | None = None) -> None:
        if typed is not None:
            self._write_impact(typed, replaces)

    # ---- export ------------------------------------------------------------------------------

    def action_export(self) -> None:
        if refuse_if_read_only(
            self, self.read_only, "write the export next to the log (use cockpit export -o FILE)"
        ):
            return
        self._export_markdown()

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export_markdown(self) -> None:
        target = export_target(self.log_path)
        try:
            write_export(self.log_path, target, steps_for(self.config))
        except OutputFileError as exc:
            self.post_message(ExportFinished(target, error=exc.problem))
            return
        except OSError as exc:
            self.post_message(ExportFinished(target, error=exc.strerror or str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - the cockpit keeps running and says why
            self.post_message(ExportFinished(target, error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(ExportFinished(target))


def role_problem(typed: str) -> str | None:
    """What is wrong with a typed role ("commander", "scribe carol"), or None."""
    words = typed.split(maxsplit=1)
    try:
        parse_role(words[0] if words else "")
    except RoleError as error:
        return str(error)
    return None


def export_target(log_path: Path) -> Path:
    """Where the screen's export goes: beside the log, `.md` for its suffix (inc.jsonl ->
    inc.md), or `.md` added when that would be the log itself (notes.md -> notes.md.md)."""
    target = log_path.with_suffix(".md")
    return log_path.with_name(log_path.name + ".md") if target == log_path else target


def write_export(log_path: Path, target: Path, steps: Sequence[Step] | None = None) -> None:
    """The Markdown review of `log_path`, written to `target` (mode 0600): a regular file is
    replaced atomically, a device or FIFO written directly, anything else refused with
    OutputFileError (cockpit.output_file), and so is the log itself or one of its own files
    (refuse_incident_file). `steps`: the runbook (else the one of the incident's own config
    beside the log, if any)."""
    from cockpit.incident.export_md import write_markdown
    from cockpit.incident.log import read_log

    if steps is None:
        from cockpit.commands.common import runbook_for_log

        steps, _ = runbook_for_log(log_path)
    refuse_incident_file(log_path, target)
    plan_output(target)  # refused before the log is read
    result = read_log(log_path)
    with output_file(target, mode=0o600, encoding="utf-8") as handle:
        write_markdown(handle, result.entries, result.problems, name=log_path.stem, steps=steps)
