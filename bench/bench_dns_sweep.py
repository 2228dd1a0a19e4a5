"""How fast is one DNS sweep, next to the floor and next to what people do by hand?

    .venv/bin/python -m bench.bench_dns_sweep [--instances 30] [--entries-each 1] [--rounds 5]

Starts the DNS lab (tests/lab/dnslab.py: nsd plus unbound on loopback; needs root, nsd and
unbound) and asks 30 resolvers x 12 watched records, plus the authoritative's SOA and the same 12
records with RD off (373 questions), in three ways, with warm caches:
  (a) floor: a bare asyncio.gather of dns.asyncquery.udp, no bound, no parsing beyond dnspython;
  (b) cockpit: sweep() (bounded pool of 64, EDNS 1232, normalised observations);
  (c) by hand: a sequential `dig @IP -p PORT +tries=1 +time=1 NAME TYPE` loop.
Then one resolver is frozen (SIGSTOP) and the sweep is timed with retries=0 and with the
default one retry (sent at half the budget: the timeout bounds the question, retry included).
Targets: (b) within 1.3x of (a); (b) at least 20x faster than (c); frozen, either way: at most
timeout + 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.config import Config, load_config_text  # noqa: E402
from cockpit.dns.sweep import configured_resolvers, sweep  # noqa: E402
from cockpit.dns.watch import watched_names  # noqa: E402
from tests.lab.dnslab import DnsLab, zone_text  # noqa: E402

ZONE = "example.test"
REVERSE = "20.0.127.in-addr.arpa"
TARGET_FLOOR_RATIO = 1.3
TARGET_DIG_SPEEDUP = 20.0
TARGET_FROZEN_SLACK = 0.10
RECORDS = [
    "@ MX 10 mx1",
    "webmail A 127.0.10.1",
    '@ TXT "v=spf1 ip4:127.0.20.0/24 -all"',
    '_dmarc TXT "v=DMARC1; p=reject"',
    'p1._domainkey TXT "v=DKIM1; k=rsa; p=AAAA"',
    's1._domainkey TXT "v=DKIM1; k=rsa; p=BBBB"',
    '_mta-sts TXT "v=STSv1; id=1"',
    '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@example.test"',
    f"_25._tcp.mx1 TLSA 3 1 1 {'AB' * 32}",
    f"_25._tcp.mx2 TLSA 3 1 1 {'CD' * 32}",
]
ZONES = {
    ZONE: zone_text(ZONE, 1, 300, RECORDS),
    REVERSE: zone_text(REVERSE, 1, 300, ["1 PTR mx1.example.test.", "2 PTR mx2.example.test."]),
}
REGIONS = """
[domain]
name = "example.test"
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
dkim_selectors = ["s1"]
webmail_url = "https://webmail.example.test/"
webmail_addresses = ["127.0.10.2"]
"""

Question = tuple[str, int, str, str, bool]
"""(ip, port, name, type, recursion desired)"""


def bench_config(lab: DnsLab, entries_each: int, timeout: float) -> Config:
    auth_ip, auth_port = lab.authoritative
    text = REGIONS + f'[dns]\ntimeout = {timeout}\nauthoritative = ["{auth_ip}:{auth_port}"]\n'
    for name, ip, port in lab.resolvers:
        for entry in range(entries_each):
            text += f'[[dns.resolver]]\nname = "{name}#{entry + 1}"\naddress = "{ip}:{port}"\n'
    return load_config_text(text)


def questions_of(config: Config, lab: DnsLab) -> list[Question]:
    """The same questions a sweep asks, in the same order."""
    watched = watched_names(config)
    asked: list[Question] = [
        (spec.ip, spec.port, item.name, item.rdtype, True)
        for item in watched
        for spec in configured_resolvers(config)
    ]
    ip, port = lab.authoritative
    asked.append((ip, port, ZONE, "SOA", False))
    asked += [(ip, port, item.name, item.rdtype, False) for item in watched]
    return asked


async def floor(asked: list[Question], timeout: float) -> None:
    """A bare gather of dnspython's async UDP query: what the machine and library cost."""

    async def one(ip: str, port: int, name: str, rdtype: str, rd: bool) -> object:
        request = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
        if not rd:
            request.flags &= ~dns.flags.RD
        try:
            return await dns.asyncquery.udp(request, ip, timeout=timeout, port=port)
        except dns.exception.Timeout:
            return None

    await asyncio.gather(*(one(*question) for question in asked))


def dig_loop(asked: list[Question], dig: str) -> None:
    for ip, port, name, rdtype, rd in asked:
        argv = [dig, f"@{ip}", "-p", str(port), "+tries=1", "+time=1", name, rdtype]
        if not rd:
            argv.append("+norec")
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def timed(run: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    asyncio.run(run())  # type: ignore[arg-type]
    return time.perf_counter() - started


def median_ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:8.1f} ms (min {min(seconds) * 1000:.1f})"


def verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=30, help="unbound processes")
    parser.add_argument("--entries-each", type=int, default=1, help="resolver entries per one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1.0)
    options = parser.parse_args()
    dig = shutil.which("dig")
    if dig is None:
        print("dig is not installed (bind9-dnsutils)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-dns-"))
    started = time.perf_counter()
    with DnsLab(workdir, ZONES, options.instances) as lab:
        print(f"lab: {options.instances} unbound + nsd up in {time.perf_counter() - started:.2f} s")
        timeout = options.timeout
        config = bench_config(lab, options.entries_each, timeout)
        asked = questions_of(config, lab)
        resolvers = len(config.dns.resolvers)
        print(
            f"{resolvers} resolvers x {len(watched_names(config))} records + authoritative:"
            f" {len(asked)} questions per sweep"
        )
        asyncio.run(sweep(config))  # warm every cache: all runs below are cache hits

        floor_times: list[float] = []
        sweep_times: list[float] = []
        for _ in range(options.rounds):  # interleaved, so drift hits both alike
            floor_times.append(timed(lambda: floor(asked, timeout)))
            sweep_times.append(timed(lambda: sweep(config)))
        started = time.perf_counter()
        dig_loop(asked, dig)
        dig_time = time.perf_counter() - started

        floor_s, sweep_s = statistics.median(floor_times), statistics.median(sweep_times)
        print(f"(a) floor, bare asyncio.gather      {median_ms(floor_times)}")
        print(f"(b) cockpit sweep()                 {median_ms(sweep_times)}")
        print(f"(c) sequential dig loop             {dig_time * 1000:8.1f} ms (one run)")
        ratio, speedup = sweep_s / floor_s, dig_time / sweep_s
        print(
            f"sweep / floor = {ratio:.2f}x (target <= {TARGET_FLOOR_RATIO}x:"
            f" {verdict(ratio <= TARGET_FLOOR_RATIO)})"
        )
        print(
            f"dig loop / sweep = {speedup:.1f}x (target >= {TARGET_DIG_SPEEDUP:g}x:"
            f" {verdict(speedup >= TARGET_DIG_SPEEDUP)})"
        )

        lab.freeze(0)
        try:
            frozen = [
                spec for spec in configured_resolvers(config) if spec.name.startswith("lab-r1#")
            ]
            no_retry = [timed(lambda: sweep(config, retries=0)) for _ in range(2)]
            one_retry = timed(lambda: sweep(config))
            frozen_floor = timed(lambda: floor(asked, timeout))
        finally:
            lab.thaw(0)
        limit = timeout * (1 + TARGET_FROZEN_SLACK)
        print(
            f"one unbound frozen ({len(frozen)} resolver entries, {len(frozen) * 12} questions"
            f" time out), timeout {timeout:g} s:"
        )
        print(
            f"  sweep, retries=0                     {max(no_retry):.3f} s worst of 2"
            f" (target <= {limit:.2f} s: {verdict(max(no_retry) <= limit)})"
        )
        print(
            f"  sweep, default 1 retry               {one_retry:.3f} s"
            f" (target <= {limit:.2f} s: {verdict(one_retry <= limit)})"
        )
        print(f"  floor, gather with the same timeout  {frozen_floor:.3f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

