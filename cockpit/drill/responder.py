"""The drill's DNS servers: one authoritative and several caching resolvers, on loopback.

    store = ZoneStore(time.monotonic); store.publish(zones)
    auth = DnsServer("127.0.77.10", authoritative_responder(store))
    resolver = CachingResolver(store, time.monotonic, cache_age_at_start=12.0)
    r1 = DnsServer("127.0.77.11", resolver.respond)
    await auth.start(); await r1.start()          # UDP and TCP on one OS-chosen port each
    ...; await r1.close(); await auth.close()

Both kinds parse and render real DNS messages with dnspython, over UDP and TCP:

- the authoritative answers from the `ZoneStore` with AA set and RA clear; NXDOMAIN and NODATA
  carry the zone's SOA in the authority section (TTL lowered to the SOA minimum, RFC 2308);
  a name outside its zones is REFUSED;
- a resolver answers with RA set and AA clear, from its own cache keyed by (name, type). A
  cached answer is served with its remaining TTL in whole seconds (rounded up) until it runs
  out, then fetched again. The fetch is an in-process call into the same `ZoneStore` rather than a
  packet to the authoritative server: the drill's resolvers stand for resolvers out on the
  internet, and what matters to the cockpit is their cache timing, not their upstream traffic.
  Negative answers are cached for min(SOA TTL, SOA minimum). A resolver's first fetch of a
  name is dated `cache_age_at_start` seconds back (modulo the TTL) and reads the data published
  at that moment, as if it had last fetched before the drill began; each resolver is given a
  different age, so after the data changes they expire, and converge, one by one.

Garbage is bounded: a datagram or TCP message that is too short, too long or does not parse is
dropped (TCP: the connection is closed); a response is never sent to a response; other opcodes
get NOTIMP, a question count other than one FORMERR, ANY/AXFR/IXFR and non-IN classes REFUSED.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from cockpit import compat
from cockpit.drill.connections import StreamConnections
from cockpit.drill.zonestore import Clock, ZoneAnswer, ZoneStore

Responder = Callable[[dns.message.Message], dns.message.Message | None]
"""A parsed query -> the response to send, or None to send nothing."""

MIN_MESSAGE_BYTES = 12
MAX_QUERY_BYTES = 4096
"""Queries over this size are dropped (UDP) or end the connection (TCP)."""
MAX_UDP_REPLY_BYTES = 4096
PLAIN_UDP_REPLY_BYTES = 512
TCP_IDLE_SECONDS = 5.0
MAX_QUERIES_PER_CONNECTION = 32
MAX_TCP_CONNECTIONS = 64
MAX_CACHE_ENTRIES = 4096
BIND_ATTEMPTS = 8

_REFUSED_TYPES = frozenset({dns.rdatatype.ANY, dns.rdatatype.AXFR, dns.rdatatype.IXFR})


# --- answering --------------------------------------------------------------------------------


def _parse_query(wire: bytes) -> dns.message.Message | None:
    if not MIN_MESSAGE_BYTES <= len(wire) <= MAX_QUERY_BYTES:
        return None
    try:
        query = dns.message.from_wire(wire)
    except (dns.exception.DNSException, ValueError, UnicodeError, IndexError):
        return None
    if query.flags & dns.flags.QR:
        return None
    return query


def _refusal(query: dns.message.Message, recursion: bool) -> dns.message.Message | None:
    """The response for a query that is not a plain IN question, or None if it is one."""
    response = dns.message.make_response(query, recursion_available=recursion)
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
    elif len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
    elif (
        query.question[0].rdclass != dns.rdataclass.IN or query.question[0].rdtype in _REFUSED_TYPES
    ):
        response.set_rcode(dns.rcode.REFUSED)
    else:
        return None
    return response


def _fill(
    response: dns.message.Message, answer: ZoneAnswer, ttl: int | None = None
) -> dns.message.Message:
    response.set_rcode(answer.rcode)
    response.answer = [_with_ttl(rrset, ttl) for rrset in answer.answer]
    response.authority = [_with_ttl(rrset, ttl) for rrset in answer.authority]
    return response


def _with_ttl(rrset: dns.rrset.RRset, ttl: int | None) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(rrset.name, rrset.ttl if ttl is None else ttl, list(rrset))


def authoritative_responder(store: ZoneStore) -> Responder:
    """Answers as the zones' authoritative server: AA set, recursion not offered."""

    def respond(query: dns.message.Message) -> dns.message.Message:
        refused = _refusal(query, recursion=False)
        if refused is not None:
            return refused
        question = query.question[0]
        answer = store.lookup(question.name, question.rdtype)
        response = dns.message.make_response(query)
        if not answer.in_zone:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        return _fill(response, answer)

    return respond


@dataclass(frozen=True, slots=True)
class _Cached:
    answer: ZoneAnswer
    expires_at: float


def _seconds_left(cached: _Cached, now: float) -> int:
    """The TTL to serve: whole seconds, rounded up, so a fresh fetch shows the full TTL and
    the last second before expiry shows 1."""
    return math.ceil(cached.expires_at - now)


class CachingResolver:
    """One drill resolver's cache and answers (see the module doc)."""

    def __init__(self, store: ZoneStore, clock: Clock, cache_age_at_start: float) -> None:
        self._store = store
        self._clock = clock
        self.cache_age_at_start = cache_age_at_start
        self._cache: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], _Cached] = {}
        self._fetched_before: set[tuple[dns.name.Name, dns.rdatatype.RdataType]] = set()

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        refused = _refusal(query, recursion=True)
        if refused is not None:
            return refused
        question = query.question[0]
        response = dns.message.make_response(query, recursion_available=True)
        key = (question.name, question.rdtype)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is None or cached.expires_at <= now:
            answer, cached = self._fetch(key, now)
            if cached is None:
                if not answer.in_zone:
                    response.set_rcode(dns.rcode.REFUSED)
                    return response
                return _fill(response, answer)
        return _fill(response, cached.answer, _seconds_left(cached, now))

    def _fetch(
        self, key: tuple[dns.name.Name, dns.rdatatype.RdataType], now: float
    ) -> tuple[ZoneAnswer, _Cached | None]:
        """Fetch and cache: the answer published now, and its cache entry; no entry for what
        is never cached (refusals, SERVFAIL, TTL 0), which is served as published now."""
        current = self._store.lookup(*key)
        if not current.in_zone or current.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return current, None
        answer = current
        ttl = answer.cache_ttl()
        fetched_at = now
        if key not in self._fetched_before and ttl > 1:
            fetched_at = now - self.cache_age_at_start % ttl
            answer = self._store.lookup(*key, at=fetched_at)
            ttl = answer.cache_ttl()
        self._fetched_before.add(key)
        if ttl <= 0 or fetched_at + ttl <= now:
            return current, None
        if len(self._cache) >= MAX_CACHE_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v.expires_at > now}
            if len(self._cache) >= MAX_CACHE_ENTRIES:
                self._cache.clear()
        if len(self._fetched_before) > 4 * MAX_CACHE_ENTRIES:
            self._fetched_before.clear()
        cached = _Cached(answer, fetched_at + ttl)
        self._cache[key] = cached
        return current, cached


def reply_wire(respond: Responder, wire: bytes, *, over_tcp: bool) -> bytes | None:
    """The reply to one wire-format query, or None to stay silent. Never raises."""
    query = _parse_query(wire)
    if query is None:
        return None
    try:
        response = respond(query)
        if response is None:
            return None
        if over_tcp:
            limit = 65535
        elif query.edns >= 0:
            limit = max(PLAIN_UDP_REPLY_BYTES, min(query.payload, MAX_UDP_REPLY_BYTES))
        else:
            limit = PLAIN_UDP_REPLY_BYTES
        return response.to_wire(max_size=limit, prefer_truncation=True)
    except Exception:  # noqa: BLE001 - a drill server answers garbage with silence, never a crash
        return None


# --- serving --------------------------------------------------------------------------------


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, respond: Responder) -> None:
        self._respond = respond
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = reply_wire(self._respond, data, over_tcp=False)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for an earlier reply: nothing to do."""


class DnsServer:
    """UDP and TCP on one address and port, answering with `respond`."""

    def __init__(self, host: str, respond: Responder) -> None:
        self.host = host
        self.port = 0
        self._respond = respond
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections = StreamConnections(MAX_TCP_CONNECTIONS)

    @property
    def address(self) -> str:
        """ "IP:PORT", as the cockpit's config writes a server address."""
        return f"{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Bind UDP (OS-chosen port unless `port` is given), then TCP on the same port.
        Raises OSError when no port could be bound for both."""
        loop = asyncio.get_running_loop()
        last_error: OSError | None = None
        for _ in range(BIND_ATTEMPTS):
            transport, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self._respond), local_addr=(self.host, port)
            )
            bound_port = int(transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, self.host, bound_port, reuse_address=True
                )
            except OSError as error:
                transport.close()
                last_error = error
                if port:
                    break
                continue
            self._udp = transport
            self.port = bound_port
            return
        raise last_error or OSError(f"cannot bind {self.host}")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            await self._connections.close_server(self._tcp)
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._connections.admit(writer):
            return
        try:
            for _ in range(MAX_QUERIES_PER_CONNECTION):
                async with compat.timeout(TCP_IDLE_SECONDS):
                    length = int.from_bytes(await reader.readexactly(2), "big")
                    if not MIN_MESSAGE_BYTES <= length <= MAX_QUERY_BYTES:
                        break
                    wire = await reader.readexactly(length)
                reply = reply_wire(self._respond, wire, over_tcp=True)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            await self._connections.release(writer)
