"""`cockpit drill`: a practice incident against a built-in world on loopback.

No config, no root, no network: `cockpit.drill.DrillWorld` serves the drill domain's DNS (an
authoritative server and caching resolvers on 127.0.77.x high ports), each region's SMTP and
IMAP (STARTTLS with certificates from a drill CA) and, over HTTP, the regions' queue depths,
replication lag and control-plane roles; the cockpit's own probes observe it exactly as they
would a real domain.
The primary region is down from the start. When the incident's target region changes (a
failover decision in the cockpit, or `cockpit log --decision --target-region` from a shell)
the world publishes the new records; the resolvers follow as their caches expire and the
queue drains. At the end the log and its Markdown timeline are kept in DIR and named.

The world's config is kept beside the log (`LOG.config.toml`, cockpit.config.locate):
a second responder joins with `cockpit --incident <log>` from another terminal, sees every
pane live and can record the failover, which this drill's world then follows. The world lives
only as long as this process: afterwards a joiner's probes find nothing to ask.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.errors import OutputFileError, UsageError

if TYPE_CHECKING:
    from cockpit.config import Config
    from cockpit.drill import DrillWorld, Timings
    from cockpit.ui.app import CockpitApp

DRILL_TITLE = "DRILL: the primary mail region is down (practice incident)"


def default_drill_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("cockpit") / "drills"


@dataclass
class DrillSession:
    """A started drill: its world (stop it), its config and its log."""

    world: DrillWorld
    config: Config
    log_path: Path
    author: str

    def app(self, *, theme: str | None = None, ascii_only: bool = False) -> CockpitApp:
        from cockpit.commands.common import load_theme_specs
        from cockpit.ui.app import CockpitApp

        world = self.world
        return CockpitApp(
            self.log_path,
            author=self.author,
            config=self.config,
            theme_name=theme,
            theme_specs=load_theme_specs(warn=_warn),
            ascii_only=ascii_only,
            drill=True,
            on_target=follow_target(world.switch_to, lambda: world.active_region),
        )


def _warn(message: str) -> None:
    from cockpit.cli import report_warning

    report_warning(message)


def start_drill(
    directory: Path,
    author: str,
    keys_dir: Path,
    *,
    timings: Timings | None = None,
    probe_interval: int | None = None,
) -> DrillSession:
    """Start the world (primary down), write its config and open the drill's log.

    The caller stops `session.world`. `keys_dir` receives the DKIM private keys (0600) so the
    DKIM check can prove each key matches its record; the caller removes it. The drill CA's
    certificate (public, no key) is kept next to the log as `<log name>-ca.pem`, the config's
    [tls] ca_file, and the config itself as `<log name>.jsonl.config.toml`, so that `cockpit
    --incident <log>` from another terminal joins the same world while this drill runs.
    """
    from cockpit.config import incident_config_path, load_config
    from cockpit.drill import DrillError, DrillWorld, drill_config_text
    from cockpit.drill.config import write_config_file
    from cockpit.incident.entry import utc_now

    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--dir {directory}: cannot create it ({error.strerror})") from None
    started = utc_now()
    log_path = directory / f"{started:%Y-%m-%d}-drill-{started:%H%M%S}.jsonl"
    config_path = incident_config_path(log_path)
    # The config file is read from other working directories too: every path in it absolute.
    absolute_dir = directory.absolute()
    world = DrillWorld(timings=timings)
    try:
        world.start()
    except DrillError as error:
        raise UsageError(f"the drill world could not start: {error}") from None
    try:
        world.fail_primary()
        keys = world.write_dkim_private_keys(keys_dir.absolute())
        ca_file = world.write_ca_certificate(absolute_dir / f"{log_path.stem}-ca.pem")
        text = drill_config_text(
            world,
            absolute_dir,
            dkim_key_files=keys,
            ca_file=ca_file,
            probe_interval=probe_interval,
        )
        try:
            write_config_file(config_path, text)
        except OutputFileError as error:
            raise UsageError(
                f"--dir {directory}: cannot write the drill's config {config_path.name}"
                f" ({error.problem})"
            ) from None
        config = load_config(config_path)
        open_drill_log(log_path, author, started, world.regions[0].name)
    except BaseException:
        world.stop()
        raise
    return DrillSession(world, config, log_path, author)


def run_drill(args: argparse.Namespace) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import resolve_author
    from cockpit.glyphs import terminal_wants_ascii
    from cockpit.ui.app import write_export

    directory = Path(args.dir) if args.dir else default_drill_dir()
    author = resolve_author(args.author, None)
    with tempfile.TemporaryDirectory(prefix="cockpit-drill-keys-") as keys_dir:
        session = start_drill(directory, author, Path(keys_dir))
        try:
            session.app(theme=args.theme, ascii_only=args.ascii or terminal_wants_ascii()).run()
        finally:
            session.world.stop()
            note_world_stopped(session.log_path, author, warn=report_warning)
    timeline = session.log_path.with_suffix(".md")
    try:
        write_export(session.log_path, timeline)
    except (OSError, OutputFileError) as error:
        reason = error.problem if isinstance(error, OutputFileError) else error.strerror
        report_warning(f"the drill's timeline could not be written: {reason}")
        write_stdout(f"Drill log: {session.log_path}\n")
        return 0
    write_stdout(f"Drill log: {session.log_path}\nDrill timeline: {timeline}\n")
    return 0


WORLD_STOPPED_EVENT = "drill_world_stopped"


def note_world_stopped(log_path: Path, author: str, *, warn: Callable[[str], None]) -> None:
    """Say in the log that the world has gone, so a joiner still watching knows why every
    probe now finds nothing. A failed write is a warning: the drill itself is over."""
    from cockpit.errors import IncidentLogError
    from cockpit.incident.log import IncidentLog

    try:
        IncidentLog(log_path).append(
            "system",
            "Drill ended: its world has stopped; the probes of a cockpit still open on this log"
            " find nothing from now on",
            {"event": WORLD_STOPPED_EVENT, "drill": True},
            author=author,
        )
    except (IncidentLogError, ValueError) as error:
        warn(f"the drill's end could not be logged: {error}")


def follow_target(
    switch: Callable[[str], object], active: Callable[[], str]
) -> Callable[[str], None]:
    """The world publishes `region` when the incident's target moves somewhere new."""

    def on_target(region: str) -> None:
        if region != active():
            switch(region)

    return on_target


def open_drill_log(path: Path, author: str, started: datetime, failed_region: str) -> None:
    """The drill's first entries: its title, what broke, and the impact at the start."""
    from cockpit.incident.entry import format_ts
    from cockpit.incident.log import IncidentLog

    log = IncidentLog(path)
    log.append(
        "system",
        DRILL_TITLE,
        {"event": "title", "title": DRILL_TITLE, "drill": True},
        author=author,
    )
    log.append(
        "note",
        f"Drill: the {failed_region} region's mail storage failed; its inbound mail queues up."
        " Follow the checklist, declare, decide the failover; the world follows the decision.",
        {"drill": True},
        author="drill",
    )
    log.append(
        "phase", "drill impact", {"phase": "impact", "at": format_ts(started)}, author="drill"
    )


def is_drill_log(path: Path) -> bool:
    """True when the log at `path` was opened by `cockpit drill` (its first entry is the
    drill's title), so a joiner's screen says DRILL too. False when it cannot be read."""
    import os
    import stat

    from cockpit.incident.entry import MAX_ENTRY_BYTES, entry_from_line

    try:
        # Non-blocking, and a regular file only: a FIFO must never hold the start up.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with os.fdopen(fd, "rb", closefd=False) as file:
            first_line = file.readline(MAX_ENTRY_BYTES)
    except (OSError, ValueError):
        return False
    finally:
        os.close(fd)
    entry, _problems = entry_from_line(first_line.rstrip(b"\n"), 1)
    return (
        entry is not None
        and entry.kind == "system"
        and entry.data.get("event") == "title"
        and entry.data.get("drill") is True
    )
