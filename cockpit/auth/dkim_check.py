"""DKIM per region: is each selector's key published, sound, and the one the region signs with?

For every selector of a region, `dkim_findings` asks one server (an `Asker`) for the TXT record
at SELECTOR._domainkey.DOMAIN and reports one Finding (area "auth", check "dkim"):

    published      NXDOMAIN or no TXT -> fail "not published"; several records -> fail
    revoked        an empty p= -> fail
    usable         h= without sha256, or s= naming neither email nor * -> fail (RFC 6376 3.6.1:
                   receivers ignore such signatures)
    key            parsed with `cryptography`: RSA under 1024 bits fail, under 2048 warn;
                   ed25519 fine; anything unparsable or an unknown k= -> fail
    private key    when the region names a key file for the selector: its public key must be
                   the published one, compared as keys, and a test message signed with it
                   (dkimpy) must verify with the key fetched through the same Asker

A lookup that could not tell (timeout, SERVFAIL, REFUSED, network error) is `unknown`, never
`fail`. A key file that cannot be read or parsed is `unknown` with the reason.

Key material never leaves this module: no private key bytes in findings, summaries or logs, and
the published key is named by its fingerprint (sha256 of the DER SubjectPublicKeyInfo, first 16
hex digits), never by its base64. dkimpy is given a logger that drops everything, and its
exception texts (which can quote the published key) are reduced to their class names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
from dataclasses import dataclass
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from cockpit.auth.asker import Asker, auth_finding
from cockpit.config.model import Config, Region
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Observation, Outcome
from cockpit.model import Finding, Status, worst
from cockpit.safe_text import clean

RSA_FAIL_BITS = 1024
"""RSA keys shorter than this fail: receivers reject them (RFC 8301)."""
RSA_WARN_BITS = 2048
"""RSA keys shorter than this warn: 1024-bit keys are weak."""
MAX_KEY_FILE_BYTES = 64 * 1024

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _silent_logger() -> logging.Logger:
    # Not registered with logging.getLogger, so nothing propagates to the root logger, and a
    # level above CRITICAL keeps logging's last-resort handler quiet too.
    logger = logging.Logger("cockpit.auth.dkim.dkimpy", level=logging.CRITICAL + 1)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


_DKIMPY_LOGGER = _silent_logger()


class KeyFileError(Exception):
    """A private key file that cannot be used; `reason` never quotes the file's contents."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A parsed DKIM key record."""

    tags: dict[str, str]
    key_type: str
    """"rsa" or "ed25519"."""
    key: PublicKey

    @property
    def bits(self) -> int:
        return self.key.key_size if isinstance(self.key, rsa.RSAPublicKey) else 256

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    @property
    def description(self) -> str:
        kind = "RSA" if self.key_type == "rsa" else "ed25519"
        return f"{kind} {self.bits}-bit key (fp {self.fingerprint})"


class RecordError(ValueError):
    """A DKIM key record that is wrong; the message is one line a commander understands."""


def parse_tag_list(text: str) -> dict[str, str]:
    """RFC 6376 3.2 tag=value list; whitespace around tags and values is dropped.

    Raises RecordError for a tag without "=", a bad tag name or a tag given twice.
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise RecordError(f"'{name[:20]}' has no '='")
        if not _TAG_NAME.match(name):
            raise RecordError(f"bad tag name '{name[:20]}'")
        if name in tags:
            raise RecordError(f"tag {name}= given twice")
        tags[name] = value.strip()
    return tags


def fingerprint(key: PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, first 16 hex digits."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def parse_key_record(text: str) -> PublishedKey:
    """Parse the TXT of SELECTOR._domainkey.DOMAIN; RecordError when it is not a usable key.

    An empty p= (a revoked key) raises RecordError with "revoked" in its message.
    """
    tags = parse_tag_list(text)
    version = tags.get("v")
    if version is not None and version != "DKIM1":
        raise RecordError(f"v={version[:20]} is not DKIM1")
    key_type = tags.get("k", "rsa").lower()
    if "p" not in tags:
        raise RecordError("no p= tag (no public key)")
    public_b64 = re.sub(r"\s+", "", tags["p"])
    if not public_b64:
        raise RecordError("key revoked (empty p=)")
    if key_type not in ("rsa", "ed25519"):
        raise RecordError(f"unknown key type k={key_type[:20]}")
    try:
        der = base64.b64decode(public_b64, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError("p= is not valid base64") from None
    try:
        if key_type == "ed25519":
            key: Any = ed25519.Ed25519PublicKey.from_public_bytes(der)
        else:
            key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise RecordError(f"p= is not a valid {key_type} public key") from None
    if key_type == "rsa" and not isinstance(key, rsa.RSAPublicKey):
        raise RecordError("k=rsa but p= holds another kind of key")
    _check_usable_for_email(tags, key_type)
    return PublishedKey(tags=tags, key_type=key_type, key=key)


def _tag_values(value: str) -> list[str]:
    """A colon-separated tag value (h=, s=, t=) as lower-case items, whitespace dropped."""
    return [item.strip().lower() for item in value.split(":") if item.strip()]


def _check_usable_for_email(tags: dict[str, str], key_type: str) -> None:
    """RFC 6376 3.6.1: a verifier ignores signatures whose hash is missing from h=, and keys
    whose s= names neither "*" nor "email". Signing uses rsa-sha256 or ed25519-sha256 (sha1 is
    obsolete, RFC 8301), so h= must allow sha256."""
    if "h" in tags:
        hashes = _tag_values(tags["h"])
        if "sha256" not in hashes:
            shown = clean(tags["h"][:40])
            raise RecordError(
                f"h={shown} excludes sha256: receivers ignore {key_type}-sha256 signatures"
            )
    if "s" in tags:
        services = _tag_values(tags["s"])
        if "*" not in services and "email" not in services:
            shown = clean(tags["s"][:40])
            raise RecordError(f"s={shown}: key not for email (s= must include email or *)")


def load_private_key(path: Path) -> PrivateKey:
    """An RSA or ed25519 private key from PEM, DER or a base64 ed25519 seed (dkimpy's form).

    Raises KeyFileError; its reason never quotes the file.
    """
    from cockpit.read_file import read_regular

    try:
        data = read_regular(path, MAX_KEY_FILE_BYTES)
    except OSError as error:
        raise KeyFileError(path, f"cannot read the key file ({error.strerror or error})") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(path, "the key file is too large to be a private key")
    key: Any = None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            seed = _base64_seed(data)
            if seed is not None:
                key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
            else:
                key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(path, "the key file is encrypted (a passphrase is needed)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(path, "the key file holds no private key cockpit can read") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyFileError(path, "the key file holds neither an RSA nor an ed25519 key")
    return key


def _base64_seed(data: bytes) -> bytes | None:
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _signing_material(key: PrivateKey) -> tuple[bytes, bytes]:
    """(privkey argument, signature algorithm) as dkimpy wants them; kept in memory only."""
    if isinstance(key, rsa.RSAPrivateKey):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return pem, b"rsa-sha256"
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw), b"ed25519-sha256"


@dataclass(frozen=True, slots=True)
class SelfTest:
    """Outcome of signing a test message and verifying it through the resolver."""

    verified: bool | None
    """True/False; None when the lookup during verification gave no verdict."""
    reason: str


def sign_and_verify(
    key: PrivateKey,
    selector: str,
    domain: str,
    asker: Asker,
    loop: asyncio.AbstractEventLoop,
) -> SelfTest:
    """From a worker thread: sign a test message as d=domain s=selector, verify it via `asker`."""
    privkey, algorithm = _signing_material(key)
    message = (
        f"From: cockpit DKIM check <cockpit-dkim-check@{domain}>\r\n"
        f"To: cockpit-dkim-check@{domain}\r\n"
        "Subject: cockpit DKIM self-test\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: {make_msgid('dkim-check', domain)}\r\n"
        "\r\n"
        f"Signed by cockpit to check selector {selector}.\r\n"
    ).encode("ascii", "replace")
    try:
        signer = dkim.DKIM(message, logger=_DKIMPY_LOGGER, signature_algorithm=algorithm)
        header = signer.sign(
            selector.encode("ascii"),
            domain.encode("ascii"),
            privkey,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
    except (dkim.DKIMException, ValueError, UnicodeError) as error:
        return SelfTest(None, f"could not sign a test message ({type(error).__name__})")
    lookups: list[Observation] = []

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        qname = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        seen = asker.ask_blocking(loop, qname.rstrip("."), "TXT")
        lookups.append(seen)
        if seen.ok and seen.answers:
            return seen.answers[0].encode("utf-8", "replace")
        if seen.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
            return None
        raise dkim.DnsTimeoutError(seen.outcome.value)

    verifier = dkim.DKIM(header + message, logger=_DKIMPY_LOGGER, minkey=512, timeout=asker.timeout)
    try:
        verified = bool(verifier.verify(dnsfunc=dnsfunc))
    except dkim.DKIMException as error:
        if lookups and lookups[-1].outcome in NO_VERDICT_OUTCOMES:
            return SelfTest(None, f"the key lookup got {lookups[-1].outcome.value}")
        return SelfTest(False, f"verification failed ({type(error).__name__})")
    except TimeoutError:
        return SelfTest(None, "the key lookup did not finish")
    problem = "" if verified else "the signature does not match the published key"
    return SelfTest(verified, problem)


async def dkim_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """One `dkim` Finding per selector of `region`, asked through `asker` (see module doc)."""
    domain = config.domain.name
    if not region.dkim_selectors:
        return [
            auth_finding(
                asker,
                region.name,
                "dkim",
                domain,
                Status.UNKNOWN,
                f"no DKIM selectors configured for region {region.name}: nothing checked",
                {"domain": domain},
            )
        ]
    checks = [
        _selector_finding(domain, region, selector, asker) for selector in region.dkim_selectors
    ]
    return list(await asyncio.gather(*checks))


async def _selector_finding(domain: str, region: Region, selector: str, asker: Asker) -> Finding:
    name = f"{selector}._domainkey.{domain}"
    data: dict[str, Any] = {"selector": selector, "domain": domain, "record": name}

    def finding(status: Status, summary: str) -> Finding:
        return auth_finding(
            asker, region.name, "dkim", name, status, f"{selector}: {summary}", data
        )

    seen = await asker.ask(name, "TXT")
    data["outcome"] = seen.outcome.value
    if seen.outcome in NO_VERDICT_OUTCOMES:
        return finding(Status.UNKNOWN, f"could not look up the key: {seen.reason}")
    if seen.outcome is Outcome.NXDOMAIN:
        return finding(Status.FAIL, f"not published ({name} does not exist)")
    if seen.outcome is Outcome.NODATA or not seen.answers:
        return finding(Status.FAIL, f"not published (no TXT record at {name})")
    data["records"] = len(seen.answers)
    if len(seen.answers) > 1:
        return finding(
            Status.FAIL,
            f"{len(seen.answers)} different TXT records published: receivers may use either",
        )
    try:
        published = parse_key_record(seen.answers[0])
    except RecordError as error:
        data["problem"] = str(error)
        return finding(Status.FAIL, str(error))
    data.update(
        key_type=published.key_type, key_bits=published.bits, fingerprint=published.fingerprint
    )
    issues: list[tuple[Status, str]] = []
    bits = published.bits
    if published.key_type == "rsa" and bits < RSA_FAIL_BITS:
        too_short = f"RSA key too short ({bits} bits, receivers reject under {RSA_FAIL_BITS})"
        issues.append((Status.FAIL, too_short))
    elif published.key_type == "rsa" and bits < RSA_WARN_BITS:
        issues.append((Status.WARN, f"weak RSA key ({bits} bits, {RSA_WARN_BITS} recommended)"))
    if "y" in _tag_values(published.tags.get("t", "")):
        issues.append((Status.WARN, "t=y: testing mode, receivers may treat mail as unsigned"))
    key_path = region.dkim_private_keys.get(selector)
    if key_path is not None:
        issues.extend(await _private_key_issues(key_path, published, selector, domain, asker, data))
    notes = [text for _, text in sorted(issues, key=lambda issue: -issue[0].severity)]
    if data.get("private_key_matches"):
        notes.append("private key matches")
    if data.get("signature_verified"):
        notes.append("test signature verifies")
    status = worst([status for status, _ in issues])
    return finding(status, "; ".join([published.description, *notes]))


async def _private_key_issues(
    key_path: Path,
    published: PublishedKey,
    selector: str,
    domain: str,
    asker: Asker,
    data: dict[str, Any],
) -> list[tuple[Status, str]]:
    data["private_key_file"] = str(key_path)
    try:
        private = await asyncio.to_thread(load_private_key, key_path)
    except KeyFileError as error:
        data["private_key_problem"] = error.reason
        return [(Status.UNKNOWN, f"private key not checked: {error.reason}")]
    issues: list[tuple[Status, str]] = []
    file_fingerprint = fingerprint(private.public_key())
    matches = file_fingerprint == published.fingerprint and _same_key(private, published.key)
    data["private_key_fingerprint"] = file_fingerprint
    data["private_key_matches"] = matches
    if not matches:
        mismatch = f"private key file does not match the published key (file fp {file_fingerprint})"
        issues.append((Status.FAIL, mismatch))
    loop = asyncio.get_running_loop()
    test = await asyncio.to_thread(sign_and_verify, private, selector, domain, asker, loop)
    data["signature_verified"] = test.verified
    if test.verified is None:
        issues.append((Status.UNKNOWN, f"test signature not verified: {test.reason}"))
    elif not test.verified:
        issues.append((Status.FAIL, f"test signature does not verify: {test.reason}"))
    return issues


def _same_key(private: PrivateKey, public: PublicKey) -> bool:
    mine = private.public_key()
    if isinstance(mine, rsa.RSAPublicKey) and isinstance(public, rsa.RSAPublicKey):
        return mine.public_numbers() == public.public_numbers()
    if isinstance(mine, ed25519.Ed25519PublicKey) and isinstance(public, ed25519.Ed25519PublicKey):
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        return mine.public_bytes(*raw) == public.public_bytes(*raw)
    return False
