"""The drill world's SMTP listeners, IMAP greeters, replication lag and role sources, spoken to
with the standard library's real clients (smtplib, imaplib, ssl) and httpx over loopback."""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import httpx
import pytest
from cryptography import x509

from cockpit.config import Config, load_config_text
from cockpit.drill import DrillWorld, Timings, drill_config_text, mail_servers, queue_http
from cockpit.drill.control_model import BASE_LAG_S, ROLE_SWITCH_DELAY, ControlModel
from cockpit.drill.zones import RegionPlan
from cockpit.model import Status

FAST = Timings(record_ttl=3, negative_ttl=2, policy_ttl=6)
DOMAIN = "drill.example"
IMAP_GREETING = b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] cockpit-drill ready\r\n"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DrillSMTP(smtplib.SMTP):
    """smtplib that connects to `address` but speaks to (and verifies) the MX host's name."""

    def __init__(self, address: str, **options: float) -> None:
        self.address = address
        super().__init__(**options)  # type: ignore[arg-type]

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: None = None
    ) -> tuple[int, bytes]:
        self._host = host  # the name STARTTLS verifies (smtplib sets it only in __init__)
        return super().connect(host, port, source_address)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.address, port), timeout)


class DrillIMAP(imaplib.IMAP4):
    """imaplib that connects to `address` but verifies the certificate for `host`."""

    def __init__(self, host: str, address: str, port: int) -> None:
        self.address = address
        super().__init__(host, port, timeout=3)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.address, self.port), timeout)


@pytest.fixture
def world() -> Iterator[DrillWorld]:
    drill = DrillWorld(timings=FAST, resolver_count=2)
    drill.start()
    drill.fail_primary()
    try:
        yield drill
    finally:
        drill.stop()


@pytest.fixture
def ca_file(world: DrillWorld, tmp_path: Path) -> Path:
    return world.write_ca_certificate(tmp_path / "drill-ca.pem")


def trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def plan(world: DrillWorld, region: str) -> RegionPlan:
    return world.region(region)


def raw_session(address: str, port: int, *sends: bytes, wait: float = 3.0) -> bytes:
    """Connect, send each line, and read until the server closes (bounded by `wait`)."""
    received = b""
    with socket.create_connection((address, port), timeout=wait) as raw:
        for data in sends:
            raw.sendall(data)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            chunk = raw.recv(4096)
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"the server kept the connection open: {received!r}")


# --- SMTP -----------------------------------------------------------------------------------


def test_smtp_secondary_offers_starttls_with_a_certificate_from_the_drill_ca(
    world: DrillWorld, ca_file: Path
) -> None:
    secondary = plan(world, "secondary")
    for host, address in zip(secondary.mx_hosts, secondary.mx_addresses, strict=True):
        with DrillSMTP(address, timeout=3) as client:
            code, banner = client.connect(host, world.smtp_port)
            assert (code, banner) == (220, f"{host} ESMTP cockpit-drill".encode())
            code, _ = client.ehlo("probe.invalid")
            assert code == 250
            assert {"starttls", "8bitmime", "size"} <= set(client.esmtp_features)
            assert client.starttls(context=trusting(ca_file))[0] == 220
            der = client.sock.getpeercert(binary_form=True)
            names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
            assert names.value.get_values_for_type(x509.DNSName) == [host]
            client.ehlo("probe.invalid")
            assert "starttls" not in client.esmtp_features  # offered once, before TLS
            assert client.docmd("MAIL", "FROM:<a@b.example>")[0] == 502
            assert client.docmd("VRFY", "postmaster")[0] == 502
            assert client.noop()[0] == 250
            assert client.docmd("QUIT")[0] == 221


def test_smtp_certificate_does_not_verify_without_the_ca_or_for_another_name(
    world: DrillWorld, ca_file: Path
) -> None:
    secondary = plan(world, "secondary")
    host, address = secondary.mx_hosts[0], secondary.mx_addresses[0]
    with DrillSMTP(address, timeout=3) as client:
        client.connect(host, world.smtp_port)
        client.ehlo("probe.invalid")
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())
    with DrillSMTP(address, timeout=3) as client:
        client.connect(secondary.mx_hosts[1], world.smtp_port)  # the other host's name
        client.ehlo("probe.invalid")
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=trusting(ca_file))
    assert b"PRIVATE KEY" not in ca_file.read_bytes()
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_smtp_primary_refuses_on_one_mx_and_greets_421_on_the_other(world: DrillWorld) -> None:
    primary = plan(world, "primary")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((primary.mx_addresses[0], world.smtp_port), timeout=2).close()
    greeting = raw_session(primary.mx_addresses[1], world.smtp_port)
    assert greeting == f"421 4.3.2 {primary.mx_hosts[1]} drill: region down\r\n".encode()
    client = DrillSMTP(primary.mx_addresses[1], timeout=3)
    try:
        code, message = client.connect(primary.mx_hosts[1], world.smtp_port)
        assert (code, message) == (421, b"4.3.2 mx2.primary.drill.example drill: region down")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.ehlo("probe.invalid")
    finally:
        client.close()


def test_a_region_failed_before_start_never_listens_on_its_first_mx(tmp_path: Path) -> None:
    drill = DrillWorld(timings=FAST, resolver_count=1)
    drill.fail_primary()
    with drill:
        primary, secondary = plan(drill, "primary"), plan(drill, "secondary")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((primary.mx_addresses[0], drill.smtp_port), timeout=2)
        assert raw_session(primary.mx_addresses[1], drill.smtp_port).startswith(b"421 ")
        # Every MX address shares the one port [service] mx_port names.
        for address in secondary.mx_addresses:
            with socket.create_connection((address, drill.smtp_port), timeout=2) as raw:
                assert raw.recv(100).startswith(b"220 ")


def test_smtp_bounds_lines_commands_idle_time_and_connections(
    world: DrillWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, port = plan(world, "secondary").mx_addresses[0], world.smtp_port
    too_long = raw_session(address, port, b"EHLO " + b"x" * 5000 + b"\r\n")
    assert too_long.endswith(b"421 4.4.2 mx1.secondary.drill.example drill: line too long\r\n")
    chatty = raw_session(address, port, b"NOOP\r\n" * (mail_servers.MAX_COMMANDS + 5))
    assert chatty.count(b"250 2.0.0 OK") == mail_servers.MAX_COMMANDS
    assert chatty.endswith(b"drill: too many commands\r\n")
    injected = raw_session(address, port, b"EHLO a\r\n", b"STARTTLS\r\nMAIL FROM:<a@b>\r\n")
    assert injected.endswith(b"554 5.5.1 drill: commands sent with STARTTLS refused\r\n")
    garbage = raw_session(address, port, b"\xff\xfe\x00 EHLO\r\n", b"QUIT\r\n")
    assert b"502 5.5.1" in garbage and garbage.endswith(b"closing connection\r\n")

    cap = mail_servers.MAX_CONNECTIONS
    held = [socket.create_connection((address, port), timeout=2) for _ in range(cap)]
    try:
        for sock in held:
            assert sock.recv(100).startswith(b"220 ")
        assert raw_session(address, port) == b""  # over the cap: closed without a greeting
    finally:
        for sock in held:
            sock.close()

    monkeypatch.setattr(mail_servers, "IDLE_SECONDS", 0.5)
    other = plan(world, "secondary").mx_addresses[1]  # a listener of its own: its own cap
    started = time.monotonic()
    idle = raw_session(other, port)
    assert idle.endswith(b"drill: idle for too long\r\n")
    assert time.monotonic() - started < 0.5 + 2


# --- IMAP -----------------------------------------------------------------------------------


def test_imap_secondary_greets_lists_upgrades_refuses_login_and_logs_out(
    world: DrillWorld, ca_file: Path
) -> None:
    secondary = plan(world, "secondary")
    client = DrillIMAP(secondary.imap_host, secondary.imap_address, world.imap_port)
    try:
        assert client.welcome == IMAP_GREETING.rstrip(b"\r\n")
        assert client.capability() == ("OK", [b"IMAP4rev1 STARTTLS LOGINDISABLED"])
        assert client.starttls(ssl_context=trusting(ca_file))[0] == "OK"
        assert client.capability() == ("OK", [b"IMAP4rev1 LOGINDISABLED"])
        assert client.noop()[0] == "OK"
        with pytest.raises(imaplib.IMAP4.error, match="logins are disabled"):
            client.login("someone", "secret")
    finally:
        bye = client.logout()
    assert bye[0] == "BYE"
    assert raw_session(
        secondary.imap_address, world.imap_port, b"a1 SELECT INBOX\r\n", b"a2 LOGOUT\r\n"
    ) == IMAP_GREETING + (
        b"a1 BAD drill: command not implemented\r\n"
        b"* BYE cockpit-drill logging out\r\na2 OK LOGOUT completed\r\n"
    )


def test_imap_primary_says_bye(world: DrillWorld) -> None:
    primary = plan(world, "primary")
    assert raw_session(primary.imap_address, world.imap_port) == b"* BYE drill: region down\r\n"
    with pytest.raises(imaplib.IMAP4.error, match="region down"):
        DrillIMAP(primary.imap_host, primary.imap_address, world.imap_port)


def test_imap_bounds_and_garbage(world: DrillWorld) -> None:
    address, port = plan(world, "secondary").imap_address, world.imap_port
    garbage = raw_session(address, port, b"\r\n", b"(bad CAPABILITY\r\n", b"x" * 3000 + b"\r\n")
    assert garbage == IMAP_GREETING + (
        b"* BAD drill: expected a tag and a command\r\n" * 2 + b"* BYE drill: line too long\r\n"
    )
    injected = raw_session(address, port, b"t1 STARTTLS\r\nt2 LOGIN a b\r\n")
    assert injected.endswith(b"t1 BAD drill: commands sent with STARTTLS refused\r\n")


def test_imap_names_resolve_through_the_drill_to_addresses_the_world_binds(
    world: DrillWorld,
) -> None:
    resolver = world.resolvers[0]
    for region in ("primary", "secondary"):
        imap = plan(world, region)
        query = dns.message.make_query(imap.imap_host, "A")
        reply = dns.query.udp(query, resolver.host, port=resolver.port, timeout=2)
        assert [rd.address for rd in reply.answer[0]] == [imap.imap_address]
        with socket.create_connection((imap.imap_address, world.imap_port), timeout=2) as raw:
            assert raw.recv(100).startswith(b"* ")
        assert world.imap_address(region) == f"{imap.imap_host}:{world.imap_port}"


# --- replication lag and roles --------------------------------------------------------------


def get(url: str, timeout: float = 2) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def test_lag_grows_after_the_failure_and_freezes_at_the_switch() -> None:
    clock = FakeClock()
    drill = DrillWorld(clock=clock, timings=FAST, resolver_count=1)
    with drill:
        before = get(drill.replication_url("secondary"))
        assert before.status_code == 200 and before.json() == {
            "region": "secondary",
            "lag_s": BASE_LAG_S,
        }
        assert 0 < BASE_LAG_S <= 2
        assert get(drill.replication_url("primary")).json()["lag_s"] == 0.0
        clock.advance(30)
        drill.fail_primary()
        down = get(drill.replication_url("primary"))
        assert down.status_code == 503 and "lag_s" not in down.json()
        clock.advance(60)
        assert get(drill.replication_url("secondary")).json()["lag_s"] == BASE_LAG_S + 60
        clock.advance(30)
        drill.switch_to("secondary")
        clock.advance(600)
        frozen = get(drill.replication_url("secondary")).json()["lag_s"]
        assert frozen == BASE_LAG_S + 90  # the data at risk of this failover
        assert get(drill.replication_url("primary")).status_code == 503
        assert get(f"{drill.queue_base_url}/replication/nowhere").status_code == 404


def test_roles_follow_the_switch_after_a_delay_and_the_dead_primary_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    drill = DrillWorld(clock=clock, timings=FAST, resolver_count=1)
    with drill:

        def role(region: str) -> str:
            reply = get(drill.role_url(region))
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/plain")
            return reply.text.strip()

        assert (role("primary"), role("secondary")) == ("primary", "standby")
        drill.fail_primary()
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            get(drill.role_url("primary"), timeout=1)
        assert time.monotonic() - started < 1 + 2
        assert role("secondary") == "standby"
        drill.switch_to("secondary")
        clock.advance(ROLE_SWITCH_DELAY - 1)
        assert role("secondary") == "standby"
        clock.advance(1.5)
        assert role("secondary") == "primary"
        with pytest.raises(httpx.ReadTimeout):
            get(drill.role_url("primary"), timeout=0.5)

        # Server-side the hold is bounded: the connection closes with not a byte said.
        monkeypatch.setattr(queue_http, "HOLD_SECONDS", 0.5)
        host, port = drill.queue_base_url.removeprefix("http://").rsplit(":", 1)
        request = f"GET /role/primary HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        started = time.monotonic()
        assert raw_session(host, int(port), request) == b""
        assert 0.4 <= time.monotonic() - started < 0.5 + 2
        assert get(drill.queue_url("primary")).status_code == 200  # the server still answers


def test_control_model_switching_back_and_a_promoted_region_failing() -> None:
    model = ControlModel(["primary", "secondary"])
    model.fail("primary", 100.0)
    model.switch("secondary", 110.0)
    assert model.lag("secondary", 500.0) == BASE_LAG_S + 10
    assert model.role("secondary", 110.0 + ROLE_SWITCH_DELAY) == "primary"
    model.switch("primary", 200.0)  # back to a dead primary: the standby falls behind again
    assert model.lag("secondary", 200.0) == BASE_LAG_S + 100
    assert model.role("secondary", 300.0) == "standby"
    model.fail("secondary", 300.0)
    assert model.lag("secondary", 301.0) is None and model.role("secondary", 301.0) is None
    assert model.lag("elsewhere", 1.0) is None and model.role("elsewhere", 1.0) is None


# --- the config ---------------------------------------------------------------------------------


def drill_config(world: DrillWorld, tmp_path: Path, **options: object) -> Config:
    text = drill_config_text(world, tmp_path / "incidents", **options)  # type: ignore[arg-type]
    return load_config_text(text)


def test_config_names_every_service_lag_and_role_source(
    world: DrillWorld, ca_file: Path, tmp_path: Path
) -> None:
    config = drill_config(world, tmp_path, ca_file=ca_file, probe_interval=1)
    assert (config.service.interval, config.service.timeout) == (5, 2)
    assert config.service.mx_port == world.smtp_port
    assert config.tls.ca_file == ca_file
    assert config.authority.grace == 30
    assert config.auth.skip == ("smtp-tls",)
    for region in config.regions:
        (endpoint,) = region.endpoints
        assert (endpoint.kind, endpoint.tls) == ("imap", "starttls")
        assert endpoint.subject == world.imap_address(region.name)
        assert endpoint.host == f"imap.{region.name}.{DOMAIN}"
        (lag,) = region.replication
        assert (lag.name, lag.kind, lag.path, lag.url) == (
            f"{region.name}-store",
            "json",
            "lag_s",
            world.replication_url(region.name),
        )
        assert (lag.warn, lag.crit, lag.interval, lag.timeout) == (30, 120, 1, 2)
        (role,) = region.roles
        assert (role.name, role.kind, role.url) == (
            f"{region.name}-control",
            "http",
            world.role_url(region.name),
        )
        assert (role.interval, role.timeout) == (5, 2)
    plain = drill_config(world, tmp_path)
    assert plain.tls.ca_file is None and plain.regions[0].replication[0].interval == 5


def test_the_drill_command_keeps_the_ca_next_to_the_log(tmp_path: Path) -> None:
    from cockpit.commands.drill_cmd import start_drill

    session = start_drill(tmp_path / "drills", "alice", tmp_path / "keys", timings=FAST)
    try:
        ca_file = session.config.tls.ca_file
        assert ca_file == session.log_path.with_name(f"{session.log_path.stem}-ca.pem")
        assert ca_file is not None and ca_file.read_bytes() == session.world.ca_certificate_pem
        assert session.config.service.mx_port == session.world.smtp_port
    finally:
        session.world.stop()


def test_stop_closes_the_mail_ports() -> None:
    drill = DrillWorld(timings=FAST, resolver_count=1)
    with drill:
        smtp = [(address, drill.smtp_port) for p in drill.regions for address in p.mx_addresses]
        imap = [(p.imap_address, drill.imap_port) for p in drill.regions]
    ends = smtp + imap
    for end in ends:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(end, timeout=1).close()


# --- the cockpit's own service probes -----------------------------------------------------------


def test_service_probes_see_the_secondary_take_mail_and_the_primary_refuse(
    world: DrillWorld, ca_file: Path, tmp_path: Path
) -> None:
    from cockpit.service.findings import service_findings

    config = drill_config(world, tmp_path, ca_file=ca_file)
    findings = asyncio.run(service_findings(config))

    def statuses(host: str) -> set[Status]:
        return {f.status for f in findings if f.subject.split(":", 1)[0] == host}

    for host in plan(world, "secondary").mx_hosts:
        assert statuses(host) == {Status.OK}, [(f.subject, f.summary) for f in findings]
    for host in plan(world, "primary").mx_hosts:
        assert statuses(host) == {Status.FAIL}, [(f.subject, f.summary) for f in findings]
    for region in ("primary", "secondary"):
        imap = {f.status for f in findings if f.subject == world.imap_address(region)}
        assert imap == ({Status.OK} if region == "secondary" else {Status.FAIL}), findings
