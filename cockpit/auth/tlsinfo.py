"""TLS trust and certificate facts shared by the SMTP, MTA-STS, webmail and IdP checks.

Trust is the system store plus `[tls].ca_file` (private CAs). A certificate is described by
plain facts (subject, issuer, names, expiry) so findings can show evidence without the DER.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from cockpit.compat import UTC

EXPIRY_WARN_DAYS = 14


def trust_context(ca_file: Path | None, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context verifying chains against the system store plus `ca_file`.

    Loading the system store takes tens of milliseconds, and the cockpit checks every few
    seconds: the context is kept, and made again when `ca_file` changes (path, size or mtime).
    It is shared: callers must not change it (ask for `check_hostname=False` instead).
    Raises OSError/ssl.SSLError when ca_file cannot be loaded; callers turn that into an
    `unknown` finding naming the file.
    """
    if ca_file is None:
        return _cached_context(None, None, check_hostname)
    status = ca_file.stat()
    return _cached_context(str(ca_file), (status.st_size, status.st_mtime_ns), check_hostname)


MAX_CA_FILE_BYTES = 16 << 20
"""A CA bundle larger than this is refused (the system's whole bundle is about 200 KiB)."""


@functools.lru_cache(maxsize=8)
def _cached_context(
    ca_file: str | None, _version: tuple[int, int] | None, check_hostname: bool
) -> ssl.SSLContext:
    from cockpit.read_file import read_regular

    context = ssl.create_default_context()
    if ca_file is not None:
        # Read here (non-blocking open, regular files only), not by OpenSSL: a FIFO at that
        # path would hold the thread for good.
        data = read_regular(Path(ca_file), MAX_CA_FILE_BYTES)
        if len(data) > MAX_CA_FILE_BYTES:
            raise OSError(errno.EFBIG, "is too large to be a CA bundle")
        if b"-----BEGIN" in data:
            context.load_verify_locations(cadata=data.decode("ascii", errors="replace"))
        else:
            context.load_verify_locations(cadata=data)
    context.check_hostname = check_hostname
    return context


def inspection_context() -> ssl.SSLContext:
    """A context that completes any handshake, to read the certificate a server presents
    even when it does not verify (the verdict is then made from the facts)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    sha256: str
    """Hex SHA-256 of the DER certificate (what TLSA matching type 1 with selector 0 compares)."""

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def to_json(self, now: datetime) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": round(self.days_left(now), 1),
            "sha256": self.sha256,
        }


def cert_facts(der: bytes) -> CertFacts:
    certificate = x509.load_der_x509_certificate(der)
    try:
        alternative_names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
        names = alternative_names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return CertFacts(
        subject=_common_name(certificate.subject) or certificate.subject.rfc4514_string(),
        issuer=_common_name(certificate.issuer) or certificate.issuer.rfc4514_string(),
        dns_names=tuple(name.lower() for name in names),
        not_before=certificate.not_valid_before_utc.astimezone(UTC),
        not_after=certificate.not_valid_after_utc.astimezone(UTC),
        sha256=hashlib.sha256(der).hexdigest(),
    )


def name_matches(host: str, dns_names: tuple[str, ...]) -> bool:
    """RFC 6125 matching of a host name against certificate DNS names (one left-most `*`)."""
    host = host.rstrip(".").lower()
    for pattern in dns_names:
        pattern = pattern.rstrip(".").lower()
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            if host.split(".", 1)[1] == pattern[2:]:
                return True
    return False


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None
