"""What the screen and the checklist know of the canaries: the latest run of each, and a short
history of its round-trip times. Pure: the probe runner hands results in, nothing here does I/O.

    board = CanaryBoard()
    previous = board.took("eu-in", findings)     # that canary's findings of its previous run
    board.findings()                             # the latest findings of every canary
    board.rows()                                 # one CanaryRow per canary, in first-seen order

A run's findings follow the contract of cockpit.canary (area "canary"; check "inbound" or
"outbound" for the run itself, plus "dkim", "spf", "dmarc" and "path" once the message
arrived, and "late" for each earlier message found to have come after its run gave up). A run
that never arrived has no verdicts: its row shows none, never an old run's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cockpit.model import Finding, Status

__all__ = ["DIRECTIONS", "HISTORY", "VERDICTS", "CanaryBoard", "CanaryRow", "round_trip"]

DIRECTIONS = ("inbound", "outbound")
VERDICTS = ("dkim", "spf", "dmarc", "path")
HISTORY = 12
"""Round-trip times kept per canary for the screen's small history."""


def round_trip(finding: Finding) -> float | None:
    """The run's round-trip seconds, when the message arrived."""
    value = finding.data.get("round_trip_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


@dataclass(frozen=True, slots=True)
class CanaryRow:
    """One canary's latest run, as the screen shows it."""

    name: str
    direction: str
    region: str | None
    status: Status
    summary: str
    round_trip_s: float | None
    folder: str | None
    verdicts: tuple[tuple[str, Status | None], ...]
    """(check, status) for dkim, spf, dmarc and path; None: not judged in this run."""
    observed_at: datetime | None
    history: tuple[float | None, ...]
    """The last HISTORY runs' round trips, oldest first; None: that run did not arrive."""
    late: int = 0
    """Earlier messages this run found had arrived after their runs gave up (check "late")."""


class CanaryBoard:
    """The latest findings of every canary; see the module docstring."""

    def __init__(self) -> None:
        self._latest: dict[str, list[Finding]] = {}
        self._history: dict[str, deque[float | None]] = {}

    def took(self, name: str, findings: Sequence[Finding]) -> list[Finding] | None:
        """Keep one run of canary `name`; its previous run's findings (None: its first run)."""
        previous = self._latest.get(name)
        self._latest[name] = list(findings)
        run = _run_finding(findings)
        if run is not None:
            history = self._history.setdefault(name, deque(maxlen=HISTORY))
            history.append(round_trip(run))
        return previous

    def latest(self) -> dict[str, list[Finding]]:
        """Every canary's latest run, by name."""
        return {name: list(findings) for name, findings in self._latest.items()}

    def findings(self) -> list[Finding]:
        return [finding for findings in self._latest.values() for finding in findings]

    def rows(self) -> list[CanaryRow]:
        rows: list[CanaryRow] = []
        for name, findings in self._latest.items():
            run = _run_finding(findings)
            if run is None:
                continue
            by_check = {finding.check: finding.status for finding in findings}
            folder = run.data.get("folder")
            rows.append(
                CanaryRow(
                    name=name,
                    direction=run.check,
                    region=run.region,
                    status=run.status,
                    summary=run.summary,
                    round_trip_s=round_trip(run),
                    folder=folder if isinstance(folder, str) else None,
                    verdicts=tuple((check, by_check.get(check)) for check in VERDICTS),
                    observed_at=run.observed_at,
                    history=tuple(self._history.get(name, ())),
                    late=sum(1 for finding in findings if finding.check == "late"),
                )
            )
        return rows


def _run_finding(findings: Sequence[Finding]) -> Finding | None:
    """The run's own finding (check inbound or outbound)."""
    return next((finding for finding in findings if finding.check in DIRECTIONS), None)
