"""`DrillWorld`: a small, complete mail world on loopback for a practice incident.

    world = DrillWorld()                  # keys generated, zones published (primary active)
    world.start()                         # servers up, in the world's own thread
    world.fail_primary()                  # primary is down: its queue grows
    world.authoritative_address           # "127.0.77.10:40311"
    world.resolvers                       # (DrillResolver("drill-r1", ...), ...)
    world.queue_url("primary")            # "http://127.0.77.10:40312/queue/primary"
    world.smtp_port                       # every MX host's SMTP port, e.g. 40313
    world.write_ca_certificate(path)      # the drill CA's certificate, for [tls] ca_file
    world.switch_to("secondary")          # MX/webmail/autodiscover now secondary; serial + 1
    world.stop()

What it serves (see zones.py for the records, responder.py for the servers):
  - one authoritative DNS server and `resolver_count` caching resolvers, UDP and TCP, each on
    its own 127.0.77.x address (127.0.0.1 with distinct ports where those cannot be bound),
    on ports the OS picks;
  - an HTTP server with each region's queue depth, replication lag and control-plane role
    (queue_http.py, queue_model.py, control_model.py);
  - SMTP listeners on every MX address (one port for all) and an IMAP greeter per region, with
    STARTTLS certificates from a CA the world makes at start (mail_servers.py, certs.py). They
    need 127.0.0.0/8 routed to loopback (Linux): where the DNS servers fall back to 127.0.0.1,
    the world serves no mail (`serves_mail` is False) rather than answer at other addresses
    than the zone publishes.

Threading: `start()` runs every server on an asyncio loop in a daemon thread of its own and
returns once they are bound, so the caller (a Textual app, a test) keeps its own loop; `stop()`
closes them and joins the thread. The scenario methods (`fail_primary`, `switch_to`, the read
methods) may be called from any thread. Everything time-dependent (resolver caches, zone
history, queue depths, lag and roles) reads one `clock`, injectable for tests. Nothing here
imports textual.

Private keys stay in memory: nothing prints or logs them. `write_dkim_private_keys` writes
them to files (mode 0600) only when asked, so the cockpit's DKIM check can compare key and
record; `write_ca_certificate` writes the CA's certificate (never a key).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cockpit.drill.certs import DrillCA
from cockpit.drill.connections import CLOSE_SECONDS
from cockpit.drill.control_model import ControlModel
from cockpit.drill.mail_servers import MailServers
from cockpit.drill.queue_http import DrillReaders, QueueHttpServer
from cockpit.drill.queue_model import QueueModel, QueueReading
from cockpit.drill.responder import CachingResolver, DnsServer, authoritative_responder
from cockpit.drill.zones import (
    DEFAULT_DOMAIN,
    RegionPlan,
    Timings,
    dkim_record,
    new_dkim_key,
    region_plans,
    zone_texts,
)
from cockpit.drill.zonestore import Clock, ZoneStore
from cockpit.output_file import output_file

DRILL_NET = "127.0.77."
AUTHORITATIVE_HOST_NUMBER = 10
FIRST_RESOLVER_HOST_NUMBER = 11
FALLBACK_HOST = "127.0.0.1"
INITIAL_SERIAL = 1
DEFAULT_RESOLVER_COUNT = 4
RESOLVER_LOCATIONS = ("drill: Frankfurt", "drill: Virginia", "drill: Singapore", "drill: Sao Paulo")
FOLLOW_SECONDS = 5.0
"""How long a scenario method waits for the servers to follow it (a listener to close)."""


class DrillError(Exception):
    """The drill world could not start, or was used in a way it does not support."""


@dataclass(frozen=True, slots=True)
class DrillResolver:
    """One drill resolver, as the config names it."""

    name: str
    location: str
    host: str
    port: int
    cache_age_at_start: float

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def default_cache_ages(record_ttl: int, count: int) -> tuple[float, ...]:
    """Ages spread evenly over one TTL, so the resolvers converge one by one."""
    return tuple(record_ttl * index / count for index in range(count))


class DrillWorld:
    def __init__(
        self,
        *,
        domain: str = DEFAULT_DOMAIN,
        timings: Timings | None = None,
        resolver_count: int | None = None,
        resolver_cache_ages: Sequence[float] | None = None,
        clock: Clock = time.monotonic,
        seed: int = 2026,
    ) -> None:
        """A world for `domain` (under .example: never resolvable outside the drill).

        `timings`: the zones' TTLs (Timings(): 30 s records, 10 s negative). `resolver_count`
        resolvers (default 4, or one per given age) whose caches are `resolver_cache_ages`
        seconds old at start (default: spread evenly over one record TTL). `clock`: seconds,
        monotonic; `seed` makes the queue jitter repeatable. Generates the DKIM keys and the
        drill's CA, and publishes the zones with the primary region active; binds nothing
        until `start()`.
        """
        self.domain = domain
        self.timings = timings or Timings()
        if resolver_count is None:
            resolver_count = len(resolver_cache_ages or ()) or DEFAULT_RESOLVER_COUNT
        if resolver_count < 1:
            raise DrillError("a drill needs at least one resolver")
        ages = resolver_cache_ages or default_cache_ages(self.timings.record_ttl, resolver_count)
        if len(ages) != resolver_count:
            raise DrillError(f"give one cache age per resolver ({resolver_count})")
        self._cache_ages = tuple(float(age) for age in ages)
        self._clock = clock
        self.regions: tuple[RegionPlan, ...] = region_plans(domain)
        self._dkim_keys = {plan.dkim_selector: new_dkim_key() for plan in self.regions}
        self._dkim_records = {
            selector: dkim_record(key) for selector, key in self._dkim_keys.items()
        }
        self._ca = DrillCA()
        self._lock = threading.Lock()
        self._active = self.regions[0].name
        self._down: frozenset[str] = frozenset()
        self._serial = INITIAL_SERIAL
        self._nameserver_ip = f"{DRILL_NET}{AUTHORITATIVE_HOST_NUMBER}"
        self._store = ZoneStore(clock)
        self._publish()
        self._queues = QueueModel([p.name for p in self.regions], seed=seed, start=clock())
        self._queues.set_state(clock(), down=(), routed_to=self._active)
        self._control = ControlModel([p.name for p in self.regions])
        self._caches = [CachingResolver(self._store, clock, age) for age in self._cache_ages]
        self._servers: list[DnsServer] = []
        self._http: QueueHttpServer | None = None
        self._mail: MailServers | None = None
        self._mail_listening = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # --- the scenario ---------------------------------------------------------------------

    def now(self) -> float:
        """The world's clock (seconds, monotonic unless injected)."""
        return self._clock()

    @property
    def active_region(self) -> str:
        """The region the published MX, webmail and autodiscover point at."""
        return self._active

    @property
    def serial(self) -> int:
        return self._serial

    def region(self, name: str) -> RegionPlan:
        for plan in self.regions:
            if plan.name == name:
                return plan
        known = ", ".join(plan.name for plan in self.regions)
        raise DrillError(f"no drill region {name!r}; expected one of {known}")

    def fail_primary(self) -> None:
        """The primary region is down from now on (call it as the drill starts)."""
        self.fail_region(self.regions[0].name)

    def fail_region(self, name: str) -> None:
        """`name` is down from now on: its queue grows while mail goes there, its first MX host
        stops listening (the others greet 421), its IMAP says BYE, its lag and role sources
        stop answering. Returns once the listeners have followed."""
        self.region(name)
        with self._lock:
            now = self._clock()
            self._down = self._down | {name}
            self._queues.set_state(now, down=self._down, routed_to=self._active)
            self._control.fail(name, now)
            mail_listening = self._mail_listening
        if mail_listening and self._mail is not None:
            self._on_loop(self._mail.region_down(name))

    def switch_to(self, region: str) -> int:
        """Publish MX, webmail and autodiscover pointing at `region`, with the SOA serial
        one higher; returns the new serial. Resolvers follow as their caches expire."""
        self.region(region)
        with self._lock:
            now = self._clock()
            self._active = region
            self._serial += 1
            self._publish()
            self._queues.set_state(now, down=self._down, routed_to=region)
            self._control.switch(region, now)
            return self._serial

    def queue_reading(self, region: str) -> QueueReading | None:
        with self._lock:
            return self._queues.reading(region, self._clock())

    def replication_lag(self, region: str) -> float | None:
        """Seconds `region`'s data is behind now; None while its source does not answer
        (see control_model.py for how the lag grows and freezes at a switch)."""
        with self._lock:
            return self._control.lag(region, self._clock())

    def role(self, region: str) -> str | None:
        """The role ("primary", "standby") `region`'s control plane claims now; None while
        it is down."""
        with self._lock:
            return self._control.role(region, self._clock())

    def is_down(self, region: str) -> bool:
        with self._lock:
            return region in self._down

    # --- keys -----------------------------------------------------------------------------

    def dkim_public_key(self, selector: str) -> rsa.RSAPublicKey:
        return self._dkim_keys[selector].public_key()

    def write_dkim_private_keys(self, directory: Path) -> dict[str, Path]:
        """Write each selector's private key as PEM (mode 0600) into `directory` (created
        0700); selector -> file. Only for the cockpit's own key-matches-record check."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for selector, key in self._dkim_keys.items():
            path = directory / f"{selector}.pem"
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with output_file(path, mode=0o600) as file:  # only ever a regular file
                file.write(pem)
            written[selector] = path
        return written

    @property
    def ca_certificate_pem(self) -> bytes:
        """The drill CA's certificate (public) in PEM: what trusts its servers' certificates."""
        return self._ca.certificate_pem

    def write_ca_certificate(self, path: Path) -> Path:
        """Write the drill CA's certificate (no key) to `path`, for the config's [tls] ca_file."""
        return self._ca.write_certificate(path)

    # --- where things listen (after start) ------------------------------------------------

    @property
    def authoritative_address(self) -> str:
        return self._started_servers()[0].address

    @property
    def resolvers(self) -> tuple[DrillResolver, ...]:
        servers = self._started_servers()[1:]
        return tuple(
            DrillResolver(
                name=f"drill-r{index}",
                location=RESOLVER_LOCATIONS[(index - 1) % len(RESOLVER_LOCATIONS)],
                host=server.host,
                port=server.port,
                cache_age_at_start=cache.cache_age_at_start,
            )
            for index, (server, cache) in enumerate(zip(servers, self._caches, strict=True), 1)
        )

    @property
    def queue_base_url(self) -> str:
        if self._http is None or not self._http.port:
            raise DrillError("the drill world is not started")
        return self._http.base_url

    def queue_url(self, region: str) -> str:
        self.region(region)
        return f"{self.queue_base_url}/queue/{region}"

    def replication_url(self, region: str) -> str:
        self.region(region)
        return f"{self.queue_base_url}/replication/{region}"

    def role_url(self, region: str) -> str:
        self.region(region)
        return f"{self.queue_base_url}/role/{region}"

    @property
    def serves_mail(self) -> bool:
        """Whether the SMTP and IMAP servers listen (False where 127.0.0.0/8 is not loopback)."""
        self._started_servers()
        return self._mail is not None and self._mail.smtp_port > 0

    @property
    def smtp_port(self) -> int:
        """The one port every MX host listens on (those of a region that is down excepted)."""
        return self._started_mail().smtp_port

    @property
    def imap_port(self) -> int:
        """The one port every region's IMAP greeter listens on."""
        return self._started_mail().imap_port

    def imap_address(self, region: str) -> str:
        """`imap.<region>.<domain>:<port>`, the name published in the zone and its port."""
        return f"{self.region(region).imap_host}:{self.imap_port}"

    def _started_mail(self) -> MailServers:
        if not self.serves_mail or self._mail is None:
            raise DrillError("the drill world serves no mail here (127.0.0.0/8 is not loopback)")
        return self._mail

    def _started_servers(self) -> list[DnsServer]:
        if not self._servers or not self._ready.is_set():
            raise DrillError("the drill world is not started")
        return self._servers

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Bind every server in a background thread; returns once they listen.
        Raises DrillError when they cannot be bound within `timeout` seconds."""
        if self._thread is not None:
            raise DrillError("the drill world is already started")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="cockpit-drill-world", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise DrillError(f"the drill world did not start within {timeout:g} s")
        if self._start_error is not None:
            error = self._start_error
            self.stop()
            raise DrillError(f"the drill world could not bind its servers: {error}") from error

    def stop(self, timeout: float = 5.0) -> None:
        """Close every server and join the thread. Safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has already closed
                pass
        thread.join(timeout)
        self._thread = None
        self._ready.clear()

    def __enter__(self) -> DrillWorld:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
            # Sessions still closing (a TLS goodbye, bounded by CLOSE_SECONDS) end here rather
            # than die with the loop.
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=CLOSE_SECONDS + 0.5))
        finally:
            loop.close()
            self._loop = None

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            await self._bind()
        except OSError as error:
            self._start_error = error
        self._ready.set()
        if self._start_error is None:
            await self._stop_event.wait()
        for server in self._servers:
            await server.close()
        if self._http is not None:
            await self._http.close()
        if self._mail is not None:
            with self._lock:
                self._mail_listening = False
            await self._mail.close()
        self._servers = []

    async def _bind(self) -> None:
        respond = authoritative_responder(self._store)
        auth = DnsServer(f"{DRILL_NET}{AUTHORITATIVE_HOST_NUMBER}", respond)
        hosts = [f"{DRILL_NET}{FIRST_RESOLVER_HOST_NUMBER + n}" for n in range(len(self._caches))]
        try:
            await auth.start()
        except OSError:  # 127.0.77.x is not loopback here (not Linux): share 127.0.0.1
            auth = DnsServer(FALLBACK_HOST, respond)
            await auth.start()
            hosts = [FALLBACK_HOST] * len(self._caches)
        self._servers = [auth]
        if auth.host != self._nameserver_ip:
            with self._lock:
                self._nameserver_ip = auth.host
                self._publish()
        for host, cache in zip(hosts, self._caches, strict=True):
            server = DnsServer(host, cache.respond)
            await server.start()
            self._servers.append(server)
        readers = DrillReaders(
            regions=frozenset(plan.name for plan in self.regions),
            queue=self.queue_reading,
            lag=self.replication_lag,
            role=self.role,
        )
        self._http = QueueHttpServer(auth.host, readers)
        await self._http.start()
        if auth.host == FALLBACK_HOST:
            return
        self._mail = MailServers(self.regions, self._ca, self.is_down)
        await self._mail.start()
        with self._lock:
            self._mail_listening = True
            down = self._down
        for name in down:  # failed before start: follow now (fail_region follows after)
            await self._mail.region_down(name)

    def _on_loop(self, work: Coroutine[object, object, None]) -> None:
        """Run `work` on the world's loop and wait for it (or start it, from the loop itself)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            work.close()
            return
        if self._thread is not None and threading.get_ident() == self._thread.ident:
            loop.create_task(work)
            return
        try:
            future = asyncio.run_coroutine_threadsafe(work, loop)
        except RuntimeError:  # the loop closed meanwhile: there is nothing left to follow
            work.close()
            return
        try:
            future.result(FOLLOW_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DrillError(
                f"the drill's servers did not follow within {FOLLOW_SECONDS:g} s"
            ) from None

    def _publish(self) -> None:
        self._store.publish(
            zone_texts(
                self.domain,
                self.regions,
                self._active,
                self._serial,
                self.timings,
                nameserver_ip=self._nameserver_ip,
                dkim_records=self._dkim_records,
            )
        )
