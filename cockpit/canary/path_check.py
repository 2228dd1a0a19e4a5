"""Which hosts handled the canary, and whether they belong to the region it was sent through.

    where = PathContext.of(direction, region, config.regions, handed_to=..., handed_ip=...)
    hop = receiving_hop(hops, where)        # the hop SPF is judged on (None: not found)
    verdict = judge_path(hops, where)       # the `path` Verdict

Pure. Hops come from Received headers, newest first (received.py). A region is known by its
names (MX hosts and HELO name) and its sending IPs.

inbound   The cockpit writes no Received header, so the oldest hop is the one that took the
          message from the cockpit: its `by` must be one of the region's names, the MX host
          the cockpit handed it to, or the name that host gave itself in its EHLO reply.
outbound  The hop that received it from the region: above the newest hop written by the region
          (its `by` one of the region's names, the submission host, or the name that host gave
          itself in its EHLO reply), or else the newest hop
          whose sender is the region. It is expected when its recorded IP is one of the region's
          sending IPs, or its `from`/HELO name one of the region's names (a region that lists
          neither is judged by the `by` names alone).

Any hop naming a host or sending IP of another region is unexpected too (mail that still flows
through the old region). A path that is not as expected `warn`s, naming the hosts; a message
with no Received header at all is `unknown` (nothing to follow).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cockpit.canary.headers import shown
from cockpit.canary.received import Hop
from cockpit.canary.verdict import Verdict
from cockpit.config.model import Region
from cockpit.model import Status

__all__ = ["PathContext", "judge_path", "receiving_hop"]


def _names(values: Iterable[str | None]) -> frozenset[str]:
    return frozenset(value.rstrip(".").lower() for value in values if value)


@dataclass(frozen=True, slots=True)
class PathContext:
    """What the path is judged against."""

    direction: str
    region: str
    region_names: frozenset[str]
    region_ips: frozenset[str]
    other_names: frozenset[str]
    other_ips: frozenset[str]
    handed_to: str | None = None
    """The host the cockpit handed the message to (an MX host, or the submission host)."""
    by_names_only: bool = False
    """The region lists no sending IP and no HELO name: its outbound boundary is judged by the
    `by` names of its own hops alone."""
    own_ip: str | None = None
    """The cockpit's own source address: a hop from it is never named as the way out."""
    server_name: str | None = None
    """The name the host the cockpit handed the message to gave itself (EHLO): it writes that
    name as `by`, which may differ from the name the cockpit connected to."""

    @classmethod
    def of(
        cls,
        direction: str,
        region: Region,
        regions: Sequence[Region],
        *,
        handed_to: str | None = None,
        own_ip: str | None = None,
        server_name: str | None = None,
    ) -> PathContext:
        names = _names([*region.mx, region.helo])
        ips = frozenset(region.sending_ips)
        others = [other for other in regions if other.name != region.name]
        other_names = _names(name for other in others for name in (*other.mx, other.helo)) - names
        other_ips = frozenset(ip for other in others for ip in other.sending_ips) - ips
        return cls(
            direction,
            region.name,
            names,
            ips,
            other_names,
            other_ips,
            None if handed_to is None else handed_to.rstrip(".").lower(),
            not region.sending_ips and region.helo is None,
            own_ip,
            None if server_name is None else server_name.rstrip(".").lower(),
        )

    @property
    def by_names(self) -> frozenset[str]:
        """Names the region's own hops are written by."""
        return self.region_names | _names([self.handed_to, self.server_name])


def _boundary(hops: Sequence[Hop], where: PathContext) -> tuple[Hop | None, bool]:
    """(the hop that received the message from the region, found through a `by` name)."""
    for index, hop in enumerate(hops):
        if hop.by in where.by_names:
            return (hops[index - 1], True) if index > 0 else (None, True)
    for hop in hops:
        if hop.ip in where.region_ips or _sender_names(hop) & where.region_names:
            return hop, False
    return None, False


def _sender_names(hop: Hop) -> frozenset[str]:
    return _names([hop.from_name, hop.helo])


def receiving_hop(hops: Sequence[Hop], where: PathContext) -> Hop | None:
    """The hop whose recorded sender SPF is judged on (see the module docstring)."""
    if not hops:
        return None
    if where.direction == "inbound":
        return hops[-1]
    return _boundary(hops, where)[0]


def _foreign(hop: Hop, where: PathContext) -> list[str]:
    """What in `hop` belongs to another region."""
    seen = []
    if hop.by in where.other_names:
        seen.append(shown(hop.by or "", 80))
    if _sender_names(hop) & where.other_names or hop.ip in where.other_ips:
        seen.append(hop.describe())
    return seen


def judge_path(hops: Sequence[Hop], where: PathContext) -> Verdict:
    """The `path` verdict (see the module docstring)."""
    data = {
        "hops": [hop.to_data() for hop in hops],
        "expected": False,
        "matched": [],
        "unexpected": [],
    }
    region = shown(where.region, 60)
    if not hops:
        return Verdict(
            Status.UNKNOWN,
            "the delivered message has no Received header: its path cannot be followed",
            "path unknown (no Received header)",
            data,
        )
    matched: list[str] = []
    unexpected: list[str] = []
    if where.direction == "inbound":
        first = hops[-1]
        if first.by is not None and first.by in where.by_names:
            matched.append(shown(first.by, 80))
        else:
            unexpected.append(shown(first.by or "?", 80))
    else:
        hop, through_by = _boundary(hops, where)
        if hop is not None and (
            hop.ip in where.region_ips
            or _sender_names(hop) & where.region_names
            or (through_by and where.by_names_only)
        ):
            matched.append(hop.describe())
        elif hop is not None:
            unexpected.append(hop.describe())
        else:
            senders = [h for h in hops if (h.from_name or h.ip) and h.ip != where.own_ip]
            unexpected += [h.describe() for h in senders][:3] or ["?"]
    for hop in hops:
        for name in _foreign(hop, where):
            if name not in unexpected:
                unexpected.append(name)
    data["matched"], data["unexpected"] = matched, unexpected[:10]
    data["expected"] = bool(matched) and not unexpected
    if data["expected"]:
        via = ", ".join(matched)
        return Verdict(Status.OK, f"through {via} (region {region})", f"via {via}", data)
    named = ", ".join(unexpected[:5])
    if where.direction == "inbound" and not matched:
        summary = f"taken in by {named}, not an MX host of region {region}"
    elif not matched:
        summary = f"left through {named}, not a host of region {region}"
    else:
        summary = f"through {', '.join(matched)} but also {named} (not region {region})"
    return Verdict(Status.WARN, f"unexpected path: {summary}", f"unexpected path ({named})", data)
