"""Does one frozen endpoint cost a service sweep more than its timeout?

    .venv/bin/python -m bench.bench_service_sweep [--timeout 1.0] [--rounds 5]

Starts the DNS lab (tests/lab/dnslab.py: nsd plus one unbound; needs root, nsd and unbound)
and real loopback servers in a thread of their own (tests/lab/mail_fakes.py, and the HTTPS lab
on port 443): 2 regions x 6 probes, every one a real socket with a trustme certificate:
  smtp (the region's MX host, STARTTLS), submission (implicit TLS), imap (STARTTLS),
  pop3 (STLS), https (GET /health), tcp.
Two configs differ in one endpoint only: the second region's imap points at a server that
accepts and never speaks (frozen) in one, at a healthy one in the other. Their sweeps
(`service_findings`, names resolved through the lab, warm caches) are timed side by side,
interleaved round by round.
Targets: frozen sweep at most timeout + 10 %; the ratio frozen / healthy is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.config import Config, load_config_text  # noqa: E402
from cockpit.model import Finding, Status  # noqa: E402
from cockpit.service.findings import service_findings  # noqa: E402
from tests.lab.dnslab import DnsLab, zone_text  # noqa: E402
from tests.lab.https_lab import HttpsLab, Route, can_bind_https  # noqa: E402
from tests.lab.mail_fakes import (  # noqa: E402
    ServerThread,
    imap_greeter,
    pop3_greeter,
    silent,
    smtp_greeter,
    tls_server_context,
)

ZONE = "bench.test"
REGIONS = ("one", "two")
NET = "127.0.94."
TARGET_FROZEN_SLACK = 0.10


def address(region: int, service: int) -> str:
    """127.0.94.<10 x region + service>: each service of each region on its own address."""
    return f"{NET}{10 * (region + 1) + service}"


SERVICES = ("mx", "submission", "imap", "pop3", "www", "tcp")


def shared_port(ips: list[str]) -> int:
    """A port free on every address in `ips` (the MX hosts share [service] mx_port)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((ips[0], 0))
            port = int(first.getsockname()[1])
        try:
            for ip in ips:
                with socket.socket() as other:
                    other.bind((ip, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every MX address")


def start_servers(thread: ServerThread, https: HttpsLab) -> tuple[int, dict[str, int], int]:
    """Every healthy server, plus one frozen one; (mx_port, ports by 'region/service', frozen)."""
    mx_ips = [address(index, 0) for index in range(len(REGIONS))]
    mx_port = shared_port(mx_ips)
    ports: dict[str, int] = {}
    for index, region in enumerate(REGIONS):
        ip = {service: address(index, number) for number, service in enumerate(SERVICES)}
        names = {service: f"{service}.{region}.{ZONE}" for service in SERVICES}

        def context(service: str, names: dict[str, str] = names) -> ssl.SSLContext:
            return tls_server_context(https.ca.issue_cert(names[service]))

        ports[f"{region}/mx"] = thread.serve(
            smtp_greeter(starttls=context("mx")),
            ip["mx"],
            mx_port,
        )
        ports[f"{region}/submission"] = thread.serve(
            smtp_greeter(),
            ip["submission"],
            tls=context("submission"),
        )
        ports[f"{region}/imap"] = thread.serve(
            imap_greeter(starttls=context("imap")),
            ip["imap"],
        )
        ports[f"{region}/pop3"] = thread.serve(
            pop3_greeter(starttls=context("pop3")),
            ip["pop3"],
        )
        https.serve(ip["www"], [names["www"]], {"/health": Route(200, body=b"ok")})
        ports[f"{region}/tcp"] = thread.serve(silent, ip["tcp"])
    frozen = thread.serve(silent, address(1, 2))
    return mx_port, ports, frozen


def bench_config(
    lab: DnsLab, ca_file: Path, timeout: float, mx_port: int, ports: dict[str, int]
) -> Config:
    name, ip, port = lab.resolvers[0]
    text = f"""
[domain]
name = "{ZONE}"
[tls]
ca_file = "{ca_file}"
[service]
timeout = {timeout}
mx_port = {mx_port}
[[dns.resolver]]
name = "{name}"
address = "{ip}:{port}"
"""
    for region in REGIONS:
        host = {service: f"{service}.{region}.{ZONE}" for service in SERVICES}
        text += f"""
[[region]]
name = "{region}"
mx = ["{host["mx"]}"]
  [[region.endpoint]]
  kind = "submission"
  address = "{host["submission"]}:{ports[f"{region}/submission"]}"
  tls = "implicit"
  [[region.endpoint]]
  kind = "imap"
  address = "{host["imap"]}:{ports[f"{region}/imap"]}"
  [[region.endpoint]]
  kind = "pop3"
  address = "{host["pop3"]}:{ports[f"{region}/pop3"]}"
  [[region.endpoint]]
  kind = "https"
  url = "https://{host["www"]}/health"
  [[region.endpoint]]
  kind = "tcp"
  address = "{host["tcp"]}:{ports[f"{region}/tcp"]}"
"""
    return load_config_text(text)


def zone() -> str:
    records = [
        f"{service}.{region} A {address(index, number)}"
        for index, region in enumerate(REGIONS)
        for number, service in enumerate(SERVICES)
    ]
    return zone_text(ZONE, 1, 300, records)


def timed_sweep(config: Config) -> tuple[float, list[Finding]]:
    started = time.perf_counter()
    findings = asyncio.run(service_findings(config))
    return time.perf_counter() - started, findings


def verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1.0, help="[service] timeout, seconds")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    problem = can_bind_https()
    if problem is not None:
        print(problem)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    https = HttpsLab(workdir)
    thread = ServerThread()
    try:
        with DnsLab(workdir / "dns", {ZONE: zone()}, 1) as lab:
            mx_port, ports, frozen_port = start_servers(thread, https)
            healthy = bench_config(lab, https.ca_file, options.timeout, mx_port, ports)
            frozen = bench_config(
                lab, https.ca_file, options.timeout, mx_port, ports | {"two/imap": frozen_port}
            )
            probes = sum(1 for _ in timed_sweep(healthy)[1])  # warms the DNS cache
            print(
                f"{len(REGIONS)} regions x {probes // len(REGIONS)} probes, real sockets on"
                f" loopback, timeout {options.timeout:g} s"
            )
            healthy_times: list[float] = []
            frozen_times: list[float] = []
            for _ in range(options.rounds):  # interleaved, so drift hits both alike
                seconds, findings = timed_sweep(healthy)
                bad = [f.summary for f in findings if f.status is not Status.OK]
                if bad:
                    print("a healthy sweep saw trouble:", *bad, sep="\n  ")
                    return 1
                healthy_times.append(seconds)
                seconds, findings = timed_sweep(frozen)
                failed = [f for f in findings if f.status is Status.FAIL]
                if len(failed) != 1 or len(findings) != probes:
                    print(
                        "the frozen sweep should fail exactly one probe:",
                        *[f.summary for f in failed],
                        sep="\n  ",
                    )
                    return 1
                frozen_times.append(seconds)
            print(f"  frozen probe: {failed[0].summary}")
        healthy_s, frozen_s = statistics.median(healthy_times), statistics.median(frozen_times)
        limit = options.timeout * (1 + TARGET_FROZEN_SLACK)
        best, worst = min(healthy_times) * 1000, max(frozen_times) * 1000
        print(f"healthy sweep     {healthy_s * 1000:8.1f} ms median (best {best:.1f})")
        print(f"one frozen        {frozen_s * 1000:8.1f} ms median (worst {worst:.1f})")
        print(
            f"frozen worst / timeout = {max(frozen_times) / options.timeout:.3f}"
            f" (target <= {limit:.2f} s: {verdict(max(frozen_times) <= limit)})"
        )
        print(f"frozen / healthy = {frozen_s / healthy_s:.1f}x (medians)")
    finally:
        thread.stop()
        https.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
