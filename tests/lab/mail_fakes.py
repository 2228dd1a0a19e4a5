"""Small real mail servers on loopback: asyncio TCP servers that greet, misbehave or stay silent.

They play what Postfix and Dovecot cannot be made to be (a 450 greeting, 5 MB of garbage, a
server that accepts and never speaks) and the services no Debian package in the lab provides
(POP3). They are real sockets; only the server side is small.

    async with FakeServers() as servers:                 # in a test's own event loop
        port = await servers.serve(smtp_greeter("421 busy"), "127.0.91.6", 25)

    with ServerThread() as thread:                       # on a loop of its own (bench, CLI tests)
        port = thread.serve(imap_greeter(starttls=context), "127.0.94.1")

Every handler is bounded: at most MAX_COMMANDS commands, IDLE_SECONDS per read, lines of at
most MAX_LINE_BYTES; `silent` waits at most SILENT_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

import trustme

from cockpit import compat

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

MAX_COMMANDS = 20
IDLE_SECONDS = 10.0
SILENT_SECONDS = 60.0
MAX_LINE_BYTES = 1024
GARBAGE_CHUNK = 64 * 1024


def tls_server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """A server context presenting `leaf` (and its chain)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    return context


async def _next(reader: asyncio.StreamReader) -> str | None:
    """The next command line (stripped), or None when the client is gone or idle too long."""
    try:
        raw = await compat.wait_for(reader.readline(), IDLE_SECONDS)
    except (TimeoutError, ValueError, ConnectionError):
        return None
    return raw.decode("utf-8", errors="replace").strip() if raw else None


async def _send(writer: asyncio.StreamWriter, *lines: str) -> None:
    writer.write("".join(f"{line}\r\n" for line in lines).encode())
    await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await compat.wait_for(writer.wait_closed(), 1.0)


def smtp_greeter(
    banner: str = "220 fake.example.test ESMTP",
    *,
    starttls: ssl.SSLContext | None = None,
    delay: float = 0.0,
) -> Handler:
    """An SMTP server: `banner` (after `delay` s), EHLO (STARTTLS listed when `starttls`),
    STARTTLS, QUIT; anything else 502. A banner that is not 220 is followed by closing."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(delay)
            await _send(writer, banner)
            if not banner.startswith("220"):
                return
            in_tls = False
            for _ in range(MAX_COMMANDS):
                line = await _next(reader)
                if line is None:
                    return
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    offers = ["fake.example.test", "8BITMIME"]
                    offers += ["STARTTLS"] if starttls and not in_tls else []
                    lines = [f"250-{offer}" for offer in offers[:-1]]
                    await _send(writer, *lines, f"250 {offers[-1]}")
                elif verb == "STARTTLS" and starttls is not None and not in_tls:
                    await _send(writer, "220 2.0.0 go ahead")
                    await compat.start_tls(writer, starttls)
                    in_tls = True
                elif verb == "QUIT":
                    await _send(writer, "221 2.0.0 bye")
                    return
                else:
                    await _send(writer, "502 5.5.2 not here")
        except (OSError, ssl.SSLError):
            pass
        finally:
            await _close(writer)

    return handle


def imap_greeter(
    greeting: str = "* OK [CAPABILITY IMAP4rev1] fake ready",
    *,
    starttls: ssl.SSLContext | None = None,
    delay: float = 0.0,
) -> Handler:
    """An IMAP server: `greeting`, CAPABILITY (STARTTLS listed when `starttls`), STARTTLS,
    LOGOUT; LOGIN is refused and anything else is BAD. A `* BYE` greeting closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(delay)
            await _send(writer, greeting)
            if greeting.upper().startswith("* BYE"):
                return
            in_tls = False
            for _ in range(MAX_COMMANDS):
                line = await _next(reader)
                if line is None:
                    return
                tag, _, rest = line.partition(" ")
                command = rest.split(" ", 1)[0].upper()
                if command == "CAPABILITY":
                    extra = " STARTTLS" if starttls and not in_tls else ""
                    await _send(writer, f"* CAPABILITY IMAP4rev1{extra}", f"{tag} OK done")
                elif command == "STARTTLS" and starttls is not None and not in_tls:
                    await _send(writer, f"{tag} OK begin TLS")
                    await compat.start_tls(writer, starttls)
                    in_tls = True
                elif command == "LOGOUT":
                    await _send(writer, "* BYE fake logging out", f"{tag} OK done")
                    return
                else:
                    await _send(writer, f"{tag} BAD not here")
        except (OSError, ssl.SSLError):
            pass
        finally:
            await _close(writer)

    return handle


def pop3_greeter(
    greeting: str = "+OK fake POP3 ready",
    *,
    starttls: ssl.SSLContext | None = None,
    capa: bool = True,
    delay: float = 0.0,
) -> Handler:
    """A POP3 server: `greeting`, CAPA (unless `capa` is False: -ERR; STLS listed when
    `starttls`), STLS, QUIT; anything else -ERR. A -ERR greeting closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(delay)
            await _send(writer, greeting)
            if not greeting.startswith("+OK"):
                return
            in_tls = False
            for _ in range(MAX_COMMANDS):
                line = await _next(reader)
                if line is None:
                    return
                command = line.split(" ", 1)[0].upper()
                if command == "CAPA" and capa:
                    listed = ["TOP", "UIDL", "USER"] + (["STLS"] if starttls and not in_tls else [])
                    await _send(writer, "+OK capability list follows", *listed, ".")
                elif command == "STLS" and starttls is not None and not in_tls:
                    await _send(writer, "+OK begin TLS")
                    await compat.start_tls(writer, starttls)
                    in_tls = True
                elif command == "QUIT":
                    await _send(writer, "+OK bye")
                    return
                else:
                    await _send(writer, "-ERR not here")
        except (OSError, ssl.SSLError):
            pass
        finally:
            await _close(writer)

    return handle


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and never speaks (a frozen server); waits for the client to leave (bounded)."""
    with contextlib.suppress(Exception):
        async with compat.timeout(SILENT_SECONDS):
            while await reader.read(4096):
                pass
    await _close(writer)


def garbage(total: int = 5 * 1024 * 1024, *, newline_every: int = 0) -> Handler:
    """Sends `total` bytes that are no protocol at all ("\\x00\\xff..."), with a line break every
    `newline_every` bytes (0: none), as fast as the client reads them (bounded)."""
    pattern = bytes(range(256)).replace(b"\n", b"\x00")
    chunk = (pattern * (GARBAGE_CHUNK // len(pattern) + 1))[:GARBAGE_CHUNK]
    if newline_every:
        step = newline_every
        chunk = b"".join(
            chunk[start : start + step - 1] + b"\n" for start in range(0, len(chunk), step)
        )[:GARBAGE_CHUNK]

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent = 0
        with contextlib.suppress(Exception):
            async with compat.timeout(SILENT_SECONDS):
                while sent < total:
                    writer.write(chunk[: total - sent])
                    sent += len(chunk)
                    await writer.drain()
        await _close(writer)

    return handle


def one_line(line: str) -> Handler:
    """Writes one line and closes (a refusing greeting that does not wait for QUIT)."""

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await _send(writer, line)
        await _close(writer)

    return handle


class FakeServers:
    """Servers on the running event loop; `async with` closes them all."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._sessions: set[asyncio.Task[None]] = set()

    async def serve(
        self, handler: Handler, ip: str, port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> int:
        """Listen on ip:port (0: a free port) with `handler` (TLS first when `tls`); the port."""

        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._sessions.add(task)
            try:
                await handler(reader, writer)
            finally:
                self._sessions.discard(task)

        server = await asyncio.start_server(
            tracked, ip, port, ssl=tls, reuse_address=True, limit=MAX_LINE_BYTES
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every session still open (a silent server's, say)."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    async def __aenter__(self) -> FakeServers:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class ServerThread:
    """FakeServers on an event loop of their own, in a daemon thread: for code that runs
    its own loop (the benchmark) or another process (the CLI tests)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers = FakeServers()
        self._thread.start()

    def serve(
        self, handler: Handler, ip: str, port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> int:
        future = asyncio.run_coroutine_threadsafe(
            self._servers.serve(handler, ip, port, tls=tls), self._loop
        )
        return future.result(timeout=10)

    def stop(self) -> None:
        if not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._servers.close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
