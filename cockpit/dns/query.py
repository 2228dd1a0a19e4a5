"""Ask ONE DNS server one question, directly by IP:port, and record what happened.

`query()` never uses the system resolver or a search list (the name is made absolute) and never
raises for a DNS or network problem: every ending is an Observation with an Outcome and a
one-line reason.

Timing: `timeout` is the budget of the whole question, its retries included (cockpit.race):
  - the first attempt goes out at once; each of the `retries` more (default 1) goes out on a new
    socket at its share of the budget (with one retry: at half of it), or at once when every
    attempt so far ended in a network error (connection refused: waiting helps nobody);
  - attempts overlap and the first reply of any kind wins, even SERVFAIL or an unreadable one;
    the others are dropped. Within an attempt the UDP exchange and, when its reply is truncated
    (TC), the TCP retry share what is left of the budget;
  - so a call returns within `timeout` plus scheduling noise, whatever `retries` is: a dead
    server costs one timeout.

Questions carry EDNS0 (payload 1232) and RD (clear it with recursion_desired=False when asking
an authoritative). CNAMEs in the answer section are followed to the requested type, at most
MAX_CNAME_LINKS links; a loop or a longer chain is MALFORMED. Each link's TTL is kept
(Observation.cname_ttls, final_ttl): a stale CNAME outlives a short TTL further down.
A NOERROR chain that ends at a name with no records of the type and no SOA of a zone holding
that name (an authoritative's CNAME into a zone served elsewhere) is CHAIN_ONLY, not NODATA:
the server said nothing about the last name. A NOERROR with no records, no AA flag and no SOA of
a zone holding the name (a referral: a delegation to a child zone's servers, or a lame or
non-recursing server pointing elsewhere) is REFERRAL, not NODATA; so is any empty NOERROR
without AA when the server was asked as an authoritative (recursion off): the server is not
authoritative for the name, and its silence says nothing about the records.

Extended DNS errors (RFC 8914) in the reply are kept (Observation.ede, bounded) and named in the
reason of a failure: a validating resolver's SERVFAIL for a DNSSEC failure says so (ede.py).

Negative TTL: from an authoritative server (AA set) min(SOA TTL, SOA minimum), what it tells
caches to keep (RFC 2308); from a resolver the SOA record's TTL as it sent it, which is what
that resolver has left of its negative cache entry (a TTL floor can make it exceed the minimum).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.nsbase import NSBase

from cockpit import compat
from cockpit.compat import UTC
from cockpit.dns.ede import EDE_TEXT_CHARS, MAX_EDE, ExtendedError, dnssec_failure, ede_label
from cockpit.dns.normalize import cap_text, normalize_name, normalize_records, raw_lines
from cockpit.dns.observation import Observation, Outcome, ServerSpec, no_answer
from cockpit.race import race

EDNS_PAYLOAD = 1232
MAX_CNAME_LINKS = 8
_REASON_CHARS = 200

RdataType = dns.rdatatype.RdataType
_BACKEND = dns.asyncbackend.get_backend("asyncio")


@dataclass(frozen=True, slots=True)
class QueryJob:
    """One question for `query_many`: the arguments of `query()` as a value."""

    server: ServerSpec | tuple[str, int]
    qname: str
    rdtype: str
    timeout: float
    server_name: str = ""
    retries: int = 1
    recursion_desired: bool = True


@dataclass(frozen=True, slots=True)
class _Asked:
    """The question as an Observation names it."""

    server_name: str
    server: str
    qname: str
    rdtype: str
    recursion_desired: bool = True


@dataclass(frozen=True, slots=True)
class _Reply:
    message: dns.message.Message
    latency_ms: float
    over_tcp: bool


class _Failure(Exception):
    """An attempt that got no usable reply; `retry` says whether another attempt may help."""

    def __init__(self, outcome: Outcome, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry = retry


def _one_line(text: str) -> str:
    return cap_text(" ".join(text.split()), _REASON_CHARS)[0]


def _as_spec(server: ServerSpec | tuple[str, int]) -> ServerSpec:
    if isinstance(server, ServerSpec):
        return server
    ip, port = server
    return ServerSpec("", str(ip), int(port))


def _network_reason(error: BaseException, address: str) -> str:
    if isinstance(error, ConnectionRefusedError):
        return f"cannot reach {address}: connection refused (nothing listens there)"
    if isinstance(error, EOFError):
        return f"{address} closed the connection without a reply"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot reach {address}: {error.strerror.lower()}"
    return f"cannot reach {address}: {error}"


async def _exchange(request: dns.message.Message, spec: ServerSpec, timeout: float) -> _Reply:
    """One attempt: UDP, then TCP if truncated, all within `timeout` seconds."""
    started = time.perf_counter()
    deadline = started + timeout
    over_tcp = False
    try:
        async with compat.timeout(timeout):
            try:
                # A connected socket hears "port unreachable" (nothing listens: fail at once
                # instead of waiting out the timeout) and takes replies from that server only.
                async with await _BACKEND.make_socket(  # type: ignore[no-untyped-call]
                    dns.inet.af_for_address(spec.ip),
                    socket.SOCK_DGRAM,
                    0,
                    None,
                    (spec.ip, spec.port),
                ) as udp_socket:
                    message = await dns.asyncquery.udp(
                        request,
                        spec.ip,
                        timeout=timeout,
                        port=spec.port,
                        raise_on_truncation=True,
                        sock=udp_socket,
                    )
            except dns.message.Truncated:
                over_tcp = True
                message = await dns.asyncquery.tcp(
                    request,
                    spec.ip,
                    timeout=max(0.001, deadline - time.perf_counter()),
                    port=spec.port,
                )
    except (dns.exception.Timeout, TimeoutError):
        how = " over TCP after a truncated UDP reply" if over_tcp else ""
        raise _Failure(Outcome.TIMEOUT, f"no reply from {spec.address}{how}", retry=True) from None
    except (OSError, EOFError) as error:
        raise _Failure(
            Outcome.NETWORK_ERROR, _one_line(_network_reason(error, spec.address)), retry=True
        ) from None
    except dns.query.BadResponse:
        raise _Failure(
            Outcome.MALFORMED,
            f"the reply from {spec.address} does not match the question",
            retry=False,
        ) from None
    except (dns.exception.DNSException, ValueError, KeyError, IndexError) as error:
        # dnspython wraps most parse errors; hostile wire data can still surface as these.
        raise _Failure(
            Outcome.MALFORMED,
            _one_line(f"unreadable reply from {spec.address}: {type(error).__name__}: {error}"),
            retry=False,
        ) from None
    latency_ms = (time.perf_counter() - started) * 1000.0
    return _Reply(message, latency_ms, over_tcp)


def _find(
    section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: RdataType
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN and rrset.name == name:
            return rrset
    return None


def _soa_in(section: list[dns.rrset.RRset]) -> tuple[int, SOA] | None:
    """(RRset TTL, first SOA record) of the first SOA RRset in a section."""
    for rrset in section:
        if rrset.rdtype == RdataType.SOA:
            for rdata in rrset:
                if isinstance(rdata, SOA):
                    return rrset.ttl, rdata
    return None


def _vouches_for(section: list[dns.rrset.RRset], name: dns.name.Name) -> bool:
    """True when `section` holds the SOA of a zone containing `name`: the server speaks for
    that zone, so its silence about `name` is a real NODATA (RFC 2308)."""
    return any(rrset.rdtype == RdataType.SOA and name.is_subdomain(rrset.name) for rrset in section)


def _referral_reason(section: list[dns.rrset.RRset], name: str) -> str:
    """ "referral to ns1.provider.net (backup.example.com): the server is not authoritative for
    NAME", from the NS records of the authority section; without any, what the reply lacked."""
    for rrset in section:
        if rrset.rdtype != RdataType.NS:
            continue
        hosts = [normalize_name(rdata.target) for rdata in rrset if isinstance(rdata, NSBase)]
        if not hosts:
            continue
        shown = ", ".join(hosts[:2]) + (f" and {len(hosts) - 2} more" if len(hosts) > 2 else "")
        zone = normalize_name(rrset.name)
        zone_text = "the root zone" if zone == "." else zone
        return _one_line(
            f"referral to {shown} ({zone_text}): the server is not authoritative for {name}"
        )
    return _one_line(
        f"empty answer without the AA flag: the server is not authoritative for {name}"
    )


@dataclass
class _Chain:
    final: dns.rrset.RRset | None
    links: list[dns.name.Name]
    ttls: list[int]
    problem: str | None


def _follow(message: dns.message.Message, qname: dns.name.Name, rdtype: RdataType) -> _Chain:
    """Walk CNAMEs in the answer section from qname to an RRset of `rdtype`."""
    name = qname
    seen = {qname}
    chain = _Chain(None, [], [], None)
    while True:
        chain.final = _find(message.answer, name, rdtype)
        if chain.final is not None or rdtype == RdataType.CNAME:
            return chain
        cname = _find(message.answer, name, RdataType.CNAME)
        if cname is None:
            return chain
        targets = [rdata.target for rdata in cname if isinstance(rdata, NSBase)]
        if len(targets) != 1:
            chain.problem = f"{normalize_name(name)} has {len(targets)} CNAME records, not one"
            return chain
        target = targets[0]
        if target in seen:
            chain.problem = f"CNAME loop: {normalize_name(target)} points back into its own chain"
            return chain
        if len(chain.links) >= MAX_CNAME_LINKS:
            chain.problem = f"CNAME chain longer than {MAX_CNAME_LINKS} links"
            return chain
        seen.add(target)
        chain.links.append(target)
        chain.ttls.append(cname.ttl)
        name = target


def _extended_errors(message: dns.message.Message) -> tuple[ExtendedError, ...]:
    """The reply's EDE options, at most MAX_EDE, each text cut to EDE_TEXT_CHARS."""
    try:
        options = message.extended_errors()
    except (AttributeError, ValueError, UnicodeError):  # a hostile OPT record
        return ()
    return tuple(
        (int(option.code), cap_text(option.text or "", EDE_TEXT_CHARS)[0])
        for option in options[:MAX_EDE]
    )


def _reason(
    outcome: Outcome,
    rcode_text: str,
    name: str,
    rdtype_text: str,
    ede: tuple[ExtendedError, ...] = (),
) -> str | None:
    if outcome is Outcome.ANSWER:
        return None
    if outcome is Outcome.NODATA:
        return f"{name} exists but has no {rdtype_text} records (NODATA)"
    if outcome is Outcome.NXDOMAIN:
        return f"{name} does not exist (NXDOMAIN)"
    if outcome is Outcome.CHAIN_ONLY:
        return _one_line(
            f"CNAME to {name}, served elsewhere: this server gives no {rdtype_text} records there"
        )
    dnssec = dnssec_failure(ede)
    if outcome is Outcome.SERVFAIL and dnssec is not None:
        return _one_line(f"DNSSEC validation failed (SERVFAIL, {ede_label(dnssec)})")
    if outcome is Outcome.SERVFAIL and ede:
        return _one_line(f"the server could not get an answer (SERVFAIL, {ede_label(ede[0])})")
    if outcome is Outcome.SERVFAIL:
        return "the server could not get an answer (SERVFAIL): its source is down, lame or broken"
    suffix = f" ({ede_label(ede[0])})" if ede else ""
    if outcome is Outcome.REFUSED:
        return _one_line(f"the server refused to answer this question (REFUSED){suffix}")
    return _one_line(f"the server answered {rcode_text}{suffix}")


_RCODE_OUTCOMES = {
    dns.rcode.NXDOMAIN: Outcome.NXDOMAIN,
    dns.rcode.SERVFAIL: Outcome.SERVFAIL,
    dns.rcode.REFUSED: Outcome.REFUSED,
}


def _observe_reply(
    reply: _Reply, asked: _Asked, qname: dns.name.Name, rdtype: RdataType
) -> Observation:
    return observe_message(
        reply.message,
        asked.server_name,
        asked.server,
        (asked.qname, asked.rdtype, qname, rdtype),
        latency_ms=reply.latency_ms,
        over_tcp=reply.over_tcp,
        observed_at=datetime.now(UTC),
        asked_as_authoritative=not asked.recursion_desired,
    )


def observe_message(
    message: dns.message.Message,
    server_name: str,
    server: str,
    question: tuple[str, str, dns.name.Name, RdataType],
    *,
    latency_ms: float | None,
    over_tcp: bool,
    observed_at: datetime,
    asked_as_authoritative: bool = False,
) -> Observation:
    """What one reply says about one question, as an Observation (see the module docstring):
    CNAMEs followed, the outcome, the TTLs, the reason. `question` is (qname as shown, type as
    shown, qname, type); `asked_as_authoritative` when it went out with recursion off, to a
    server that should hold the zone. Also used for replies read back from dig's text
    (cockpit.vantage), so a record seen from elsewhere compares equal to the same record seen
    from here."""
    asked_qname, asked_rdtype, qname, rdtype = question
    rcode = message.rcode()
    rcode_text = dns.rcode.to_text(rcode)
    raw, raw_capped = raw_lines(message.answer)
    soa = _soa_in(message.answer) or _soa_in(message.authority)
    chain = _follow(message, qname, rdtype)
    answers: tuple[str, ...] = ()
    capped = raw_capped
    final_ttl: int | None = None
    authoritative = bool(message.flags & dns.flags.AA)
    last_name = chain.links[-1] if chain.links else qname
    not_authoritative: str | None = None
    if chain.problem is not None:
        outcome = Outcome.MALFORMED
    elif rcode == dns.rcode.NOERROR and chain.final is not None:
        outcome = Outcome.ANSWER
    elif (
        rcode == dns.rcode.NOERROR
        and chain.links
        and not _vouches_for(message.authority, chain.links[-1])
    ):
        # Only the CNAMEs: the last name is in a zone this server does not hold (or does
        # not say it holds); reading that as "no records" would be a false absence.
        outcome = Outcome.CHAIN_ONLY
    elif (
        rcode == dns.rcode.NOERROR
        and not authoritative
        and (asked_as_authoritative or not _vouches_for(message.authority, last_name))
    ):
        # No records and nobody vouching for the name's zone: a referral (or a server that
        # answers for a zone it does not hold). Reading it as "no records" is a false absence.
        outcome = Outcome.REFERRAL
        not_authoritative = _referral_reason(message.authority, normalize_name(last_name))
    elif rcode == dns.rcode.NOERROR:
        outcome = Outcome.NODATA
    else:
        outcome = _RCODE_OUTCOMES.get(rcode, Outcome.OTHER_RCODE)
    if outcome is Outcome.ANSWER and chain.final is not None:
        answers, answers_capped = normalize_records(rdtype, chain.final)
        capped = capped or answers_capped
        final_ttl = chain.final.ttl
    elif outcome in (Outcome.NODATA, Outcome.NXDOMAIN) and soa is not None:
        # RFC 2308: caches keep a negative answer min(SOA TTL, SOA minimum); a resolver's
        # reply shows what it has left in the SOA's own TTL (see the module docstring).
        final_ttl = min(soa[0], soa[1].minimum) if authoritative else soa[0]
    ttl = None if final_ttl is None else min([final_ttl, *chain.ttls])
    ede = _extended_errors(message)
    final_name = normalize_name(last_name)
    error = (
        chain.problem
        or not_authoritative
        or _reason(outcome, rcode_text, final_name, asked_rdtype, ede)
    )
    return Observation(
        server_name=server_name,
        server=server,
        qname=asked_qname,
        rdtype=asked_rdtype,
        outcome=outcome,
        rcode=rcode_text,
        answers=answers,
        raw_answers=raw,
        ttl=ttl,
        cname_chain=tuple(normalize_name(link) for link in chain.links),
        latency_ms=latency_ms,
        observed_at=observed_at,
        error=error,
        truncated_retry=over_tcp,
        authoritative_answer=authoritative,
        soa_serial=None if soa is None else int(soa[1].serial),
        answers_capped=capped,
        cname_ttls=tuple(chain.ttls),
        final_ttl=final_ttl,
        ede=ede,
    )


def _no_reply(asked: _Asked, outcome: Outcome, error: str, attempts: int = 1) -> Observation:
    return no_answer(
        asked.server_name,
        asked.server,
        asked.qname,
        asked.rdtype,
        outcome,
        error,
        datetime.now(UTC),
        attempts=attempts,
    )


async def query(
    server: ServerSpec | tuple[str, int],
    qname: str,
    rdtype: str,
    *,
    timeout: float,
    server_name: str = "",
    retries: int = 1,
    recursion_desired: bool = True,
) -> Observation:
    """Ask `server` (an IP and port, never a name) for `qname`/`rdtype`; see the module doc."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    retries = max(0, retries)
    given_qname = _one_line(qname.strip().lower().rstrip(".")) or "."
    given_rdtype = _one_line(rdtype.strip().upper())
    try:
        spec = _as_spec(server)
    except (TypeError, ValueError) as error:
        shown = _one_line(str(server))
        asked = _Asked(server_name or shown, shown, given_qname, given_rdtype)
        return _no_reply(asked, Outcome.NETWORK_ERROR, _one_line(f"not a server address: {error}"))
    name_shown = server_name or spec.name or spec.address
    try:
        if not qname.strip():
            raise ValueError("empty name")
        name = dns.name.from_text(qname.strip())  # relative to the root: absolute, no search list
        rdtype_value = RdataType.make(rdtype.strip().upper())
    except (dns.exception.DNSException, ValueError) as error:
        asked = _Asked(name_shown, spec.address, given_qname, given_rdtype)
        reason = _one_line(f"cannot ask for {qname!r} {rdtype!r}: {error}")
        return _no_reply(asked, Outcome.MALFORMED, reason)
    asked = _Asked(
        name_shown,
        spec.address,
        normalize_name(name),
        RdataType.to_text(rdtype_value),
        recursion_desired,
    )

    def attempt(index: int, seconds_left: float) -> Awaitable[_Reply | _Failure]:
        # A fresh message (a new ID) on a new socket: a late reply to the first attempt is
        # still heard on its own socket, and the two are never mistaken for each other.
        request = dns.message.make_query(name, rdtype_value, use_edns=0, payload=EDNS_PAYLOAD)
        if not recursion_desired:
            request.flags &= ~dns.flags.RD
        return _attempt(request, spec, seconds_left)

    outcome = await race(attempt, count=1 + retries, budget=timeout, final=_is_final)
    if isinstance(outcome.winner, _Reply):
        observation = _observe_reply(outcome.winner, asked, name, rdtype_value)
        if outcome.started == 1:
            return observation
        return replace(observation, attempts=outcome.started)
    failure = outcome.winner or outcome.last_to_end()
    if not isinstance(failure, _Failure):  # every attempt outlived the budget's backstop
        failure = _Failure(Outcome.TIMEOUT, f"no reply from {spec.address}", retry=True)
    reason = failure.reason
    if failure.outcome is Outcome.TIMEOUT:
        reason = f"{reason} within {timeout:g} s"
    if outcome.started > 1:
        reason = f"{reason} ({outcome.started} attempts)"
    return _no_reply(asked, failure.outcome, _one_line(reason), outcome.started)


def _is_final(result: _Reply | _Failure) -> bool:
    """A reply of any kind ends the question; so does a failure no retry can mend."""
    return isinstance(result, _Reply) or not result.retry


async def _attempt(
    request: dns.message.Message, spec: ServerSpec, timeout: float
) -> _Reply | _Failure:
    try:
        return await _exchange(request, spec, timeout)
    except _Failure as failure:
        return failure


async def query_many(jobs: Sequence[QueryJob], *, limit: int) -> list[Observation]:
    """Run `jobs` with at most `limit` in flight; results in job order.

    Each job keeps its own timeout, so a dead server costs only its own job's time (and, when
    more jobs than `limit` wait, the slot it holds meanwhile).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    gate = asyncio.Semaphore(limit)

    async def run(job: QueryJob) -> Observation:
        async with gate:
            return await query(
                job.server,
                job.qname,
                job.rdtype,
                timeout=job.timeout,
                server_name=job.server_name,
                retries=job.retries,
                recursion_desired=job.recursion_desired,
            )

    return list(await asyncio.gather(*(run(job) for job in jobs)))
