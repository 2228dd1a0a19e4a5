"""One sweep: every watched question, asked of every resolver and every authoritative server.

    servers, source, reason = await find_authoritative(config, resolvers, timeout=2.0)
    found = await discover_authoritative(config, resolvers, timeout=2.0)  # + unresolved hosts
    result = await sweep(config)                    # -> SweepResult (sweep_model.py)

Who is asked:
  - the recursive resolvers of [[dns.resolver]] (or those passed in), each directly by IP;
  - the authoritative servers, with recursion off: [dns].authoritative when configured
    (source "configured"), else the domain's NS set, each NS host's A/AAAA addresses on port 53,
    as the resolvers give them (source "NS set"; these few lookups race every resolver and are
    not counted against `limit`). An NS host whose addresses could not be found is kept, with
    the reason (SweepResult.authoritative_unresolved): the view is partial, and says so. When
    neither works the sweep still runs the resolver questions and says why there is no
    authoritative view (source "none").
  - every authoritative server is asked the domain's SOA (for serials) and every watched record.

How long it takes:
  - every question goes through one pool with at most `limit` in flight, queued question by
    question and, within a question, server by server, so a dead server holds only its share of
    the slots while the others' answers keep coming (and `progress` hears of each one);
  - the sweep has a budget of one `timeout`, counted from its start: the worst case of one
    question, its retries included (query.py). A question that starts late (it waited for a
    slot behind a dead server's questions, or for the NS-set lookup, which runs while the
    resolver questions are already in flight) gets what is left of the budget, so its timeout
    can be shorter than `timeout` (its reason names the shorter one). After the budget and
    SWEEP_MARGIN (scheduling noise), whatever is still unanswered is recorded as a TIMEOUT
    observation that says so: nothing is dropped and nothing is guessed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cockpit import compat
from cockpit.compat import UTC
from cockpit.config import Config
from cockpit.dns.observation import Observation, Outcome, ServerSpec, no_answer
from cockpit.dns.query import QueryJob, query
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import WatchedName, watched_names

SOURCE_CONFIGURED = "configured"
SOURCE_NS_SET = "NS set"
SOURCE_NONE = "none"

SWEEP_MARGIN = 0.25
"""Seconds the sweep waits beyond its budget, for scheduling noise, before it stops waiting."""
DEFAULT_LIMIT = 64
"""Questions in flight at once."""

_DEFINITIVE = frozenset({Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN})
"""Replies that settle a discovery question; others (SERVFAIL, timeouts) wait for another."""
_NAMES_SHOWN = 4

Progress = Callable[[int, int], None]
Clock = Callable[[], datetime]
_Slot = tuple[str, str, str]
"""(kind, server name, question key): kind is "resolver", "authoritative" or "serial"."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def configured_resolvers(config: Config) -> tuple[ServerSpec, ...]:
    """The config's resolvers as servers to ask, in config order."""
    return tuple(
        ServerSpec(resolver.name, resolver.address.ip, resolver.address.port)
        for resolver in config.dns.resolvers
    )


# --- the authoritative servers --------------------------------------------------------------


async def _first_definitive(
    resolvers: Sequence[ServerSpec], qname: str, rdtype: str, timeout: float, retries: int
) -> tuple[Observation | None, list[Observation]]:
    """Ask every resolver at once; the first ANSWER/NODATA/NXDOMAIN wins and the rest are
    cancelled, so a dead resolver costs nothing while another one answers. Without a winner:
    (None, every observation in resolver order)."""
    tasks = [
        asyncio.create_task(
            query(spec, qname, rdtype, timeout=timeout, server_name=spec.name, retries=retries)
        )
        for spec in resolvers
    ]
    failures: list[Observation] = []
    try:
        for next_done in asyncio.as_completed(tasks):
            observation = await next_done
            if observation.outcome in _DEFINITIVE:
                return observation, failures
            failures.append(observation)
        order = {spec.name: index for index, spec in enumerate(resolvers)}
        return None, sorted(failures, key=lambda seen: order.get(seen.server_name, 0))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _short(seen: Observation) -> str:
    """NXDOMAIN, NODATA, SERVFAIL, REFUSED, referral, timeout, network error, malformed."""
    if seen.outcome in (Outcome.NODATA, Outcome.NXDOMAIN):
        return seen.outcome.value.upper()
    if seen.outcome is Outcome.REFERRAL:
        return "referral (not authoritative)"
    if seen.outcome.is_reply and seen.rcode:
        return seen.rcode
    return seen.outcome.value.replace("_", " ")


def _reasons(observations: Iterable[Observation]) -> str:
    """Short and grouped, so it fits a summary: "REFUSED from r1, r2; timeout from r3"."""
    by_label: dict[str, list[str]] = {}
    for seen in observations:
        by_label.setdefault(_short(seen), []).append(seen.server_name)
    parts = []
    for label, names in by_label.items():
        more = len(names) - _NAMES_SHOWN
        shown = ", ".join(names[:_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")
        parts.append(f"{label} from {shown}")
    return "; ".join(parts) or "no resolver answered"


_ADDRESS_TYPES = ("A", "AAAA")


def _ns_servers(
    hosts: Sequence[str], lookups: Sequence[tuple[Observation | None, list[Observation]]]
) -> tuple[tuple[ServerSpec, ...], dict[str, str]]:
    """One ServerSpec per NS host address, named after the host (with the address as well
    when a host has several, so names stay unique); and, for each host without any address,
    why: "no address found (A timeout from r1, r2; AAAA NXDOMAIN from r1)"."""
    addresses: dict[str, list[str]] = {host: [] for host in hosts}
    why: dict[str, list[str]] = {host: [] for host in hosts}
    for index, (winner, lost) in enumerate(lookups):
        host, rdtype = hosts[index // 2], _ADDRESS_TYPES[index % 2]
        if winner is not None and winner.ok:
            addresses[host].extend(winner.answers)
        elif winner is not None:
            why[host].append(f"{rdtype} {_short(winner)} from {winner.server_name}")
        else:
            why[host].append(f"{rdtype} {_reasons(lost)}")
    servers: list[ServerSpec] = []
    unresolved: dict[str, str] = {}
    for host in hosts:
        unique = list(dict.fromkeys(addresses[host]))
        if not unique:
            unresolved[host] = f"no address found ({'; '.join(why[host])})"
        for ip in unique:
            name = host if len(unique) == 1 else f"{host} ({ip})"
            servers.append(ServerSpec(name, ip, 53))
    return tuple(servers), unresolved


def _no_unresolved() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AuthoritativeSet:
    """The authoritative servers to ask, where they came from, and what is missing."""

    servers: tuple[ServerSpec, ...]
    source: str
    """SOURCE_CONFIGURED, SOURCE_NS_SET or SOURCE_NONE."""
    reason: str | None
    """Why there are no servers at all; None when there are some."""
    unresolved: Mapping[str, str] = field(default_factory=_no_unresolved)
    """NS host -> why none of its addresses was found (the NS-set path, with some servers)."""


async def find_authoritative(
    config: Config,
    resolvers: Sequence[ServerSpec],
    *,
    timeout: float,
    retries: int = 1,
) -> tuple[tuple[ServerSpec, ...], str, str | None]:
    """(servers, source, reason) of `discover_authoritative`, for callers that need one
    server to ask and not the NS hosts left out."""
    found = await discover_authoritative(config, resolvers, timeout=timeout, retries=retries)
    return found.servers, found.source, found.reason


async def discover_authoritative(
    config: Config,
    resolvers: Sequence[ServerSpec],
    *,
    timeout: float,
    retries: int = 1,
) -> AuthoritativeSet:
    """[dns].authoritative ("configured"); else the domain's NS hosts resolved to addresses
    through `resolvers`, first definitive reply wins ("NS set"), with every host that has no
    address kept in `unresolved` with the reason; else no servers ("none") and why."""
    if config.dns.authoritative:
        configured = dict.fromkeys(
            ServerSpec(str(address), address.ip, address.port)
            for address in config.dns.authoritative
        )
        return AuthoritativeSet(tuple(configured), SOURCE_CONFIGURED, None)
    domain = config.domain.name
    if not resolvers:
        return AuthoritativeSet((), SOURCE_NONE, f"no resolver to ask for the NS set of {domain}")
    ns_reply, ns_failures = await _first_definitive(resolvers, domain, "NS", timeout, retries)
    if ns_reply is None:
        why = f"no NS set for {domain}: {_reasons(ns_failures)}"
        return AuthoritativeSet((), SOURCE_NONE, why)
    if not ns_reply.ok:
        why = f"no NS set for {domain}: {_short(ns_reply)} from {ns_reply.server_name}"
        return AuthoritativeSet((), SOURCE_NONE, why)
    hosts = sorted(set(ns_reply.answers))
    lookups = await asyncio.gather(
        *(
            _first_definitive(resolvers, host, rdtype, timeout, retries)
            for host in hosts
            for rdtype in _ADDRESS_TYPES
        )
    )
    servers, unresolved = _ns_servers(hosts, lookups)
    if not servers:
        failures = [seen for winner, lost in lookups for seen in ([winner] if winner else lost)]
        why = f"({', '.join(hosts)}): {_reasons(failures)}"
        return AuthoritativeSet((), SOURCE_NONE, f"no address for the NS hosts of {domain} {why}")
    return AuthoritativeSet(servers, SOURCE_NS_SET, None, MappingProxyType(unresolved))


# --- the pool -------------------------------------------------------------------------------


class _Pool:
    """Runs questions with at most `limit` in flight and collects them by slot."""

    def __init__(self, limit: int, progress: Progress | None, deadline: float) -> None:
        self._gate = asyncio.Semaphore(limit)
        self._progress = progress
        self._deadline = deadline
        self._jobs: dict[_Slot, QueryJob] = {}
        self._tasks: dict[_Slot, asyncio.Task[Observation]] = {}
        self._answered = 0

    def submit(self, slot: _Slot, job: QueryJob) -> None:
        self._jobs[slot] = job
        self._tasks[slot] = asyncio.create_task(self._run(job))

    async def _run(self, job: QueryJob) -> Observation:
        async with self._gate:
            remaining = self._deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                observation = _cut_short(job, "before it could be asked")
            else:
                observation = await query(
                    job.server,
                    job.qname,
                    job.rdtype,
                    timeout=min(job.timeout, remaining),
                    server_name=job.server_name,
                    retries=job.retries,
                    recursion_desired=job.recursion_desired,
                )
        self._answered += 1
        if self._progress is not None:
            self._progress(self._answered, len(self._tasks))
        return observation

    async def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def finish(self) -> dict[_Slot, Observation]:
        """Wait until every question is answered or the deadline (plus SWEEP_MARGIN) passes;
        the unanswered ones become TIMEOUT observations."""
        remaining = self._deadline + SWEEP_MARGIN - asyncio.get_running_loop().time()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=max(0.0, remaining))
        unfinished = [task for task in self._tasks.values() if not task.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        results: dict[_Slot, Observation] = {}
        for slot, task in self._tasks.items():
            if task.cancelled():
                results[slot] = _cut_short(self._jobs[slot], "before it was answered")
            else:
                results[slot] = task.result()  # an exception from `progress` surfaces here
        if unfinished and self._progress is not None:
            self._progress(len(self._tasks), len(self._tasks))
        return results


def _cut_short(job: QueryJob, when: str) -> Observation:
    server = job.server if isinstance(job.server, ServerSpec) else ServerSpec("", *job.server)
    return no_answer(
        job.server_name or server.name or server.address,
        server.address,
        job.qname,
        job.rdtype,
        Outcome.TIMEOUT,
        f"no reply from {server.address}: the sweep's time ran out {when} (it waited for a"
        " free slot behind slower servers)",
        datetime.now(UTC),
    )


# --- the sweep ------------------------------------------------------------------------------


def _check_unique(resolvers: Sequence[ServerSpec]) -> None:
    names = [spec.name for spec in resolvers]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"resolver names must be unique; repeated: {', '.join(repeated)}")


async def sweep(
    config: Config,
    *,
    resolvers: Sequence[ServerSpec] | None = None,
    watched: Sequence[WatchedName] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_LIMIT,
    retries: int = 1,
    progress: Progress | None = None,
    clock: Clock = _utc_now,
) -> SweepResult:
    """Ask every resolver and authoritative server every watched question, concurrently.

    Defaults: the config's resolvers, `watched_names(config)`, `[dns].timeout`. `progress(done,
    total)` is called after each answer; `total` grows once when the NS set is resolved.
    Returns within `timeout` + SWEEP_MARGIN, retries included; see the module doc.
    """
    resolver_specs = configured_resolvers(config) if resolvers is None else tuple(resolvers)
    questions = watched_names(config) if watched is None else tuple(watched)
    per_query = config.dns.timeout if timeout is None else timeout
    if per_query <= 0:
        raise ValueError("timeout must be positive")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    retries = max(0, retries)
    _check_unique(resolver_specs)
    budget = per_query
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    started_at = clock()
    pool = _Pool(limit, progress, deadline)
    try:
        for watched_name in questions:
            for spec in resolver_specs:
                job = QueryJob(
                    spec, watched_name.name, watched_name.rdtype, per_query, spec.name, retries
                )
                pool.submit(("resolver", spec.name, watched_name.key), job)
        try:
            found = await compat.wait_for(
                discover_authoritative(config, resolver_specs, timeout=per_query, retries=retries),
                max(0.0, deadline - loop.time()),
            )
        except TimeoutError:
            found = AuthoritativeSet(
                (),
                SOURCE_NONE,
                f"the NS set of {config.domain.name} was not found within {budget:g} s",
            )
        servers = found.servers
        domain = config.domain.name
        for spec in servers:
            job = QueryJob(spec, domain, "SOA", per_query, spec.name, retries, False)
            pool.submit(("serial", spec.name, f"{domain} SOA"), job)
        for watched_name in questions:
            for spec in servers:
                job = QueryJob(
                    spec,
                    watched_name.name,
                    watched_name.rdtype,
                    per_query,
                    spec.name,
                    retries,
                    False,
                )
                pool.submit(("authoritative", spec.name, watched_name.key), job)
        results = await pool.finish()
    except BaseException:
        await pool.cancel()
        raise
    return _result(started_at, clock(), questions, resolver_specs, found, results)


def _result(
    started_at: datetime,
    finished_at: datetime,
    questions: tuple[WatchedName, ...],
    resolvers: tuple[ServerSpec, ...],
    found: AuthoritativeSet,
    results: dict[_Slot, Observation],
) -> SweepResult:
    """Mappings in a stable order: server by server (config order), question by question."""
    observations = {
        (spec.name, item.key): results[("resolver", spec.name, item.key)]
        for spec in resolvers
        for item in questions
    }
    authoritative = {
        (spec.name, item.key): results[("authoritative", spec.name, item.key)]
        for spec in found.servers
        for item in questions
    }
    serials = {slot[1]: observation for slot, observation in results.items() if slot[0] == "serial"}
    return SweepResult(
        started_at=started_at,
        finished_at=finished_at,
        watched=questions,
        resolvers=resolvers,
        authoritative=found.servers,
        authoritative_source=found.source,
        authoritative_error=found.reason,
        observations=MappingProxyType(observations),
        authoritative_observations=MappingProxyType(authoritative),
        serials=MappingProxyType(serials),
        authoritative_unresolved=found.unresolved,
    )
