"""MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy it announces, and whether the policy's
`mx:` patterns cover the region's MX hosts.

One Finding per region (area "auth", check "mta-sts"):

    no v=STSv1 record at _mta-sts.DOMAIN       ok      not published (senders use plain STARTTLS)
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

The policy host is resolved through the Asker and fetched at that address with SNI and Host set to
mta-sts.DOMAIN (see https_probe): never through the system resolver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import (
    HttpsResult,
    certificate_data,
    probe_first_answering,
    resolve_host,
)
from cockpit.config.model import Config, Region
from cockpit.dns.normalize import cap_text
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Finding, Status

MAX_POLICY_BYTES = 64 * 1024
"""RFC 8461 3.3: senders may cap the policy size; 64 KiB is the usual limit."""
MAX_AGE_LIMIT = 31_557_600
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
    if not max_age_text.isdigit() or len(max_age_text) > 10:
        raise MtaStsError("max_age is not a number of seconds")
    max_age = int(max_age_text)
    if max_age > MAX_AGE_LIMIT:
        raise MtaStsError(f"max_age {max_age} is over {MAX_AGE_LIMIT} (one year)")
    patterns = tuple(pattern.lower().rstrip(".") for pattern in values.get("mx", []))
    if mode != "none" and not patterns:
        raise MtaStsError(f"mode {mode} without any mx: line")
    others = tuple(sorted(set(values) - {"version", "mode", "max_age", "mx"}))[:10]
    return Policy(mode=mode, max_age=max_age, mx=patterns, other_keys=others)


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
    config: Config, region: Region, asker: Asker, *, target: str
) -> list[Finding]:
    """One `mta-sts` Finding for `region`, failing over to `target` (see the module doc)."""
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
        return finding(Status.OK, "MTA-STS not published (senders use opportunistic TLS)")
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
    data.update(mode=policy.mode, max_age=policy.max_age, mx_patterns=list(policy.mx[:20]))
    uncovered = [host for host in region.mx if not mx_covered(host, policy.mx)]
    data["region_mx"] = list(region.mx)
    data["uncovered_mx"] = uncovered
    if policy.mode == "none":
        return finding(Status.OK, "policy mode none: senders do not apply MTA-STS")
    if not uncovered:
        hosts = ", ".join(region.mx[:3])
        return finding(Status.OK, f"policy mode {policy.mode} covers {hosts}")
    hosts = ", ".join(uncovered[:3])
    if is_target and policy.mode == "enforce":
        return finding(
            Status.FAIL,
            f"policy (enforce) does not list {hosts}: senders that enforce MTA-STS will refuse "
            f"to deliver to target region {region.name}",
        )
    if is_target:
        return finding(
            Status.WARN,
            f"policy (testing) does not list {hosts}: senders will report, not refuse",
        )
    return finding(
        Status.WARN,
        f"policy ({policy.mode}) does not list {hosts}: it would matter if mail moved to "
        f"{region.name}",
    )


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
