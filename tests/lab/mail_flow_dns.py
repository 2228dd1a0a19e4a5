"""The DNS side of the mail-flow lab (tests/lab/mail_flow.py): names, addresses, zones, keys.

Two domains on loopback. example.test is ours: MX per region, a submission host, SPF naming
the submission relay's address only, a real 2048-bit DKIM key under selector cp1 and a strict
DMARC policy. outside.test is the outside receiver's: its MX, and SPF/DMARC that authorize
every 127.0.0.0/8 sender, so an inbound canary (which connects from 127.0.0.1) passes SPF as
an outside.test sender. A reverse zone gives the sending addresses forward-confirmed names.

`ZoneRecords` holds what is published now; a test changes one record (the SPF policy, the
DKIM key) and `restore()` puts the published state back.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.lab.dnslab import zone_text

ZONE = "example.test"
OUTSIDE_ZONE = "outside.test"
REVERSE_ZONE = "72.0.127.in-addr.arpa"
TTL = 5
"""Short enough that even an unflushed cache forgets a changed record within seconds."""

MX1_IP = "127.0.71.1"
"""Region primary's MX: accepts mail for example.test and delivers it to Dovecot."""
MX3_IP = "127.0.71.3"
"""Region secondary's MX: answers, then refuses every recipient with 554 (5xx)."""
SUBMIT_IP = "127.0.72.1"
"""Submission (587) and the address the signed mail leaves from (in SPF)."""
SUBMIT_UNLISTED_IP = "127.0.72.9"
"""A second submission listener whose mail leaves from this address, which SPF does not name."""
OUTSIDE_MX_IP = "127.0.73.1"
IMAP_IP = "127.0.74.1"
IMAP_DEAD_IP = "127.0.74.9"
"""Nothing listens here: an IMAP server that is down (connection refused at once)."""

MX1_HOST = f"mx1.{ZONE}"
MX3_HOST = f"mx3.{ZONE}"
SUBMIT_HOST = f"submit.{ZONE}"
SUBMIT_UNLISTED_HOST = f"submit2.{ZONE}"
OUTSIDE_MX_HOST = f"mx.{OUTSIDE_ZONE}"
IMAP_HOST = f"imap.{ZONE}"

DKIM_SELECTOR = "cp1"
DEFAULT_SPF = f"v=spf1 ip4:{SUBMIT_IP} -all"
DEFAULT_DMARC = "v=DMARC1; p=reject; adkim=r; aspf=r"
OUTSIDE_SPF = "v=spf1 ip4:127.0.0.0/8 -all"
OUTSIDE_DMARC = "v=DMARC1; p=none"


def txt_strings(value: str, size: int = 200) -> str:
    """`value` as one or more quoted zone-file strings (a single string holds at most 255)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return " ".join(f'"{escaped[i : i + size]}"' for i in range(0, len(escaped), size)) or '""'


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def dkim_record_value(key: rsa.RSAPrivateKey) -> str:
    """The DKIM key record for `key`'s public half (RFC 6376 section 3.6.1)."""
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def write_private_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    """PKCS#8 PEM, mode 0600 (dkimpy-milter reads it as root before dropping privileges)."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


@dataclass
class ZoneRecords:
    """What the lab publishes now; `zones()` renders it with a fresh serial each time."""

    published_dkim: str
    """The record matching the signing key: what restore() publishes again."""
    dkim: str | None
    """The record published now at cp1._domainkey.example.test (None: no record)."""
    spf: str | None = DEFAULT_SPF
    dmarc: str | None = DEFAULT_DMARC
    extra: dict[str, list[str]] = field(default_factory=dict)
    """More zone-file lines per zone, e.g. {"example.test": ["www A 127.0.0.80"]}."""
    serial: int = 1

    def restore(self) -> None:
        self.dkim, self.spf, self.dmarc = self.published_dkim, DEFAULT_SPF, DEFAULT_DMARC
        self.extra = {}

    def zones(self) -> dict[str, str]:
        self.serial += 1
        ours = [
            "@ MX 10 mx1",
            "@ MX 20 mx3",
            f"mx1 A {MX1_IP}",
            f"mx3 A {MX3_IP}",
            f"submit A {SUBMIT_IP}",
            f"submit2 A {SUBMIT_UNLISTED_IP}",
            f"imap A {IMAP_IP}",
        ]
        if self.spf is not None:
            ours.append(f"@ TXT {txt_strings(self.spf)}")
        if self.dkim is not None:
            ours.append(f"{DKIM_SELECTOR}._domainkey TXT {txt_strings(self.dkim)}")
        if self.dmarc is not None:
            ours.append(f"_dmarc TXT {txt_strings(self.dmarc)}")
        outside = [
            "@ MX 10 mx",
            f"mx A {OUTSIDE_MX_IP}",
            f"imap A {IMAP_IP}",
            f"@ TXT {txt_strings(OUTSIDE_SPF)}",
            f"_dmarc TXT {txt_strings(OUTSIDE_DMARC)}",
        ]
        reverse = [
            f"{SUBMIT_IP.rsplit('.', 1)[1]} PTR {SUBMIT_HOST}.",
            f"{SUBMIT_UNLISTED_IP.rsplit('.', 1)[1]} PTR {SUBMIT_UNLISTED_HOST}.",
        ]
        lines = {ZONE: ours, OUTSIDE_ZONE: outside, REVERSE_ZONE: reverse}
        return {
            name: zone_text(name, self.serial, TTL, [*records, *self.extra.get(name, [])])
            for name, records in lines.items()
        }
