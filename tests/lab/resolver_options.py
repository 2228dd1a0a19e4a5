"""Per-resolver settings of the DNS lab's unbound instances beyond the plain caching resolver.

    DnsLab(workdir, zones, 3, trust_anchors={"example.test": trust_anchor(keys)},
           resolver_options=[ResolverOptions(validate=True), ResolverOptions(), ...])

- `validate`: DNSSEC validation (module-config "validator iterator") with the lab's trust
  anchors, extended DNS errors on (RFC 8914, `ede: yes`) and `val-log-level: 2`, which makes
  unbound put its validation reason in the EDE text. Zones with a trust anchor are validated;
  the others stay `domain-insecure`, so they resolve as on a plain resolver.
- `ede`: extended DNS errors without validation (SERVFAIL for an unreachable authority
  then carries, for instance, EDE 22 "No Reachable Authority").
- `cache_min_ttl`: unbound's `cache-min-ttl`, a TTL floor some resolvers apply (a record with a
  lower TTL is kept, and shown, with the floor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ResolverOptions:
    validate: bool = False
    ede: bool = False
    cache_min_ttl: int | None = None


PLAIN = ResolverOptions()


def options_for(
    options: ResolverOptions | Sequence[ResolverOptions] | None, count: int
) -> list[ResolverOptions]:
    """One ResolverOptions per resolver: the same for all, or per index (missing: plain)."""
    if options is None:
        return [PLAIN] * count
    if isinstance(options, ResolverOptions):
        return [options] * count
    given = list(options)
    if len(given) > count:
        raise ValueError(f"{len(given)} resolver options for {count} resolvers")
    return given + [PLAIN] * (count - len(given))


def server_lines(
    options: ResolverOptions,
    zones: Sequence[str],
    trust_anchors: Mapping[str, Sequence[str]],
    workdir: Path,
) -> str:
    """The `server:` lines for these options and the lab's zones (absolute, with the dot).

    Writes the trust anchor file under `workdir` when the resolver validates."""
    anchored = {name.rstrip(".").lower() + "." for name in trust_anchors}
    if not options.validate:
        anchored = set()
    lines = [f'    local-zone: "{zone}" transparent\n' for zone in zones]
    # Unsigned lab zones (or every zone on a resolver that does not validate) are insecure.
    lines += [f'    domain-insecure: "{zone}"\n' for zone in zones if zone not in anchored]
    if options.validate:
        anchor_file = workdir / "trust-anchors.txt"
        anchor_file.write_text(
            "".join(f"{line}\n" for lines_of in trust_anchors.values() for line in lines_of)
        )
        lines.append('    module-config: "validator iterator"\n')
        lines.append(f'    trust-anchor-file: "{anchor_file}"\n')
        lines.append("    val-log-level: 2\n")
    else:
        lines.append('    module-config: "iterator"\n')
    if options.validate or options.ede:
        lines.append("    ede: yes\n")
    if options.cache_min_ttl is not None:
        lines.append(f"    cache-min-ttl: {options.cache_min_ttl}\n")
    return "".join(lines)
