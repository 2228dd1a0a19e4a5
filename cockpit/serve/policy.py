"""Who may see the served cockpit: pure checks, no aiohttp.

A browser gets in only with all of these:

    bind     127.0.0.1 (or another loopback address) unless --allow-remote
    Host     one of the host:port forms this server answers to (DNS-rebinding defence)
    token    `?token=` on the first page load, then an HttpOnly SameSite=Strict cookie;
             compared in constant time
    Origin   on /ws exactly one of the served origins; a missing Origin is refused
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from cockpit.errors import UsageError

TOKEN_BYTES = 32
LOOPBACK_NAMES = ("localhost",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(offered: str | None, token: str) -> bool:
    """True when `offered` is the token (constant time; None and "" never match)."""
    if not offered:
        return False
    return hmac.compare_digest(offered.encode("utf-8", "replace"), token.encode("utf-8"))


def parse_bind_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to bind; a name other than `localhost` is refused (bind what you mean)."""
    text = host.strip()
    if text.lower() in LOOPBACK_NAMES:
        return ipaddress.ip_address("127.0.0.1")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(
            f"--host {host}: give an IP address to bind, such as 127.0.0.1 or ::1"
        ) from None


def check_bind(host: str, allow_remote: bool) -> str:
    """The bind address as a string; UsageError for a non-loopback one without --allow-remote."""
    address = parse_bind_host(host)
    if not address.is_loopback and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address: anyone who can reach it could try the"
            " cockpit. Use an SSH tunnel (see `cockpit serve --help`), or pass --allow-remote"
            " to serve it there anyway (the token is still required)"
        )
    return str(address)


def _bracketed(host: str) -> str:
    """`host` as written in a URL or Host header: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _host_port(host: str, port: int, default_port: int | None = None) -> list[str]:
    """The Host-header spellings of host:port (IPv6 in brackets; bare host on the default)."""
    name = _bracketed(host)
    forms = [f"{name}:{port}"]
    if default_port is not None and port == default_port:
        forms.append(name)
    return forms


@dataclass(frozen=True)
class PublicUrl:
    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> str:
        name = _bracketed(self.host)
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{name}"
        return f"{self.scheme}://{name}:{self.port}"


def parse_public_url(url: str) -> PublicUrl:
    """--public-url: http(s)://HOST[:PORT][/], nothing else (no user, path, query)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError(f"--public-url {url}: not a URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UsageError(
            f"--public-url {url}: give http://HOST[:PORT] or https://HOST[:PORT],"
            " the address browsers use"
        )
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise UsageError(
            f"--public-url {url}: only scheme, host and port (serving under a path is not"
            " supported)"
        )
    return PublicUrl(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


@dataclass(frozen=True)
class Access:
    """What this server answers to, once the port is known."""

    bind_host: str
    port: int
    token: str
    public: PublicUrl | None = None

    @property
    def cookie_name(self) -> str:
        # Cookies ignore ports: one name per port keeps two servers on one host apart.
        return f"cockpit_serve_{self.port}"

    def _served(self) -> list[PublicUrl]:
        """Every (scheme, host, port) a browser may use."""
        address = ipaddress.ip_address(self.bind_host)
        served: list[PublicUrl] = []
        if address.version == 6:
            if address.is_loopback or address.is_unspecified:
                served.append(PublicUrl("http", "::1", self.port))
            if address.is_unspecified:
                served.append(PublicUrl("http", "127.0.0.1", self.port))
        elif address.is_loopback or address.is_unspecified:
            served.append(PublicUrl("http", "127.0.0.1", self.port))
        if not (address.is_loopback or address.is_unspecified):
            served.append(PublicUrl("http", str(address), self.port))
        if address.is_loopback or address.is_unspecified:
            served.append(PublicUrl("http", "localhost", self.port))
        if self.public is not None:
            served.append(self.public)
        return served

    # Computed once: the fields are frozen, and every request checks Host (and /ws Origin).
    @cached_property
    def hosts(self) -> frozenset[str]:
        forms: set[str] = set()
        for url in self._served():
            forms.update(_host_port(url.host, url.port, _DEFAULT_PORTS[url.scheme]))
        return frozenset(forms)

    @cached_property
    def origins(self) -> frozenset[str]:
        return frozenset(url.origin for url in self._served())

    def host_allowed(self, host: str | None) -> bool:
        return bool(host) and host.strip().lower() in self.hosts

    def origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and origin.strip().lower() in self.origins

    def is_public_host(self, host: str) -> bool:
        if self.public is None:
            return False
        return host.strip().lower() in _host_port(
            self.public.host, self.public.port, _DEFAULT_PORTS[self.public.scheme]
        )

    @property
    def base_url(self) -> str:
        """Where the user should point a browser (without the token)."""
        if self.public is not None:
            return self.public.origin
        first = self._served()[0]
        return f"{first.scheme}://{_bracketed(first.host)}:{first.port}"

    @property
    def open_url(self) -> str:
        return f"{self.base_url}/?token={self.token}"
