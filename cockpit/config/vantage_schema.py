"""`[[vantage]]`: the key table and the builder that checks the keys that depend on the kind.

    [[vantage]]
    name = "office"                 # rows from here are "<resolver> @ office"
    location = "Berlin office"
    kind = "ssh"
    host = "ops@jump1.example.net"  # an ssh destination (or a Host of ~/.ssh/config)
    ssh_options = ["-p", "2222"]    # more ssh arguments, after the cockpit's own -o options
    resolvers = ["10.1.0.53"]       # default: that host's /etc/resolv.conf (+ public resolvers)

    [[vantage]]
    name = "sites"
    kind = "prometheus"
    url = "http://prometheus.example.net:9090"
    job = "blackbox"                # the job label of the blackbox_exporter probes
    site_label = "site"             # the label naming the site a probe ran from

The kind decides which keys belong: `host`, `ssh_options` and `resolvers` only with ssh;
`url`, `job`, `site_label` and `labels` only with prometheus. An ssh option that would take a
connection out of BatchMode or change where its multiplexing socket lives is refused: those
are the cockpit's (cockpit.vantage.ssh). Names are checked for uniqueness in `crosscheck.py`.
"""

from __future__ import annotations

from functools import partial
from types import MappingProxyType

from cockpit.config.model import VANTAGE_KINDS, Vantage
from cockpit.config.readers import (
    INVALID,
    PROMETHEUS_LABELS,
    Context,
    Key,
    any_invalid,
    list_of,
    number,
    one_of,
    text,
)
from cockpit.config.report import KeyPath, quoted, show_key
from cockpit.config.values import (
    BadValue,
    has_control_chars,
    parse_display_name,
    parse_label_name,
    parse_plain_text,
    parse_region_name,
    parse_server_address,
    parse_url,
)

ADDRESS_EXPECTED = 'a resolver address ("IP", "IP:PORT" or "[IPv6]:PORT")'
_SSH_ONLY = ("host", "ssh_options", "resolvers")
_PROMETHEUS_ONLY = ("url", "job", "site_label", "labels")
_OWN_SSH_OPTIONS = frozenset(
    {"batchmode", "controlmaster", "controlpath", "controlpersist", "permitlocalcommand"}
)
"""ssh options the cockpit sets itself (ssh takes the first value given, and the cockpit's
come first, but a config that tries to change them is a mistake worth saying)."""
_SSH_FLAGS_REFUSED = frozenset({"-M", "-S", "-O", "-N", "-f", "-t", "-tt", "-W", "-G", "-V"})
"""Flags that would change what the cockpit's ssh process is (a master, a control command, a
background process, a terminal, a forward, a config dump)."""


def parse_ssh_destination(value: str) -> str:
    """`host`, `user@host` or an ssh config Host alias: no spaces, no leading "-", no "ssh://"
    options smuggled in; at most 255 characters."""
    if value == "" or value.strip() != value or any(char.isspace() for char in value):
        raise BadValue("an ssh destination has no spaces")
    if has_control_chars(value):
        raise BadValue("control characters are not allowed")
    if value.startswith("-"):
        raise BadValue("an ssh destination cannot start with '-' (it would be read as an option)")
    if len(value) > 255:
        raise BadValue(f"longer than 255 characters ({len(value)})")
    return value


def parse_ssh_option(value: str) -> str:
    """One ssh argument: printable, and not one of the flags the cockpit's own use rules out."""
    if value == "" or has_control_chars(value):
        raise BadValue("expected a non-empty argument without control characters")
    if value in _SSH_FLAGS_REFUSED:
        raise BadValue(f"{value} changes what the cockpit's ssh process does; it is not allowed")
    option = value[2:] if value.startswith("-o") else value  # "-oName=value" in one item
    name = option.replace(" ", "=", 1).split("=", 1)[0].strip()
    if name.casefold() in _OWN_SSH_OPTIONS:
        raise BadValue(
            f"{name} is set by the cockpit itself (BatchMode=yes, one multiplexed connection"
            " in a private directory)"
        )
    return value


_seconds = partial(number, minimum=0, maximum=300, above_minimum=True)

VANTAGE_KEYS: tuple[Key, ...] = (
    Key("name", text(parse_region_name, "a vantage name"), required='a name such as "office"'),
    Key(
        "kind",
        text(one_of(VANTAGE_KINDS), "a vantage kind: " + ", ".join(VANTAGE_KINDS)),
        required="the kind of vantage: " + ", ".join(VANTAGE_KINDS),
    ),
    Key("location", text(parse_display_name, "a location"), default="unknown"),
    Key("host", text(parse_ssh_destination, 'an ssh destination such as "ops@jump1"')),
    Key(
        "ssh_options",
        list_of(
            text(parse_ssh_option, "an ssh argument"),
            'a list of ssh arguments such as ["-p", "2222"]',
            string_hint='a list of ssh arguments such as ["-p", "2222"], never one string',
        ),
    ),
    Key(
        "resolvers",
        list_of(
            text(partial(parse_server_address, role="a resolver address"), ADDRESS_EXPECTED),
            'a list of resolver addresses such as ["10.1.0.53", "1.1.1.1"]',
            non_empty=True,
            unique=True,
        ),
    ),
    Key("url", text(partial(parse_url, schemes=("http", "https")), "an http or https URL")),
    Key("job", text(parse_plain_text, "a job label value")),
    Key("site_label", text(parse_label_name, "a Prometheus label name")),
    Key(
        "labels",
        PROMETHEUS_LABELS,
    ),
    Key("timeout", _seconds("a timeout in seconds"), default=5.0),
    Key("interval", number("an interval in seconds", minimum=5, maximum=3600), default=30.0),
)


def _refuse_other_kind(fields: dict[str, object], at: KeyPath, ctx: Context, kind: str) -> None:
    keys = _PROMETHEUS_ONLY if kind == "ssh" else _SSH_ONLY
    other = "prometheus" if kind == "ssh" else "ssh"
    for name in keys:
        if fields[name] is not None and fields[name] is not INVALID:
            fields[name] = ctx.problem(
                (*at, name),
                f"{show_key(name)} is only for kind = {quoted(other)};"
                f" this vantage is {quoted(kind)}",
            )


def _require(fields: dict[str, object], at: KeyPath, ctx: Context, name: str, what: str) -> None:
    if fields[name] is None:
        fields[name] = ctx.problem((*at, name), f"this vantage needs {show_key(name)}: {what}")


def _check_timing(fields: dict[str, object], at: KeyPath, ctx: Context) -> None:
    timeout, interval = fields["timeout"], fields["interval"]
    if isinstance(timeout, float) and isinstance(interval, float) and timeout >= interval:
        fields["timeout"] = ctx.problem(
            (*at, "timeout"),
            f"expected a timeout below the interval ({interval:g} s), found {timeout:g}",
        )


def build_vantage(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `Vantage`, after the checks between its keys (see the module docstring)."""
    kind = fields["kind"]
    if kind == "ssh":
        _refuse_other_kind(fields, at, ctx, kind)
        _require(fields, at, ctx, "host", 'the ssh destination, such as "ops@jump1"')
    elif kind == "prometheus":
        _refuse_other_kind(fields, at, ctx, kind)
        _require(fields, at, ctx, "url", 'the Prometheus server, such as "http://prom:9090"')
    _check_timing(fields, at, ctx)
    if any_invalid(fields):
        return INVALID
    options = fields["ssh_options"]
    resolvers = fields["resolvers"]
    return Vantage(
        name=str(fields["name"]),
        kind=str(kind),
        location=str(fields["location"]),
        host=fields["host"],  # type: ignore[arg-type]
        ssh_options=tuple(options) if isinstance(options, tuple) else (),
        resolvers=tuple(resolvers) if isinstance(resolvers, tuple) else None,
        url=fields["url"],  # type: ignore[arg-type]
        job=str(fields["job"] or "blackbox"),
        site_label=str(fields["site_label"] or "site"),
        labels=fields["labels"] or MappingProxyType({}),  # type: ignore[arg-type]
        timeout=float(fields["timeout"]),  # type: ignore[arg-type]
        interval=float(fields["interval"]),  # type: ignore[arg-type]
    )
