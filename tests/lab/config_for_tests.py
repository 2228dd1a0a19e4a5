"""A Config built by hand, for tests that make their own regions instead of loading a file.

Use: `hand_config("example.test", (primary, secondary), ca_file=lab.ca_file)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cockpit.config.model import (
    Config,
    DnsSettings,
    DomainSettings,
    IncidentSettings,
    Region,
    TlsSettings,
)


def hand_config(domain: str, regions: Sequence[Region], *, ca_file: Path | None = None) -> Config:
    """A Config as a loaded file would give it, for tests that build regions by hand.

    Default incident dir (`incidents`) and DNS settings; `ca_file` is [tls] ca_file.
    """
    return Config(
        source=None,
        incident=IncidentSettings(dir=Path("incidents")),
        domain=DomainSettings(name=domain),
        regions=tuple(regions),
        dns=DnsSettings(),
        tls=TlsSettings(ca_file=ca_file),
    )
