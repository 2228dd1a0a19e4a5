"""The frozen, typed settings that a config file turns into.

Everything here is plain data: no I/O and no validation. `load.py` builds these objects only
from values that passed every check, so code that receives a `Config` can trust its contents.
Sequences are tuples and mappings are read-only `MappingProxyType`s, so a `Config` can be shared
between workers without copying. (Because of the mappings, these objects are not hashable.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cockpit.incident.runbook import Condition

QUEUE_KINDS: tuple[str, ...] = ("postqueue", "mailq", "exim", "prometheus", "json", "command")
"""Every queue source kind, in the order the documentation lists them."""

COMMAND_QUEUE_KINDS: frozenset[str] = frozenset({"postqueue", "mailq", "exim", "command"})
"""Kinds that run a local program (an argv list) to read a queue depth."""

RECORD_TYPES: tuple[str, ...] = tuple("A AAAA CNAME MX TXT SRV TLSA PTR NS SOA CAA".split())
"""DNS record types that `[[dns.record]]` may watch."""

DEFAULT_DNS_PORT = 53

ENDPOINT_KINDS: tuple[str, ...] = ("smtp", "submission", "imap", "pop3", "https", "tcp")
"""Every `[[region.endpoint]]` kind, in the order the documentation lists them."""

ENDPOINT_TLS_MODES: tuple[str, ...] = ("starttls", "implicit", "none")
"""How an endpoint speaks TLS: upgrade after the greeting, from the first byte, or not at all."""

DEFAULT_ENDPOINT_PORTS: Mapping[str, int] = MappingProxyType(
    {"smtp": 25, "submission": 587, "imap": 143, "pop3": 110, "https": 443}
)
"""The port an endpoint of each kind uses when its address names none (tcp always names one)."""

IMPLICIT_TLS_PORTS: Mapping[str, int] = MappingProxyType(
    {"submission": 465, "imap": 993, "pop3": 995}
)
"""Ports on which a kind speaks TLS from the first byte, so `tls` defaults to "implicit"."""

REPLICATION_KINDS: tuple[str, ...] = ("command", "json", "prometheus")
"""Every `[[region.replication]]` kind: each reads a number of seconds behind."""

ROLE_KINDS: tuple[str, ...] = ("command", "json", "http", "prometheus")
"""Every `[[region.role]]` kind: each reads the role the region's control plane holds."""


def _empty_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_path_mapping() -> Mapping[str, Path]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """An IP address and port of a DNS server."""

    ip: str
    """The address in its normalised form, e.g. `1.1.1.1` or `2001:db8::53`."""
    port: int = DEFAULT_DNS_PORT
    """UDP/TCP port, 1 to 65535."""

    def __str__(self) -> str:
        if self.port == DEFAULT_DNS_PORT:
            return self.ip
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"

    @property
    def version(self) -> int:
        """4 or 6."""
        return ipaddress.ip_address(self.ip).version


@dataclass(frozen=True, slots=True)
class Resolver:
    """A recursive resolver whose view of the domain is watched."""

    name: str
    """Unique display name, e.g. `Cloudflare 1`."""
    address: ServerAddress
    """Where queries are sent; never the system resolver."""
    location: str = "unknown"
    """Where the resolver answers from, for the operator: `anycast`, `Frankfurt office`, ..."""


@dataclass(frozen=True, slots=True)
class WatchedRecord:
    """An extra DNS name to watch beyond those derived from the regions."""

    name: str
    """Lower-case owner name without the trailing dot; may hold `_` (`_dmarc.example.com`)."""
    type: str
    """Upper-case record type, one of `RECORD_TYPES`."""


@dataclass(frozen=True, slots=True)
class QueueSource:
    """Where a mail queue depth is read from."""

    name: str
    """Unique (across the whole config) name of this queue, e.g. `mx1`."""
    kind: str
    """One of `QUEUE_KINDS`."""
    command: tuple[str, ...] | None = None
    """argv list for the command kinds (postqueue, mailq, exim, command); never run by a shell."""
    url: str | None = None
    """http(s) URL for the prometheus and json kinds."""
    metric: str | None = None
    """Prometheus metric name (prometheus kind)."""
    labels: Mapping[str, str] = field(default_factory=_empty_mapping)
    """Prometheus label matchers (prometheus kind); empty when not given."""
    path: str | None = None
    """Where the depth sits in the JSON document (json kind), as written in the file."""
    timeout: float = 10.0
    """Seconds before a read is abandoned, 0 < timeout <= 300."""
    warn: int | None = None
    """Depth at which the queue is shown as a warning; None: no threshold."""
    crit: int | None = None
    """Depth at which the queue is shown as failing; None: no threshold. Never below `warn`."""
    interval: float = 15.0
    """Seconds between two samples, 1 to 3600; the history keeps a day of them."""
    age_warn: int | None = None
    """Age in seconds of the oldest message at which the queue warns; None: no threshold."""
    age_crit: int | None = None
    """Age in seconds of the oldest message at which the queue fails; never below `age_warn`."""
    detail_command: tuple[str, ...] | None = None
    """exim kind only: an argv printing the `exim -bp` listing, for ages and frozen messages."""
    rate_warn: float | None = None
    """Growth in messages per minute at which the queue warns, whatever its depth; None: it
    warns once it has been growing for 3 samples in a row (queue.history.GROWING_SAMPLES)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A service of a region probed as a client would (`[[region.endpoint]]`); never logged in."""

    kind: str
    """One of `ENDPOINT_KINDS`."""
    host: str
    """Lower-case hostname or normalised IP address (resolved through the configured resolvers)."""
    port: int
    """TCP port, 1 to 65535 (the kind's default when the address names none)."""
    tls: str
    """One of `ENDPOINT_TLS_MODES` (defaults by kind and port; https is always implicit)."""
    warn_ms: int | None = None
    """Milliseconds after which a successful probe warns as slow; None: never slow."""
    path: str = "/"
    """https only: the path (and query) asked for with GET."""

    @property
    def subject(self) -> str:
        """`host:port`, IPv6 in brackets: how findings and the screen name this endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ReplicationSource:
    """Where a region's replication lag (seconds behind its source) is read from."""

    name: str
    """Unique (across queues, replication and role sources) name, e.g. `eu-mailstore`."""
    kind: str
    """One of `REPLICATION_KINDS`."""
    command: tuple[str, ...] | None = None
    """command kind: argv printing one number of seconds; never run by a shell."""
    url: str | None = None
    """http(s) URL for the json and prometheus kinds."""
    metric: str | None = None
    """Prometheus metric name (prometheus kind)."""
    labels: Mapping[str, str] = field(default_factory=_empty_mapping)
    """Prometheus label matchers (prometheus kind); empty when not given."""
    path: str | None = None
    """Where the lag sits in the JSON document (json kind), as written in the file."""
    timeout: float = 10.0
    """Seconds before a read is abandoned, 0 < timeout <= 300."""
    interval: float = 15.0
    """Seconds between two reads, 1 to 3600."""
    warn: float | None = None
    """Seconds behind at which the lag warns; None: no threshold."""
    crit: float | None = None
    """Seconds behind at which the lag fails; never below `warn`."""


@dataclass(frozen=True, slots=True)
class RoleSource:
    """Where the role of a region's control plane (primary, standby, ...) is read from."""

    name: str
    """Unique (across queues, replication and role sources) name, e.g. `eu-control`."""
    kind: str
    """One of `ROLE_KINDS`."""
    command: tuple[str, ...] | None = None
    """command kind: argv whose first output line is the role; never run by a shell."""
    url: str | None = None
    """http(s) URL for the json, http and prometheus kinds."""
    metric: str | None = None
    """prometheus kind: a metric that is 1 on the primary and 0 on a standby."""
    labels: Mapping[str, str] = field(default_factory=_empty_mapping)
    """Prometheus label matchers (prometheus kind); empty when not given."""
    path: str | None = None
    """json kind: where the role (a string) sits in the JSON document."""
    timeout: float = 10.0
    """Seconds before a read is abandoned, 0 < timeout <= 300."""
    interval: float = 15.0
    """Seconds between two reads, 1 to 3600."""


@dataclass(frozen=True, slots=True)
class Region:
    """One place that can receive and send the domain's mail."""

    name: str
    """Unique (case-insensitively) name, e.g. `primary`."""
    mx: tuple[str, ...]
    """Lower-case MX target hostnames that mean "mail goes to this region"; never empty."""
    sending_ips: tuple[str, ...] = ()
    """Normalised outbound IP addresses of this region."""
    helo: str | None = None
    """Lower-case HELO/EHLO name this region's MTAs announce."""
    dkim_selectors: tuple[str, ...] = ()
    """Lower-case DKIM selectors this region signs with."""
    dkim_private_keys: Mapping[str, Path] = field(default_factory=_empty_path_mapping)
    """Selector -> private key file (absolute when loaded from a file); selectors are a subset of
    `dkim_selectors`."""
    webmail_url: str | None = None
    """https URL of this region's webmail."""
    webmail_addresses: tuple[str, ...] = ()
    """Normalised IP addresses the webmail name resolves to when this region is active."""
    autodiscover_targets: tuple[str, ...] = ()
    """Lower-case hostnames autodiscover points to when this region is active."""
    idp_url: str | None = None
    """https URL of the identity provider's discovery document."""
    queues: tuple[QueueSource, ...] = ()
    """Queue depth sources of this region, in file order."""
    endpoints: tuple[Endpoint, ...] = ()
    """Services probed besides the MX hosts (`[[region.endpoint]]`), in file order."""
    replication: tuple[ReplicationSource, ...] = ()
    """Replication lag sources of this region, in file order."""
    roles: tuple[RoleSource, ...] = ()
    """Control-plane role sources of this region, in file order."""


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """Where incident logs live and who writes them."""

    dir: Path
    """Directory of incident logs (absolute when loaded from a file); default `incidents`."""
    author: str | None = None
    """Default author of log entries; None when not set (the CLI then uses $USER)."""
    probe_interval: float = 60.0
    """Seconds between two probe entries about one subject, 0 to 3600: a subject that changes
    faster is held and logged once per interval, "flapped N times"; 0 logs every change."""


@dataclass(frozen=True, slots=True)
class DomainSettings:
    """The mail domain under watch."""

    name: str
    """Lower-case domain name without the trailing dot, e.g. `example.com`."""


@dataclass(frozen=True, slots=True)
class DnsSettings:
    """How and what the DNS layer sweeps."""

    interval: float = 10.0
    """Seconds between sweeps, 1 to 3600."""
    timeout: float = 2.0
    """Seconds one question may take, its retry included (dns/query.py), 0 < timeout <= 60."""
    authoritative: tuple[ServerAddress, ...] = ()
    """Authoritative servers to ask; empty means ask the domain's NS set."""
    resolvers: tuple[Resolver, ...] = ()
    """Recursive resolvers to sweep; `BUILTIN_RESOLVERS` when the file names none."""
    records: tuple[WatchedRecord, ...] = ()
    """Extra records to watch."""
    resolvers_are_builtin: bool = False
    """True when `resolvers` is the built-in list because the file gave no [[dns.resolver]]."""


AUTH_CHECK_NAMES = (
    "spf", "dkim", "dmarc", "ptr", "tls-rpt", "mta-sts", "smtp-tls", "webmail", "idp",
)
"""The auth and endpoint checks, as `[auth] skip` names them (smtp-tls includes DANE)."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How often the cockpit runs the auth and endpoint checks, and which to leave out."""

    interval: float = 60.0
    """Seconds between two runs of every check, 5 to 3600."""
    skip: tuple[str, ...] = ()
    """Checks not run at all (AUTH_CHECK_NAMES), e.g. smtp-tls where outbound port 25 is
    blocked: a check that cannot work from here would only ever say unknown."""


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the region service probes run (every MX host, and every `[[region.endpoint]]`)."""

    interval: float = 30.0
    """Seconds between two runs of every service probe in the cockpit, 5 to 3600."""
    timeout: float = 5.0
    """Seconds for one whole probe (connect, every read, TLS), 0 < timeout <= 60."""
    mx_port: int = 25
    """The port MX hosts are probed on: 25, as a remote sender connects; another only for a
    lab or a drill whose MX hosts listen elsewhere."""
    helo: str | None = None
    """The name cockpit gives in EHLO; None: a name under .invalid (it sends no mail)."""


@dataclass(frozen=True, slots=True)
class AuthoritySettings:
    """How region authority (which control plane is primary) is judged."""

    grace: float = 120.0
    """Seconds after the failover decision during which the roles may still disagree with it
    (warn, not fail), 0 to 3600."""


@dataclass(frozen=True, slots=True)
class UiSettings:
    """The cockpit screen."""

    theme: str | None = None
    """A theme name from `themes/` (dark, light, high-contrast, colorblind ...); None: dark.
    `--theme` wins over it; an unknown name is reported at start and the default is used."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Trust settings for SMTP and HTTPS checks."""

    ca_file: Path | None = None
    """Extra trust anchors (PEM) for private CAs; None when not set."""


@dataclass(frozen=True, slots=True)
class ChecklistStep:
    """One `[[checklist.step]]`: a step added to the runbook, or one replacing a built-in."""

    id: str
    """Unique slug; the id of a built-in step replaces that step."""
    phase: str
    """before, during or after."""
    title: str
    """One line shown in the checklist."""
    help: str = ""
    """Longer guidance shown under the title; may span lines."""
    auto: Condition | None = None
    """A probe condition (see `cockpit.incident.runbook`) that offers to confirm the step."""
    sets_phase: str | None = None
    """An incident phase marker set when the step is done (one of PHASES)."""


@dataclass(frozen=True, slots=True)
class ChecklistSettings:
    """The guided checklist: the built-in runbook, extended or replaced."""

    replace_builtin: bool = False
    """True: only the configured steps are used; False: they extend or replace built-ins by id."""
    steps: tuple[ChecklistStep, ...] = ()
    """[[checklist.step]], in file order."""


CANARY_DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
"""`[[canary]] direction`: into a region through its MX hosts, or out through its submission."""

CANARY_TARGET = "target"
"""`[[canary]] region = "target"`: the region of the latest failover decision (else the first)."""

CANARY_IMAP_TLS_MODES: tuple[str, ...] = ("implicit", "starttls", "none")
"""How a canary speaks to IMAP; "none" only to a loopback IP address (the password is sent)."""

CANARY_SUBMISSION_TLS_MODES: tuple[str, ...] = ("starttls", "implicit")
"""How an outbound canary speaks to submission: never without TLS (it logs in)."""

COMMON_JUNK_FOLDERS: tuple[str, ...] = (
    "Junk", "Spam", "Junk E-mail", "Junk Email", "Bulk", "[Gmail]/Spam",
)  # fmt: skip
"""Folder names searched (when they exist) besides INBOX and the \\Junk special-use ones."""


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a password is read at run time: an environment variable or a file, never the
    config itself. Exactly one of `env` and `file` is set."""

    env: str | None = None
    """The environment variable's name."""
    file: Path | None = None
    """A regular file (absolute when loaded from a file) readable by its owner only."""

    def describe(self) -> str:
        """"env NAME" or "file PATH": how messages name the source (never its content)."""
        return f"env {self.env}" if self.env is not None else f"file {self.file}"


@dataclass(frozen=True, slots=True)
class Canary:
    """One `[[canary]]`: a real message sent through a region, found again by IMAP."""

    name: str
    """Unique (case-insensitively) name; the subject of its findings."""
    direction: str
    """One of CANARY_DIRECTIONS."""
    region: str
    """A configured region's name as written in [[region]], or CANARY_TARGET."""
    from_address: str
    """`from`: the envelope sender and From address (domain lower-cased)."""
    to_address: str
    """`to`: the recipient, whose mailbox IMAP reads."""
    imap_host: str
    """Lower-case hostname or normalised IP address of the mailbox's IMAP server."""
    imap_port: int
    imap_tls: str
    """One of CANARY_IMAP_TLS_MODES; "none" only when `imap_host` is a loopback IP."""
    imap_user: str
    imap_password: SecretSource
    interval: float = 300.0
    """Seconds between two runs, 30 to 86400 (each run sends one message)."""
    timeout: float = 120.0
    """Seconds after sending within which the message must be found, above 0, at most 3600."""
    warn_s: float = 60.0
    """A round trip longer than this warns; always below `timeout`."""
    folders: tuple[str, ...] | None = None
    """Folders searched, in order; None: INBOX, the \\Junk special-use folders and the
    COMMON_JUNK_FOLDERS that exist."""
    delete: bool = True
    """Delete the message once found (it is the cockpit's own)."""
    trusted_authserv_ids: tuple[str, ...] = ()
    """Lower-case authserv-ids whose Authentication-Results headers are read; others ignored."""
    submission_host: str | None = None
    """outbound: the region's submission host (hostname or IP)."""
    submission_port: int | None = None
    submission_tls: str | None = None
    """outbound: one of CANARY_SUBMISSION_TLS_MODES."""
    submission_user: str | None = None
    submission_password: SecretSource | None = None
    mx_port: int | None = None
    """inbound: the port the region's MX hosts are sent to; None: [service] mx_port."""


VANTAGE_KINDS: tuple[str, ...] = ("ssh", "prometheus")
"""ssh: dig run on another host over ssh; prometheus: blackbox_exporter probes read from a
Prometheus server (cockpit.vantage)."""


@dataclass(frozen=True, slots=True)
class Vantage:
    """[[vantage]]: a place other than this host that DNS and the mail edge are seen from."""

    name: str
    """Unique; rows it gives are named "<resolver> @ <name>"."""
    kind: str
    """One of VANTAGE_KINDS."""
    location: str = "unknown"
    """Free text: where it is ("Berlin office", "aws eu-central-1")."""
    host: str | None = None
    """ssh: the ssh destination ([user@]host, or a Host alias of the ssh config)."""
    ssh_options: tuple[str, ...] = ()
    """ssh: more ssh arguments (argv items), after the cockpit's own -o options."""
    resolvers: tuple[ServerAddress, ...] | None = None
    """ssh: the resolvers asked from there; None: those of that host's /etc/resolv.conf, plus
    the configured [[dns.resolver]] entries with a public address."""
    url: str | None = None
    """prometheus: the Prometheus server (its HTTP API is under /api/v1)."""
    job: str = "blackbox"
    """prometheus: the job label of the blackbox_exporter probes."""
    site_label: str = "site"
    """prometheus: the label that names the site each probe ran from."""
    labels: Mapping[str, str] = field(default_factory=_empty_mapping)
    """prometheus: more label matchers for every query."""
    timeout: float = 5.0
    """Seconds for one look from this vantage, everything included."""
    interval: float = 30.0
    """Seconds between two looks."""


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, valid cockpit configuration."""

    source: Path | None
    """The file it was read from (absolute), or None when read from a string."""
    incident: IncidentSettings
    """[incident]"""
    domain: DomainSettings
    """[domain]"""
    regions: tuple[Region, ...]
    """[[region]], at least two, in order of preference."""
    dns: DnsSettings
    """[dns]"""
    tls: TlsSettings
    """[tls]"""
    checklist: ChecklistSettings = field(default_factory=ChecklistSettings)
    """[checklist]"""
    auth: AuthSettings = field(default_factory=AuthSettings)
    """[auth]"""
    ui: UiSettings = field(default_factory=UiSettings)
    """[ui]"""
    service: ServiceSettings = field(default_factory=ServiceSettings)
    """[service]"""
    authority: AuthoritySettings = field(default_factory=AuthoritySettings)
    """[authority]"""
    canaries: tuple[Canary, ...] = ()
    """[[canary]], in file order."""
    vantages: tuple[Vantage, ...] = ()
    """[[vantage]], in file order."""

    def region(self, name: str) -> Region | None:
        """The region called `name` (compared case-insensitively), or None."""
        for region in self.regions:
            if region.name == name:
                return region
        folded = name.casefold()
        for region in self.regions:
            if region.name.casefold() == folded:
                return region
        return None

    def region_names(self) -> tuple[str, ...]:
        """Region names in order of preference."""
        return tuple(region.name for region in self.regions)
