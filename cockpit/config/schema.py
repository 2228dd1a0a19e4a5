"""The config schema as tables of `Key`s, and the builders that turn checked fields into objects.

To add a key: add one `Key(...)` line to its table (and a field to the dataclass in `model.py`).
Checks that need several keys of one table live in the builders here; checks across tables
(unique names, an MX host in two regions, ...) live in `crosscheck.py`.
"""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from cockpit.config.canary_schema import CANARY_KEYS, build_canary
from cockpit.config.model import (
    AUTH_CHECK_NAMES,
    COMMAND_QUEUE_KINDS,
    DEFAULT_ENDPOINT_PORTS,
    ENDPOINT_KINDS,
    ENDPOINT_TLS_MODES,
    IMPLICIT_TLS_PORTS,
    QUEUE_KINDS,
    REPLICATION_KINDS,
    ROLE_KINDS,
    AuthoritySettings,
    AuthSettings,
    ChecklistSettings,
    ChecklistStep,
    Config,
    DnsSettings,
    DomainSettings,
    Endpoint,
    IncidentSettings,
    QueueSource,
    Region,
    ReplicationSource,
    Resolver,
    RoleSource,
    ServiceSettings,
    TlsSettings,
    UiSettings,
    WatchedRecord,
)
from cockpit.config.readers import (
    INVALID,
    PROMETHEUS_LABELS,
    Context,
    Key,
    Reader,
    any_invalid,
    argv,
    array_of_tables,
    boolean,
    list_of,
    mapping_of,
    number,
    one_of,
    optional,
    path,
    table,
    text,
)
from cockpit.config.report import KeyPath, format_path, quoted, show_int, show_key
from cockpit.config.resolvers import BUILTIN_RESOLVERS
from cockpit.config.values import (
    BadValue,
    has_control_chars,
    parse_display_name,
    parse_dkim_selector,
    parse_host_port,
    parse_hostname,
    parse_ip,
    parse_metric_name,
    parse_mx_host,
    parse_plain_text,
    parse_record_type,
    parse_region_name,
    parse_server_address,
    parse_url,
)
from cockpit.config.vantage_schema import VANTAGE_KEYS, build_vantage
from cockpit.incident.entry import PHASES
from cockpit.incident.runbook import (
    CHECKLIST_PHASES,
    ConditionError,
    parse_condition,
    parse_step_id,
)
from cockpit.theme_data import THEME_NAME

ARGV_EXAMPLE = '["postqueue", "-j"]'
ADDRESS_EXPECTED = 'an IP address ("IP", "IP:PORT" or "[IPv6]:PORT")'


def parse_queue_kind(value: str) -> str:
    """One of `QUEUE_KINDS`, exactly."""
    if value in QUEUE_KINDS:
        return value
    close = difflib.get_close_matches(value.lower(), QUEUE_KINDS, n=1) if len(value) < 50 else []
    hint = f" (did you mean {quoted(close[0])}?)" if close else ""
    raise BadValue(f"not a known kind{hint}")


def _hostnames(expected: str) -> Reader:
    return list_of(text(parse_hostname, "a hostname"), expected, unique=True)


def _ips(expected: str) -> Reader:
    return list_of(text(parse_ip, "an IP address"), expected, unique=True)


_https_url = text(partial(parse_url, schemes=("https",)), "an https URL")
_http_url = text(partial(parse_url, schemes=("http", "https")), "an http or https URL")
_queue_depth = number("a queue depth", minimum=0, maximum=None, integer=True)
_message_age = number("an age in seconds", minimum=0, maximum=None, integer=True)


# ---- [[region.queue]] -------------------------------------------------------------------------

_WHAT_KEY_HOLDS = {
    "command": f"an argv list such as {ARGV_EXAMPLE}",
    "url": "an http or https URL",
    "metric": "a Prometheus metric name",
    "path": "the path to the value in the JSON document",
    "detail_command": 'an argv list such as ["exim", "-bp"]',
}

_SOURCE_SPECIFIC_KEYS = ("command", "url", "metric", "labels", "path", "detail_command")
"""Keys that only some kinds of a source use; given for another kind they are refused."""


@dataclass(frozen=True)
class SourceKinds:
    """Which kind-specific keys each kind of one source table needs and may have."""

    what: str
    """What the table holds, for messages: "a queue", "a replication source", ..."""
    needed: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]]

    def allowed(self, kind: str) -> tuple[str, ...]:
        return self.needed[kind] + self.optional.get(kind, ())

    def check(self, fields: dict[str, object], at: KeyPath, ctx: Context) -> None:
        """Refuse a missing needed key and a key the kind does not use (in place)."""
        kind = fields["kind"]
        if not isinstance(kind, str):
            return
        for name in _SOURCE_SPECIFIC_KEYS:
            if name not in fields:
                continue
            value = fields[name]
            if name in self.needed[kind] and value is None:
                fields[name] = ctx.problem(
                    (*at, name),
                    f"{self.what} of kind {quoted(kind)} needs {show_key(name)}: "
                    f"expected {_WHAT_KEY_HOLDS[name]}",
                )
            elif value is not None and value != {} and name not in self.allowed(kind):
                users = ", ".join(k for k in self.needed if name in self.allowed(k))
                fields[name] = ctx.problem(
                    (*at, name),
                    f"{show_key(name)} is not used by kind {quoted(kind)} (only by {users})",
                )


QUEUE_SOURCE_KINDS = SourceKinds(
    "a queue",
    {
        "prometheus": ("url", "metric"),
        "json": ("url", "path"),
        **{kind: ("command",) for kind in COMMAND_QUEUE_KINDS},
    },
    {"prometheus": ("labels",), "exim": ("detail_command",)},
)
REPLICATION_SOURCE_KINDS = SourceKinds(
    "a replication source",
    {"command": ("command",), "json": ("url", "path"), "prometheus": ("url", "metric")},
    {"prometheus": ("labels",)},
)
ROLE_SOURCE_KINDS = SourceKinds(
    "a role source",
    {
        "command": ("command",),
        "json": ("url", "path"),
        "http": ("url",),
        "prometheus": ("url", "metric"),
    },
    {"prometheus": ("labels",)},
)


def _make(cls: type, fields: dict[str, object], **renames: str) -> object:
    """`cls(**fields)` with some keys renamed to field names, or INVALID if any field is."""
    if any_invalid(fields):
        return INVALID
    return cls(**{renames.get(name, name): value for name, value in fields.items()})


def _ordered(
    fields: dict[str, object], at: KeyPath, ctx: Context, low_key: str, high_key: str
) -> None:
    low, high = fields[low_key], fields[high_key]
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        fields[high_key] = ctx.problem(
            (*at, high_key),
            f"expected {high_key} to be at least {low_key} ({show_number(low)}),"
            f" found {show_number(high)}",
        )


def show_number(value: float) -> str:
    return show_int(value) if isinstance(value, int) else f"{value:g}"


def build_queue(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `QueueSource`, after the checks that depend on its kind and on warn/crit together."""
    QUEUE_SOURCE_KINDS.check(fields, at, ctx)
    for low_key, high_key in (("warn", "crit"), ("age_warn", "age_crit")):
        _ordered(fields, at, ctx, low_key, high_key)
    _ages_told(fields, at, ctx)
    return _make(QueueSource, fields)


AGE_KINDS = ("postqueue", "mailq")
"""Queue kinds whose output gives each message's arrival (exim's too, with detail_command)."""


def _ages_told(fields: dict[str, object], at: KeyPath, ctx: Context) -> None:
    """An age threshold on a source that can never tell an age would never fire: refused."""
    kind = fields["kind"]
    if not isinstance(kind, str) or kind in AGE_KINDS:
        return
    if kind == "exim" and fields["detail_command"] is not None:
        return
    for key in ("age_warn", "age_crit"):
        if isinstance(fields[key], int | float):
            told = "only the count" if kind != "exim" else "only the count without detail_command"
            fields[key] = ctx.problem(
                (*at, key),
                f"{key} needs a source that tells message ages (postqueue, mailq, or exim with"
                f" detail_command): a {kind} source gives {told}",
            )


QUEUE_KEYS: tuple[Key, ...] = (
    Key("name", text(parse_region_name, "a queue name"), required='a queue name such as "mx1"'),
    Key(
        "kind",
        text(parse_queue_kind, "a queue kind: " + ", ".join(QUEUE_KINDS)),
        required="the kind of source: " + ", ".join(QUEUE_KINDS),
    ),
    Key("command", argv(ARGV_EXAMPLE)),
    Key("url", _http_url),
    Key("metric", text(parse_metric_name, "a Prometheus metric name")),
    Key(
        "labels",
        PROMETHEUS_LABELS,
        default=MappingProxyType({}),
    ),
    Key("path", text(parse_plain_text, "a path into the JSON document")),
    Key(
        "timeout",
        number("a timeout in seconds", minimum=0, maximum=300, above_minimum=True),
        default=10.0,
    ),
    Key("warn", _queue_depth),
    Key("crit", _queue_depth),
    Key(
        "interval",
        number("an interval in seconds", minimum=1, maximum=3600),
        default=15.0,
    ),
    Key("age_warn", _message_age),
    Key("age_crit", _message_age),
    Key("detail_command", argv('["exim", "-bp"]')),
    Key(
        "rate_warn",
        number("a growth rate in messages per minute", minimum=1, maximum=None),
    ),
)


# ---- [[region.endpoint]] ----------------------------------------------------------------------


def parse_endpoint_kind(value: str) -> str:
    return one_of(ENDPOINT_KINDS)(value)


def build_endpoint(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """An `Endpoint`: https takes `url`, every other kind `address`; the port and the TLS mode
    default by kind (and port)."""
    kind = fields["kind"]
    address, url, tls = fields["address"], fields["url"], fields["tls"]
    host: str | None = None
    port: int | None = None
    path = "/"
    if kind == "https":
        if address is not None:
            fields["address"] = ctx.problem(
                (*at, "address"),
                'an https endpoint takes `url` (such as "https://mail.example.com/"),'
                " not `address`",
            )
        elif url is None:
            fields["url"] = ctx.problem(
                (*at, "url"),
                'an https endpoint needs `url`: expected an https URL such as "https://mail.example.com/"',
            )
        elif isinstance(url, str):
            parts = urllib.parse.urlsplit(url)
            host = parse_host_port(parts.netloc.rpartition("@")[2])[0]
            port = parts.port
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if tls is not None and tls != "implicit":
            fields["tls"] = ctx.problem(
                (*at, "tls"), 'an https endpoint always uses tls = "implicit"'
            )
    elif isinstance(kind, str):
        if url is not None:
            fields["url"] = ctx.problem(
                (*at, "url"), f'`url` is only for kind "https"; a {kind} endpoint takes `address`'
            )
        if address is None:
            fields["address"] = ctx.problem(
                (*at, "address"),
                f'a {kind} endpoint needs `address`: expected "host" or "host:port"'
                ' ("[IPv6]:port" for an IPv6 address)',
            )
        elif isinstance(address, tuple):
            host, port = address
            if port is None and kind not in DEFAULT_ENDPOINT_PORTS:
                fields["address"] = ctx.problem(
                    (*at, "address"), f'a {kind} endpoint needs a port: expected "host:port"'
                )
    if any_invalid(fields) or host is None or not isinstance(kind, str):
        return INVALID
    if port is None:
        port = DEFAULT_ENDPOINT_PORTS[kind]
    if tls is None:
        if kind == "https":
            tls = "implicit"
        elif kind == "tcp":
            tls = "none"
        else:
            tls = "implicit" if IMPLICIT_TLS_PORTS.get(kind) == port else "starttls"
    return Endpoint(
        kind=kind, host=host, port=port, tls=str(tls), warn_ms=fields["warn_ms"], path=path
    )


ENDPOINT_KEYS: tuple[Key, ...] = (
    Key(
        "kind",
        text(parse_endpoint_kind, "an endpoint kind: " + ", ".join(ENDPOINT_KINDS)),
        required="the kind of service: " + ", ".join(ENDPOINT_KINDS),
    ),
    Key("address", text(parse_host_port, '"host", "host:port" or "[IPv6]:port"')),
    Key("url", _https_url),
    Key(
        "tls",
        text(one_of(ENDPOINT_TLS_MODES), "a TLS mode: " + ", ".join(ENDPOINT_TLS_MODES)),
    ),
    Key("warn_ms", number("milliseconds", minimum=1, maximum=600_000, integer=True)),
)


# ---- [[region.replication]] and [[region.role]] ----------------------------------------------

_lag_seconds = number("a lag in seconds", minimum=0, maximum=None)


def build_replication(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `ReplicationSource`, after the checks that depend on its kind and on warn/crit."""
    REPLICATION_SOURCE_KINDS.check(fields, at, ctx)
    _ordered(fields, at, ctx, "warn", "crit")
    return _make(ReplicationSource, fields)


def build_role(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `RoleSource`, after the checks that depend on its kind."""
    ROLE_SOURCE_KINDS.check(fields, at, ctx)
    return _make(RoleSource, fields)


def _source_keys(name_example: str, kinds: tuple[str, ...]) -> tuple[Key, ...]:
    """The keys every replication and role source has (name, kind, where it reads, when)."""
    return (
        Key(
            "name",
            text(parse_region_name, "a source name"),
            required=f'a name such as "{name_example}"',
        ),
        Key(
            "kind",
            text(one_of(kinds), "a source kind: " + ", ".join(kinds)),
            required="the kind of source: " + ", ".join(kinds),
        ),
        Key("command", argv('["doveadm", "replicator", "status"]')),
        Key("url", _http_url),
        Key("metric", text(parse_metric_name, "a Prometheus metric name")),
        Key(
            "labels",
            PROMETHEUS_LABELS,
            default=MappingProxyType({}),
        ),
        Key("path", text(parse_plain_text, "a path into the JSON document")),
        Key(
            "timeout",
            number("a timeout in seconds", minimum=0, maximum=300, above_minimum=True),
            default=10.0,
        ),
        Key("interval", number("an interval in seconds", minimum=1, maximum=3600), default=15.0),
    )


REPLICATION_KEYS: tuple[Key, ...] = (
    *_source_keys("eu-mailstore", REPLICATION_KINDS),
    Key("warn", _lag_seconds),
    Key("crit", _lag_seconds),
)
ROLE_KEYS: tuple[Key, ...] = _source_keys("eu-control", ROLE_KINDS)


# ---- [[region]] -------------------------------------------------------------------------------


def build_region(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `Region` (its DKIM keys are checked against its selectors in `crosscheck`)."""
    return _make(
        Region,
        fields,
        queue="queues",
        endpoint="endpoints",
        replication="replication",
        role="roles",
    )


REGION_KEYS: tuple[Key, ...] = (
    Key("name", text(parse_region_name, "a region name"), required='a name such as "primary"'),
    Key(
        "mx",
        list_of(
            text(parse_mx_host, "an MX hostname"),
            "a list of hostnames",
            non_empty=True,
            unique=True,
        ),
        required='a list of MX hostnames such as ["mx1.example.com"]',
    ),
    Key("sending_ips", _ips("a list of IP addresses"), default=()),
    Key("helo", optional(text(parse_hostname, "a hostname"))),
    Key(
        "dkim_selectors",
        list_of(
            text(parse_dkim_selector, "a DKIM selector"), "a list of DKIM selectors", unique=True
        ),
        default=(),
    ),
    Key(
        "dkim_private_keys",
        mapping_of(
            parse_dkim_selector,
            "a DKIM selector",
            path("a private key file path"),
            "a table of DKIM selector = key file path",
        ),
        default=MappingProxyType({}),
    ),
    Key("webmail_url", optional(_https_url)),
    Key("webmail_addresses", _ips("a list of IP addresses"), default=()),
    Key("autodiscover_targets", _hostnames("a list of hostnames"), default=()),
    Key("idp_url", optional(_https_url)),
    Key("queue", array_of_tables(QUEUE_KEYS, build_queue, header="region.queue"), default=()),
    Key(
        "endpoint",
        array_of_tables(ENDPOINT_KEYS, build_endpoint, header="region.endpoint"),
        default=(),
    ),
    Key(
        "replication",
        array_of_tables(REPLICATION_KEYS, build_replication, header="region.replication"),
        default=(),
    ),
    Key("role", array_of_tables(ROLE_KEYS, build_role, header="region.role"), default=()),
)


# ---- [dns] ------------------------------------------------------------------------------------


def build_resolver(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `Resolver`."""
    return _make(Resolver, fields)


def build_record(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `WatchedRecord`."""
    return _make(WatchedRecord, fields)


def build_dns(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`DnsSettings`; the built-in resolvers stand in when the file names none."""
    builtin = fields["resolver"] == ()
    fields = {**fields, "resolvers_are_builtin": builtin}
    if builtin:
        fields["resolver"] = BUILTIN_RESOLVERS
    return _make(DnsSettings, fields, resolver="resolvers", record="records")


RESOLVER_KEYS: tuple[Key, ...] = (
    Key(
        "name",
        text(parse_display_name, "a resolver name"),
        required='a name such as "Cloudflare"',
    ),
    Key(
        "address",
        text(partial(parse_server_address, role="a resolver address"), ADDRESS_EXPECTED),
        required='the resolver\'s IP address, such as "1.1.1.1"',
    ),
    Key("location", text(parse_display_name, "a location"), default="unknown"),
)

RECORD_KEYS: tuple[Key, ...] = (
    Key(
        "name",
        text(partial(parse_hostname, allow_underscore=True, what="DNS name"), "a DNS name"),
        required='a DNS name such as "_dmarc.example.com"',
    ),
    Key(
        "type",
        text(parse_record_type, "a record type"),
        required='a record type such as "TXT"',
    ),
)

DNS_KEYS: tuple[Key, ...] = (
    Key("interval", number("an interval in seconds", minimum=1, maximum=3600), default=10.0),
    Key(
        "timeout",
        number("a timeout in seconds", minimum=0, maximum=60, above_minimum=True),
        default=2.0,
    ),
    Key(
        "authoritative",
        list_of(
            text(
                partial(parse_server_address, role="an authoritative server address"),
                ADDRESS_EXPECTED,
            ),
            "a list of server addresses",
            unique=True,
        ),
        default=(),
    ),
    Key(
        "resolver",
        array_of_tables(RESOLVER_KEYS, build_resolver, header="dns.resolver"),
        default=(),
    ),
    Key("record", array_of_tables(RECORD_KEYS, build_record, header="dns.record"), default=()),
)


# ---- [incident], [domain], [tls] and the top level --------------------------------------------


def build_incident(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`IncidentSettings`."""
    return _make(IncidentSettings, fields)


def build_domain(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`DomainSettings`."""
    return _make(DomainSettings, fields)


def build_tls(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`TlsSettings`."""
    return _make(TlsSettings, fields)


INCIDENT_KEYS: tuple[Key, ...] = (
    Key("dir", path("a directory path"), raw_default="incidents"),
    Key("author", optional(text(parse_display_name, "an author name"))),
    Key(
        "probe_interval",
        number("an interval in seconds", minimum=0, maximum=3600),
        default=60.0,
    ),
)

DOMAIN_KEYS: tuple[Key, ...] = (
    Key(
        "name",
        text(parse_hostname, 'a domain name such as "example.com"'),
        required='the mail domain, such as "example.com"',
    ),
)

TLS_KEYS: tuple[Key, ...] = (Key("ca_file", optional(path("a CA file path"))),)


def build_auth(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`AuthSettings`."""
    return _make(AuthSettings, fields)


def build_ui(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`UiSettings`."""
    return _make(UiSettings, fields)


def _parse_theme_name(value: str) -> str:
    if not THEME_NAME.fullmatch(value):
        raise BadValue(
            "a lower-case letter, then up to 39 letters, digits and hyphens, such as high-contrast"
        )
    return value


AUTH_KEYS: tuple[Key, ...] = (
    Key("interval", number("an interval in seconds", minimum=5, maximum=3600), default=60.0),
    Key(
        "skip",
        list_of(
            text(one_of(AUTH_CHECK_NAMES), "a check name: " + ", ".join(AUTH_CHECK_NAMES)),
            "a list of check names",
            unique=True,
        ),
        default=(),
    ),
)

UI_KEYS: tuple[Key, ...] = (Key("theme", optional(text(_parse_theme_name, "a theme name"))),)


def build_service(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`ServiceSettings`."""
    return _make(ServiceSettings, fields)


def build_authority(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`AuthoritySettings`."""
    return _make(AuthoritySettings, fields)


SERVICE_KEYS: tuple[Key, ...] = (
    Key("interval", number("an interval in seconds", minimum=5, maximum=3600), default=30.0),
    Key(
        "timeout",
        number("a timeout in seconds", minimum=0, maximum=60, above_minimum=True),
        default=5.0,
    ),
    Key("mx_port", number("a port", minimum=1, maximum=65535, integer=True), default=25),
    Key("helo", optional(text(parse_hostname, "a hostname"))),
)

AUTHORITY_KEYS: tuple[Key, ...] = (
    Key("grace", number("a grace period in seconds", minimum=0, maximum=3600), default=120.0),
)

# ---- [checklist] ------------------------------------------------------------------------------

MAX_HELP_LENGTH = 2000


def _parse_step_id(value: str) -> str:
    try:
        return parse_step_id(value)
    except ValueError as error:
        raise BadValue(str(error)) from None


def _parse_condition(value: str) -> object:
    try:
        return parse_condition(value)
    except ConditionError as error:
        raise BadValue(str(error)) from None


def _parse_step_title(value: str) -> str:
    title = parse_plain_text(value)
    if len(title) > 120:
        raise BadValue(f"longer than 120 characters ({len(title)})")
    return title


def _parse_help(value: str) -> str:
    """Free text that may span lines (newlines and tabs allowed, other control characters not)."""
    if has_control_chars(value.replace("\n", " ").replace("\t", " ")):
        raise BadValue("control characters other than newlines are not allowed")
    if len(value) > MAX_HELP_LENGTH:
        raise BadValue(f"longer than {MAX_HELP_LENGTH} characters ({len(value)})")
    return value


def build_checklist_step(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `ChecklistStep`."""
    return _make(ChecklistStep, fields)


def build_checklist(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """`ChecklistSettings`, after checking that step ids are unique."""
    steps = fields["step"]
    if isinstance(steps, tuple):
        first: dict[str, int] = {}
        for index, step in enumerate(steps):
            if step.id in first:
                also = format_path((*at, "step", first[step.id]))
                fields["step"] = ctx.problem(
                    (*at, "step", index, "id"),
                    f"duplicate step id {quoted(step.id)} (also {also})",
                )
            else:
                first[step.id] = index
    return _make(ChecklistSettings, fields, step="steps")


CHECKLIST_STEP_KEYS: tuple[Key, ...] = (
    Key(
        "id",
        text(_parse_step_id, "a step id"),
        required='a step id such as "check-archive"',
    ),
    Key(
        "phase",
        text(one_of(CHECKLIST_PHASES), "a checklist phase: " + ", ".join(CHECKLIST_PHASES)),
        required="the phase: " + ", ".join(CHECKLIST_PHASES),
    ),
    Key("title", text(_parse_step_title, "a step title"), required="a one-line title"),
    Key("help", text(_parse_help, "help text"), default=""),
    Key(
        "auto",
        optional(text(_parse_condition, 'a condition such as "auth.spf == ok"')),
    ),
    Key(
        "sets_phase",
        optional(text(one_of(PHASES), "an incident phase: " + ", ".join(PHASES))),
    ),
)

CHECKLIST_KEYS: tuple[Key, ...] = (
    Key("replace_builtin", boolean("true or false"), default=False),
    Key(
        "step",
        array_of_tables(CHECKLIST_STEP_KEYS, build_checklist_step, header="checklist.step"),
        default=(),
    ),
)


TOP_KEYS: tuple[Key, ...] = (
    Key("incident", table(INCIDENT_KEYS, build_incident), raw_default={}),
    Key("domain", table(DOMAIN_KEYS, build_domain), raw_default={}),
    Key("region", array_of_tables(REGION_KEYS, build_region, header="region"), raw_default=[]),
    Key("dns", table(DNS_KEYS, build_dns), raw_default={}),
    Key("tls", table(TLS_KEYS, build_tls), raw_default={}),
    Key("checklist", table(CHECKLIST_KEYS, build_checklist), raw_default={}),
    Key("auth", table(AUTH_KEYS, build_auth), raw_default={}),
    Key("ui", table(UI_KEYS, build_ui), raw_default={}),
    Key("service", table(SERVICE_KEYS, build_service), raw_default={}),
    Key("authority", table(AUTHORITY_KEYS, build_authority), raw_default={}),
    Key("canary", array_of_tables(CANARY_KEYS, build_canary, header="canary"), default=()),
    Key("vantage", array_of_tables(VANTAGE_KEYS, build_vantage, header="vantage"), default=()),
)
"""The top level of the file. `region` is checked for a count of at least two in `crosscheck`;
`[[canary]]` keys are in `canary_schema`, `[[vantage]]` keys in `vantage_schema`."""


def build_config(fields: dict[str, object], source: Path | None) -> object:
    """The `Config` from the checked top-level fields, or INVALID."""
    return _make(
        Config,
        {**fields, "source": source},
        region="regions",
        canary="canaries",
        vantage="vantages",
    )
