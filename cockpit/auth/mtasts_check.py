"""MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy it announces, and whether the policy's
`mx:` patterns cover the region's MX hosts.

One Finding per region (area "auth", check "mta-sts"):

    no v=STSv1 record at _mta-sts.DOMAIN       ok      not published (senders use plain STARTTLS)
    no record, but the log saw a policy whose  warn    senders keep applying their cached copy
      max_age has not run out (withdrawn                (RFC 8461 5.1); fail when it is enforce
      mid-incident, `cached_policy`)                    and does not list the target region's MX,
                                                        ok when it was mode none
    several v=STSv1 records, or a bad one      fail    senders treat the domain as having none
    policy host does not resolve, no answer,   fail    senders cannot fetch the policy
      bad certificate, redirect (never followed
      by senders), status other than 200, body
      over 64 KiB, malformed policy
    mode enforce/testing, a region MX host the policy does not cover:
      the TARGET region, enforce                fail    enforcing senders will refuse to deliver
      the target region, testing                warn    senders only report
      another region                            warn    it would bite if mail moved there
    everything covered, or mode none            ok
    a lookup or setup that could not tell      unknown

and, once the policy is fetched and parsed, whatever the coverage:

    max_age under MIN_MAX_AGE (mode enforce/testing)           warn   with the value
    content changed under the same id, or id changed with the  warn   compared with the policy
      same content (see mtasts_history)                               the incident log saw last

The worst status wins and the summary names every problem. The finding's data carries the policy
`id` (from the TXT record), `policy_sha256` (see `policy_digest`) and `max_age`: whoever records
probes logs them (mtasts_history, "Policy contract"), and `policy_history` (those log entries)
is what the next probe compares with.

The policy host is resolved through the Asker and fetched at that address with SNI and Host set to
mta-sts.DOMAIN (see https_probe): never through the system resolver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import (
    HttpsResult,
    certificate_data,
    probe_first_answering,
    resolve_host,
)
from cockpit.auth.mtasts_history import (
    MAX_PATTERNS,
    PolicyChange,
    PolicySeen,
    cached_policy,
    digest_text,
    policy_change,
)
from cockpit.compat import UTC
from cockpit.config.model import Config, Region
from cockpit.dns.normalize import cap_text
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Finding, Status, worst
from cockpit.safe_text import clean

MAX_POLICY_BYTES = 64 * 1024
"""RFC 8461 3.3: senders may cap the policy size; 64 KiB is the usual limit."""
MAX_AGE_LIMIT = 31_557_600
MIN_MAX_AGE = 86_400
"""RFC 8461 3.2 expects max_age "in the range of weeks or greater", so that a sender's cached
policy outlives an attacker who blocks the next fetch. Under one day is far below that: the
cache lapses within hours and the protection with it. (One day is also the value 8.3 suggests
for a policy being retired with mode none, which is exempt.)"""
FETCH_TIMEOUT = 5.0
MAX_ADDRESSES_TRIED = 4
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_MODES = ("enforce", "testing", "none")


class MtaStsError(ValueError):
    """A malformed record or policy; the message is one line a commander understands."""


def parse_sts_record(text: str) -> str:
    """The id= of a `v=STSv1; id=...;` record; raises MtaStsError when malformed."""
    parts = [part.strip(" \t") for part in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()
    if not parts or parts[0] != "v=STSv1":
        raise MtaStsError("does not start with v=STSv1")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise MtaStsError(f"bad field '{cap_text(part, 40)[0]}'")
        if name in fields:
            raise MtaStsError(f"{name}= given twice")
        fields[name] = value
    if "id" not in fields:
        raise MtaStsError("no id= field")
    if not _ID.match(fields["id"]):
        raise MtaStsError("id= must be 1 to 32 letters or digits")
    return fields["id"]


@dataclass(frozen=True, slots=True)
class Policy:
    mode: str
    max_age: int
    mx: tuple[str, ...]
    other_keys: tuple[str, ...] = field(default=())
    extensions: tuple[tuple[str, str], ...] = field(default=())
    """Every other `key: value` line, sorted (part of the content, see `policy_digest`)."""


def policy_digest(policy: Policy) -> str:
    """sha256 (hex) of the policy's meaning: mode, max_age, the mx patterns sorted and without
    repeats, the other key/value pairs sorted. Line endings, blank lines, spacing and line
    order do not change it; any value that senders would apply differently does."""
    return digest_text(
        {
            "version": "STSv1",
            "mode": policy.mode,
            "max_age": policy.max_age,
            "mx": sorted(set(policy.mx)),
            "extensions": [list(pair) for pair in policy.extensions],
        }
    )


def parse_policy(text: str) -> Policy:
    """RFC 8461 3.2 policy text (CRLF or LF lines of `key: value`); raises MtaStsError."""
    values: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise MtaStsError(f"line '{cap_text(line, 40)[0]}' is not 'key: value'")
        values.setdefault(key.strip(), []).append(value.strip(" \t"))
    for key in ("version", "mode", "max_age"):
        if key not in values:
            raise MtaStsError(f"no {key}: line")
        if len(values[key]) > 1:
            raise MtaStsError(f"{key}: given twice")
    if values["version"][0] != "STSv1":
        raise MtaStsError(f"version is '{cap_text(values['version'][0], 20)[0]}', not STSv1")
    mode = values["mode"][0]
    if mode not in _MODES:
        raise MtaStsError(f"mode '{cap_text(mode, 20)[0]}' is not enforce, testing or none")
    max_age_text = values["max_age"][0]
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not (max_age_text.isascii() and max_age_text.isdigit()) or len(max_age_text) > 10:
        shown = cap_text(max_age_text, 20)[0]
        raise MtaStsError(f"max_age '{shown}' is not a whole number of seconds")
    max_age = int(max_age_text)
    if max_age > MAX_AGE_LIMIT:
        raise MtaStsError(f"max_age {max_age} is over {MAX_AGE_LIMIT} (one year)")
    patterns = tuple(pattern.lower().rstrip(".") for pattern in values.get("mx", []))
    if mode != "none" and not patterns:
        raise MtaStsError(f"mode {mode} without any mx: line")
    other_names = set(values) - {"version", "mode", "max_age", "mx"}
    extensions = tuple(sorted((key, value) for key in other_names for value in values[key]))
    others = tuple(sorted(other_names))[:10]
    return Policy(mode=mode, max_age=max_age, mx=patterns, other_keys=others, extensions=extensions)


def mx_covered(host: str, patterns: tuple[str, ...]) -> bool:
    """RFC 8461 4.1: exact match, or "*.d" matching exactly one left-most label before d."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            label, dot, rest = host.partition(".")
            if dot and label and rest == pattern[2:]:
                return True
        elif pattern == host:
            return True
    return False


async def mtasts_findings(
    config: Config,
    region: Region,
    asker: Asker,
    *,
    target: str,
    policy_history: Sequence[PolicySeen] = (),
) -> list[Finding]:
    """One `mta-sts` Finding for `region`, failing over to `target` (see the module doc).

    `policy_history`: the policies the incident log saw (mtasts_history.policy_history); empty
    when there is no log, and then no change is reported.
    """
    started = datetime.now(UTC)
    found = await _mtasts_findings(config, region, asker, target, policy_history)
    return [replace(finding, observed_at=started) for finding in found]


async def _mtasts_findings(
    config: Config,
    region: Region,
    asker: Asker,
    target: str,
    policy_history: Sequence[PolicySeen],
) -> list[Finding]:
    domain = config.domain.name
    record_name = f"_mta-sts.{domain}"
    policy_host = f"mta-sts.{domain}"
    policy_url = f"https://{policy_host}/.well-known/mta-sts.txt"
    is_target = region.name.casefold() == target.casefold()
    data: dict[str, Any] = {"record": record_name, "target": target, "is_target": is_target}
    subject = record_name

    def finding(status: Status, summary: str) -> list[Finding]:
        return [auth_finding(asker, region.name, "mta-sts", subject, status, summary, data)]

    seen = await asker.ask(record_name, "TXT")
    data["outcome"] = seen.outcome.value
    if seen.outcome in NO_VERDICT_OUTCOMES:
        return finding(Status.UNKNOWN, f"could not look up {record_name}: {seen.reason}")
    records = [text for text in seen.answers if text.startswith("v=STSv1")] if seen.ok else []
    if not records:
        data["published"] = False
        now = datetime.now(UTC)
        cached = cached_policy(policy_history, now)
        if cached is None:
            return finding(Status.OK, "MTA-STS not published (senders use opportunistic TLS)")
        data["cached_policy"] = _cached_data(cached)
        return finding(*_withdrawn(cached, region, is_target, now))
    data["published"] = True
    data["records"] = [cap_text(text, 200)[0] for text in records[:5]]
    if len(records) > 1:
        return finding(
            Status.FAIL,
            f"{len(records)} v=STSv1 records at {record_name}: senders ignore the policy",
        )
    try:
        data["id"] = parse_sts_record(records[0])
    except MtaStsError as error:
        return finding(Status.FAIL, f"{record_name} malformed ({error}): senders ignore it")

    subject = policy_url
    data["policy_url"] = policy_url
    resolved = await resolve_host(asker, policy_host)
    data["addresses"] = list(resolved.addresses)
    if resolved.unknown_reason is not None:
        return finding(
            Status.UNKNOWN, f"could not look up the policy host: {resolved.unknown_reason}"
        )
    if not resolved.addresses:
        return finding(
            Status.FAIL, f"{policy_host} does not resolve: senders cannot fetch the policy"
        )
    if resolved.partial_reason is not None:
        data["addresses_incomplete"] = resolved.unseen_text
    result = await probe_first_answering(
        policy_url,
        resolved.addresses,
        ca_file=config.tls.ca_file,
        timeout=FETCH_TIMEOUT,
        max_body=MAX_POLICY_BYTES,
        max_addresses=MAX_ADDRESSES_TRIED,
    )
    data.update(result.evidence())
    data.update(certificate_data(result.cert, datetime.now(UTC)))
    problem = _fetch_problem(result)
    if result.error_kind == "setup":
        return finding(Status.UNKNOWN, f"policy not fetched: {result.error}")
    if problem is not None:
        return finding(Status.FAIL, f"policy unusable, senders cannot apply it: {problem}")
    data["content_type"] = cap_text(result.header("content-type") or "", 100)[0]
    try:
        policy = parse_policy(result.body.decode("utf-8", errors="replace"))
    except MtaStsError as error:
        return finding(Status.FAIL, f"policy malformed: {error}")
    data.update(
        mode=policy.mode, max_age=policy.max_age, mx_patterns=list(policy.mx[:MAX_PATTERNS])
    )
    if len(policy.mx) > MAX_PATTERNS:
        data["mx_capped"] = True
    data["policy_sha256"] = policy_digest(policy)
    uncovered = [host for host in region.mx if not mx_covered(host, policy.mx)]
    data["region_mx"] = list(region.mx)
    data["uncovered_mx"] = uncovered
    issues = [_coverage(policy, region, uncovered, is_target)]
    if resolved.unseen_text is not None:
        # The policy is one document whichever address serves it: the family not seen is
        # named, not judged.
        issues.append((Status.OK, f"policy fetched at {result.ip}; {resolved.unseen_text}"))
    if policy.mode != "none" and policy.max_age < MIN_MAX_AGE:
        issues.append(
            (
                Status.WARN,
                f"max_age {policy.max_age} s ({_about(policy.max_age)}) is far below the weeks "
                "RFC 8461 recommends: senders' cached policy lapses quickly, and a blocked "
                "fetch after that downgrades them to plain STARTTLS",
            )
        )
    change = policy_change(policy_history, data["id"], data["policy_sha256"])
    if change is not None:
        now = datetime.now(UTC)
        data["policy_change"] = change.as_data(now)
        if change.in_force(now):
            issues.append(_change_issue(change, data["id"], policy.mode))
    status = worst([status for status, _ in issues])
    ordered = sorted(issues, key=lambda issue: -issue[0].severity)
    return finding(status, "; ".join(text for _, text in ordered))


def _coverage(
    policy: Policy, region: Region, uncovered: list[str], is_target: bool
) -> tuple[Status, str]:
    if policy.mode == "none":
        return Status.OK, "policy mode none: senders do not apply MTA-STS"
    if not uncovered:
        hosts = ", ".join(region.mx[:3])
        return Status.OK, f"policy mode {policy.mode} covers {hosts}"
    hosts = ", ".join(uncovered[:3])
    if is_target and policy.mode == "enforce":
        return (
            Status.FAIL,
            f"policy (enforce) does not list {hosts}: senders that enforce MTA-STS will refuse "
            f"to deliver to target region {region.name}",
        )
    if is_target:
        return (
            Status.WARN,
            f"policy (testing) does not list {hosts}: senders will report, not refuse",
        )
    return (
        Status.WARN,
        f"policy ({policy.mode}) does not list {hosts}: it would matter if mail moved to "
        f"{region.name}",
    )


def _cached_data(cached: PolicySeen) -> dict[str, Any]:
    until = cached.cached_until()
    return {
        "id": cached.policy_id,
        "policy_sha256": cached.policy_sha256,
        "mode": cached.mode,
        "max_age": cached.max_age,
        "mx_patterns": None if cached.mx is None else list(cached.mx),
        "seen_at": None if cached.seen_at is None else cached.seen_at.isoformat(),
        "cached_until": None if until is None else until.isoformat(),
    }


def _withdrawn(
    cached: PolicySeen, region: Region, is_target: bool, now: datetime
) -> tuple[Status, str]:
    """No _mta-sts record now, but the incident log saw `cached`, which senders that fetched
    it keep applying until its max_age runs out (RFC 8461 5.1)."""
    policy_id = clean(cached.policy_id)
    seen = "" if cached.seen_at is None else f", seen {_moment(cached.seen_at)}"
    if cached.max_age is None:
        age, until = "max_age not recorded", "for its max_age"
    else:
        age = f"max_age {cached.max_age} s ({_about(cached.max_age)})"
        expiry = cached.cached_until()
        until = "for its max_age" if expiry is None else f"until at least {_moment(expiry)}"
    head = (
        f"no _mta-sts record now, but policy {policy_id} (mode {cached.mode or 'not recorded'}, "
        f"{age}{seen}) stays cached at senders {until}"
    )
    if cached.mode == "none":
        return Status.OK, f"{head}; mode none: senders do not apply it"
    if cached.mode is None or cached.mx is None:
        hosts = ", ".join(region.mx[:3])
        return (
            Status.WARN,
            f"{head}; the log did not record its mode and mx: lines, so whether it lists "
            f"{hosts} is not known",
        )
    patterns = cached.mx
    uncovered = [host for host in region.mx if not mx_covered(host, patterns)]
    policy = Policy(mode=cached.mode, max_age=cached.max_age or 0, mx=patterns)
    status, coverage = _coverage(policy, region, uncovered, is_target)
    return worst([status, Status.WARN]), f"{head}; cached {coverage}"


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _change_issue(change: PolicyChange, policy_id: str, mode: str) -> tuple[Status, str]:
    previous = change.previous
    old_id = clean(previous.policy_id)
    if change.kind == "update":
        return Status.OK, f"policy updated (id {old_id} -> {clean(policy_id)})"
    if change.kind == "content":
        until = "" if previous.max_age is None else f" ({_about(previous.max_age)})"
        return (
            Status.WARN,
            f"policy content changed but id stayed {clean(policy_id)}: senders keep the cached "
            f"policy until its max_age{until} runs out, not this one (now {mode}); publish a "
            "new id in the _mta-sts TXT record",
        )
    return (
        Status.WARN,
        f"id changed ({old_id} -> {clean(policy_id)}) but the policy content did not: senders "
        "fetch it again and get the same policy; if a change was meant, it is not being served",
    )


def _about(seconds: int) -> str:
    """A duration a commander reads at a glance: "45 s", "5 min", "1.5 h", "7 d"."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds} s"


def _fetch_problem(result: HttpsResult) -> str | None:
    if result.error_kind == "tls":
        return f"certificate not valid for {result.host} ({result.verify_error})"
    if result.error_kind is not None:
        return f"no answer from {result.ip} ({result.error})"
    assert result.status is not None
    if 300 <= result.status < 400:
        location = cap_text(result.header("location") or "?", 100)[0]
        return f"HTTP {result.status} redirect to {location} (senders never follow redirects)"
    if result.status != 200:
        return f"HTTP {result.status} from {result.ip}"
    if result.body_too_big:
        return f"policy larger than {MAX_POLICY_BYTES // 1024} KiB"
    return None
