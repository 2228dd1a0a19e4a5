"""Certificate facts of one handshake, and their verdict, for every service kind.

Trust is judged as the auth smtp-tls check does (cockpit.auth.smtp_check.judge): the chain
against the system store plus `[tls].ca_file`, the name against the configured host (RFC 6125,
or the certificate's IP addresses for an endpoint given by address), and the expiry date:

    fail   expired, chain not trusted, or not naming the host
    warn   expires within EXPIRY_WARN_DAYS
    ok     otherwise, with the days it has left
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import datetime
from typing import Any

from cryptography import x509

from cockpit.auth.tlsinfo import EXPIRY_WARN_DAYS, cert_facts, name_matches
from cockpit.model import Status
from cockpit.service.observation import TlsSeen


def seen_from_der(
    leaf_der: bytes | None, *, version: str | None, verified: bool, verify_error: str | None
) -> TlsSeen:
    """TlsSeen from the leaf certificate (DER) a server presented."""
    if not leaf_der:
        return TlsSeen(version=version, verified=verified, verify_error=verify_error)
    try:
        facts = cert_facts(leaf_der)
    except ValueError:
        facts = None
    return TlsSeen(
        version=version,
        verified=verified,
        verify_error=verify_error,
        cert=facts,
        ip_names=_ip_names(leaf_der),
    )


def seen_from_ssl(ssl_object: ssl.SSLObject | None, context: ssl.SSLContext) -> TlsSeen:
    """TlsSeen of a completed handshake made with `context` (verifying or inspection)."""
    if ssl_object is None:
        return TlsSeen()
    return seen_from_der(
        ssl_object.getpeercert(binary_form=True),
        version=ssl_object.version(),
        verified=context.verify_mode == ssl.CERT_REQUIRED,
        verify_error=None,
    )


def _ip_names(der: bytes) -> tuple[str, ...]:
    try:
        certificate = x509.load_der_x509_certificate(der)
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return ()
    return tuple(str(ip) for ip in alternative.value.get_values_for_type(x509.IPAddress))


def host_matches(host: str, tls: TlsSeen) -> bool:
    """Whether the certificate names `host` (a DNS name, or an IP literal in its IP SANs)."""
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        return tls.cert is not None and name_matches(host, tls.cert.dns_names)
    return any(ipaddress.ip_address(name) == wanted for name in tls.ip_names)


def tls_verdict(tls: TlsSeen, host: str, now: datetime) -> tuple[Status, str, dict[str, Any]]:
    """Status, a short reason ("certificate valid for 80 more days") and the certificate facts."""
    facts = tls.cert
    if facts is None:
        return Status.FAIL, "no readable certificate presented", {}
    days = facts.days_left(now)
    matches = host_matches(host, tls)
    data: dict[str, Any] = {
        "certificate": facts.to_json(now),
        "name_matches": matches,
        "days_left": round(days, 1),
    }
    if days <= 0:
        return Status.FAIL, f"certificate expired on {facts.not_after:%Y-%m-%d}", data
    if not tls.verified:
        return Status.FAIL, f"certificate not trusted ({tls.verify_error or 'not verified'})", data
    if not matches:
        names = ", ".join([*facts.dns_names[:3], *tls.ip_names[:2]]) or facts.subject
        return Status.FAIL, f"certificate is for {names}, not {host}", data
    if days < EXPIRY_WARN_DAYS:
        return Status.WARN, f"certificate expires in {days:.0f} days", data
    return Status.OK, f"certificate valid for {days:.0f} more days", data
