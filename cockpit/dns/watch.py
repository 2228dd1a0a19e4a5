"""Which DNS records are watched, derived from the config.

For the domain and every region: MX of the domain; A/AAAA of the webmail host(s); the
autodiscover CNAME and `_autodiscover._tcp` SRV where targets are configured; SPF (TXT at the
domain), DMARC, DKIM for every selector of every region, `_mta-sts` and `_smtp._tls` TXT; TLSA at
`_25._tcp.MXHOST` for every MX host; PTR of every sending IP; and the extra `[[dns.record]]`s.

Two ways to judge an answer (see classify.py):
- BY_REGION: the answer names hosts or addresses that belong to regions (MX, webmail, autodiscover);
  `targets_by_region` says which, per record type: a region without an IPv6 webmail address has
  no AAAA targets, and while it is the target no AAAA is the right answer (`absent_in`).
- BY_AUTHORITATIVE: the answer is compared with what the authoritative servers serve now (TXT
  records, TLSA, PTR, extra records): the same is fresh, different is stale.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from cockpit.compat import StrEnum
from cockpit.config import Config


class Judge(StrEnum):
    BY_REGION = "region"
    BY_AUTHORITATIVE = "authoritative"


@dataclass(frozen=True, slots=True)
class WatchedName:
    """One (name, type) question asked of every resolver and authoritative server."""

    name: str
    """Absolute name, lower-case, without the trailing dot."""
    rdtype: str
    check: str
    """What the record is for, as `cockpit check` names it: MX, A, AAAA, CNAME, SRV, SPF, DMARC,
    DKIM, MTA-STS, TLS-RPT, TLSA, PTR, or the record type of an extra record."""
    judge: Judge
    targets_by_region: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """For BY_REGION: the normalised targets (host names or addresses) of each region."""
    required: bool = True
    """An empty answer is a failure (it is expected to exist), except for a BY_REGION record
    whose target region has no targets of this type (`absent_in`)."""
    txt_prefix: str | None = None
    """For TXT records sharing a name (SPF at the apex): only strings starting with this count."""

    @property
    def key(self) -> str:
        return f"{self.name} {self.rdtype}"

    def absent_in(self, region: str) -> bool:
        """BY_REGION: the config gives `region` no target of this type, so while it is the
        target the record must not exist (a DR region without IPv6 has no webmail AAAA; one
        without autodiscover has no autodiscover CNAME). Never assumed for a region the
        mapping does not name."""
        if self.judge is not Judge.BY_REGION or region not in self.targets_by_region:
            return False
        return not self.targets_by_region[region]


def watched_names(config: Config) -> tuple[WatchedName, ...]:
    """Every watched question for this config, without duplicates, in a stable order."""
    domain = config.domain.name
    names: list[WatchedName] = [
        WatchedName(domain, "MX", "MX", Judge.BY_REGION, _by_region(config, lambda r: r.mx)),
    ]
    names += _webmail(config)
    names += _autodiscover(config)
    names.append(WatchedName(domain, "TXT", "SPF", Judge.BY_AUTHORITATIVE, txt_prefix="v=spf1"))
    names.append(WatchedName(f"_dmarc.{domain}", "TXT", "DMARC", Judge.BY_AUTHORITATIVE))
    selectors = sorted({s for region in config.regions for s in region.dkim_selectors})
    names += [
        WatchedName(f"{selector}._domainkey.{domain}", "TXT", "DKIM", Judge.BY_AUTHORITATIVE)
        for selector in selectors
    ]
    names.append(
        WatchedName(f"_mta-sts.{domain}", "TXT", "MTA-STS", Judge.BY_AUTHORITATIVE, required=False)
    )
    names.append(
        WatchedName(
            f"_smtp._tls.{domain}", "TXT", "TLS-RPT", Judge.BY_AUTHORITATIVE, required=False
        )
    )
    mx_hosts = sorted({host for region in config.regions for host in region.mx})
    names += [
        WatchedName(f"_25._tcp.{host}", "TLSA", "TLSA", Judge.BY_AUTHORITATIVE, required=False)
        for host in mx_hosts
    ]
    sending_ips = sorted(
        {ip for region in config.regions for ip in region.sending_ips},
        key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip)),
    )
    names += [
        WatchedName(ipaddress.ip_address(ip).reverse_pointer, "PTR", "PTR", Judge.BY_AUTHORITATIVE)
        for ip in sending_ips
    ]
    names += [
        WatchedName(record.name, record.type, record.type, Judge.BY_AUTHORITATIVE)
        for record in config.dns.records
    ]
    return _unique(names)


def answer_targets(rdtype: str, normalised_answer: str) -> str:
    """The part of a normalised record that points somewhere: the host of an MX or SRV, the
    target of a CNAME, the address of an A/AAAA; the record itself otherwise."""
    parts = normalised_answer.split()
    if rdtype == "MX" and len(parts) == 2:
        return parts[1]
    if rdtype == "SRV" and len(parts) == 4:
        return parts[3]
    return normalised_answer


def _by_region(config: Config, targets_of) -> Mapping[str, frozenset[str]]:  # noqa: ANN001
    return MappingProxyType(
        {region.name: frozenset(targets_of(region)) for region in config.regions}
    )


def _webmail(config: Config) -> list[WatchedName]:
    hosts = sorted(
        {urlsplit(r.webmail_url).hostname or "" for r in config.regions if r.webmail_url}
    )
    watched: list[WatchedName] = []
    for host in hosts:
        if not host:
            continue
        for rdtype, version in (("A", 4), ("AAAA", 6)):
            targets = _by_region(
                config,
                lambda region, v=version: [
                    a for a in region.webmail_addresses if ipaddress.ip_address(a).version == v
                ],
            )
            if not any(targets.values()):
                continue
            watched.append(
                WatchedName(host.rstrip(".").lower(), rdtype, rdtype, Judge.BY_REGION, targets)
            )
    return watched


def _autodiscover(config: Config) -> list[WatchedName]:
    if not any(region.autodiscover_targets for region in config.regions):
        return []
    targets = _by_region(config, lambda region: region.autodiscover_targets)
    domain = config.domain.name
    return [
        WatchedName(f"autodiscover.{domain}", "CNAME", "CNAME", Judge.BY_REGION, targets),
        WatchedName(
            f"_autodiscover._tcp.{domain}", "SRV", "SRV", Judge.BY_REGION, targets, required=False
        ),
    ]


def _unique(names: list[WatchedName]) -> tuple[WatchedName, ...]:
    seen: set[str] = set()
    unique: list[WatchedName] = []
    for watched in names:
        if watched.key not in seen:
            seen.add(watched.key)
            unique.append(watched)
    return tuple(unique)
