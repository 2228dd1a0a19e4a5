"""Finding the config file: --config, then $COCKPIT_CONFIG, then ./cockpit.toml, then the user's
config directory (`$XDG_CONFIG_HOME/cockpit/config.toml`, else `~/.config/cockpit/config.toml`).
The user's own themes live beside it, in `themes/` (`user_themes_dir`).

An incident may carry its own config beside its log: `LOG.config.toml` for the log `LOG`
(`incident_config_path`), as its `LOG.lock` and `LOG.probes.lock` are. `cockpit drill` writes
one, so that `cockpit --incident <drill log>` joins the drill's world: the screen and `cockpit
log` take it when no --config is given, before the search (`find_incident_config`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from cockpit.config.report import safe_text
from cockpit.errors import ConfigError, ConfigProblem

ENV_VAR = "COCKPIT_CONFIG"
LOCAL_NAME = "cockpit.toml"
INCIDENT_CONFIG_SUFFIX = ".config.toml"
"""An incident's own config is its log's path with this suffix added."""


def _exists(path: Path) -> bool:
    """True when `path` exists, or when it cannot be checked (the load then says why)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True
    return True


def _cwd(cwd: Path | None) -> Path:
    if cwd is not None:
        return cwd
    try:
        return Path.cwd()
    except OSError:
        return Path(".")


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`<config dir>/cockpit` for this user: where its config file and its own themes go.

    $XDG_CONFIG_HOME (when set to an absolute path, as the XDG spec asks), else $HOME/.config,
    else what platformdirs says.
    """
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "cockpit"
    home = env.get("HOME", "")
    if home:
        return Path(home) / ".config" / "cockpit"
    return Path(platformdirs.user_config_dir("cockpit"))


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    """`<config dir>/cockpit/config.toml` for this user (see user_config_dir)."""
    return user_config_dir(env) / "config.toml"


def user_themes_dir(env: Mapping[str, str] | None = None) -> Path:
    """`<config dir>/cockpit/themes`: the user's own theme files (see user_config_dir)."""
    return user_config_dir(env) / "themes"


def find_config_path(
    explicit: str | os.PathLike[str] | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path | None:
    """The config file to load, or None when no place in the search holds one.

    An explicit path (--config) or $COCKPIT_CONFIG is returned even if it does not exist, so that
    loading it reports "not found" instead of silently using another file.
    """
    if explicit is not None:
        return Path(explicit)
    env = os.environ if env is None else env
    from_env = env.get(ENV_VAR, "")
    if from_env:
        return Path(from_env)
    local = _cwd(cwd) / LOCAL_NAME
    if _exists(local):
        return local
    user_file = user_config_file(env)
    if _exists(user_file):
        return user_file
    return None


def incident_config_path(log_path: str | os.PathLike[str]) -> Path:
    """Where the incident logged at `log_path` keeps its own config: beside the log, its
    name with a suffix (`2026-12-05-drill-192800.jsonl.config.toml`)."""
    log = Path(log_path)
    return log.with_name(log.name + INCIDENT_CONFIG_SUFFIX)


def find_incident_config(log_path: str | os.PathLike[str]) -> Path | None:
    """The incident's own config (`incident_config_path`) when a regular file is there, else None.

    Raises ConfigError when something else is in its place (a symlink, a directory): the file
    is taken only as the drill wrote it, never through a link somebody else may have planted.
    """
    path = incident_config_path(log_path)
    try:
        mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        message = f"the incident's config cannot be checked ({safe_text(reason, limit=200)})"
        raise ConfigError([ConfigProblem(safe_text(str(path), limit=200), "", message)]) from None
    if not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        message = f"the incident's config is {what}; expected a regular file beside the log"
        raise ConfigError([ConfigProblem(safe_text(str(path), limit=200), "", message)])
    return path


def config_search_places(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> list[str]:
    """The places `find_config_path` looks, in order, for a "no config found" message."""
    env = os.environ if env is None else env
    from_env = env.get(ENV_VAR, "")
    return [
        "--config FILE",
        f"${ENV_VAR} ({safe_text(from_env, limit=200)})" if from_env else f"${ENV_VAR} (not set)",
        safe_text(str(_cwd(cwd) / LOCAL_NAME), limit=200),
        safe_text(str(user_config_file(env)), limit=200),
    ]


def no_config_found_error(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ConfigError:
    """The error to raise when `find_config_path` returned None."""
    places = "; ".join(config_search_places(env, cwd))
    message = f"no config file found; looked in: {places} (see config.example.toml)"
    return ConfigError([ConfigProblem("", "", message)])
