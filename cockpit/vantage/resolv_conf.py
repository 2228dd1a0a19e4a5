"""The nameservers of a remote /etc/resolv.conf, read from its text (pure, no I/O).

    nameservers("nameserver 10.1.0.53\\nnameserver fe80::1%eth0\\n")
    -> ("10.1.0.53", "fe80::1%eth0")

The text comes from another host and is untrusted: only `nameserver ADDRESS` lines count, each
address must parse as an IP address (the system resolver of this host is never involved), and
input, line length and the number of addresses kept are bounded. Comments start with "#" or
";" at the start of a line or after the address (glibc reads the same). A link-local IPv6
address keeps its "%interface" scope when the interface name is a plain one (dig, which runs on
that host, needs it to reach the address); a scope on any other address, or an odd interface
name, is dropped. Duplicates are kept once, in file order.
"""

from __future__ import annotations

import ipaddress
import re

MAX_NAMESERVERS = 8
"""At most this many nameservers are kept (glibc itself uses the first 3)."""
MAX_INPUT_CHARS = 64 * 1024
"""Only the start of the text is read: a resolv.conf is a few hundred bytes."""
MAX_LINE_CHARS = 1024
"""A longer line is no nameserver line."""

_INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
"""A Linux interface name (IFNAMSIZ is 16 with the NUL)."""


def _address(text: str) -> str | None:
    """A nameserver address in canonical form, or None when it is not an IP address."""
    host, _, scope = text.partition("%")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local and _INTERFACE.fullmatch(scope):
        return f"{ip.compressed}%{scope}"
    return ip.compressed


def nameserver_of(line: str) -> str | None:
    """The address of one `nameserver` line, or None for any other line."""
    if len(line) > MAX_LINE_CHARS:
        return None
    words = line.split()
    if len(words) < 2 or words[0] != "nameserver":
        return None
    address = words[1]
    for mark in ("#", ";"):
        address = address.split(mark, 1)[0]
    return _address(address) if address else None


def nameservers(text: str, limit: int = MAX_NAMESERVERS) -> tuple[str, ...]:
    """The addresses of the `nameserver` lines of `text`, in order, without duplicates,
    at most `limit` of them (see the module docstring)."""
    found: list[str] = []
    for line in text[:MAX_INPUT_CHARS].splitlines():
        address = nameserver_of(line.strip())
        if address is not None and address not in found:
            found.append(address)
            if len(found) >= limit:
                break
    return tuple(found)
