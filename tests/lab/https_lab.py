"""A real HTTPS server on loopback port 443, with certificates from a private trustme CA.

    lab = HttpsLab(tmp_path)                       # the CA is written to lab.ca_file (PEM)
    server = lab.serve("127.0.44.1", ["mta-sts.example.test"],
                       {"/.well-known/mta-sts.txt": Route(200, body=b"version: STSv1...")})
    server.routes["/"] = Route(500)                # routes can change while it runs
    lab.stop()

Each server is the stdlib `ThreadingHTTPServer`; the TLS handshake happens in the connection's
own thread, so a client that never finishes a handshake cannot block the others. A server
presents the certificate for the SNI name when it has one for it (`certs`), its default
certificate otherwise. Every address is in 127.0.0.0/8; root can bind 443 there (lab-notes.md).
A fixture does `yield from running_https_lab(path)` (a plain generator, not a plugin, so the
test module can import this file's types first). When 443 cannot be bound it skips, except
under CI=true where it fails.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from tests.lab import missing_in_lab

HTTPS_PORT = 443


@dataclass
class Route:
    """What a path answers: status, headers (name, value) and body."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    declare_length: bool = True
    """False: no Content-Length; the body ends when the connection closes."""


@dataclass
class ServedRequest:
    path: str
    host: str | None
    sni: str | None


class _Handler(BaseHTTPRequestHandler):
    server: _TlsServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        sni = getattr(self.connection, "cockpit_sni", None)
        self.server.lab_server.requests.append(ServedRequest(path, self.headers.get("Host"), sni))
        route = self.server.lab_server.routes.get(path, Route(404, body=b"not found"))
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        if route.declare_length:
            self.send_header("Content-Length", str(len(route.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client stopped reading (a capped body): expected

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    lab_server: HttpsServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(5)
            tls = self.lab_server.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            super().finish_request(tls, client_address)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


@dataclass
class HttpsServer:
    """One HTTPS server on (ip, 443)."""

    ip: str
    context: ssl.SSLContext
    routes: dict[str, Route]
    requests: list[ServedRequest] = field(default_factory=list)
    _server: _TlsServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        server = _TlsServer((self.ip, HTTPS_PORT), _Handler, bind_and_activate=False)
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.server_bind()
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        server.lab_server = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class HttpsLab:
    """A private CA plus any number of HTTPS servers; `stop()` stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = Path(workdir) / "lab-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.servers: list[HttpsServer] = []

    def leaf(
        self,
        names: Sequence[str],
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> trustme.LeafCert:
        return self.ca.issue_cert(*names, not_before=not_before, not_after=not_after)

    def serve(
        self,
        ip: str,
        names: Sequence[str] | trustme.LeafCert,
        routes: Mapping[str, Route],
        *,
        certs: Mapping[str, trustme.LeafCert] | None = None,
    ) -> HttpsServer:
        """Start a server on ip:443 presenting `names` (or that certificate) by default and
        `certs[sni]` for an SNI name listed there."""
        default = names if isinstance(names, trustme.LeafCert) else self.leaf(names)
        context = _server_context(default)
        by_name = {name.lower(): _server_context(cert) for name, cert in (certs or {}).items()}

        def choose(tls: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            tls.cockpit_sni = server_name  # type: ignore[attr-defined]
            chosen = by_name.get((server_name or "").lower())
            if chosen is not None:
                tls.context = chosen

        context.sni_callback = choose  # type: ignore[assignment]
        server = HttpsServer(ip, context, dict(routes))
        server.start()
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


def can_bind_https(ip: str = "127.0.44.250") -> str | None:
    """None when this process can listen on ip:443, else the reason.

    SO_REUSEADDR: two test processes (pytest-xdist workers) probing at the same moment both
    succeed, where the second would otherwise read "address in use" as "needs root"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, HTTPS_PORT))
        except OSError as error:
            return f"cannot listen on {ip}:{HTTPS_PORT} ({error}); the HTTPS lab needs root"
    return None


def running_https_lab(workdir: Path) -> Iterator[HttpsLab]:
    """For a fixture: `yield from running_https_lab(path)` yields a lab and stops it afterwards.

    Skips when 443 cannot be bound, except under CI=true where it fails.
    """
    problem = can_bind_https()
    if problem is not None:
        missing_in_lab(problem)
    lab = HttpsLab(workdir)
    try:
        yield lab
    finally:
        lab.stop()
