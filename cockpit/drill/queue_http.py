"""A tiny HTTP/1.1 server on loopback: each region's queue depth, replication lag and role.

    GET /queue/<region>         200 {"region": ..., "depth": N, "oldest_age_s": S}
    GET /replication/<region>   200 {"region": ..., "lag_s": S};  503 while the region is down
    GET /role/<region>          200 text "primary" or "standby";  while the region is down the
                                request is held unanswered (below)
    any other path              404;  another method 405;  a request that does not parse 400

A dead control plane is mimicked by holding its role request: the connection is accepted and
the request read, but nothing is ever answered, as from a control plane that hangs. The client
gives up at its own timeout (the cockpit then says `unknown`); the server lets go when the
client hangs up or after HOLD_SECONDS, whichever comes first, and closes without a byte. A
refused connection would be kinder than what a real outage often does.

One request per connection (Connection: close). The request head is capped at
MAX_REQUEST_BYTES and must arrive within READ_SECONDS; a body is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from cockpit import compat
from cockpit.drill.connections import StreamConnections
from cockpit.drill.queue_model import QueueReading

MAX_REQUEST_BYTES = 8192
READ_SECONDS = 5.0
HOLD_SECONDS = 30.0
MAX_CONNECTIONS = 32
QUEUE_PREFIX = "/queue/"
REPLICATION_PREFIX = "/replication/"
ROLE_PREFIX = "/role/"

ReadQueue = Callable[[str], QueueReading | None]
"""Region name -> its queue now, or None for an unknown region."""
ReadNumber = Callable[[str], float | None]
"""Region name -> its replication lag now, or None while it does not answer."""
ReadText = Callable[[str], str | None]
"""Region name -> its control plane's role now, or None while it does not answer."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class DrillReaders:
    """What the server reads from the world, per region."""

    regions: frozenset[str]
    queue: ReadQueue
    lag: ReadNumber
    role: ReadText


def _response(status: int, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _json(status: int, document: dict[str, object]) -> bytes:
    return _response(status, json.dumps(document).encode("utf-8"), "application/json")


def answer_request(head: bytes, readers: DrillReaders) -> bytes | None:
    """The whole response to one request head (request line and headers); None: hold the
    request unanswered (a dead control plane)."""
    try:
        request_line = head.split(b"\r\n", 1)[0].decode("ascii")
        method, target, version = request_line.split(" ")
    except (UnicodeDecodeError, ValueError):
        return _json(400, {"error": "bad request"})
    if not version.startswith("HTTP/1."):
        return _json(400, {"error": "bad request"})
    if method != "GET":
        return _json(405, {"error": "only GET"})
    path = target.split("?", 1)[0]
    prefix, _, region = path.rpartition("/")
    if region not in readers.regions:
        return _json(404, {"error": "not found"})
    if prefix + "/" == QUEUE_PREFIX:
        reading = readers.queue(region)
        if reading is not None:
            return _json(200, reading.to_json())
    elif prefix + "/" == REPLICATION_PREFIX:
        lag = readers.lag(region)
        if lag is None:
            return _json(503, {"error": "drill: region down"})
        return _json(200, {"region": region, "lag_s": lag})
    elif prefix + "/" == ROLE_PREFIX:
        role = readers.role(region)
        if role is None:
            return None
        return _response(200, f"{role}\n".encode("ascii"), "text/plain; charset=utf-8")
    return _json(404, {"error": "not found"})


class QueueHttpServer:
    def __init__(self, host: str, readers: DrillReaders) -> None:
        self.host = host
        self.port = 0
        self._readers = readers
        self._server: asyncio.Server | None = None
        self._connections = StreamConnections(MAX_CONNECTIONS)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, 0, limit=MAX_REQUEST_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            await self._connections.close_server(self._server)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._connections.admit(writer):
            return
        try:
            async with compat.timeout(READ_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            response = answer_request(head, self._readers)
            if response is None:
                await _hold(reader)
                return
            writer.write(response)
            await writer.drain()
        except asyncio.LimitOverrunError:
            writer.write(_json(400, {"error": "request too large"}))
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            await self._connections.release(writer)


async def _hold(reader: asyncio.StreamReader) -> None:
    """Answer nothing until the client hangs up or HOLD_SECONDS pass (what it sends is dropped)."""
    with contextlib.suppress(TimeoutError):
        async with compat.timeout(HOLD_SECONDS):
            while await reader.read(MAX_REQUEST_BYTES):
                pass
