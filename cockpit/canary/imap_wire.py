"""imaplib, bounded: a pinned address, capped reads, IDLE, and mailbox names. Blocking.

    imap = open_imap(host, ip, port, tls, context, watch)    # greeted, TLS as asked
    imap.idle(seconds)        # True: the server said something changed; None: IDLE refused
    encode_mailbox("Indésirables") == "Ind&AOk-sirables"     # RFC 3501 modified UTF-7
    parse_list_line(item)     # (attributes, name) of one LIST reply

imaplib reads through a buffered file that a socket timeout leaves unusable, never bounds a
literal, and keeps the last commands (LOGIN's password among them) in memory. The classes here
read through their own buffer instead, so a short timeout (IDLE's slices) loses nothing; a
line is at most MAX_LINE bytes, a literal at most MAX_LITERAL, a whole session at most
MAX_SESSION_BYTES and MAX_SESSION_LINES; and the command log is never kept. The socket goes to
the address the caller looked up (imaplib never resolves a name) and is tracked by the caller's
Watchdog.

Python 3.11's imaplib has no IDLE (RFC 2177): `idle` sends it with a tag of its own, waits for
the continuation, reads untagged lines in slices of at most a second until one says something
changed or `seconds` pass, then sends DONE and reads up to its tagged end; every wait is
bounded by the watchdog's deadline.
"""

from __future__ import annotations

import base64
import imaplib
import itertools
import re
import socket
import ssl
import time
from typing import Any

from cockpit.canary.watchdog import Watchdog

__all__ = [
    "MAX_LITERAL",
    "BoundedIMAP",
    "decode_mailbox",
    "encode_mailbox",
    "open_imap",
    "parse_list_line",
    "quote_mailbox",
]

MAX_LINE = 64 * 1024
MAX_LITERAL = 2 * 1024 * 1024 + 64 * 1024
MAX_SESSION_BYTES = 16 * 1024 * 1024
MAX_SESSION_LINES = 50_000
"""A canary session reads a few hundred lines; a server that keeps talking is cut off here."""
OPERATION_TIMEOUT = 15.0
CONNECT_TIMEOUT = 10.0
_idle_tags = itertools.count(1)


class _Bounded:
    """Mixed into IMAP4 / IMAP4_SSL (see the module docstring)."""

    sock: socket.socket
    port: int
    host: str
    abort: type[Exception]
    error: type[Exception]

    def _setup(self, ip: str, watch: Watchdog) -> None:
        self.pinned_ip = ip
        self.watch = watch
        self._buffer = bytearray()
        self._read_total = 0
        self._lines_read = 0
        self._read_socket: socket.socket | None = None

    def _pinned_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.pinned_ip, self.port), timeout or CONNECT_TIMEOUT)
        self.watch.track(sock)
        return sock

    def _log(self, line: str) -> None:
        """imaplib's in-memory command log: never kept (it would hold the password)."""

    def _fill(self) -> bool:
        if self._read_socket is not self.sock:  # a TLS upgrade: nothing may be left unread
            self._read_socket = self.sock
            self._buffer.clear()
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self._read_total += len(chunk)
        if self._read_total > MAX_SESSION_BYTES:
            raise self.abort("the server sent more than a canary session reads")
        self._buffer += chunk
        return True

    def readline(self) -> bytes:
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                self._lines_read += 1
                if self._lines_read > MAX_SESSION_LINES:
                    raise self.abort("the server sent more lines than a canary session reads")
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > MAX_LINE:
                raise self.abort(f"a line longer than {MAX_LINE} bytes")
            start = len(self._buffer)
            if not self._fill():
                line = bytes(self._buffer)
                self._buffer.clear()
                return line

    def read(self, size: int) -> bytes:
        if size > MAX_LITERAL:
            raise self.abort(f"a literal of {size} bytes (more than a canary reads)")
        while len(self._buffer) < size:
            if not self._fill():
                break
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def settle(self, cap: float = OPERATION_TIMEOUT) -> None:
        """The socket timeout for the next operation: at most `cap`, never past the deadline."""
        self.sock.settimeout(self.watch.left(cap))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def idle(self, seconds: float) -> bool | None:
        """Wait for a change with IDLE (see the module docstring)."""
        tag = b"CPI%d" % next(_idle_tags)
        self.settle()
        self.send(tag + b" IDLE\r\n")
        changed = False
        for _ in range(100):
            line = self._line()
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                return None
            changed = changed or _says_change(line)
        else:
            raise self.abort("no continuation after IDLE")
        end = min(time.monotonic() + seconds, self.watch.deadline)
        while not changed and not self.watch.stopped and time.monotonic() < end:
            self.sock.settimeout(max(0.05, min(1.0, end - time.monotonic())))
            try:
                line = self._line()
            except TimeoutError:
                continue
            changed = _says_change(line)
        self.settle()
        self.send(b"DONE\r\n")
        for _ in range(1000):
            line = self._line()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1 :].upper().startswith(b"OK"):
                    raise self.error("IDLE did not end with OK")
                return changed
        raise self.abort("no end to IDLE")

    def _line(self) -> bytes:
        line = self.readline()
        if not line:
            raise self.abort("the server closed the connection")
        return line


def _says_change(line: bytes) -> bool:
    """An untagged reply other than a keep-alive ("* OK Still here")."""
    return line.startswith(b"* ") and not line[2:].upper().startswith(b"OK")


class BoundedIMAP(_Bounded, imaplib.IMAP4):
    def __init__(self, host: str, ip: str, port: int, watch: Watchdog) -> None:
        self._setup(ip, watch)
        super().__init__(host, port, timeout=watch.left(CONNECT_TIMEOUT))

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._pinned_socket(timeout)


class BoundedIMAPSSL(_Bounded, imaplib.IMAP4_SSL):
    def __init__(
        self, host: str, ip: str, port: int, watch: Watchdog, context: ssl.SSLContext
    ) -> None:
        self._setup(ip, watch)
        super().__init__(host, port, ssl_context=context, timeout=watch.left(CONNECT_TIMEOUT))

    def _create_socket(self, timeout: float | None) -> socket.socket:
        wrapped = self.ssl_context.wrap_socket(
            self._pinned_socket(timeout), server_hostname=self.host
        )
        self.watch.track(wrapped)
        return wrapped


def open_imap(
    host: str, ip: str, port: int, tls: str, context: ssl.SSLContext, watch: Watchdog
) -> BoundedIMAP | BoundedIMAPSSL:
    """Connected and greeted, with TLS as `tls` asks (implicit, starttls or none).

    Raises OSError, ssl.SSLError or imaplib.IMAP4.error; the caller names the reason."""
    imap: BoundedIMAP | BoundedIMAPSSL
    if tls == "implicit":
        imap = BoundedIMAPSSL(host, ip, port, watch, context)
    else:
        imap = BoundedIMAP(host, ip, port, watch)
    imap.debug = 0
    if tls == "starttls":
        imap.settle()
        imap.starttls(context)
        watch.track(imap.sock)
    return imap


# ---- mailbox names ----------------------------------------------------------------------------


def encode_mailbox(name: str) -> str:
    """RFC 3501 5.1.3 modified UTF-7: "&" is "&-", other non-ASCII runs are base64 of UTF-16."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")


def decode_mailbox(name: str) -> str:
    """The readable form of a modified UTF-7 name; a run that does not decode stays as it is."""

    def decode(match: re.Match[str]) -> str:
        body = match.group(1)
        if body == "":
            return "&"
        padded = body.replace(",", "/") + "=" * (-len(body) % 4)
        try:
            return base64.b64decode(padded).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return _SHIFTED.sub(decode, name)


def quote_mailbox(wire_name: str) -> str:
    """A mailbox name (already modified UTF-7) as an IMAP quoted string."""
    return '"' + wire_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_LIST = re.compile(
    rb'\((?P<flags>[^)]*)\)\s+(?P<delim>"(?:[^"\\]|\\.)*"|NIL)\s*(?P<name>.*)$', re.IGNORECASE
)


def parse_list_line(item: Any) -> tuple[frozenset[str], str] | None:
    """(lower-case attributes, wire name) of one LIST reply item, or None when unreadable.

    imaplib gives a line (bytes) or, for a literal name, a (line, name) tuple."""
    literal: bytes | None = None
    if isinstance(item, tuple) and len(item) == 2:
        item, literal = item
    if not isinstance(item, bytes):
        return None
    match = _LIST.match(item.strip())
    if match is None:
        return None
    flags = frozenset(
        flag.lower() for flag in match.group("flags").decode("ascii", "replace").split()
    )
    raw_name = literal if literal is not None else match.group("name").strip()
    name = raw_name.decode("utf-8", "replace")
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return (flags, name) if name else None
