"""The cockpit's keys that write to the incident log: decision, cutover, severity, role, export.

`IncidentActions` is mixed into `CockpitApp`; it needs the app's `incident_log`, `log_path`,
`author`, `clock`, `read_only` and `region_names()`. Every write runs in a thread worker
(`_append_built`): under the log's lock it reads the log, builds the entry from what the log
says then (so a role names its previous holder and a phase its earlier setting even when another
cockpit wrote just before) and appends it; then it reads the log back and posts `LogAppended`;
a refusal or a failure posts `LogAppendFailed` with the reason. A read-only viewer is told why,
and nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App

from cockpit.errors import CockpitError
from cockpit.incident.entry import Entry
from cockpit.incident.log import IncidentLog
from cockpit.incident.roles import RoleError, parse_role, role_entry
from cockpit.incident.severity import SeverityError, parse_severity, severity_entry
from cockpit.safe_text import clean
from cockpit.ui.checklist_pane import ChecklistPane, TextPrompt, refuse_if_read_only
from cockpit.ui.decision_form import (
    CutoverPrompt,
    DecisionError,
    DecisionForm,
    DecisionResult,
    decision_parts,
)
from cockpit.ui.messages import ExportFinished
from cockpit.ui.ui_messages import LogAppended, LogAppendFailed, TargetChanged

__all__ = ["IncidentActions", "write_export"]

EntryParts = tuple[str, str, dict[str, Any]]
"""(kind, text, data) of an entry to append."""
Build = Callable[[Sequence[Entry]], EntryParts]
"""Builds the entry from the log's entries as they are just before the append."""

ROLE_PROMPT = "Take a role: commander or scribe (add a name to hand it over: commander carol)"
SEVERITY_PROMPT = "Severity: SEV1 (most severe), SEV2, SEV3 or SEV4"


class IncidentActions(App[None]):
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
        self, build: Build, what: str, then: Callable[[Entry], None] | None = None
    ) -> None:
        log = self.incident_log
        try:
            (entry,) = log.append_built(lambda entries: [build(entries)], author=self.author)
            everything = tuple(log.read().entries)
        except (CockpitError, DecisionError, RoleError, ValueError) as exc:
            self.post_message(LogAppendFailed(f"{what} not recorded: {exc}"))
            return
        self.post_message(LogAppended((entry,), everything))
        if then is not None:
            then(entry)

    # ---- decisions and the cutover -----------------------------------------------------------

    def action_decide(self) -> None:
        if refuse_if_read_only(self, self.read_only, "record a decision"):
            return
        self.push_screen(DecisionForm(self.region_names()), self._decided)

    def _decided(self, result: DecisionResult | None) -> None:
        if result is None:
            return

        def build(entries: Sequence[Entry]) -> EntryParts:
            return decision_parts(result, entries, self.region_names())

        def announced(_entry: Entry) -> None:
            if result.target_region is not None:
                self.post_message(TargetChanged(result.target_region))

        self._append_built(build, "decision", announced)

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

        self._append_built(build, phase)

    # ---- impact ------------------------------------------------------------------------------

    def action_impact(self) -> None:
        """Set the impact phase: the first alarm's proposal with Enter, or a typed time."""
        if refuse_if_read_only(self, self.read_only, "set the impact time"):
            return
        from cockpit.incident.entry import format_ts
        from cockpit.ui.region_strip import ImpactPrompt, RegionStrip

        strips = self.query(RegionStrip)
        proposal = strips.first().proposal if strips else None
        proposed = "" if proposal is None else format_ts(proposal.at)

        def answered(typed: str | None) -> None:
            if typed is not None:
                self._write_impact(typed)

        self.push_screen(ImpactPrompt(proposal, proposed), answered)

    def _write_impact(self, typed: str) -> None:
        from cockpit.incident.entry import format_ts
        from cockpit.incident.phases import effective_phases, phase_record
        from cockpit.incident.when import parse_at

        try:
            at = parse_at(typed, now=self.clock())
        except ValueError as error:
            self.notify(clean(str(error)), severity="error", markup=False)
            return

        def build(entries: Sequence[Entry]) -> EntryParts:
            current = effective_phases(entries).get("impact")
            if current is not None:
                raise ValueError(
                    f"impact is already set ({format_ts(current.at)}, by {current.current.author});"
                    " correct it with cockpit log --phase impact --at TIME"
                )
            kind, data = phase_record(entries, "impact", at)
            return kind, f"impact at {data['at']}", data

        self._append_built(build, "impact")

    # ---- severity and roles ------------------------------------------------------------------

    def action_severity(self) -> None:
        if refuse_if_read_only(self, self.read_only, "set the severity"):
            return

        def answered(typed: str | None) -> None:
            if typed is None:
                return
            try:
                parts = severity_entry(parse_severity(typed))
            except SeverityError as error:
                self.notify(clean(str(error)), severity="error", markup=False)
                return
            self._append_built(lambda _entries: parts, "severity")

        self.push_screen(TextPrompt(SEVERITY_PROMPT, "SEV2"), answered)

    def action_role(self) -> None:
        if refuse_if_read_only(self, self.read_only, "take a role"):
            return

        def answered(typed: str | None) -> None:
            if typed is None:
                return
            words = typed.split(maxsplit=1)
            try:
                role = parse_role(words[0] if words else "")
            except RoleError as error:
                self.notify(clean(str(error)), severity="error", markup=False)
                return
            holder = words[1] if len(words) > 1 else self.author
            self._append_built(lambda entries: role_entry(role, holder, entries), "role")

        self.push_screen(TextPrompt(ROLE_PROMPT, "commander"), answered)

    # ---- export ------------------------------------------------------------------------------

    def action_export(self) -> None:
        if refuse_if_read_only(
            self, self.read_only, "write the export next to the log (use cockpit export -o FILE)"
        ):
            return
        self._export_markdown()

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export_markdown(self) -> None:
        target = self.log_path.with_suffix(".md")
        try:
            write_export(self.log_path, target)
        except OSError as exc:
            self.post_message(ExportFinished(target, error=exc.strerror or str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - the cockpit keeps running and says why
            self.post_message(ExportFinished(target, error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(ExportFinished(target))


def write_export(log_path: Path, target: Path) -> None:
    """The Markdown timeline of `log_path`, written to `target` atomically."""
    from cockpit.incident.export_md import write_markdown
    from cockpit.incident.log import read_log

    result = read_log(log_path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            write_markdown(handle, result.entries, result.problems, name=log_path.stem)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
