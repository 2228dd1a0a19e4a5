"""`cockpit config check`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.config import Config


def run_config_check(explicit: str | None) -> int:
    from cockpit.cli import report_warning, write_stdout
    from cockpit.commands.common import load_required_config

    config = load_required_config(explicit)
    for warning in _missing_files(config):
        report_warning(warning)
    queue_count = sum(len(region.queues) for region in config.regions)
    resolver_origin = "built-in" if config.dns.resolvers_are_builtin else "configured"
    write_stdout(
        f"ok: {config.source}: domain {config.domain.name}, {len(config.regions)} regions,"
        f" {queue_count} queue sources, {len(config.dns.resolvers)} {resolver_origin} resolvers\n"
    )
    return 0


def _missing_files(config: Config) -> list[str]:
    """Files the config names that are not there: not fatal here; the checks report them too."""
    missing: list[str] = []
    for index, region in enumerate(config.regions):
        for selector, key_path in region.dkim_private_keys.items():
            if not key_path.is_file():
                missing.append(
                    f"region[{index}].dkim_private_keys.{selector}: no such file {key_path}"
                )
    if config.tls.ca_file is not None and not config.tls.ca_file.is_file():
        missing.append(f"tls.ca_file: no such file {config.tls.ca_file}")
    return missing
