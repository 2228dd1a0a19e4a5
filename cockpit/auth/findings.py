"""All auth and endpoint checks for every region, run concurrently through one DNS server.

The server is chosen by `via`: a configured resolver's name (what that resolver's users see,
stale or fresh), "authoritative" (what is published now, asked with recursion off), or None
for the first configured resolver. A check that breaks inside says `unknown` with the reason:
one broken check never hides the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cockpit.auth.asker import Asker
from cockpit.config import Config, Region
from cockpit.dns.observation import ServerSpec
from cockpit.errors import UsageError
from cockpit.model import Finding, Status

AUTHORITATIVE = "authoritative"

CheckRunner = Callable[[], Awaitable[list[Finding]]]


async def choose_asker(config: Config, via: str | None) -> Asker:
    """The DNS server auth checks ask. Raises UsageError for a name that is not configured."""
    from cockpit.dns.sweep import configured_resolvers, find_authoritative

    resolvers = configured_resolvers(config)
    timeout = config.dns.timeout
    if via is None or via.strip() == "":
        return Asker(resolvers[0], timeout)
    if via.strip().lower() == AUTHORITATIVE:
        servers, _source, reason = await find_authoritative(config, resolvers, timeout=timeout)
        if not servers:
            raise UsageError(f"--via authoritative: no authoritative server to ask ({reason})")
        return Asker(servers[0], timeout, recursion_desired=False)
    for spec in resolvers:
        if spec.name.lower() == via.strip().lower():
            return Asker(spec, timeout)
    names = ", ".join(spec.name for spec in resolvers)
    raise UsageError(f"--via: no resolver named {via!r}; expected one of {names}, or authoritative")


async def auth_findings(
    config: Config,
    target: str,
    asker: Asker,
    *,
    dmarc_baseline: str | None = None,
) -> list[Finding]:
    """Every check for every region, concurrently; findings in region, then check order."""
    per_region = await asyncio.gather(
        *(
            _region_findings(config, region, target, asker, dmarc_baseline)
            for region in config.regions
        )
    )
    return [finding for findings in per_region for finding in findings]


async def _region_findings(
    config: Config, region: Region, target: str, asker: Asker, dmarc_baseline: str | None
) -> list[Finding]:
    from cockpit.auth.dkim_check import dkim_findings
    from cockpit.auth.dmarc_check import dmarc_findings
    from cockpit.auth.spf_check import spf_findings

    checks: list[tuple[str, CheckRunner]] = [
        ("spf", lambda: spf_findings(config, region, asker)),
        ("dkim", lambda: dkim_findings(config, region, asker)),
        ("dmarc", lambda: dmarc_findings(config, region, asker, baseline_policy=dmarc_baseline)),
    ]
    checks += _endpoint_checks(config, region, target, asker)
    results = await asyncio.gather(*(_guarded(name, region, run) for name, run in checks))
    return [finding for findings in results for finding in findings]


def _endpoint_checks(
    config: Config, region: Region, target: str, asker: Asker
) -> list[tuple[str, CheckRunner]]:
    """The checks whose modules this build has (imported lazily: each pulls in httpx or ssl)."""
    checks: list[tuple[str, CheckRunner]] = []
    optional: Sequence[tuple[str, str, str, dict[str, Any]]] = (
        ("ptr", "cockpit.auth.ptr_check", "ptr_findings", {}),
        ("tls-rpt", "cockpit.auth.tlsrpt_check", "tlsrpt_findings", {}),
        ("mta-sts", "cockpit.auth.mtasts_check", "mtasts_findings", {"target": target}),
        ("smtp-tls", "cockpit.auth.smtp_check", "smtp_and_dane_findings", {}),
        ("webmail", "cockpit.auth.webmail_check", "webmail_findings", {}),
        ("idp", "cockpit.auth.idp_check", "idp_findings", {}),
    )
    import importlib

    for name, module_name, function_name, options in optional:
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError):
            continue

        def run(function: Any = function, options: dict[str, Any] = options) -> Any:
            return function(config, region, asker, **options)

        checks.append((name, run))
    return checks


async def _guarded(name: str, region: Region, run: CheckRunner) -> list[Finding]:
    try:
        return list(await run())
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        return [
            Finding(
                area="auth",
                check=name,
                subject=region.name,
                status=Status.UNKNOWN,
                summary=f"the {name} check could not run: {type(exc).__name__}: {exc}"[:200],
                region=region.name,
                data={"error": type(exc).__name__},
            )
        ]


__all__ = ["AUTHORITATIVE", "ServerSpec", "auth_findings", "choose_asker"]
