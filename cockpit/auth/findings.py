"""All auth and endpoint checks for every region, run concurrently through one DNS server.

Checks named in `[auth] skip` are not run (no finding at all: nothing was looked at).

The server is chosen by `via`: a configured resolver's name (what that resolver's users see,
stale or fresh), "authoritative" (what is published now, asked with recursion off), or None
for the first configured resolver. A check that breaks inside says `unknown` with the reason:
one broken check never hides the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from cockpit.auth.asker import Asker, RunAsker
from cockpit.config import Config, Region
from cockpit.errors import UsageError
from cockpit.model import Finding, Status

if TYPE_CHECKING:
    from cockpit.auth.mtasts_history import PolicySeen

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
    mtasts_history: Sequence[PolicySeen] = (),
) -> list[Finding]:
    """Every check for every region, concurrently; findings in region, then check order.

    `dmarc_baseline` and `mtasts_history` are what the incident log saw (dmarc_check's
    "Baseline contract", mtasts_history's "Policy contract"); without them no change is reported.
    The checks share one RunAsker made here for this call only (never kept, never reused by
    another run), so a question several checks ask goes to the server once.
    """
    if type(asker) is Asker:
        asker = RunAsker.for_one_run(asker)
    skipped = set(config.auth.skip)
    checks = [
        (name, region, run)
        for region in config.regions
        for name, run in region_checks(
            config, region, target, asker, dmarc_baseline, mtasts_history=mtasts_history
        )
        if name not in skipped
    ]
    results = await asyncio.gather(*(_guarded(name, region, run) for name, region, run in checks))
    return [finding for findings in results for finding in findings]


def region_checks(
    config: Config,
    region: Region,
    target: str,
    asker: Asker,
    dmarc_baseline: str | None,
    *,
    mtasts_history: Sequence[PolicySeen] = (),
) -> list[tuple[str, CheckRunner]]:
    """The checks of one region, each a coroutine factory (the benchmark runs them in turn).

    Modules are imported here, not at the top: each pulls in its library (pyspf, dkimpy,
    httpx, ssl), and `cockpit --help` must stay light.
    """
    from cockpit.auth.dkim_check import dkim_findings
    from cockpit.auth.dmarc_check import dmarc_findings
    from cockpit.auth.idp_check import idp_findings
    from cockpit.auth.mtasts_check import mtasts_findings
    from cockpit.auth.ptr_check import ptr_findings
    from cockpit.auth.smtp_check import smtp_and_dane_findings
    from cockpit.auth.spf_check import spf_findings
    from cockpit.auth.tlsrpt_check import tlsrpt_findings
    from cockpit.auth.webmail_check import webmail_findings

    return [
        ("spf", lambda: spf_findings(config, region, asker)),
        ("dkim", lambda: dkim_findings(config, region, asker)),
        ("dmarc", lambda: dmarc_findings(config, region, asker, baseline_policy=dmarc_baseline)),
        ("ptr", lambda: ptr_findings(config, region, asker)),
        ("tls-rpt", lambda: tlsrpt_findings(config, region, asker)),
        (
            "mta-sts",
            lambda: mtasts_findings(
                config, region, asker, target=target, policy_history=mtasts_history
            ),
        ),
        ("smtp-tls", lambda: smtp_and_dane_findings(config, region, asker)),
        ("webmail", lambda: webmail_findings(config, region, asker)),
        ("idp", lambda: idp_findings(config, region, asker)),
    ]


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


__all__ = ["AUTHORITATIVE", "auth_findings", "choose_asker", "region_checks"]
