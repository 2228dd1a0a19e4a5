"""The local sweep and the latest look from each vantage, as one SweepResult (pure).

Each vantage row joins as a resolver of its own, after the local ones, in config order, so the
DNS matrix, the region classification, the propagation estimate and the events see it like
any other resolver. A row whose name is already taken (a resolver named "x @ y" in the config)
gets " (2)" added: no row is dropped or merged into another.

A row only has the questions its vantage asks (a blackbox vantage probes the records judged by
region, not TXT records): the others are listed in SweepResult.not_asked, which the findings,
the propagation estimate and the DNS pane leave out (a dash, not a status). A row that should
have answered a question and did not has a failure observation for it, which is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType

from cockpit.dns.observation import Observation, ServerSpec
from cockpit.dns.sweep_model import SweepResult
from cockpit.vantage.model import VantageLook


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def merge_looks(local: SweepResult, looks: Iterable[VantageLook]) -> SweepResult:
    """`local` with every row of `looks` added as a resolver (see the module docstring)."""
    rows = [row for look in looks for row in look.rows]
    if not rows:
        return local
    taken = {spec.name for spec in local.resolvers}
    keys = {watched.key for watched in local.watched}
    resolvers = list(local.resolvers)
    observations: dict[tuple[str, str], Observation] = dict(local.observations)
    not_asked = set(local.not_asked)
    for row in rows:
        name = _unique(row.spec.name, taken)
        taken.add(name)
        spec = row.spec if name == row.spec.name else ServerSpec(name, row.spec.ip, row.spec.port)
        resolvers.append(spec)
        for key, seen in row.observations.items():
            if key not in keys:
                continue
            if seen.server_name != name:
                seen = replace(seen, server_name=name)
            observations[(name, key)] = seen
        not_asked.update((name, key) for key in keys - row.observations.keys())
    return replace(
        local,
        resolvers=tuple(resolvers),
        observations=MappingProxyType(observations),
        not_asked=frozenset(not_asked),
    )
