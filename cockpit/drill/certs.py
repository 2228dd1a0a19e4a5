"""The drill's own certificate authority: a CA made at start and server certificates it signs.

    ca = DrillCA()
    context = ca.server_context("mx1.secondary.drill.example")   # an ssl.SSLContext
    ca.write_certificate(path)                                   # what [tls] ca_file trusts

Keys are ECDSA P-256 (made in milliseconds) and stay in memory: nothing writes, prints or logs
them. Python's `ssl` loads a certificate chain only from a path, so `server_context` hands it
an anonymous in-memory file (`memfd_create`, through /proc/self/fd) and closes it at once;
where that does not exist, a file in a private temporary directory that is removed as soon as
`ssl` has read it. The CA's certificate (public) is written only when asked.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "cockpit drill CA"
VALID_BEFORE_NOW = datetime.timedelta(days=1)
"""Back-dated, so a clock a little behind still accepts the certificates."""
VALID_AFTER_NOW = datetime.timedelta(days=30)
"""Well past the 14 days under which the cockpit's certificate checks warn."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - Python 3.10


class DrillCA:
    """A self-signed CA for one drill world; it signs one certificate per server name."""

    def __init__(self, common_name: str = CA_NAME) -> None:
        self._key = _key()
        now = _utc_now()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        public = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE_NOW)
            .not_valid_after(now + VALID_AFTER_NOW)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_certificate(self, path: Path) -> Path:
        """Write the CA certificate (public, no key) as PEM to `path` (mode 0644, replacing
        only a regular file: cockpit.output_file; OutputFileError otherwise); returns `path`."""
        from cockpit.output_file import output_file

        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with output_file(path, mode=0o644) as handle:
            handle.write(self.certificate_pem)
        return path

    def issue(self, hostname: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A server certificate for `hostname` (its only subjectAltName) and its key."""
        key = _key()
        now = _utc_now()
        ca_public = self._key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE_NOW)
            .not_valid_after(now + VALID_AFTER_NOW)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        return certificate, key

    def server_context(self, hostname: str) -> ssl.SSLContext:
        """A TLS server context (1.2 and up) presenting a fresh certificate for `hostname`."""
        certificate, key = self.issue(hostname)
        chain = certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _load_chain(context, chain)
        return context


def _load_chain(context: ssl.SSLContext, chain: bytes) -> None:
    """Load a PEM certificate and key into `context` without leaving the key on a disk."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        descriptor = memfd_create("cockpit-drill-cert", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(descriptor, chain)
            context.load_cert_chain(f"/proc/self/fd/{descriptor}")
        finally:
            os.close(descriptor)
        return
    with tempfile.TemporaryDirectory(prefix="cockpit-drill-tls-") as directory:
        path = Path(directory) / "server.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(chain)
        context.load_cert_chain(path)
