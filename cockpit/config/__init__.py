"""The config loader: a TOML file -> frozen, typed settings, or one error listing every problem.

    find_config_path(explicit, env=, cwd=)   --config, $COCKPIT_CONFIG, ./cockpit.toml, XDG
    find_incident_config(log_path)           the incident's own config beside its log, if any
    load_config(path) / load_config_text(text)  -> Config, or ConfigError (nothing else, ever)

Modules: `model` (the dataclasses), `load` (reading and the order of checks), `schema` (the key
tables), `readers` (the reusable checks), `values` (hostnames, IPs, URLs), `crosscheck`
(uniqueness across tables), `lines` (key path -> line), `report` (safe text for messages),
`locate` (finding the file), `resolvers` (the built-in resolver list).
This package never imports textual.
"""

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
