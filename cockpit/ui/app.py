"""The cockpit app: composes the header, the five panes and the footer, and routes messages.

Keys: `q` quits (asking first while a form is open), `?` lists every key, `j`/`k` move like
Down/Up; 1-5 show one pane on the full screen (and focus it), Escape returns to all five, Tab and
Shift+Tab move focus, `d` records a decision, `v` sets the severity, `e` exports the Markdown
timeline next to the log, `m` shows the details behind the region strip, `i` sets the impact
time (the first alarm's proposal, or a typed time), `n` writes a note (starred, a lesson, or
filed under a section of the review), `a` an action item for the review, `p` sets a phase.
Every key is a binding with an action, so the footer and the command palette list it. The
theme is switched from the palette (Textual's "Change theme").

The probe panes (queue, DNS, auth) and the region strip (one line per region under the header:
service state, replication lag, role) need a config; without one the panes say "no config".
With one, a `ProbeRunner` feeds them (cockpit.ui.probe_runner); the handlers below only route its
results to the panes. The checklist and the timeline work from the log alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer

from cockpit.incident.entry import utc_now
from cockpit.incident.log import IncidentLog
from cockpit.incident.log_lock import LockHolder
from cockpit.incident.phases import current_target_region
from cockpit.incident.runbook import steps_for
from cockpit.safe_text import clean
from cockpit.theme_data import ThemeSpec
from cockpit.ui.ascii_mode import AsciiLoadingIndicator, asciify, use_ascii_scrollbars
from cockpit.ui.auth_pane import AuthPane
from cockpit.ui.canary_pane import CanaryPane
from cockpit.ui.checklist_pane import ChecklistPane
from cockpit.ui.dns_pane import DnsPane
from cockpit.ui.header import Clock, IncidentHeader
from cockpit.ui.incident_actions import IncidentActions, write_export
from cockpit.ui.key_actions import KEY_BINDINGS, KeyActions
from cockpit.ui.messages import ExportFinished, IncidentChanged, LogReadStatus
from cockpit.ui.placeholder_pane import PlaceholderPane
from cockpit.ui.probe_backlog import ProbeBacklogLine
from cockpit.ui.probe_runner import (
    AuthShown,
    CanariesShown,
    FindingsShown,
    ProbeBacklog,
    ProbeRunner,
    QueueShown,
    RegionsShown,
    SweepProgress,
    SweepShown,
)
from cockpit.ui.queue_pane import QueuePane
from cockpit.ui.region_strip import RegionDetails, RegionStrip
from cockpit.ui.themes import (
    apply_theme,
    choose_theme,
    preset_theme,
    register_all,
    status_variable_defaults,
)
from cockpit.ui.timeline_pane import TimelinePane
from cockpit.ui.ui_messages import (
    LogAppended,
    LogAppendFailed,
    LogWriteWaiting,
    TargetChanged,
)

__all__ = ["PANES", "CockpitApp", "CockpitShell", "PaneFrame", "PaneSpec", "write_export"]

if TYPE_CHECKING:
    from cockpit.config import Config


@dataclass(frozen=True, slots=True)
class PaneSpec:
    key: str
    """The number key that zooms it."""
    name: str
    """Its id without the "pane-" prefix."""
    title: str


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("1", "queue", "Queue"),
    PaneSpec("2", "dns", "DNS"),
    PaneSpec("3", "auth", "Auth"),
    PaneSpec("4", "checklist", "Checklist"),
    PaneSpec("5", "timeline", "Timeline"),
)


class PaneFrame(Vertical):
    """The bordered, titled box around one pane; what a number key zooms."""

    ALLOW_MAXIMIZE = True

    def __init__(self, spec: PaneSpec, content: Widget) -> None:
        super().__init__(content, id=f"pane-{spec.name}", classes="pane")
        self.border_title = f"{spec.key} {spec.title}"
        self.spec = spec


class PanesScreen(Screen[None]):
    """The default screen of the cockpit and its replay: zooming a pane (`maximize`) restyles
    only the pane, not every widget.

    Textual marks a maximized view with a class on the screen; a class on the screen makes
    Textual restyle every widget below it, a third of a zoom's time at 160x48 (about 25 ms,
    more while a big log is read). Its rule for that class only sets what this screen already
    has (a vertical layout; the zoomed pane fills it), so the class is left out. The pane
    still gets its `-maximized` class.
    """

    def _watch_maximized(
        self, previously_maximized: Widget | None, maximized: Widget | None
    ) -> None:
        if previously_maximized is not None:
            previously_maximized.remove_class("-maximized")
            # Back in its small frame, a table shows its first columns again, not wherever
            # the zoomed view had scrolled to.
            for table in previously_maximized.query(DataTable):
                table.scroll_to(x=0, animate=False, immediate=True)
        if maximized is not None:
            maximized.add_class("-maximized")


class CockpitShell(KeyActions, App[None]):
    """What the live cockpit and its replay share: the stylesheet and its breakpoints, the
    themes (with the status colours), ASCII mode, the panes' frames to zoom, and the keys of
    cockpit.ui.key_actions (q quits, ? lists every key, j/k move, lists do not wrap).

    A subclass composes the PaneFrames and calls `apply_look` first thing in its on_mount.
    """

    CSS_PATH = "cockpit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = KEY_BINDINGS
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (160, "-wide"),
    ]

    def __init__(
        self,
        *,
        theme_name: str | None = None,
        theme_specs: Mapping[str, ThemeSpec] | None = None,
        ascii_only: bool = False,
    ) -> None:
        super().__init__()
        self._run_returned = threading.Event()
        """Set when run() returned (cockpit.ui.exit_watch)."""
        self.theme_name = theme_name
        self.theme_specs = dict(theme_specs or {})
        self.ascii_only = ascii_only
        self.set_class(ascii_only, "-ascii")
        use_ascii_scrollbars(ascii_only)
        register_all(self, self.theme_specs)
        chosen, _warning = choose_theme(self, theme_name, self.theme_specs)
        preset_theme(self, chosen)  # its warning is shown by apply_look, once the app runs

    def get_default_screen(self) -> Screen[None]:
        return PanesScreen(id="_default")

    def get_loading_widget(self) -> Widget:
        return AsciiLoadingIndicator() if self.ascii_only else super().get_loading_widget()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return status_variable_defaults()

    def apply_look(self) -> None:
        """Apply the chosen theme (registered, and set already when it could be, at __init__);
        a warning says why it could not be."""
        if self.ascii_only:  # every dialog and the palette, as each one is pushed
            self.screen_change_signal.subscribe(self, asciify)
        warning = apply_theme(self, self.theme_name, self.theme_specs)
        if warning:
            self.notify(clean(warning), severity="warning", markup=False)

    def pane(self, name: str) -> PaneFrame:
        return self.query_one(f"#pane-{name}", PaneFrame)

    def action_unzoom(self) -> None:
        self.screen.minimize()


class CockpitApp(CockpitShell, IncidentActions):
    """The incident cockpit for one incident log."""

    TITLE = "cockpit"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                spec.key,
                f"zoom('{spec.name}')",
                f"{spec.title}",
                tooltip=f"Show the {spec.title} pane on the full screen",
                # The pane borders say "1 Queue" ...: the footer keeps its room for the rest.
                show=False,
            )
            for spec in PANES
        ),
        Binding("escape", "unzoom", "All panes", tooltip="Back to all five panes"),
        # Short labels: q Quit, ? Help and every key below fit the footer at 80 columns.
        Binding("d", "decide", "Decide", tooltip="Record a decision in the incident log"),
        # In the palette and the help (?): the footer keeps the keys used while mail is down.
        Binding(
            "e",
            "export",
            "Export",
            tooltip="Write the Markdown timeline next to the log",
            show=False,
        ),
        # "SEV" (as in SEV1-SEV4): with q Quit and ? Help the footer still fits 80 columns.
        Binding("v", "severity", "SEV", tooltip="Set the incident's severity, SEV1 to SEV4"),
        Binding("r", "role", "Role", tooltip="Take the commander or scribe role, or hand it over"),
        Binding("m", "regions", "Regions", tooltip="Every service, replication and role result"),
        Binding("i", "impact", "Impact", tooltip="Set when the impact began (accept the proposal)"),
        Binding(
            "n",
            "timeline_note",
            "Note",
            tooltip="A note to the timeline: a key entry, a lesson, a review section"
            " (N on the checklist)",
        ),
        Binding("N", "timeline_note", "Timeline note", show=False),
        # In the palette and the help (?), like export: the footer has no room left.
        Binding(
            "a",
            "action_item",
            "Action item",
            tooltip="An action item for the review: what, owner, due date, ticket",
            show=False,
        ),
        # In the palette ("Set a phase (p)", "Close the incident"): the footer has no room left.
        Binding(
            "p",
            "phase",
            "Phase",
            tooltip="Set a phase now or at a time; close the incident",
            show=False,
        ),
        Binding("tab", "app.focus_next", "Next pane", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False),
    ]

    def __init__(
        self,
        log_path: Path,
        *,
        author: str,
        config: Config | None = None,
        theme_name: str | None = None,
        theme_specs: Mapping[str, ThemeSpec] | None = None,
        ascii_only: bool = False,
        clock: Clock = utc_now,
        probes: bool = True,
        read_only: bool = False,
        drill: bool = False,
        on_target: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(theme_name=theme_name, theme_specs=theme_specs, ascii_only=ascii_only)
        self.log_path = Path(log_path)
        self.author = author
        self.config = config
        self.clock = clock
        self.incident_log = IncidentLog(self.log_path, on_wait=self._waiting_to_write)
        self.target_region: str | None = None
        self.read_only = read_only
        self.drill = drill
        """A practice incident: the header says DRILL."""
        self.on_target = on_target
        """Called with the new target region whenever it changes (the drill's world follows)."""
        self.set_class(drill, "-drill")
        """A viewer: panes live, nothing written; write actions say why they cannot."""
        self.probes = probes and config is not None
        """False: the probe panes show only what is handed to them (tests, snapshots)."""

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands, then every cockpit action, so the palette offers each key."""
        yield from super().get_system_commands(screen)
        for spec in PANES:
            yield SystemCommand(
                f"Zoom {spec.title} pane ({spec.key})",
                f"Show the {spec.title} pane on the full screen; Escape returns",
                partial(self.action_zoom, spec.name),
            )
        if screen.maximized is not None:
            yield SystemCommand("All panes (Esc)", "Back to all five panes", self.action_unzoom)
        yield SystemCommand(
            "Record a decision (d)", "Write a decision to the log", self.action_decide
        )
        yield SystemCommand(
            "Set severity (v)",
            "SEV1 (most severe) to SEV4, written to the log",
            self.action_severity,
        )
        yield SystemCommand(
            "Take or hand over a role (r)",
            "Commander or scribe: a timestamped handoff entry",
            self.action_role,
        )
        yield SystemCommand(
            "Export timeline (e)", "Write the Markdown timeline next to the log", self.action_export
        )
        yield SystemCommand(
            "Region details (m)",
            "Every service probe, replication lag and role result behind the region lines",
            self.action_regions,
        )
        yield SystemCommand(
            "Set the impact time (i)",
            "Accept the first alarm's proposal or type when the impact began",
            self.action_impact,
        )
        yield SystemCommand(
            "Note to the timeline (n; N on the checklist)",
            "A free-form note; star it, file it as a lesson, or under a section of the review"
            " (cause, factor, impact, went well or badly, lucky)",
            self.action_timeline_note,
        )
        yield SystemCommand(
            "Action item for the review (a)",
            "What is to be done, with its owner, due date (YYYY-MM-DD) and ticket",
            self.action_action_item,
        )
        yield SystemCommand(
            "Set a phase (p)",
            "Impact, detected, declared, routed, restored, verified or closed: now or a typed time",
            self.action_phase,
        )
        yield SystemCommand(
            "Close the incident (p, closed)",
            "Set the closed phase, now or at a typed time",
            self.action_close_incident,
        )
        timeline = self.query(TimelinePane)
        if timeline and timeline.first().recovery_offered:
            yield SystemCommand(
                "Write a recovery file (w in the timeline)",
                "The entries the log lost, as this screen showed them, to a new file beside it",
                timeline.first().action_write_recovery,
            )
        yield SystemCommand(
            "Drafts",
            "Text typed but not written, kept beside the log: reopen or discard",
            self.action_drafts,
        )

    def compose(self) -> ComposeResult:
        yield IncidentHeader(
            name_fallback=self.log_path.stem,
            author=self.author,
            clock=self.clock,
            read_only=self.read_only,
            badge="DRILL" if self.drill else None,
            default_target=self.config.regions[0].name if self.config is not None else None,
            loading=True,
            id="header",
        )
        if self.config is not None:
            yield RegionStrip(self.config.region_names(), ascii_only=self.ascii_only, id="regions")
        with Grid(id="panes"):
            for spec in PANES:
                yield PaneFrame(spec, self._pane_content(spec))
        yield ProbeBacklogLine(ascii_only=self.ascii_only, id="probe-backlog")
        yield Footer(compact=True)
        if self.probes and self.config is not None:
            yield ProbeRunner(
                self.config,
                self.incident_log,
                target=self.config.regions[0].name,
                clock=self.clock,
                write_log=not self.read_only,
                id="probes",
            )

    def _pane_content(self, spec: PaneSpec) -> Widget:
        if spec.name == "timeline":
            return TimelinePane(
                self.log_path, log=self.incident_log, read_only=self.read_only, id="timeline"
            )
        if spec.name == "checklist":
            return ChecklistPane(
                steps_for(self.config),
                self.incident_log,
                self.author,
                read_only=self.read_only,
                config=self.config,
                loading=True,
                id="checklist",
            )
        if self.config is None:
            return VerticalScroll(PlaceholderPane(spec.title, "no config"), classes="pane-scroll")
        if spec.name == "queue":
            return QueuePane(ascii_only=self.ascii_only, id="queue")
        if spec.name == "dns":
            return DnsPane(
                ascii_only=self.ascii_only,
                clock=self.clock,
                domain=self.config.domain.name,
                id="dns",
            )
        auth = AuthPane(ascii_only=self.ascii_only, skipped=self.config.auth.skip, id="auth")
        if not self.config.canaries:
            return auth
        names = [canary.name for canary in self.config.canaries]
        canaries = CanaryPane(names, ascii_only=self.ascii_only, id="canaries")
        return VerticalScroll(auth, canaries, classes="pane-scroll")

    def on_mount(self) -> None:
        self.apply_look()
        self.focus_pane("timeline")
        self.start_keeping_drafts()  # offers the drafts kept beside the log (draft_keeper.py)
        if not self.is_headless:
            from cockpit.ui.output_watch import watch_output

            watch_output(self)  # output lost for good (its reader died): end, never hang

    # Focus and zoom

    def focus_pane(self, name: str) -> None:
        frame = self.pane(name)
        for widget in self.screen.focus_chain:
            if widget is frame or frame in widget.ancestors:
                widget.focus()
                return

    def action_zoom(self, name: str) -> None:
        self.focus_pane(name)
        self.screen.maximize(self.pane(name), container=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unzoom":
            return self.screen.maximized is not None
        return True

    # Log and export

    @on(IncidentChanged)
    def _incident_changed(self, message: IncidentChanged) -> None:
        # At quit the screen may be gone before a read's message arrives: nothing to show.
        for header in self.query(IncidentHeader):
            header.show_entries(message.entries)
        for checklist in self.query(ChecklistPane):
            checklist.show_entries(message.entries)
        # A partial list (the quick first look at a big log) has no probe entries: the panes
        # that read them wait for the complete one.
        for strip in self.query(RegionStrip) if message.complete else ():
            strip.show_entries(message.entries)
        for runner in self.query(ProbeRunner) if message.complete else ():
            runner.learn_entries(message.entries)
        decided = current_target_region(message.entries)
        if decided is not None:
            self._set_target(decided)

    @on(LogReadStatus)
    def _log_read_status(self, message: LogReadStatus) -> None:
        for header in self.query(IncidentHeader):
            header.loading = message.status

    @on(LogAppended)
    def _log_appended(self, message: LogAppended) -> None:
        # The timeline shows the new lines at its next poll; the header need not wait.
        for header in self.query(IncidentHeader):
            header.show_entries(message.entries)
        for strip in self.query(RegionStrip):
            strip.show_entries(message.entries)

    @on(LogAppendFailed)
    def _log_append_failed(self, message: LogAppendFailed) -> None:
        severity = "warning" if message.severity == "warning" else "error"
        self.notify(clean(message.reason), severity=severity, markup=False)

    def _waiting_to_write(self, holder: LockHolder | None) -> None:
        """From a writing worker's thread: say who holds the lock while the write waits."""
        who = holder.describe() if holder is not None else "another writer"
        self.post_message(LogWriteWaiting(who))

    @on(LogWriteWaiting)
    def _log_write_waiting(self, message: LogWriteWaiting) -> None:
        self.notify(
            clean(f"waiting to write (held by {message.who})"), severity="warning", markup=False
        )

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """App.run, noting when it returned (cockpit.ui.exit_watch)."""
        try:
            return super().run(*args, **kwargs)
        finally:
            self._run_returned.set()

    def exit(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        # Writes still waiting for the lock give up now: none lands after the user has gone,
        # and quitting never waits for another writer. What they (and any open form) hold is
        # kept as a draft first, so the text is offered next time instead of lost.
        self.keep_drafts_at_exit("quit")
        self.stop_keeping_drafts()
        self.incident_log.abandon()
        if not self.is_headless:
            from cockpit.ui.exit_watch import end_within

            end_within(self._run_returned)  # a thread stuck in a system call must not
            # keep the process alive
        super().exit(*args, **kwargs)  # type: ignore[arg-type]

    @on(TargetChanged)
    def _target_changed(self, message: TargetChanged) -> None:
        self._set_target(message.region)
        self.ask_about_cutover(message.region)

    def _set_target(self, region: str) -> None:
        """Judge every pane against `region` (a configured region's name) from now on."""
        known = self.config.region(region) if self.config is not None else None
        if known is None:
            return
        changed = known.name != self.target_region
        self.target_region = known.name
        if changed and self.on_target is not None:
            self.on_target(known.name)
        for runner in self.query(ProbeRunner):
            runner.set_target(known.name)

    # Probe results, routed to their panes

    @on(SweepProgress)
    def _sweep_progress(self, message: SweepProgress) -> None:
        for pane in self.query(DnsPane):  # results may arrive while the app is closing
            pane.show_progress(message.done, message.total)

    @on(SweepShown)
    def _sweep_shown(self, message: SweepShown) -> None:
        for pane in self.query(DnsPane):
            if message.sweep is not None:
                pane.show_sweep(message.sweep, message.target)
            if message.error is not None:
                pane.show_error(message.error)

    @on(AuthShown)
    def _auth_shown(self, message: AuthShown) -> None:
        for pane in self.query(AuthPane):
            pane.show_findings(message.findings)

    @on(QueueShown)
    def _queue_shown(self, message: QueueShown) -> None:
        rows = [(track.source, track.region, track.history) for track in message.tracks]
        for pane in self.query(QueuePane):
            pane.show_histories(rows, message.now)

    def region_names(self) -> tuple[str, ...]:
        return self.config.region_names() if self.config is not None else ()

    @on(CanariesShown)
    def _canaries_shown(self, message: CanariesShown) -> None:
        for pane in self.query(CanaryPane):
            pane.show_rows(message.rows, message.now)

    @on(RegionsShown)
    def _regions_shown(self, message: RegionsShown) -> None:
        for strip in self.query(RegionStrip):
            strip.show_findings(message.findings, message.at)

    def action_regions(self) -> None:
        strips = self.query(RegionStrip)
        findings = strips.first().findings if strips else []
        self.push_screen(RegionDetails(findings, ascii_only=self.ascii_only))

    @on(ProbeBacklog)
    def _probe_backlog(self, message: ProbeBacklog) -> None:
        for line in self.query(ProbeBacklogLine):  # none while the app is closing
            line.show(message.waiting, message.error)

    @on(FindingsShown)
    def _findings_shown(self, message: FindingsShown) -> None:
        for pane in self.query(ChecklistPane):
            pane.show_findings(message.findings, message.at, message.target)

    @on(ExportFinished)
    def _export_finished(self, message: ExportFinished) -> None:
        if message.error is None:
            self.notify(f"Timeline written to {clean(str(message.path))}", markup=False)
        else:
            self.notify(
                clean(f"Could not write {message.path}: {message.error}"),
                severity="error",
                markup=False,
            )
