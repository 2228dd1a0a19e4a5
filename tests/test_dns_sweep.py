"""cockpit.dns.sweep against real nsd and unbound on loopback, with real caches and real TTLs.

Each test starts its own lab (about 0.3 s), so one test's caches never leak into another's.
The helpers at the top (zones, config) are shared with test_check_cli.py.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import UTC, fromisoformat
from cockpit.config import Config, load_config
from cockpit.dns.events import diff_sweeps
from cockpit.dns.findings_pure import findings_from_sweep
from cockpit.dns.observation import Outcome, ServerSpec
from cockpit.dns.query import query
from cockpit.dns.sweep import SWEEP_MARGIN, find_authoritative, sweep
from cockpit.dns.sweep_model import SweepResult
from cockpit.model import Finding, Status
from tests.lab import Address, guard_loopback
from tests.lab.dnslab import Authoritative, DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
REVERSE = "20.0.127.in-addr.arpa"
TTL = 3
NEGATIVE_TTL = 4
TIMEOUT = 0.5
MX_KEY = f"{ZONE} MX"
WEBMAIL = {"primary": "127.0.10.1", "secondary": "127.0.10.2"}
MX_HOST = {"primary": "mx1", "secondary": "mx2"}
HOSTILE_TXT = 'hostile TXT "\\027[31mred\\027[0m [bold]loud[/bold] [@click=quit]"'


# --- shared helpers (also used by test_check_cli.py) -------------------------------------------


def zone_records(
    region: str = "primary", *, mx: str | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """example.test as it is when `region` is active (MX and webmail point there)."""
    return [
        f"@ MX 10 {mx or MX_HOST[region]}",
        f"webmail A {WEBMAIL[region]}",
        "mx1 A 127.0.0.25",
        "mx2 A 127.0.0.26",
        '@ TXT "v=spf1 ip4:127.0.20.0/24 -all"',
        '@ TXT "some-site-verification=abc"',
        '_dmarc TXT "v=DMARC1; p=reject"',
        'p1._domainkey TXT "v=DKIM1; k=rsa; p=AAAA"',
        's1._domainkey TXT "v=DKIM1; k=rsa; p=BBBB"',
        *extra,
    ]


def lab_zones(
    region: str = "primary",
    *,
    serial: int = 1,
    mx: str | None = None,
    extra: Sequence[str] = (),
    ttl: int = TTL,
) -> dict[str, str]:
    """The forward zone (TTL 3 s, negative TTL 4 s) and the reverse zone of the sending IPs."""
    forward = zone_text(
        ZONE,
        serial,
        ttl,
        zone_records(region, mx=mx, extra=extra),
        negative_ttl=NEGATIVE_TTL,
        soa_ttl=30,
    )
    reverse = zone_text(REVERSE, 1, ttl, ["1 PTR mx1.example.test.", "2 PTR mx2.example.test."])
    return {ZONE: forward, REVERSE: reverse}


def write_config(
    directory: Path,
    lab: DnsLab,
    *,
    authoritative: Sequence[Address] | None = None,
    extra_selectors: Sequence[str] = (),
    records: Sequence[tuple[str, str]] = (),
    timeout: float = TIMEOUT,
) -> Path:
    """A config for example.test with every lab resolver; [dns].authoritative defaults to the
    lab's nsd (pass [] for the NS-set path)."""
    servers = [lab.authoritative] if authoritative is None else list(authoritative)
    selectors = ", ".join(f'"{s}"' for s in ["s1", *extra_selectors])
    text = f"""\
[incident]
dir = "incidents"

[domain]
name = "{ZONE}"

[[region]]
name = "primary"
mx = ["mx1.example.test"]
sending_ips = ["127.0.20.1"]
dkim_selectors = ["p1"]
webmail_url = "https://webmail.example.test/"
webmail_addresses = ["127.0.10.1"]

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
sending_ips = ["127.0.20.2"]
dkim_selectors = [{selectors}]
webmail_url = "https://webmail.example.test/"
webmail_addresses = ["127.0.10.2"]

[dns]
timeout = {timeout}
authoritative = [{", ".join(f'"{ip}:{port}"' for ip, port in servers)}]
"""
    for name, ip, port in lab.resolvers:
        text += f'\n[[dns.resolver]]\nname = "{name}"\naddress = "{ip}:{port}"\n'
    for name, rdtype in records:
        text += f'\n[[dns.record]]\nname = "{name}"\ntype = "{rdtype}"\n'
    path = directory / "cockpit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def resolver_names(lab: DnsLab) -> list[str]:
    return [name for name, _, _ in lab.resolvers]


# --- helpers for this module --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every socket this process connects or sends to must be in 127.0.0.0/8."""
    guard_loopback(monkeypatch)
    yield


def config_for(tmp_path: Path, lab: DnsLab, **options: Any) -> Config:
    return load_config(write_config(tmp_path, lab, **options))


def run_sweep(config: Config, **options: Any) -> SweepResult:
    return asyncio.run(sweep(config, **options))


def by_resolver(findings: list[Finding], check: str) -> dict[str, Finding]:
    return {f.resolver: f for f in findings if f.check == check and f.resolver is not None}


def propagation(findings: list[Finding], key: str) -> Finding:
    [found] = [f for f in findings if f.check == "propagation" and f.subject == key]
    return found


def switch_to(lab: DnsLab, region: str, **options: Any) -> None:
    lab.set_zone(ZONE, lab_zones(region, serial=2, **options)[ZONE])
    lab.reload(ZONE)


def ask_mx(spec: ServerSpec) -> str | None:
    seen = asyncio.run(query(spec, ZONE, "MX", timeout=TIMEOUT, retries=0))
    return seen.answers[0].split()[1] if seen.ok else None


# --- the tests ----------------------------------------------------------------------------------


def test_all_resolvers_on_primary_is_ok(dns_lab: LabFactory, tmp_path: Path) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = config_for(tmp_path, lab)
    calls: list[tuple[int, int]] = []
    result = run_sweep(config, progress=lambda done, total: calls.append((done, total)))

    assert result.authoritative_source == "configured" and result.authoritative_error is None
    assert [spec.name for spec in result.resolvers] == resolver_names(lab)
    assert set(result.serials) == {f"{lab.authoritative[0]}:{lab.authoritative[1]}"}
    questions = len(result.watched) * (len(lab.resolvers) + 1) + 1
    assert len(calls) == questions and calls[-1] == (questions, questions)
    assert [done for done, _ in calls] == list(range(1, questions + 1))
    for observation in result.authoritative_observations.values():
        assert observation.authoritative_answer, "authoritative questions go out with RD off"

    findings = findings_from_sweep(result, "primary")
    mx = by_resolver(findings, "MX")
    for name in resolver_names(lab):
        assert (mx[name].status, mx[name].region) == (Status.OK, "primary"), mx[name]
    mx_propagation = propagation(findings, MX_KEY)
    assert mx_propagation.status is Status.OK
    assert mx_propagation.data["share"] == 1.0 and mx_propagation.data["estimate"] is None
    assert {f.status for f in findings} == {Status.OK}, [f for f in findings if f.status != "ok"]


class EstimateTooEarly(AssertionError):
    """The propagation estimate came before a stale cache actually expired."""


def test_one_flushed_resolver_is_fresh_the_others_stale_until_their_ttl(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = config_for(tmp_path, lab)
    run_sweep(config)  # every resolver caches the primary answers
    switch_to(lab, "secondary")
    lab.flush(0)
    result = run_sweep(config)

    findings = findings_from_sweep(result, "secondary")
    names = resolver_names(lab)
    mx = by_resolver(findings, "MX")
    assert (mx[names[0]].status, mx[names[0]].region) == (Status.OK, "secondary")
    for name in names[1:]:
        stale = mx[name]
        assert (stale.status, stale.region) == (Status.WARN, "primary"), stale
        assert "TTL" in stale.summary and 0 <= stale.data["ttl"] <= TTL
    mx_propagation = propagation(findings, MX_KEY)
    assert mx_propagation.status is Status.WARN
    assert mx_propagation.data["share"] == pytest.approx(1 / len(names))
    assert mx_propagation.data["converged"] == 1 and mx_propagation.data["resolvers"] == len(names)
    assert mx_propagation.data["stale_resolvers"] == names[1:]
    estimate = fromisoformat(mx_propagation.data["estimate"])

    # Watch the stale caches flip, one small question every 100 ms each.
    stale_specs = list(result.resolvers[1:])
    last_stale: dict[str, datetime] = {}
    first_fresh: dict[str, datetime] = {}
    give_up = time.monotonic() + TTL + 3
    while len(first_fresh) < len(stale_specs) and time.monotonic() < give_up:
        for spec in stale_specs:
            if spec.name in first_fresh:
                continue
            answer = ask_mx(spec)
            if answer == "mx2.example.test":
                first_fresh[spec.name] = datetime.now(UTC)
            else:
                assert answer == "mx1.example.test", f"{spec.name} answered {answer}"
                last_stale[spec.name] = datetime.now(UTC)
        time.sleep(0.1)
    assert set(first_fresh) == {spec.name for spec in stale_specs}, "a cache never expired"
    converged = findings_from_sweep(run_sweep(config), "secondary")
    assert propagation(converged, MX_KEY).status is Status.OK
    assert propagation(converged, MX_KEY).data["share"] == 1.0
    assert {f.status for f in by_resolver(converged, "MX").values()} == {Status.OK}

    # The last cache flipped between the last stale answer seen and the first fresh one.
    flipped_after = max(last_stale.values())
    flipped_by = max(first_fresh.values())
    assert estimate <= flipped_by + timedelta(seconds=1), "the estimate is over a second late"
    if estimate < flipped_after:
        raise EstimateTooEarly(
            f"estimate {estimate:%H:%M:%S.%f} is earlier than the last stale answer, seen at"
            f" {flipped_after:%H:%M:%S.%f}"
        )


def test_a_frozen_resolver_is_unknown_and_delays_nobody(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = config_for(tmp_path, lab)
    names = resolver_names(lab)
    frozen = names[-1]
    answered_at: list[float] = []
    lab.freeze(len(names) - 1)
    try:
        started = time.perf_counter()
        result = run_sweep(
            config, progress=lambda done, total: answered_at.append(time.perf_counter())
        )
        elapsed = time.perf_counter() - started
    finally:
        lab.thaw(len(names) - 1)

    # One timeout, the retry included (it goes out at half the budget).
    assert elapsed < TIMEOUT * 1.1 + 0.3, f"the sweep took {elapsed:.2f} s"
    frozen_questions = len(result.watched)
    quick = [moment - started for moment in answered_at[:-frozen_questions]]
    assert max(quick) < TIMEOUT / 2, "the live servers' answers waited for the frozen one"
    for key, observation in result.observations.items():
        if key[0] == frozen:
            assert observation.outcome is Outcome.TIMEOUT and observation.attempts == 2

    findings = findings_from_sweep(result, "primary")
    for finding in findings:
        if finding.resolver == frozen:
            assert finding.status is Status.UNKNOWN and "timeout" in finding.summary, finding
    mx = by_resolver(findings, "MX")
    for name in names[:-1]:
        assert (mx[name].status, mx[name].region) == (Status.OK, "primary")
    mx_propagation = propagation(findings, MX_KEY)
    assert mx_propagation.data["unknown_resolvers"] == [frozen]
    assert mx_propagation.data["share"] == pytest.approx((len(names) - 1) / len(names))


def test_a_question_that_cannot_start_in_time_is_cut_short_not_dropped(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """One slot, held by a frozen resolver: the others' questions get what is left, then the
    sweep ends on time and says why."""
    lab = dns_lab(lab_zones("primary"), resolver_count=2)
    config = config_for(tmp_path, lab)
    lab.freeze(0)
    try:
        started = time.perf_counter()
        result = run_sweep(config, limit=1, retries=0)
        elapsed = time.perf_counter() - started
    finally:
        lab.thaw(0)
    assert elapsed < TIMEOUT + SWEEP_MARGIN + 0.2
    everything = [*result.observations.values(), *result.authoritative_observations.values()]
    assert len(everything) == len(result.watched) * 3
    assert all(seen.outcome is Outcome.TIMEOUT for seen in everything)
    assert any("the sweep's time ran out" in (seen.error or "") for seen in everything)


def test_authoritative_serial_skew_is_a_warning_naming_both(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary", serial=2026112701))
    other = lab.add_authoritative(lab_zones("primary", serial=2026112702))
    config = config_for(tmp_path, lab, authoritative=[lab.authoritative, other.address])
    result = run_sweep(config)
    assert len(result.serials) == 2
    soa = [f for f in findings_from_sweep(result, "primary") if f.check == "SOA"]
    assert len(soa) == 2
    for finding in soa:
        assert finding.status is Status.WARN
        assert "2026112701" in finding.summary and "2026112702" in finding.summary
        assert finding.resolver is not None and finding.resolver.startswith("authoritative ")


def test_a_new_name_cached_as_nxdomain_uses_the_negative_ttl(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = config_for(tmp_path, lab, extra_selectors=["n1"])
    new_name = f"n1._domainkey.{ZONE}"
    specs = [ServerSpec(*resolver) for resolver in lab.resolvers]
    cached_at = []
    for spec in specs:  # every resolver caches "does not exist"
        seen = asyncio.run(query(spec, new_name, "TXT", timeout=TIMEOUT))
        assert seen.outcome is Outcome.NXDOMAIN and seen.ttl == NEGATIVE_TTL
        cached_at.append(seen.observed_at)
    added = ['n1._domainkey TXT "v=DKIM1; p=N"']
    lab.set_zone(ZONE, lab_zones("primary", serial=2, extra=added)[ZONE])
    lab.reload(ZONE)
    lab.flush(0)
    result = run_sweep(config)

    findings = findings_from_sweep(result, "primary")
    dkim = {f.resolver: f for f in findings if f.subject == new_name and f.check == "DKIM"}
    assert dkim[specs[0].name].status is Status.OK
    for spec in specs[1:]:
        assert dkim[spec.name].status is Status.WARN and "NXDOMAIN" in dkim[spec.name].summary
    new_propagation = propagation(findings, f"{new_name} TXT")
    assert new_propagation.data["share"] == pytest.approx(1 / len(specs))
    estimate = fromisoformat(new_propagation.data["estimate"])
    stale = [result.observations[(spec.name, f"{new_name} TXT")] for spec in specs[1:]]
    assert all(seen.ttl is not None and seen.ttl <= NEGATIVE_TTL for seen in stale)
    # The negative TTL (SOA minimum 4 s; the SOA's own TTL is 30 s) as each resolver reports it,
    # counting down, plus at most the second that whole-second TTLs can hide.
    latest_expiry = max(seen.observed_at + timedelta(seconds=seen.ttl or 0) for seen in stale)
    assert 0.0 <= (estimate - latest_expiry).total_seconds() <= 1.0, (estimate, latest_expiry)
    # The same moment seen from the other side: when the NXDOMAIN was cached, plus 4 s.
    expected = max(cached_at[1:]) + timedelta(seconds=NEGATIVE_TTL)
    assert -1.0 <= (estimate - expected).total_seconds() <= 2.0, (estimate, expected)

    time.sleep(max(0.0, (estimate - datetime.now(UTC)).total_seconds()) + 1.1)
    after = findings_from_sweep(run_sweep(config), "primary")
    assert propagation(after, f"{new_name} TXT").data["share"] == 1.0


def _port_53_address() -> str:
    """A loopback address where port 53 is free for UDP and TCP (root may bind it)."""
    for host in range(153, 200):
        ip = f"127.0.53.{host}"
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((ip, 53))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind((ip, 53))
        except OSError:
            continue
        return ip
    raise AssertionError("no loopback address with port 53 free (is this running as root?)")


def test_the_ns_set_is_found_and_asked_on_port_53(dns_lab: LabFactory, tmp_path: Path) -> None:
    """No [dns].authoritative: the NS hosts come from the resolvers. ns1 is an nsd on port 53
    of its own loopback address, serving another serial; ns2 points where nothing listens."""
    live_ip = _port_53_address()
    dead_ip = "127.0.53.254"
    delegation = [f"@ NS ns2.{ZONE}.", f"ns2 A {dead_ip}"]
    zones = lab_zones("primary", extra=delegation)
    zones[ZONE] = zones[ZONE].replace("ns1 IN A 127.0.0.1", f"ns1 IN A {live_ip}")
    lab = dns_lab(zones)
    served = lab_zones("primary", serial=77, extra=delegation)
    control_dir = Path(tempfile.mkdtemp(prefix="nsd53-"))
    port_53 = Authoritative(tmp_path / "nsd53", served, control_dir, "nsd53")
    port_53.address = (live_ip, 53)
    try:
        port_53.launch()
        port_53.wait_until_serving()
        config = config_for(tmp_path, lab, authoritative=[])
        specs = [ServerSpec(*resolver) for resolver in lab.resolvers]
        servers, source, reason = asyncio.run(find_authoritative(config, specs, timeout=TIMEOUT))
        assert (source, reason) == ("NS set", None)
        assert servers == (
            ServerSpec(f"ns1.{ZONE}", live_ip, 53),
            ServerSpec(f"ns2.{ZONE}", dead_ip, 53),
        )
        result = run_sweep(config)
    finally:
        port_53.stop()
    assert result.authoritative_source == "NS set" and result.authoritative == servers
    assert result.serials[f"ns1.{ZONE}"].soa_serial == 77
    assert result.serials[f"ns2.{ZONE}"].outcome is Outcome.NETWORK_ERROR
    findings = findings_from_sweep(result, "primary")
    soa = {f.resolver: f for f in findings if f.check == "SOA"}
    assert soa[f"authoritative ns1.{ZONE}"].status is Status.OK
    assert "77" in soa[f"authoritative ns1.{ZONE}"].summary
    assert soa[f"authoritative ns2.{ZONE}"].status is Status.UNKNOWN
    mx = by_resolver(findings, "MX")
    assert mx[f"authoritative ns1.{ZONE}"].status is Status.OK
    assert mx[f"authoritative ns2.{ZONE}"].status is Status.UNKNOWN
    assert propagation(findings, MX_KEY).status is Status.OK


def test_no_ns_set_means_no_authoritative_view_and_says_why(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    """A domain the resolvers will not look up (the lab's unbound refuses every name outside
    its zones): no NS set, no authoritative questions, and the reason is in the findings."""
    lab = dns_lab(lab_zones("primary"))
    text = write_config(tmp_path, lab, authoritative=[]).read_text(encoding="utf-8")
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(text.replace(f'name = "{ZONE}"', 'name = "elsewhere.example"', 1))
    config = load_config(elsewhere)
    specs = [ServerSpec(*resolver) for resolver in lab.resolvers]
    servers, source, reason = asyncio.run(find_authoritative(config, specs, timeout=TIMEOUT))
    assert (servers, source) == ((), "none")
    assert reason is not None and "elsewhere.example" in reason and "REFUSED" in reason

    result = run_sweep(config)
    assert (result.authoritative_source, result.authoritative_error) == ("none", reason)
    assert dict(result.authoritative_observations) == {} and dict(result.serials) == {}
    findings = findings_from_sweep(result, "primary")
    [no_view] = [f for f in findings if f.check == "authoritative"]
    assert no_view.status is Status.UNKNOWN and "REFUSED" in no_view.summary


def test_a_zone_change_is_an_event_for_the_flushed_resolver(
    dns_lab: LabFactory, tmp_path: Path
) -> None:
    lab = dns_lab(lab_zones("primary"))
    config = config_for(tmp_path, lab)
    before = run_sweep(config)
    switch_to(lab, "secondary")
    lab.flush(0)
    after = run_sweep(config)
    events = diff_sweeps(before, after, "secondary")
    changed = [e for e in events if e.kind == "resolver_region_changed" and e.key == MX_KEY]
    assert [e.server for e in changed] == [resolver_names(lab)[0]]
    assert "secondary" in changed[0].text
    assert any(e.kind == "authoritative_changed" and e.key == MX_KEY for e in events)
