"""Webmail per region: does the region's webmail answer over HTTPS at each of its addresses?

For every address in the region's `webmail_addresses` (or, when none are configured, what the
Asker says the URL's host resolves to), one GET of `webmail_url` at that address with SNI and
Host set to the URL's host, and one Finding (area "auth", check "webmail"):

    no answer (refused, timeout, not HTTP)      fail
    certificate not trusted: expired, wrong     fail    facts of the presented certificate
      name, unknown CA                                  are still reported (names, expiry)
    certificate expiring within 14 days         warn
    HTTP 5xx                                    fail
    HTTP 4xx                                    warn    the server answers, but not the page
    missing security headers: HSTS, CSP or      warn    naming the missing ones
      X-Frame-Options, X-Content-Type-Options
    2xx/3xx with all of that in order           ok      latency in the summary

plus, when the addresses come from DNS and only one of the A/AAAA lookups answered while the
other could not tell, one `unknown` Finding for the family not seen (subject "URL (IPv6)").

Header values are untrusted: only the security headers are kept, each cut to 200 characters.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import HttpsResult, certificate_data, probe_https, resolve_host
from cockpit.auth.tlsinfo import EXPIRY_WARN_DAYS
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.normalize import cap_text
from cockpit.model import Finding, Status, worst

PROBE_TIMEOUT = 5.0
MAX_PAGE_BYTES = 64 * 1024
SECURITY_HEADERS = (
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
)
Issue = tuple[Status, str]


def certificate_issues(result: HttpsResult, now: datetime) -> list[Issue]:
    """Verdicts on the certificate: not trusted or expired -> fail, expiring soon -> warn."""
    cert = result.cert
    if result.error_kind == "tls":
        if cert is not None and cert.not_after <= now:
            return [(Status.FAIL, f"certificate expired on {cert.not_after:%Y-%m-%d}")]
        return [(Status.FAIL, f"certificate not trusted: {result.verify_error}")]
    if cert is not None and cert.days_left(now) < EXPIRY_WARN_DAYS:
        days = max(0, int(cert.days_left(now)))
        return [(Status.WARN, f"certificate expires in {days} days ({cert.not_after:%Y-%m-%d})")]
    return []


def header_issues(result: HttpsResult) -> tuple[list[Issue], dict[str, str]]:
    """Missing security headers (one warn naming them all) and the values seen (bounded)."""
    seen = {
        name: cap_text(value, 200)[0]
        for name in SECURITY_HEADERS
        if (value := result.header(name)) is not None
    }
    missing: list[str] = []
    if "strict-transport-security" not in seen:
        missing.append("Strict-Transport-Security")
    if "content-security-policy" not in seen and "x-frame-options" not in seen:
        missing.append("Content-Security-Policy or X-Frame-Options")
    if seen.get("x-content-type-options", "").strip().lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if not missing:
        return [], seen
    return [(Status.WARN, "missing security headers: " + ", ".join(missing))], seen


async def webmail_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """One `webmail` Finding per address of the region's webmail (none when not configured)."""
    url = region.webmail_url
    if url is None:
        return []
    host = httpx.URL(url).host
    addresses = region.webmail_addresses
    source = "configured"
    unseen: list[Finding] = []
    if not addresses:
        resolved = await resolve_host(asker, host)
        addresses, source = resolved.addresses, "dns"
        if not addresses:
            reason = resolved.unknown_reason
            status = Status.UNKNOWN if reason else Status.FAIL
            summary = (
                f"could not look up {host}: {reason}"
                if reason
                else f"{host} does not resolve and no webmail_addresses are configured"
            )
            return [_finding(region, asker, url, status, summary, {"url": url, "host": host})]
        if resolved.unseen_text is not None:
            # Users reach the other family too: its addresses are not known, so not checked.
            subject = f"{url} ({resolved.unseen_family})"
            summary = f"{resolved.unseen_text}: not checked"
            data = {"url": url, "host": host, "dns_error": resolved.partial_reason}
            unseen.append(_finding(region, asker, subject, Status.UNKNOWN, summary, data))
    checks = [_address_finding(config, region, asker, url, ip, source) for ip in addresses]
    return [*await asyncio.gather(*checks), *unseen]


def _finding(
    region: Region, asker: Asker, subject: str, status: Status, summary: str, data: dict[str, Any]
) -> Finding:
    return auth_finding(asker, region.name, "webmail", subject, status, summary, data)


async def _address_finding(
    config: Config, region: Region, asker: Asker, url: str, ip: str, source: str
) -> Finding:
    result = await probe_https(
        url, ip, ca_file=config.tls.ca_file, timeout=PROBE_TIMEOUT, max_body=MAX_PAGE_BYTES
    )
    now = datetime.now(UTC)
    data: dict[str, Any] = {**result.evidence(), "address_source": source}
    data.update(certificate_data(result.cert, now))
    subject = f"{url} at {ip}"

    def finding(status: Status, summary: str) -> Finding:
        return _finding(region, asker, subject, status, f"{ip}: {summary}", data)

    if result.error_kind == "setup":
        return finding(Status.UNKNOWN, f"not checked: {result.error}")
    issues = certificate_issues(result, now)
    if result.error_kind == "tls":
        return finding(Status.FAIL, issues[0][1])
    if result.error_kind is not None:
        return finding(Status.FAIL, f"no answer ({result.error})")
    assert result.status is not None
    status_code = result.status
    if status_code >= 500:
        issues.insert(0, (Status.FAIL, "server error"))
    elif status_code >= 400:
        issues.insert(0, (Status.WARN, "the page is not served"))
    found_headers, seen = header_issues(result)
    issues.extend(found_headers)
    data["security_headers"] = seen
    latency = f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "?"
    if not issues:
        return finding(Status.OK, f"HTTP {status_code} in {latency}, certificate and headers ok")
    ordered = sorted(issues, key=lambda issue: -issue[0].severity)
    text = "; ".join(message for _, message in ordered)
    return finding(
        worst([status for status, _ in issues]), f"HTTP {status_code} in {latency}: {text}"
    )
