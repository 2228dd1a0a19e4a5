"""Drafts in the cockpit: what was typed but not written is kept, and offered again.

`DraftKeeper` is mixed into CockpitApp (through IncidentActions). It needs the app's
`incident_log`, `log_path`, `author` and `read_only`, and `reopen_draft(draft)` (IncidentActions
opens the draft's form). What it does:

- a form's write: `begin_write(kind, fields, what)` when the form is submitted (main thread);
  the writing worker calls `write_may_start(token)` under the log's lock before it builds the
  entry, then `write_succeeded(token)`, or `write_failed(token, what, exc)` which keeps the
  typed fields as a draft when the log could not take them and gives the one message to show
  ("decision not written: REASON; kept as a draft beside the log");
- quitting (`keep_drafts_at_exit`, from App.exit before the log is abandoned) and the terminal
  going away (SIGHUP, SIGTERM: cockpit.children calls it from the signal handler): every write
  still waiting for the lock, and every open form holding text, becomes a draft; the waiting
  writes then never land. The files are written in a helper thread given EXIT_SAVE_SECONDS, so
  a hung filesystem never holds up quitting;
- opening (`start_keeping_drafts`, from on_mount): a writer sets space aside for drafts and is
  offered the drafts found (DraftOffer); a read-only viewer is only told they exist.
A reopened draft is discarded once its form's entry is written, or once a new draft replaces it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.screen import Screen

from cockpit.errors import IncidentLogError
from cockpit.incident.drafts import (
    Draft,
    DraftError,
    DraftList,
    PendingWrite,
    PendingWrites,
    discard_draft,
    list_drafts,
    reserve_space,
    save_draft,
)
from cockpit.incident.log import IncidentLog
from cockpit.incident.log_lock import WriteAbandoned
from cockpit.safe_text import clean
from cockpit.ui.draft_offer import DraftChoice, DraftOffer, typed_in

__all__ = ["EXIT_SAVE_SECONDS", "DraftKeeper", "DraftsFound", "FormDraft"]

EXIT_SAVE_SECONDS = 3.0
"""At most this long is spent keeping drafts when cockpit quits or loses its terminal."""
KEPT = "kept as a draft beside the log"


@dataclass(frozen=True, slots=True)
class FormDraft:
    """What an open form is for: its draft kind, what messages call it, and the draft it
    reopened (its fields as they were, and its id) when it did."""

    kind: str
    what: str
    initial: Mapping[str, str] | None = None
    replaces: str | None = None
    context: Mapping[str, str] | None = None
    """Fields kept with what is typed, not typed themselves: {"step": "declare"} for a note."""


@dataclass
class DraftsFound(Message):
    """The drafts beside the log, listed in a worker when the incident was opened."""

    listing: DraftList
    reserve_problem: str | None = None


@dataclass
class _Notice(Message):
    """A notification asked for from a worker thread (text already cleaned)."""

    text: str
    severity: str


class DraftKeeper(App[None]):
    """Mixed into CockpitApp; see the module docstring."""

    incident_log: IncidentLog
    log_path: Path
    author: str
    read_only: bool
    EXIT_WHY: ClassVar[Mapping[str, tuple[str, str]]] = {
        "quit": ("quit while waiting for the lock", "quit with the form open"),
        "terminal": ("terminal went away while waiting for the lock", "terminal went away"),
        "stopped": ("stopped (SIGTERM) while waiting for the lock", "stopped (SIGTERM)"),
    }

    def reopen_draft(self, draft: Draft) -> None:
        raise NotImplementedError

    # ---- state, made on first use (the app's __init__ belongs to CockpitApp) ----------------

    @property
    def pending_writes(self) -> PendingWrites:
        pending: PendingWrites | None = self.__dict__.get("_pending_writes")
        if pending is None:
            pending = self.__dict__["_pending_writes"] = PendingWrites()
        return pending

    @property
    def open_forms(self) -> WeakKeyDictionary[Screen[object], FormDraft]:
        """Forms pushed by the cockpit, by screen: what each one is for."""
        forms: WeakKeyDictionary[Screen[object], FormDraft] | None = self.__dict__.get(
            "_open_forms"
        )
        if forms is None:
            forms = self.__dict__["_open_forms"] = WeakKeyDictionary()
        return forms

    def push_form(
        self, form: Screen[Any], purpose: FormDraft, callback: Callable[[Any], object]
    ) -> None:
        """Push `form` remembering what it is for (so its text can become a draft)."""
        self.open_forms[form] = purpose
        self.push_screen(form, callback)

    # ---- a form's write ---------------------------------------------------------------------

    def begin_write(
        self, kind: str, fields: Mapping[str, str], what: str, replaces: str | None = None
    ) -> int:
        return self.pending_writes.begin(kind, fields, what, replaces)

    def write_may_start(self, token: int) -> bool:
        """Under the log's lock: False when quitting already kept this write as a draft."""
        return self.pending_writes.start_writing(token)

    def write_succeeded(self, token: int) -> None:
        pending = self.pending_writes.end(token)
        if pending is not None and pending.replaces is not None:
            self._discard_quietly(pending.replaces)

    def write_failed(self, token: int | None, what: str, exc: Exception) -> str | None:
        """The message for a write that failed (None: quitting kept it, nothing to say); the
        typed fields are kept as a draft when the log could not take them. Worker thread."""
        message = f"{what} not written: {exc}"
        pending = self.pending_writes.end(token) if token is not None else None
        if token is not None and pending is None:
            return None
        if pending is None or not isinstance(exc, IncidentLogError):
            return message  # refused for what it says: the form can be filled again
        why = (
            self.EXIT_WHY["quit"][0]
            if isinstance(exc, WriteAbandoned)
            else f"could not write: {exc}"
        )
        kept = self._keep(pending, why)
        if isinstance(kept, Draft):
            return f"{message}; {KEPT}"
        return f"{message}; could not keep it as a draft either: {kept}"

    def _keep(self, pending: PendingWrite, why: str) -> Draft | str:
        """Save `pending` as a draft (and drop the draft it replaces): the draft, or why not."""
        try:
            draft = save_draft(
                self.log_path, pending.kind, pending.fields, author=self.author, why=why
            )
        except DraftError as error:
            return str(error)
        if pending.replaces is not None:
            self._discard_quietly(pending.replaces)
        return draft

    def _discard_quietly(self, draft_id: str) -> None:
        try:
            discard_draft(self.log_path, draft_id)
        except DraftError as error:
            self.post_message(_Notice(clean(f"A draft could not be discarded: {error}"), "warning"))

    # ---- quitting, or the terminal gone ------------------------------------------------------

    def keep_drafts_at_exit(self, how: str = "quit") -> list[Draft]:
        """Keep every waiting write and every open form's text as drafts; once. `how`: "quit",
        "terminal" (SIGHUP) or "stopped" (SIGTERM). Bounded by EXIT_SAVE_SECONDS; safe from a
        signal handler."""
        if self.__dict__.get("_drafts_kept_at_exit") or self.read_only:
            return []
        self.__dict__["_drafts_kept_at_exit"] = True
        waiting_why, open_why = self.EXIT_WHY.get(how, self.EXIT_WHY["quit"])
        to_keep = [(pending, waiting_why) for pending in self.pending_writes.take_waiting()]
        try:
            screens = list(self.screen_stack)
        except Exception:  # noqa: BLE001 - no screen yet (or any more) when the signal came
            screens = []
        for screen in screens:
            purpose = self.open_forms.get(screen)
            try:
                fields = typed_in(screen)
            except Exception:  # noqa: BLE001 - a screen half built when the signal came
                fields = None
            if fields is None or (purpose is None and not getattr(screen, "is_modal", False)):
                continue
            if purpose is None:
                purpose = FormDraft("text", "typed text")
                title = getattr(screen, "_title", None)
                if isinstance(title, str):
                    fields["prompt"] = title
            fields = {**(purpose.context or {}), **fields}
            if purpose.initial is not None and dict(purpose.initial) == fields:
                continue  # a reopened draft, unchanged: it is still kept as it was
            to_keep.append(
                (PendingWrite(purpose.kind, fields, purpose.what, purpose.replaces), open_why)
            )
        if not to_keep:
            return []
        kept: list[Draft] = []

        def save_all() -> None:
            for pending, why in to_keep:
                result = self._keep(pending, why)
                if isinstance(result, Draft):
                    kept.append(result)

        saver = threading.Thread(target=save_all, name="cockpit-drafts", daemon=True)
        saver.start()
        saver.join(EXIT_SAVE_SECONDS)
        return kept

    def _terminal_gone(self, signum: int) -> None:
        """SIGHUP/SIGTERM (cockpit.children, in the main thread): keep drafts, write nothing."""
        self.keep_drafts_at_exit("terminal" if signum == signal.SIGHUP else "stopped")
        self.incident_log.abandon()

    # ---- opening ------------------------------------------------------------------------------

    def start_keeping_drafts(self) -> None:
        """From on_mount: follow SIGHUP/SIGTERM, and look for drafts to offer."""
        from cockpit import children

        children.on_signal(self._terminal_gone)
        self._look_for_drafts()

    def stop_keeping_drafts(self) -> None:
        from cockpit import children

        children.forget_signal(self._terminal_gone)

    @work(thread=True, exclusive=True, exit_on_error=False, group="drafts")
    def _look_for_drafts(self) -> None:
        problem = None if self.read_only else reserve_space(self.log_path)
        self.post_message(DraftsFound(list_drafts(self.log_path), problem))

    def action_drafts(self) -> None:
        """Offer the drafts kept beside the log again."""
        self._look_for_drafts()
        self.__dict__["_drafts_asked"] = True

    @on(DraftsFound)
    def _drafts_found(self, message: DraftsFound) -> None:
        listing = message.listing
        asked = self.__dict__.pop("_drafts_asked", False)
        if message.reserve_problem is not None:
            self.notify(
                clean(
                    "No space set aside for drafts beside the log: "
                    f"{message.reserve_problem} (a full disk may lose typed text)"
                ),
                severity="warning",
                markup=False,
            )
        if not listing.drafts and not listing.problems:
            if asked:
                self.notify("No drafts are kept beside this log", markup=False)
            return
        if self.read_only:
            count = len(listing.drafts)
            self.notify(
                f"{count} draft{'s' if count != 1 else ''} beside this log: open it without"
                " --read-only to see them",
                severity="warning",
                markup=False,
            )
            return
        self.push_screen(DraftOffer(listing), self._draft_chosen)

    def _draft_chosen(self, choice: DraftChoice | None) -> None:
        if choice is None:
            return
        if choice.action == "reopen":
            self.reopen_draft(choice.draft)
            return
        self._discard_chosen(choice.draft)

    @work(thread=True, exit_on_error=False, group="drafts-discard")
    def _discard_chosen(self, draft: Draft) -> None:
        try:
            discard_draft(self.log_path, draft.id)
        except DraftError as error:
            self.post_message(_Notice(clean(f"Draft not discarded: {error}"), "error"))
            return
        self.post_message(_Notice(f"Draft discarded ({clean(draft.kind)})", "information"))
        listing = list_drafts(self.log_path)
        if listing.drafts:
            self.post_message(DraftsFound(listing))

    @on(_Notice)
    def _notice(self, message: _Notice) -> None:
        severity = message.severity if message.severity in ("warning", "error") else "information"
        self.notify(message.text, severity=severity, markup=False)  # type: ignore[arg-type]
