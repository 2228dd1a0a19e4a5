"""`[[canary]]`: the key table and the builder that checks the keys that depend on each other.

A canary sends a real message, so its table is stricter than most: the direction decides which
keys belong (submission keys only outbound, mx_port only inbound), each password comes from
exactly one of an environment variable or a file (never from the config), and IMAP without TLS
is allowed only to a loopback IP address. Names and regions across tables are checked in
`crosscheck.py`.
"""

from __future__ import annotations

from functools import partial

from cockpit.config.model import (
    CANARY_DIRECTIONS,
    CANARY_IMAP_TLS_MODES,
    CANARY_SUBMISSION_TLS_MODES,
    CANARY_TARGET,
    Canary,
    SecretSource,
)
from cockpit.config.readers import (
    INVALID,
    Context,
    Key,
    any_invalid,
    boolean,
    list_of,
    number,
    one_of,
    path,
    text,
)
from cockpit.config.report import KeyPath, quoted, show_key
from cockpit.config.values import (
    BadValue,
    is_loopback_ip,
    parse_address,
    parse_authserv_id,
    parse_env_name,
    parse_host_port,
    parse_mailbox_name,
    parse_plain_text,
    parse_region_name,
)

DEFAULT_IMAP_PORTS = {"implicit": 993, "starttls": 143, "none": 143}
DEFAULT_SUBMISSION_PORTS = {"starttls": 587, "implicit": 465}
DEFAULT_WARN_S = 60.0
HOST_PORT = '"host", "host:port" or "[IPv6]:port"'

_OUTBOUND_ONLY = (
    "submission",
    "submission_tls",
    "submission_user",
    "submission_password_env",
    "submission_password_file",
)
_INBOUND_ONLY = ("mx_port",)


def parse_canary_region(value: str) -> str:
    """A region name, or "target" (the region of the latest failover decision)."""
    if value == CANARY_TARGET:
        return value
    return parse_region_name(value)


def parse_login_name(value: str) -> str:
    """An IMAP or submission login name: plain text, at most 320 characters."""
    user = parse_plain_text(value)
    if len(user) > 320:
        raise BadValue(f"longer than 320 characters ({len(user)})")
    return user


_seconds = partial(number, minimum=0, maximum=3600, above_minimum=True)

CANARY_KEYS: tuple[Key, ...] = (
    Key("name", text(parse_region_name, "a canary name"), required='a name such as "eu-in"'),
    Key(
        "direction",
        text(one_of(CANARY_DIRECTIONS), "inbound or outbound"),
        required='"inbound" (through the MX hosts) or "outbound" (through submission)',
    ),
    Key(
        "region",
        text(parse_canary_region, 'a region name or "target"'),
        default=CANARY_TARGET,
    ),
    Key(
        "interval",
        number("an interval in seconds", minimum=30, maximum=86400),
        default=300.0,
    ),
    Key("timeout", _seconds("a timeout in seconds"), default=120.0),
    Key("warn_s", _seconds("a number of seconds")),
    Key(
        "from",
        text(parse_address, "an address such as canary@example.com"),
        required="the sender address, such as canary@example.com",
    ),
    Key(
        "to",
        text(parse_address, "an address such as canary@example.com"),
        required="the recipient address, whose mailbox IMAP reads",
    ),
    Key("imap", text(parse_host_port, HOST_PORT), required=f"the IMAP server: {HOST_PORT}"),
    Key("imap_tls", text(one_of(CANARY_IMAP_TLS_MODES), "implicit, starttls or none")),
    Key(
        "imap_user",
        text(parse_login_name, "an IMAP user name"),
        required="the IMAP login name of the mailbox",
    ),
    Key("imap_password_env", text(parse_env_name, "an environment variable name")),
    Key("imap_password_file", path("a password file path")),
    Key(
        "folders",
        list_of(
            text(parse_mailbox_name, "a folder name"),
            'a list of folder names such as ["INBOX", "Junk"]',
            non_empty=True,
            unique=True,
        ),
    ),
    Key("delete", boolean("true or false"), default=True),
    Key(
        "trusted_authserv_ids",
        list_of(
            text(parse_authserv_id, "an authserv-id such as mx.example.net"),
            "a list of authserv-ids",
            unique=True,
        ),
        default=(),
    ),
    Key("submission", text(parse_host_port, HOST_PORT)),
    Key("submission_tls", text(one_of(CANARY_SUBMISSION_TLS_MODES), "starttls or implicit")),
    Key("submission_user", text(parse_login_name, "a submission user name")),
    Key("submission_password_env", text(parse_env_name, "an environment variable name")),
    Key("submission_password_file", path("a password file path")),
    Key("mx_port", number("a port", minimum=1, maximum=65535, integer=True)),
)


def _secret(
    fields: dict[str, object], at: KeyPath, ctx: Context, prefix: str
) -> SecretSource | None:
    """Exactly one of PREFIX_password_env and PREFIX_password_file (None after a problem)."""
    env_key, file_key = f"{prefix}_password_env", f"{prefix}_password_file"
    env, file = fields[env_key], fields[file_key]
    if env is INVALID or file is INVALID:
        return None
    if env is not None and file is not None:
        fields[file_key] = ctx.problem(
            (*at, file_key),
            f"give either {show_key(env_key)} or {show_key(file_key)}, not both",
        )
        return None
    if env is None and file is None:
        fields[env_key] = ctx.problem(
            (*at, env_key),
            f"the {prefix} password is needed: set {show_key(env_key)} (an environment variable"
            f" name) or {show_key(file_key)} (a file readable only by its owner); a password"
            " never goes in the config",
        )
        return None
    return SecretSource(env=env if isinstance(env, str) else None, file=file)  # type: ignore[arg-type]


def _refuse_other_direction(
    fields: dict[str, object], at: KeyPath, ctx: Context, direction: str
) -> None:
    keys = _INBOUND_ONLY if direction == "outbound" else _OUTBOUND_ONLY
    other = "inbound" if direction == "outbound" else "outbound"
    for name in keys:
        if fields[name] is not None and fields[name] is not INVALID:
            fields[name] = ctx.problem(
                (*at, name),
                f"{show_key(name)} is only for direction = {quoted(other)};"
                f" this canary is {quoted(direction)}",
            )


def _timing(fields: dict[str, object], at: KeyPath, ctx: Context) -> float | None:
    """warn_s, defaulting to min(60, timeout / 2); always below timeout."""
    timeout, warn_s = fields["timeout"], fields["warn_s"]
    if not isinstance(timeout, float):
        return None
    if warn_s is None:
        return min(DEFAULT_WARN_S, timeout / 2)
    if isinstance(warn_s, float) and warn_s >= timeout:
        fields["warn_s"] = ctx.problem(
            (*at, "warn_s"),
            f"expected warn_s below timeout ({timeout:g}), found {warn_s:g}",
        )
        return None
    return warn_s if isinstance(warn_s, float) else None


def _imap_endpoint(fields: dict[str, object], at: KeyPath, ctx: Context) -> tuple[str, int, str]:
    """(host, port, tls): the TLS mode defaults by port (143 starttls, else implicit), the port
    by TLS mode; "none" only to a loopback IP address."""
    address, tls = fields["imap"], fields["imap_tls"]
    if not isinstance(address, tuple) or tls is INVALID:
        return "", 0, ""
    host, port = address
    if tls is None:
        tls = "starttls" if port == 143 else "implicit"
    if tls == "none" and not is_loopback_ip(host):
        fields["imap_tls"] = ctx.problem(
            (*at, "imap_tls"),
            f'imap_tls = "none" would send the IMAP password in clear to {quoted(host)}: it is'
            " allowed only to a loopback IP address (127.0.0.1, ::1); use implicit or starttls",
        )
    return host, DEFAULT_IMAP_PORTS[str(tls)] if port is None else port, str(tls)


def _submission_endpoint(
    fields: dict[str, object], at: KeyPath, ctx: Context
) -> tuple[str | None, int | None, str | None]:
    address, tls = fields["submission"], fields["submission_tls"]
    if address is None:
        fields["submission"] = ctx.problem(
            (*at, "submission"),
            f"an outbound canary needs {show_key('submission')}: the region's submission"
            f" service, {HOST_PORT}",
        )
        return None, None, None
    if not isinstance(address, tuple) or tls is INVALID:
        return None, None, None
    host, port = address
    if tls is None:
        tls = "implicit" if port == 465 else "starttls"
    return host, DEFAULT_SUBMISSION_PORTS[str(tls)] if port is None else port, str(tls)


def build_canary(fields: dict[str, object], at: KeyPath, ctx: Context) -> object:
    """A `Canary`, after the checks between its keys (see the module docstring)."""
    direction = fields["direction"]
    if isinstance(direction, str):
        _refuse_other_direction(fields, at, ctx, direction)
    warn_s = _timing(fields, at, ctx)
    imap_host, imap_port, imap_tls = _imap_endpoint(fields, at, ctx)
    imap_password = _secret(fields, at, ctx, "imap")
    submission: tuple[str | None, int | None, str | None] = (None, None, None)
    submission_password: SecretSource | None = None
    if direction == "outbound":
        submission = _submission_endpoint(fields, at, ctx)
        if fields["submission_user"] is None:
            fields["submission_user"] = ctx.problem(
                (*at, "submission_user"),
                f"an outbound canary needs {show_key('submission_user')}: the login name for"
                " the submission service",
            )
        submission_password = _secret(fields, at, ctx, "submission")
        if submission_password is None:
            return INVALID
    if any_invalid(fields) or imap_password is None or warn_s is None or not imap_host:
        return INVALID
    folders = fields["folders"]
    return Canary(
        name=str(fields["name"]),
        direction=str(direction),
        region=str(fields["region"]),
        from_address=str(fields["from"]),
        to_address=str(fields["to"]),
        imap_host=imap_host,
        imap_port=imap_port,
        imap_tls=imap_tls,
        imap_user=str(fields["imap_user"]),
        imap_password=imap_password,
        interval=float(fields["interval"]),  # type: ignore[arg-type]
        timeout=float(fields["timeout"]),  # type: ignore[arg-type]
        warn_s=warn_s,
        folders=folders if isinstance(folders, tuple) else None,
        delete=bool(fields["delete"]),
        trusted_authserv_ids=tuple(fields["trusted_authserv_ids"]),  # type: ignore[arg-type]
        submission_host=submission[0],
        submission_port=submission[1],
        submission_tls=submission[2],
        submission_user=fields["submission_user"],  # type: ignore[arg-type]
        submission_password=submission_password,
        mx_port=fields["mx_port"],  # type: ignore[arg-type]
    )
