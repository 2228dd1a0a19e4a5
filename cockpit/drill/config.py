"""The cockpit config for a running drill world, as TOML text.

    text = drill_config_text(world, incident_dir)        # after world.start()
    config = cockpit.config.load_config_text(text)

Everything points at the world on loopback: [dns].authoritative names its authoritative server,
[[dns.resolver]] its resolvers ("drill-r1", ...); each region's queue (`json`), replication lag
(`json`, path "lag_s") and control-plane role (`http`) are sources on its HTTP server; each
region's IMAP greeter is an `imap` endpoint (STARTTLS), and [service] mx_port is the one port
of every MX host's SMTP listener. [tls] ca_file, when given, trusts the drill's CA. Webmail and
IdP URLs are left out (the world serves no HTTPS), and smtp-tls is skipped (it connects to port
25, where nothing listens without root).

`write_config_file(path, text)` keeps that text beside the drill's log, so whoever opens the log
(`cockpit --incident LOG`) finds it and joins the same world (cockpit.config.locate).
"""

from __future__ import annotations

import json
from pathlib import Path

from cockpit.drill.world import DrillWorld
from cockpit.output_file import output_file

QUEUE_INTERVAL = 5
QUEUE_TIMEOUT = 2
QUEUE_WARN = 50
QUEUE_CRIT = 200
DNS_INTERVAL = 5
DNS_TIMEOUT = 1
AUTH_INTERVAL = 15
SERVICE_INTERVAL = 5
"""Also the schema's least [service] interval: a fast drill cannot go below it."""
SERVICE_TIMEOUT = 2
LAG_TIMEOUT = 2
LAG_WARN = 30
LAG_CRIT = 120
ROLE_INTERVAL = 5
ROLE_TIMEOUT = 2
"""Shorter than the interval: the primary's dead control plane holds every request."""
AUTHORITY_GRACE = 30
"""Seconds for the roles to follow a failover decision (the world takes ROLE_SWITCH_DELAY)."""


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
    ca_file: Path | None = None,
    probe_interval: int | None = None,
) -> str:
    """A complete cockpit config for `world` (which must be started). `dkim_key_files`
    (selector -> PEM file, from `world.write_dkim_private_keys`) adds dkim_private_keys, so
    the DKIM check also proves that each key matches its record. `ca_file` (from
    `world.write_ca_certificate`) becomes [tls] ca_file, so the STARTTLS certificates of the
    world's SMTP and IMAP servers verify. `probe_interval` (seconds) replaces the DNS, queue
    and replication intervals (a fast drill for tests)."""
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
        if world.serves_mail:
            lines += [
                "",
                "  [[region.endpoint]]",
                '  kind = "imap"',
                f"  address = {_string(world.imap_address(plan.name))}",
                '  tls = "starttls"',
            ]
        lines += [
            "",
            "  [[region.replication]]",
            f"  name = {_string(plan.name + '-store')}",
            '  kind = "json"',
            f"  url = {_string(world.replication_url(plan.name))}",
            '  path = "lag_s"',
            f"  interval = {queue_interval}",
            f"  timeout = {LAG_TIMEOUT}",
            f"  warn = {LAG_WARN}",
            f"  crit = {LAG_CRIT}",
            "",
            "  [[region.role]]",
            f"  name = {_string(plan.name + '-control')}",
            '  kind = "http"',
            f"  url = {_string(world.role_url(plan.name))}",
            f"  interval = {ROLE_INTERVAL}",
            f"  timeout = {ROLE_TIMEOUT}",
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
    lines += ["", "[auth]", f"interval = {AUTH_INTERVAL}", 'skip = ["smtp-tls"]']
    lines += ["", "[service]", f"interval = {SERVICE_INTERVAL}", f"timeout = {SERVICE_TIMEOUT}"]
    if world.serves_mail:
        lines.append(f"mx_port = {world.smtp_port}")
    lines += ["", "[authority]", f"grace = {AUTHORITY_GRACE}"]
    if ca_file is not None:
        lines += ["", "[tls]", f"ca_file = {_string(str(ca_file))}"]
    lines.append("")
    return "\n".join(lines)


def write_config_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, as a regular file (mode 0644: it names no secret).

    cockpit.output_file: a temporary file beside it (created exclusively, so never through a
    link), fsynced, then renamed over `path`: a reader sees the old file or the whole new one.
    Whatever is at `path` that is not a regular file (a symlink planted there, a directory) is
    refused, never written through nor replaced. Raises OutputFileError.
    """
    with output_file(path, mode=0o644, encoding="utf-8") as handle:
        handle.write(text)
