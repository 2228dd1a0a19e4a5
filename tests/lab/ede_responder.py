"""A resolver that answers every question SERVFAIL with chosen extended DNS errors (RFC 8914).

unbound 1.17 sends an EDE with a SERVFAIL only for DNSSEC failures (measured: an unreachable
authoritative gives SERVFAIL with no EDE at all), while other resolvers send codes such as 22
(No Reachable Authority) or 23 (Network Error). This small real server on loopback puts those
on the wire, so the parsing and the verdicts are tested against real replies.

    with ServfailResolver("127.0.53.90", [(22, "no reachable authority for example.test")]) as r:
        query(ServerSpec("odd", *r.address), "example.test", "MX", timeout=1.0)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from tests.lab import Address, free_port


class ServfailResolver:
    """UDP on `ip`:<free port>; a thread answers until `stop()` (bounded by a socket timeout)."""

    def __init__(self, ip: str, errors: Sequence[tuple[int, str]]):
        self.address: Address = (ip, free_port(ip))
        self.errors = list(errors)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(self.address)
        self._socket.settimeout(0.05)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ServfailResolver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _reply(self, wire: bytes) -> bytes | None:
        try:
            request = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        reply = dns.message.make_response(request)
        reply.set_rcode(dns.rcode.SERVFAIL)
        reply.flags |= dns.flags.RA
        options = [dns.edns.EDEOption(code, text or None) for code, text in self.errors]
        reply.use_edns(0, 0, 1232, options=options)
        return reply.to_wire()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._reply(wire)
            if reply is not None:
                self._socket.sendto(reply, peer)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._socket.close()
