"""GET one https URL at one chosen IP address, bounded and verified; plus name lookups via an Asker.

The endpoint checks (MTA-STS policy, webmail, IdP) never use the system resolver: they ask the
`Asker` for the host's addresses, then connect to an address themselves with SNI and Host set to
the URL's host, so the certificate is verified against that name (system store plus
`[tls].ca_file`). Everything is bounded: one overall deadline, no redirects followed, at most
`max_body` bytes of body read (the rest is never downloaded), headers cut in count and length.

When the verified handshake fails, a second handshake that verifies nothing reads the
certificate the server presents, so a finding can still show its facts (names, expiry).

    probe_https(...) -> HttpsResult      never raises for network trouble: see `error_kind`
    probe_first_answering(...)           probe_https at a host's addresses, first answer wins
    resolve_host(asker, host) -> HostAddresses    `partial_reason` when only one family was seen
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cockpit import compat
from cockpit.auth.asker import Asker
from cockpit.auth.tlsinfo import CertFacts, cert_facts, inspection_context, trust_context
from cockpit.dns.normalize import cap_text
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Status
from cockpit.race import race

DEFAULT_MAX_BODY = 64 * 1024
MAX_HEADERS = 64
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 512


@dataclass(frozen=True, slots=True)
class HostAddresses:
    """What the Asker said about a host's A and AAAA records."""

    host: str
    addresses: tuple[str, ...]
    unknown_reason: str | None = None
    """Set when no address came back and a lookup could not tell (timeout, SERVFAIL, ...)."""
    partial_reason: str | None = None
    """Set when addresses came back but the other family's lookup could not tell: which
    lookup and why ("AAAA lookup of mx1.example.com: timeout"). That family's addresses may
    exist and were not seen, so `addresses` is not the whole set."""
    unseen_family: str | None = None
    """"IPv4" or "IPv6": the family `partial_reason` is about."""

    @property
    def unseen_text(self) -> str | None:
        """One line on the family not seen ("IPv6 addresses not known (AAAA lookup of ...:
        timeout)"), None when the set is complete."""
        if self.partial_reason is None:
            return None
        return f"{self.unseen_family} addresses not known ({self.partial_reason})"

    def gaps(self, probed: int) -> list[str]:
        """What a check that probes the first `probed` addresses did not see: the family
        whose lookup could not tell, and the addresses beyond `probed`."""
        found: list[str] = []
        if self.unseen_text is not None:
            found.append(self.unseen_text)
        rest = len(self.addresses) - probed
        if rest > 0:
            plural = "es" if rest > 1 else ""
            found.append(f"{rest} more address{plural} not probed (at most {probed})")
        return found


async def resolve_host(asker: Asker, host: str) -> HostAddresses:
    """A then AAAA addresses of `host` through `asker` (IPv4 first)."""
    host = host.rstrip(".").lower()
    seen_a, seen_aaaa = await asyncio.gather(asker.ask(host, "A"), asker.ask(host, "AAAA"))
    addresses = tuple(seen_a.answers if seen_a.ok else ()) + tuple(
        seen_aaaa.answers if seen_aaaa.ok else ()
    )
    if addresses:
        for seen, family in ((seen_a, "IPv4"), (seen_aaaa, "IPv6")):
            if seen.outcome in NO_VERDICT_OUTCOMES:
                reason = f"{seen.rdtype} lookup of {host}: {seen.reason}"
                return HostAddresses(host, addresses, partial_reason=reason, unseen_family=family)
        return HostAddresses(host, addresses)
    for seen in (seen_a, seen_aaaa):
        if seen.outcome in NO_VERDICT_OUTCOMES:
            return HostAddresses(host, (), f"{seen.rdtype} lookup of {host}: {seen.reason}")
    return HostAddresses(host, ())


def with_gaps(status: Status, summary: str, gaps: str | None) -> tuple[Status, str]:
    """A verdict on the addresses probed, made truthful about those not seen (`gaps`, from
    `HostAddresses.gaps`): ok becomes unknown, led by what was not seen; a worse verdict stays
    and names it after its own reason."""
    if not gaps:
        return status, summary
    if status is Status.OK:
        return Status.UNKNOWN, f"{gaps}; {summary}"
    return status, f"{summary}; also {gaps}"


@dataclass(frozen=True, slots=True)
class HttpsResult:
    """What one GET at one address showed. `error_kind` is None when a response came."""

    url: str
    ip: str
    host: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Lower-case names, values cut to MAX_HEADER_VALUE; at most MAX_HEADERS."""
    body: bytes = b""
    body_too_big: bool = False
    """More than `max_body` bytes were offered; `body` holds only the first `max_body`."""
    latency_ms: float | None = None
    """Time from connecting to the response headers."""
    cert: CertFacts | None = None
    verify_error: str | None = None
    """Why the certificate did not verify (chain, name, expiry), from the TLS library."""
    error_kind: str | None = None
    """None, "setup" (cockpit could not try: bad ca_file), "timeout", "connect", "tls",
    "protocol" (the server spoke, but not acceptable HTTP)."""
    error: str | None = None
    headers_capped: bool = False

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def evidence(self) -> dict[str, object]:
        """Bounded facts for a Finding's data (no body)."""
        data: dict[str, object] = {"url": self.url, "address": self.ip, "host": self.host}
        if self.status is not None:
            data["status"] = self.status
        if self.latency_ms is not None:
            data["latency_ms"] = round(self.latency_ms, 1)
        if self.verify_error is not None:
            data["verify_error"] = self.verify_error
        if self.error is not None:
            data["error"] = self.error
        return data


def _bounded_headers(raw: httpx.Headers) -> tuple[tuple[tuple[str, str], ...], bool]:
    kept: list[tuple[str, str]] = []
    capped = False
    for name, value in raw.multi_items():
        if len(kept) >= MAX_HEADERS:
            capped = True
            break
        short_name, cut_name = cap_text(name.lower(), MAX_HEADER_NAME)
        short_value, cut_value = cap_text(value, MAX_HEADER_VALUE)
        capped = capped or cut_name or cut_value
        kept.append((short_name, short_value))
    return tuple(kept), capped


def _verification_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


async def presented_certificate(ip: str, port: int, host: str, timeout: float) -> CertFacts | None:
    """The certificate the server presents for SNI `host`, without verifying anything."""
    writer = None
    try:
        async with compat.timeout(timeout):
            _reader, writer = await asyncio.open_connection(
                ip, port, ssl=inspection_context(), server_hostname=host
            )
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return cert_facts(der) if der else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.close()


def _peer_certificate(response: httpx.Response) -> CertFacts | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    try:
        return cert_facts(der) if der else None
    except ValueError:
        return None


async def probe_https(
    url: str,
    ip: str,
    *,
    ca_file: Path | None,
    timeout: float = 5.0,
    max_body: int = DEFAULT_MAX_BODY,
) -> HttpsResult:
    """GET `url` at `ip` (SNI and Host = the URL's host), within `timeout` seconds in all."""
    parsed = httpx.URL(url)
    host = parsed.host
    port = parsed.port or 443
    base = HttpsResult(url=url, ip=ip, host=host)
    try:
        context = trust_context(ca_file)
    except (OSError, ssl.SSLError) as error:
        reason = f"cannot load [tls].ca_file {ca_file}: {error}"
        return replace(base, error_kind="setup", error=reason[:200])
    host_header = host if parsed.port in (None, 443) else f"{host}:{port}"
    target = parsed.copy_with(host=ip, port=port)
    transport = httpx.AsyncHTTPTransport(verify=context, retries=0)
    client = httpx.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False, timeout=timeout
    )
    started = time.monotonic()
    try:
        async with compat.timeout(timeout), client:
            request = client.build_request(
                "GET",
                target,
                headers={
                    "Host": host_header,
                    "Accept-Encoding": "identity",
                    "User-Agent": "cockpit-endpoint-check",
                },
                extensions={"sni_hostname": host},
            )
            response = await client.send(request, stream=True)
            try:
                latency_ms = (time.monotonic() - started) * 1000
                headers, headers_capped = _bounded_headers(response.headers)
                cert = _peer_certificate(response)
                body, too_big = await _read_capped(response, max_body)
            finally:
                await response.aclose()
    except TimeoutError:
        return replace(base, error_kind="timeout", error=f"no complete answer within {timeout:g} s")
    except httpx.TimeoutException:
        return replace(base, error_kind="timeout", error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        verify = _verification_error(error)
        if verify is not None:
            # The second look shares the probe's one deadline.
            left = max(0.01, timeout - (time.monotonic() - started))
            facts = await presented_certificate(ip, port, host, left)
            message = str(verify.verify_message or verify.reason or verify)[:200]
            return replace(
                base,
                error_kind="tls",
                error="certificate not trusted: " + message,
                verify_error=message,
                cert=facts,
            )
        kind = "connect" if isinstance(error, httpx.ConnectError) else "protocol"
        text = str(error) or type(error).__name__
        return replace(base, error_kind=kind, error=cap_text(text, 200)[0])
    return replace(
        base,
        status=response.status_code,
        headers=headers,
        headers_capped=headers_capped,
        body=body,
        body_too_big=too_big,
        latency_ms=latency_ms,
        cert=cert,
    )


async def probe_first_answering(
    url: str,
    addresses: tuple[str, ...],
    *,
    ca_file: Path | None,
    timeout: float,
    max_body: int,
    max_addresses: int,
) -> HttpsResult:
    """probe_https at the first `max_addresses` of `addresses`, all within one `timeout`: the
    next address is tried at its share of the budget (the second at half of it with two), or at
    once when every try so far failed to connect (cockpit.race). The first result that is not a
    connection failure (connect error or timeout) wins and the others are dropped; else the
    result of the last address tried. `addresses` must not be empty."""
    tried = addresses[:max_addresses]

    def attempt(index: int, seconds_left: float) -> Awaitable[HttpsResult]:
        return probe_https(
            url, tried[index], ca_file=ca_file, timeout=seconds_left, max_body=max_body
        )

    outcome = await race(attempt, count=len(tried), budget=timeout, final=_answered)
    result = outcome.winner or outcome.last_by_index()
    if result is None:  # no try reported back, not even its own timeout
        host = httpx.URL(url).host
        error = f"no answer within {timeout:g} s"
        result = HttpsResult(url, tried[0], host, error_kind="timeout", error=error)
    return result


def _answered(result: HttpsResult) -> bool:
    return result.error_kind not in ("connect", "timeout")


def certificate_data(cert: CertFacts | None, now: datetime) -> dict[str, Any]:
    return {} if cert is None else {"certificate": cert.to_json(now)}


async def _read_capped(response: httpx.Response, max_body: int) -> tuple[bytes, bool]:
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_body:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            return b"".join(chunks)[:max_body], True
    return b"".join(chunks), False
