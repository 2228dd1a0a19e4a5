"""TLS-RPT (RFC 8460): is `_smtp._tls.DOMAIN` published and well formed?

One Finding per region (area "auth", check "tls-rpt", subject the record name):

    no TXT record there                          warn   optional, but without it nobody tells
                                                        you when senders fail TLS to your MX
    TXT records, none starting with v=TLSRPTv1   fail   a record was meant, senders ignore it
    more than one v=TLSRPTv1 record              fail   senders must ignore them all
    v=TLSRPTv1 without a valid rua=              fail
    one valid record                             ok     rua destinations in data
    a lookup that could not tell                 unknown
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cockpit.auth.asker import Asker, auth_finding
from cockpit.config.model import Config, Region
from cockpit.dns.normalize import cap_text
from cockpit.dns.observation import NO_VERDICT_OUTCOMES
from cockpit.model import Finding, Status

VERSION = "v=TLSRPTv1"
_FIELD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")
_MAILBOX = re.compile(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\Z")


class TlsRptError(ValueError):
    """A malformed TLS-RPT record; the message is one line a commander understands."""


def parse_tlsrpt(text: str) -> list[str]:
    """The rua URIs of a TLS-RPT record; raises TlsRptError when it is malformed."""
    parts = [part.strip(" \t") for part in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing ";" is allowed
    if not parts or parts[0] != VERSION:
        raise TlsRptError(f"does not start with {VERSION}")
    rua: list[str] | None = None
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep or not _FIELD_NAME.match(name):
            raise TlsRptError(f"bad field '{cap_text(part, 40)[0]}'")
        if name == "rua":
            if rua is not None:
                raise TlsRptError("rua= given twice")
            rua = [uri.strip(" \t") for uri in value.split(",")]
            for uri in rua:
                _check_uri(uri)
    if rua is None:
        raise TlsRptError("no rua= (where reports go)")
    return rua


def _check_uri(uri: str) -> None:
    shown = cap_text(uri, 60)[0]
    lower = uri.lower()
    if lower.startswith("mailto:"):
        address = uri[len("mailto:") :].split("?", 1)[0]
        if not _MAILBOX.match(address):
            raise TlsRptError(f"rua {shown} is not a valid mailto: address")
        return
    if lower.startswith("https://"):
        if not urlsplit(uri).hostname:
            raise TlsRptError(f"rua {shown} has no host")
        return
    raise TlsRptError(f"rua {shown} is neither mailto: nor https:")


async def tlsrpt_findings(config: Config, region: Region, asker: Asker) -> list[Finding]:
    """One `tls-rpt` Finding for the domain, as seen by `asker` (see the module doc)."""
    name = f"_smtp._tls.{config.domain.name}"
    data: dict[str, Any] = {"record": name}

    def finding(status: Status, summary: str) -> list[Finding]:
        return [auth_finding(asker, region.name, "tls-rpt", name, status, summary, data)]

    seen = await asker.ask(name, "TXT")
    data["outcome"] = seen.outcome.value
    if seen.outcome in NO_VERDICT_OUTCOMES:
        return finding(Status.UNKNOWN, f"could not look up TLS-RPT: {seen.reason}")
    if not seen.ok or not seen.answers:
        return finding(
            Status.WARN,
            "TLS-RPT not published (optional, recommended: senders then report TLS failures "
            "to your MX)",
        )
    data["records"] = [cap_text(text, 300)[0] for text in seen.answers[:5]]
    candidates = [text for text in seen.answers if text.lower().startswith("v=tlsrpt")]
    if not candidates:
        return finding(Status.FAIL, f"TXT at {name} does not start with {VERSION}: ignored")
    if len(candidates) > 1:
        return finding(
            Status.FAIL, f"{len(candidates)} TLS-RPT records published: senders ignore them all"
        )
    try:
        rua = parse_tlsrpt(candidates[0])
    except TlsRptError as error:
        data["problem"] = str(error)
        return finding(Status.FAIL, f"TLS-RPT record malformed: {error}")
    data["rua"] = [cap_text(uri, 200)[0] for uri in rua[:10]]
    shown = ", ".join(data["rua"][:3])
    return finding(Status.OK, f"TLS-RPT published: reports go to {shown}")
