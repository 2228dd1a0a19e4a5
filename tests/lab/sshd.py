"""Real OpenSSH servers for the ssh vantage tests: two "sites" seen through ssh, on loopback.

    lab = ssh_lab_module({"example.test": zone_text(...)})   # a module-scoped factory
    lab.site_a.options("plain")   # ssh_options for a [[vantage]]: -F /dev/null -p ... -i ...
    lab.site_b.destination        # "root@127.0.22.12"
    lab.site_b_dns.set_zone(...); lab.site_b_dns.reload(); lab.site_b_dns.flush()

site_a is an sshd on 127.0.22.11:<free port> whose sessions run on this host: a vantage there
names its resolvers (the DNS lab's, on 127.0.53.x). site_b is an sshd on 127.0.22.12 whose
every session is forced into a network namespace made for the module (`command="exec ip
netns exec NS /bin/sh -c ..."` in its authorized_keys): there /etc/resolv.conf is
/etc/netns/NS/resolv.conf ("nameserver 127.0.0.1"), and 127.0.0.1:53 is an unbound of that
namespace alone, with its own nsd serving the same zones. So site_b has a resolver nothing on
this host can reach, found through its own resolv.conf, and it can stay stale while the
host's resolvers are flushed. Every address is in 127.0.0.0/8, on the host or in the namespace.

Each site has a throwaway host key and a private known_hosts file; the client keys are made
per module, each with its own authorized_keys line:
  plain    a normal session;
  nodig    PATH holds only `cat`: `dig` is "not found" (exit 127);
  fakedig  PATH starts with a fake `dig` that floods escape sequences and megabytes.

Everything started is stopped after the module, pass or fail: servers, every process left in
the namespace, the namespace and its /etc/netns directory. Where sshd, ip netns, nsd or
unbound are missing the fixture skips, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.lab import LabError, ServerProcess, find_program, free_port, missing_in_lab
from tests.lab.resolver_options import PLAIN, server_lines

SSH_NET = "127.0.22."
SITE_A_IP = SSH_NET + "11"
SITE_B_IP = SSH_NET + "12"
PROGRAMS = ("sshd", "ssh", "ssh-keygen", "ip", "dig", "nsd", "nsd-control", "unbound")
_NSD_PORT = 5300
"""nsd's port inside the namespace (nothing else listens there)."""
FAKE_DIG = """#!/bin/sh
cat > /dev/null
printf '\\033]0;pwned\\007\\033[2J\\033[31m; <<>> DiG 9 <<>> @1.2.3.4 -p 53 -t MX -q x.\\n'
printf ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\\n;; ANSWER SECTION:\\n'
printf 'example.test. 300 IN MX 10 \\033[5mevil.example.\\n'
head -c 3000000 /dev/zero | tr '\\0' 'A'
"""


def require_ssh_lab() -> None:
    missing = [name for name in PROGRAMS if find_program(name) is None]
    if missing:
        missing_in_lab(
            f"the ssh lab needs {', '.join(missing)} (Debian packages openssh-server,"
            " openssh-client, iproute2, bind9-dnsutils, nsd, unbound: tests/debian-packages.txt)"
        )
    if os.geteuid() != 0:
        missing_in_lab("the ssh lab runs sshd and ip netns, which need root")


def _program(name: str) -> str:
    path = find_program(name)
    if path is None:
        raise LabError(f"{name} is not installed")
    return path


def _run(argv: list[str], timeout: float = 10) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _keypair(path: Path) -> str:
    """A fresh ed25519 key at `path`; returns the public key line."""
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    _run(
        [_program("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)]
    )
    return path.with_suffix(".pub").read_text().strip()


def _forced(prefix: str) -> str:
    """An authorized_keys option running the client's command after `prefix` (a shell line)."""
    return f'command="{prefix}/bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" '


def _control(socket_path: Path) -> str:
    return f'remote-control:\n    control-enable: yes\n    control-interface: "{socket_path}"\n'


class SshSite:
    """One sshd on `ip`:<free port>, with its host key, known_hosts and client keys."""

    def __init__(self, workdir: Path, ip: str, forced: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.ip = ip
        self.port = free_port(ip)
        self.forced = dict(forced)
        """Client key name -> the authorized_keys options of its line."""
        self.known_hosts = workdir / "known_hosts"
        self.conf = workdir / "sshd_config"
        self.log = workdir / "sshd.log"
        self.process: ServerProcess | None = None
        self.user = "root"
        """Who sessions log in as (any user: the keys are in one authorized_keys file)."""

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.ip}"

    def key(self, name: str) -> Path:
        return self.workdir / f"client-{name}"

    def options(self, key: str = "plain", *, known_hosts: Path | None = None) -> list[str]:
        """ssh_options reaching this site with client key `key`, and nothing from ~/.ssh."""
        return [
            "-F", "/dev/null", "-p", str(self.port), "-i", str(self.key(key)),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
        ]  # fmt: skip

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        host_key = self.workdir / "host_key"
        host_public = _keypair(host_key).split()
        self.known_hosts.write_text(f"[{self.ip}]:{self.port} {host_public[0]} {host_public[1]}\n")
        lines = [f"{options}{_keypair(self.key(name))}" for name, options in self.forced.items()]
        authorized = self.workdir / "authorized_keys"
        authorized.write_text("".join(f"{line}\n" for line in lines))
        self.conf.write_text(
            f"ListenAddress {self.ip}:{self.port}\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {authorized}\nPidFile none\n"
            "StrictModes no\nUsePAM no\nUseDNS no\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPrintMotd no\n"
            "MaxSessions 10\nLogLevel INFO\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        argv = [_program("sshd"), "-D", "-e", "-f", str(self.conf)]
        self.process = ServerProcess(f"sshd {self.ip}", argv, self.conf, [self.log])
        self.process.wait_until(self._banner, f"an ssh banner on {self.ip}:{self.port}")

    def _banner(self) -> bytes:
        with socket.create_connection((self.ip, self.port), timeout=1) as connection:
            banner = connection.recv(64)
        if not banner.startswith(b"SSH-2.0"):
            raise LabError(f"no ssh banner: {banner!r}")
        return banner

    def sessions(self) -> int:
        """Connections sshd accepted so far (one per master connection, not per session)."""
        return self.log.read_text(errors="replace").count("Accepted publickey")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class NetnsDns:
    """A network namespace with its own nsd (127.0.0.1:5300) and unbound (127.0.0.1:53)."""

    def __init__(self, workdir: Path, name: str, zones: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.name = name
        self.zones = {zone.rstrip(".").lower(): text for zone, text in zones.items()}
        self.etc = Path("/etc/netns") / name
        self.control = Path(tempfile.mkdtemp(prefix="sshlab-"))  # short unix socket paths
        self.nsd: ServerProcess | None = None
        self.unbound: ServerProcess | None = None
        self._mtime_ns = 0

    @property
    def enter(self) -> list[str]:
        return [_program("ip"), "netns", "exec", self.name]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run([_program("ip"), "netns", "add", self.name])
        _run([*self.enter, _program("ip"), "link", "set", "lo", "up"])
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("# site b\nnameserver 127.0.0.1\n")
        self._start_nsd()
        self._start_unbound()

    def _start_nsd(self) -> None:
        d = self.workdir
        (d / "xfr").mkdir(exist_ok=True)
        zones = ""
        for name, text in self.zones.items():
            self._write_zone(name, text)
            zones += f'zone:\n    name: "{name}."\n    zonefile: "{name}.zone"\n'
        conf = d / "nsd.conf"
        conf.write_text(
            f"server:\n    ip-address: 127.0.0.1@{_NSD_PORT}\n    port: {_NSD_PORT}\n"
            '    username: ""\n    chroot: ""\n    database: ""\n'
            f'    zonesdir: "{d}"\n    zonelistfile: "{d}/zone.list"\n'
            f'    xfrdfile: "{d}/xfrd.state"\n    xfrdir: "{d}/xfr"\n'
            f'    pidfile: "{d}/nsd.pid"\n    logfile: "{d}/nsd.log"\n    server-count: 1\n'
            "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n"
            + _control(self.control / "nsd.ctl")
            + zones
        )
        argv = [*self.enter, _program("nsd"), "-d", "-c", str(conf)]
        self.nsd = ServerProcess("nsd in netns", argv, conf, [d / "nsd.out", d / "nsd.log"])
        for name, text in self.zones.items():
            self._wait_serial(name, text, self.nsd)

    def _start_unbound(self) -> None:
        d = self.workdir
        zones = [name + "." for name in self.zones]
        stubs = "".join(
            f'stub-zone:\n    name: "{z}"\n    stub-addr: 127.0.0.1@{_NSD_PORT}\n' for z in zones
        )
        conf = d / "unbound.conf"
        conf.write_text(
            "server:\n    interface: 127.0.0.1\n    port: 53\n"
            "    access-control: 127.0.0.0/8 allow\n"
            f'    username: ""\n    chroot: ""\n    directory: "{d}"\n'
            f'    pidfile: "{d}/unbound.pid"\n    logfile: "{d}/unbound.log"\n'
            "    use-syslog: no\n    num-threads: 1\n    do-daemonize: no\n"
            "    do-not-query-localhost: no\n    so-reuseport: no\n"
            "    discard-timeout: 0\n    infra-cache-max-rtt: 1000\n"
            "    qname-minimisation: no\n    prefetch: no\n"
            '    local-zone: "." refuse\n'
            + server_lines(PLAIN, zones, {}, d)
            + _control(self.control / "unbound.ctl")
            + stubs
        )
        argv = [*self.enter, _program("unbound"), "-d", "-c", str(conf)]
        self.unbound = ServerProcess(
            "unbound in netns", argv, conf, [d / "unbound.out", d / "unbound.log"]
        )
        self.unbound.wait_until(lambda: self.unbound_control("status"), "unbound-control status")

    def _write_zone(self, name: str, text: str) -> None:
        path = self.workdir / f"{name}.zone"
        path.write_text(text)
        # nsd reloads only when the file's mtime changed, in whole seconds.
        self._mtime_ns = max(time.time_ns(), self._mtime_ns + 1_000_000_000)
        os.utime(path, ns=(self._mtime_ns, self._mtime_ns))

    def _wait_serial(self, name: str, text: str, process: ServerProcess) -> None:
        """Until nsd in the namespace serves the SOA serial of `text` (asked from inside)."""
        soa = next(line for line in text.splitlines() if " SOA " in line).split()
        wanted = soa[soa.index("SOA") + 3]
        argv = [*self.enter, _program("dig"), "+short", "+time=1", "+tries=1"]
        argv += ["@127.0.0.1", "-p", str(_NSD_PORT), f"{name}.", "SOA"]

        def probe() -> None:
            answer = _run(argv).split()
            if len(answer) < 3 or answer[2] != wanted:
                raise LabError(f"serial of {name}: {answer[2:3]}, waiting for {wanted}")

        process.wait_until(probe, f"serial {wanted} of {name} served")

    def set_zone(self, name: str, text: str) -> None:
        """Serve `text` for zone `name` from now on (nsd reload, waiting for the new serial)."""
        assert self.nsd is not None
        self.zones[name] = text
        self._write_zone(name, text)
        self.nsd.control([_program("nsd-control"), "-c", str(self.nsd.config), "reload", name])
        self._wait_serial(name, text, self.nsd)

    def unbound_control(self, *args: str) -> str:
        assert self.unbound is not None
        return self.unbound.control(
            [_program("unbound-control"), "-c", str(self.unbound.config), *args]
        )

    def flush(self) -> None:
        self.unbound_control("flush_zone", ".")
        self.unbound_control("flush_negative")
        self.unbound_control("flush_infra", "all")

    def stop(self) -> None:
        for process in (self.unbound, self.nsd):
            if process is not None:
                process.stop()
        pids = subprocess.run(
            [_program("ip"), "netns", "pids", self.name], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:  # whatever a session left running in there
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run([_program("ip"), "netns", "del", self.name], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.control, ignore_errors=True)


class SshLab:
    """site_a (this host's network) and site_b (a namespace with its own DNS); see the module
    docstring. A context manager; stop() is safe to call twice."""

    def __init__(self, workdir: Path, zones: Mapping[str, str]) -> None:
        self.workdir = workdir
        netns = f"ckv{os.getpid()}x{int(time.time() * 1000) % 100000}"
        fakebin, nodig = workdir / "fakebin", workdir / "nodig"
        self.site_a = SshSite(
            workdir / "site-a",
            SITE_A_IP,
            {
                "plain": "",
                "nodig": _forced(f"PATH={nodig}; export PATH; exec "),
                "fakedig": _forced(f"PATH={fakebin}:/usr/bin:/bin; export PATH; exec "),
            },
        )
        self.site_b = SshSite(
            workdir / "site-b", SITE_B_IP, {"plain": _forced(f"exec ip netns exec {netns} ")}
        )
        self.site_b_dns = NetnsDns(workdir / "site-b-dns", netns, zones)
        self._bins = (fakebin, nodig)

    def _write_bins(self) -> None:
        fakebin, nodig = self._bins
        fakebin.mkdir(parents=True, exist_ok=True)
        nodig.mkdir(parents=True, exist_ok=True)
        (fakebin / "dig").write_text(FAKE_DIG)
        (fakebin / "dig").chmod(0o755)
        cat = nodig / "cat"
        if not cat.exists():
            cat.symlink_to(_program("cat"))

    def __enter__(self) -> SshLab:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._write_bins()
            self.site_b_dns.start()
            self.site_a.start()
            self.site_b.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for part in (self.site_a, self.site_b, self.site_b_dns):
            try:
                part.stop()
            except (OSError, subprocess.SubprocessError, LabError):
                pass


SshLabFactory = Callable[[Mapping[str, str]], SshLab]


@pytest.fixture(scope="module")
def ssh_lab_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLabFactory]:
    """Factory for ssh labs shared by a module's tests: `lab = ssh_lab_module(zones)`."""
    labs: list[SshLab] = []
    workdir = tmp_path_factory.mktemp("sshlab")

    def make(zones: Mapping[str, str]) -> SshLab:
        require_ssh_lab()
        lab = SshLab(workdir / f"lab{len(labs)}", zones)
        labs.append(lab)
        lab.start()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()
