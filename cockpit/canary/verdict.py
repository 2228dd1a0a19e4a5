"""A canary run's verdicts and how they combine into the run's own status. Pure.

Each check of the delivered message (dkim, spf, dmarc, path) gives a `Verdict`: its status, a
summary for its own finding, a `brief` for the run's summary ("SPF pass") and its data.
`run_status` combines them with what happened before (the table is the issue's rule):

    fail      refused at SMTP; not arrived within the timeout; dkim, spf or dmarc fail
    unknown   the cockpit could not try (a password missing, IMAP down, DNS could not tell
              which MX or submission host to use)
    warn      slower than warn_s; found in a Junk folder; an unexpected path; a verdict that
              warns; more than one copy; a message too large to read
    unknown   a verdict that could not tell (a key lookup that timed out): the delivery worked
              but "aligned" was not seen
    ok        otherwise

The first matching row wins, so a run that was slow and whose DKIM key could not be looked up
is `warn` (what is known to be wrong is said first), and every reason is kept, worst first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cockpit.model import Status

__all__ = ["VERDICT_CHECKS", "RunFacts", "Verdict", "run_status"]

VERDICT_CHECKS = ("dkim", "spf", "dmarc", "path")
"""The checks of a delivered message, in the order their findings are given."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check of the delivered message."""

    status: Status
    summary: str
    """For the check's own finding (already cleaned)."""
    brief: str
    """A few words for the run's summary: "DKIM pass (example.test, aligned)"."""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What one run saw, as `run_status` needs it."""

    could_not_try: str | None = None
    """Why the cockpit could not try (None: it tried)."""
    refused: str | None = None
    """The SMTP refusal, or why no server accepted the message."""
    not_arrived: str | None = None
    """Why the message is taken as lost ("not arrived within 120 s")."""
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    round_trip_s: float | None = None
    warn_s: float = 60.0
    junk_folder: str | None = None
    """The Junk folder it was found in (None: not in a Junk folder)."""
    copies: int = 1
    oversize: str | None = None
    """Why the message was not read (too large), or None."""


def run_status(facts: RunFacts) -> tuple[Status, list[str]]:
    """The run's status and its reasons, worst first (see the module docstring)."""
    fails: list[str] = []
    if facts.refused:
        fails.append(facts.refused)
    if facts.not_arrived:
        fails.append(facts.not_arrived)
    verdicts = [facts.verdicts[name] for name in VERDICT_CHECKS if name in facts.verdicts]
    fails += [v.brief for v in verdicts if v.status is Status.FAIL]
    warns: list[str] = []
    if facts.round_trip_s is not None and facts.round_trip_s > facts.warn_s:
        warns.append(f"slow: {facts.round_trip_s:.1f} s, over warn_s {facts.warn_s:g} s")
    if facts.junk_folder is not None:
        warns.append(f"delivered to the Junk folder {facts.junk_folder}")
    if facts.copies > 1:
        warns.append(f"{facts.copies} copies arrived")
    if facts.oversize:
        warns.append(facts.oversize)
    warns += [v.brief for v in verdicts if v.status is Status.WARN]
    unknowns = [v.brief for v in verdicts if v.status is Status.UNKNOWN]
    cannot = [facts.could_not_try] if facts.could_not_try else []
    if fails:
        return Status.FAIL, fails + cannot + warns + unknowns
    if cannot:
        return Status.UNKNOWN, cannot + warns + unknowns
    if warns:
        return Status.WARN, warns + unknowns
    if unknowns:
        return Status.UNKNOWN, unknowns
    return Status.OK, []
