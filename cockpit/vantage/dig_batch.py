"""The dig batch one resolver is asked over ssh, and dig's output read back (pure, no I/O).

    batch = plan_batch(ServerSpec("lab-r1 @ office", "10.1.0.53"), watched, time_s=2)
    batch.stdin   # b"@10.1.0.53 -p 53 -t MX -q example.com. +time=2 +tries=1\\n..."
    observations = read_batch(output, batch, at=now)   # one Observation per question, in order

Every config value travels as data on dig's standard input (`dig ... -f -`, DIG_COMMAND), never
on a command line a shell reads. A question whose name or type could be read as something else
(whitespace, control characters, a leading "-", not a DNS name) is refused here and never sent:
dig aborts the whole batch at the first bad option. Names go absolute ("example.com.") after
`-q`, so dig neither reads them as a type or a class nor tries a search list.

What dig 9.18 prints for each question (verified with bind9-dnsutils 9.18 on Debian 12):

    ;; communications error to 10.1.0.53#53: timed out   <- a failure comes BEFORE its echo
    ; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> @10.1.0.53 -p 53 -t MX -q example.com. ...
    ;; no servers could be reached                          <- ... and ends the block
or
    ; <<>> DiG ... <<>> @10.1.0.53 -p 53 -t A -q www.example.com. +time=2 +tries=1
    ;; Got answer:
    ;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 42556
    ;; flags: qr rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1
    ;; OPT PSEUDOSECTION:   (; EDNS: ..., ; EDE: 22 (No Reachable Authority): (text))
    ;; ANSWER SECTION:
    www.example.com.  26  IN  CNAME  web.example.com.
    web.example.com.  26  IN  A      192.0.2.80
    ;; AUTHORITY SECTION:   (the SOA of a negative answer: its negative TTL)
    ;; Query time: 0 msec
    ;; SERVER: 10.1.0.53#53(10.1.0.53) (UDP)

Each block is matched to its question by the echoed question line (+cmd), so a missing or
extra block never shifts answers onto the wrong question. A block is read into an Observation
with the conventions of cockpit.dns.query (CNAMEs followed in the answer, cname_ttls,
final_ttl, negative TTL from the SOA, CHAIN_ONLY, reasons) and records are normalised by
cockpit.dns.normalize, so the same record seen locally and remotely compares equal.

The output is untrusted (a remote host, a fake dig): lines, line length, blocks and records
are bounded; anything unreadable is MALFORMED with a one-line, cleaned reason quoting at most
a short piece of it; a question without a readable block is a failure, never an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from cockpit.dns.ede import EDE_TEXT_CHARS, MAX_EDE, ExtendedError
from cockpit.dns.normalize import MAX_RECORDS, cap_text
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.query import observe_message
from cockpit.dns.watch import WatchedName
from cockpit.safe_text import clean
from cockpit.vantage.model import failed_observation

DIG_COMMAND = (
    "dig", "+noall", "+cmd", "+comments", "+answer", "+authority", "+ttlid", "+stats", "-f", "-",
)  # fmt: skip
"""The remote command: constant tokens only (the remote shell reads them)."""
MAX_LINES = 100_000
MAX_LINE_CHARS = 16 * 1024
"""A record line longer than this is cut and makes its question MALFORMED (a TXT record of
64 KiB is legal but no mail record comes near it)."""
MAX_RECORD_LINES = MAX_RECORDS + 64
"""Records read per block, answer and authority together; more are dropped (answers_capped)."""
MAX_CNAME_LINKS = 8
_REASON_CHARS = 200
_QUOTE_CHARS = 80
_ECHO = re.compile(r"; <<>> DiG \S+ <<>> (.*)")
_STATUS = re.compile(r";; ->>HEADER<<- opcode: (\S+), status: ([A-Za-z0-9]+), id: \d+")
_FLAGS = re.compile(r";; flags:([a-z ]*);")
_EDE = re.compile(r"; EDE: (\d{1,5})(?: \([^)]*\))?(?:: \((.*)\))?")
_QUERY_TIME = re.compile(r";; Query time: (\d{1,9}) msec")
_TYPE = re.compile(r"[A-Z][A-Z0-9]{0,15}")
_SECTIONS = {
    ";; ANSWER SECTION:": "answer",
    ";; AUTHORITY SECTION:": "authority",
    ";; ADDITIONAL SECTION:": "other",
    ";; QUESTION SECTION:": "other",
    ";; OPT PSEUDOSECTION:": "opt",
}
RdataType = dns.rdatatype.RdataType


def _one_line(text: str) -> str:
    return cap_text(" ".join(clean(text).split()), _REASON_CHARS)[0]


def _printable(line: str) -> bool:
    """dig escapes every byte of data that is not printable ASCII (as \\DDD)."""
    return line.isascii() and line.replace("\t", " ").isprintable()


def _quote(text: str) -> str:
    """A short, cleaned piece of remote text for a reason."""
    return repr(cap_text(clean(text), _QUOTE_CHARS)[0])


@dataclass(frozen=True, slots=True)
class Batch:
    """Every question for one resolver, as one dig process is asked them."""

    server: ServerSpec
    """name: the row's name; ip and port: the resolver as asked from the vantage."""
    questions: tuple[WatchedName, ...]
    lines: tuple[str | None, ...]
    """The batch line of each question; None when it was refused (see `refusals`)."""
    refusals: tuple[str | None, ...]
    time_s: int
    """dig's +time: seconds one question may wait for its reply."""

    @property
    def stdin(self) -> bytes:
        """dig's standard input: one line per question sent."""
        return "".join(f"{line}\n" for line in self.lines if line is not None).encode("ascii")

    @property
    def sent(self) -> int:
        return sum(line is not None for line in self.lines)


def question_refusal(name: str, rdtype: str) -> str | None:
    """Why (name, type) must not be sent to dig, or None when it may."""
    if not _TYPE.fullmatch(rdtype):
        return f"cannot ask for type {_quote(rdtype)}: not a record type"
    try:
        RdataType.from_text(rdtype)
    except dns.exception.DNSException:
        return f"cannot ask for type {_quote(rdtype)}: not a record type"
    if not name or len(name) > 254 or not name.isascii() or not name.isprintable():
        return f"cannot ask for {_quote(name)}: not a printable DNS name"
    if any(char.isspace() for char in name) or name.startswith(("-", "+", "@")):
        return f"cannot ask for {_quote(name)}: it would not reach dig as one name"
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as error:
        return f"cannot ask for {_quote(name)}: {_one_line(str(error))}"
    return None


def plan_batch(server: ServerSpec, questions: Sequence[WatchedName], time_s: int) -> Batch:
    """The batch for one resolver: `@IP -p PORT -t TYPE -q NAME. +time=N +tries=1` each."""
    time_s = max(1, int(time_s))
    lines: list[str | None] = []
    refusals: list[str | None] = []
    for question in questions:
        refusal = question_refusal(question.name, question.rdtype)
        refusals.append(refusal)
        if refusal is not None:
            lines.append(None)
            continue
        absolute = question.name if question.name.endswith(".") else question.name + "."
        lines.append(
            f"@{server.ip} -p {server.port} -t {question.rdtype} -q {absolute}"
            f" +time={time_s} +tries=1"
        )
    return Batch(server, tuple(questions), tuple(lines), tuple(refusals), time_s)


@dataclass
class _Block:
    """What dig printed for one question."""

    echo: str
    errors: list[str] = field(default_factory=list)
    rcode: str | None = None
    flags: frozenset[str] = frozenset()
    records: dict[str, list[str]] = field(default_factory=lambda: {"answer": [], "authority": []})
    section: str = "none"
    ede: list[ExtendedError] = field(default_factory=list)
    latency_ms: float | None = None
    over_tcp: bool = False
    no_servers: bool = False
    records_cut: bool = False
    problem: str | None = None

    @property
    def ended(self) -> bool:
        return self.rcode is not None or self.no_servers

    def take(self, line: str) -> None:
        """One line of this block (after its echo)."""
        if not line:
            return
        if line.startswith(";"):
            self._comment(line)
        elif self.section in ("answer", "authority"):
            if not _printable(line) and self.problem is None:
                self.problem = f"unprintable characters in a record from dig: {_quote(line)}"
            elif sum(map(len, self.records.values())) >= MAX_RECORD_LINES:
                self.records_cut = True
            else:
                self.records[self.section].append(line)
        elif self.problem is None:
            self.problem = f"unexpected line in dig's output: {_quote(line)}"

    def _comment(self, line: str) -> None:
        if line in _SECTIONS:
            self.section = _SECTIONS[line]
        elif match := _STATUS.match(line):
            self.rcode = match.group(2).upper()
        elif match := _FLAGS.match(line):
            self.flags = frozenset(match.group(1).split())
        elif (match := _EDE.match(line)) and len(self.ede) < MAX_EDE and int(match[1]) < 65536:
            text = cap_text(match.group(2) or "", EDE_TEXT_CHARS)[0]
            self.ede.append((int(match.group(1)), text))
        elif match := _QUERY_TIME.match(line):
            self.latency_ms = float(match.group(1))
        elif line.startswith(";; SERVER:"):
            self.over_tcp = line.rstrip().endswith("(TCP)")
        elif line.startswith(";; Truncated"):
            self.over_tcp = True
        elif "no servers could be reached" in line:
            self.no_servers = True
            self.errors.append(line)
        elif line.startswith(";; communications error") and len(self.errors) < 4:
            self.errors.append(line)


@dataclass
class _Reading:
    blocks: list[_Block] = field(default_factory=list)
    pending_errors: list[str] = field(default_factory=list)
    stray: str | None = None
    """The first line that belongs to no block, quoted, for the reasons of missing blocks."""
    lines_cut: bool = False


def _split(text: str) -> _Reading:
    """dig's output as blocks, one per echoed question line (bounded)."""
    reading = _Reading()
    for count, raw in enumerate(text.splitlines()):
        if count >= MAX_LINES:
            reading.lines_cut = True
            break
        line = raw.strip()
        block = reading.blocks[-1] if reading.blocks else None
        if len(line) > MAX_LINE_CHARS:
            if block is not None and block.problem is None:
                block.problem = f"a line of dig's output is longer than {MAX_LINE_CHARS} chars"
            continue
        if match := _ECHO.fullmatch(line):
            block = _Block(" ".join(match.group(1).split()), errors=reading.pending_errors[:4])
            reading.blocks.append(block)
            reading.pending_errors = []
        elif line.startswith(";; communications error") and (block is None or block.ended):
            reading.pending_errors.append(line)  # dig prints it before the echo of its block
        elif block is not None:
            block.take(line)
        elif line and reading.stray is None and not line.startswith(";"):
            reading.stray = _quote(line)
    return reading


def _match_blocks(batch: Batch, blocks: Sequence[_Block]) -> list[_Block | None]:
    """The block of each question (None: none came), matched by the echoed line, in order."""
    index_of = {
        " ".join(line.split()): index for index, line in enumerate(batch.lines) if line is not None
    }
    found: list[_Block | None] = [None] * len(batch.questions)
    next_index = 0
    for block in blocks:
        index = index_of.get(block.echo)
        if index is None or index < next_index:
            continue  # not one of ours, or a repeat: never shifts an answer onto a question
        found[index] = block
        next_index = index + 1
    return found


def read_batch(
    output: bytes | str,
    batch: Batch,
    *,
    at: datetime,
    missing: tuple[Outcome, str] | None = None,
) -> tuple[Observation, ...]:
    """One Observation per question of `batch`, in order, from dig's output.

    `missing`: the outcome and reason of a question dig printed nothing for (dig was stopped,
    exited early); by default MALFORMED, "dig's output has no answer to this question".
    """
    text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output
    reading = _split(text)
    blocks = _match_blocks(batch, reading.blocks)
    if missing is None:
        reason = "dig's output has no answer to this question"
        if reading.stray is not None:
            reason = f"{reason} (it printed {reading.stray})"
        missing = (Outcome.MALFORMED, reason)
    observations = []
    for question, block, refusal in zip(batch.questions, blocks, batch.refusals, strict=True):
        if refusal is not None:
            observations.append(_failed(batch, question, Outcome.MALFORMED, refusal, at))
        elif block is None:
            observations.append(_failed(batch, question, missing[0], _one_line(missing[1]), at))
        else:
            observations.append(_observe(batch, question, block, at))
    return tuple(observations)


def _failed(
    batch: Batch, question: WatchedName, outcome: Outcome, reason: str, at: datetime
) -> Observation:
    return failed_observation(
        batch.server.name, batch.server.address, question, outcome, reason, at
    )


def _no_reply(batch: Batch, question: WatchedName, block: _Block, at: datetime) -> Observation:
    """A block without a reply: dig's own words say why."""
    said = " ".join(block.errors).lower()
    address = batch.server.address
    if "timed out" in said:
        outcome, reason = Outcome.TIMEOUT, f"no reply from {address} within {batch.time_s} s"
    elif "refused" in said:
        outcome = Outcome.NETWORK_ERROR
        reason = f"cannot reach {address}: connection refused (nothing listens there)"
    elif block.errors and block.errors[0].startswith(";; communications error"):
        detail = block.errors[0].rsplit(":", 1)[-1]
        outcome, reason = Outcome.NETWORK_ERROR, f"cannot reach {address}: {_one_line(detail)}"
    elif block.no_servers:
        outcome, reason = Outcome.NETWORK_ERROR, f"cannot reach {address} (no servers reached)"
    else:
        outcome, reason = Outcome.TIMEOUT, f"dig stopped before {address} replied"
    return _failed(batch, question, outcome, reason, at)


class _Unreadable(Exception):
    """A record line dnspython cannot read."""


def _rrsets(lines: Sequence[str]) -> list[dns.rrset.RRset]:
    """Record lines ("owner ttl class type rdata") as RRsets, merged like a parsed message."""
    found: dict[tuple[dns.name.Name, int, int], dns.rrset.RRset] = {}
    for line in lines:
        parts = line.split(None, 4)
        try:
            if len(parts) != 5:
                raise ValueError("expected owner, TTL, class, type and data")
            owner = dns.name.from_text(parts[0])
            ttl = int(parts[1])
            if not 0 <= ttl < 2**31:
                raise ValueError("TTL out of range")
            rdclass = dns.rdataclass.from_text(parts[2])
            rdtype = RdataType.from_text(parts[3])
            rdata = dns.rdata.from_text(
                rdclass, rdtype, parts[4], origin=dns.name.root, relativize=False
            )
        except (dns.exception.DNSException, ValueError, KeyError, IndexError) as error:
            detail = _one_line(str(error))
            raise _Unreadable(f"unreadable record {_quote(line)}: {detail}") from None
        rrset = found.setdefault((owner, rdclass, rdtype), dns.rrset.RRset(owner, rdclass, rdtype))
        rrset.add(rdata, ttl)
    return list(found.values())


def _observe(batch: Batch, question: WatchedName, block: _Block, at: datetime) -> Observation:
    if block.rcode is None:
        return _no_reply(batch, question, block, at)
    if block.problem is not None:
        return _failed(batch, question, Outcome.MALFORMED, _one_line(block.problem), at)
    try:
        rcode = dns.rcode.from_text(block.rcode)
        answer = _rrsets(block.records["answer"])
        authority = _rrsets(block.records["authority"])
        qname = dns.name.from_text(question.name)
        rdtype = RdataType.from_text(question.rdtype)
    except _Unreadable as error:
        return _failed(batch, question, Outcome.MALFORMED, str(error), at)
    except dns.exception.DNSException:
        reason = f"dig reported an unknown status {_quote(block.rcode)}"
        return _failed(batch, question, Outcome.MALFORMED, reason, at)
    return _observation(batch, question, block, at, (rcode, qname, rdtype, answer, authority))


def _observation(
    batch: Batch,
    question: WatchedName,
    block: _Block,
    at: datetime,
    parsed: tuple[int, dns.name.Name, int, list[dns.rrset.RRset], list[dns.rrset.RRset]],
) -> Observation:
    """The reply dig printed, rebuilt as a message and read exactly as a local query's reply
    (cockpit.dns.query.observe_message), so the same record compares equal from both."""
    rcode, qname, rdtype, answer, authority = parsed
    message = dns.message.Message()
    message.set_rcode(rcode)
    if "aa" in block.flags:
        message.flags |= dns.flags.AA
    message.answer = answer
    message.authority = authority
    if block.ede:
        message.use_edns(
            0, options=[dns.edns.EDEOption(code, text or None) for code, text in block.ede]
        )
    seen = observe_message(
        message,
        batch.server.name,
        batch.server.address,
        (question.name, question.rdtype, qname, RdataType(rdtype)),
        latency_ms=block.latency_ms,
        over_tcp=block.over_tcp,
        observed_at=at,
    )
    if block.records_cut and not seen.answers_capped:
        seen = replace(seen, answers_capped=True)
    return seen
