"""The blackbox_exporter modules that judge the configured records at each site, and their
names read back (pure: no I/O).

    text = blackbox_modules(config)            # blackbox.yml, the same file at every site
    name = module_for(watched, "eu")           # "cockpit_dns_drill_example_mx_eu_1f0c9a2e"
    read_module(name, config)                  # (WatchedName, "eu") or None
    table = module_table(config)               # every module name -> what it probes
    text = scrape_config_example(config, vantage, sites)   # Prometheus scrape_configs

A blackbox DNS probe cannot report the records it saw, only whether they passed the module's
checks, so every BY_REGION record (MX, webmail A/AAAA, autodiscover CNAME/SRV) gets:

- one module per region: NOERROR, and every answer RR either a CNAME link of the chain or an
  RR of the asked type whose target is one of that region's targets, with at least one such
  RR (an empty answer fails). A region with no target of that type (`absent_in`) gets a module
  that passes exactly when no RR of that type comes back. Success of region R's module is
  what the local sweep calls "answers R's targets" (classify.classify_targets: owners and the
  CNAME chain are not judged there either);
- three rcode modules (noerror, nxdomain, servfail): blackbox 0.23 exports no rcode, only
  whether its own check passed, so these say why no region's module passed (an empty or
  foreign answer, NXDOMAIN, SERVFAIL, or another rcode when none of them passes);

and every MX host gets an SMTP banner module (tcp, expect ^220, then QUIT), one per host so
that the series names the host whatever address the site probes it at.

The RR text blackbox matches is miekg/dns's presentation form, verified with blackbox 0.23:
"drill.example.\\t3\\tIN\\tMX\\t10 mx1.eu.drill.example." (owner with its final dot, TTL,
class, type, rdata, tab-separated). Regexes are anchored, case-insensitive (a resolver may
echo another case) and escape every character of a target that is not a letter or digit, so a
hostile name matches only itself. RE2 (Go) and Python's re agree on every construct used.

Module names: "cockpit_<family>_<record>_<type>_<region>_<hash>". The readable part is lossy
(every character but a-z and 0-9 becomes "_", cut to 40 characters), so a stable hash of the
exact name, type and region always follows: names never collide, and adding a record or a
region renames no other module. Names are read back by looking them up in module_table, never
by parsing them (a name from Prometheus is untrusted).

The YAML is written by hand (PyYAML is only a test dependency): keys are fixed words and
module names, every value is single-quoted (printable ASCII) or a JSON string (YAML's double
quotes) otherwise, so no configured text can become YAML structure.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cockpit.config import Config
from cockpit.config.model import Vantage
from cockpit.dns.watch import Judge, WatchedName, watched_names

__all__ = [
    "RCODES",
    "BlackboxSite",
    "Module",
    "blackbox_modules",
    "go_regex_escape",
    "module_for",
    "module_table",
    "rcode_module_for",
    "read_module",
    "region_regex",
    "scrape_config_example",
    "smtp_module_for",
    "yaml_string",
]

RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL")
"""The rcodes with a module of their own per record (see the module docstring)."""
MODULE_TIMEOUT = "5s"
"""A probe's own bound; blackbox takes the smaller of this and the scrape timeout less 0.5 s."""
_SLUG_CHARS = 40
_HASH_CHARS = 8
_RDATA = {
    "MX": r"\d+ ",
    "SRV": r"\d+ \d+ \d+ ",
    "CNAME": "",
    "A": "",
    "AAAA": "",
}
"""What comes before the target in each type's rdata (MX preference; SRV priority, weight
and port); the target ends the RR."""
_NAME_TYPES = frozenset({"MX", "SRV", "CNAME"})
_CHAIN_LINK = r"[^\t]+\t\d+\tIN\tCNAME\t[^\t]+"


@dataclass(frozen=True, slots=True)
class Module:
    """What one generated module probes."""

    name: str
    family: str
    """ "dns" (a region's targets), "rcode" (one rcode) or "smtp" (one MX host's banner)."""
    watched: WatchedName | None = None
    """dns, rcode: the record."""
    region: str | None = None
    """dns: the region whose targets it checks; smtp: the MX host's (first) region."""
    rcode: str | None = None
    """rcode: the one rcode it accepts."""
    host: str | None = None
    """smtp: the MX host."""


@dataclass(frozen=True, slots=True)
class BlackboxSite:
    """One site for scrape_config_example: its exporter and what it probes from there."""

    name: str
    """The value of the vantage's site label."""
    exporter: str
    """host:port of the blackbox_exporter running at that site."""
    resolvers: tuple[str, ...]
    """Resolver addresses probed from there ("IP" or "IP:PORT": the `instance` of its rows)."""
    smtp_addresses: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """MX host -> the host:port probed for its banner; default "<host>:<mx_port>"."""


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:_SLUG_CHARS].strip("_") or "x"


def _name(family: str, parts: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join((family, *parts)).encode("utf-8", "surrogatepass"))
    readable = "_".join(_slug(part) for part in parts)
    return f"cockpit_{family}_{readable}_{digest.hexdigest()[:_HASH_CHARS]}"


def module_for(watched: WatchedName, region: str) -> str:
    """The name of the module that checks `watched` against `region`'s targets."""
    return _name("dns", (watched.name, watched.rdtype, region))


def rcode_module_for(watched: WatchedName, rcode: str) -> str:
    """The name of the module that passes when `watched` is answered with `rcode`."""
    return _name("rcode", (watched.name, watched.rdtype, rcode))


def smtp_module_for(host: str) -> str:
    """The name of the SMTP banner module of one MX host."""
    return _name("smtp", (host,))


def _region_records(config: Config) -> tuple[WatchedName, ...]:
    return tuple(w for w in watched_names(config) if w.judge is Judge.BY_REGION)


def _mx_regions(config: Config) -> dict[str, str]:
    """MX host -> its first region, in config order."""
    hosts: dict[str, str] = {}
    for region in config.regions:
        for host in region.mx:
            hosts.setdefault(host.rstrip(".").lower(), region.name)
    return hosts


def module_table(config: Config) -> Mapping[str, Module]:
    """Every module blackbox_modules(config) writes, by name, in the file's order."""
    table: dict[str, Module] = {}
    for watched in _region_records(config):
        for region in watched.targets_by_region:
            name = module_for(watched, region)
            table[name] = Module(name, "dns", watched=watched, region=region)
        for rcode in RCODES:
            name = rcode_module_for(watched, rcode)
            table[name] = Module(name, "rcode", watched=watched, rcode=rcode)
    for host, region in _mx_regions(config).items():
        name = smtp_module_for(host)
        table[name] = Module(name, "smtp", region=region, host=host)
    return MappingProxyType(table)


def read_module(name: str, config: Config) -> tuple[WatchedName, str] | None:
    """(record, region) of a region module's name; None for any other name (rcode and smtp
    modules, names this config does not make, anything hostile)."""
    module = module_table(config).get(name)
    if module is None or module.family != "dns":
        return None
    assert module.watched is not None and module.region is not None
    return module.watched, module.region


# --- regexes over miekg/dns RR text ---------------------------------------------------------


def go_regex_escape(text: str) -> str:
    """`text` as a literal in an RE2 (Go) regex that Python's re reads the same way: letters
    and digits as they are, ASCII punctuation and space after a backslash, control characters
    as \\xHH; other characters as \\x{...} (RE2 only: config names are ASCII)."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char.isascii() and char.isalnum():
            out.append(char)
        elif 0x20 <= code < 0x7F:
            out.append("\\" + char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\x{{{code:x}}}")
    return "".join(out)


def _target_text(rdtype: str, target: str) -> str:
    """A normalised target as miekg/dns prints it: names end with a dot (the root is ".")."""
    if rdtype in _NAME_TYPES:
        return "." if target in ("", ".") else target + "."
    return target


def region_regex(watched: WatchedName, targets: Iterable[str]) -> str:
    """An anchored regex matching one answer RR of `watched`'s type pointing at one of
    `targets` (normalised, as in targets_by_region)."""
    shown = sorted(go_regex_escape(_target_text(watched.rdtype, t)) for t in set(targets))
    rdtype = go_regex_escape(watched.rdtype)
    prefix = _RDATA.get(watched.rdtype, "")
    return rf"(?i)^[^\t]+\t\d+\tIN\t{rdtype}\t{prefix}(?:{'|'.join(shown)})$"


def _any_of_type(watched: WatchedName) -> str:
    return rf"(?i)^[^\t]+\t\d+\tIN\t{go_regex_escape(watched.rdtype)}\t"


def _every_rr(watched: WatchedName, targets: Iterable[str]) -> str:
    """Each RR is a region target, or (for a type other than CNAME) a CNAME link."""
    one = region_regex(watched, targets).removeprefix("(?i)^").removesuffix("$")
    if watched.rdtype == "CNAME":
        return f"(?i)^{one}$"
    return f"(?i)^(?:{one}|{_CHAIN_LINK})$"


# --- YAML --------------------------------------------------------------------------------------


def yaml_string(text: str) -> str:
    """A YAML scalar that reads back as exactly `text`: single-quoted when it is printable
    ASCII, else a JSON string (valid YAML double quotes, escapes for everything else)."""
    if all(0x20 <= ord(char) < 0x7F for char in text):
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=True)


def _comment(text: str) -> str:
    return "".join(char if 0x20 <= ord(char) < 0x7F else "?" for char in text)[:160]


def _dns_module(name: str, watched: WatchedName, lines: list[str]) -> list[str]:
    return [
        f"  {name}:",
        "    prober: dns",
        f"    timeout: {MODULE_TIMEOUT}",
        "    dns:",
        f"      query_name: {yaml_string(watched.name)}",
        f"      query_type: {yaml_string(watched.rdtype)}",
        "      transport_protocol: 'udp'",
        "      recursion_desired: true",
        *lines,
    ]


def _region_module(watched: WatchedName, region: str) -> list[str]:
    targets = watched.targets_by_region[region]
    name = module_for(watched, region)
    head = f"  # {watched.rdtype} {watched.name} answers {region}"
    if not targets:
        return [
            _comment(f"{head}: no {watched.rdtype} record at all (none configured there)"),
            *_dns_module(
                name,
                watched,
                [
                    "      valid_rcodes: ['NOERROR']",
                    "      validate_answer_rrs:",
                    "        fail_if_matches_regexp:",
                    f"          - {yaml_string(_any_of_type(watched))}",
                ],
            ),
        ]
    return [
        _comment(f"{head}: {', '.join(sorted(targets))}"),
        *_dns_module(
            name,
            watched,
            [
                "      valid_rcodes: ['NOERROR']",
                "      validate_answer_rrs:",
                "        fail_if_not_matches_regexp:",
                f"          - {yaml_string(_every_rr(watched, targets))}",
                "        fail_if_none_matches_regexp:",
                f"          - {yaml_string(region_regex(watched, targets))}",
            ],
        ),
    ]


def _rcode_module(watched: WatchedName, rcode: str) -> list[str]:
    return [
        _comment(f"  # {watched.rdtype} {watched.name} is answered {rcode}"),
        *_dns_module(
            rcode_module_for(watched, rcode), watched, [f"      valid_rcodes: ['{rcode}']"]
        ),
    ]


def _smtp_module(host: str) -> list[str]:
    return [
        _comment(f"  # the SMTP banner of MX host {host}"),
        f"  {smtp_module_for(host)}:",
        "    prober: tcp",
        f"    timeout: {MODULE_TIMEOUT}",
        "    tcp:",
        "      query_response:",
        "        - expect: '^220'",
        "        - send: 'QUIT'",
    ]


def blackbox_modules(config: Config) -> str:
    """The blackbox_exporter config (a `modules:` mapping) for `config`, deterministic."""
    lines = [
        _comment(f"# blackbox_exporter modules for the cockpit of {config.domain.name}."),
        "# Generated by `cockpit vantage blackbox-modules`: deploy the same file at every site.",
        "modules:",
    ]
    for watched in _region_records(config):
        for region in watched.targets_by_region:
            lines += _region_module(watched, region)
        for rcode in RCODES:
            lines += _rcode_module(watched, rcode)
    for host in _mx_regions(config):
        lines += _smtp_module(host)
    if len(lines) == 3:
        lines[-1] = "modules: {}"
    return "\n".join(lines) + "\n"


# --- the Prometheus side -----------------------------------------------------------------------

_EXPORTER_LABEL = "__cockpit_exporter"
"""A target label naming the site's exporter; labels starting "__" are dropped after
relabelling, so it never reaches a series."""


def _example_sites() -> tuple[BlackboxSite, ...]:
    return (
        BlackboxSite("site-a", "blackbox.site-a.example:9115", ("10.1.0.53",)),
        BlackboxSite("site-b", "blackbox.site-b.example:9115", ("10.2.0.53",)),
    )


def _group(targets: Sequence[str], labels: Mapping[str, str]) -> list[str]:
    shown = ", ".join(yaml_string(target) for target in targets)
    pairs = ", ".join(f"{key}: {yaml_string(value)}" for key, value in labels.items())
    return [f"      - targets: [{shown}]", f"        labels: {{{pairs}}}"]


def _job(job_name: str, vantage: Vantage, groups: list[str]) -> list[str]:
    return [
        f"  - job_name: {yaml_string(job_name)}",
        "    metrics_path: /probe",
        "    static_configs:",
        *(groups or ["      []"]),
        "    relabel_configs:",
        "      - source_labels: [__param_module]",
        "        target_label: module",
        "      - source_labels: [__address__]",
        "        target_label: __param_target",
        "      - source_labels: [__param_target]",
        "        target_label: instance",
        f"      - source_labels: [{_EXPORTER_LABEL}]",
        "        target_label: __address__",
        "      - target_label: job",
        f"        replacement: {yaml_string(vantage.job)}",
    ]


def scrape_config_example(
    config: Config, vantage: Vantage | None, sites: Sequence[BlackboxSite] | None = None
) -> str:
    """Prometheus `scrape_configs` for the modules of `config`, probed from `sites` (default:
    two placeholder sites to edit). Two jobs, DNS and SMTP; every series keeps `module`, the
    vantage's site label and its extra labels, `instance` = the probed address, and `job` =
    the vantage's job, which is what look_prometheus selects. `vantage` None: a prometheus
    vantage's defaults (job "blackbox", site label "site")."""
    vantage = vantage or Vantage(name="sites", kind="prometheus")
    chosen = tuple(sites) if sites is not None else _example_sites()
    extra = dict(vantage.labels)
    dns_groups: list[str] = []
    smtp_groups: list[str] = []
    mx_port = config.service.mx_port
    table = module_table(config)
    for site in chosen:
        base = {**extra, vantage.site_label: site.name, _EXPORTER_LABEL: site.exporter}
        for module in table.values():
            labels = {**base, "__param_module": module.name}
            if module.family == "smtp":
                assert module.host is not None
                address = site.smtp_addresses.get(module.host, f"{module.host}:{mx_port}")
                smtp_groups += _group([address], labels)
            elif site.resolvers:
                dns_groups += _group(site.resolvers, labels)
    lines = [
        _comment(f"# Prometheus scrape configs for the cockpit's [[vantage]] {vantage.name}."),
        "# One target group per site and module; edit the sites, keep the relabelling.",
        "scrape_configs:",
        *_job(f"{vantage.job}_cockpit_dns", vantage, dns_groups),
        *_job(f"{vantage.job}_cockpit_smtp", vantage, smtp_groups),
    ]
    return "\n".join(lines) + "\n"
