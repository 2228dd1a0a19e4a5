"""A tiny HTTP/1.1 server on loopback that serves the drill's queue depths as JSON.

    GET /queue/<region>   200 {"region": ..., "depth": N, "oldest_age_s": S}
    any other path        404;  another method 405;  a request that does not parse 400

One request per connection (Connection: close). The request head is capped at
MAX_REQUEST_BYTES and must arrive within READ_SECONDS; a body is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from cockpit.drill.connections import StreamConnections
from cockpit.drill.queue_model import QueueReading

MAX_REQUEST_BYTES = 8192
READ_SECONDS = 5.0
MAX_CONNECTIONS = 32
QUEUE_PREFIX = "/queue/"

ReadQueue = Callable[[str], QueueReading | None]
"""Region name -> its queue now, or None for an unknown region."""

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _response(status: int, document: dict[str, object]) -> bytes:
    body = json.dumps(document).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def answer_request(head: bytes, read_queue: ReadQueue) -> bytes:
    """The whole response to one request head (request line and headers)."""
    try:
        request_line = head.split(b"\r\n", 1)[0].decode("ascii")
        method, target, version = request_line.split(" ")
    except (UnicodeDecodeError, ValueError):
        return _response(400, {"error": "bad request"})
    if not version.startswith("HTTP/1."):
        return _response(400, {"error": "bad request"})
    if method != "GET":
        return _response(405, {"error": "only GET"})
    path = target.split("?", 1)[0]
    if path.startswith(QUEUE_PREFIX):
        reading = read_queue(path[len(QUEUE_PREFIX) :])
        if reading is not None:
            return _response(200, reading.to_json())
    return _response(404, {"error": "not found"})


class QueueHttpServer:
    def __init__(self, host: str, read_queue: ReadQueue) -> None:
        self.host = host
        self.port = 0
        self._read_queue = read_queue
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
            async with asyncio.timeout(READ_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer_request(head, self._read_queue))
            await writer.drain()
        except asyncio.LimitOverrunError:
            writer.write(_response(400, {"error": "request too large"}))
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            await self._connections.release(writer)
