"""Checks for the text values a config holds: hostnames, IP addresses, server addresses, URLs.

Each `parse_*` function takes a string and returns the normalised value, or raises `BadValue`
saying why the string is not acceptable. They never touch the network or the file system.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import urllib.parse

from cockpit.config.model import RECORD_TYPES, ServerAddress
from cockpit.config.report import quoted, safe_text
from cockpit.incident.runbook import REGION_NAME

MAX_HOSTNAME_LENGTH = 253
MAX_LABEL_LENGTH = 63

_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_LDH_UNDERSCORE_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class BadValue(ValueError):
    """A string that is not an acceptable value; the message says why."""


def has_control_chars(text: str) -> bool:
    """True when `text` holds a control, format or separator character other than space."""
    return any(
        unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for char in text
    )


def parse_ip(text: str) -> str:
    """An IPv4 or IPv6 address, normalised (`2001:DB8::0:1` -> `2001:db8::1`)."""
    if "%" in text:
        raise BadValue("zone IDs (the %... suffix) are not supported")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadValue("not an IPv4 or IPv6 address") from None


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _ascii_form_hint(text: str) -> str:
    try:
        ascii_form = text.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return "use the ASCII (xn--) form of the name"
    return f"use the ASCII (xn--) form of the name, {quoted(ascii_form)}"


def parse_hostname(text: str, *, allow_underscore: bool = False, what: str = "hostname") -> str:
    """A DNS name: ASCII letters, digits and hyphens (and `_` when allowed), lower-cased.

    One trailing dot is accepted and dropped. An IP address is refused: `what` names the thing
    the value should have been, for the message.
    """
    if text == "":
        raise BadValue(f"a {what} cannot be empty")
    if not text.isascii():
        raise BadValue(f"non-ASCII characters in a {what}: {_ascii_form_hint(text)}")
    if _looks_like_ip(text):
        raise BadValue(f"an IP address is not a {what}")
    name = text[:-1] if text.endswith(".") else text
    if name == "":
        raise BadValue(f"a {what} cannot be only a dot")
    if len(name) > MAX_HOSTNAME_LENGTH:
        raise BadValue(f"longer than {MAX_HOSTNAME_LENGTH} characters ({len(name)})")
    name = name.lower()
    labels = _checked_labels(name, allow_underscore=allow_underscore)
    if labels[-1].isdigit():
        raise BadValue("the last label cannot be all digits")
    return name


def _checked_labels(name: str, *, allow_underscore: bool) -> list[str]:
    label_pattern = _LDH_UNDERSCORE_LABEL if allow_underscore else _LDH_LABEL
    allowed = "letters, digits, hyphens" + (" and underscores" if allow_underscore else "")
    labels = name.split(".")
    for label in labels:
        if label == "":
            raise BadValue("empty label (two dots in a row, or a leading dot)")
        if len(label) > MAX_LABEL_LENGTH:
            raise BadValue(f"label {quoted(label)} is longer than {MAX_LABEL_LENGTH} characters")
        if label.startswith("-") or label.endswith("-"):
            raise BadValue(f"label {quoted(label)} starts or ends with a hyphen")
        if not label_pattern.fullmatch(label):
            raise BadValue(f"label {quoted(label)} may hold only {allowed}")
    return labels


def parse_mx_host(text: str) -> str:
    """An MX target: a hostname, never an IP address (MX records point at names)."""
    if _looks_like_ip(text):
        raise BadValue("MX targets must be names, not IP addresses")
    return parse_hostname(text)


def parse_dkim_selector(text: str) -> str:
    """A DKIM selector: one or more DNS labels (letters, digits, hyphens), lower-cased.

    All-digit selectors such as `20230601` are common and accepted.
    """
    if text == "":
        raise BadValue("a DKIM selector cannot be empty")
    if not text.isascii():
        raise BadValue(f"non-ASCII characters in a DKIM selector: {_ascii_form_hint(text)}")
    if len(text) > MAX_HOSTNAME_LENGTH:
        raise BadValue(f"longer than {MAX_HOSTNAME_LENGTH} characters ({len(text)})")
    name = text.lower()
    _checked_labels(name, allow_underscore=False)
    return name


def _split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[IPv6]`, `[IPv6]:port` or a bare IPv6 address -> (host, port or
    None); the host is not checked here. Raises BadValue for bad brackets or a bad port."""
    port_text: str | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise BadValue("missing ']' after the IPv6 address")
        if rest:
            if not rest.startswith(":"):
                raise BadValue("expected ':PORT' after ']'")
            port_text = rest[1:]
        if ":" not in host:
            raise BadValue("brackets are only for IPv6 addresses")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    if port_text is None:
        return host, None
    if not _PORT.fullmatch(port_text):
        raise BadValue(f"port {quoted(port_text)} is not a number from 1 to 65535")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise BadValue(f"port {port} is out of range 1-65535")
    return host, port


def parse_server_address(text: str, *, role: str = "a server address") -> ServerAddress:
    """`IP`, `IP:PORT`, `[IPv6]:PORT`, `[IPv6]` or a bare IPv6 address; port 1 to 65535."""
    host, port = _split_host_port(text)
    try:
        ip = parse_ip(host)
    except BadValue as error:
        if host and not _looks_like_ip(host) and re.fullmatch(r"[A-Za-z0-9_.-]+", host):
            raise BadValue(
                f"{role} must be an IP address: the system resolver is never used"
            ) from None
        raise error from None
    return ServerAddress(ip, 53 if port is None else port)


def parse_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port` -> (host, port or None).

    The host is a hostname (lower-cased) or a normalised IP address; a bare IPv6 address with
    no brackets is taken whole (it cannot carry a port)."""
    host, port = _split_host_port(text)
    if host == "":
        raise BadValue("expected a host name or an IP address before the port")
    try:
        return parse_ip(host), port
    except BadValue:
        if ":" in host:
            raise BadValue(f"{quoted(host)} is not an IPv6 address") from None
        return parse_hostname(host), port


def parse_url(text: str, *, schemes: tuple[str, ...], allow_credentials: bool = False) -> str:
    """An absolute URL with one of `schemes` and a host; returned unchanged."""
    if any(char.isspace() for char in text) or has_control_chars(text):
        raise BadValue("a URL cannot contain spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise BadValue(f"not a valid URL ({safe_text(str(error))})") from None
    scheme = parts.scheme.lower()
    wanted = " or ".join(schemes)
    if scheme not in schemes:
        found = f"{quoted(parts.scheme)}" if parts.scheme else "none"
        raise BadValue(f"the scheme must be {wanted}, found {found}")
    if not allow_credentials and "@" in parts.netloc:
        raise BadValue("credentials (user:password@) do not belong in a URL in the config")
    host = parts.hostname
    if not host:
        raise BadValue("the URL has no host")
    if port == 0:
        raise BadValue("port 0 is not a usable port")
    if not _looks_like_ip(host):
        try:
            parse_hostname(host, what="URL host")
        except BadValue as error:
            raise BadValue(f"bad host {quoted(host)}: {error}") from None
    return text


def parse_region_name(text: str) -> str:
    """A region or queue name: a letter or digit, then up to 39 letters, digits, `_`, `.`, `-`."""
    if not REGION_NAME.fullmatch(text):
        raise BadValue(
            "use 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return text


def parse_display_name(text: str) -> str:
    """Free text for display (resolver names, locations, authors): 1 to 60 printable chars."""
    if text.strip() == "":
        raise BadValue("cannot be empty")
    if has_control_chars(text):
        raise BadValue("control characters are not allowed")
    if len(text) > 60:
        raise BadValue(f"longer than 60 characters ({len(text)})")
    return text


def parse_record_type(text: str) -> str:
    """A DNS record type from `RECORD_TYPES`, any case; returned upper-case."""
    upper = text.upper()
    if upper not in RECORD_TYPES:
        raise BadValue(f"not one of {', '.join(RECORD_TYPES)}")
    return upper


def parse_metric_name(text: str) -> str:
    """A Prometheus metric name."""
    if not _METRIC_NAME.fullmatch(text):
        raise BadValue("a metric name holds letters, digits, '_' and ':', and starts with no digit")
    return text


def parse_label_name(text: str) -> str:
    """A Prometheus label name."""
    if not _LABEL_NAME.fullmatch(text):
        raise BadValue("a label name holds letters, digits and '_', not starting with a digit")
    return text


def parse_plain_text(text: str) -> str:
    """Any non-empty string without control characters."""
    if text == "":
        raise BadValue("cannot be empty")
    if has_control_chars(text):
        raise BadValue("control characters are not allowed")
    return text


_ATEXT_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64


def parse_address(text: str) -> str:
    """A mail address `local@domain` (RFC 5321 dot-atom local part, a DNS domain), as a canary
    sends to or from it: the domain is lower-cased, the local part kept as written."""
    if text == "":
        raise BadValue("an address cannot be empty")
    if "<" in text or ">" in text:
        raise BadValue('write the bare address (local@domain), without "<...>" or a name')
    if has_control_chars(text) or any(char.isspace() for char in text):
        raise BadValue("spaces and control characters are not allowed in an address")
    if not text.isascii():
        raise BadValue("non-ASCII characters: write the domain in its xn-- form")
    local, at, domain = text.rpartition("@")
    if not at or local == "":
        raise BadValue("expected local@domain")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise BadValue(f"longer than {MAX_ADDRESS_LENGTH} characters ({len(text)})")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise BadValue(f"the part before @ is longer than {MAX_LOCAL_PART_LENGTH} characters")
    if not _ATEXT_LOCAL.fullmatch(local):
        raise BadValue(
            "the part before @ may hold letters, digits, dots (not first, last or doubled) "
            "and !#$%&'*+/=?^_`{|}~-"
        )
    try:
        host = parse_hostname(domain, what="mail domain")
    except BadValue as error:
        raise BadValue(f"bad domain {quoted(domain)}: {error}") from None
    return f"{local}@{host}"


def parse_env_name(text: str) -> str:
    """An environment variable name: a letter or `_`, then letters, digits and `_`."""
    if not _ENV_NAME.fullmatch(text):
        raise BadValue(
            "an environment variable name holds letters, digits and '_' (at most 128), "
            "not starting with a digit"
        )
    return text


def parse_mailbox_name(text: str) -> str:
    """An IMAP mailbox (folder) name as the user sees it: 1 to 200 characters, no control
    characters (non-ASCII is sent in IMAP's modified UTF-7)."""
    if text.strip() == "":
        raise BadValue("a folder name cannot be empty")
    if has_control_chars(text):
        raise BadValue("control characters are not allowed")
    if len(text) > 200:
        raise BadValue(f"longer than 200 characters ({len(text)})")
    return text


def parse_authserv_id(text: str) -> str:
    """An Authentication-Results authserv-id (RFC 8601), usually the receiver's host name:
    1 to 255 printable ASCII characters without spaces, ';', '(' or ')'; lower-cased."""
    if text == "" or len(text) > 255:
        raise BadValue("expected 1 to 255 characters")
    if not text.isascii() or has_control_chars(text) or any(c in " ;()\"" for c in text):
        raise BadValue("printable ASCII without spaces, quotes, ';' or parentheses")
    return text.lower()


def is_loopback_ip(host: str) -> bool:
    """True for an IP literal in 127.0.0.0/8 or ::1 (never for a name: names can move)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
