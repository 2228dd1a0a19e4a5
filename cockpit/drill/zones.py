"""The drill's scenario data: two regions, their names and addresses, and the zone texts.

Every address is in 127.0.0.0/8. The world listens on the MX addresses (SMTP) and the IMAP
addresses; the sending, webmail and autodiscover addresses are only data. The domain sits
under the reserved `.example` top-level name, so none of it can resolve outside the drill.
`zone_texts` renders master-file text for the forward zone and the reverse zone of the sending
addresses; `ZoneStore.publish` parses it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REGION_NAMES = ("primary", "secondary")
DEFAULT_DOMAIN = "drill.example"
SENDING_NET = "127.0.78."
MX_NET = "127.0.79."
WEB_NET = "127.0.80."
IMAP_NET = "127.0.81."
REVERSE_ZONE = "78.0.127.in-addr.arpa"
"""Holds the PTR records of every sending address (all in SENDING_NET)."""
DKIM_KEY_BITS = 2048
TXT_CHUNK = 255


@dataclass(frozen=True, slots=True)
class Timings:
    """TTLs of the drill's zones, in seconds: short, so a switch converges in tens of seconds."""

    record_ttl: int = 30
    """MX, A, CNAME and SRV: the records a switch changes."""
    negative_ttl: int = 10
    """The SOA minimum: how long NXDOMAIN and NODATA are cached."""
    policy_ttl: int = 120
    """SPF, DKIM, DMARC, TLS-RPT and PTR: records a switch leaves alone."""


@dataclass(frozen=True, slots=True)
class RegionPlan:
    """What one region is, as names and addresses."""

    name: str
    mx_hosts: tuple[str, ...]
    mx_addresses: tuple[str, ...]
    sending_ips: tuple[str, ...]
    helo: str
    """The name its MTAs announce; the PTR of every sending IP, and resolves to all of them."""
    dkim_selector: str
    webmail_address: str
    autodiscover_target: str
    autodiscover_address: str
    imap_host: str
    """The region's IMAP service name (`imap.<region>.<domain>`), an A record of its own."""
    imap_address: str


def region_plans(domain: str) -> tuple[RegionPlan, ...]:
    plans = []
    for number, name in enumerate(REGION_NAMES, start=1):
        zone = f"{name}.{domain}"
        plans.append(
            RegionPlan(
                name=name,
                mx_hosts=(f"mx1.{zone}", f"mx2.{zone}"),
                mx_addresses=(f"{MX_NET}{10 * number + 1}", f"{MX_NET}{10 * number + 2}"),
                sending_ips=(f"{SENDING_NET}{10 * number + 1}", f"{SENDING_NET}{10 * number + 2}"),
                helo=f"out.{zone}",
                dkim_selector=f"{name}1",
                webmail_address=f"{WEB_NET}{number}",
                autodiscover_target=f"autodiscover.{zone}",
                autodiscover_address=f"{WEB_NET}{10 + number}",
                imap_host=f"imap.{zone}",
                imap_address=f"{IMAP_NET}{number}",
            )
        )
    return tuple(plans)


def new_dkim_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_BITS)


def dkim_record(key: rsa.RSAPrivateKey) -> str:
    """The DKIM key record (RFC 6376 3.6.1) for `key`'s public half."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def _txt(text: str) -> str:
    """TXT rdata: quoted strings of at most 255 characters each (a DKIM key needs two)."""
    chunks = [text[i : i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def _soa(domain: str, serial: int, timings: Timings) -> list[str]:
    return [
        f"$TTL {timings.policy_ttl}",
        f"@ {timings.negative_ttl} IN SOA ns1.{domain}. hostmaster.{domain}. "
        f"{serial} 3600 600 86400 {timings.negative_ttl}",
        f"@ IN NS ns1.{domain}.",
    ]


def zone_texts(
    domain: str,
    plans: tuple[RegionPlan, ...],
    active: str,
    serial: int,
    timings: Timings,
    *,
    nameserver_ip: str,
    dkim_records: Mapping[str, str],
) -> dict[str, str]:
    """Origin -> master-file text. MX, webmail, autodiscover point at region `active`."""
    ttl = timings.record_ttl
    target = next(plan for plan in plans if plan.name == active)
    every_ip = [ip for plan in plans for ip in plan.sending_ips]
    spf = "v=spf1 " + " ".join(f"ip4:{ip}" for ip in every_ip) + " -all"
    dmarc = f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@{domain}"
    forward = [
        *_soa(domain, serial, timings),
        f"ns1.{domain}. {ttl} IN A {nameserver_ip}",
        *(
            f"@ {ttl} IN MX {10 * rank} {host}."
            for rank, host in enumerate(target.mx_hosts, start=1)
        ),
        f"webmail.{domain}. {ttl} IN A {target.webmail_address}",
        f"autodiscover.{domain}. {ttl} IN CNAME {target.autodiscover_target}.",
        f"_autodiscover._tcp.{domain}. {ttl} IN SRV 0 0 443 {target.autodiscover_target}.",
        f"@ IN TXT {_txt(spf)}",
        f"_dmarc.{domain}. IN TXT {_txt(dmarc)}",
        f"_smtp._tls.{domain}. IN TXT {_txt(f'v=TLSRPTv1; rua=mailto:tls-reports@{domain}')}",
    ]
    for plan in plans:
        for host, address in zip(plan.mx_hosts, plan.mx_addresses, strict=True):
            forward.append(f"{host}. {ttl} IN A {address}")
        forward += [f"{plan.helo}. {ttl} IN A {ip}" for ip in plan.sending_ips]
        forward.append(f"webmail.{plan.name}.{domain}. {ttl} IN A {plan.webmail_address}")
        forward.append(f"{plan.autodiscover_target}. {ttl} IN A {plan.autodiscover_address}")
        forward.append(f"{plan.imap_host}. {ttl} IN A {plan.imap_address}")
        record = dkim_records[plan.dkim_selector]
        forward.append(f"{plan.dkim_selector}._domainkey.{domain}. IN TXT {_txt(record)}")
    reverse = _soa(domain, serial, timings)
    for plan in plans:
        for ip in plan.sending_ips:
            last = ip.rsplit(".", 1)[1]
            reverse.append(f"{last}.{REVERSE_ZONE}. IN PTR {plan.helo}.")
    return {domain: "\n".join(forward) + "\n", REVERSE_ZONE: "\n".join(reverse) + "\n"}
