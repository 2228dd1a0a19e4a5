"""What Python 3.11 added that the cockpit uses, with the fallback for Python 3.10.

Jump hosts often run Ubuntu 22.04 LTS, whose Python is 3.10. The cockpit supports 3.10 to 3.13;
code that needs one of these imports it from here, never from where 3.11 put it:

    UTC              datetime.UTC (3.11) is datetime.timezone.utc, the very same object
    StrEnum          enum.StrEnum (3.11); the fallback formats and compares as its value
    timeout          asyncio.timeout (3.11); async-timeout on 3.10 (the same API)
    tomllib          tomllib (3.11); tomli on 3.10 (the library tomllib was made from)
    fromisoformat    datetime.fromisoformat as 3.11 reads it ("Z", any fraction digits)
    start_tls        asyncio.StreamWriter.start_tls (3.11): TLS on an open stream
    wait_for         asyncio.wait_for, raising the builtin TimeoutError (3.11 does; 3.10
                     raises asyncio.TimeoutError, which `except TimeoutError` misses)

`timeout` raises the builtin TimeoutError on 3.10 too.

Importing this module costs no more than what it names for 3.11 would: asyncio (and ssl) are
imported when `timeout`, `wait_for` or `start_tls` is first used, and tomllib when it is:
`cockpit --help` and `cockpit log` pay for none of them.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import ssl

__all__ = [
    "UTC",
    "StrEnum",
    "fromisoformat",
    "start_tls",
    "timeout",
    "tomllib",
    "wait_for",
]

UTC = timezone.utc

if TYPE_CHECKING:
    from asyncio import timeout, wait_for

    import tomllib

if sys.version_info >= (3, 11) or TYPE_CHECKING:
    from enum import StrEnum

    fromisoformat = datetime.fromisoformat
else:  # pragma: no cover - exercised by the Python 3.10 smoke run
    import re
    from collections.abc import AsyncIterator, Awaitable
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _timeout(delay: float | None) -> AsyncIterator[None]:
        """asyncio.timeout: the block is cancelled after `delay` s, raising TimeoutError."""
        import asyncio

        import async_timeout

        try:
            async with async_timeout.timeout(delay):
                yield
        except asyncio.TimeoutError as error:
            raise TimeoutError from error

    async def _wait_for(awaitable: Awaitable[Any], timeout: float | None) -> Any:
        """asyncio.wait_for, raising the builtin TimeoutError."""
        import asyncio

        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError as error:
            raise TimeoutError from error

    class StrEnum(str, Enum):
        """enum.StrEnum: members are strings, and str() and format() give the value."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last: list) -> str:
            return name.lower()

    _FRACTION = re.compile(r"(\.\d+)(?=$|[+-]\d\d:?\d\d$)")

    def fromisoformat(text: str) -> datetime:
        """datetime.fromisoformat, also for what 3.10 refuses and 3.11 reads: a "Z" offset
        and a fraction of any number of digits (cut or padded to microseconds)."""
        if not isinstance(text, str):
            return datetime.fromisoformat(text)
        candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        match = _FRACTION.search(candidate)
        if match is not None:
            digits = match.group(1)[1:]
            fixed = "." + (digits + "000000")[:6]
            candidate = candidate[: match.start()] + fixed + candidate[match.end() :]
        return datetime.fromisoformat(candidate)


def __getattr__(name: str) -> Any:
    """`timeout`, `wait_for` and `tomllib`, looked up on first use (see the docstring)."""
    if name == "tomllib":
        if sys.version_info >= (3, 11):
            import tomllib as found
        else:  # pragma: no cover - the Python 3.10 smoke run
            import tomli as found
        globals()[name] = found
        return found
    if name in ("timeout", "wait_for"):
        if sys.version_info >= (3, 11):
            import asyncio

            found = getattr(asyncio, name)
        else:  # pragma: no cover - the Python 3.10 smoke run
            found = globals()[f"_{name}"]
        globals()[name] = found
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def start_tls(
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    *,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
) -> None:
    """`writer.start_tls(...)`: upgrade an open stream to TLS, reader and writer both.

    On 3.10 this does what 3.11's StreamWriter.start_tls does, through the loop's start_tls
    and the stream's (private, but stable since 3.7) transport and protocol attributes."""
    if sys.version_info >= (3, 11):
        await writer.start_tls(
            context, server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout
        )
        return
    import asyncio

    protocol = writer._protocol  # type: ignore[attr-defined]  # noqa: SLF001
    server_side = getattr(protocol, "_client_connected_cb", None) is not None
    await writer.drain()
    try:
        transport = await asyncio.get_running_loop().start_tls(
            writer.transport,
            protocol,
            context,
            server_side=server_side,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
        )
    except BaseException as error:
        # 3.10's loop.start_tls closes the connection under its TLS protocol, and the stream's
        # own protocol is never told: writer.wait_closed() would then wait forever (a probe's
        # clean-up ran into its deadline and a failed handshake read as a timeout). Tell it,
        # as 3.11 does.
        if not writer.transport.is_closing():
            writer.transport.close()
        if not protocol._closed.done():  # noqa: SLF001
            protocol.connection_lost(error if isinstance(error, Exception) else None)
        if isinstance(error, asyncio.TimeoutError):  # the handshake timed out: as 3.11 raises it
            raise TimeoutError from error
        raise
    writer._transport = transport  # type: ignore[attr-defined]  # noqa: SLF001
    protocol._transport = transport  # noqa: SLF001
    protocol._over_ssl = True  # noqa: SLF001
