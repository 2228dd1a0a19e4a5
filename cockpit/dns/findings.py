"""The DNS area of `cockpit check`: one sweep, turned into findings.

The I/O (sweep.py) and the judgement (findings_pure.py) stay apart, so the judgement is tested
without servers and the sweep without opinions.
"""

from __future__ import annotations

from cockpit.config import Config
from cockpit.model import Finding


async def dns_findings(config: Config, target: str) -> list[Finding]:
    """Sweep once with the config's settings and judge the result against region `target`."""
    from cockpit.dns.findings_pure import findings_from_sweep
    from cockpit.dns.sweep import sweep

    result = await sweep(config)
    return findings_from_sweep(result, target)
