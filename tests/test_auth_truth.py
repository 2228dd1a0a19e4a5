"""Pure checks of what the auth probes may claim: DKIM key tags h= and s=, ASCII-only numbers
in DMARC and MTA-STS, a withdrawn MTA-STS record against the policy the log saw, DANE-TA
chains built from real certificates, and address sets with a family not seen.

The same over real sockets (a DNS responder, SMTP and HTTPS servers on loopback) is in
test_auth_truth_tls.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime, timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from cockpit.auth.asker import Asker
from cockpit.auth.dane_check import Tlsa, dane_findings, dane_ta_problem, parse_tlsa
from cockpit.auth.dkim_check import RecordError, parse_key_record
from cockpit.auth.dmarc_check import DmarcSyntaxError, parse_dmarc
from cockpit.auth.https_probe import HostAddresses, with_gaps
from cockpit.auth.mtasts_check import MtaStsError, parse_policy
from cockpit.auth.mtasts_history import (
    PolicySeen,
    cached_policy,
    policy_entry_data,
    policy_history,
    seen_in_finding,
)
from cockpit.auth.smtp_probe import SmtpResult
from cockpit.auth.spf_walk import _mx_exchange
from cockpit.compat import UTC
from cockpit.config import Region
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.incident.entry import Entry
from cockpit.model import Status

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- DKIM: h= and s= (RFC 6376 3.6.1) ---------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_p() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ("h=sha1", "h=sha1 excludes sha256: receivers ignore rsa-sha256 signatures"),
        ("h=SHA1 : md5", "excludes sha256"),
        ("s=tlsrpt", "s=tlsrpt: key not for email"),
        ("s=foo", "s=foo: key not for email"),
        ("s=foo:bar", "key not for email"),
    ],
)
def test_dkim_key_receivers_ignore_fails(dkim_p: str, tags: str, problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        parse_key_record(f"v=DKIM1; k=rsa; {tags}; p={dkim_p}")


@pytest.mark.parametrize(
    "tags", ["h=sha256", "h=sha1:sha256", "h = SHA256", "s=email", "s=*", "s=tlsrpt:email"]
)
def test_dkim_key_for_email_with_sha256_parses(dkim_p: str, tags: str) -> None:
    assert parse_key_record(f"v=DKIM1; k=rsa; {tags}; p={dkim_p}").key_type == "rsa"


# --- ASCII digits only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("v=DMARC1; p=reject; pct=\u00b2", "pct=\u00b2 is not a whole number 0-100"),
        ("v=DMARC1; p=reject; pct=\u0661\u0660", "is not a whole number 0-100"),
        ("v=DMARC1; p=reject; ri=\u00b2", "ri=\u00b2 is not a number of seconds"),
    ],
)
def test_dmarc_unicode_digits_are_invalid_records(record: str, problem: str) -> None:
    with pytest.raises(DmarcSyntaxError, match=problem):
        parse_dmarc(record)


@pytest.mark.parametrize("max_age", ["\u00b2", "\u0663\u0660\u0660", "\uff18\uff16\uff14"])
def test_mtasts_unicode_max_age_is_a_malformed_policy(max_age: str) -> None:
    text = f"version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: {max_age}\n"
    with pytest.raises(MtaStsError, match="is not a whole number of seconds"):
        parse_policy(text)


def test_other_dns_numbers_take_ascii_digits_only() -> None:
    assert parse_tlsa("\u00b3 1 1 aabb") is None
    assert _mx_exchange("\u00b9 mx1.example.test.") == (0, "mx1.example.test")


# --- MTA-STS: the record withdrawn while senders hold the policy ------------------------------

WEEK = 604_800


def _seen(mode: str | None, mx: tuple[str, ...] | None, ago: timedelta) -> PolicySeen:
    return PolicySeen("20240501", "a" * 64, WEEK, NOW - ago, mode, mx)


def test_policy_history_keeps_mode_and_mx() -> None:
    """A finding's data -> the log entry -> the history read back, mode and mx included."""
    finding_data = {
        "id": "20240501",
        "policy_sha256": "b" * 64,
        "max_age": WEEK,
        "mode": "enforce",
        "mx_patterns": ["mx1.example.test", "*.backup.example.test"],
    }
    seen = seen_in_finding(finding_data)
    assert seen is not None
    entry = Entry(1, NOW, "cockpit", {}, "probe", "", policy_entry_data("example.test", seen))
    [read] = policy_history([entry], "example.test")
    assert (read.mode, read.mx, read.seen_at) == (
        "enforce",
        ("mx1.example.test", "*.backup.example.test"),
        NOW,
    )
    # More patterns than a finding keeps: coverage cannot be told, so mx is not recorded.
    capped = seen_in_finding({**finding_data, "mx_capped": True})
    assert capped is not None and capped.mx is None
    assert "mx" not in policy_entry_data("example.test", capped)


def test_cached_policy_lasts_its_max_age_from_when_it_was_logged() -> None:
    history = (_seen("enforce", ("mx1.example.test",), timedelta(days=2)),)
    assert cached_policy(history, NOW) == history[0]
    assert cached_policy(history, NOW + timedelta(days=5, seconds=1)) is None
    assert cached_policy((), NOW) is None
    unknown_age = (PolicySeen("x1", "a" * 64, None, NOW - timedelta(days=400)),)
    assert cached_policy(unknown_age, NOW) == unknown_age[0]


# --- DANE-TA: chain and name ------------------------------------------------------------------


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def _ta_record(ca_der: bytes) -> Observation:
    text = f"2 0 1 {hashlib.sha256(ca_der).hexdigest()}"
    assert parse_tlsa(text) == Tlsa(2, 0, 1, hashlib.sha256(ca_der).digest())
    return Observation(
        server_name="r1",
        server="127.0.0.1:53",
        qname="_25._tcp.mx1.example.test",
        rdtype="TLSA",
        outcome=Outcome.ANSWER,
        rcode="NOERROR",
        answers=(text,),
        raw_answers=(),
        ttl=300,
        cname_chain=(),
        latency_ms=1.0,
        observed_at=NOW,
        error=None,
    )


def _dane(
    chain: tuple[bytes, ...],
    ca_der: bytes,
    incomplete: dict[str, str] | None = None,
    next_hop: str | None = None,
) -> tuple[Status, str]:
    host = "mx1.example.test"
    result = SmtpResult(host=host, address="127.0.0.1", banner_code=220, chain_der=chain)
    region = Region(name="primary", mx=(host,))
    # The TLSA answer is handed in: the Asker is only named in the finding, never asked.
    asker = Asker(ServerSpec("r1", "127.0.0.1"), timeout=1.0)
    tlsa = {host: _ta_record(ca_der)}
    found = dane_findings(region, asker, {host: (result,)}, tlsa, incomplete, next_hop=next_hop)
    [finding] = asyncio.run(found)
    return finding.status, finding.summary


def test_dane_ta_leaf_from_another_ca_fails() -> None:
    pinned, other = trustme.CA(), trustme.CA()
    leaf = other.issue_cert("mx1.example.test")
    pinned_der = _der(pinned.cert_pem.bytes())
    # The pinned CA is appended to the chain, but it did not issue the leaf.
    status, summary = _dane((_der(leaf.cert_chain_pems[0].bytes()), pinned_der), pinned_der)
    assert status is Status.FAIL, summary
    assert "2 0 1" in summary and "not presented: no chain to the anchor" in summary


def test_dane_ta_forged_issuer_name_fails_on_the_signature() -> None:
    """A leaf naming the pinned CA as issuer but signed by another key."""
    pinned = trustme.CA()
    impostor = trustme.CA()
    signer = load_pem_private_key(impostor.private_key_pem.bytes(), password=None)
    real = x509.load_pem_x509_certificate(
        pinned.issue_cert("mx1.example.test").cert_chain_pems[0].bytes()
    )
    pinned_cert = x509.load_pem_x509_certificate(pinned.cert_pem.bytes())
    forged = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(pinned_cert.subject)
        .public_key(real.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx1.example.test")]), False)
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    pinned_der = pinned_cert.public_bytes(Encoding.DER)
    status, summary = _dane((forged.public_bytes(Encoding.DER), pinned_der), pinned_der)
    assert status is Status.FAIL and "signature" in summary and "does not verify" in summary


def test_dane_ta_leaf_for_another_name_fails() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("other.example.net")
    ca_der = _der(ca.cert_pem.bytes())
    status, summary = _dane((_der(leaf.cert_chain_pems[0].bytes()), ca_der), ca_der)
    assert status is Status.FAIL
    assert "names other.example.net, not mx1.example.test" in summary


def test_dane_ta_leaf_naming_the_mail_domain_is_ok() -> None:
    """RFC 7672 3.2.2: the next-hop domain is a reference identifier as well as the MX host
    (Postfix's default): a leaf that names only example.test is accepted; another domain
    still is not."""
    ca = trustme.CA()
    leaf = ca.issue_cert("example.test")
    ca_der = _der(ca.cert_pem.bytes())
    chain = (_der(leaf.cert_chain_pems[0].bytes()), ca_der)
    status, summary = _dane(chain, ca_der, next_hop="example.test")
    assert status is Status.OK and "matches TLSA 2 0 1" in summary, summary
    status, summary = _dane(chain, ca_der, next_hop="example.org")
    assert status is Status.FAIL
    assert "names example.test, not mx1.example.test or example.org" in summary


def test_dane_ta_through_an_intermediate_is_ok() -> None:
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("*.example.test")
    pems = [blob.bytes() for blob in leaf.cert_chain_pems]
    root_der = _der(root.cert_pem.bytes())
    chain = (_der(pems[0]), _der(pems[1]), root_der)
    status, summary = _dane(chain, root_der)
    assert status is Status.OK and "matches TLSA 2 0 1" in summary
    # The intermediate left out: the leaf no longer reaches the pinned root.
    assert "no chain to the anchor" in (dane_ta_problem("mx1.example.test", chain[::2], 1) or "")
    # A match at the addresses probed says nothing about an address family not seen.
    gaps = "IPv6 addresses not known (AAAA lookup of mx1.example.test: timeout)"
    status, summary = _dane(chain, root_der, {"mx1.example.test": gaps})
    assert status is Status.UNKNOWN and summary.startswith(gaps)


# --- address sets with a family not seen ------------------------------------------------------


def test_gaps_name_the_family_not_seen_and_the_capped_addresses() -> None:
    found = HostAddresses(
        "mx1.example.test",
        tuple(f"192.0.2.{n}" for n in range(1, 7)),
        partial_reason="AAAA lookup of mx1.example.test: timeout",
        unseen_family="IPv6",
    )
    assert found.gaps(4) == [
        "IPv6 addresses not known (AAAA lookup of mx1.example.test: timeout)",
        "2 more addresses not probed (at most 4)",
    ]
    assert HostAddresses("mx1.example.test", ("192.0.2.1",)).gaps(4) == []


def test_with_gaps_never_leaves_ok() -> None:
    gaps = "IPv6 addresses not known (AAAA lookup of mx1: timeout)"
    assert with_gaps(Status.OK, "STARTTLS ok", gaps) == (Status.UNKNOWN, f"{gaps}; STARTTLS ok")
    assert with_gaps(Status.FAIL, "refused", gaps) == (Status.FAIL, f"refused; also {gaps}")
    assert with_gaps(Status.OK, "STARTTLS ok", "") == (Status.OK, "STARTTLS ok")
