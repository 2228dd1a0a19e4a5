"""A tick that sets a phase and its phase are one write: both land or neither does.

The failure is real: a forked child writes under RLIMIT_FSIZE set between the tick's line and
the phase's (the kernel gives a short write, then EFBIG: tests/full_disk.py), as
tests/test_log.py does for one entry. Before, the tick was written on its own and the phase
failed after it: the log kept a tick whose phase was never set, and ticking again only said
"already done".
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cockpit.incident.checklist import checklist_state
from cockpit.incident.entry import format_ts
from cockpit.incident.log import IncidentLog
from cockpit.incident.phases import effective_phases
from cockpit.incident.runbook import BUILTIN_STEPS
from cockpit.ui.checklist_write import write_step
from tests.full_disk import refused_over_size_limit

ORIGIN = {"host": "test", "pid": "1"}


def _started(path: Path) -> IncidentLog:
    log = IncidentLog(path)
    log.append("decision", "fail over", {"target_region": "secondary"}, author="bob", origin=ORIGIN)
    return log


def test_the_tick_and_its_phase_share_one_write_and_one_time(tmp_path: Path) -> None:
    log = _started(tmp_path / "inc.jsonl")
    tick, phase = write_step(log, BUILTIN_STEPS, "alice", "cutover", "done", "")
    assert (tick.kind, tick.data["result"], tick.seq) == ("check", "done", 2)
    assert (phase.kind, phase.data["phase"], phase.seq) == ("phase", "routed", 3)
    assert phase.data["at"] == format_ts(tick.ts) and phase.ts == tick.ts
    assert phase.data["step"] == "cutover"
    # Ticked again (by someone else): "already done", and the phase is left as it is.
    [again] = write_step(log, BUILTIN_STEPS, "carol", "cutover", "done", "")
    assert again.data["result"] == "already-done"
    assert effective_phases(log.read().entries).at("routed") == tick.ts


def test_a_write_that_fails_between_the_tick_and_its_phase_leaves_neither(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inc.jsonl"
    _started(path)
    before = path.read_bytes()
    # How long the two lines are: the same tick on a copy of the log.
    copy = tmp_path / "copy.jsonl"
    shutil.copyfile(path, copy)
    tick, phase = write_step(IncidentLog(copy), BUILTIN_STEPS, "alice", "cutover", "done", "")
    tick_line, phase_line = (entry.to_json_line() for entry in (tick, phase))
    assert copy.read_bytes() == before + tick_line + phase_line
    # Room for the tick's line and half the phase's.
    message = refused_over_size_limit(
        len(before) + len(tick_line) + len(phase_line) // 2,
        lambda: write_step(IncidentLog(path), BUILTIN_STEPS, "alice", "cutover", "done", ""),
    )
    assert "could not write the entry (File too large)" in message, message
    assert "the file is as it was before" in message
    assert path.read_bytes() == before
    # Nothing half done: the tick is open, the phase unset, and ticking again writes both.
    log = IncidentLog(path)
    assert checklist_state(BUILTIN_STEPS, log.read().entries)["cutover"].status == "open"
    tick, phase = write_step(log, BUILTIN_STEPS, "alice", "cutover", "done", "")
    assert tick.data["result"] == "done" and phase.data["phase"] == "routed"
    assert log.read().problems == []
