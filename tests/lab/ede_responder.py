"""A resolver that answers every question SERVFAIL with chosen extended DNS errors (RFC 8914).

unbound 1.17 sends an EDE with a SERVFAIL only for DNSSEC failures (measured: an unreachable
authoritative gives SERVFAIL with no EDE at all), while other resolvers send codes such as 22
(No Reachable Authority) or 23 (Network Error). This small real server on loopback puts those
on the wire, so the parsing and the verdicts are tested against real replies.

    with ServfailResolver("127.0.53.90", [(22, "no reachable authority for example.test")]) as r:
        query(ServerSpec("odd", *r.address), "example.test", "MX", timeout=1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from tests.lab import free_port
from tests.lab.udp_responder import UdpResponder


class ServfailResolver(UdpResponder):
    """UDP on `ip`:<free port>; a thread answers until `stop()` (bounded by a socket timeout)."""

    def __init__(self, ip: str, errors: Sequence[tuple[int, str]]):
        super().__init__((ip, free_port(ip)))
        self.errors = list(errors)

    def __enter__(self) -> ServfailResolver:
        self.start()
        return self

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
