"""What one resolver answered to one question, as plain frozen values.

An Observation is a fact, never a judgement: "lab-r2 said NXDOMAIN for mx.example.com/A at
12:03:04Z, negative TTL 30 s". Classifying it (stale, propagated, broken) is the caller's job.
Every way a question can end is an Outcome, so a failure to observe is never mistaken for an
answer: NXDOMAIN, NODATA, REFERRAL, SERVFAIL, REFUSED and TIMEOUT are all distinct.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from cockpit.compat import StrEnum


class Outcome(StrEnum):
    """How a question ended."""

    ANSWER = "answer"
    """NOERROR with records of the requested type (after following CNAMEs in the answer)."""
    NODATA = "nodata"
    """NOERROR, but no records of that type: the name exists without them."""
    CHAIN_ONLY = "chain_only"
    """NOERROR carrying only a CNAME chain that leaves what the server serves (an authoritative
    asked without recursion): no records of the type and no SOA of a zone holding the last name.
    The server vouches for the CNAMEs (`cname_chain`, `cname_ttls`), not for what the last
    name holds: that is served elsewhere. Never NODATA, which would be a false absence."""
    REFERRAL = "referral"
    """NOERROR with no records, no AA flag and no SOA of a zone holding the name: a referral
    (NS records of a zone below or above in the authority section: a delegation, or a lame or
    non-recursing server), or an empty answer the server does not vouch for. Also any empty
    NOERROR without AA from a server asked as an authoritative (recursion off). The server is
    not authoritative for the name: it said nothing about its records. Never NODATA, which
    would be a false absence."""
    NXDOMAIN = "nxdomain"
    """The name does not exist (possibly at the end of a CNAME chain)."""
    SERVFAIL = "servfail"
    """The resolver could not get an answer (authoritative down or lame, CNAME loop, ...)."""
    REFUSED = "refused"
    """The server will not answer this question for us."""
    OTHER_RCODE = "other_rcode"
    """Any other response code (FORMERR, NOTIMP, ...); `rcode` names it."""
    TIMEOUT = "timeout"
    """No reply within the timeout, retry included."""
    NETWORK_ERROR = "network_error"
    """The server could not be reached (connection refused, no route, bad address)."""
    MALFORMED = "malformed"
    """A reply we cannot trust or use (unparsable, mismatched, CNAME loop or chain too long),
    or a question that cannot be asked (invalid name or type)."""
    UNOBSERVED = "unobserved"
    """Nothing to report: a prober elsewhere has no fresh result for this question (its
    series is missing, stale or was not scraped). Only a vantage gives it (cockpit.vantage)."""

    @property
    def is_reply(self) -> bool:
        """True when the server replied with an rcode (even a failure rcode)."""
        return self not in (
            Outcome.TIMEOUT,
            Outcome.NETWORK_ERROR,
            Outcome.MALFORMED,
            Outcome.UNOBSERVED,
        )


NO_VERDICT_OUTCOMES = frozenset(
    {
        Outcome.TIMEOUT,
        Outcome.SERVFAIL,
        Outcome.REFUSED,
        Outcome.OTHER_RCODE,
        Outcome.NETWORK_ERROR,
        Outcome.MALFORMED,
        Outcome.CHAIN_ONLY,
        Outcome.REFERRAL,
        Outcome.UNOBSERVED,
    }
)
"""Outcomes that settle nothing about the records asked for: a check reports `unknown`, never
ok or fail (CHAIN_ONLY: the records are at a CNAME target this server does not serve;
REFERRAL: the server is not authoritative for the name)."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One DNS server to ask directly, by IP address (never by name) and port."""

    name: str
    ip: str
    port: int = 53

    def __post_init__(self) -> None:
        # Canonical text, so "::1" and "0:0::1" are the same server; raises ValueError if not an IP.
        object.__setattr__(self, "ip", ipaddress.ip_address(self.ip.strip()).compressed)
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not between 1 and 65535")

    @property
    def address(self) -> str:
        """ "IP:PORT", with brackets for IPv6 ("[::1]:53")."""
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class Observation:
    """One resolver's reply (or lack of one) to one question, at one moment."""

    server_name: str
    """The resolver's configured name (its address when it has none)."""
    server: str
    """"IP:PORT" as asked."""
    qname: str
    """The question name, absolute, lower-case, without the trailing dot."""
    rdtype: str
    """The question type as text ("MX")."""
    outcome: Outcome
    rcode: str | None
    """The response code as text ("NOERROR", "NXDOMAIN"); None when there was no usable reply."""
    answers: tuple[str, ...]
    """Records of the requested type, normalised for comparison (see normalize.py), sorted."""
    raw_answers: tuple[str, ...]
    """The answer section as received, one RR per line, capped in count and length."""
    ttl: int | None
    """How long this exact answer (every CNAME link and the final part) may be served
    unchanged: the lowest of `cname_ttls` and `final_ttl`, so never longer than it may last.
    How long a stale part can last is another question, answered per link: see `final_ttl`,
    `cname_ttls` and propagation.stale_ttl. None when there is no answer or no negative TTL."""
    cname_chain: tuple[str, ...]
    """CNAME targets followed from qname, in order (normalised names)."""
    latency_ms: float | None
    """Time for the attempt that got the reply (UDP plus any TCP retry); None without a reply."""
    observed_at: datetime
    """When the reply (or the final failure) came, UTC-aware."""
    error: str | None
    """One line a commander understands, for every outcome but ANSWER."""
    truncated_retry: bool = False
    """The UDP reply had TC set and the answer came over TCP."""
    authoritative_answer: bool = False
    """The AA flag was set."""
    soa_serial: int | None = None
    """The serial of an SOA in the answer or authority section."""
    answers_capped: bool = False
    """More records came than are kept (see normalize.MAX_RECORDS), or one was cut short."""
    attempts: int = 1
    """How many questions went out before it ended: 1, or 2 when the retry was sent (at half
    the timeout without a reply, or at once after a network error); see query.py."""
    cname_ttls: tuple[int, ...] = ()
    """The TTL of each CNAME link, in chain order: cname_ttls[i] is the CNAME record whose
    target is cname_chain[i] (the first is qname's own CNAME). A resolver reports what it has
    left of each; a resolver keeps following a cached CNAME (fetching its old target again)
    until that CNAME itself expires, whatever the TTLs further down."""
    final_ttl: int | None = None
    """The TTL of the last link: the answer RRset (ANSWER), or the negative TTL (NXDOMAIN,
    NODATA) when the SOA came with it. From an authoritative server (AA set) the negative TTL
    is min(SOA TTL, SOA minimum) (RFC 2308 section 5); from a resolver it is the SOA record's
    own TTL, which is what that resolver has left (it counts down, and can exceed the SOA
    minimum where the resolver floors TTLs: unbound's cache-min-ttl does that to negative
    answers). None otherwise (or from an Observation built without it: then `ttl` stands in)."""
    ede: tuple[tuple[int, str], ...] = ()
    """Extended DNS errors (RFC 8914) in the reply, as (info-code, extra text) in reply order;
    the text is the server's ("" when it sent none), cut to a bounded length and otherwise
    kept verbatim (line breaks too: reasons show them as escapes). Untrusted: a display must
    clean it. See ede.py for which codes mean what."""

    region_seen: str | None = None
    """Set when the records were not seen here but judged by a prober elsewhere (a Prometheus
    blackbox_exporter DNS module that checks every record against one region's targets,
    cockpit.vantage.blackbox): the region whose targets the answer matched, or "" when it
    matched no single region's. `answers` is then empty: the records themselves were not
    seen. None for every observation made by asking a server."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ANSWER

    @property
    def reason(self) -> str:
        """Why there is no answer: the error line, else the outcome's value."""
        return self.error or self.outcome.value


def no_answer(
    server_name: str,
    server: str,
    qname: str,
    rdtype: str,
    outcome: Outcome,
    error: str,
    observed_at: datetime,
    *,
    attempts: int = 1,
) -> Observation:
    """An observation with no reply to read (a timeout, a network error, a question that could
    not be asked, or a vantage that saw nothing): every answer field empty, `error` says why."""
    return Observation(
        server_name=server_name,
        server=server,
        qname=qname,
        rdtype=rdtype,
        outcome=outcome,
        rcode=None,
        answers=(),
        raw_answers=(),
        ttl=None,
        cname_chain=(),
        latency_ms=None,
        observed_at=observed_at,
        error=error,
        attempts=attempts,
    )
