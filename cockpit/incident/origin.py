"""Where an incident-log entry was written from: host, terminal, SSH client, tmux pane.

The values come from the local system and the environment, so they are cleaned (control
characters dropped, length capped) before they go into the log.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

_MAX_VALUE_CHARS = 200


def current_origin(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The origin of an entry written by this process. Never raises.

    Keys: "host" always; "tty" when stdin, stdout or stderr is a terminal; "ssh_client" (the
    client address of $SSH_CLIENT or $SSH_CONNECTION) when set; "tmux_pane" when $TMUX_PANE is set.
    """
    origin: dict[str, str] = {"host": _host_name()}
    tty = _terminal_name()
    if tty:
        origin["tty"] = tty
    ssh_client = _ssh_client_address(env)
    if ssh_client:
        origin["ssh_client"] = ssh_client
    tmux_pane = _clean(_env_value(env, "TMUX_PANE"))
    if tmux_pane:
        origin["tmux_pane"] = tmux_pane
    return origin


def _host_name() -> str:
    try:
        return _clean(socket.gethostname()) or "unknown"
    except (OSError, UnicodeError):
        return "unknown"


def _terminal_name() -> str:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return _clean(os.ttyname(fd))
        except OSError:
            continue
    return ""


def _ssh_client_address(env: Mapping[str, str]) -> str:
    for name in ("SSH_CLIENT", "SSH_CONNECTION"):
        words = _env_value(env, name).split()
        if words:
            return _clean(words[0])
    return ""


def _env_value(env: Mapping[str, str], name: str) -> str:
    try:
        value = env.get(name)
    except Exception:  # a caller's odd mapping must not stop an entry being written
        return ""
    return value if isinstance(value, str) else ""


def _clean(value: str) -> str:
    """Printable characters only, capped, so an odd hostname or variable cannot mangle a view."""
    printable = "".join(ch for ch in value if ch.isprintable())
    return printable.strip()[:_MAX_VALUE_CHARS]
