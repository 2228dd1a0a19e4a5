"""Verifying a delivered canary against the real DNS lab (nsd + unbound on loopback): DKIM with
dkimpy, SPF with pyspf and DMARC, all through the cockpit's Asker.

The messages are built and signed here with dkimpy and keys generated for the module, as a
region's signer would; the Received headers are the shapes the receiving hops write. One table
row per rule: what the receiver saw, and what each of the four verdicts must say.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cockpit.auth.asker import Asker
from cockpit.canary.verify import SentFacts, verify_delivered
from cockpit.config.model import Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Status
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

TIMEOUT = 0.5
SIGNING_IP, UNLISTED_IP = "127.0.72.1", "127.0.72.9"


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _record(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return " ".join(f'"{text[i : i + 200]}"' for i in range(0, len(text), 200))


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

ZONES = {
    "example.test": [
        f"sel1._domainkey TXT {_record(KEY)}",
        'revoked._domainkey TXT "v=DKIM1; k=rsa; p="',
        f'@ TXT "v=spf1 ip4:{SIGNING_IP} -all"',
        '_dmarc TXT "v=DMARC1; p=reject; adkim=r; aspf=r"',
    ],
    "outside.test": ['@ TXT "v=spf1 ip4:127.0.0.0/8 -all"', '_dmarc TXT "v=DMARC1; p=none"'],
    "monitor.test": ['@ TXT "v=spf1 -all"', '_dmarc TXT "v=DMARC1; p=none"'],
    "soft.test": ['@ TXT "v=spf1 ~all"', '_dmarc TXT "v=DMARC1; p=quarantine"'],
    "none.test": [f"sel1._domainkey TXT {_record(KEY)}", f'@ TXT "v=spf1 ip4:{SIGNING_IP} -all"'],
    "other.test": [f"sel1._domainkey TXT {_record(KEY)}"],
}

PRIMARY = Region(
    name="primary",
    mx=("mx1.example.test",),
    sending_ips=(SIGNING_IP,),
    helo="submit.example.test",
    dkim_selectors=("sel1",),
)

OUT_HOP = "from submit.example.test (unknown [{ip}]) by mx.outside.test (Postfix) with ESMTPS"
SUBMIT_HOP = "from [127.0.0.1] (localhost [127.0.0.1]) by submit.example.test with ESMTPSA"
IN_HOP = "from cockpit.example (unknown [127.0.0.1]) by mx1.example.test (Postfix) with ESMTPS"


@dataclass(frozen=True)
class Lab:
    dns: DnsLab

    def asker(self, index: int = 0) -> Asker:
        name, ip, port = self.dns.resolvers[index]
        return Asker(ServerSpec(name, ip, port), timeout=TIMEOUT)


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory) -> Lab:
    zones = {name: zone_text(name, 1, 60, records) for name, records in ZONES.items()}
    return Lab(dns_lab_module(zones, resolver_count=2))


def message(
    sender: str,
    received: Sequence[str],
    *,
    sign: tuple[rsa.RSAPrivateKey, str, str] | None = None,
    tamper: bool = False,
    extra: str = "",
) -> bytes:
    """A delivered message: Received lines (newest first) above a signed original."""
    original = (
        f"From: Canary <{sender}>\r\nTo: <x@outside.test>\r\nSubject: canary t-1\r\n"
        f"Date: {formatdate(usegmt=True)}\r\nMessage-ID: <t-1@{sender.split('@')[1]}>\r\n"
        "X-Cockpit-Canary: t-1\r\n\r\nA delivery test.\r\n"
    ).encode()
    if sign is not None:
        key, domain, selector = sign
        header = dkim.sign(
            original,
            selector.encode(),
            domain.encode(),
            _pem(key),
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        original = header + original
    if tamper:
        original = original.replace(b"A delivery test.", b"A changed test.")
    trace = "".join(f"Received: {line}; {formatdate(usegmt=True)}\r\n" for line in received)
    return f"Return-Path: <{sender}>\r\n{extra}{trace}".encode() + original


def sent(direction: str, sender: str, trusted: tuple[str, ...] = ()) -> SentFacts:
    handed = "mx1.example.test" if direction == "inbound" else "submit.example.test"
    return SentFacts(
        direction=direction,
        region=PRIMARY,
        regions=(PRIMARY,),
        envelope_sender=sender,
        handed_to=handed,
        own_ip="127.0.0.1",
        own_helo="cockpit.example",
        trusted_authserv_ids=trusted,
    )


OK, WARN, FAIL, UNKNOWN = Status.OK, Status.WARN, Status.FAIL, Status.UNKNOWN
OUT_OK = [OUT_HOP.format(ip=SIGNING_IP), SUBMIT_HOP]
OUT_UNLISTED = [OUT_HOP.format(ip=UNLISTED_IP), SUBMIT_HOP]

CASES = [
    # id, direction, sender, received, signing, tamper, (dkim, spf, dmarc, path)
    ("signed-aligned", "outbound", "s@example.test", OUT_OK, (KEY, "example.test", "sel1"), False,
     (OK, OK, OK, OK)),
    ("key-mismatch", "outbound", "s@example.test", OUT_OK, (OTHER_KEY, "example.test", "sel1"),
     False, (FAIL, OK, OK, OK)),
    ("relay-not-in-spf", "outbound", "s@example.test", OUT_UNLISTED,
     (KEY, "example.test", "sel1"), False, (OK, FAIL, OK, OK)),
    ("both-fail-p-reject", "outbound", "s@example.test", OUT_UNLISTED,
     (OTHER_KEY, "example.test", "sel1"), False, (FAIL, FAIL, FAIL, OK)),
    ("body-changed", "outbound", "s@example.test", OUT_OK, (KEY, "example.test", "sel1"), True,
     (FAIL, OK, OK, OK)),
    ("no-key-published", "outbound", "s@example.test", OUT_OK, (KEY, "example.test", "gone"),
     False, (FAIL, OK, OK, OK)),
    ("revoked-key", "outbound", "s@example.test", OUT_OK, (KEY, "example.test", "revoked"), False,
     (FAIL, OK, OK, OK)),
    ("outbound-unsigned", "outbound", "s@example.test", OUT_OK, None, False, (FAIL, OK, OK, OK)),
    ("not-aligned-signer", "outbound", "s@example.test", OUT_OK, (KEY, "other.test", "sel1"),
     False, (WARN, OK, OK, OK)),
    ("no-dmarc-record", "outbound", "s@none.test", OUT_OK, (KEY, "none.test", "sel1"), False,
     (OK, OK, WARN, OK)),
    ("inbound-unsigned", "inbound", "probe@outside.test", [IN_HOP], None, False,
     (OK, OK, OK, OK)),
    ("dmarc-p-none-fails", "inbound", "probe@monitor.test", [IN_HOP], None, False,
     (OK, FAIL, WARN, OK)),
    ("spf-softfail", "inbound", "probe@soft.test", [IN_HOP], None, False, (OK, WARN, FAIL, OK)),
    ("unexpected-path", "outbound", "s@example.test",
     ["from relay.elsewhere.test (unknown [127.0.77.7]) by mx.outside.test"],
     (KEY, "example.test", "sel1"), False, (OK, UNKNOWN, OK, WARN)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("direction", "sender", "received", "signing", "tamper", "expected"),
    [row[1:] for row in CASES],
    ids=[row[0] for row in CASES],
)
def test_verdicts(
    lab: Lab,
    direction: str,
    sender: str,
    received: list[str],
    signing: tuple[rsa.RSAPrivateKey, str, str] | None,
    tamper: bool,
    expected: tuple[Status, Status, Status, Status],
) -> None:
    raw = message(sender, received, sign=signing, tamper=tamper)
    checked = asyncio.run(verify_delivered(raw, sent(direction, sender), lab.asker()))
    found = tuple(checked.verdicts[name].status for name in ("dkim", "spf", "dmarc", "path"))
    summaries = {name: v.summary for name, v in checked.verdicts.items()}
    assert found == expected, summaries


def test_data_contract_of_a_passing_message(lab: Lab) -> None:
    raw = message("s@example.test", OUT_OK, sign=(KEY, "example.test", "sel1"))
    checked = asyncio.run(verify_delivered(raw, sent("outbound", "s@example.test"), lab.asker()))
    dkim_data, spf, dmarc, path = (
        checked.verdicts[n].data for n in ("dkim", "spf", "dmarc", "path")
    )
    assert dkim_data == {
        "signatures": [{"d": "example.test", "s": "sel1", "result": "pass", "aligned": True}],
        "from_domain": "example.test",
    }
    assert spf == {
        "ip": SIGNING_IP,
        "helo": "submit.example.test",
        "mail_from_domain": "example.test",
        "result": "pass",
        "aligned": True,
    }
    assert dmarc == {
        "from_domain": "example.test",
        "policy": "reject",
        "result": "pass",
        "dkim_aligned": True,
        "spf_aligned": True,
    }
    assert path["expected"] is True and path["unexpected"] == []
    assert path["hops"][0] == {"from": "submit.example.test", "ip": SIGNING_IP,
                               "by": "mx.outside.test"}  # fmt: skip


def test_failure_summaries_name_what_failed(lab: Lab) -> None:
    raw = message("s@example.test", OUT_UNLISTED, sign=(OTHER_KEY, "example.test", "sel1"))
    checked = asyncio.run(verify_delivered(raw, sent("outbound", "s@example.test"), lab.asker()))
    assert "d=example.test s=sel1" in checked.verdicts["dkim"].summary
    assert checked.verdicts["dkim"].data["signatures"][0]["result"] == "fail"
    assert UNLISTED_IP in checked.verdicts["spf"].summary
    assert "p=reject" in checked.verdicts["dmarc"].summary


def test_trusted_authentication_results_are_carried(lab: Lab) -> None:
    extra = (
        "Authentication-Results: mx.outside.test; dkim=pass header.d=example.test;"
        " spf=pass smtp.mailfrom=s@example.test\r\n"
        "Authentication-Results: forged.test; dkim=pass header.d=example.test\r\n"
    )
    raw = message("s@example.test", OUT_OK, sign=(KEY, "example.test", "sel1"), extra=extra)
    facts = sent("outbound", "s@example.test", trusted=("mx.outside.test",))
    checked = asyncio.run(verify_delivered(raw, facts, lab.asker()))
    assert [(a["authserv_id"], a["trusted"]) for a in checked.auth_results] == [
        ("mx.outside.test", True),
        ("forged.test", False),
    ]
    assert [r["result"] for r in checked.auth_results[0]["results"]] == ["pass", "pass"]


def test_a_resolver_that_does_not_answer_is_unknown_never_fail(lab: Lab) -> None:
    raw = message("s@example.test", OUT_OK, sign=(KEY, "example.test", "sel1"))
    lab.dns.freeze(1)
    try:
        started = time.monotonic()
        checked = asyncio.run(
            verify_delivered(raw, sent("outbound", "s@example.test"), lab.asker(1))
        )
        took = time.monotonic() - started
    finally:
        lab.dns.thaw(1)
    statuses = {name: v.status for name, v in checked.verdicts.items()}
    assert statuses == {"dkim": UNKNOWN, "spf": UNKNOWN, "dmarc": UNKNOWN, "path": OK}
    assert checked.verdicts["dkim"].data["signatures"][0]["result"] == "temperror"
    assert checked.verdicts["spf"].data["result"] == "temperror"
    assert took < 10 * TIMEOUT + 3
