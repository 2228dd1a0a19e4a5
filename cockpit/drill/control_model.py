"""The drill's control planes: each region's role and its replication lag, by the world's clock.

The first region is the primary at start, and every other region a standby replicating from it.

Lag (seconds a region's copy of the mail data is behind):
  - a region that is down does not answer (None);
  - the acting primary is behind nothing: 0;
  - a standby whose source is healthy trails it by BASE_LAG_S;
  - a standby whose source failed at `t` has applied nothing since: BASE_LAG_S + (now - t),
    growing by one a second;
  - a region promoted by `switch` keeps the lag it had at that moment, for good: the data at
    risk of the failover, which the cockpit reads as the RPO.

Role:
  - a region that is down does not answer (None): its control plane is dead;
  - before any switch the first region says "primary" and the others "standby";
  - `switch(region)` takes ROLE_SWITCH_DELAY seconds to settle: the promoted region says
    "standby" until then and "primary" after, and the old primary, if it still answers,
    "standby" from then on.

Pure: no I/O, no threads; the world holds the lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BASE_LAG_S = 1.5
"""How far a standby trails a healthy primary: a second or two."""
ROLE_SWITCH_DELAY = 8.0
"""Seconds of the world's clock between a switch and the new primary saying so."""
PRIMARY = "primary"
STANDBY = "standby"


@dataclass(frozen=True, slots=True)
class _Promotion:
    region: str
    at: float
    frozen_lag: float


class ControlModel:
    def __init__(self, regions: Iterable[str]) -> None:
        self._regions = tuple(regions)
        if not self._regions:
            raise ValueError("a control model needs at least one region")
        self._source = self._regions[0]
        self._failed_at: dict[str, float] = {}
        self._promotion: _Promotion | None = None

    def fail(self, region: str, now: float) -> None:
        """`region` is down from `now` (a second failure keeps the first moment)."""
        self._failed_at.setdefault(region, now)

    def switch(self, region: str, now: float) -> None:
        """The operator fails over to `region` at `now`; back to the first region undoes it."""
        if region == self._source:
            self._promotion = None
            return
        if self._promotion is not None and self._promotion.region == region:
            return
        self._promotion = _Promotion(region, now, self._standby_lag(now))

    def lag(self, region: str, now: float) -> float | None:
        """Seconds `region` is behind at `now`; None when its source does not answer."""
        if region not in self._regions or region in self._failed_at:
            return None
        promotion = self._promotion
        if promotion is not None and promotion.region == region:
            return round(promotion.frozen_lag, 1)
        if region == self._source:
            return 0.0
        return round(self._standby_lag(now), 1)

    def role(self, region: str, now: float) -> str | None:
        """The role `region`'s control plane claims at `now`; None when it does not answer."""
        if region not in self._regions or region in self._failed_at:
            return None
        promotion = self._promotion
        settled = promotion is not None and now >= promotion.at + ROLE_SWITCH_DELAY
        if promotion is not None and settled:
            return PRIMARY if region == promotion.region else STANDBY
        return PRIMARY if region == self._source else STANDBY

    def _standby_lag(self, now: float) -> float:
        failed_at = self._failed_at.get(self._source)
        if failed_at is None:
            return BASE_LAG_S
        return BASE_LAG_S + max(0.0, now - failed_at)
