"""One look from every [[vantage]], all at once, each within its own timeout.

    looks = await look_all(config, watched)   # tuple of VantageLook, in config order

A look that overruns its vantage's timeout (plus LOOK_MARGIN for scheduling noise) is cut
short and becomes that vantage's one unknown row saying so; a look that breaks inside (a bug,
never a network fault: those are reasons in the look) becomes one unknown row with the reason
too. Either way the other vantages' looks are kept, and nothing waits longer than the slowest
timeout.

The ssh multiplexing sockets live in one private directory per user (control_dir_for), short
enough for a unix socket path, created 0700 by cockpit.vantage.ssh.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from cockpit import compat
from cockpit.compat import UTC
from cockpit.config import Config
from cockpit.config.model import Vantage
from cockpit.dns.observation import Outcome
from cockpit.dns.watch import WatchedName, watched_names
from cockpit.safe_text import clean
from cockpit.vantage.model import VantageLook, unreachable_look

LOOK_MARGIN = 0.5
"""Seconds a look may run past its vantage's timeout before it is cut short."""
_REASON_CHARS = 200

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def control_dir_for() -> Path:
    """Where this user's ssh multiplexing sockets live: $XDG_RUNTIME_DIR/cockpit-ssh, else
    <tmp>/cockpit-ssh-<uid> (short: a unix socket path holds about 100 bytes)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir() and len(runtime) < 40:
        return Path(runtime) / "cockpit-ssh"
    return Path(tempfile.gettempdir()) / f"cockpit-ssh-{os.getuid()}"


def where(vantage: Vantage) -> str:
    """What the vantage is reached through, for reasons: the ssh destination or the URL."""
    return vantage.host or vantage.url or vantage.name


async def _look(
    vantage: Vantage,
    config: Config,
    watched: Sequence[WatchedName],
    control_dir: Path,
    clock: Clock,
) -> VantageLook:
    if vantage.kind == "ssh":
        from cockpit.vantage.ssh import look_ssh

        return await look_ssh(vantage, config, watched, control_dir=control_dir, clock=clock)
    from cockpit.vantage.prometheus import look_prometheus

    return await look_prometheus(vantage, config, watched, clock=clock)


async def look_one(
    vantage: Vantage,
    config: Config,
    watched: Sequence[WatchedName] | None = None,
    *,
    control_dir: Path | None = None,
    clock: Clock | None = None,
) -> VantageLook:
    """One look from `vantage`, never longer than its timeout plus LOOK_MARGIN, never raising
    (but for cancellation)."""
    now = clock or _utc_now
    questions = tuple(watched_names(config) if watched is None else watched)
    started = now()

    def unusable(reason: str, outcome: Outcome) -> VantageLook:
        return unreachable_look(
            vantage.name,
            vantage.kind,
            vantage.location,
            clean(where(vantage))[:_REASON_CHARS],
            questions,
            reason,
            started,
            now(),
            outcome=outcome,
        )

    try:
        async with compat.timeout(vantage.timeout + LOOK_MARGIN):
            return await _look(vantage, config, questions, control_dir or control_dir_for(), now)
    except TimeoutError:
        return unusable(
            f"no look from {vantage.name} within its {vantage.timeout:g} s timeout",
            Outcome.UNOBSERVED,
        )
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - one vantage's bug must not hide the others
        reason = clean(f"{type(error).__name__}: {error}")[:_REASON_CHARS]
        return unusable(f"the look from {vantage.name} failed: {reason}", Outcome.UNOBSERVED)


async def look_all(
    config: Config,
    watched: Sequence[WatchedName] | None = None,
    *,
    control_dir: Path | None = None,
    clock: Clock | None = None,
) -> tuple[VantageLook, ...]:
    """One look from every configured vantage, concurrently, in config order."""
    if not config.vantages:
        return ()
    questions = tuple(watched_names(config) if watched is None else watched)
    return tuple(
        await asyncio.gather(
            *(
                look_one(vantage, config, questions, control_dir=control_dir, clock=clock)
                for vantage in config.vantages
            )
        )
    )
