"""Finding the canary by IMAP: log in, search each folder for the token, fetch, delete. Blocking.

    session = ImapSession.open(place, login, context, watch)    # or ImapUnavailable(reason)
    folders = session.folders(canary.folders)                    # INBOX, then Junk ones
    found = session.find(token, folders, until=deadline)         # Found, or None
    raw = session.fetch(found)                                   # bytes, or Oversize
    session.delete(found)                                        # when the canary says so
    held = session.held(folder, "eu-in")                         # every eu-in message there
    session.remove(folder, uids)                                 # those (canary.sweep decides)
    session.close()

Search: `UID SEARCH HEADER X-Cockpit-Canary "<token>"` in each folder (EXAMINE, read-only).
Between rounds the session IDLEs on INBOX for at most IDLE_SLICE seconds when CAPABILITY
offers IDLE (a change ends the wait at once), else sleeps POLL_SECONDS; every round is bounded
and the loop ends at `until`. Default folders: INBOX, every folder LIST (SPECIAL-USE) marks
\\Junk (RFC 6154, when offered), and those of COMMON_JUNK_FOLDERS that exist; a folder is junk
when it has \\Junk or its last name part is one of the common junk names.

Fetch: RFC822.SIZE first; over MAX_MESSAGE_BYTES the message is not read (Oversize). Then
BODY.PEEK[] (no \\Seen). Delete: UID STORE +FLAGS.SILENT (\\Deleted), then UID EXPUNGE where
UIDPLUS allows it (only the canary's own message goes), else EXPUNGE.

Held: `UID SEARCH HEADER X-Cockpit-Canary "<name>-"` (EXAMINE), then for at most MAX_UIDS of
them `UID FETCH (INTERNALDATE BODY.PEEK[HEADER.FIELDS (X-Cockpit-Canary Date)])`: only those
two header fields and the server's arrival time are read, as the server gave them.

Every failure to reach or use the server is `ImapUnavailable` with a reason that names the
server ("imap 127.0.74.1:993: connection refused") and never the password.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cockpit.canary.headers import read_headers, shown
from cockpit.canary.imap_wire import (
    BoundedIMAP,
    BoundedIMAPSSL,
    decode_mailbox,
    encode_mailbox,
    open_imap,
    parse_list_line,
    quote_mailbox,
)
from cockpit.canary.message import TOKEN_HEADER, token_shape
from cockpit.canary.secrets import Secret
from cockpit.canary.watchdog import Watchdog
from cockpit.config.model import COMMON_JUNK_FOLDERS

__all__ = [
    "Folder",
    "Found",
    "Held",
    "ImapPlace",
    "ImapSession",
    "ImapUnavailable",
    "MAX_MESSAGE_BYTES",
    "Oversize",
]

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
IDLE_SLICE = 5.0
POLL_SECONDS = 1.5
MAX_UIDS = 50
_JUNK_NAMES = frozenset(name.lower() for name in COMMON_JUNK_FOLDERS)
_SIZE = re.compile(rb"RFC822\.SIZE\s+(\d{1,12})", re.IGNORECASE)
_UID = re.compile(rb"\bUID\s+(\d{1,10})\b", re.IGNORECASE)
_INTERNALDATE = re.compile(rb'INTERNALDATE\s+"([^"]{1,40})"', re.IGNORECASE)


class ImapUnavailable(Exception):
    """The mailbox could not be reached or used; `reason` is one line, safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImapPlace:
    host: str
    ip: str
    port: int
    tls: str

    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"imap {host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Folder:
    wire: str
    """The name as IMAP commands carry it (modified UTF-7)."""
    name: str
    """The readable name."""
    junk: bool


@dataclass(frozen=True, slots=True)
class Found:
    folder: Folder
    uids: tuple[int, ...]
    """Every message carrying the token in that folder (more than one: copies arrived)."""
    at: float
    """time.monotonic() when the search first saw it."""


@dataclass(frozen=True, slots=True)
class Oversize:
    size: int


@dataclass(frozen=True, slots=True)
class Held:
    """A message in a folder that carries some token of a canary: what the server said of it,
    unread beyond that (untrusted: canary.sweep judges it)."""

    uid: int
    token: str | None
    """The X-Cockpit-Canary header's value (cleaned, cut), or None without one."""
    date: str | None
    """The Date header's value (cleaned, cut), or None."""
    internaldate: str | None
    """INTERNALDATE as the server wrote it ("06-Dec-2026 07:50:01 +0000"), or None."""


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({error.verify_message or error.reason})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or type(error).__name__})"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, OSError):
        text = (os.strerror(error.errno) if error.errno else str(error)) or "network error"
        return text[:1].lower() + text[1:]
    first = error.args[0] if error.args else ""
    # imaplib raises with the server's reply as bytes: show the text, not its repr
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(error)
    return text or type(error).__name__


class ImapSession:
    """One logged-in IMAP connection (see the module docstring)."""

    def __init__(self, imap: BoundedIMAP | BoundedIMAPSSL, place: ImapPlace) -> None:
        self.imap = imap
        self.place = place
        self.selected: str | None = None

    @classmethod
    def open(
        cls, place: ImapPlace, user: str, secret: Secret, context: ssl.SSLContext, watch: Watchdog
    ) -> ImapSession:
        """Connected, TLS as configured, logged in. Raises ImapUnavailable."""
        try:
            imap = open_imap(place.host, place.ip, place.port, place.tls, context, watch)
        except (OSError, ssl.SSLError, imaplib.IMAP4.error) as error:
            raise ImapUnavailable(cls._fail(place, error, watch, secret)) from None
        session = cls(imap, place)
        try:
            imap.settle()
            password = secret.reveal()
            if password.isascii():
                imap.login(user, password)
            else:  # LOGIN is ASCII only; AUTHENTICATE PLAIN carries UTF-8 (RFC 4616)
                imap.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
            # Servers announce more once logged in (SPECIAL-USE, UIDPLUS): ask again.
            imap.settle()
            typ, data = imap.capability()
            if typ == "OK" and data and isinstance(data[-1], bytes):
                imap.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
        except (OSError, ssl.SSLError, imaplib.IMAP4.error) as error:
            session.close()
            reason = cls._fail(place, error, watch, secret, user=user)
            raise ImapUnavailable(f"{reason} (login as {shown(user, 60)})") from None
        return session

    @staticmethod
    def _fail(
        place: ImapPlace, error: BaseException, watch: Watchdog, secret: Secret, user: str = ""
    ) -> str:
        if watch.stopped:
            return f"{place.label()}: no complete session before the deadline"
        reason = secret.scrub(_reason(error), user=user)
        return f"{place.label()}: {shown(reason, 160)}"

    def unavailable(self, error: BaseException, watch: Watchdog) -> ImapUnavailable:
        return ImapUnavailable(self._fail(self.place, error, watch, Secret("")))

    # ---- folders ------------------------------------------------------------------------------

    def folders(self, configured: Sequence[str] | None) -> list[Folder]:
        """The folders to search, INBOX first (see the module docstring)."""
        special = self._special_junk()
        if configured is not None:
            wires = [encode_mailbox(name) for name in configured]
        else:
            wires = ["INBOX", *special]
            wires += [
                name for name in map(encode_mailbox, COMMON_JUNK_FOLDERS) if self._exists(name)
            ]
        folders: list[Folder] = []
        seen: set[str] = set()
        for wire in wires:
            key = "inbox" if wire.lower() == "inbox" else wire
            if key in seen:
                continue
            seen.add(key)
            readable = decode_mailbox(wire)
            last = re.split(r"[/.]", readable)[-1].lower()
            junk = wire in special or readable.lower() in _JUNK_NAMES or last in _JUNK_NAMES
            folders.append(Folder(wire, readable, junk and key != "inbox"))
        return folders

    def _special_junk(self) -> list[str]:
        if "SPECIAL-USE" not in self.imap.capabilities:
            return []
        self.imap.settle()
        try:
            typ, data = self.imap.list('(SPECIAL-USE) ""', '"*"')
        except imaplib.IMAP4.error:  # a BAD from a server that offers but does not parse it
            return []
        if typ != "OK":
            return []
        found = []
        for item in data[:200]:
            parsed = parse_list_line(item)
            if parsed and "\\junk" in parsed[0] and "\\noselect" not in parsed[0]:
                found.append(parsed[1])
        return found

    def _exists(self, wire: str) -> bool:
        self.imap.settle()
        typ, data = self.imap.list('""', quote_mailbox(wire))
        return typ == "OK" and any(
            (parsed := parse_list_line(item)) is not None and "\\noselect" not in parsed[0]
            for item in data[:10]
        )

    # ---- searching ----------------------------------------------------------------------------

    def _select(self, folder: Folder, *, readonly: bool) -> bool:
        self.imap.settle()
        typ, _ = self.imap.select(quote_mailbox(folder.wire), readonly=readonly)
        self.selected = folder.wire if typ == "OK" else None
        return typ == "OK"

    def search(self, folder: Folder, token: str) -> tuple[int, ...]:
        """UIDs carrying `token` in `folder` (empty when the folder cannot be opened)."""
        if not token_shape(token):
            raise ValueError("not a canary token")
        if not self._select(folder, readonly=True):
            if folder.wire.upper() == "INBOX":
                raise imaplib.IMAP4.error("INBOX cannot be opened")
            return ()
        self.imap.settle()
        typ, data = self.imap.uid("SEARCH", "HEADER", TOKEN_HEADER, f'"{token}"')
        if typ != "OK" or not data or not isinstance(data[0], bytes):
            return ()
        return tuple(int(uid) for uid in data[0].split()[:MAX_UIDS] if uid.isdigit())

    def find(
        self, token: str, folders: Sequence[Folder], *, until: float, watch: Watchdog
    ) -> Found | None:
        """Search every folder, round after round, until found or `until` (monotonic)."""
        idle = "IDLE" in self.imap.capabilities
        inbox = next((f for f in folders if f.wire.upper() == "INBOX"), None)
        try:
            while not watch.stopped:
                for folder in folders:
                    uids = self.search(folder, token)
                    if uids:
                        return Found(folder, uids, time.monotonic())
                left = until - time.monotonic()
                if left <= 0:
                    return None
                if idle and inbox is not None and self._select(inbox, readonly=True):
                    if self.imap.idle(min(IDLE_SLICE, left)) is None:
                        idle = False
                elif watch.wait(min(POLL_SECONDS, left)):
                    break
        except (OSError, ssl.SSLError, imaplib.IMAP4.error) as error:
            raise self.unavailable(error, watch) from None
        if watch.stopped and time.monotonic() < until:
            raise ImapUnavailable(f"{self.place.label()}: the search was stopped")
        return None

    # ---- reading and deleting -----------------------------------------------------------------

    def fetch(self, found: Found, watch: Watchdog) -> bytes | Oversize:
        """The raw message (the first UID found), unless it is over MAX_MESSAGE_BYTES."""
        uid = str(found.uids[0])
        try:
            if not self._select(found.folder, readonly=False):
                raise imaplib.IMAP4.error(f"{found.folder.name} cannot be opened")
            self.imap.settle()
            typ, data = self.imap.uid("FETCH", uid, "(RFC822.SIZE)")
            size = _size(data) if typ == "OK" else None
            if size is None:
                raise imaplib.IMAP4.error("no RFC822.SIZE for the message")
            if size > MAX_MESSAGE_BYTES:
                return Oversize(size)
            self.imap.settle()
            typ, data = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
        except (OSError, ssl.SSLError, imaplib.IMAP4.error) as error:
            raise self.unavailable(error, watch) from None
        raw = next((item[1] for item in data if isinstance(item, tuple) and len(item) == 2), None)
        if typ != "OK" or not isinstance(raw, bytes):
            raise ImapUnavailable(f"{self.place.label()}: the message could not be fetched")
        return raw

    def delete(self, found: Found) -> bool:
        """Every copy found gone (True), or left (False: the run does not depend on it)."""
        uids = ",".join(str(uid) for uid in found.uids)
        try:
            if self.selected != found.folder.wire and not self._select(
                found.folder, readonly=False
            ):
                return False
            self.imap.settle()
            typ, _ = self.imap.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
            if typ != "OK":
                return False
            self.imap.settle()
            if "UIDPLUS" in self.imap.capabilities:
                typ, _ = self.imap.uid("EXPUNGE", uids)
            else:
                typ, _ = self.imap.expunge()
            return typ == "OK"
        except (OSError, ssl.SSLError, imaplib.IMAP4.error):
            return False

    def held(self, folder: Folder, name: str) -> list[Held]:
        """Messages in `folder` whose X-Cockpit-Canary header holds "<name>-" (every token of
        canary `name`, and some of others whose name starts so), at most MAX_UIDS."""
        if not token_shape(f"{name}-{'0' * 20}"):
            raise ValueError("not a canary name")
        if not self._select(folder, readonly=True):
            return []
        self.imap.settle()
        typ, data = self.imap.uid("SEARCH", "HEADER", TOKEN_HEADER, f'"{name}-"')
        if typ != "OK" or not data or not isinstance(data[0], bytes):
            return []
        uids = [uid for uid in data[0].split() if uid.isdigit()][:MAX_UIDS]
        if not uids:
            return []
        self.imap.settle()
        fields = f"(INTERNALDATE BODY.PEEK[HEADER.FIELDS ({TOKEN_HEADER} Date)])"
        typ, data = self.imap.uid("FETCH", b",".join(uids).decode("ascii"), fields)
        if typ != "OK":
            return []
        return _held(data)

    def remove(self, folder: Folder, uids: Sequence[int]) -> bool:
        """`delete` for these UIDs of `folder`, opened for writing first."""
        if not uids or not self._select(folder, readonly=False):
            return False
        return self.delete(Found(folder, tuple(uids), time.monotonic()))

    def close_under(self, watch: Watchdog) -> None:
        """`close`, bounded by `watch` (a server that will not stop talking is cut off)."""
        self.imap.watch = watch
        watch.track(self.imap.sock)
        self.close()

    def close(self) -> None:
        """LOGOUT, briefly; the connection is closed whatever happens."""
        with contextlib.suppress(Exception):
            self.imap.sock.settimeout(2.0)
            self.imap.logout()
        with contextlib.suppress(Exception):
            self.imap.shutdown()


def _held(data: Sequence[object]) -> list[Held]:
    """The messages of a FETCH reply: each is a (prefix, literal) pair, then bytes that end it
    (where some servers put the UID)."""
    messages: list[list[bytes]] = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], bytes):
            literal = item[1] if isinstance(item[1], bytes) else b""
            messages.append([item[0], literal])
        elif isinstance(item, bytes) and messages:
            messages[-1][0] += b" " + item
    found: list[Held] = []
    for prefix, literal in messages:
        uid = _UID.search(prefix)
        if uid is None:
            continue
        internal = _INTERNALDATE.search(prefix)
        arrived = None if internal is None else internal.group(1).decode("ascii", "replace")
        headers = read_headers(literal)
        token, date = headers.first(TOKEN_HEADER.lower()), headers.first("date")
        found.append(
            Held(
                uid=int(uid.group(1)),
                token=None if token is None else shown(token.strip(), 80),
                date=None if date is None else shown(date.strip(), 80),
                internaldate=None if arrived is None else shown(arrived, 40),
            )
        )
    return found


def _size(data: Sequence[object]) -> int | None:
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes) and (match := _SIZE.search(line)):
            return int(match.group(1))
    return None
