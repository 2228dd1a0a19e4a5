"""Checks that look across tables: names that must be unique, and values two regions must not share.

These run on the raw document, beside the per-key reading, so a duplicate is reported even when
the table it sits in has some other problem. A value that does not parse is skipped here: the
per-key reading has already reported it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from cockpit.config.model import CANARY_TARGET
from cockpit.config.readers import Context
from cockpit.config.report import KeyPath, format_path, quoted, show_key
from cockpit.config.values import (
    BadValue,
    parse_display_name,
    parse_dkim_selector,
    parse_hostname,
    parse_ip,
    parse_mx_host,
    parse_record_type,
    parse_region_name,
)


def _parsed(parse: Callable[[str], str], value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return parse(value)
    except BadValue:
        return None


Tables = list[tuple[KeyPath, dict[str, object]]]
"""Tables of an array of tables, each with its key path."""


def _tables(document: dict[str, object], *names: str) -> Tables:
    """The tables of an array of tables at `names` (e.g. "dns", "resolver"), with their paths."""
    found: object = document
    for name in names:
        if not isinstance(found, dict):
            return []
        found = found.get(name)
    if not isinstance(found, list):
        return []
    return [((*names, index), item) for index, item in enumerate(found) if isinstance(item, dict)]


def _strings(table: dict[str, object], key: str) -> Iterator[tuple[int, object]]:
    values = table.get(key)
    if isinstance(values, list):
        yield from enumerate(values)


_SOURCE_NOUNS = {"queue": "queue", "replication": "replication source", "role": "role source"}


def _unique_names(
    ctx: Context,
    tables: Tables,
    parse: Callable[[str], str],
    what: str | Callable[[KeyPath], str],
) -> None:
    """Names unique (case-insensitively) across `tables`; `what` names the thing, or says it
    for the table at a key path."""
    first: dict[str, KeyPath] = {}
    for at, table in tables:
        name = _parsed(parse, table.get("name"))
        if name is None:
            continue
        folded = name.casefold()
        if folded in first:
            ctx.problem(
                (*at, "name"),
                f"duplicate {what if isinstance(what, str) else what(at)} name {show_key(name)}"
                f" (also {format_path(first[folded])})",
            )
        else:
            first[folded] = at


def _not_shared(
    ctx: Context,
    regions: Tables,
    key: str,
    parse: Callable[[str], str],
    what: str,
) -> None:
    """Each value of `key` may belong to one region only, or answers could not be classified."""
    owner: dict[str, tuple[KeyPath, str | None]] = {}
    for at, region in regions:
        region_name = _parsed(parse_region_name, region.get("name"))
        mine: set[str] = set()
        for index, value in _strings(region, key):
            parsed = _parsed(parse, value)
            if parsed is None or parsed in mine:
                continue
            mine.add(parsed)
            if parsed in owner:
                other_at, other_name = owner[parsed]
                named = f" ({quoted(other_name)})" if other_name else ""
                ctx.problem(
                    (*at, key, index),
                    f"{what} {quoted(parsed)} is also in {format_path(other_at)}{named}: "
                    "answers could not be classified by region",
                )
            else:
                owner[parsed] = (at, region_name)


def _dkim_keys_have_selectors(ctx: Context, regions: Tables) -> None:
    for at, region in regions:
        keys = region.get("dkim_private_keys")
        selectors = region.get("dkim_selectors", [])
        if not isinstance(keys, dict) or not isinstance(selectors, list):
            continue
        known = {_parsed(parse_dkim_selector, value) for value in selectors}
        for name in keys:
            selector = _parsed(parse_dkim_selector, name)
            if selector is not None and selector not in known:
                ctx.problem(
                    (*at, "dkim_private_keys", name),
                    f"a key for selector {show_key(selector)}, which is not in "
                    "dkim_selectors: add it there or remove the key",
                )


def check_across(document: dict[str, object], ctx: Context) -> None:
    """Record every problem that involves more than one table."""
    regions = _tables(document, "region")
    region_value = document.get("region")
    if region_value is None:
        ctx.problem(("region",), "expected at least two [[region]] tables, found none")
    elif isinstance(region_value, list) and len(region_value) < 2:
        ctx.problem(
            ("region",),
            f"expected at least two [[region]] tables (failover needs somewhere to go), "
            f"found {len(region_value)}",
        )
    _unique_names(ctx, regions, parse_region_name, "region")
    _not_shared(ctx, regions, "mx", parse_mx_host, "MX host")
    _not_shared(ctx, regions, "webmail_addresses", parse_ip, "webmail address")
    _dkim_keys_have_selectors(ctx, regions)

    # Queue, replication and role sources share one namespace: the log and the screen name a
    # source by its name alone.
    sources: Tables = []
    for at, region in regions:
        for key in ("queue", "replication", "role"):
            region_sources = region.get(key)
            if isinstance(region_sources, list):
                sources.extend(
                    ((*at, key, index), source)
                    for index, source in enumerate(region_sources)
                    if isinstance(source, dict)
                )
    _unique_names(ctx, sources, parse_region_name, lambda at: _SOURCE_NOUNS[str(at[-2])])
    _unique_names(ctx, _tables(document, "dns", "resolver"), parse_display_name, "resolver")
    _canaries_name_regions(ctx, document, regions)
    _unique_names(ctx, _tables(document, "vantage"), parse_region_name, "vantage")

    first_record: dict[tuple[str, str], KeyPath] = {}
    for at, record in _tables(document, "dns", "record"):
        name = _parsed(_record_name, record.get("name"))
        kind = _parsed(parse_record_type, record.get("type"))
        if name is None or kind is None:
            continue
        if (name, kind) in first_record:
            also = format_path(first_record[(name, kind)])
            ctx.problem(at, f"{kind} {quoted(name)} is watched twice (also {also})")
        else:
            first_record[(name, kind)] = at


def _record_name(text: str) -> str:
    return parse_hostname(text, allow_underscore=True)


def _canaries_name_regions(ctx: Context, document: dict[str, object], regions: Tables) -> None:
    """Canary names are unique; each canary's region is a configured one, or "target"."""
    canaries = _tables(document, "canary")
    _unique_names(ctx, canaries, parse_region_name, "canary")
    names = [_parsed(parse_region_name, region.get("name")) for _, region in regions]
    known = [name for name in names if name is not None]
    folded = {name.casefold() for name in known}
    for at, canary in canaries:
        wanted = _parsed(parse_region_name, canary.get("region"))
        if wanted is None:
            continue
        if wanted == CANARY_TARGET:
            if CANARY_TARGET in folded:
                ctx.problem(
                    (*at, "region"),
                    'region = "target" is ambiguous: a [[region]] is named "target" too;'
                    " rename that region",
                )
        elif wanted.casefold() not in folded and known:
            close = difflib.get_close_matches(wanted, known, n=1)
            hint = f" (did you mean {quoted(close[0])}?)" if close else ""
            choices = ", ".join(quoted(name) for name in known)
            ctx.problem(
                (*at, "region"),
                f'no region named {quoted(wanted)}{hint}; expected one of {choices}, or "target"',
            )
