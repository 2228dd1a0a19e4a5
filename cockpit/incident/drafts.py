"""Drafts: text typed for the incident log that could not be written, kept beside the log.

A form whose write failed (a full disk, the lock held past the wait, a log that lost entries),
a write still waiting for the lock when cockpit quit, a form left open when the terminal went
away: what was typed is kept as a draft. cockpit never writes a draft into the log by itself;
the next time the incident is opened the drafts are offered, and only a user who submits one
writes it (the draft is discarded once written) or discards it.

Layout, beside the log `inc.jsonl`:

    inc.jsonl.drafts/            0700, owned by this user, not writable by others
        <id>.json                one draft, 0600: {"format", "version", "id", "kind",
                                 "fields", "author", "saved_at", "why", "log"}
        .reserve                 RESERVE_BYTES set aside while the incident is open, given
                                 back when a draft meets a full disk so that draft still fits
        .<id>.json.<pid>.tmp     a draft being written (never read back)

A draft is written to a temporary file (O_EXCL, O_NOFOLLOW), fsynced, renamed into place and
the directory fsynced: a draft file is whole or absent. The directory is opened with
O_NOFOLLOW and every file relative to it, regular files only, so a symlink planted there is
never followed. Each draft is at most MAX_DRAFT_BYTES and at most MAX_DRAFTS are read.

Drafts are untrusted text (what someone typed, in a file anyone with the account could edit):
`list_drafts` checks their shape and names every file it cannot use in `problems` (plain text,
never an exception); show fields only through `safe_text.clean` in Text objects.

`PendingWrites` holds what was typed between a form's submit and the log's answer, so that
quitting (or a lost terminal) while a write waits for the lock keeps that text as a draft and
the write then never lands: each pending write ends written or kept, never both.

Failures are DraftError (a CockpitError), with a message meant for a person.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit.compat import UTC
from cockpit.errors import CockpitError
from cockpit.incident.entry import MAX_ENTRY_BYTES, format_ts, parse_ts, utc_now
from cockpit.incident.log_files import DRAFTS_SUFFIX, FILE_MODE, make_directories
from cockpit.output_file import not_replaceable
from cockpit.safe_text import clean

__all__ = [
    "DRAFTS_SUFFIX",
    "MAX_DRAFTS",
    "MAX_DRAFT_BYTES",
    "RESERVE_BYTES",
    "Draft",
    "DraftError",
    "DraftList",
    "PendingWrite",
    "PendingWrites",
    "discard_draft",
    "drafts_dir",
    "list_drafts",
    "reserve_space",
    "save_draft",
]

FORMAT = "cockpit-draft"
VERSION = 1
MAX_DRAFT_BYTES = 16 * MAX_ENTRY_BYTES
"""A draft's own bound (4 MiB), well above the largest entry the log takes: a text the log
refused for its size is kept as a draft, not lost (the forms keep a text that long open)."""
MAX_DRAFTS = 100
"""Files read per listing; the offer is for a handful, not an archive."""
RESERVE_BYTES = 512 * 1024
RESERVE_NAME = ".reserve"
MAX_WHY_CHARS = 500
_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DraftError(CockpitError):
    """A draft could not be kept, read or discarded; the message says why."""


@dataclass(frozen=True, slots=True)
class Draft:
    """One kept draft. Every string is as typed (untrusted): clean it to show it."""

    id: str
    kind: str
    """What it was for: decision, severity, role, impact, phase, note, skip, ..."""
    fields: Mapping[str, str]
    """The form's fields as typed: text, why, approver, target, step, ..."""
    author: str
    saved_at: datetime
    why: str
    """Why it was kept: "could not write: ...", "terminal went away", ..."""
    log: str = ""
    """The name of the log file it belongs to."""

    def first_line(self, limit: int = 80) -> str:
        """The first line of its main text, cleaned and cut to `limit` characters."""
        main = self.fields.get("text") or next((v for v in self.fields.values() if v), "")
        line = main.strip().splitlines()[0] if main.strip() else ""
        shown = clean(line)
        return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class DraftList:
    """What `list_drafts` found: the usable drafts (oldest first) and why others were not."""

    drafts: tuple[Draft, ...] = ()
    problems: tuple[str, ...] = ()


def drafts_dir(log_path: Path) -> Path:
    """`<log>.drafts`, beside the log."""
    return log_path.with_name(log_path.name + DRAFTS_SUFFIX)


def save_draft(
    log_path: Path,
    kind: str,
    fields: Mapping[str, str],
    *,
    author: str,
    why: str,
    now: datetime | None = None,
) -> Draft:
    """Keep `fields` as a draft of `kind` beside `log_path`; the draft as kept.

    Durable when it returns. A full disk gives back the reserve (see reserve_space) and tries
    once more. Raises DraftError when it cannot be kept.
    """
    moment = (now or utc_now()).astimezone(UTC)
    saved_at = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # as it reads back
    draft = Draft(
        id=f"{saved_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",
        kind=_checked_kind(kind),
        fields=_checked_fields(fields),
        author=author,
        saved_at=saved_at,
        why=why[:MAX_WHY_CHARS],
        log=log_path.name,
    )
    payload = (json.dumps(_to_json(draft), ensure_ascii=False) + "\n").encode("utf-8")
    if len(payload) > MAX_DRAFT_BYTES:
        raise DraftError(
            f"the draft is {len(payload)} bytes, larger than the {MAX_DRAFT_BYTES}-byte limit"
        )
    directory = drafts_dir(log_path)
    dir_fd = _open_directory(directory, create=True)
    try:
        try:
            _write_whole(dir_fd, f"{draft.id}.json", payload)
        except OSError as exc:
            if exc.errno not in _FULL or not _give_back_reserve(dir_fd):
                raise
            _write_whole(dir_fd, f"{draft.id}.json", payload)
    except OSError as exc:
        raise DraftError(f"cannot keep a draft in {directory}: {_reason(exc)}") from exc
    finally:
        os.close(dir_fd)
    return draft


def list_drafts(log_path: Path) -> DraftList:
    """The drafts kept beside `log_path`, oldest first; never raises (see DraftList)."""
    directory = drafts_dir(log_path)
    try:
        dir_fd = _open_directory(directory, create=False)
    except FileNotFoundError:
        return DraftList()
    except DraftError as exc:
        return DraftList(problems=(str(exc),))
    drafts: list[Draft] = []
    problems: list[str] = []
    try:
        try:
            names = sorted(name for name in os.listdir(dir_fd) if not name.startswith("."))
        except OSError as exc:
            return DraftList(problems=(f"cannot list {directory}: {_reason(exc)}",))
        if len(names) > MAX_DRAFTS:
            problems.append(
                f"{directory} holds {len(names)} files: only the first {MAX_DRAFTS} were read"
            )
        for name in names[:MAX_DRAFTS]:
            try:
                drafts.append(_read_draft(dir_fd, name, log_path.name))
            except DraftError as exc:
                problems.append(f"{directory / clean(name)}: {exc}")
    finally:
        os.close(dir_fd)
    drafts.sort(key=lambda draft: (draft.saved_at, draft.id))
    return DraftList(tuple(drafts), tuple(problems))


def discard_draft(log_path: Path, draft_id: str) -> bool:
    """Remove the draft `draft_id`: True, or False when it was already gone. Raises DraftError."""
    if not _ID.fullmatch(draft_id):
        raise DraftError(f"not a draft id: {clean(draft_id)!r}")
    directory = drafts_dir(log_path)
    try:
        dir_fd = _open_directory(directory, create=False)
    except FileNotFoundError:
        return False
    try:
        os.unlink(f"{draft_id}.json", dir_fd=dir_fd)
        os.fsync(dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DraftError(f"cannot discard the draft {draft_id}: {_reason(exc)}") from exc
    finally:
        os.close(dir_fd)
    return True


def reserve_space(log_path: Path) -> str | None:
    """Set RESERVE_BYTES aside in the drafts directory, so that a draft can still be kept when
    the disk fills up later (save_draft gives it back). None when done, else why not."""
    try:
        dir_fd = _open_directory(drafts_dir(log_path), create=True)
    except (OSError, DraftError) as exc:
        return str(exc) if isinstance(exc, DraftError) else _reason(exc)
    try:
        # O_NONBLOCK: a FIFO of that name fails at once (no reader) instead of hanging here.
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(RESERVE_NAME, flags, FILE_MODE, dir_fd=dir_fd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "the reserve is not a regular file"
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(dir_fd)
    except OSError as exc:
        return _reason(exc)
    finally:
        os.close(dir_fd)
    return None


# ---- writes between the form and the log --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """What was typed for one write that has not been answered yet."""

    kind: str
    fields: Mapping[str, str]
    what: str
    """What a message calls it: "decision", "severity", ..."""
    replaces: str | None = None
    """The id of the draft this write re-submits (discarded once this one ends)."""


@dataclass
class PendingWrites:
    """Each submitted form's text until the log answers: written, or kept, never both.

    `begin` when the form is submitted; the writer calls `start_writing` under the log's lock
    right before it builds the entry, and writes only when it returns True; `end` when the
    write is over (its PendingWrite, to keep as a draft on failure, or None when quitting took
    it). `take_waiting` (quitting, or the terminal gone; safe from a signal handler in the
    main thread) takes every write that has not started writing: those are kept as drafts and
    will not be written.
    """

    _lock: threading.RLock = field(default_factory=threading.RLock)
    _waiting: dict[int, PendingWrite] = field(default_factory=dict)
    _writing: dict[int, PendingWrite] = field(default_factory=dict)
    _next: int = 0

    def begin(
        self, kind: str, fields: Mapping[str, str], what: str, replaces: str | None = None
    ) -> int:
        with self._lock:
            self._next += 1
            self._waiting[self._next] = PendingWrite(kind, dict(fields), what, replaces)
            return self._next

    def start_writing(self, token: int) -> bool:
        with self._lock:
            pending = self._waiting.pop(token, None)
            if pending is None:
                return False
            self._writing[token] = pending
            return True

    def end(self, token: int) -> PendingWrite | None:
        with self._lock:
            return self._waiting.pop(token, None) or self._writing.pop(token, None)

    def take_waiting(self, timeout: float = 1.0) -> list[PendingWrite]:
        # RLock: a signal handler runs in the main thread, which may hold it already; another
        # thread holds it only for a dict operation, so the timeout is a last resort.
        if not self._lock.acquire(timeout=timeout):
            return []
        try:
            taken = list(self._waiting.values())
            self._waiting.clear()
            return taken
        finally:
            self._lock.release()


# ---- files --------------------------------------------------------------------------------


def _open_directory(directory: Path, *, create: bool) -> int:
    """The drafts directory, opened without following a symlink and checked to be ours."""
    if create:
        try:
            make_directories(directory)
        except OSError as exc:
            raise DraftError(f"cannot make {directory}: {_reason(exc)}") from exc
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(directory, flags)
    except FileNotFoundError:
        if create:
            raise DraftError(f"cannot open {directory}: it vanished") from None
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DraftError(
                f"{directory} is not a directory (a symlink or a file): no drafts are kept there"
            ) from exc
        raise DraftError(f"cannot open {directory}: {_reason(exc)}") from exc
    info = os.fstat(fd)
    problem = None
    if info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to you"
    elif info.st_mode & 0o022:
        problem = f"is writable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem is not None:
        os.close(fd)
        raise DraftError(f"{directory} {problem}: its drafts are not used (chmod 700 it)")
    return fd


def _write_whole(dir_fd: int, name: str, payload: bytes) -> None:
    """`payload` as `name` in the directory: temporary file, fsync, rename, fsync the directory."""
    temporary = f".{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, FILE_MODE, dir_fd=dir_fd)
    try:
        os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.EIO, "the write made no progress")
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, temporary)
        raise
    os.close(fd)
    try:
        found = not_replaceable(name, dir_fd=dir_fd)
        if found is not None:  # a draft is only ever a regular file (cockpit.output_file)
            raise OSError(errno.EEXIST, f"{name} is {found}: not replaced")
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except BaseException:
        _unlink_quietly(dir_fd, temporary)
        raise


def _give_back_reserve(dir_fd: int) -> bool:
    """Remove the reserve so its space takes a draft; whether there was one to remove."""
    try:
        os.unlink(RESERVE_NAME, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # the space is free whether or not the directory's change is durable yet
    return True


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _read_draft(dir_fd: int, name: str, log_name: str) -> Draft:
    if not name.endswith(".json") or not _ID.fullmatch(name[: -len(".json")]):
        raise DraftError("not a draft (unexpected name); left as it is")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DraftError("a symlink, not a draft: not followed") from exc
        raise DraftError(f"cannot read it: {_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DraftError("not a regular file: not read")
        if info.st_size > MAX_DRAFT_BYTES:
            raise DraftError(f"{info.st_size} bytes, more than a draft can be: not read")
        raw = os.read(fd, MAX_DRAFT_BYTES + 1)
    except OSError as exc:
        raise DraftError(f"cannot read it: {_reason(exc)}") from exc
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DraftError(f"not a readable draft (damaged: {_short(exc)})") from exc
    draft = _from_json(data, name[: -len(".json")])
    if draft.log and draft.log != log_name:
        raise DraftError(f"a draft of another log ({clean(draft.log)!r}): not offered here")
    return draft


def _to_json(draft: Draft) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": draft.id,
        "kind": draft.kind,
        "fields": dict(draft.fields),
        "author": draft.author,
        "saved_at": format_ts(draft.saved_at),
        "why": draft.why,
        "log": draft.log,
    }


def _from_json(data: object, draft_id: str) -> Draft:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DraftError('not a cockpit draft (no "format": "cockpit-draft")')
    if data.get("version") != VERSION:
        raise DraftError(f"a draft of another version ({clean(str(data.get('version')))[:20]})")
    if data.get("id") != draft_id:
        raise DraftError("its id does not match its file name: not used")
    kind, fields, author = data.get("kind"), data.get("fields"), data.get("author")
    why, log, saved_at = data.get("why", ""), data.get("log", ""), data.get("saved_at")
    try:
        checked_kind = _checked_kind(kind)
        # A draft file is untrusted (anyone who can write the drafts directory): what it holds
        # goes back into a form's widgets, so it is cleaned here, line breaks kept for notes.
        checked_fields = {
            name: clean(value, multiline=True) for name, value in _checked_fields(fields).items()
        }
        when = parse_ts(saved_at) if isinstance(saved_at, str) else None
    except (DraftError, ValueError) as exc:
        raise DraftError(f"a damaged draft: {exc}") from exc
    if when is None or not all(isinstance(v, str) for v in (author, why, log)):
        raise DraftError("a damaged draft: saved_at, author, why or log is missing or not text")
    return Draft(draft_id, checked_kind, checked_fields, author, when, why, log)


def _checked_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise DraftError(f"not a draft kind: {clean(str(kind))[:40]!r}")
    return kind


def _checked_fields(fields: object) -> dict[str, str]:
    if not isinstance(fields, Mapping) or not fields:
        raise DraftError("a draft needs its typed fields")
    checked: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise DraftError(f"not a field name: {clean(str(name))[:40]!r}")
        if not isinstance(value, str):
            raise DraftError(f"field {name} is not text")
        checked[name] = value
    return checked


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _short(exc: BaseException) -> str:
    return clean(str(exc))[:80]
