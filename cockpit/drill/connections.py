"""The open TCP connections of one drill server: capped, and all closed with the server."""

from __future__ import annotations

import asyncio

from cockpit import compat

CLOSE_SECONDS = 2.0
"""How long a closing connection may take (a TLS peer that never answers close_notify)."""


class StreamConnections:
    """Admit at most `limit` connections at once; close every one when the server closes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[asyncio.StreamWriter] = set()

    def admit(self, writer: asyncio.StreamWriter) -> bool:
        """True when the connection may be served; a connection over the limit is closed."""
        if len(self._open) >= self.limit:
            writer.close()
            return False
        self._open.add(writer)
        return True

    async def release(self, writer: asyncio.StreamWriter) -> None:
        """The connection is done: close it (a peer that already left is no error); one
        that does not finish closing within CLOSE_SECONDS is cut."""
        self._open.discard(writer)
        writer.close()
        try:
            async with compat.timeout(CLOSE_SECONDS):
                await writer.wait_closed()
        except TimeoutError:
            writer.transport.abort()
        except (ConnectionError, OSError):
            pass

    async def close_server(self, server: asyncio.Server) -> None:
        """Stop accepting, close every open connection, and wait for the server to end."""
        server.close()
        for writer in list(self._open):
            writer.close()
        await server.wait_closed()
