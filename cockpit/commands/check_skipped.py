"""The checks `cockpit check` did not run, each with the reason: a skipped check is listed, never
left out, so a short table is not mistaken for a clean one.

Skipped are: an auth check named in `[auth] skip` (per region); webmail and idp in a region
with no `webmail_url` / `idp_url`; queue, replication and authority in a region with no source
of that kind; canaries when not asked for by name (they send real mail) or when none is
configured. Only areas that were asked for are listed (a plain `cockpit check` also lists the
canaries it left out). Skipped checks never change the exit status: nothing was looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.config import Config

SKIPPED = "skipped"
"""The status word of a skipped check, in the table and the JSON."""


@dataclass(frozen=True, slots=True)
class SkippedCheck:
    area: str
    check: str
    region: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "area": self.area,
            "check": self.check,
            "region": self.region,
            "status": SKIPPED,
            "reason": self.reason,
        }


_SOURCE_AREAS = (
    # area, check (as its findings name it), Region attribute, the table to add
    ("queue", "depth", "queues", "[[region.queue]]"),
    ("replication", "lag", "replication", "[[region.replication]]"),
    ("authority", "role", "roles", "[[region.role]]"),
)


def skipped_checks(
    config: Config, shown: tuple[str, ...], *, canary_asked: bool, default_run: bool
) -> list[SkippedCheck]:
    """The checks of the `shown` areas that were not run, in area then region order."""
    skipped: list[SkippedCheck] = []
    if "auth" in shown:
        skipped.extend(_auth_skipped(config))
    for area, check, attribute, table in _SOURCE_AREAS:
        if area not in shown:
            continue
        for region in config.regions:
            if not getattr(region, attribute):
                reason = f"region {region.name} has no {table}"
                skipped.append(SkippedCheck(area, check, region.name, reason))
    if not canary_asked and default_run:
        reason = (
            "sends real mail: runs only with --only canary"
            if config.canaries
            else "no [[canary]] is configured"
        )
        skipped.append(SkippedCheck("canary", "canary", None, reason))
    return skipped


def _auth_skipped(config: Config) -> list[SkippedCheck]:
    from cockpit.config.model import AUTH_CHECK_NAMES

    listed = set(config.auth.skip)
    skipped: list[SkippedCheck] = []
    for region in config.regions:
        for name in AUTH_CHECK_NAMES:
            if name in listed:
                reason = "named in [auth] skip"
            elif name == "webmail" and region.webmail_url is None:
                reason = f"region {region.name} has no webmail_url"
            elif name == "idp" and region.idp_url is None:
                reason = f"region {region.name} has no idp_url"
            else:
                continue
            skipped.append(SkippedCheck("auth", name, region.name, reason))
    return skipped
