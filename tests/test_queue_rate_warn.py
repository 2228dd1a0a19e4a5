"""A growing queue is at least a warning: `rate_warn`, else growing for 3 samples in a row."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from cockpit.compat import UTC
from cockpit.config import ConfigError, load_config_text
from cockpit.config.model import QueueSource
from cockpit.model import Status
from cockpit.queue.findings import finding_for
from cockpit.queue.history import GROWING_SAMPLES, Level, QueueHistory, TrendKind
from cockpit.queue.sample import QueueSample, Reading

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def source(**overrides: object) -> QueueSource:
    settings: dict[str, object] = {"name": "mx1", "kind": "command", "command": ("true",)}
    settings.update(overrides)
    return QueueSource(**settings)  # type: ignore[arg-type]


def good(seconds: float, total: int) -> Reading:
    at = T0 + timedelta(seconds=seconds)
    sample = QueueSample(
        source="mx1",
        at=at,
        total=total,
        by_queue=MappingProxyType({}),
        oldest_age_s=None,
        deferral_reasons=(),
    )
    return Reading("mx1", at, sample)


def history_of(totals: list[int | None], **overrides: object) -> QueueHistory:
    """One reading every 15 s; None is a failed read."""
    history = QueueHistory(source(**overrides), "primary")
    for step, total in enumerate(totals):
        if total is None:
            at = T0 + timedelta(seconds=step * 15)
            history.add(Reading("mx1", at, None, "timed out"))
        else:
            history.add(good(step * 15, total))
    return history


def test_growing_for_three_samples_warns_whatever_the_depth() -> None:
    # +47/min: no depth threshold at all, and still not ok once it keeps growing.
    totals = [1000, 1012, 1024, 1035, 1047]
    for seen in range(1, GROWING_SAMPLES + 1):
        early = history_of(totals[:seen])
        assert early.status() is Status.OK, seen  # the trend said growing fewer than 3 times
    history = history_of(totals[: GROWING_SAMPLES + 1])
    assert history.growing_streak() == GROWING_SAMPLES
    state = history.state()
    assert (state.status, state.growth_level) == (Status.WARN, Level.WARN)
    assert state.reasons == ("growing +47/min for 3 samples in a row",)
    finding = finding_for(history.source, "primary", history, T0)
    assert finding.status is Status.WARN
    assert finding.summary.startswith("growing +47/min for 3 samples in a row - 1,035 messages")
    assert not finding.summary.startswith("ok")


def test_one_jittery_read_does_not_break_a_growing_trend() -> None:
    # 1,000 -> 1,150 with one read that missed messages: the least-squares trend still grows.
    assert history_of([1000, 1050, 1040, 1100, 1150]).status() is Status.WARN


@pytest.mark.parametrize(
    "totals",
    [
        [1000, 1000, 1000, 1000, 1000],  # steady
        [1000, 990, 980, 970, 960],  # draining
        [1000, 1010, 1020, 1020, 1020, 1020, 1020, 1020, 1020, 1020, 1020, 1020],  # stopped
        [0, 0, 0, 0],  # empty
    ],
)
def test_not_growing_is_not_a_warning(totals: list[int]) -> None:
    history = history_of(totals)
    assert history.status() is Status.OK and history.trend().kind is not TrendKind.GROWING


def test_growth_stops_warning_once_it_stops() -> None:
    growing = [100, 200, 300, 400, 500]
    assert history_of(growing).status() is Status.WARN
    # Flat for long enough that the 5-minute window no longer sees the climb.
    assert history_of(growing + [500] * 22).status() is Status.OK


def test_rate_warn_warns_at_the_rate_at_once() -> None:
    # 2 samples give a rate: +60/min is over rate_warn 50 straight away.
    history = history_of([100, 115], rate_warn=50.0)
    state = history.state()
    assert state.status is Status.WARN
    assert state.reasons == ("growing +60/min, at or over rate_warn 50/min",)


def test_rate_warn_replaces_the_three_samples_rule() -> None:
    # +48/min for 5 samples, under rate_warn 100: the user said this rate is fine.
    history = history_of([100, 112, 124, 136, 148], rate_warn=100.0)
    assert history.status() is Status.OK and history.trend().kind is TrendKind.GROWING


def test_growth_never_hides_a_worse_depth_and_is_never_crit() -> None:
    history = history_of([100, 200, 300, 400, 500], warn=150, crit=450)
    state = history.state()
    assert state.status is Status.FAIL and state.growth_level is Level.WARN
    assert any(reason.startswith("growing ") for reason in state.reasons)


def test_an_unknown_source_is_unknown_not_growing() -> None:
    history = history_of([100, 200, 300, 400, None])
    assert history.status() is Status.UNKNOWN and history.growing_streak() == 0


# --- the config key -----------------------------------------------------------------------------

CONFIG = """\
[domain]
name = "example.test"

[[region]]
name = "primary"
mx = ["mx1.example.test"]

[[region.queue]]
name = "mx1"
kind = "command"
command = ["true"]
{extra}

[[region]]
name = "secondary"
mx = ["mx2.example.test"]
"""


def test_rate_warn_is_read_from_the_config() -> None:
    config = load_config_text(CONFIG.format(extra="rate_warn = 20"))
    assert config.regions[0].queues[0].rate_warn == 20.0
    assert load_config_text(CONFIG.format(extra="")).regions[0].queues[0].rate_warn is None


@pytest.mark.parametrize("value", ['"fast"', "0", "-5", "true"])
def test_a_bad_rate_warn_names_the_key_and_what_was_expected(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG.format(extra=f"rate_warn = {value}"))
    [problem] = caught.value.problems
    assert problem.key_path == "region[0].queue[0].rate_warn"
    assert "a growth rate in messages per minute" in problem.message
    assert problem.line == 12


def test_the_example_config_documents_rate_warn() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "rate_warn" in text


def test_cockpit_check_warns_for_a_queue_over_rate_warn(tmp_path: Path) -> None:
    """A real `cockpit check` run: one sample gives no rate, so it stays ok; the JSON carries
    rate_warn for a monitor to read."""
    config = tmp_path / "cockpit.toml"
    config.write_text(
        CONFIG.format(extra="rate_warn = 20").replace('["true"]', '["echo", "7"]'),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "check", "--config", str(config), "--only", "queue"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    document = json.loads(done.stdout)
    [finding] = document["findings"]
    assert (done.returncode, finding["status"]) == (0, "ok"), done.stderr
    assert finding["data"]["rate_warn"] == 20.0


def _events(totals: list[int | None], **overrides: object) -> list[list[str]]:
    """The event kinds of each reading (one every 15 s; None is a failed read)."""
    from cockpit.queue.events import record

    history = QueueHistory(source(**overrides), "primary")
    kinds = []
    for step, total in enumerate(totals):
        at = T0 + timedelta(seconds=step * 15)
        reading = Reading("mx1", at, None, "timed out") if total is None else good(step * 15, total)
        kinds.append([event.kind for event in record(history, reading)])
    return kinds


def test_growing_too_long_and_stopping_are_logged_once_each() -> None:
    """The warning a growing queue gives is a state change like a depth crossing: it reaches
    the incident log when it starts and when it ends, once each."""
    from cockpit.queue.events import record

    kinds = _events([1000, 1012, 1024, 1035, 1047, 1060] + [1060] * 12)
    flat = [kind for step in kinds for kind in step]
    assert flat == ["growth_up", "growth_down"]
    assert kinds[GROWING_SAMPLES] == ["growth_up"]
    history = history_of([1000, 1012, 1024])
    (event,) = record(history, good(45, 1035))
    assert event.text == "mx1 queue growing +47/min for 3 samples in a row: 1,035 messages"
    assert (event.data["threshold"], event.data["before"], event.data["after"]) == (
        "growth",
        "ok",
        "warn",
    )
    assert event.data["rate_per_min"] == 46.8 and event.data["total"] == 1035


def test_past_rate_warn_is_logged_with_its_limit() -> None:
    from cockpit.queue.events import record

    history = history_of([1000], rate_warn=100)
    (event,) = record(history, good(15, 1100))
    assert event.kind == "growth_up" and event.data["limit"] == 100
    assert "at or over rate_warn" in event.text


def test_an_unknown_read_while_growing_is_no_growth_event() -> None:
    # Growing, then one failed read (its levels stay those of the good samples), then it
    # stops: unknown and readable-again, and one growth_down when it has stopped.
    kinds = _events([1000, 1012, 1024, 1035, None, 1047] + [1047] * 12)
    assert kinds[3] == ["growth_up"] and kinds[4] == ["source_unknown"]
    assert kinds[5] == ["source_recovered"]
    assert [kind for step in kinds[6:] for kind in step] == ["growth_down"]
