"""The drill's mail services: an SMTP listener on every MX address and an IMAP greeter per region.

Every SMTP listener shares ONE port (the cockpit probes every MX host on `[service] mx_port`),
and every IMAP greeter another, both picked by the OS and retried until one binds on every
address. Nothing is ever delivered, stored or logged in: the servers only greet, list what
they offer and upgrade to TLS, as far as a service probe looks.

SMTP (RFC 5321 and 3207), a healthy region:
    220 <host> ESMTP cockpit-drill
    EHLO/HELO -> 250 (EHLO lists 8BITMIME, SIZE and, before TLS, STARTTLS)
    STARTTLS  -> 220, then TLS with a certificate for <host> from the drill's CA
    NOOP/RSET -> 250;  QUIT -> 221 and close;  anything else -> 502
A region that is down: its first MX host does not listen at all (connection refused); the
others greet `421 4.3.2 <host> drill: region down` and close.

IMAP (RFC 3501 greeting, capabilities and STARTTLS), a healthy region:
    * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] cockpit-drill ready
    CAPABILITY, NOOP, LOGOUT (* BYE + OK), STARTTLS (OK, then TLS);  LOGIN/AUTHENTICATE -> NO;
    anything else -> BAD
A region that is down: `* BYE drill: region down`, then close.

Bounds, per connection: a line is at most MAX_LINE_BYTES, each read waits IDLE_SECONDS, a
session takes at most MAX_COMMANDS commands and SESSION_SECONDS in all, the TLS handshake
TLS_SECONDS; each listener serves MAX_CONNECTIONS at once. Bytes a client sends after STARTTLS
in the same packet are refused (they were sent in clear: RFC 3207 section 4.2).
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cockpit import compat
from cockpit.drill.certs import DrillCA
from cockpit.drill.connections import StreamConnections
from cockpit.drill.zones import RegionPlan

MAX_LINE_BYTES = 1024
IDLE_SECONDS = 10.0
SESSION_SECONDS = 60.0
TLS_SECONDS = 10.0
MAX_COMMANDS = 30
MAX_CONNECTIONS = 16
LISTEN_BACKLOG = 32
PORT_ATTEMPTS = 20
SMTP_SIZE = 10_240_000
IMAP_CAPABILITIES = "IMAP4rev1 STARTTLS LOGINDISABLED"
IMAP_CAPABILITIES_TLS = "IMAP4rev1 LOGINDISABLED"
IMAP_TAG = re.compile(r"[A-Za-z0-9!#$&',\-./:;<=>?@^_`|}~\[]{1,64}")
"""An IMAP tag: ASTRING-CHARs except "+" (RFC 3501 section 9), here at most 64 of them."""

IsDown = Callable[[str], bool]
"""Region name -> whether it is down now (asked as each connection arrives)."""


class _SessionEnd(Exception):
    """The session is over: the client left, idled, sent too much, or asked to quit."""


@dataclass(slots=True)
class _Listener:
    """One address of one service: its server while listening, its open connections."""

    region: str
    address: str
    hostname: str
    refuses_when_down: bool
    tls: ssl.SSLContext
    server: asyncio.Server | None = None
    connections: StreamConnections = field(
        default_factory=lambda: StreamConnections(MAX_CONNECTIONS)
    )


class _Conversation:
    """Bounded line reads and writes on one connection, and its upgrade to TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands = 0

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode("ascii"))
        await self.writer.drain()

    async def line(self) -> str:
        """The next command line without its CRLF (bytes outside ASCII become U+FFFD)."""
        if self.commands >= MAX_COMMANDS:
            raise _SessionEnd("too many commands")
        self.commands += 1
        try:
            async with compat.timeout(IDLE_SECONDS):
                raw = await self.reader.readline()
        except TimeoutError:
            raise _SessionEnd("idle for too long") from None
        except ValueError:  # over the reader's limit: MAX_LINE_BYTES
            raise _SessionEnd("line too long") from None
        if not raw.endswith(b"\n"):
            raise _SessionEnd("")  # the client left
        return raw.rstrip(b"\r\n").decode("ascii", errors="replace")

    def sent_ahead(self) -> bool:
        """Whether the client sent more after the current line (no public API says so)."""
        return bool(getattr(self.reader, "_buffer", b""))

    async def upgrade(self, context: ssl.SSLContext) -> None:
        async with compat.timeout(TLS_SECONDS):
            await compat.start_tls(self.writer, context, ssl_handshake_timeout=TLS_SECONDS)


async def _smtp_session(talk: _Conversation, listener: _Listener, down: bool) -> None:
    host = listener.hostname
    if down:
        await talk.send(f"421 4.3.2 {host} drill: region down")
        return
    await talk.send(f"220 {host} ESMTP cockpit-drill")
    in_tls = False
    try:
        while True:
            line = await talk.line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                offers = ["8BITMIME", f"SIZE {SMTP_SIZE}"] + ([] if in_tls else ["STARTTLS"])
                lines = [host, *offers]
                await talk.send(*(f"250-{text}" for text in lines[:-1]), f"250 {lines[-1]}")
            elif verb == "HELO":
                await talk.send(f"250 {host}")
            elif verb in ("NOOP", "RSET"):
                await talk.send("250 2.0.0 OK")
            elif verb == "QUIT":
                await talk.send(f"221 2.0.0 {host} closing connection")
                return
            elif verb == "STARTTLS" and not in_tls and line.strip().upper() == "STARTTLS":
                if talk.sent_ahead():
                    await talk.send("554 5.5.1 drill: commands sent with STARTTLS refused")
                    return
                await talk.send("220 2.0.0 Ready to start TLS")
                await talk.upgrade(listener.tls)
                in_tls = True
            else:
                await talk.send("502 5.5.1 drill: command not implemented")
    except _SessionEnd as end:
        if str(end):
            await talk.send(f"421 4.4.2 {host} drill: {end}")


async def _imap_session(talk: _Conversation, listener: _Listener, down: bool) -> None:
    if down:
        await talk.send("* BYE drill: region down")
        return
    await talk.send(f"* OK [CAPABILITY {IMAP_CAPABILITIES}] cockpit-drill ready")
    in_tls = False
    try:
        while True:
            tag, _, rest = (await talk.line()).partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if not IMAP_TAG.fullmatch(tag) or not command:
                await talk.send("* BAD drill: expected a tag and a command")
            elif command == "CAPABILITY":
                capabilities = IMAP_CAPABILITIES_TLS if in_tls else IMAP_CAPABILITIES
                await talk.send(f"* CAPABILITY {capabilities}", f"{tag} OK CAPABILITY completed")
            elif command == "NOOP":
                await talk.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                await talk.send("* BYE cockpit-drill logging out", f"{tag} OK LOGOUT completed")
                return
            elif command == "STARTTLS" and not in_tls:
                if talk.sent_ahead():
                    await talk.send(f"{tag} BAD drill: commands sent with STARTTLS refused")
                    return
                await talk.send(f"{tag} OK Begin TLS negotiation now")
                await talk.upgrade(listener.tls)
                in_tls = True
            elif command in ("LOGIN", "AUTHENTICATE"):
                await talk.send(f"{tag} NO drill: logins are disabled")
            else:
                await talk.send(f"{tag} BAD drill: command not implemented")
    except _SessionEnd as end:
        if str(end):
            await talk.send(f"* BYE drill: {end}")


Session = Callable[[_Conversation, _Listener, bool], Awaitable[None]]


def _listening_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Lets a listener closed a moment ago leave its port in TIME_WAIT without blocking
        # a new world; on Linux it never lets two sockets listen on one address and port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bind_on_one_port(addresses: Sequence[str]) -> tuple[int, list[socket.socket]]:
    """Listening sockets on every address, all with one port the OS picked for the first.
    Retries with another port when that one is taken on a later address (PORT_ATTEMPTS)."""
    for _ in range(PORT_ATTEMPTS):
        sockets: list[socket.socket] = []
        try:
            sockets.append(_listening_socket(addresses[0], 0))
            port = int(sockets[0].getsockname()[1])
            for address in addresses[1:]:
                sockets.append(_listening_socket(address, port))
            return port, sockets
        except OSError as error:
            for sock in sockets:
                sock.close()
            if error.errno != errno.EADDRINUSE:
                raise
    raise OSError(
        errno.EADDRINUSE,
        f"no port was free on all of {', '.join(addresses)} in {PORT_ATTEMPTS} tries",
    )


class MailServers:
    """The SMTP listeners and IMAP greeters of every region, on the world's event loop."""

    def __init__(self, plans: Sequence[RegionPlan], ca: DrillCA, is_down: IsDown) -> None:
        self._is_down = is_down
        self.smtp_port = 0
        self.imap_port = 0
        self._smtp = [
            _Listener(plan.name, address, host, index == 0, ca.server_context(host))
            for plan in plans
            for index, (host, address) in enumerate(
                zip(plan.mx_hosts, plan.mx_addresses, strict=True)
            )
        ]
        self._imap = [
            _Listener(
                plan.name,
                plan.imap_address,
                plan.imap_host,
                False,
                ca.server_context(plan.imap_host),
            )
            for plan in plans
        ]

    async def start(self) -> None:
        """Bind every listener (OSError when an address or a common port cannot be had)."""
        self.smtp_port = await self._start_group(self._smtp, _smtp_session)
        self.imap_port = await self._start_group(self._imap, _imap_session)

    async def region_down(self, region: str) -> None:
        """The region's refusing listeners stop listening, their open sessions end."""
        for listener in self._smtp:
            if listener.region == region and listener.refuses_when_down:
                await self._close(listener)

    async def close(self) -> None:
        for listener in (*self._smtp, *self._imap):
            await self._close(listener)

    async def _start_group(self, listeners: list[_Listener], session: Session) -> int:
        port, sockets = bind_on_one_port([listener.address for listener in listeners])
        try:
            for listener, sock in zip(listeners, sockets, strict=True):
                listener.server = await asyncio.start_server(
                    self._handler(listener, session), sock=sock, limit=MAX_LINE_BYTES
                )
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return port

    def _handler(
        self, listener: _Listener, session: Session
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if not listener.connections.admit(writer):
                return
            try:
                async with compat.timeout(SESSION_SECONDS):
                    talk = _Conversation(reader, writer)
                    await session(talk, listener, self._is_down(listener.region))
            except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
                pass  # a client that left, stalled or failed its handshake ends its session
            finally:
                await listener.connections.release(writer)

        return serve

    @staticmethod
    async def _close(listener: _Listener) -> None:
        if listener.server is not None:
            server, listener.server = listener.server, None
            await listener.connections.close_server(server)
