"""The config loader: a TOML file -> frozen, typed settings, or one error listing every problem.

    find_config_path(explicit, env=, cwd=)   --config, $COCKPIT_CONFIG, ./cockpit.toml, XDG
    find_incident_config(log_path)           the incident's own config beside its log, if any
    load_config(path) / load_config_text(text)  -> Config, or ConfigError (nothing else, ever)

Modules: `model` (the dataclasses), `load` (reading and the order of checks), `schema` (the key
tables), `readers` (the reusable checks), `values` (hostnames, IPs, URLs), `crosscheck`
(uniqueness across tables), `lines` (key path -> line), `report` (safe text for messages),
`locate` (finding the file), `resolvers` (the built-in resolver list).
This package never imports textual. Its names are imported when first used (PEP 562), so a
command that only looks for a config beside a log (`cockpit export`, `cockpit log`) does not
pay for the loader, about a third of its start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cockpit.config.load import MAX_CONFIG_BYTES, load_config, load_config_text
    from cockpit.config.locate import (
        config_search_places,
        find_config_path,
        find_incident_config,
        incident_config_path,
        no_config_found_error,
        user_config_dir,
        user_config_file,
        user_themes_dir,
    )
    from cockpit.config.model import (
        QUEUE_KINDS,
        RECORD_TYPES,
        Config,
        DnsSettings,
        DomainSettings,
        IncidentSettings,
        QueueSource,
        Region,
        Resolver,
        ServerAddress,
        TlsSettings,
        WatchedRecord,
    )
    from cockpit.config.resolvers import BUILTIN_RESOLVERS
    from cockpit.errors import ConfigError, ConfigProblem

_MODULE_OF = {
    "MAX_CONFIG_BYTES": "load",
    "load_config": "load",
    "load_config_text": "load",
    "config_search_places": "locate",
    "find_config_path": "locate",
    "find_incident_config": "locate",
    "incident_config_path": "locate",
    "no_config_found_error": "locate",
    "user_config_dir": "locate",
    "user_config_file": "locate",
    "user_themes_dir": "locate",
    "QUEUE_KINDS": "model",
    "RECORD_TYPES": "model",
    "Config": "model",
    "DnsSettings": "model",
    "DomainSettings": "model",
    "IncidentSettings": "model",
    "QueueSource": "model",
    "Region": "model",
    "Resolver": "model",
    "ServerAddress": "model",
    "TlsSettings": "model",
    "WatchedRecord": "model",
    "BUILTIN_RESOLVERS": "resolvers",
}
"""Each public name and the module of this package it comes from."""


def __getattr__(name: str) -> Any:
    if name in ("ConfigError", "ConfigProblem"):
        from cockpit import errors

        return getattr(errors, name)
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BUILTIN_RESOLVERS",
    "MAX_CONFIG_BYTES",
    "QUEUE_KINDS",
    "RECORD_TYPES",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DnsSettings",
    "DomainSettings",
    "IncidentSettings",
    "QueueSource",
    "Region",
    "Resolver",
    "ServerAddress",
    "TlsSettings",
    "WatchedRecord",
    "config_search_places",
    "find_config_path",
    "find_incident_config",
    "incident_config_path",
    "load_config",
    "load_config_text",
    "no_config_found_error",
    "user_config_dir",
    "user_config_file",
    "user_themes_dir",
]
