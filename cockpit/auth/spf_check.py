"""SPF check_host (RFC 7208) for every sending IP of a region, asked through our DNS layer.

pyspf (pinned, see the project's dependencies) evaluates the record; every DNS question it asks
goes through an `Asker`, so SPF sees the same server, timeouts and failure states as the rest of
the cockpit, and a lookup that could not be made is a temperror, never a silent "none".

Routing pyspf's lookups. pyspf 2.0.14 has no per-query hook: `spf.query.dns` calls the module
global `spf.DNSLookup(name, qtype, strict, timeout)` for every question. Swapping that global for
each evaluation would race between threads. Instead a dispatcher is installed once (under a
lock) and the dispatcher reads the lookup of the *calling thread* from a `threading.local`: an
evaluation sets its lookup for its own duration, in its own worker thread (`routed_through`).
Threads that set none get pyspf's original lookup, so other users of pyspf are unaffected.

pyspf is blocking, so each evaluation runs in a worker thread (`asyncio.to_thread`) and asks
with `Asker.ask_blocking`, which hands the question back to the event loop: a slow resolver
never blocks the loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import spf  # type: ignore[import-untyped]  # pyspf ships no type hints

from cockpit.auth.asker import Asker
from cockpit.auth.spf_walk import spf_lookups_finding
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding, Status
from cockpit.safe_text import clean

AREA = "auth"
CHECK = "spf"

Ask = Callable[[str, str], Observation]
"""Ask one question (name, record type) and wait for the Observation; from a worker thread."""

LookupAnswer = list[tuple[tuple[str, str], Any]]
"""What `spf.DNSLookup` returns: ((name, type), data) per record."""

TIME_BUDGET = 20.0
"""Seconds one check_host may spend asking before it gives up with temperror (RFC 7208 4.6.4
suggests at least 20 s); each question is also bounded by the Asker's timeout."""

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
"""Every RFC 7208 result check_host can give."""

_EMPTY_OUTCOMES = frozenset({Outcome.NODATA, Outcome.NXDOMAIN})


class DnsLookupAdapter:
    """A stand-in for `spf.DNSLookup` that asks through `ask` and converts Observations.

    Data is shaped as pyspf's own dnspython lookup shapes it: A/AAAA the address text, MX
    (preference, host), PTR the host, TXT/SPF a list of bytes strings (our layer has already
    joined a record's strings, so one string per record; text that was not UTF-8 comes back as
    the layer's "\\xNN" escapes). Answers are given under the name asked (CNAMEs are already
    followed by the resolver). NODATA and NXDOMAIN are no records. A CNAME chain that loops or
    is too long is no records too (the same as pyspf's own loop handling: the name is skipped).
    Anything else (timeout, SERVFAIL, REFUSED, network error, an unusable reply) raises
    `spf.TempError`, so the result is temperror.
    """

    def __init__(self, ask: Ask, time_budget: float | None = None):
        self._ask = ask
        self._deadline = None if time_budget is None else time.monotonic() + time_budget
        self.observations: list[Observation] = []
        """Every Observation this adapter got, in order (evidence)."""

    def __call__(
        self, name: str, qtype: str, strict: object = True, timeout: float = 30
    ) -> LookupAnswer:
        # `strict` and `timeout` are pyspf's; the Asker owns the timeouts.
        name = str(name).rstrip(".").lower()
        qtype = str(qtype).upper()
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise spf.TempError(f"DNS {name}/{qtype} not asked: the evaluation ran out of time")
        try:
            observation = self._ask(name, qtype)
        except Exception as error:  # the asker's own backstop (future timeout) or a bug
            raise spf.TempError(f"DNS {name}/{qtype}: {type(error).__name__}: {error}") from None
        self.observations.append(observation)
        outcome = observation.outcome
        if outcome is Outcome.ANSWER:
            return [((name, qtype), _record_data(qtype, text)) for text in observation.answers]
        if outcome in _EMPTY_OUTCOMES or _is_cname_problem(observation):
            return []
        reason = observation.reason
        raise spf.TempError(f"DNS {name}/{qtype} via {observation.server_name}: {reason}")


def _is_cname_problem(observation: Observation) -> bool:
    """A reply came, but its CNAME chain loops or is too long (a permanent DNS fact)."""
    return (
        observation.outcome is Outcome.MALFORMED
        and observation.rcode is not None
        and bool(observation.error and "CNAME" in observation.error)
    )


def _record_data(qtype: str, text: str) -> Any:
    if qtype in ("TXT", "SPF"):
        return [text.encode("utf-8")]
    if qtype == "MX":
        preference, _, host = text.partition(" ")
        # A null MX (RFC 7505) points at the root: pyspf skips an empty host, but asks for ".".
        return (int(preference), "" if host == "." else host)
    return text  # A, AAAA (canonical address text), PTR and CNAME (host)


# --- routing pyspf's global lookup per thread --------------------------------------------------

_thread_lookup = threading.local()
_install_lock = threading.Lock()
_original_lookup: Callable[..., Any] | None = None


def _dispatch(name: str, qtype: str, strict: object = True, timeout: float = 30) -> Any:
    lookup = getattr(_thread_lookup, "lookup", None)
    if lookup is None:
        assert _original_lookup is not None
        return _original_lookup(name, qtype, strict, timeout)
    return lookup(name, qtype, strict, timeout)


def _install_dispatcher() -> None:
    global _original_lookup
    with _install_lock:
        if spf.DNSLookup is not _dispatch:
            _original_lookup = spf.DNSLookup
            spf.DNSLookup = _dispatch


@contextmanager
def routed_through(lookup: Callable[..., LookupAnswer]) -> Iterator[None]:
    """pyspf lookups made by THIS thread go to `lookup` until the block ends."""
    _install_dispatcher()
    previous = getattr(_thread_lookup, "lookup", None)
    _thread_lookup.lookup = lookup
    try:
        yield
    finally:
        _thread_lookup.lookup = previous


# --- one evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpfVerdict:
    """check_host's answer for one IP."""

    ip: str
    result: str
    """One of RESULTS."""
    explanation: str
    """pyspf's text: the explanation for fail, the error for permerror/temperror."""
    queries: int
    """How many DNS questions the evaluation asked."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "result": self.result,
            "explanation": self.explanation,
            "queries": self.queries,
        }


def check_host(
    ask: Ask,
    ip: str,
    sender: str,
    helo: str,
    *,
    strict: bool | int = True,
    default_explanation: str | None = None,
    time_budget: float | None = TIME_BUDGET,
) -> SpfVerdict:
    """RFC 7208 check_host for `ip` and the domain of `sender`, blocking (run it in a thread)."""
    adapter = DnsLookupAdapter(ask, time_budget)
    with routed_through(adapter):
        try:
            spf_query = spf.query(i=ip, s=sender, h=helo, strict=strict)
            if default_explanation is not None:
                spf_query.set_default_explanation(default_explanation)
            result, _code, explanation = spf_query.check()
        except spf.TempError as error:
            result, explanation = "temperror", f"SPF Temporary Error: {error}"
        except Exception as error:  # pyspf's own bugs and assertions: could not tell
            result, explanation = "temperror", f"pyspf failed: {type(error).__name__}: {error}"
    # pyspf's pre-RFC 7208 names
    result = {"unknown": "permerror", "error": "temperror"}.get(result, result)
    return SpfVerdict(ip, result, str(explanation), len(adapter.observations))


async def check_region_ips(
    domain: str, ips: tuple[str, ...], helo: str, asker: Asker
) -> list[SpfVerdict]:
    """check_host for each IP, each in its own worker thread, concurrently."""
    loop = asyncio.get_running_loop()
    ask = functools.partial(asker.ask_blocking, loop)
    sender = f"postmaster@{domain}"
    return list(
        await asyncio.gather(*(asyncio.to_thread(check_host, ask, ip, sender, helo) for ip in ips))
    )


def _join(verdicts: list[SpfVerdict]) -> str:
    return ", ".join(f"{v.ip} {v.result}" for v in verdicts)


def finding_from_verdicts(
    domain: str, region: Region, verdicts: list[SpfVerdict], resolver: str | None
) -> Finding:
    """Every sending IP of the region must pass: anything else (bar temperror) is fail."""
    data: dict[str, Any] = {
        "domain": domain,
        "helo": region.helo,
        "results": [v.to_json() for v in verdicts],
    }

    def finding(status: Status, summary: str) -> Finding:
        return Finding(AREA, CHECK, domain, status, summary, region.name, resolver, data)

    if not verdicts:
        return finding(
            Status.UNKNOWN, f"SPF not checked: region {region.name} lists no sending IPs"
        )
    failing = [v for v in verdicts if v.result not in ("pass", "temperror")]
    undecided = [v for v in verdicts if v.result == "temperror"]
    if failing:
        summary = (
            f"SPF of {domain} does not pass {len(failing)} of {len(verdicts)} sending IPs of "
            f"{region.name}: {_join(failing)}"
        )
        if failing[0].result in ("permerror", "none"):
            summary += f" ({failing[0].explanation})"
        return finding(Status.FAIL, summary)
    if undecided:
        summary = (
            f"SPF of {domain} could not be evaluated for {_join(undecided)}: "
            f"{undecided[0].explanation}"
        )
        return finding(Status.UNKNOWN, summary)
    ips = "the sending IP" if len(verdicts) == 1 else f"all {len(verdicts)} sending IPs"
    return finding(Status.OK, f"SPF of {domain} passes {ips} of {region.name}")


async def spf_check_finding(config: Config, region: Region, asker: Asker) -> Finding:
    domain = config.domain.name
    helo = region.helo or domain
    started = datetime.now(UTC)
    verdicts = await check_region_ips(domain, region.sending_ips, helo, asker)
    finding = finding_from_verdicts(domain, region, verdicts, asker.server.name)
    return replace(finding, observed_at=started)


async def spf_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """Both SPF checks for one region: `spf` (check_host per sending IP) and `spf-lookups`."""
    check, walk = await asyncio.gather(
        spf_check_finding(config, region, asker), spf_lookups_finding(config, region, asker)
    )
    return [check, agreeing_walk(walk, check)]


def agreeing_walk(walk: Finding, check: Finding) -> Finding:
    """The record-level verdict, told what check_host said for each configured IP.

    It never reads better than a permerror check_host gave for one of the region's IPs (a
    void limit reached through a ptr or a CNAME, a syntax error only pyspf saw): that is added
    as the `per-ip-permerror` problem. A `?all` verdict says which configured IPs get neutral,
    or that every one passes before it (forged mail is neutral either way)."""
    results = [e for e in check.data.get("results", ()) if isinstance(e, dict)]
    problems = [dict(p) for p in walk.data.get("problems", ())]
    status, summary = walk.status, walk.summary
    neutral_all = next((p for p in problems if p.get("rule") == "neutral-all"), None)
    if neutral_all is not None and results:
        neutral = [str(e["ip"]) for e in results if e.get("result") == "neutral"]
        if neutral:
            verb = "gets" if len(neutral) == 1 else "get"
            detail = f"; {', '.join(neutral)} of {walk.region} {verb} neutral"
        elif all(e.get("result") == "pass" for e in results):
            detail = "; every sending IP passes before it, but forged mail stays neutral"
        else:
            detail = ""
        if detail and neutral_all["text"] in summary:
            summary = summary.replace(neutral_all["text"], neutral_all["text"] + detail, 1)
        neutral_all["text"] += detail
    broken = [e for e in results if e.get("result") == "permerror"]
    if broken:
        first = broken[0]
        text = f"SPF of {walk.subject} gives permerror for {first['ip']}: {first['explanation']}"
        problems.append(
            {
                "rule": "per-ip-permerror",
                "rfc": "RFC 7208 2.6.7",
                "status": Status.FAIL.value,
                "text": clean(text)[:300],
            }
        )
        if status is not Status.FAIL:
            status, summary = Status.FAIL, clean(text)[:300]
    if status is walk.status and summary == walk.summary and problems == walk.data.get("problems"):
        return walk
    return replace(walk, status=status, summary=summary, data={**walk.data, "problems": problems})
