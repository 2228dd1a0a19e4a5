"""Identity provider per region: does the discovery document answer, and is it one?

When a region has an `idp_url` (an OIDC discovery document such as
https://idp.example.com/.well-known/openid-configuration), its host is resolved through the Asker
and the URL fetched at the first address that answers (SNI and Host = the URL's host, certificate
verified against the system store plus [tls].ca_file). One Finding (area "auth", check "idp"):

    not configured                                   no finding
    host lookup could not tell / ca_file unusable    unknown
    host does not resolve, no answer, certificate    fail
      not trusted or expired, status other than 200,
      body over 256 KiB, not JSON, no string `issuer`
    certificate expiring within 14 days              warn
    200 with a JSON object holding a string issuer   ok
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import (
    HttpsResult,
    certificate_data,
    probe_first_answering,
    resolve_host,
)
from cockpit.auth.webmail_check import certificate_issues
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.normalize import cap_text
from cockpit.model import Finding, Status

PROBE_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_ADDRESSES_TRIED = 4


async def idp_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """One `idp` Finding for the region's identity provider, none when not configured."""
    url = region.idp_url
    if url is None:
        return []
    host = httpx.URL(url).host
    data: dict[str, Any] = {"url": url, "host": host}

    def finding(status: Status, summary: str) -> list[Finding]:
        return [auth_finding(asker, region.name, "idp", url, status, summary, data)]

    resolved = await resolve_host(asker, host)
    data["addresses"] = list(resolved.addresses)
    if resolved.unknown_reason is not None:
        return finding(Status.UNKNOWN, f"could not look up {host}: {resolved.unknown_reason}")
    if not resolved.addresses:
        return finding(Status.FAIL, f"{host} does not resolve: sign-in cannot reach the IdP")
    if resolved.partial_reason is not None:
        data["addresses_incomplete"] = resolved.unseen_text
    result = await probe_first_answering(
        url,
        resolved.addresses,
        ca_file=config.tls.ca_file,
        timeout=PROBE_TIMEOUT,
        max_body=MAX_DOCUMENT_BYTES,
        max_addresses=MAX_ADDRESSES_TRIED,
    )
    now = datetime.now(UTC)
    data.update(result.evidence())
    data.update(certificate_data(result.cert, now))
    if result.error_kind == "setup":
        return finding(Status.UNKNOWN, f"not checked: {result.error}")
    cert_issues = certificate_issues(result, now)
    if result.error_kind == "tls":
        return finding(Status.FAIL, f"IdP {cert_issues[0][1]}")
    if result.error_kind is not None:
        return finding(Status.FAIL, f"IdP does not answer at {result.ip} ({result.error})")
    problem = _document_problem(result, data)
    if problem is not None:
        return finding(Status.FAIL, f"IdP discovery document unusable: {problem}")
    issuer = data["issuer"]
    if cert_issues:
        return finding(cert_issues[0][0], f"IdP answers (issuer {issuer}); {cert_issues[0][1]}")
    latency = f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "?"
    # One answering address is what sign-in needs; the family not seen is named, not judged.
    unseen = f"; {resolved.unseen_text}" if resolved.unseen_text else ""
    return finding(Status.OK, f"IdP answers in {latency}, issuer {issuer}{unseen}")


def _document_problem(result: HttpsResult, data: dict[str, Any]) -> str | None:
    """Why the response is not a discovery document (None when it is; sets data["issuer"])."""
    if result.status != 200:
        return f"HTTP {result.status}"
    if result.body_too_big:
        return f"larger than {MAX_DOCUMENT_BYTES // 1024} KiB"
    try:
        document = json.loads(result.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "not JSON"
    if not isinstance(document, dict):
        return "JSON, but not an object"
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        return "no issuer"
    data["issuer"] = cap_text(issuer, 200)[0]
    return None
