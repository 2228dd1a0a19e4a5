"""A real DNS lab on loopback: nsd as the authoritative, several unbound as caching resolvers.

    with DnsLab(workdir, {"example.test": zone_text("example.test", 1, 3, ["www A 127.0.0.80"])}):
        lab.resolvers        # [("lab-r1", "127.0.53.11", 40123), ...]
        lab.authoritative    # ("127.0.0.1", 40111)
        lab.set_zone("example.test", new_text); lab.reload()
        lab.flush(1); lab.freeze(2); lab.thaw(2)

Every address is in 127.0.0.0/8 and every port is picked by the OS, so a lab never reaches the
internet and never collides with other servers. Each unbound has a stub-zone for every lab zone
pointing at nsd and refuses every other name (`local-zone: "." refuse`). The settings follow
/work/shared/lab-notes.md; the comments below say why the less obvious ones are there.

In a test module, add `pytest_plugins = ["tests.lab.dnslab"]` and use the `dns_lab` (per test)
or `dns_lab_module` (per module) fixture: each is a factory `make(zones, resolver_count=4,
stubs=None, resolver_options=None, trust_anchors=None)` that starts a lab and stops it after
the test (or module), pass or fail. Validating resolvers and signed zones: resolver_options.py
and dnssec_zone.py.
Where nsd or unbound is missing the fixture skips, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.zone
import pytest

from tests.lab import (
    Address,
    LabError,
    ServerProcess,
    find_program,
    free_port,
    missing_in_lab,
    pids_running,
)
from tests.lab.resolver_options import PLAIN, ResolverOptions, options_for, server_lines

RESOLVER_NET = "127.0.53."
"""Resolvers listen on 127.0.53.11, .12, ...: a corner of loopback other labs leave alone."""
FIRST_RESOLVER_HOST = 11
AUTHORITATIVE_IP = "127.0.0.1"
SERVER_PROGRAMS = ("nsd", "nsd-control", "unbound", "unbound-control")


def missing_programs() -> list[str]:
    return [name for name in SERVER_PROGRAMS if find_program(name) is None]


def require_dns_servers() -> None:
    """Skip the test when nsd/unbound are missing; fail instead under CI, where they must run."""
    missing = missing_programs()
    if not missing:
        return
    reason = (
        f"the DNS lab needs {', '.join(missing)} (Debian packages nsd and unbound, listed in "
        "tests/debian-packages.txt; tests/run installs them as root)"
    )
    missing_in_lab(reason)


def _program(name: str) -> str:
    path = find_program(name)
    if path is None:
        raise LabError(f"{name} is not installed")
    return path


def zone_text(
    origin: str,
    serial: int,
    ttl: int,
    records: Sequence[str],
    *,
    negative_ttl: int = 2,
    soa_ttl: int | None = None,
) -> str:
    """A complete zone: SOA (minimum = `negative_ttl`), NS ns1 with glue 127.0.0.1, `records`.

    Records are zone-file lines relative to the origin, e.g. "www 60 A 127.0.0.80" or "@ MX 10 mx".
    The SOA's own TTL is `soa_ttl` (default `ttl`); a negative answer lives min(SOA TTL, minimum).
    """
    origin = origin.rstrip(".") + "."
    soa_ttl = ttl if soa_ttl is None else soa_ttl
    lines = [
        f"$ORIGIN {origin}",
        f"$TTL {ttl}",
        f"@ {soa_ttl} IN SOA ns1.{origin} hostmaster.{origin} "
        f"{serial} 3600 600 86400 {negative_ttl}",
        f"@ IN NS ns1.{origin}",
        f"ns1 IN A {AUTHORITATIVE_IP}",
        *records,
    ]
    return "\n".join(lines) + "\n"


def ask(address: Address, qname: str, rdtype: str, timeout: float = 1.0) -> dns.message.Message:
    """One plain UDP question (RD set), for the lab's own checks and simple tests."""
    query = dns.message.make_query(qname, rdtype)
    return dns.query.udp(query, address[0], timeout=timeout, port=address[1])


def _probe(address: Address, qname: str, rdtype: str) -> Callable[[], dns.message.Message]:
    def probe() -> dns.message.Message:
        try:
            return ask(address, qname, rdtype, timeout=0.05)
        except dns.exception.DNSException as error:
            raise LabError(str(error)) from None

    return probe


def _control_section(control_socket: Path) -> str:
    # A unix control socket needs no TLS keys.
    return f'remote-control:\n    control-enable: yes\n    control-interface: "{control_socket}"\n'


def _soa_serial(name: str, text: str) -> int | None:
    try:
        zone = dns.zone.from_text(text, origin=name + ".", relativize=False, check_origin=False)
        soa = zone.get_rdataset(name + ".", "SOA")
    except dns.exception.DNSException:
        return None
    return None if soa is None else int(soa[0].serial)


class Authoritative:
    """One nsd serving `zones` from zone files under `workdir`, on 127.0.0.1@<free port>."""

    def __init__(self, workdir: Path, zones: Mapping[str, str], control_dir: Path, label: str):
        self.workdir = workdir
        self.label = label
        self.zones = {name.rstrip(".").lower(): text for name, text in zones.items()}
        self.address: Address = (AUTHORITATIVE_IP, free_port(AUTHORITATIVE_IP))
        self.conf = workdir / "nsd.conf"
        self.control_socket = control_dir / f"{label}.ctl"
        self.process: ServerProcess | None = None
        self._mtime_ns: dict[str, int] = {}

    def _write_zone(self, name: str, text: str) -> None:
        path = self.workdir / f"{name}.zone"
        path.write_text(text)
        # nsd reloads a zone only when its file's mtime changed: make every write count.
        mtime_ns = max(time.time_ns(), self._mtime_ns.get(name, 0) + 1_000_000_000)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        self._mtime_ns[name] = mtime_ns

    def launch(self) -> None:
        d = self.workdir
        (d / "xfr").mkdir(parents=True, exist_ok=True)
        zone_sections = ""
        for name, text in self.zones.items():
            self._write_zone(name, text)
            zone_sections += f'zone:\n    name: "{name}."\n    zonefile: "{name}.zone"\n'
        ip, port = self.address
        self.conf.write_text(
            f"server:\n    ip-address: {ip}@{port}\n    port: {port}\n"
            '    username: ""\n    chroot: ""\n    database: ""\n'
            f'    zonesdir: "{d}"\n    zonelistfile: "{d}/zone.list"\n'
            f'    xfrdfile: "{d}/xfrd.state"\n    xfrdir: "{d}/xfr"\n'
            f'    pidfile: "{d}/nsd.pid"\n    logfile: "{d}/nsd.log"\n'
            "    server-count: 1\n    verbosity: 1\n"
            # Debian turns on response rate limiting, which drops answers in a fast test.
            "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n"
            + _control_section(self.control_socket)
            + zone_sections
        )
        argv = [_program("nsd"), "-d", "-c", str(self.conf)]
        self.process = ServerProcess(self.label, argv, self.conf, [d / "nsd.out", d / "nsd.log"])

    def wait_until_serving(self) -> None:
        """Until nsd answers, then check that it loaded every zone (a bad zone is SERVFAIL)."""
        assert self.process is not None, "wait_until_serving() before launch()"
        probe = _probe(self.address, next(iter(self.zones), "."), "SOA")
        self.process.wait_until(probe, f"answering on {self.address[0]}@{self.address[1]}")
        for name in self.zones:  # nsd loads every zone before it answers: no need to wait long
            self._wait_for_serial(name, _soa_serial(name, self.zones[name]), within=0.3)

    def set_zone(self, name: str, text: str) -> None:
        """Write a new zone file for a zone this server was started with; reload() serves it."""
        name = name.rstrip(".").lower()
        if name not in self.zones:
            raise LabError(f"{self.label} does not serve {name}; zones: {sorted(self.zones)}")
        self.zones[name] = text
        self._write_zone(name, text)

    def reload(self, zone: str | None = None) -> None:
        """`nsd-control reload` (one zone or all), then wait until each new SOA serial is served."""
        assert self.process is not None, "reload() before start"
        names = list(self.zones) if zone is None else [zone.rstrip(".").lower()]
        old_servers = self._server_pids()
        for name in names:
            self._write_zone(name, self.zones[name])  # a new mtime: nsd reloads for certain
        command = ["reload"] if zone is None else ["reload", names[0]]
        self.process.control([_program("nsd-control"), "-c", str(self.conf), *command])
        for name in names:
            self._wait_for_serial(name, _soa_serial(name, self.zones[name]), within=2.0)

        # A reload forks new server processes; until the old ones exit they still answer,
        # with the old zone, from the same socket.
        def old_servers_gone() -> None:
            if old_servers & self._server_pids():
                raise LabError("old server processes still running")

        self.process.wait_until(old_servers_gone, "retiring the servers of the old zone", 2.0)

    def _server_pids(self) -> set[int]:
        """The nsd processes that answer queries ("nsd: server N"; zombies have no cmdline)."""
        pids = set()
        for pid in pids_running(str(self.conf)):
            try:
                if Path(f"/proc/{pid}/comm").read_text().startswith("nsd: server"):
                    pids.add(pid)
            except OSError:
                continue
        return pids

    def _wait_for_serial(self, name: str, expected: int | None, within: float) -> None:
        assert self.process is not None

        def serves_expected_serial() -> None:
            reply = _probe(self.address, name + ".", "SOA")()
            if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
                raise LabError(f"SOA query answered {dns.rcode.to_text(reply.rcode())}")
            served = reply.answer[0][0].serial
            if expected is not None and served != expected:
                raise LabError(f"serial {served}, expected {expected}")

        self.process.wait_until(
            serves_expected_serial, f"serving zone {name} (a zone file error?)", within
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Resolver:
    """One unbound on its own loopback address with a stub-zone per lab zone."""

    def __init__(self, name: str, ip: str, workdir: Path, control_dir: Path):
        self.name = name
        self.address: Address = (ip, free_port(ip))
        self.workdir = workdir
        self.conf = workdir / "unbound.conf"
        self.control_socket = control_dir / f"{name}.ctl"
        self.process: ServerProcess | None = None
        self.options = PLAIN

    def launch(
        self,
        stubs: Mapping[str, Address],
        options: ResolverOptions = PLAIN,
        trust_anchors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        d = self.workdir
        d.mkdir(parents=True, exist_ok=True)
        self.options = options
        stub_sections = ""
        zones = [zone.rstrip(".").lower() + "." for zone in stubs]
        for zone, (stub_ip, stub_port) in zip(zones, stubs.values(), strict=True):
            stub_sections += f'stub-zone:\n    name: "{zone}"\n'
            stub_sections += f"    stub-addr: {stub_ip}@{stub_port}\n"
        # unbound has built-in local zones (test., 127.in-addr.arpa., RFC 1918 reverses): a
        # transparent local-zone per lab zone lets the stub answer for it (see server_lines).
        zone_lines = server_lines(options, zones, trust_anchors or {}, d)
        ip, port = self.address
        self.conf.write_text(
            f"server:\n    interface: {ip}\n    port: {port}\n"
            "    access-control: 127.0.0.0/8 allow\n"
            '    username: ""\n    chroot: ""\n'
            f'    directory: "{d}"\n    pidfile: "{d}/unbound.pid"\n'
            f'    logfile: "{d}/unbound.log"\n    use-syslog: no\n'
            "    verbosity: 1\n    num-threads: 1\n    do-daemonize: no\n"
            f"    do-not-query-localhost: no\n    outgoing-interface: {AUTHORITATIVE_IP}\n"
            # Without this a second copy binds the same address and the kernel splits queries.
            "    so-reuseport: no\n"
            # With Debian's defaults a dead authoritative means no reply at all for 30 s;
            # with these, SERVFAIL in about 2 s.
            "    discard-timeout: 0\n    infra-cache-max-rtt: 1000\n"
            "    qname-minimisation: no\n    prefetch: no\n"
            '    local-zone: "." refuse\n'
            + zone_lines
            + _control_section(self.control_socket)
            + stub_sections
        )
        argv = [_program("unbound"), "-d", "-c", str(self.conf)]
        logs = [d / "unbound.out", d / "unbound.log"]
        self.process = ServerProcess(f"unbound {self.name}", argv, self.conf, logs)

    def wait_until_serving(self) -> None:
        assert self.process is not None, "wait_until_serving() before launch()"
        # "." is refused at once and caches nothing, so probing does not warm the cache.
        probe = _probe(self.address, ".", "NS")
        self.process.wait_until(probe, f"answering on {self.address[0]}@{self.address[1]}")

    def control(self, *args: str) -> str:
        assert self.process is not None, "control() before start"
        return self.process.control([_program("unbound-control"), "-c", str(self.conf), *args])

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class DnsLab:
    """nsd plus `resolver_count` unbound resolvers on loopback; a context manager.

    `stubs` adds a stub-zone to every resolver for a zone served elsewhere, for instance
    `{"dead.test": ("127.0.0.1", free_port())}` for an authoritative that is down.
    `resolver_options` (one for all, or one per resolver index) makes resolvers validate DNSSEC
    with `trust_anchors` (zone -> DS/DNSKEY lines), send extended errors or floor TTLs: see
    resolver_options.py; by default every resolver is a plain caching one.
    """

    def __init__(
        self,
        workdir: Path,
        zones: Mapping[str, str],
        resolver_count: int = 4,
        *,
        stubs: Mapping[str, Address] | None = None,
        resolver_options: ResolverOptions | Sequence[ResolverOptions] | None = None,
        trust_anchors: Mapping[str, Sequence[str]] | None = None,
    ):
        if not 0 <= resolver_count <= 40:
            raise ValueError("resolver_count must be between 0 and 40")
        self.workdir = Path(workdir)
        # Unix socket paths must stay under ~100 bytes; pytest's tmp_path can be longer.
        self._control_dir = Path(tempfile.mkdtemp(prefix="dnslab-"))
        self.primary = Authoritative(self.workdir / "nsd", zones, self._control_dir, "nsd")
        self.extra_authoritatives: list[Authoritative] = []
        self._stubs = dict(stubs or {})
        self._options = options_for(resolver_options, resolver_count)
        self._trust_anchors = dict(trust_anchors or {})
        self._resolvers = [
            Resolver(
                f"lab-r{index + 1}",
                f"{RESOLVER_NET}{FIRST_RESOLVER_HOST + index}",
                self.workdir / f"unbound{index + 1}",
                self._control_dir,
            )
            for index in range(resolver_count)
        ]
        self._started = False

    def __enter__(self) -> DnsLab:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Launch every server at once, then wait for each (about 0.2 s in all)."""
        if self._started:
            return
        self._started = True
        try:
            self.primary.launch()
            stubs = {name: self.primary.address for name in self.primary.zones}
            stubs.update(self._stubs)
            for resolver, options in zip(self._resolvers, self._options, strict=True):
                resolver.launch(stubs, options, self._trust_anchors)
            self.primary.wait_until_serving()
            for resolver in self._resolvers:
                resolver.wait_until_serving()
        except BaseException:
            self.stop()
            raise

    @property
    def resolvers(self) -> list[tuple[str, str, int]]:
        """(name, ip, port) of each resolver, in index order."""
        return [(r.name, *r.address) for r in self._resolvers]

    @property
    def authoritative(self) -> Address:
        return self.primary.address

    def resolver_address(self, index: int) -> Address:
        return self._resolvers[index].address

    def resolver_log(self, index: int) -> str:
        process = self._resolvers[index].process
        return "" if process is None else process.log_tail(40)

    def set_zone(self, name: str, text: str) -> None:
        self.primary.set_zone(name, text)

    def reload(self, zone: str | None = None) -> None:
        self.primary.reload(zone)

    def flush(self, resolver_index: int) -> None:
        """Make one resolver truly fresh: no cached records, negative or bogus answers (nor
        validated keys), no server RTTs."""
        resolver = self._resolvers[resolver_index]
        resolver.control("flush_zone", ".")
        resolver.control("flush_negative")
        resolver.control("flush_bogus")
        resolver.control("flush_infra", "all")
        resolver.control("flush_requestlist")

    def control(self, resolver_index: int, *args: str) -> str:
        """`unbound-control ARGS` on one resolver, e.g. ("local_data", "www.example.test. 300
        IN A 127.0.66.6"): a local override, as corporate resolvers carry."""
        return self._resolvers[resolver_index].control(*args)

    def _process(self, resolver_index: int) -> ServerProcess:
        process = self._resolvers[resolver_index].process
        assert process is not None, "the lab is not started"
        return process

    def freeze(self, resolver_index: int) -> None:
        """SIGSTOP: the resolver stops answering (queries wait in its socket buffer)."""
        self._process(resolver_index).signal(signal.SIGSTOP)

    def thaw(self, resolver_index: int) -> None:
        self._process(resolver_index).signal(signal.SIGCONT)

    def add_authoritative(self, zones: Mapping[str, str]) -> Authoritative:
        """Start another, independent nsd (own port and zone files) and return it.

        Resolvers keep their stubs; `point_resolver` sends one of them to it.
        """
        label = f"nsd{len(self.extra_authoritatives) + 2}"
        server = Authoritative(self.workdir / label, zones, self._control_dir, label)
        self.extra_authoritatives.append(server)
        server.launch()
        server.wait_until_serving()
        return server

    def point_resolver(self, resolver_index: int, zone: str, address: Address) -> None:
        """Replace one resolver's stub for `zone` with `address` (unbound-control), and flush."""
        resolver = self._resolvers[resolver_index]
        zone = zone.rstrip(".").lower() + "."
        resolver.control("stub_remove", zone)
        resolver.control("stub_add", zone, f"{address[0]}@{address[1]}")
        self.flush(resolver_index)

    def stop(self) -> None:
        """Stop every server this lab started, thawing frozen ones first. Safe to call twice."""
        servers: list[Resolver | Authoritative] = [*self._resolvers, *self.extra_authoritatives]
        for server in [*servers, self.primary]:
            try:
                server.stop()
            except (OSError, subprocess.SubprocessError):
                pass
        shutil.rmtree(self._control_dir, ignore_errors=True)


LabFactory = Callable[..., DnsLab]


def _lab_factory(workdir: Path) -> Iterator[LabFactory]:
    labs: list[DnsLab] = []

    def make(zones: Mapping[str, str], resolver_count: int = 4, **options: Any) -> DnsLab:
        """`options`: DnsLab's keyword arguments (stubs, resolver_options, trust_anchors)."""
        require_dns_servers()
        lab = DnsLab(workdir / f"lab{len(labs)}", zones, resolver_count, **options)
        labs.append(lab)
        lab.start()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()


@pytest.fixture
def dns_lab(tmp_path: Path) -> Iterator[LabFactory]:
    """Factory for labs that live for one test: `lab = dns_lab(zones, resolver_count=3)`."""
    yield from _lab_factory(tmp_path)


@pytest.fixture(scope="module")
def dns_lab_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """Factory for labs shared by a module's tests (cheaper; mind the shared caches)."""
    yield from _lab_factory(tmp_path_factory.mktemp("dnslab"))
