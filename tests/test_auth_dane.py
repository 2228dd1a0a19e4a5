"""dane: TLSA matching as a pure function, then end to end against a real Postfix on
127.0.26.1:25 with TLSA records served by a real DNS lab.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cockpit.auth.asker import Asker
from cockpit.auth.dane_check import Tlsa, matching_records, parse_tlsa, tlsa_matches
from cockpit.auth.smtp_check import smtp_and_dane_findings
from cockpit.config import Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text
from tests.lab.postfix import Listener, PostfixFactory

pytest_plugins = ["tests.lab.dnslab", "tests.lab.postfix_lab"]

ZONE = "example.test"
MX_IP = "127.0.26.1"


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def association(cert_der: bytes, selector: int, mtype: int) -> bytes:
    """What a TLSA record with `selector` and `mtype` publishes for `cert_der`."""
    data = cert_der
    if selector == 1:
        data = (
            x509.load_der_x509_certificate(cert_der)
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


@dataclass(frozen=True)
class Chain:
    leaf: bytes
    intermediate: bytes

    @property
    def presented(self) -> tuple[bytes, bytes]:
        return (self.leaf, self.intermediate)


def make_chain() -> Chain:
    intermediate = trustme.CA().create_child_ca()
    leaf = intermediate.issue_cert("mx1.example.test")
    pems = [blob.bytes() for blob in leaf.cert_chain_pems]
    return Chain(der(pems[0]), der(pems[1]))


@pytest.fixture(scope="module")
def chains() -> tuple[Chain, Chain]:
    return make_chain(), make_chain()


# --- pure matching ----------------------------------------------------------------------------


@pytest.mark.parametrize("mtype", [0, 1, 2])
@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("usage", [0, 1, 2, 3])
def test_every_usage_selector_and_matching_type(
    chains: tuple[Chain, Chain], usage: int, selector: int, mtype: int
) -> None:
    chain, other = chains
    # Usages 0 and 2 name a CA the server presents; 1 and 3 the server's own certificate.
    target = chain.leaf if usage in (1, 3) else chain.intermediate
    record = Tlsa(usage, selector, mtype, association(target, selector, mtype))
    assert tlsa_matches(record, chain.presented)
    assert not tlsa_matches(record, other.presented)
    # An end-entity record never matches a CA of the chain, nor a trust-anchor record the leaf.
    wrong_place = chain.intermediate if usage in (1, 3) else chain.leaf
    misplaced = Tlsa(usage, selector, mtype, association(wrong_place, selector, mtype))
    assert not tlsa_matches(misplaced, chain.presented)


def test_unusable_records_and_empty_chains_never_match(chains: tuple[Chain, Chain]) -> None:
    chain, _ = chains
    digest = association(chain.leaf, 1, 1)
    for usage, selector, mtype in [(4, 1, 1), (3, 2, 1), (3, 1, 3), (255, 1, 1)]:
        record = Tlsa(usage, selector, mtype, digest)
        assert not record.usable and not tlsa_matches(record, chain.presented)
    assert not tlsa_matches(Tlsa(3, 1, 1, digest), ())
    # Only the leaf presented: trust-anchor records have nothing to match.
    ta = Tlsa(2, 0, 1, association(chain.intermediate, 0, 1))
    assert not tlsa_matches(ta, chain.presented[:1])


def test_matching_records_keeps_only_the_matches(chains: tuple[Chain, Chain]) -> None:
    chain, other = chains
    good = Tlsa(3, 1, 1, association(chain.leaf, 1, 1))
    bad = Tlsa(3, 1, 1, association(other.leaf, 1, 1))
    assert matching_records([bad, good], chain.presented) == [good]


def test_parse_tlsa() -> None:
    assert parse_tlsa("3 1 1 00ff") == Tlsa(3, 1, 1, b"\x00\xff")
    assert parse_tlsa("3 1 1 00 ff") == Tlsa(3, 1, 1, b"\x00\xff")
    assert parse_tlsa("3 1 1 0g") is None
    assert parse_tlsa("x 1 1 00") is None
    assert parse_tlsa("3 1") is None
    assert Tlsa(3, 1, 1, b"\x00\xff").text() == "3 1 1 00ff"


# --- end to end -------------------------------------------------------------------------------


@dataclass
class Lab:
    dns: DnsLab
    ca_file: Path

    def asker(self) -> Asker:
        name, ip, port = self.dns.resolvers[0]
        return Asker(ServerSpec(name, ip, port), timeout=1.0)


def tlsa_line(owner: str, usage: int, selector: int, mtype: int, data: bytes) -> str:
    return f"_25._tcp.{owner} TLSA {usage} {selector} {mtype} {data.hex()}"


@pytest.fixture(scope="module")
def lab(
    dns_lab_module: LabFactory,
    postfix_lab_module: PostfixFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    ca = trustme.CA()
    leaf = ca.issue_cert(
        "mx1.example.test",
        "good.example.test",
        "bad.example.test",
        "none.example.test",
        "ta.example.test",
    )
    # The server presents its CA too, so a DANE-TA record has something to match.
    chain_pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems) + ca.cert_pem.bytes()
    postfix_lab_module({MX_IP: Listener(cert_pem=chain_pem, key_pem=leaf.private_key_pem.bytes())})
    leaf_der = der(leaf.cert_chain_pems[0].bytes())
    other_der = der(trustme.CA().issue_cert("mx1.example.test").cert_chain_pems[0].bytes())
    records = [f"{name} A {MX_IP}" for name in ("mx1", "good", "bad", "none", "ta")]
    records += [
        tlsa_line("mx1", 3, 1, 1, association(leaf_der, 1, 1)),
        tlsa_line("good", 3, 0, 2, association(leaf_der, 0, 2)),
        tlsa_line("bad", 3, 1, 1, association(other_der, 1, 1)),
        tlsa_line("ta", 2, 0, 1, association(der(ca.cert_pem.bytes()), 0, 1)),
    ]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=1)
    ca_file = tmp_path_factory.mktemp("dane-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield Lab(dns, ca_file)


def check(lab: Lab, *mx: str) -> dict[str, Finding]:
    region = Region(name="primary", mx=mx)
    config = hand_config(
        ZONE, (region, Region(name="secondary", mx=("mx2.example.test",))), ca_file=lab.ca_file
    )
    findings = asyncio.run(smtp_and_dane_findings(config, region, lab.asker(), timeout=5))
    smtp = [f for f in findings if f.check == "smtp-tls"]
    assert len(smtp) == len(mx) and all(
        f.status is Status.OK for f in smtp if "elsewhere" not in f.subject
    )
    return {f.subject: f for f in findings if f.check == "dane"}


def test_dane_against_postfix(lab: Lab) -> None:
    found = check(
        lab,
        "mx1.example.test",
        "good.example.test",
        "bad.example.test",
        "none.example.test",
        "ta.example.test",
    )
    assert found["mx1.example.test"].status is Status.OK, found["mx1.example.test"].summary
    assert "3 1 1" in found["mx1.example.test"].summary
    assert found["good.example.test"].status is Status.OK
    assert found["ta.example.test"].status is Status.OK
    assert found["ta.example.test"].data["addresses"][0]["matched"][0].startswith("2 0 1 ")
    bad = found["bad.example.test"]
    assert bad.status is Status.FAIL and "matches none" in bad.summary
    assert bad.data["tlsa"] and bad.data["tlsa_name"] == "_25._tcp.bad.example.test"
    none = found["none.example.test"]
    assert none.status is Status.OK and "no TLSA" in none.summary and none.data["tlsa"] == []


def test_dane_lookup_trouble_is_unknown(lab: Lab) -> None:
    found = check(lab, "mx.elsewhere.example")
    assert found["mx.elsewhere.example"].status is Status.UNKNOWN
