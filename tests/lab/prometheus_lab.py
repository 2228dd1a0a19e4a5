"""A real Prometheus scraping real blackbox_exporters on loopback, one exporter per site.

    lab = prometheus_lab(config, vantage, [LabSite("site-a", [resolver]), ...])
    lab.url                  # "http://127.0.0.1:PORT": the vantage's url
    lab.wait_for_series()    # until every probe target has a fresh sample (bounded)

Each site's exporter runs the modules cockpit.vantage.blackbox.blackbox_modules(config) makes,
and Prometheus scrapes them with scrape_config_example(config, vantage, sites) under a global
scrape_interval of 1 s, so what the tests read is exactly what an operator would deploy.
Everything listens on 127.0.0.1 on ports the OS picks; config and storage live under the
test's directory. Prometheus 2.42 applies a new scrape config only at its scrape manager's
5 s tick, so its first series appear about 6 s after start: share one lab per module.

`BannerServer` is a tiny SMTP greeter ("220 ..." then "221" on QUIT) for the banner probes.

In a test module, add `pytest_plugins = ["tests.lab.prometheus_lab"]` and use the
`prometheus_lab_module` factory. A missing `prometheus` or `prometheus-blackbox-exporter`
skips here and fails under CI=true (tests.lab.missing_in_lab).
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cockpit.config import Config
from cockpit.config.model import Vantage
from cockpit.vantage.blackbox import (
    BlackboxSite,
    blackbox_modules,
    module_table,
    scrape_config_example,
)
from tests.lab import LabError, ServerProcess, find_program, free_port, missing_in_lab

PROGRAMS = ("prometheus", "prometheus-blackbox-exporter")
LOOPBACK = "127.0.0.1"


def require_prometheus() -> None:
    """Skip when Prometheus or blackbox_exporter is missing; fail instead under CI."""
    missing = [name for name in PROGRAMS if find_program(name) is None]
    if missing:
        missing_in_lab(
            f"the Prometheus lab needs {', '.join(missing)} (Debian packages prometheus and "
            "prometheus-blackbox-exporter, listed in tests/debian-packages.txt)"
        )


@dataclass(frozen=True)
class LabSite:
    """One site: the resolvers its exporter probes and where each MX host's banner is."""

    name: str
    resolvers: Sequence[str]
    smtp_addresses: Mapping[str, str] = field(default_factory=dict)


class BannerServer:
    """An SMTP greeter on (ip, free port): "220 <name> ESMTP lab", "221" on QUIT."""

    def __init__(self, ip: str = LOOPBACK, name: str = "mx.lab") -> None:
        greeting = f"220 {name} ESMTP lab\r\n".encode()

        class Greeter(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(greeting)
                for line in self.rfile:
                    if line.upper().startswith(b"QUIT"):
                        self.wfile.write(b"221 bye\r\n")
                        return
                    self.wfile.write(b"250 ok\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((ip, 0), Greeter)
        self.server.daemon_threads = True
        self.address = f"{ip}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _get_json(url: str, timeout: float = 1.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - loopback only
        return json.loads(reply.read())


def _answers(url: str) -> None:
    """Returns when `url` answers 200; raises OSError (URLError) otherwise."""
    with urllib.request.urlopen(url, timeout=0.5):  # noqa: S310 - loopback only
        pass


class PrometheusLab:
    """Exporters (one per site) and Prometheus, started together; a context manager."""

    def __init__(
        self, workdir: Path, config: Config, vantage: Vantage, sites: Sequence[LabSite]
    ) -> None:
        self.workdir = Path(workdir)
        self.config = config
        self.vantage = vantage
        self.sites = list(sites)
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.exporters: dict[str, ServerProcess] = {}
        self.exporter_addresses = {site.name: f"{LOOPBACK}:{free_port()}" for site in sites}
        self.prometheus: ServerProcess | None = None
        self.modules_file = self.workdir / "blackbox.yml"
        self.prometheus_file = self.workdir / "prometheus.yml"

    def __enter__(self) -> PrometheusLab:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def blackbox_sites(self) -> list[BlackboxSite]:
        return [
            BlackboxSite(
                site.name,
                self.exporter_addresses[site.name],
                tuple(site.resolvers),
                dict(site.smtp_addresses),
            )
            for site in self.sites
        ]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.modules_file.write_text(blackbox_modules(self.config))
        scrape = scrape_config_example(self.config, self.vantage, self.blackbox_sites())
        self.prometheus_file.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            + scrape
        )
        try:
            for site in self.sites:
                address = self.exporter_addresses[site.name]
                config = self.workdir / f"blackbox-{site.name}.yml"  # unique argv per exporter
                config.write_text(self.modules_file.read_text())
                argv = [
                    str(find_program("prometheus-blackbox-exporter")),
                    f"--config.file={config}",
                    f"--web.listen-address={address}",
                    "--log.level=warn",
                ]
                log = self.workdir / f"blackbox-{site.name}.log"
                self.exporters[site.name] = ServerProcess(
                    f"blackbox {site.name}", argv, config, [log]
                )
            argv = [
                str(find_program("prometheus")),
                f"--config.file={self.prometheus_file}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--log.level=warn",
            ]
            self.prometheus = ServerProcess(
                "prometheus", argv, self.prometheus_file, [self.workdir / "prometheus.log"]
            )
            for site, process in self.exporters.items():
                health = f"http://{self.exporter_addresses[site]}/-/healthy"
                process.wait_until(lambda url=health: _answers(url), "answering")
            self.prometheus.wait_until(lambda: _answers(f"{self.url}/-/ready"), "ready")
        except BaseException:
            self.stop()
            raise

    def query(self, promql: str) -> list[dict[str, object]]:
        """The result of an instant query (LabError for an error reply)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        reply = _get_json(url)
        if not isinstance(reply, dict) or reply.get("status") != "success":
            raise LabError(f"query {promql!r} failed: {reply!r}")
        return list(reply["data"]["result"])  # type: ignore[index]

    def target_count(self) -> int:
        """How many probe targets the scrape config has: per site, each resolver for every
        DNS module and one address per SMTP module."""
        modules = module_table(self.config).values()
        dns = sum(1 for module in modules if module.family != "smtp")
        smtp = len(modules) - dns
        return sum(len(site.resolvers) * dns + smtp for site in self.sites)

    def wait_for_series(self, within: float = 20.0) -> float:
        """Until every target has been scraped once with its probe series; the seconds taken."""
        assert self.prometheus is not None
        started = time.monotonic()
        expected = self.target_count()
        promql = f'count(probe_success{{job="{self.vantage.job}"}})'

        def all_scraped() -> None:
            result = self.query(promql)
            count = int(float(result[0]["value"][1])) if result else 0  # type: ignore[index]
            if count < expected:
                raise LabError(f"{count} of {expected} probe series so far")

        self.prometheus.wait_until(all_scraped, "every probe series queryable", within)
        return time.monotonic() - started

    def stop(self) -> None:
        processes = [*self.exporters.values(), self.prometheus]
        for process in processes:
            if process is not None:
                process.stop()


LabFactory = Callable[..., PrometheusLab]


def _factory(workdir: Path) -> Iterator[LabFactory]:
    labs: list[PrometheusLab] = []

    def make(config: Config, vantage: Vantage, sites: Sequence[LabSite]) -> PrometheusLab:
        require_prometheus()
        lab = PrometheusLab(workdir / f"prom{len(labs)}", config, vantage, sites)
        labs.append(lab)
        lab.start()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()


@pytest.fixture(scope="module")
def prometheus_lab_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """Factory for Prometheus labs shared by a module's tests (each takes ~6 s to its first
    series)."""
    yield from _factory(tmp_path_factory.mktemp("promlab"))


@pytest.fixture
def prometheus_lab(tmp_path: Path) -> Iterator[LabFactory]:
    """Factory for Prometheus labs that live for one test."""
    yield from _factory(tmp_path)
