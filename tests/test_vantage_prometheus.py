"""The prometheus vantage: real blackbox_exporters probing a real DNS lab, read back through a
real Prometheus; and a stub Prometheus (a real HTTP server on loopback) for hostile replies."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.compat import UTC
from cockpit.config import Config, load_config_text
from cockpit.config.model import Vantage
from cockpit.dns.classify import Verdict, classify, failure_reason
from cockpit.dns.observation import Outcome
from cockpit.dns.watch import Judge, WatchedName, watched_names
from cockpit.model import Status
from cockpit.vantage.blackbox import module_for, rcode_module_for, smtp_module_for
from cockpit.vantage.model import VantageLook
from cockpit.vantage.prometheus import MAX_ROWS, look_prometheus
from tests.lab import free_port
from tests.lab.dnslab import DnsLab, zone_text

pytest.register_assert_rewrite("tests.lab.prometheus_lab")  # imported before pytest loads it
from tests.lab.prometheus_lab import BannerServer, LabSite, PrometheusLab  # noqa: E402

pytest_plugins = ["tests.lab.dnslab", "tests.lab.prometheus_lab"]

CONFIG = """
[domain]
name = "example.test"

[[region]]
name = "eu"
mx = ["mx1.eu.example.test"]
webmail_url = "https://webmail.example.test/"
webmail_addresses = ["127.0.0.80"]

[[region]]
name = "us"
mx = ["mx1.us.example.test"]
webmail_url = "https://webmail.example.test/"
webmail_addresses = ["127.0.0.81"]

[[vantage]]
name = "sites"
kind = "prometheus"
url = "http://127.0.0.1:9"
interval = 5
timeout = 3
"""
ZONE_TTL = 60  # long: an unflushed resolver keeps the old answer for the whole test


def _zone(serial: int, region: str) -> str:
    address = {"eu": "127.0.0.80", "us": "127.0.0.81"}[region]
    records = [f"@ MX 10 mx1.{region}.example.test.", f"webmail A {address}"]
    return zone_text("example.test", serial, ZONE_TTL, records)


@dataclasses.dataclass
class World:
    config: Config
    vantage: Vantage
    dns: DnsLab
    prometheus: PrometheusLab
    sites: dict[str, list[str]]
    """site -> its resolver addresses (the `instance` of its rows)."""
    first_series_s: float

    def look(self, vantage: Vantage | None = None) -> VantageLook:
        chosen = vantage or self.vantage
        return asyncio.run(look_prometheus(chosen, self.config, watched_names(self.config)))

    def row(self, look: VantageLook, resolver: str, site: str) -> dict[str, Any]:
        by_name = {row.spec.name: row for row in look.rows}
        return dict(by_name[f"{resolver} @ {site}"].observations)

    def wait_for(self, check: Callable[[VantageLook], bool], what: str, within: float) -> None:
        deadline = time.monotonic() + within
        look = self.look()
        while not check(look):
            assert time.monotonic() < deadline, f"{what} not within {within:g} s: {look}"
            time.sleep(0.3)
            look = self.look()


@pytest.fixture(scope="module")
def world(dns_lab_module: Any, prometheus_lab_module: Any) -> Iterator[World]:
    config = load_config_text(CONFIG)
    dns = dns_lab_module({"example.test": _zone(1, "eu")}, resolver_count=3)
    banner = BannerServer()
    try:
        yield _start_world(config, dns, prometheus_lab_module, banner)
    finally:
        banner.stop()


def _start_world(config: Config, dns: DnsLab, make_lab: Any, banner: BannerServer) -> World:
    resolvers = [f"{ip}:{port}" for _, ip, port in dns.resolvers]
    closed = f"127.0.0.1:{free_port()}"  # nothing listens: the banner probe fails
    sites = [
        LabSite(
            "site-a",
            resolvers[:1],
            {"mx1.eu.example.test": banner.address, "mx1.us.example.test": closed},
        ),
        LabSite(
            "site-b",
            resolvers[1:],
            {"mx1.eu.example.test": banner.address, "mx1.us.example.test": banner.address},
        ),
    ]
    prometheus = make_lab(config, config.vantages[0], sites)
    first_series_s = prometheus.wait_for_series()
    vantage = dataclasses.replace(config.vantages[0], url=prometheus.url)
    by_site = {site.name: list(site.resolvers) for site in sites}
    return World(config, vantage, dns, prometheus, by_site, first_series_s)


def _watched(config: Config) -> dict[str, WatchedName]:
    return {w.key: w for w in watched_names(config)}


def test_each_site_reads_the_region_the_zone_says(world: World) -> None:
    look = world.look()
    assert look.error is None, look.error
    names = sorted(row.spec.name for row in look.rows)
    expected = [f"{r} @ {site}" for site, rs in world.sites.items() for r in rs]
    assert names == sorted(expected)
    watched = _watched(world.config)
    for row in look.rows:
        assert set(row.observations) == {"example.test MX", "webmail.example.test A"}
        for key, obs in row.observations.items():
            assert obs.outcome is Outcome.ANSWER and obs.region_seen == "eu", obs
            assert obs.answers == () and obs.observed_at <= look.finished_at
            assert "blackbox at site-" in obs.raw_answers[0]
            judged = classify(watched[key], obs, None)  # type: ignore[arg-type]
            assert judged.verdict is Verdict.REGION and judged.region == "eu"
            assert "judged by blackbox" in judged.reason
    assert not any(w.judge is Judge.BY_AUTHORITATIVE and w.key in row.observations
                   for w in watched.values() for row in look.rows)  # fmt: skip
    assert world.first_series_s < 20


def test_smtp_banner_ok_and_fail(world: World) -> None:
    look = world.look()
    by_subject = {f.subject: f for f in look.services}
    assert set(by_subject) == {
        "mx1.eu.example.test:25 @ site-a",
        "mx1.us.example.test:25 @ site-a",
        "mx1.eu.example.test:25 @ site-b",
        "mx1.us.example.test:25 @ site-b",
    }
    failed = by_subject["mx1.us.example.test:25 @ site-a"]
    assert failed.status is Status.FAIL and failed.region == "us"
    assert "no 220 banner" in failed.summary
    for subject in ("mx1.eu.example.test:25 @ site-a", "mx1.us.example.test:25 @ site-b"):
        assert by_subject[subject].status is Status.OK, by_subject[subject]
    assert all(f.area == "service" and f.check == "smtp" for f in look.services)
    assert by_subject["mx1.eu.example.test:25 @ site-b"].region == "eu"


def test_a_frozen_resolver_is_a_failure_row_not_an_answer(world: World) -> None:
    frozen = world.sites["site-b"][1]

    def frozen_fails(look: VantageLook) -> bool:
        row = world.row(look, frozen, "site-b")
        return all(obs.outcome is not Outcome.ANSWER for obs in row.values())

    world.dns.freeze(2)
    try:
        world.wait_for(frozen_fails, "the frozen resolver's row failing", within=10)
        look = world.look()
        row = world.row(look, frozen, "site-b")
        for obs in row.values():
            assert obs.outcome in (Outcome.TIMEOUT, Outcome.NETWORK_ERROR), obs
            assert obs.region_seen is None and "no reply to blackbox at site-b" in obs.reason
        live = world.row(look, world.sites["site-a"][0], "site-a")["example.test MX"]
        assert live.region_seen == "eu"
    finally:
        world.dns.thaw(2)


def test_failover_moves_the_flushed_site_only(world: World) -> None:
    site_a, site_b = world.sites["site-a"][0], world.sites["site-b"][0]
    world.dns.set_zone("example.test", _zone(2, "us"))
    world.dns.reload()
    world.dns.flush(0)
    try:

        def moved(look: VantageLook) -> bool:
            row = world.row(look, site_a, "site-a")
            return all(obs.region_seen == "us" for obs in row.values())

        started = time.monotonic()
        world.wait_for(moved, "site-a's row moving to us", within=10)
        assert time.monotonic() - started < 10
        look = world.look()
        stale = world.row(look, site_b, "site-b")
        assert all(obs.region_seen == "eu" for obs in stale.values()), stale
    finally:
        world.dns.set_zone("example.test", _zone(3, "eu"))
        world.dns.reload()
        world.dns.flush(0)


def test_prometheus_down_is_one_unknown_row(world: World) -> None:
    down = dataclasses.replace(world.vantage, url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    look = world.look(down)
    assert time.monotonic() - started < down.timeout + 1
    assert look.error is not None and "Prometheus at http://127.0.0.1:" in look.error
    assert "ConnectError" in look.error
    (row,) = look.rows
    assert row.spec.name == "@ sites"
    assert all(obs.outcome is Outcome.NETWORK_ERROR for obs in row.observations.values())
    assert look.services == ()


def test_what_prometheus_says_with_an_error_status_is_kept(world: World) -> None:
    """A real Prometheus refuses a bad query with HTTP 400 and says why in JSON: the reason
    keeps its words, not only "HTTP 400 Bad Request"."""
    from cockpit.queue.sources import SourceError, fetch_capped

    url = f"{world.prometheus.url}/api/v1/query?query=sum%28"
    with pytest.raises(SourceError) as refused:
        asyncio.run(fetch_capped(url, timeout=5))
    said = str(refused.value)
    assert said.startswith("HTTP 400 Bad Request: bad_data: "), said
    assert "parse error" in said and len(said) <= 300


# --- a stub Prometheus: a real HTTP server on loopback answering what a test chose ------------


class _Stub(http.server.ThreadingHTTPServer):
    status = 200
    body = b""
    delay = 0.0


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        server: _Stub = self.server  # type: ignore[assignment]
        time.sleep(server.delay)
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        try:
            self.wfile.write(server.body)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def _series(labels: dict[str, str], values: dict[str, float], at: datetime) -> list[dict[str, Any]]:
    """What the cockpit's query gives for one probe: each value and its timestamp."""
    items: list[dict[str, Any]] = []
    for metric, value in values.items():
        items.append(
            {"metric": {"__name__": metric, **labels}, "value": [NOW.timestamp(), str(value)]}
        )
        timed = {**labels, "cockpit_metric": metric, "cockpit_at": "1"}
        items.append({"metric": timed, "value": [NOW.timestamp(), str(at.timestamp())]})
    return items  # fmt: skip


def _reply(items: list[dict[str, Any]]) -> bytes:
    document = {"status": "success", "data": {"resultType": "vector", "result": items}}
    return json.dumps(document).encode()


def _stub_look(stub: _Stub, config: Config) -> VantageLook:
    vantage = dataclasses.replace(
        config.vantages[0], url=f"http://127.0.0.1:{stub.server_address[1]}", timeout=2.0
    )
    return asyncio.run(look_prometheus(vantage, config, watched_names(config), clock=lambda: NOW))


def _probe(
    config: Config, module: str, success: float, *, site: str = "berlin",
    instance: str = "10.1.0.53", at: datetime = NOW, query: float = 1, rrs: float = 1,
    duration: float = 0.01,
) -> list[dict[str, Any]]:  # fmt: skip
    labels = {"job": "blackbox", "site": site, "instance": instance, "module": module}
    values = {
        "probe_success": success,
        "probe_dns_query_succeeded": query,
        "probe_dns_answer_rrs": rrs,
        "probe_duration_seconds": duration,
        "up": 1,
    }
    return _series(labels, values, at)


def _record_probes(config: Config, key: str, passing: str | None, **options: Any) -> list[Any]:
    """Every module of one record at one row; `passing`: the region or rcode that passes."""
    watched = _watched(config)[key]
    items: list[Any] = []
    for region in watched.targets_by_region:
        ok = 1 if passing == region else 0
        items += _probe(config, module_for(watched, region), ok, **options)
    for rcode in ("NOERROR", "NXDOMAIN", "SERVFAIL"):
        ok = 1 if passing == rcode else 0
        items += _probe(config, rcode_module_for(watched, rcode), ok, **options)
    return items


@pytest.mark.parametrize(
    ("passing", "options", "outcome", "region_seen", "words"),
    [
        ("us", {}, Outcome.ANSWER, "us", "blackbox at berlin"),
        ("NOERROR", {}, Outcome.ANSWER, "", "blackbox at berlin"),
        ("NOERROR", {"rrs": 0}, Outcome.NODATA, None, "NODATA"),
        ("NXDOMAIN", {"rrs": 0}, Outcome.NXDOMAIN, None, "NXDOMAIN seen by blackbox"),
        ("SERVFAIL", {"rrs": 0}, Outcome.SERVFAIL, None, "SERVFAIL seen by blackbox"),
        (None, {"rrs": 0}, Outcome.OTHER_RCODE, None, "an rcode other than"),
        (None, {"query": 0, "duration": 0.5}, Outcome.TIMEOUT, None, "no reply"),
        (None, {"query": 0, "duration": 0.001}, Outcome.NETWORK_ERROR, None, "gave up"),
        ("eu", {"at": NOW - timedelta(seconds=16)}, Outcome.UNOBSERVED, None, "stale: last"),
    ],
)
def test_what_the_modules_say_becomes_an_observation(
    stub: _Stub, passing: str | None, options: dict[str, Any], outcome: Outcome,
    region_seen: str | None, words: str,
) -> None:  # fmt: skip
    config = load_config_text(CONFIG)
    stub.body = _reply(_record_probes(config, "example.test MX", passing, **options))
    look = _stub_look(stub, config)
    assert look.error is None
    (row,) = look.rows
    assert row.spec.name == "10.1.0.53 @ berlin" and row.spec.address == "10.1.0.53:53"
    obs = row.observations["example.test MX"]
    assert obs.outcome is outcome and obs.region_seen == region_seen, obs
    assert words in (obs.error or obs.raw_answers[0])
    assert obs.observed_at <= NOW
    missing = row.observations["webmail.example.test A"]
    assert missing.outcome is Outcome.UNOBSERVED and "no probe of this record" in missing.reason
    assert failure_reason(missing).startswith("not observed: no probe of this record")


def test_a_failed_scrape_says_up_0(stub: _Stub) -> None:
    config = load_config_text(CONFIG)
    watched = _watched(config)["example.test MX"]
    labels = {"job": "blackbox", "site": "berlin", "instance": "10.1.0.53"}
    items: list[Any] = []
    for module in (module_for(watched, "eu"), rcode_module_for(watched, "NOERROR")):
        items += _series({**labels, "module": module}, {"up": 0}, NOW - timedelta(seconds=2))
    stub.body = _reply(items)
    (row,) = _stub_look(stub, config).rows
    obs = row.observations["example.test MX"]
    assert obs.outcome is Outcome.UNOBSERVED
    assert "blackbox at berlin did not answer Prometheus's scrape (up 0)" in obs.reason
    assert obs.observed_at == NOW - timedelta(seconds=2)


def test_hostile_label_values_are_cleaned_and_bounded(stub: _Stub) -> None:
    config = load_config_text(CONFIG)
    watched = _watched(config)["example.test MX"]
    evil_site = "\x1b]52;c;ZXZpbA==\x07[@click=quit]" + "x" * 5000
    evil_instance = "\x1b[2J\u202e10.1.0.53\n:53"
    items = _probe(config, module_for(watched, "eu"), 1, site=evil_site, instance=evil_instance)
    items += _probe(config, smtp_module_for("mx1.eu.example.test"), 1, site=evil_site)
    items += _probe(config, "\x1b[31mnot-ours", 1)
    stub.body = _reply(items)
    look = _stub_look(stub, config)
    (row,) = look.rows
    shown = [row.spec.name, *(f.subject + f.summary for f in look.services), *look.notes]
    for text in shown:
        assert "\x1b" not in text and "\n" not in text and "\u202e" not in text, text
        assert len(text) < 300
    assert row.spec.ip == "0.0.0.0"
    assert row.observations["example.test MX"].region_seen == "eu"
    assert any("modules this config does not make" in note for note in look.notes)


def test_absurd_cardinality_is_capped(stub: _Stub) -> None:
    config = load_config_text(CONFIG)
    watched = _watched(config)["example.test MX"]
    items: list[Any] = []
    for index in range(MAX_ROWS + 50):
        items += _probe(
            config, module_for(watched, "eu"), 1, instance=f"10.9.{index // 250}.{index % 250}"
        )
    stub.body = _reply(items)  # fmt: skip
    look = _stub_look(stub, config)
    assert len(look.rows) == MAX_ROWS
    assert any("50 more resolver rows not shown" in note for note in look.notes)


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (200, b"<html>not json", "not JSON"),
        (200, b'{"status":"error","errorType":"bad_data","error":"parse \\u001b[31m error"}',
         "Prometheus refused the query: bad_data: parse"),
        (200, _reply([]), "no series of the cockpit's blackbox modules"),
        (200, b'{"status":"success","data":{"resultType":"matrix"}}', "not an instant vector"),
        (503, b"{}", "HTTP 503"),
        (400, b'{"status":"error","errorType":"bad_data","error":"parse \\u001b[31m error"}',
         "HTTP 400 Bad Request: bad_data: parse ␛[31m error"),
        (502, b"<html><body>Bad gateway</body></html>", "HTTP 502 Bad Gateway"),
        (200, b"[" * 10 + b"1" * (9 << 20), "answer larger than"),
    ],
)  # fmt: skip
def test_unusable_replies_give_one_unknown_row(
    stub: _Stub, status: int, body: bytes, words: str
) -> None:
    config = load_config_text(CONFIG)
    stub.status, stub.body = status, body
    look = _stub_look(stub, config)
    assert look.error is not None and words in look.error, look.error
    assert "\x1b" not in look.error and len(look.error) <= 200
    (row,) = look.rows
    assert row.spec.name == "@ sites"
    assert all(not obs.ok for obs in row.observations.values())


def test_a_slow_prometheus_is_cut_at_the_timeout(stub: _Stub) -> None:
    config = load_config_text(CONFIG)
    stub.delay, stub.body = 5.0, _reply([])
    started = time.monotonic()
    look = _stub_look(stub, config)
    assert time.monotonic() - started < 3.0
    assert look.error is not None and "timed out after 2 s" in look.error


def test_the_lab_writes_the_files_it_runs(world: World) -> None:
    assert Path(world.prometheus.modules_file).read_text().startswith("# blackbox_exporter")
