"""Every service probe of every region, concurrently: one Finding per probed address.

    findings = await service_findings(config)                   # `cockpit check`, the live loop
    findings = await region_service_findings(config, region)    # one region only

What is probed (`service_plans`), per region in config order: every MX host on
`[service] mx_port` as kind "smtp" with STARTTLS (`data["mx"]` is true), then every
`[[region.endpoint]]` in file order. An smtp endpoint on an MX host's own port is that MX
probe (its tls and warn_ms apply), not a second one.

Names are looked up through the configured resolvers, never the system resolver (an Asker:
the first configured resolver unless one is given, shared by the whole run so each question
goes out once); an IP literal needs no lookup. Each address (at most MAX_ADDRESSES per host)
is probed on its own and gives its own finding, subject "host:port", plus " (address)" when
the host has several. A lookup that could not tell (timeout, SERVFAIL, no resolver) is
`unknown`; a name that does not exist or has no A/AAAA record is `fail`. Addresses senders
may use but that were not probed each add one `unknown` row: "host:port (IPv6)" when one of
the A/AAAA lookups could not tell while the other answered, "host:port (+N addresses)" for
those over MAX_ADDRESSES.

Finding: area "service", check = the kind ("smtp" for MX hosts), subject, region, status and
summary from judge.py, resolver (the DNS server asked, None for an IP literal), data = the raw
observation (observation.py) plus certificate facts, observed_at = when the probe started.
Nothing here raises for network trouble; a probe that breaks inside says `unknown` with the
reason, and never hides the others.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.auth.asker import Asker, RunAsker
from cockpit.auth.https_probe import HostAddresses, resolve_host
from cockpit.auth.smtp_probe import FALLBACK_HELO
from cockpit.compat import UTC
from cockpit.config import Config, Region
from cockpit.config.model import Endpoint
from cockpit.dns.observation import Outcome
from cockpit.model import Finding, Status
from cockpit.safe_text import clean
from cockpit.service.https_check import probe_https_service
from cockpit.service.imap_check import probe_imap
from cockpit.service.judge import judge
from cockpit.service.observation import ServiceObservation
from cockpit.service.pop3_check import probe_pop3
from cockpit.service.session import Target
from cockpit.service.smtp_check import probe_smtp_service
from cockpit.service.tcp_check import probe_tcp

__all__ = [
    "MAX_ADDRESSES",
    "ProbePlan",
    "region_service_findings",
    "service_findings",
    "service_plans",
]

AREA = "service"
MAX_ADDRESSES = 4


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """One service of one region to probe at each of its addresses."""

    region: str
    endpoint: Endpoint
    mx: bool
    """True for an MX host of the region (probed on [service] mx_port)."""


def service_plans(config: Config, region: Region) -> list[ProbePlan]:
    """The region's MX hosts, then its endpoints (module docstring)."""
    endpoints = list(region.endpoints)
    plans: list[ProbePlan] = []
    for host in dict.fromkeys(name.rstrip(".").lower() for name in region.mx):
        endpoint = Endpoint(kind="smtp", host=host, port=config.service.mx_port, tls="starttls")
        for configured in endpoints:
            if (configured.kind, configured.host, configured.port) == ("smtp", host, endpoint.port):
                endpoint = configured
                endpoints.remove(configured)
                break
        plans.append(ProbePlan(region.name, endpoint, mx=True))
    plans += [ProbePlan(region.name, endpoint, mx=False) for endpoint in endpoints]
    return plans


async def service_findings(config: Config, asker: Asker | None = None) -> list[Finding]:
    """Every probe of every region at once; findings in region, then config order.

    `asker` None: the first configured resolver (as `cockpit.auth.findings.choose_asker`
    picks it for auth checks). The live loop calls this the same way as `cockpit check`.
    """
    plans = [plan for region in config.regions for plan in service_plans(config, region)]
    return await _run(config, plans, asker)


async def region_service_findings(
    config: Config, region: Region, asker: Asker | None = None
) -> list[Finding]:
    """The probes of one region only (same rules as `service_findings`)."""
    return await _run(config, service_plans(config, region), asker)


async def _run(config: Config, plans: list[ProbePlan], asker: Asker | None) -> list[Finding]:
    if asker is None and config.dns.resolvers and any(_needs_lookup(p) for p in plans):
        from cockpit.auth.findings import choose_asker

        asker = await choose_asker(config, None)
    if asker is not None and type(asker) is Asker:
        asker = RunAsker.for_one_run(asker)
    results = await asyncio.gather(*(_guarded(config, plan, asker) for plan in plans))
    return [finding for findings in results for finding in findings]


def _needs_lookup(plan: ProbePlan) -> bool:
    return _ip_literal(plan.endpoint.host) is None


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def _guarded(config: Config, plan: ProbePlan, asker: Asker | None) -> list[Finding]:
    started = datetime.now(UTC)
    try:
        return await _plan_findings(config, plan, asker)
    except Exception as exc:  # noqa: BLE001 - one broken probe must not hide the others
        reason = clean(f"the probe could not run: {type(exc).__name__}: {exc}")[:200]
        return [_finding(plan, plan.endpoint.subject, Status.UNKNOWN, reason, {}, None, started)]


def _finding(
    plan: ProbePlan,
    subject: str,
    status: Status,
    summary: str,
    data: dict[str, Any],
    resolver: str | None,
    observed_at: datetime,
) -> Finding:
    endpoint = plan.endpoint
    base: dict[str, Any] = {
        "mx": plan.mx,
        "kind": endpoint.kind,
        "host": endpoint.host,
        "port": endpoint.port,
        "tls_mode": endpoint.tls,
    }
    if endpoint.warn_ms is not None:
        base["warn_ms"] = endpoint.warn_ms
    return Finding(
        area=AREA,
        check=endpoint.kind,
        subject=subject,
        status=status,
        summary=summary,
        region=plan.region,
        resolver=resolver,
        data=base | data,
        observed_at=observed_at,
    )


async def _plan_findings(config: Config, plan: ProbePlan, asker: Asker | None) -> list[Finding]:
    endpoint = plan.endpoint
    subject = endpoint.subject
    literal = _ip_literal(endpoint.host)
    resolver: str | None = None
    found: HostAddresses | None = None
    if literal is not None:
        addresses: tuple[str, ...] = (literal,)
    else:
        looked_at = datetime.now(UTC)
        if asker is None:
            reason = f"{subject}: cannot look up {endpoint.host}: no DNS resolver is configured"
            return [_finding(plan, subject, Status.UNKNOWN, reason, {}, None, looked_at)]
        resolver = asker.server.name
        found = await resolve_host(asker, endpoint.host)
        if found.unknown_reason is not None:
            reason = f"could not look up {endpoint.host}: {found.unknown_reason}"
            summary = clean(f"{subject}: {reason}")[:240]
            data = {"dns_error": found.unknown_reason}
            return [_finding(plan, subject, Status.UNKNOWN, summary, data, resolver, looked_at)]
        if not found.addresses:
            seen = await asker.ask(endpoint.host, "A")  # the run's Asker answers from memory
            missing = (
                "does not exist (NXDOMAIN)"
                if seen.outcome is Outcome.NXDOMAIN
                else "has no address (A/AAAA)"
            )
            summary = f"{subject}: {endpoint.host} {missing}"
            data = {"addresses": [], "dns_outcome": seen.outcome.value}
            return [_finding(plan, subject, Status.FAIL, summary, data, resolver, looked_at)]
        addresses = found.addresses
    probed = addresses[:MAX_ADDRESSES]
    probe_started = datetime.now(UTC)
    observations = await asyncio.gather(*(_probe(config, endpoint, ip) for ip in probed))
    now = datetime.now(UTC)
    partial = found is not None and found.partial_reason is not None
    findings = []
    for observation in observations:
        several = len(addresses) > 1 or partial
        shown = f"{subject} ({observation.address})" if several else subject
        status, summary, facts = judge(
            observation,
            subject=shown,
            warn_ms=endpoint.warn_ms,
            timeout=config.service.timeout,
            now=now,
        )
        data = observation.data() | facts
        if len(addresses) > 1:
            data["addresses_total"] = len(addresses)
            data["addresses_capped"] = len(addresses) > MAX_ADDRESSES
        findings.append(
            _finding(plan, shown, status, summary, data, resolver, observation.started_at)
        )
    findings += _unseen_findings(plan, found, addresses[MAX_ADDRESSES:], resolver, probe_started)
    return findings


def _unseen_findings(
    plan: ProbePlan,
    found: HostAddresses | None,
    not_probed: tuple[str, ...],
    resolver: str | None,
    observed_at: datetime,
) -> list[Finding]:
    """`unknown` rows for addresses senders may use that were not probed: a family whose
    lookup could not tell, and the addresses over MAX_ADDRESSES. Without them the region
    would read ok on the addresses probed alone."""
    subject = plan.endpoint.subject
    rows: list[Finding] = []
    if found is not None and found.partial_reason is not None:
        shown = f"{subject} ({found.unseen_family})"
        summary = clean(f"{shown}: {found.unseen_text}: not probed")[:240]
        data = {"dns_error": found.partial_reason, "unseen_family": found.unseen_family}
        rows.append(_finding(plan, shown, Status.UNKNOWN, summary, data, resolver, observed_at))
    if not_probed:
        count = len(not_probed)
        shown = f"{subject} (+{count} address{'es' if count > 1 else ''})"
        listed = ", ".join(not_probed[:3]) + (", ..." if count > 3 else "")
        summary = clean(
            f"{shown}: not probed (at most {MAX_ADDRESSES} addresses per host): {listed}"
        )[:240]
        data = {"addresses_not_probed": list(not_probed[:20]), "addresses_capped": True}
        rows.append(_finding(plan, shown, Status.UNKNOWN, summary, data, resolver, observed_at))
    return rows


async def _probe(config: Config, endpoint: Endpoint, ip: str) -> ServiceObservation:
    target = Target(endpoint.kind, endpoint.host, endpoint.port, endpoint.tls)
    timeout = config.service.timeout
    ca_file = config.tls.ca_file
    if endpoint.kind in ("smtp", "submission"):
        helo = config.service.helo or FALLBACK_HELO
        return await probe_smtp_service(target, ip, timeout=timeout, ca_file=ca_file, helo=helo)
    if endpoint.kind == "imap":
        return await probe_imap(target, ip, timeout=timeout, ca_file=ca_file)
    if endpoint.kind == "pop3":
        return await probe_pop3(target, ip, timeout=timeout, ca_file=ca_file)
    if endpoint.kind == "https":
        return await probe_https_service(
            target, ip, endpoint.path, timeout=timeout, ca_file=ca_file
        )
    return await probe_tcp(target, ip, timeout=timeout, ca_file=ca_file)
