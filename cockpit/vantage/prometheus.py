"""What each site's blackbox_exporter probes say, read from Prometheus's HTTP API.

    look = await look_prometheus(vantage, config, watched)

One instant query to `{url}/api/v1/query`, within the vantage's timeout, through the queue
sources' HTTP reader (cockpit.queue.sources.fetch_capped: no redirects, no proxy from the
environment, a size cap, one-line reasons). It asks for every series of the vantage's job
(and extra labels) among

    probe_success, probe_dns_query_succeeded, probe_dns_answer_rrs, probe_duration_seconds, up

and, in the same evaluation (`or`), each one's sample timestamp (`timestamp()`, its name kept
in a label first): values and times come from one moment, and an instant query's own
timestamp is the evaluation time, never the probe's.

Series are read back by their `module` label through blackbox.module_table: a row per
(site label, instance) of the DNS modules, named "<instance> @ <site>", with one Observation
per BY_REGION record (blackbox.py says what each module checks):

    the newest probe had no reply         TIMEOUT (it ran >= 0.25 s) or NETWORK_ERROR
    a region's module passed              ANSWER, region_seen = that region (config order first)
    no region's, the NOERROR one did      ANSWER, region_seen "" (no single region's targets);
                                          NODATA when the answer had no RR at all
    NXDOMAIN / SERVFAIL module passed     NXDOMAIN / SERVFAIL
    none passed, all had replies          OTHER_RCODE (blackbox does not export which rcode)
    up 0, no series, or none fresh        UNOBSERVED with the reason ("stale: last probe at ...")

(The modules of one record are probed up to a scrape interval apart: around a change the
newest passing module decides, and its sample's time is the observation's.)

An answer carries no records (`answers` is empty: blackbox only says whether they matched) and
`raw_answers` names the module and site, so the judgement says who judged. BY_AUTHORITATIVE
records (TXT, TLSA, PTR, extra records) get no observation from here: a blackbox module can
only compare an answer with text known when its file was written, and what the authoritative
servers serve now is not that. Samples older than 3 x the vantage's interval are stale.

The SMTP banner modules give service findings (area "service", check "smtp", subject
"<mx host>:<mx_port> @ <site>"): ok or fail from probe_success, unknown when the series is
missing, stale or its scrape failed.

Every label value from Prometheus is untrusted: cleaned (cockpit.safe_text.clean) and cut
short before it names anything; at most MAX_ROWS rows (the rest are counted in a note). A
Prometheus that cannot be read, answers an error or has no series gives the vantage's one
unknown row with the reason (model.unreachable_look), never an empty look.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import httpx

from cockpit.compat import UTC
from cockpit.config import Config
from cockpit.config.model import Vantage
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.watch import Judge, WatchedName
from cockpit.model import Finding, Status
from cockpit.queue.jsonsource import load_json
from cockpit.queue.postqueue import QueueParseError
from cockpit.queue.sources import fetch_capped, guarded_read
from cockpit.safe_text import clean
from cockpit.vantage.blackbox import (
    RCODES,
    Module,
    module_for,
    module_table,
    rcode_module_for,
)
from cockpit.vantage.model import (
    UNREACHABLE_IP,
    VantageLook,
    VantageRow,
    failed_observation,
    row_name,
    unreachable_look,
)

__all__ = ["MAX_BODY", "MAX_ROWS", "METRICS", "look_prometheus", "query_text"]

METRICS = ("probe_success", "probe_dns_query_succeeded", "probe_dns_answer_rrs")
METRICS += ("probe_duration_seconds", "up")
MAX_ROWS = 200
MAX_BODY = 8 << 20
STALE_INTERVALS = 3
TIMEOUT_SECONDS = 0.25
"""A probe without a reply that ran this long timed out; a shorter one was refused."""
_SITE_CHARS = 40
_INSTANCE_CHARS = 80
_REASON_CHARS = 200
_AT_LABEL = "cockpit_at"
_METRIC_LABEL = "cockpit_metric"

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class _Sample:
    value: float
    at: datetime


Samples = Mapping[str, _Sample]
"""metric name -> its latest sample, for one (site, instance, module)."""


def _promql_string(text: str) -> str:
    return json.dumps(text)  # PromQL strings take Go's escapes, of which JSON's are a subset


def query_text(vantage: Vantage) -> str:
    """The one PromQL query (module docstring)."""
    matchers = [f"__name__=~{_promql_string('|'.join(METRICS))}"]
    matchers.append(f"job={_promql_string(vantage.job)}")
    matchers += [f"{name}={_promql_string(value)}" for name, value in vantage.labels.items()]
    selector = "{" + ",".join(matchers) + "}"
    named = f'label_replace({selector}, "{_METRIC_LABEL}", "$1", "__name__", "(.+)")'
    return f'{selector} or label_replace(timestamp({named}), "{_AT_LABEL}", "1", "", "")'


class _Refused(Exception):
    """Prometheus's reply cannot be used; str() is the reason."""


def _series(document: object) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise _Refused("the reply is not a JSON object")
    status = document.get("status")
    if status == "error":
        kind = clean(str(document.get("errorType", "?")))[:40]
        error = clean(str(document.get("error", "")))[:_REASON_CHARS]
        raise _Refused(f"Prometheus refused the query: {kind}: {error}")
    data = document.get("data")
    if status != "success" or not isinstance(data, dict):
        raise _Refused(f"unexpected reply status {clean(str(status))[:40]!r}")
    result = data.get("result")
    if data.get("resultType") != "vector" or not isinstance(result, list):
        raise _Refused("the reply is not an instant vector")
    return [item for item in result if isinstance(item, dict)]


def _number(item: dict[str, Any]) -> float | None:
    pair = item.get("value")
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        return None
    try:
        value = float(pair[1][:40])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _time(seconds: float) -> datetime | None:
    if not 946684800 <= seconds <= 7258118400:  # 2000 to 2200: anything else is not a probe
        return None
    return datetime.fromtimestamp(seconds, UTC)


Key = tuple[str, str, str]
"""(site, instance, module) as Prometheus labelled them (bounded, not yet cleaned)."""


def _collect(items: list[dict[str, Any]], site_label: str) -> dict[Key, dict[str, _Sample]]:
    """Values joined with their timestamps, the newest per (site, instance, module, metric)."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    times: dict[tuple[str, tuple[tuple[str, str], ...]], datetime] = {}
    for item in items:
        labels = item.get("metric")
        number = _number(item)
        if not isinstance(labels, dict) or number is None:
            continue
        labels = {str(k)[:100]: str(v)[:300] for k, v in labels.items()}
        if "__name__" in labels:
            metric = labels.pop("__name__")
            labels.pop(_METRIC_LABEL, None)
            values[(metric, tuple(sorted(labels.items())))] = number
        elif labels.pop(_AT_LABEL, None) == "1" and _METRIC_LABEL in labels:
            metric = labels.pop(_METRIC_LABEL)
            at = _time(number)
            if at is not None:
                times[(metric, tuple(sorted(labels.items())))] = at
    found: dict[Key, dict[str, _Sample]] = {}
    for (metric, label_items), value in values.items():
        at = times.get((metric, label_items))
        if at is None:
            continue
        labels = dict(label_items)
        key = (labels.get(site_label, ""), labels.get("instance", ""), labels.get("module", ""))
        metrics = found.setdefault(key, {})
        if metric not in metrics or metrics[metric].at < at:
            metrics[metric] = _Sample(value, at)
    return found


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5})")


def _spec(name: str, instance: str) -> ServerSpec:
    """The row's resolver address from its instance label ("IP", "IP:PORT", "[v6]:PORT");
    0.0.0.0 for anything else (a host name: the row is shown, never asked)."""
    host, port = instance, "53"
    if match := _HOST_PORT.fullmatch(instance):
        host, port = match[1].strip("[]"), match[2]
    try:
        return ServerSpec(name, str(ipaddress.ip_address(host)), int(port))
    except ValueError:
        return ServerSpec(name, UNREACHABLE_IP, 53)


def _when(at: datetime) -> str:
    return at.strftime("%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Place:
    """One row: its site and instance as shown, and the time limits of its samples."""

    site: str
    instance: str
    name: str
    stale_before: datetime
    now: datetime

    def failed(
        self, watched: WatchedName, outcome: Outcome, reason: str, at: datetime
    ) -> Observation:
        return failed_observation(
            self.name, self.instance, watched, outcome, reason, min(at, self.now)
        )


def _fresh(samples: Samples | None, place: _Place) -> Samples | None:
    if samples is None or "probe_success" not in samples:
        return None
    return samples if samples["probe_success"].at >= place.stale_before else None


def _unseen(watched: WatchedName, place: _Place, seen: list[Samples]) -> Observation:
    """No fresh probe of this record: say whether it is stale, unscraped or missing."""
    probes = [s["probe_success"].at for s in seen if "probe_success" in s]
    ups = [s["up"] for s in seen if "up" in s]
    if probes:
        age = (place.now - max(probes)).total_seconds()
        reason = f"stale: last probe at {_when(max(probes))} ({age:.0f} s ago)"
        reason += f" by blackbox at {place.site}"
        return place.failed(watched, Outcome.UNOBSERVED, reason, place.now)
    if ups and not any(up.value for up in ups):
        reason = f"blackbox at {place.site} did not answer Prometheus's scrape (up 0)"
        return place.failed(watched, Outcome.UNOBSERVED, reason, min(up.at for up in ups))
    reason = f"no probe of this record from here (blackbox at {place.site})"
    return place.failed(watched, Outcome.UNOBSERVED, reason, place.now)


def _replied(samples: Samples) -> bool:
    query = samples.get("probe_dns_query_succeeded")
    return samples["probe_success"].value == 1 or (query is not None and query.value == 1)


def _judge_record(
    watched: WatchedName, place: _Place, by_module: Mapping[str, Samples]
) -> Observation:
    """What the record's modules at this row say (the table in the module docstring). Their
    latest samples come from probes up to one scrape interval apart, so around a change they
    disagree: the newest sample says whether there was a reply, then the newest passing
    module among those that had one decides."""
    regions = {module_for(watched, region): region for region in watched.targets_by_region}
    rcodes = {rcode_module_for(watched, rcode): rcode for rcode in RCODES}
    names = [*regions, *rcodes]
    fresh = {name: s for name in names if (s := _fresh(by_module.get(name), place)) is not None}
    if not fresh:
        return _unseen(watched, place, [by_module[name] for name in names if name in by_module])
    newest = max(fresh, key=lambda name: fresh[name]["probe_success"].at)
    if not _replied(fresh[newest]) and "probe_dns_query_succeeded" in fresh[newest]:
        duration = fresh[newest].get("probe_duration_seconds")
        took = 0.0 if duration is None else duration.value
        outcome = Outcome.TIMEOUT if took >= TIMEOUT_SECONDS else Outcome.NETWORK_ERROR
        reason = f"no reply to blackbox at {place.site} (its probe gave up after {took:.2f} s)"
        return place.failed(watched, outcome, reason, fresh[newest]["probe_success"].at)
    replied = {name: s for name, s in fresh.items() if _replied(s)}
    passed = sorted(
        (name for name, s in replied.items() if s["probe_success"].value == 1),
        key=lambda name: (replied[name]["probe_success"].at, -names.index(name)),
        reverse=True,
    )  # newest first; at the same moment, the first region in config order
    decisive = [name for name in passed if rcodes.get(name) != "NOERROR"]
    chosen = decisive[0] if decisive else passed[0] if passed else None
    oldest = min(s["probe_success"].at for s in replied.values()) if replied else place.now

    def seen(outcome: Outcome, at: datetime, **fields: Any) -> Observation:
        assert chosen is not None
        duration = replied[chosen].get("probe_duration_seconds")
        by = f"blackbox at {place.site[:20]}: {chosen}"
        return Observation(
            server_name=place.name, server=place.instance, qname=watched.name,
            rdtype=watched.rdtype, outcome=outcome, answers=(), raw_answers=(by,), ttl=None,
            cname_chain=(), observed_at=min(at, place.now), **fields,
            latency_ms=None if duration is None else round(duration.value * 1000, 3),
        )  # fmt: skip

    if chosen in regions:
        at = replied[chosen]["probe_success"].at
        return seen(Outcome.ANSWER, at, rcode="NOERROR", error=None, region_seen=regions[chosen])
    rcode = rcodes.get(chosen or "")
    if rcode == "NOERROR":
        count = replied[chosen or ""].get("probe_dns_answer_rrs")
        if count is not None and count.value == 0:
            reason = f"empty {watched.rdtype} answer (NODATA) seen by blackbox at {place.site}"
            return seen(Outcome.NODATA, oldest, rcode="NOERROR", error=reason)
        return seen(Outcome.ANSWER, oldest, rcode="NOERROR", error=None, region_seen="")
    if rcode is not None:
        outcome = Outcome.NXDOMAIN if rcode == "NXDOMAIN" else Outcome.SERVFAIL
        return seen(outcome, oldest, rcode=rcode, error=f"{rcode} seen by blackbox at {place.site}")
    if all(name in replied for name in rcodes):
        reason = f"an rcode other than {'/'.join(RCODES)} seen by blackbox at {place.site}"
        return place.failed(watched, Outcome.OTHER_RCODE, reason, oldest)
    reason = f"no region's module passed; not every rcode module has a reply at {place.site}"
    return place.failed(watched, Outcome.UNOBSERVED, reason, oldest)


def _smtp_finding(
    module: Module, port: int, site: str, instance: str, samples: Samples, place: _Place
) -> Finding:
    """The banner of one MX host seen from one site: ok, fail, or unknown with the reason."""
    assert module.host is not None
    subject = f"{module.host}:{port} @ {site}" + (f" ({instance})" if instance else "")
    probe, up, took = (samples.get(m) for m in ("probe_success", "up", "probe_duration_seconds"))
    after = "" if took is None else f" ({took.value:.2f} s)"
    status, at = Status.UNKNOWN, None if probe is None else probe.at
    if probe is None and up is not None and up.value == 0:
        summary, at = f"blackbox at {site} did not answer Prometheus's scrape (up 0)", up.at
    elif probe is None:
        summary = f"no SMTP banner probe of {module.host} from {site}"
    elif probe.at < place.stale_before:
        summary = f"stale: last probe at {_when(probe.at)} by blackbox at {site}"
    elif probe.value == 1:
        status, summary = Status.OK, f"220 banner seen by blackbox at {site}{after}"
    else:
        status, summary = Status.FAIL, f"no 220 banner: blackbox at {site} failed{after}"
    data = {"site": site, "module": module.name, "instance": instance}
    observed_at = None if at is None else min(at, place.now)
    return Finding(
        "service", "smtp", subject, status, summary, module.region, data=data,
        observed_at=observed_at,
    )  # fmt: skip


def _smtp_findings(
    config: Config, found: Mapping[Key, Samples], sites: Mapping[str, str], place: _Place
) -> list[Finding]:
    """One finding per MX host and site (per probed address when a site probes several)."""
    by_probe: dict[tuple[str, str], list[tuple[str, Samples]]] = {}
    for (site, instance, name), samples in sorted(found.items(), key=lambda item: item[0]):
        by_probe.setdefault((site, name), []).append((instance, samples))
    smtp = [module for module in module_table(config).values() if module.family == "smtp"]
    findings: list[Finding] = []
    for site, shown_site in sites.items():
        for module in smtp:
            seen = by_probe.get((site, module.name), [])
            for instance, samples in seen[:4] or [("", {})]:
                shown = clean(instance)[:_INSTANCE_CHARS] if len(seen) > 1 else ""
                port = config.service.mx_port
                findings.append(_smtp_finding(module, port, shown_site, shown, samples, place))
    return findings


def _rows(
    watched: Sequence[WatchedName],
    found: Mapping[Key, Samples],
    sites: Mapping[str, str],
    dns_modules: frozenset[str],
    place: _Place,
) -> tuple[list[VantageRow], list[str]]:
    """A row per (site, instance) of the DNS modules, at most MAX_ROWS, with what was cut."""
    by_place: dict[tuple[str, str], dict[str, Samples]] = {}
    for (site, instance, name), samples in found.items():
        if name in dns_modules:
            by_place.setdefault((site, instance), {})[name] = samples
    notes: list[str] = []
    if len(by_place) > MAX_ROWS:
        notes.append(
            f"{len(by_place) - MAX_ROWS} more resolver rows not shown (at most {MAX_ROWS})"
        )
    questions = [w for w in watched if w.judge is Judge.BY_REGION]
    rows: dict[str, VantageRow] = {}
    for site, instance in sorted(by_place)[:MAX_ROWS]:
        shown = clean(instance)[:_INSTANCE_CHARS] or "no instance"
        name = row_name(shown, sites[site])
        if name in rows:  # label values that differ only in what was cut or cleaned
            notes.append(f"two series groups would both be the row {name}: one is left out")
            continue
        here = _Place(sites[site], shown, name, place.stale_before, place.now)
        observations = {
            w.key: _judge_record(w, here, by_place[(site, instance)]) for w in questions
        }
        rows[name] = VantageRow(_spec(name, instance), MappingProxyType(observations))
    return list(rows.values()), notes


async def look_prometheus(
    vantage: Vantage,
    config: Config,
    watched: Sequence[WatchedName],
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> VantageLook:
    """One look through `vantage`'s Prometheus (module docstring); never raises for what
    Prometheus or the network do, and never takes longer than the vantage's timeout."""
    now = clock or (lambda: datetime.now(UTC))
    started = now()
    where = clean(vantage.url or "")[:_REASON_CHARS]
    query = urlencode({"query": query_text(vantage)})
    url = f"{(vantage.url or '').rstrip('/')}/api/v1/query?{query}"

    def unusable(reason: str, outcome: Outcome = Outcome.NETWORK_ERROR) -> VantageLook:
        return unreachable_look(
            vantage.name, vantage.kind, vantage.location, where, watched,
            f"Prometheus at {where}: {reason}"[:_REASON_CHARS], started, now(), outcome=outcome,
        )  # fmt: skip

    body, error = await guarded_read(
        fetch_capped(url, timeout=vantage.timeout, max_body=MAX_BODY, transport=transport),
        timeout=vantage.timeout,
    )
    if body is None:
        return unusable(error or "no reply")
    try:
        items = _series(load_json(body))
    except (_Refused, QueueParseError) as problem:
        return unusable(str(problem), Outcome.MALFORMED)
    finished = now()
    table = module_table(config)
    found = _collect(items, vantage.site_label)
    known = {key: samples for key, samples in found.items() if key[2] in table}
    other = len(found) - len(known)
    notes = [f"{other} series groups of modules this config does not make"] if other else []
    if not known:
        reason = f"no series of the cockpit's blackbox modules for job {vantage.job!r}"
        if other:
            reason += f" ({other} of other modules: deploy the blackbox.yml this config makes)"
        return unusable(clean(reason), Outcome.UNOBSERVED)
    sites = {
        site: clean(site)[:_SITE_CHARS] or f"no {vantage.site_label}"
        for site, _, _ in sorted(known)
    }
    if len(sites) > MAX_ROWS:
        notes.append(f"{len(sites) - MAX_ROWS} more sites not shown (at most {MAX_ROWS})")
        sites = dict(list(sites.items())[:MAX_ROWS])
    stale_before = finished - timedelta(seconds=STALE_INTERVALS * vantage.interval)
    place = _Place("", "", "", stale_before, finished)
    dns_modules = frozenset(name for name, m in table.items() if m.family in ("dns", "rcode"))
    rows, row_notes = _rows(watched, known, sites, dns_modules, place)
    services = _smtp_findings(config, known, sites, place)
    return VantageLook(
        vantage.name, vantage.kind, vantage.location, started, finished, tuple(rows),
        services=tuple(services), notes=tuple(notes + row_notes),
    )  # fmt: skip
