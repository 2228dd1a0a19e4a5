"""DKIM checks against real nsd and unbound on loopback, plus the RFC 8463 test vectors.

Keys are generated here with `cryptography`; records longer than 255 characters are published
as several strings, as a zone file must. One lab serves the whole module: resolver 0 answers
the checks, resolver 1 is frozen in one test (and thawed in its `finally`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from cockpit.auth.asker import Asker
from cockpit.auth.dkim_check import (
    RecordError,
    dkim_findings,
    fingerprint,
    load_private_key,
    parse_key_record,
)
from cockpit.config.model import Config, Region
from cockpit.dns.observation import ServerSpec
from cockpit.model import Finding, Status
from tests.lab.config_for_tests import hand_config
from tests.lab.dnslab import DnsLab, LabFactory, zone_text

pytest_plugins = ["tests.lab.dnslab"]

ZONE = "example.test"
TIMEOUT = 0.4


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_b64: str

    @property
    def secrets(self) -> list[str]:
        """Every piece of private key text that must never appear in output."""
        lines = self.private_pem.decode().strip().splitlines()
        return ["PRIVATE KEY", *(line for line in lines if not line.startswith("-----"))]


def rsa_pair(bits: int) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _pair(key)


def ed25519_pair() -> KeyPair:
    return _pair(ed25519.Ed25519PrivateKey.generate())


def _pair(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> KeyPair:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raw = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return KeyPair(pem, base64.b64encode(raw).decode())


def tiny_rsa_public_b64() -> str:
    """A 512-bit RSA public key, as old DNS zones still publish: cryptography will not generate
    one, so it is built from numbers (two 256-bit primes, found with a Fermat-checked search)."""
    p = _next_prime(3 << 254 | 0x1234567)  # both above 1.5 x 2**255: a 512-bit product
    q = _next_prime(3 << 254 | 0x7654321)
    public = rsa.RSAPublicNumbers(65537, p * q).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _next_prime(start: int) -> int:
    candidate = start | 1
    while not all(pow(base, candidate - 1, candidate) == 1 for base in (2, 3, 5, 7, 11, 13)):
        candidate += 2
    return candidate


def txt_record(owner: str, text: str) -> str:
    """A zone-file TXT line, split into strings of at most 200 characters."""
    chunks = [text[i : i + 200] for i in range(0, len(text), 200)] or [""]
    return f"{owner} TXT " + " ".join(f'"{chunk}"' for chunk in chunks)


@dataclass
class Lab:
    lab: DnsLab
    keys: dict[str, KeyPair]
    key_files: dict[str, Path]

    def asker(self, index: int = 0) -> Asker:
        name, ip, port = self.lab.resolvers[index]
        return Asker(ServerSpec(name, ip, port), timeout=TIMEOUT)


@pytest.fixture(scope="module")
def lab(dns_lab_module: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    keys = {
        "strong": rsa_pair(2048),
        "weak": rsa_pair(1024),
        "ed": ed25519_pair(),
        "published-a": rsa_pair(2048),
        "file-b": rsa_pair(2048),
    }
    records = [
        txt_record("strong._domainkey", f"v=DKIM1; k=rsa; p={keys['strong'].public_b64}"),
        txt_record("weak._domainkey", f"v=DKIM1; k=rsa; p={keys['weak'].public_b64}"),
        txt_record("ed._domainkey", f"v=DKIM1; k=ed25519; p={keys['ed'].public_b64}"),
        txt_record("mismatch._domainkey", f"v=DKIM1; k=rsa; p={keys['published-a'].public_b64}"),
        txt_record("broken._domainkey", f"v=DKIM1; k=rsa; p={keys['strong'].public_b64}"),
        txt_record("tiny._domainkey", f"v=DKIM1; k=rsa; p={tiny_rsa_public_b64()}"),
        'revoked._domainkey TXT "v=DKIM1; k=rsa; p="',
        'garbage._domainkey TXT "v=DKIM1; k=rsa; p=bm90IGEga2V5"',
    ]
    dns = dns_lab_module({ZONE: zone_text(ZONE, 1, 60, records)}, resolver_count=2)
    directory = tmp_path_factory.mktemp("dkim-keys")
    files = {"strong": "strong", "weak": "weak", "ed": "ed", "mismatch": "file-b"}
    key_files: dict[str, Path] = {}
    for selector, key_name in files.items():
        path = directory / f"{selector}.pem"
        path.write_bytes(keys[key_name].private_pem)
        path.chmod(0o600)
        key_files[selector] = path
    broken = directory / "broken.pem"
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    broken.chmod(0o600)
    key_files["broken"] = broken
    yield Lab(dns, keys, key_files)


def config_with(
    lab: Lab, selectors: list[str], keyed: Sequence[str] = (), domain: str = ZONE
) -> tuple[Config, Region]:
    region = Region(
        name="primary",
        mx=("mx1.example.test",),
        dkim_selectors=tuple(selectors),
        dkim_private_keys=MappingProxyType({s: lab.key_files[s] for s in keyed}),
    )
    other = Region(name="secondary", mx=("mx2.example.test",))
    config = hand_config(domain, (region, other))
    return config, region


def check(
    lab: Lab, selectors: list[str], keyed: Sequence[str] = (), index: int = 0
) -> dict[str, Finding]:
    config, region = config_with(lab, selectors, keyed)
    found = asyncio.run(dkim_findings(config, region, lab.asker(index)))
    assert all(f.area == "auth" and f.check == "dkim" and f.region == "primary" for f in found)
    return {f.data["selector"]: f for f in found}


def assert_no_secrets(lab: Lab, findings: list[Finding], *outputs: str) -> None:
    text = json.dumps([f.to_json() for f in findings]) + "".join(outputs)
    for pair in lab.keys.values():
        for secret in pair.secrets:
            assert secret not in text
    summaries = " ".join(f.summary for f in findings)
    for pair in lab.keys.values():
        assert pair.public_b64[:40] not in summaries


# --- against the lab ----------------------------------------------------------------------------


def test_good_keys_with_matching_private_keys(
    lab: Lab, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    found = check(lab, ["strong", "weak", "ed"], keyed=["strong", "weak", "ed"])

    strong, weak, ed = found["strong"], found["weak"], found["ed"]
    assert strong.status is Status.OK, strong.summary
    assert strong.subject == "strong._domainkey.example.test"
    assert strong.summary.startswith("strong: RSA 2048-bit key")
    assert "private key matches" in strong.summary and "test signature verifies" in strong.summary
    assert strong.data["private_key_matches"] is True
    assert strong.data["signature_verified"] is True
    assert strong.data["fingerprint"] == fingerprint(
        load_private_key(lab.key_files["strong"]).public_key()
    )
    assert weak.status is Status.WARN and "weak RSA key (1024 bits" in weak.summary
    assert weak.data["signature_verified"] is True
    assert "private key matches; test signature verifies" in weak.summary
    assert ed.status is Status.OK and "ed25519 256-bit key" in ed.summary
    assert ed.data["signature_verified"] is True

    captured = capsys.readouterr()
    assert_no_secrets(lab, list(found.values()), caplog.text, captured.out, captured.err)


def test_rsa_key_under_1024_bits_fails(lab: Lab) -> None:
    tiny = check(lab, ["tiny"])["tiny"]
    assert tiny.status is Status.FAIL, tiny.summary
    assert "512" in tiny.summary


def test_published_key_without_private_key_file(lab: Lab) -> None:
    found = check(lab, ["strong"])
    assert found["strong"].status is Status.OK
    assert "signature_verified" not in found["strong"].data


def test_revoked_missing_and_garbage_records_fail(lab: Lab) -> None:
    found = check(lab, ["revoked", "missing", "garbage"])
    assert found["revoked"].status is Status.FAIL
    assert "revoked" in found["revoked"].summary
    assert found["missing"].status is Status.FAIL
    assert "not published" in found["missing"].summary
    assert found["garbage"].status is Status.FAIL
    assert "not a valid rsa public key" in found["garbage"].summary


def test_mismatching_private_key_fails(
    lab: Lab, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    found = check(lab, ["mismatch"], keyed=["mismatch"])
    mismatch = found["mismatch"]
    assert mismatch.status is Status.FAIL
    assert "does not match the published key" in mismatch.summary
    assert mismatch.data["private_key_matches"] is False
    assert "private key matches" not in mismatch.summary
    assert mismatch.data["signature_verified"] is False
    captured = capsys.readouterr()
    assert_no_secrets(lab, [mismatch], caplog.text, captured.out, captured.err)


def test_unreadable_private_key_file_is_unknown(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    found = check(lab, ["broken"], keyed=["broken"])
    broken = found["broken"]
    assert broken.status is Status.UNKNOWN
    assert "private key not checked" in broken.summary
    assert "bm90IGEga2V5" not in json.dumps(broken.to_json()) + caplog.text


def test_frozen_resolver_is_unknown_never_fail(lab: Lab) -> None:
    lab.lab.freeze(1)
    try:
        found = check(lab, ["strong", "missing"], keyed=["strong"], index=1)
    finally:
        lab.lab.thaw(1)
    for finding in found.values():
        assert finding.status is Status.UNKNOWN, finding.summary
        assert "could not look up" in finding.summary


def test_refused_lookup_is_unknown_never_fail(lab: Lab) -> None:
    # The lab resolvers refuse every name outside the lab zones.
    config, region = config_with(lab, ["strong"], keyed=["strong"], domain="elsewhere.example")
    [finding] = asyncio.run(dkim_findings(config, region, lab.asker()))
    assert finding.status is Status.UNKNOWN
    assert finding.data["outcome"] == "refused"


def test_records_longer_than_255_are_published_as_several_strings(lab: Lab) -> None:
    line = txt_record("strong._domainkey", f"v=DKIM1; k=rsa; p={lab.keys['strong'].public_b64}")
    assert line.count('" "') >= 1


def test_no_selectors_is_unknown(lab: Lab) -> None:
    config, region = config_with(lab, [])
    [finding] = asyncio.run(dkim_findings(config, region, lab.asker()))
    assert finding.status is Status.UNKNOWN


# --- pure ---------------------------------------------------------------------------------------


def test_parse_key_record_errors() -> None:
    for text, problem in [
        ("v=DKIM1; k=rsa; p=", "revoked"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("v=DKIM2; p=AAAA", "not DKIM1"),
        ("v=DKIM1; k=dsa; p=AAAA", "unknown key type"),
        ("v=DKIM1; p=@@@", "not valid base64"),
        ("v=DKIM1; p=AA; p=BB", "given twice"),
        ("v=DKIM1; novalue", "has no '='"),
    ]:
        with pytest.raises(RecordError, match=problem):
            parse_key_record(text)


def test_ed25519_seed_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "seed.key"
    path.write_text(RFC8463_ED25519_PRIVATE + "\n")
    key = load_private_key(path)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == RFC8463_ED25519_PUBLIC


# --- RFC 8463 appendix A ------------------------------------------------------------------------

RFC8463_ED25519_PRIVATE = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
RFC8463_ED25519_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8463_RSA_PUBLIC = (
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id"
    "Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3"
    "rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
)
RFC8463_RSA_PRIVATE = """\
-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi
Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM
KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB
AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm
6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe
zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy
6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc
uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy
WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd
WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a
licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst
o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe
uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL
-----END RSA PRIVATE KEY-----
"""
RFC8463_RECORDS = {
    "brisbane._domainkey.football.example.com": (f"v=DKIM1; k=ed25519; p={RFC8463_ED25519_PUBLIC}"),
    "test._domainkey.football.example.com": f"v=DKIM1; k=rsa; p={RFC8463_RSA_PUBLIC}",
}
RFC8463_MESSAGE = (
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    b" subject : date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    b" date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    b"From: Joe SixPack <joe@football.example.com>\r\n"
    b"To: Suzie Q <suzie@shopping.example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    b"\r\n"
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet?\r\n"
    b"\r\n"
    b"Joe.\r\n"
)


def rfc_dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
    text = (name.decode() if isinstance(name, bytes) else name).rstrip(".")
    record = RFC8463_RECORDS.get(text)
    return None if record is None else record.encode()


@pytest.mark.parametrize("index", [0, 1], ids=["ed25519", "rsa"])
def test_rfc8463_vectors_verify(index: int) -> None:
    assert dkim.DKIM(RFC8463_MESSAGE).verify(idx=index, dnsfunc=rfc_dnsfunc)


@pytest.mark.parametrize("index", [0, 1], ids=["ed25519", "rsa"])
def test_rfc8463_altered_body_does_not_verify(index: int) -> None:
    altered = RFC8463_MESSAGE.replace(b"We lost the game.", b"We won the game.")
    with pytest.raises(dkim.ValidationError, match="body hash mismatch"):
        dkim.DKIM(altered).verify(idx=index, dnsfunc=rfc_dnsfunc)


def test_rfc8463_published_keys_parse() -> None:
    ed = parse_key_record(RFC8463_RECORDS["brisbane._domainkey.football.example.com"])
    assert (ed.key_type, ed.bits) == ("ed25519", 256)
    rsa_key = parse_key_record(RFC8463_RECORDS["test._domainkey.football.example.com"])
    assert (rsa_key.key_type, rsa_key.bits) == ("rsa", 1024)


@pytest.mark.parametrize(
    ("private", "selector", "algorithm"),
    [
        (RFC8463_ED25519_PRIVATE.encode(), b"brisbane", b"ed25519-sha256"),
        (RFC8463_RSA_PRIVATE.encode(), b"test", b"rsa-sha256"),
    ],
    ids=["ed25519", "rsa"],
)
def test_rfc8463_private_keys_sign_for_their_records(
    private: bytes, selector: bytes, algorithm: bytes
) -> None:
    """The appendix's private keys belong to its published keys: a fresh signature verifies."""
    message = RFC8463_MESSAGE[RFC8463_MESSAGE.index(b"From:") :]
    header = dkim.DKIM(message, signature_algorithm=algorithm).sign(
        selector, b"football.example.com", private
    )
    assert dkim.DKIM(header + message).verify(dnsfunc=rfc_dnsfunc)
