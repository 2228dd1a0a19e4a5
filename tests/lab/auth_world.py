"""A small mail world on loopback where every auth check can pass: two regions, each with two
MX hosts behind a real Postfix with STARTTLS, two sending IPs with forward-confirmed PTRs,
two DKIM selectors with real keys, SPF, DMARC, MTA-STS, TLS-RPT, webmail and an IdP, all
served by the real DNS and HTTPS labs. Used by the end-to-end check test and the auth bench.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.lab.dnslab import DnsLab, zone_text
from tests.lab.https_lab import HttpsLab, Route
from tests.lab.postfix import Listener, PostfixLab

ZONE = "example.test"
REGIONS = ("primary", "secondary")
MX = {"primary": ("mx1", "mx2"), "secondary": ("mx3", "mx4")}
MX_ADDRESS = {"mx1": "127.0.61.1", "mx2": "127.0.61.2", "mx3": "127.0.61.3", "mx4": "127.0.61.4"}
SENDING = {"primary": ("127.0.62.1", "127.0.62.2"), "secondary": ("127.0.62.3", "127.0.62.4")}
SELECTORS = {"primary": ("p1", "p2"), "secondary": ("s1", "s2")}
WEBMAIL = {"primary": "127.0.63.1", "secondary": "127.0.63.2"}
MTA_STS_ADDRESS = "127.0.63.10"
IDP_ADDRESS = "127.0.63.11"
REVERSE = "62.0.127.in-addr.arpa"
SECURE_HEADERS = (
    ("Strict-Transport-Security", "max-age=31536000"),
    ("Content-Security-Policy", "default-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
)


@dataclass
class AuthWorld:
    dns: DnsLab
    https: HttpsLab
    postfix: PostfixLab
    config_path: Path
    zones: dict[str, str]

    def stop(self) -> None:
        self.postfix.stop()
        self.https.stop()
        self.dns.stop()


def outbound_name(region: str) -> str:
    return f"out-{region}.{ZONE}"


def world_zones(dkim_records: dict[str, str], *, spf: str | None = None) -> dict[str, str]:
    every_ip = [ip for region in REGIONS for ip in SENDING[region]]
    spf = spf or "v=spf1 " + " ".join(f"ip4:{ip}" for ip in every_ip) + " -all"
    records = [
        f"@ MX 10 {MX['primary'][0]}",
        f"@ MX 20 {MX['primary'][1]}",
        *(f"{host} A {address}" for host, address in MX_ADDRESS.items()),
        f"webmail A {WEBMAIL['primary']}",
        f"mta-sts A {MTA_STS_ADDRESS}",
        f"sso A {IDP_ADDRESS}",
        f'@ TXT "{spf}"',
        '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"',
        '_mta-sts TXT "v=STSv1; id=20261127"',
        '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"',
    ]
    for region in REGIONS:
        records += [f"out-{region} A {ip}" for ip in SENDING[region]]
    records += [f"{name}._domainkey TXT {value}" for name, value in dkim_records.items()]
    reverse = [
        f"{ip.rsplit('.', 1)[1]} PTR {outbound_name(region)}."
        for region in REGIONS
        for ip in SENDING[region]
    ]
    return {
        ZONE: zone_text(ZONE, 1, 300, records, negative_ttl=60),
        REVERSE: zone_text(REVERSE, 1, 300, reverse, negative_ttl=60),
    }


def _dkim_key(directory: Path, selector: str) -> str:
    """Write a 2048-bit private key file (0600) and return the TXT value, split in strings."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / f"{selector}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    value = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")
    return " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))


def _config_text(world_dir: Path, dns: DnsLab, ca_file: Path, timeout: float) -> str:
    ip, port = dns.authoritative
    text = f"""
[domain]
name = "{ZONE}"

[dns]
timeout = {timeout}
authoritative = ["{ip}:{port}"]

[tls]
ca_file = "{ca_file}"
"""
    for region in REGIONS:
        mx = ", ".join(f'"{host}.{ZONE}"' for host in MX[region])
        ips = ", ".join(f'"{address}"' for address in SENDING[region])
        selectors = ", ".join(f'"{selector}"' for selector in SELECTORS[region])
        keys = ", ".join(
            f'{selector} = "{world_dir / (selector + ".pem")}"' for selector in SELECTORS[region]
        )
        text += f"""
[[region]]
name = "{region}"
mx = [{mx}]
sending_ips = [{ips}]
helo = "{outbound_name(region)}"
dkim_selectors = [{selectors}]
dkim_private_keys = {{ {keys} }}
webmail_url = "https://webmail.{ZONE}/"
webmail_addresses = ["{WEBMAIL[region]}"]
idp_url = "https://sso.{ZONE}/.well-known/openid-configuration"
"""
    for name, resolver_ip, resolver_port in dns.resolvers:
        text += f'\n[[dns.resolver]]\nname = "{name}"\naddress = "{resolver_ip}:{resolver_port}"\n'
    return text


def start_auth_world(workdir: Path, postfix_dir: Path, *, timeout: float = 1.0) -> AuthWorld:
    """Start the DNS, HTTPS and SMTP labs and write the config; call `stop()` afterwards.

    `postfix_dir` must be enterable by the postfix user (not under pytest's 0700 tmp).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    dkim_records = {
        selector: _dkim_key(workdir, selector)
        for region in REGIONS
        for selector in SELECTORS[region]
    }
    zones = world_zones(dkim_records)
    started: list[object] = []
    try:
        dns = DnsLab(workdir / "dns", zones, resolver_count=2)
        dns.start()
        started.append(dns)
        https = HttpsLab(workdir)
        started.append(https)
        policy = "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n"
        https.serve(
            MTA_STS_ADDRESS,
            [f"mta-sts.{ZONE}"],
            {"/.well-known/mta-sts.txt": Route(body=policy.encode())},
        )
        page = Route(headers=SECURE_HEADERS, body=b"<html>webmail</html>")
        for region in REGIONS:
            https.serve(WEBMAIL[region], [f"webmail.{ZONE}"], {"/": page})
        issuer = json.dumps({"issuer": f"https://sso.{ZONE}"}).encode()
        https.serve(
            IDP_ADDRESS,
            [f"sso.{ZONE}"],
            {"/.well-known/openid-configuration": Route(body=issuer)},
        )
        listeners = {}
        for host, address in MX_ADDRESS.items():
            leaf = https.leaf([f"{host}.{ZONE}"])
            chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
            listeners[address] = Listener(cert_pem=chain, key_pem=leaf.private_key_pem.bytes())
        postfix = PostfixLab(postfix_dir, listeners, f"mx.{ZONE}")
        postfix.start()
        started.append(postfix)
    except BaseException:
        for server in reversed(started):
            server.stop()  # type: ignore[attr-defined]
        raise
    config_path = workdir / "cockpit.toml"
    config_path.write_text(_config_text(workdir, dns, https.ca_file, timeout), encoding="utf-8")
    return AuthWorld(dns, https, postfix, config_path, zones)
