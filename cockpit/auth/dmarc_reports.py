"""DMARC report destinations at another organization: are they authorized? (RFC 7489 7.1)

A DMARC record's `rua=`/`ruf=` URIs may send reports to a host outside the domain owner's own
organizational domain (a reporting vendor, a parent company). Receivers send there only when
that host agrees, by publishing a TXT record at

    <record domain>._report._dmarc.<destination host>

that is itself a DMARC record (its first tag is v=DMARC1). Otherwise (the name does not exist,
or holds no such record) they drop the reports without telling anyone: during an incident the
mail team is then blind to how receivers judge its mail.

`report_authorizations` asks every such name through the Asker, all at once (a frozen
resolver costs one query timeout, whatever the number of destinations), each destination
host once however many URIs name it. Each destination ends in one `Authorization` state:

    authorized   a v=DMARC1 record is there
    missing      NXDOMAIN or NODATA at that name                   -> receivers drop reports
    other        TXT records there, none of them v=DMARC1          -> receivers drop reports
    invalid      the URI names no domain that could publish one    -> receivers drop reports
    unknown      the lookup could not tell (timeout, SERVFAIL, ...) or was not made

The record domain is the domain the DMARC record was found for: the organizational domain
when the record came from there (RFC 7489 7.1 step 3: "the domain name from which the policy
was retrieved").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cockpit.auth.asker import Asker
from cockpit.auth.dmarc_check import organizational_domain
from cockpit.dns.normalize import cap_text
from cockpit.dns.observation import NO_VERDICT_OUTCOMES, Outcome
from cockpit.safe_text import clean

MAX_REPORT_HOSTS = 10
"""External destination hosts asked per record; any beyond are `unknown` (not asked). A real
record names one to three."""

AUTHORIZED, MISSING, OTHER = "authorized", "missing", "other"
INVALID, UNKNOWN = "invalid", "unknown"
DROPPED_STATES = frozenset({MISSING, OTHER, INVALID})
"""States in which receivers drop the reports."""

_AUTHORIZES = re.compile(r"\s*v\s*=\s*DMARC1\s*(;|\Z)")
_SIZE_LIMIT = re.compile(r"!\d+[kmgt]?\Z", re.IGNORECASE)
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")


@dataclass(frozen=True, slots=True)
class Authorization:
    """What one external destination host said about taking this domain's reports."""

    host: str
    """The destination host, lower-case (shown as written when it is not a domain name)."""
    name: str
    """The authorization name asked (empty for an `invalid` host)."""
    uris: tuple[str, ...]
    """Every URI of the record that names this host, as "rua=mailto:..."."""
    state: str
    detail: str
    """One line: what was found ("NXDOMAIN", "found 'v=spf1 -all'", the lookup's reason)."""

    @property
    def dropped(self) -> bool:
        return self.state in DROPPED_STATES

    def as_data(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "name": self.name,
            "uris": list(self.uris),
            "authorization": self.state,
            "detail": self.detail,
        }


def destination_host(uri: str) -> str | None:
    """The host a report URI sends to, lower-case, in A-label form; None when it names none.

    A size limit ("!10m", RFC 7489 6.2) is dropped first. `mailto:` takes the part after the
    address's last '@' (percent-decoded, any `?headers` dropped); other schemes take the URI's
    authority host. An address literal ("[127.0.0.1]") or anything else that is not a domain
    name gives None.
    """
    uri = _SIZE_LIMIT.sub("", uri.strip())
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "mailto":
        address = unquote(rest.split("?", 1)[0])
        host = address.rpartition("@")[2] if "@" in address else ""
    else:
        try:
            host = urlsplit(uri).hostname or ""
        except ValueError:
            return None
    host = host.strip().lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return host


def external_destinations(
    record_domain: str, rua: Iterable[str], ruf: Iterable[str]
) -> dict[str, tuple[bool, list[str]]]:
    """The report destinations outside the record domain's organization, in record order:
    host -> (True, the URIs naming it as "rua=mailto:..."). A URI that names no domain is
    listed under its own text as (False, [that URI]): it cannot be authorized at all."""
    own = organizational_domain(record_domain)
    found: dict[str, tuple[bool, list[str]]] = {}
    for tag, uris in (("rua", rua), ("ruf", ruf)):
        for uri in uris:
            host = destination_host(uri)
            if host is not None and organizational_domain(host) == own:
                continue
            key = uri if host is None else host
            found.setdefault(key, (host is not None, []))[1].append(f"{tag}={uri}")
    return found


async def report_authorizations(
    asker: Asker, record_domain: str, rua: Iterable[str], ruf: Iterable[str]
) -> list[Authorization]:
    """One Authorization per external destination (see the module doc), in record order."""
    record_domain = record_domain.lower().rstrip(".")
    destinations = external_destinations(record_domain, rua, ruf)
    hosts = [key for key, (is_host, _) in destinations.items() if is_host]
    asked = hosts[:MAX_REPORT_HOSTS]
    names = {host: f"{record_domain}._report._dmarc.{host}" for host in hosts}
    seen = dict(
        zip(asked, await asyncio.gather(*(asker.ask(names[h], "TXT") for h in asked)), strict=True)
    )
    found: list[Authorization] = []
    for key, (is_host, uris) in destinations.items():
        shown_uris = tuple(_shown(uri) for uri in uris)
        if not is_host:
            detail = "the URI names no domain that could publish an authorization"
            found.append(Authorization(_shown(key), "", shown_uris, INVALID, detail))
            continue
        observation = seen.get(key)
        if observation is None:
            detail = f"not asked: more than {MAX_REPORT_HOSTS} report hosts"
            found.append(Authorization(key, names[key], shown_uris, UNKNOWN, detail))
            continue
        state, detail = _judge(observation.outcome, observation.answers, observation.reason)
        found.append(Authorization(key, names[key], shown_uris, state, detail))
    return found


def _judge(outcome: Outcome, answers: tuple[str, ...], reason: str) -> tuple[str, str]:
    if outcome in NO_VERDICT_OUTCOMES:
        return UNKNOWN, _shown(reason, 120)
    if outcome is Outcome.NXDOMAIN:
        return MISSING, "NXDOMAIN"
    if outcome is Outcome.NODATA or not answers:
        return MISSING, "no TXT record (NODATA)"
    if any(_AUTHORIZES.match(text) for text in answers):
        return AUTHORIZED, "v=DMARC1"
    return OTHER, f"found '{_shown(answers[0], 60)}'" + (
        f" and {len(answers) - 1} more" if len(answers) > 1 else ""
    )


def _shown(text: str, limit: int = 200) -> str:
    """Untrusted text from a DNS answer, one safe line, bounded."""
    return clean(cap_text(text, limit)[0])
