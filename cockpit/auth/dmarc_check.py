"""DMARC for the domain, as one region sends it: the record, its policy, and alignment.

`dmarc_findings` asks one server (an `Asker`) for the TXT at _dmarc.DOMAIN and, when there is
no DMARC record there, at _dmarc.ORGDOMAIN (RFC 7489 6.6.3; the organizational domain comes
from the public suffix list shipped with `publicsuffixlist`, offline; an unknown TLD such as
`.test` counts as a public suffix by the list's default "*" rule). It reports one Finding
(area "auth", check "dmarc"):

    fail      no record; several records (receivers then ignore DMARC); a syntax error
              (naming the problem); neither DKIM nor SPF aligned with the From domain
    warn      p=none (monitoring only); pct under 100; the policy changed since the incident
              began; only one of DKIM and SPF aligned; a rua=/ruf= destination at another
              organizational domain that has not authorized the reports (RFC 7489 7.1, see
              dmarc_reports: receivers drop them), naming the missing name
    unknown   a lookup that could not tell (timeout, SERVFAIL, REFUSED, network error); also
              when only a report authorization lookup could not tell (the summary says which)
    ok        otherwise

The worst status wins; the summary names every problem found, and `data["reports"]` lists every
external report destination with its authorization state. Tags RFC 7489 does not define are
named in the summary and in `data["unknown_tags"]` (receivers ignore them, so the status stays).

Alignment (RFC 7489 3.1): the region signs as d=DOMAIN and sends with MAIL FROM at DOMAIN, and
its From domain is DOMAIN, so by default all three are the config domain. Callers that know
another identifier (a bounce domain, a signing subdomain) pass `dkim_domain` or
`mail_from_domain`. Relaxed mode: same organizational domain; strict: identical names.

Baseline contract. A change of policy during an incident is a warning. `dmarc_findings` takes
`baseline_policy`, the p= seen when the incident began. Whoever records probes appends, once,
an incident-log entry of kind "probe" whose data holds {"check": "dmarc", "policy": P} (a
Finding's own `data` has both keys, so it can be logged as it is; an optional "domain" key
scopes it). `dmarc_baseline(entries)` returns P from the earliest such entry (lowest seq),
or None when there is none; with None no change is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

from publicsuffixlist import PublicSuffixList

from cockpit.auth.asker import Asker, auth_finding
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Observation
from cockpit.incident.entry import Entry
from cockpit.model import Finding, Status, worst
from cockpit.safe_text import clean

POLICIES = ("none", "quarantine", "reject")
ALIGNMENT_MODES = {"r": "relaxed", "s": "strict"}
FAILURE_OPTIONS = frozenset({"0", "1", "d", "s"})

_LOOKS_LIKE_DMARC = re.compile(r"\s*v\s*=\s*dmarc", re.IGNORECASE)
_TAG_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_URI = re.compile(r"([a-z][a-z0-9+.-]*):(\S+?)(?:!\d+[kmgt]?)?\Z", re.IGNORECASE)


class DmarcSyntaxError(ValueError):
    """A DMARC record that does not parse; the message names the problem in one line."""


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed DMARC record (RFC 7489 6.3), values lower-cased, defaults filled in."""

    policy: str
    subdomain_policy: str | None = None
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    """Every tag as written (name lower-cased, value stripped)."""
    unknown_tags: tuple[str, ...] = ()
    """Tags RFC 7489 does not define; receivers ignore them."""


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _policy(tag: str, value: str) -> str:
    lowered = value.lower()
    if lowered not in POLICIES:
        raise DmarcSyntaxError(f"{tag}={_short(value)} is not none, quarantine or reject")
    return lowered


def _uris(tag: str, value: str) -> tuple[str, ...]:
    uris = tuple(part.strip() for part in value.split(","))
    for uri in uris:
        match = _URI.match(uri)
        if match is None:
            raise DmarcSyntaxError(f"{tag}= holds '{_short(uri)}', not a URI such as mailto:...")
        if match.group(1).lower() == "mailto" and "@" not in match.group(2):
            raise DmarcSyntaxError(f"{tag}= holds '{_short(uri)}', a mailto: without an address")
    return uris


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one DMARC TXT record; DmarcSyntaxError names the first problem found."""
    parts = [part.strip() for part in text.split(";")]
    while parts and not parts[-1]:
        parts.pop()
    tags: dict[str, str] = {}
    for index, part in enumerate(parts):
        if not part:
            raise DmarcSyntaxError("an empty tag between two ';'")
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep:
            raise DmarcSyntaxError(f"'{_short(part)}' has no '=' (a missing ';'?)")
        if not _TAG_NAME.match(name):
            raise DmarcSyntaxError(f"bad tag name '{_short(name)}'")
        if index == 0 and (name != "v" or value != "DMARC1"):
            raise DmarcSyntaxError(f"the record must start with v=DMARC1; (found '{_short(part)}')")
        if name in tags:
            raise DmarcSyntaxError(f"tag {name}= given twice")
        tags[name] = value
    if not tags:
        raise DmarcSyntaxError("the record is empty")
    if "p" not in tags:
        raise DmarcSyntaxError("no p= tag (the policy is required)")
    policy = _policy("p", tags["p"])
    subdomain_policy = _policy("sp", tags["sp"]) if "sp" in tags else None
    if "np" in tags:
        _policy("np", tags["np"])
    pct = 100
    if "pct" in tags:
        if not _is_number(tags["pct"]) or not 0 <= int(tags["pct"]) <= 100:
            raise DmarcSyntaxError(f"pct={_short(tags['pct'])} is not a whole number 0-100")
        pct = int(tags["pct"])
    modes = {}
    for tag in ("adkim", "aspf"):
        mode = tags.get(tag, "r").lower()
        if mode not in ALIGNMENT_MODES:
            raise DmarcSyntaxError(f"{tag}={_short(tags[tag])} is not r (relaxed) or s (strict)")
        modes[tag] = mode
    if "fo" in tags:
        options = [option.strip() for option in tags["fo"].split(":")]
        if not set(options) <= FAILURE_OPTIONS:
            raise DmarcSyntaxError(f"fo={_short(tags['fo'])} is not a ':' list of 0, 1, d, s")
    if "ri" in tags and not _is_number(tags["ri"]):
        raise DmarcSyntaxError(f"ri={_short(tags['ri'])} is not a number of seconds")
    known = {"v", "p", "sp", "np", "pct", "adkim", "aspf", "rua", "ruf", "fo", "rf", "ri"}
    return DmarcRecord(
        policy=policy,
        subdomain_policy=subdomain_policy,
        pct=pct,
        adkim=modes["adkim"],
        aspf=modes["aspf"],
        rua=_uris("rua", tags["rua"]) if "rua" in tags else (),
        ruf=_uris("ruf", tags["ruf"]) if "ruf" in tags else (),
        tags=tags,
        unknown_tags=tuple(name for name in tags if name not in known),
    )


@cache
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(name: str) -> str:
    """The registrable domain of `name` ("example.co.uk" for "mx.example.co.uk").

    A name that is itself a public suffix is its own organizational domain.
    """
    name = name.lower().rstrip(".")
    return _suffix_list().privatesuffix(name) or name


def aligned(from_domain: str, identifier: str, mode: str) -> bool:
    """RFC 7489 3.1: strict ("s") means identical names, relaxed ("r") the same org domain."""
    a, b = from_domain.lower().rstrip("."), identifier.lower().rstrip(".")
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def dmarc_baseline(entries: Iterable[Entry], domain: str | None = None) -> str | None:
    """The DMARC policy seen at the incident's start (see "Baseline contract" above).

    The earliest (lowest seq) entry of kind "probe" with data {"check": "dmarc", "policy": P},
    P one of none/quarantine/reject (any case); with `domain`, entries whose data names
    another "domain" are skipped. None when no entry qualifies.
    """
    earliest: tuple[int, str] | None = None
    for entry in entries:
        data = entry.data
        if entry.kind != "probe" or data.get("check") != "dmarc":
            continue
        policy = data.get("policy")
        if not isinstance(policy, str) or policy.lower() not in POLICIES:
            continue
        named = data.get("domain")
        if domain is not None and isinstance(named, str) and named.lower() != domain.lower():
            continue
        if earliest is None or entry.seq < earliest[0]:
            earliest = (entry.seq, policy.lower())
    return None if earliest is None else earliest[1]


@dataclass(frozen=True, slots=True)
class _Lookup:
    name: str
    seen: Observation
    records: tuple[str, ...]
    """TXT records there that claim to be DMARC (start with v=DMARC...)."""


async def _look(asker: Asker, domain: str) -> _Lookup:
    name = f"_dmarc.{domain}"
    seen = await asker.ask(name, "TXT")
    records = tuple(text for text in seen.answers if _LOOKS_LIKE_DMARC.match(text))
    return _Lookup(name, seen, records if seen.ok else ())


async def dmarc_findings(
    config: Config,
    region: Region,
    asker: Asker,
    *,
    baseline_policy: str | None = None,
    dkim_domain: str | None = None,
    mail_from_domain: str | None = None,
) -> list[Finding]:
    """One `dmarc` Finding for the config domain as `region` sends it (see the module doc)."""
    started = datetime.now(UTC)
    found = await _dmarc_findings(
        config, region, asker, baseline_policy, dkim_domain, mail_from_domain
    )
    return [replace(finding, observed_at=started) for finding in found]


async def _dmarc_findings(
    config: Config,
    region: Region,
    asker: Asker,
    baseline_policy: str | None,
    dkim_domain: str | None,
    mail_from_domain: str | None,
) -> list[Finding]:
    domain = config.domain.name
    org_domain = organizational_domain(domain)
    dkim_domain = (dkim_domain or domain).lower()
    mail_from_domain = (mail_from_domain or domain).lower()
    data: dict[str, Any] = {"check": "dmarc", "domain": domain, "org_domain": org_domain}
    if baseline_policy is not None:
        data["baseline_policy"] = baseline_policy

    def finding(subject: str, status: Status, summary: str) -> list[Finding]:
        return [auth_finding(asker, region.name, "dmarc", subject, status, summary, data)]

    lookups = [await _look(asker, domain)]
    if not lookups[0].records and lookups[0].seen.outcome not in NO_VERDICT_OUTCOMES:
        if org_domain != domain:
            lookups.append(await _look(asker, org_domain))
    last = lookups[-1]
    data["asked"] = [lookup.name for lookup in lookups]
    data["outcome"] = last.seen.outcome.value
    if last.seen.outcome in NO_VERDICT_OUTCOMES:
        reason = last.seen.reason
        return finding(last.name, Status.UNKNOWN, f"could not look up {last.name}: {reason}")
    if not last.records:
        where = " or ".join(lookup.name for lookup in lookups)
        return finding(
            lookups[0].name, Status.FAIL, f"no DMARC record at {where}: receivers apply none"
        )
    data["record_name"] = last.name
    data["found_at"] = "domain" if len(lookups) == 1 else "organizational domain"
    if len(last.records) > 1:
        data["records"] = len(last.records)
        return finding(
            last.name,
            Status.FAIL,
            f"{len(last.records)} DMARC records at {last.name}: receivers ignore DMARC "
            "when there is more than one",
        )
    try:
        record = parse_dmarc(last.records[0])
    except DmarcSyntaxError as error:
        data["problem"] = str(error)
        problem = clean(str(error))
        return finding(last.name, Status.FAIL, f"DMARC record at {last.name} is invalid: {problem}")

    applies = record.policy
    if len(lookups) > 1 and record.subdomain_policy is not None:
        applies = record.subdomain_policy
    dkim_ok = aligned(domain, dkim_domain, record.adkim)
    spf_ok = aligned(domain, mail_from_domain, record.aspf)
    data.update(
        policy=record.policy,
        subdomain_policy=record.subdomain_policy,
        effective_policy=applies,
        pct=record.pct,
        adkim=record.adkim,
        aspf=record.aspf,
        rua=list(record.rua),
        ruf=list(record.ruf),
        tags=dict(record.tags),
        dkim_domain=dkim_domain,
        mail_from_domain=mail_from_domain,
        dkim_aligned=dkim_ok,
        spf_aligned=spf_ok,
    )
    identifiers = (domain, dkim_domain, mail_from_domain, dkim_ok, spf_ok)
    issues = _issues(record, applies, baseline_policy, *identifiers)
    record_domain = domain if len(lookups) == 1 else org_domain
    reports, report_issues, notes = await _report_issues(asker, record_domain, record)
    data["reports"] = reports
    issues += report_issues
    if record.unknown_tags:
        data["unknown_tags"] = list(record.unknown_tags)
        named = ", ".join(f"{_shown(tag)}=" for tag in record.unknown_tags[:5])
        notes.append(f"receivers ignore unknown tag(s) {named}")
    status = worst([status for status, _ in issues])
    modes = f"adkim={record.adkim}, aspf={record.aspf}"
    lead = f"p={record.policy}" + (f" (sp={applies} applies)" if applies != record.policy else "")
    if not issues:
        summary = f"{lead} at {last.name}; DKIM and SPF aligned ({modes})"
    else:
        ordered = sorted(issues, key=lambda issue: -issue[0].severity)
        summary = f"{lead} at {last.name}; " + "; ".join(text for _, text in ordered)
    return finding(last.name, status, "; ".join([summary, *notes]))


async def _report_issues(
    asker: Asker, record_domain: str, record: DmarcRecord
) -> tuple[list[dict[str, Any]], list[tuple[Status, str]], list[str]]:
    """The external report destinations as data, their problems, and a note for the good ones."""
    # Imported here: dmarc_reports imports organizational_domain from this module.
    from cockpit.auth.dmarc_reports import AUTHORIZED, UNKNOWN, report_authorizations

    authorizations = await report_authorizations(asker, record_domain, record.rua, record.ruf)
    issues: list[tuple[Status, str]] = []
    for seen in authorizations:
        uris = ", ".join(seen.uris[:3]) + (" ..." if len(seen.uris) > 3 else "")
        if seen.dropped and seen.name:
            issues.append(
                (
                    Status.WARN,
                    f"reports to {seen.host} ({uris}) are dropped: no DMARC record at "
                    f"{seen.name} ({seen.detail}) to authorize them",
                )
            )
        elif seen.dropped:
            issues.append((Status.WARN, f"reports to {uris} are dropped: {seen.detail}"))
        elif seen.state == UNKNOWN:
            issues.append(
                (
                    Status.UNKNOWN,
                    f"could not tell whether {seen.host} accepts reports ({uris}): "
                    f"{seen.name}: {seen.detail}",
                )
            )
    accepted = [seen.host for seen in authorizations if seen.state == AUTHORIZED]
    notes = [f"external reports authorized by {', '.join(accepted)}"] if accepted else []
    return [seen.as_data() for seen in authorizations], issues, notes


def _shown(text: str) -> str:
    return clean(_short(text))


def _issues(
    record: DmarcRecord,
    applies: str,
    baseline_policy: str | None,
    from_domain: str,
    dkim_domain: str,
    mail_from_domain: str,
    dkim_ok: bool,
    spf_ok: bool,
) -> list[tuple[Status, str]]:
    issues: list[tuple[Status, str]] = []
    if applies == "none":
        issues.append((Status.WARN, "monitoring only: receivers deliver mail that fails DMARC"))
    elif record.pct < 100:
        issues.append((Status.WARN, f"pct={record.pct}: the policy covers only part of the mail"))
    if baseline_policy is not None and baseline_policy.lower() != record.policy:
        issues.append(
            (
                Status.WARN,
                f"policy changed since the incident began ({baseline_policy.lower()} -> "
                f"{record.policy})",
            )
        )
    dkim_text = f"DKIM d={dkim_domain} ({ALIGNMENT_MODES[record.adkim]})"
    spf_text = f"SPF MAIL FROM {mail_from_domain} ({ALIGNMENT_MODES[record.aspf]})"
    if not dkim_ok and not spf_ok:
        issues.append(
            (
                Status.FAIL,
                f"neither {dkim_text} nor {spf_text} aligns with From {from_domain}: "
                "this region's mail fails DMARC",
            )
        )
    elif not dkim_ok:
        issues.append(
            (
                Status.WARN,
                f"{dkim_text} does not align with From {from_domain}: DMARC passes on SPF alone",
            )
        )
    elif not spf_ok:
        issues.append(
            (
                Status.WARN,
                f"{spf_text} does not align with From {from_domain}: DMARC passes on DKIM alone",
            )
        )
    return issues
