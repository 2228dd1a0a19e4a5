"""The cockpit config for a running drill world, as TOML text.

    text = drill_config_text(world, incident_dir)        # after world.start()
    config = cockpit.config.load_config_text(text)

Everything points at the world on loopback: [dns].authoritative names its authoritative server,
[[dns.resolver]] its resolvers ("drill-r1", ...), each region's queue is a `json` source on its
HTTP server. Webmail and IdP URLs are left out (the world serves no HTTPS), and smtp-tls is
skipped (nothing listens on port 25).
"""

from __future__ import annotations

import json
from pathlib import Path

from cockpit.drill.world import DrillWorld

QUEUE_INTERVAL = 5
QUEUE_TIMEOUT = 2
QUEUE_WARN = 50
QUEUE_CRIT = 200
DNS_INTERVAL = 5
DNS_TIMEOUT = 1
AUTH_INTERVAL = 15


def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, as long as non-ASCII stays as it is)."""
    return json.dumps(value, ensure_ascii=False)


def _strings(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_string(value) for value in values) + "]"


def drill_config_text(
    world: DrillWorld,
    incident_dir: Path,
    *,
    dkim_key_files: dict[str, Path] | None = None,
    probe_interval: int | None = None,
) -> str:
    """A complete cockpit config for `world` (which must be started). `dkim_key_files`
    (selector -> PEM file, from `world.write_dkim_private_keys`) adds dkim_private_keys, so
    the DKIM check also proves that each key matches its record. `probe_interval` (seconds)
    replaces the DNS and queue intervals (a fast drill for tests)."""
    dns_interval = probe_interval or DNS_INTERVAL
    queue_interval = probe_interval or QUEUE_INTERVAL
    lines = [
        "# cockpit drill: a practice incident against a built-in world on loopback.",
        "",
        "[incident]",
        f"dir = {_string(str(incident_dir))}",
        "",
        "[domain]",
        f"name = {_string(world.domain)}",
    ]
    for plan in world.regions:
        lines += [
            "",
            "[[region]]",
            f"name = {_string(plan.name)}",
            f"mx = {_strings(plan.mx_hosts)}",
            f"sending_ips = {_strings(plan.sending_ips)}",
            f"helo = {_string(plan.helo)}",
            f"dkim_selectors = {_strings([plan.dkim_selector])}",
        ]
        key_file = (dkim_key_files or {}).get(plan.dkim_selector)
        if key_file is not None:
            lines.append(
                f"dkim_private_keys = {{ {plan.dkim_selector} = {_string(str(key_file))} }}"
            )
        lines += [
            f"autodiscover_targets = {_strings([plan.autodiscover_target])}",
            "",
            "  [[region.queue]]",
            f"  name = {_string(plan.name + '-mx')}",
            '  kind = "json"',
            f"  url = {_string(world.queue_url(plan.name))}",
            '  path = "depth"',
            f"  interval = {queue_interval}",
            f"  timeout = {QUEUE_TIMEOUT}",
            f"  warn = {QUEUE_WARN}",
            f"  crit = {QUEUE_CRIT}",
        ]
    lines += [
        "",
        "[dns]",
        f"interval = {dns_interval}",
        f"timeout = {DNS_TIMEOUT}",
        f"authoritative = {_strings([world.authoritative_address])}",
    ]
    for resolver in world.resolvers:
        lines += [
            "",
            "  [[dns.resolver]]",
            f"  name = {_string(resolver.name)}",
            f"  address = {_string(resolver.address)}",
            f"  location = {_string(resolver.location)}",
        ]
    # Nothing in the world listens on port 25 (that would need root): leave out smtp-tls
    # rather than show both regions failing a check that cannot work here.
    lines += ["", "[auth]", f"interval = {AUTH_INTERVAL}", 'skip = ["smtp-tls"]', ""]
    return "\n".join(lines)
