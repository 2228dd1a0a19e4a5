"""The public resolvers swept when the config names no [[dns.resolver]].

Well-known operators on several independent networks, so that one operator's cache does not
decide what "the internet sees". All of them are anycast: the location is where the answer comes
from for the operator of this tool, which for anycast is "the nearest site".
AdGuard and Control D are their unfiltered services; Quad9 9.9.9.9 blocks known-malicious names,
which does not affect an ordinary mail domain.
"""

from __future__ import annotations

from cockpit.config.model import Resolver, ServerAddress


def _anycast(name: str, ip: str) -> Resolver:
    return Resolver(name=name, address=ServerAddress(ip), location="anycast")


BUILTIN_RESOLVERS: tuple[Resolver, ...] = (
    _anycast("Cloudflare 1", "1.1.1.1"),
    _anycast("Cloudflare 2", "1.0.0.1"),
    _anycast("Google 1", "8.8.8.8"),
    _anycast("Google 2", "8.8.4.4"),
    _anycast("Quad9 1", "9.9.9.9"),
    _anycast("Quad9 2", "149.112.112.112"),
    _anycast("Cisco OpenDNS 1", "208.67.222.222"),
    _anycast("Cisco OpenDNS 2", "208.67.220.220"),
    _anycast("AdGuard unfiltered", "94.140.14.140"),
    _anycast("Control D unfiltered", "76.76.2.0"),
)
"""Ten public resolvers, two per large operator; names are unique."""
