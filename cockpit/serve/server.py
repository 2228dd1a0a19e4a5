"""The web server behind `cockpit serve`: textual-serve, with its process start and its front
door replaced.

    request --> guard (Host, then token or cookie, then Origin on /ws; 403 otherwise)
            --> /            the page (sets the token cookie, CSP with a per-page nonce)
                /ws          one child cockpit per websocket, started from an argv list
                /download/*  what the child delivers (a screenshot)
                /static/*    textual.js, xterm.css, fonts: public, no token

textual-serve 1.1 starts each app with `asyncio.create_subprocess_shell(command)`;
ExecAppService starts it with `create_subprocess_exec(*argv)` instead, and stops it within
STOP_GRACE seconds (upstream waits for the child forever). Logging is quiet and never shows a
query string: the access log is off and every log line has the token blanked out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import sys
from asyncio.subprocess import Process
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from cockpit import compat
from cockpit.safe_text import clean
from cockpit.serve.policy import Access, token_matches

log = logging.getLogger("cockpit.serve")

TEMPLATES = Path(__file__).resolve().parent / "templates"
STOP_GRACE = 3.0
"""Seconds a child cockpit gets to quit when asked, and again after a kill."""
MAX_SESSIONS = 16
"""Browser tabs served at once; each one runs its own cockpit process."""
MAX_MESSAGE_BYTES = 1 << 20
PRELUDE_LINES = 10
"""Lines the child may print before the web driver's greeting (as upstream)."""
MAX_STDERR_BYTES = 16 * 1024
MAX_STDERR_LINES = 20
COLUMNS = (20, 500)
ROWS = (5, 200)
FONT_SIZES = (6, 64)
LOGGERS = ("aiohttp", "textual-serve", "asyncio", "cockpit.serve")


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


class ExecAppService(AppService):
    """One child cockpit for one websocket, started from an argv list (never a shell)."""

    def __init__(self, argv: Sequence[str], **kwargs: Any) -> None:
        # `command` is what upstream would hand to a shell; nothing here ever uses it.
        super().__init__("", **kwargs)
        self.argv = tuple(argv)

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Process:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def on_meta(self, data: bytes) -> None:
        """Upstream's, except that the cockpit may not make the browser open a URL."""
        try:
            meta = json.loads(data)
        except ValueError:
            log.warning("a browser's cockpit sent a malformed meta packet; ignored")
            return
        if isinstance(meta, dict) and meta.get("type") == "open_url":
            log.warning("a browser's cockpit asked to open a URL; refused")
            return
        await super().on_meta(data)

    async def run(self) -> None:
        """Upstream's reader, with the child's stderr reported once, cleaned, on our stderr."""
        process = self._process
        assert process is not None and process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout, process.stderr
        said = bytearray()

        async def read_stderr() -> None:
            while chunk := await stderr.read(4096):  # ends with the child
                if len(said) < MAX_STDERR_BYTES:
                    said.extend(chunk[: MAX_STDERR_BYTES - len(said)])

        stderr_task = asyncio.create_task(read_stderr())
        ready = False
        try:
            for _ in range(PRELUDE_LINES):  # the web driver's greeting comes first
                line = await stdout.readline()
                if not line:
                    break
                if line == b"__GANGLION__\n":
                    ready = True
                    break
            if not ready:
                log.error("a browser's cockpit did not start")
            while ready:  # until the child closes stdout
                packet_type = await stdout.readexactly(1)
                size = int.from_bytes(await stdout.readexactly(4), "big")
                payload = await stdout.readexactly(size)
                if packet_type == b"D":
                    await self.on_data(payload)
                elif packet_type == b"M":
                    await self.on_meta(payload)
                elif packet_type == b"P":
                    await self.on_packed(payload)
        except (asyncio.IncompleteReadError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await compat.wait_for(asyncio.shield(stderr_task), 1.0)
            stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stderr_task
        for line in said.decode("utf-8", "replace").splitlines()[:MAX_STDERR_LINES]:
            if line.strip():
                log.warning("a browser's cockpit said: %s", line)
        # The child is gone (quit, crashed or killed): end the browser's session too, so the
        # page says "Session ended" rather than freezing on the last frame.
        with contextlib.suppress(Exception):
            await self.remote_close()

    async def stop(self) -> None:
        """Ask the child to quit; kill it if it has not within STOP_GRACE seconds. Bounded."""
        task, self._task = self._task, None
        process = self._process
        if task is not None:
            with contextlib.suppress(Exception):
                await self._download_manager.cancel_app_downloads(
                    app_service_id=self.app_service_id
                )
            with contextlib.suppress(Exception):
                await self.send_meta({"type": "quit"})
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await compat.wait_for(asyncio.shield(task), STOP_GRACE)
        if process is not None:
            # Wait for asyncio to reap it before any kill: a kill polls (reaps) the child
            # itself, and asyncio would then warn about an unknown pid.
            try:
                await compat.wait_for(process.wait(), STOP_GRACE)
            except (TimeoutError, asyncio.CancelledError):
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await compat.wait_for(process.wait(), STOP_GRACE)
        if task is not None and not task.done():
            task.cancel()


class CockpitServer(Server):
    """textual-serve's Server, guarded, serving `argv` (a cockpit) to each browser tab."""

    def __init__(self, argv: Sequence[str], access: Access, *, title: str) -> None:
        super().__init__(
            command="",
            host=access.bind_host,
            port=access.port,
            title=title,
            public_url=access.base_url,
            statics_path="./static",  # textual-serve's own: textual.js, xterm.css, fonts
            templates_path=TEMPLATES,
        )
        self.argv = tuple(argv)
        self.access = access
        self._sessions: dict[AppService, web.WebSocketResponse] = {}
        self._open = 0
        """Websockets being served or being opened (counted before the first await)."""

    # The app and its front door

    async def _make_app(self) -> web.Application:
        access = self.access

        @web.middleware
        async def guard(
            request: web.Request,
            handler: Callable[[web.Request], Any],
        ) -> web.StreamResponse:
            if not access.host_allowed(request.headers.get("Host")):
                return refuse("forbidden: this server does not answer to that Host name")
            # Decided by the route the router chose, never by a path prefix.
            if isinstance(request.match_info.route.resource, web.StaticResource):
                return await handler(request)
            if not (
                token_matches(request.query.get("token"), access.token)
                or token_matches(request.cookies.get(access.cookie_name), access.token)
            ):
                return refuse(
                    "forbidden: a token is needed; open the URL that `cockpit serve` printed"
                )
            resource = request.match_info.route.resource
            websocket = request.path == "/ws" or (
                resource is not None and resource.name == "websocket"
            )
            if websocket and not access.origin_allowed(request.headers.get("Origin")):
                return refuse("forbidden: websocket from a missing or foreign Origin")
            return await handler(request)

        app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
        aiohttp_jinja2.setup(
            app, loader=jinja2.FileSystemLoader(str(self.templates_path)), autoescape=True
        )
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        app.on_response_prepare.append(_common_headers)
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """No banner: serve_forever prints the one line the user needs."""

    async def on_shutdown(self, app: web.Application) -> None:
        sessions = list(self._sessions.items())
        for _service, websocket in sessions:
            with contextlib.suppress(Exception):
                await compat.wait_for(
                    websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping"),
                    STOP_GRACE,
                )
        await asyncio.gather(*(service.stop() for service, _ in sessions), return_exceptions=True)

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        nonce = secrets.token_urlsafe(16)
        host = request.headers["Host"].strip().lower()  # the guard allowed it
        secure = self.access.is_public_host(host) and self.access.public is not None
        secure = secure and self.access.public.scheme == "https"
        websocket_url = f"{'wss' if secure else 'ws'}://{host}/ws"
        font_size = _clamp(to_int(request.query.get("fontsize", "16"), 16), FONT_SIZES)
        context = {
            "font_size": font_size,
            "app_websocket_url": websocket_url,
            "nonce": nonce,
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; "
            "font-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {websocket_url}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        response.set_cookie(
            self.access.cookie_name,
            self.access.token,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=secure,
        )
        return response

    # Sessions

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """Upstream's handler with ExecAppService, bounded sizes and a cap on sessions."""
        if self._open >= MAX_SESSIONS:
            return web.Response(
                status=503, text=f"too many sessions (at most {MAX_SESSIONS}); close a tab\n"
            )
        websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE_BYTES)
        width = _clamp(to_int(request.query.get("width", "80"), 80), COLUMNS)
        height = _clamp(to_int(request.query.get("height", "24"), 24), ROWS)
        if not websocket.can_prepare(request).ok:
            return web.Response(status=400, text="a websocket is expected here\n")
        app_service: ExecAppService | None = None
        self._open += 1
        try:
            await websocket.prepare(request)
            app_service = ExecAppService(
                self.argv,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=False,
            )
            self._sessions[app_service] = websocket
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await websocket.close()
            raise
        except Exception as error:  # noqa: BLE001 - one line in the log, never a traceback
            log.warning("a browser session ended: %s: %s", type(error).__name__, error)
        finally:
            try:
                if app_service is not None:
                    await app_service.stop()
                    self._sessions.pop(app_service, None)
            finally:
                self._open -= 1
        return websocket

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        """What the browser sends: keys, resizes, pings, focus. Anything malformed is dropped."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode("utf-8", "replace"))
            elif kind == "resize" and isinstance(data, dict):
                width, height = data.get("width"), data.get("height")
                if isinstance(width, int) and isinstance(height, int):
                    await app_service.set_terminal_size(
                        _clamp(width, COLUMNS), _clamp(height, ROWS)
                    )
            elif kind == "ping" and isinstance(data, str):
                await websocket.send_json(["pong", data[:32]])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()


def refuse(reason: str) -> web.Response:
    return web.Response(status=403, text=reason + "\n", headers={"Cache-Control": "no-store"})


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")


class _QuietFormatter(logging.Formatter):
    """One clean line per record: no traceback, and never the token."""

    def __init__(self, token: str) -> None:
        super().__init__("cockpit serve: %(levelname)s: %(message)s")
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(_with_message(record))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        return clean(text.replace(self.token, "<token>"))


def _with_message(record: logging.LogRecord) -> logging.LogRecord:
    record.message = record.getMessage()
    return record


def quiet_logging(token: str) -> None:
    """Warnings and errors only, one line each on stderr, token blanked out."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_QuietFormatter(token))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def serve_forever(
    argv: Sequence[str],
    access: Access,
    sock: socket.socket,
    *,
    title: str,
    announce: Callable[[str], None],
) -> None:
    """Serve on the bound, listening `sock` until SIGINT or SIGTERM; `announce` gets the URL."""
    quiet_logging(access.token)
    asyncio.run(_serve(argv, access, sock, title=title, announce=announce))


async def _serve(
    argv: Sequence[str],
    access: Access,
    sock: socket.socket,
    *,
    title: str,
    announce: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no such handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    server = CockpitServer(argv, access, title=title)
    runner = web.AppRunner(
        await server._make_app(), access_log=None, handle_signals=False, shutdown_timeout=5
    )
    await runner.setup()
    try:
        site = web.SockSite(runner, sock, shutdown_timeout=5)
        await site.start()
        announce(access.open_url)
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
