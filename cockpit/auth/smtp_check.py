"""smtp-tls: can senders reach each MX host of a region and start TLS with a good certificate?

For every MX host the region names: its addresses come from the Asker (A, then AAAA; never the
system resolver), then every address (at most MAX_ADDRESSES) gets one bounded SMTP conversation
(smtp_probe). One finding per host, the worst of its addresses:

    fail     no address (NXDOMAIN/NODATA), not reachable, a refusing banner or EHLO, STARTTLS
             not offered or refused, TLS handshake failed, certificate expired, not trusted
             (system store plus [tls].ca_file) or not naming the MX host
    warn     the certificate expires within EXPIRY_WARN_DAYS
    unknown  the host's address lookup could not tell (timeout, SERVFAIL, ...), or a bad ca_file;
             also, at best, when only one of A/AAAA could be looked up, or the host has more
             than MAX_ADDRESSES addresses (data "addresses_incomplete" says what was not seen)
    ok       STARTTLS with a trusted certificate for the host, with the days it has left

This judges PKIX trust only; whether the certificate matches published TLSA records is the dane
check's (dane_check.py), which reuses these conversations. `smtp_and_dane_findings` runs both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import resolve_host, with_gaps
from cockpit.auth.smtp_probe import DEFAULT_TIMEOUT, FALLBACK_HELO, SmtpResult, probe_smtp
from cockpit.auth.tlsinfo import EXPIRY_WARN_DAYS, cert_facts, name_matches
from cockpit.compat import UTC
from cockpit.config import Config, Region
from cockpit.model import Finding, Status, worst

CHECK = "smtp-tls"
MAX_ADDRESSES = 4

SmtpResults = Mapping[str, tuple[SmtpResult, ...]]
"""MX host -> the conversation at each of its addresses (empty when none could be tried)."""


def judge(result: SmtpResult, now: datetime) -> tuple[Status, str, dict[str, Any]]:
    """The verdict on one conversation: status, one-line summary, evidence."""
    data: dict[str, Any] = result.evidence()
    where = f"{result.host} ({result.address})"
    if result.error_kind == "setup":
        return Status.UNKNOWN, f"{where}: could not check: {result.error}", data
    if result.error_kind == "timeout" and result.banner:
        return Status.FAIL, f"{where} stopped answering: {result.error}", data
    if result.error_kind == "timeout":
        return Status.FAIL, f"{where} did not answer on port {result.port} in time", data
    if result.error_kind == "connect":
        return Status.FAIL, f"{where} is not reachable on port {result.port}: {result.error}", data
    if result.error_kind == "rejected":
        return Status.FAIL, f"{where} refuses mail: {result.error}", data
    if result.error_kind == "no-starttls":
        return Status.FAIL, f"{where} does not offer STARTTLS", data
    if result.error_kind is not None or not result.chain_der:
        return Status.FAIL, f"{where}: {result.error or 'no certificate presented'}", data
    try:
        facts = cert_facts(result.chain_der[0])
    except ValueError:
        return Status.FAIL, f"{where} presents a certificate that cannot be read", data
    days = facts.days_left(now)
    matches = name_matches(result.host, facts.dns_names)
    data.update(certificate=facts.to_json(now), name_matches=matches, days_left=round(days, 1))
    if days <= 0:
        return Status.FAIL, f"{where}: certificate expired on {facts.not_after:%Y-%m-%d}", data
    if not result.verified:
        reason = result.verify_error or "not verified"
        return Status.FAIL, f"{where}: certificate not trusted ({reason})", data
    if not matches:
        names = ", ".join(facts.dns_names[:3]) or facts.subject
        return Status.FAIL, f"{where}: certificate is for {names}, not {result.host}"[:200], data
    if days < EXPIRY_WARN_DAYS:
        return Status.WARN, f"{where}: certificate expires in {days:.0f} days", data
    return Status.OK, f"{where}: STARTTLS ok, certificate valid for {days:.0f} more days", data


async def _host_finding(
    config: Config, region: Region, asker: Asker, host: str, timeout: float
) -> tuple[Finding, tuple[SmtpResult, ...]]:
    def finding(status: Status, summary: str, data: dict[str, Any]) -> Finding:
        return auth_finding(asker, region.name, CHECK, host, status, summary[:200], data)

    found = await resolve_host(asker, host)
    if found.unknown_reason is not None:
        summary = f"{host}: could not resolve: {found.unknown_reason}"
        return finding(Status.UNKNOWN, summary, {"dns_error": found.unknown_reason}), ()
    if not found.addresses:
        return finding(Status.FAIL, f"{host} has no address (A/AAAA)", {"addresses": []}), ()
    addresses = found.addresses[:MAX_ADDRESSES]
    helo = region.helo or FALLBACK_HELO
    results = tuple(
        await asyncio.gather(
            *(
                probe_smtp(host, ip, helo=helo, ca_file=config.tls.ca_file, timeout=timeout)
                for ip in addresses
            )
        )
    )
    now = datetime.now(UTC)
    verdicts = [judge(result, now) for result in results]
    status = worst([verdict[0] for verdict in verdicts])
    # The summary names the worst address; the data carries every address's evidence.
    summary = next(verdict[1] for verdict in verdicts if verdict[0] is status)
    if len(verdicts) > 1 and status is Status.OK:
        summary += f" (all {len(verdicts)} addresses)"
    data: dict[str, Any] = {
        "addresses": [verdict[2] for verdict in verdicts],
        "addresses_capped": len(found.addresses) > MAX_ADDRESSES,
    }
    gaps = "; ".join(found.gaps(len(addresses)))
    if gaps:
        # Senders use every address: what was not seen keeps the host from reading ok.
        data["addresses_incomplete"] = gaps
        status, summary = with_gaps(status, summary, gaps)
    return finding(status, summary, data), results


async def smtp_tls_findings(
    config: Config, region: Region, asker: Asker, *, timeout: float = DEFAULT_TIMEOUT
) -> tuple[list[Finding], dict[str, tuple[SmtpResult, ...]]]:
    """One smtp-tls finding per MX host of `region`, and the conversations behind them."""
    hosts = list(dict.fromkeys(host.rstrip(".").lower() for host in region.mx))
    per_host = await asyncio.gather(
        *(_host_finding(config, region, asker, host, timeout) for host in hosts)
    )
    findings = [finding for finding, _results in per_host]
    results = {host: host_results for host, (_f, host_results) in zip(hosts, per_host, strict=True)}
    return findings, results


async def smtp_and_dane_findings(
    config: Config, region: Region, asker: Asker, *, timeout: float = DEFAULT_TIMEOUT
) -> list[Finding]:
    """smtp-tls findings, then dane findings made from the same conversations.

    The TLSA questions go out together with the MX address lookups, not after the
    conversations: with a dead resolver the whole check costs one DNS timeout, not two.
    """
    from cockpit.auth.dane_check import dane_findings, tlsa_lookups

    hosts = list(dict.fromkeys(host.rstrip(".").lower() for host in region.mx))
    (findings, results), tlsa = await asyncio.gather(
        smtp_tls_findings(config, region, asker, timeout=timeout), tlsa_lookups(asker, hosts)
    )
    incomplete = {
        finding.subject: str(finding.data["addresses_incomplete"])
        for finding in findings
        if "addresses_incomplete" in finding.data
    }
    return findings + await dane_findings(
        region, asker, results, tlsa, incomplete, next_hop=config.domain.name
    )
