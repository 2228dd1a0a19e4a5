"""dane: does the certificate each MX host presents match its published TLSA records?

TLSA records for `_25._tcp.MXHOST` are asked through the Asker, and compared with the chain the
server presented in the smtp-tls conversation (no second connection). Matching (RFC 6698):

    usage      0 PKIX-TA, 2 DANE-TA: a CA certificate the server presented (chain after the leaf);
               for DANE-TA the leaf must also chain up to it through presented certificates
               (issuer names and signatures) and name the MX host, as DANE clients require
               1 PKIX-EE, 3 DANE-EE: the server's own certificate (the leaf)
    selector   0 the whole certificate, 1 its SubjectPublicKeyInfo
    mtype      0 the bytes themselves, 1 their SHA-256, 2 their SHA-512

Verdicts per host:

    ok       no TLSA published (NXDOMAIN/NODATA: nothing to match), or every address presented
             a certificate matching a DANE record
    warn     it matches only PKIX-TA/PKIX-EE records, which SMTP clients do not use (RFC 7672)
    fail     TLSA published but an address presented no matching certificate, or no record is
             usable (unknown usage, selector or matching type), or a DANE-TA anchor is
             presented but the leaf does not chain to it or does not name the MX host
    unknown  the TLSA lookup could not tell, or no certificate could be read to compare

DNSSEC validation of the TLSA records is the resolver's business and not judged here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from cockpit.auth.asker import Asker, auth_finding
from cockpit.auth.https_probe import with_gaps
from cockpit.auth.smtp_probe import SmtpResult
from cockpit.auth.tlsinfo import name_matches
from cockpit.config import Region
from cockpit.dns.observation import Observation, Outcome
from cockpit.model import Finding, Status, worst

CHECK = "dane"
DANE_USAGES = frozenset({2, 3})
USAGE_NAMES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        return self.usage in USAGE_NAMES and self.selector in (0, 1) and self.mtype in (0, 1, 2)

    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


def parse_tlsa(answer: str) -> Tlsa | None:
    """A normalised TLSA answer ("usage selector mtype hexlower"); None if it is not one."""
    parts = answer.split()
    if len(parts) < 3 or not all(part.isascii() and part.isdigit() for part in parts[:3]):
        return None
    try:
        data = bytes.fromhex("".join(parts[3:]))
    except ValueError:
        return None
    return Tlsa(int(parts[0]), int(parts[1]), int(parts[2]), data)


def _selected(der: bytes, selector: int) -> bytes | None:
    if selector == 0:
        return der
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def matched_index(record: Tlsa, chain: Sequence[bytes]) -> int | None:
    """Where in the presented `chain` (leaf first, DER) the certificate whose digest one TLSA
    record publishes stands; None when none does. Hashes only: see `dane_ta_problem`."""
    if not record.usable or not chain:
        return None
    start, stop = (0, 1) if record.usage in (1, 3) else (1, len(chain))
    for index in range(start, stop):
        selected = _selected(chain[index], record.selector)
        if selected is not None and _digest(selected, record.mtype) == record.data:
            return index
    return None


def tlsa_matches(record: Tlsa, chain: Sequence[bytes]) -> bool:
    """Whether the presented `chain` (leaf first, DER) holds the certificate one TLSA record
    publishes, by its digest alone. For DANE-TA a client also needs `dane_ta_problem` to be
    None."""
    return matched_index(record, chain) is not None


def dane_ta_problem(
    host: str, chain: Sequence[bytes], anchor_index: int, next_hop: str | None = None
) -> str | None:
    """Why a DANE-TA client rejects `chain` although `chain[anchor_index]` is the pinned trust
    anchor, or None when it accepts it: the leaf must chain up to the anchor through presented
    certificates, each issued (name and signature) by the next, and must name `host` or the
    next-hop domain `next_hop` (the mail domain: RFC 7672 3.2.2 gives both as reference
    identifiers; RFC 7671 5.2.2)."""
    try:
        certificates = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError:
        return "a presented certificate cannot be parsed"
    anchor_der = chain[anchor_index]
    current = 0
    unused = list(range(1, len(certificates)))
    while chain[current] != anchor_der:
        issuer = _presented_issuer(certificates, current, unused)
        if isinstance(issuer, str):
            return issuer
        unused.remove(issuer)
        current = issuer
    names = _leaf_names(certificates[0])
    if not name_matches(host, names) and not (next_hop and name_matches(next_hop, names)):
        shown = ", ".join(names[:3]) or "no DNS name"
        wanted = host if not next_hop else f"{host} or {next_hop}"
        return f"the certificate names {shown}, not {wanted}"
    return None


def _presented_issuer(
    certificates: Sequence[x509.Certificate], index: int, unused: Sequence[int]
) -> int | str:
    """Where among the `unused` presented certificates is the one that issued
    `certificates[index]` (name and verified signature), or why there is none."""
    cert = certificates[index]
    which = "the leaf" if index == 0 else f"presented certificate {index + 1}"
    named = [other for other in unused if certificates[other].subject == cert.issuer]
    if not named:
        issuer = _name_text(cert.issuer)
        return f"{which} is issued by {issuer}, not presented: no chain to the anchor"
    for other in named:
        try:
            cert.verify_directly_issued_by(certificates[other])
        except (ValueError, TypeError, InvalidSignature):
            continue
        return other
    return f"the signature on {which} does not verify with its issuer's key"


def _name_text(name: x509.Name) -> str:
    """A certificate name in a few words: its CN, else its RFC 4514 form, cut short."""
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    text = str(common[0].value) if common else name.rfc4514_string()
    return f"'{text[:40]}'"


def _leaf_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names of the leaf; its common name when it has none (RFC 7672 3.2.3)."""
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = extension.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [
            str(attribute.value)
            for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    return tuple(name.lower() for name in names)


def matching_records(records: Sequence[Tlsa], chain: Sequence[bytes]) -> list[Tlsa]:
    """The records `chain` matches, in the order given."""
    return [record for record in records if tlsa_matches(record, chain)]


def _verdict(
    records: Sequence[Tlsa], result: SmtpResult, next_hop: str | None = None
) -> tuple[Status, str, dict[str, Any]]:
    where = f"{result.host} ({result.address})"
    data: dict[str, Any] = {"address": result.address}
    if not result.chain_der:
        reason = result.error or "no certificate presented"
        return Status.UNKNOWN, f"{where}: no certificate to compare with TLSA: {reason}", data
    matched = matching_records(records, result.chain_der)
    data["matched"] = [record.text() for record in matched]
    rejected: list[tuple[Tlsa, str]] = []
    for record in matched:
        if record.usage not in DANE_USAGES:
            continue
        anchor_index = matched_index(record, result.chain_der)
        problem = None
        if record.usage == 2 and anchor_index is not None:
            problem = dane_ta_problem(result.host, result.chain_der, anchor_index, next_hop)
        if problem is None:
            return Status.OK, f"{where}: certificate matches TLSA {_label(record)}", data
        rejected.append((record, problem))
    if rejected:
        record, problem = rejected[0]
        data["dane_ta_problem"] = problem
        return (
            Status.FAIL,
            f"{where}: TLSA {_label(record)} anchor presented, but DANE clients reject: {problem}",
            data,
        )
    if matched:
        return (
            Status.WARN,
            f"{where}: certificate matches only PKIX-TA/PKIX-EE TLSA records, "
            "which SMTP clients ignore (RFC 7672)",
            data,
        )
    return Status.FAIL, f"{where}: certificate matches none of {len(records)} TLSA records", data


def _label(record: Tlsa) -> str:
    return f"{record.usage} {record.selector} {record.mtype}"


def tlsa_name(host: str) -> str:
    """Where the TLSA records of an MX host on port 25 are published (RFC 7672)."""
    return f"_25._tcp.{host}"


async def tlsa_lookups(asker: Asker, hosts: Sequence[str]) -> dict[str, Observation]:
    """The TLSA answer for every MX host, all asked at once (a dead resolver costs one timeout).

    `smtp_and_dane_findings` starts these together with the SMTP conversations instead of
    after them, so the TLSA questions never wait behind the MX address lookups.
    """
    seen = await asyncio.gather(*(asker.ask(tlsa_name(host), "TLSA") for host in hosts))
    return dict(zip(hosts, seen, strict=True))


async def _host_finding(
    region: Region,
    asker: Asker,
    host: str,
    results: Sequence[SmtpResult],
    seen: Observation | None,
    next_hop: str | None = None,
) -> Finding:
    qname = tlsa_name(host)

    def finding(status: Status, summary: str, data: dict[str, Any]) -> Finding:
        return auth_finding(
            asker, region.name, CHECK, host, status, summary[:200], {"tlsa_name": qname, **data}
        )

    if seen is None:
        seen = await asker.ask(qname, "TLSA")
    if seen.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return finding(
            Status.OK, f"{host}: no TLSA published", {"tlsa": [], "dns": seen.outcome.value}
        )
    if not seen.ok:
        reason = seen.reason
        return finding(Status.UNKNOWN, f"{host}: TLSA lookup failed: {reason}", {"dns": reason})
    parsed = [parse_tlsa(answer) for answer in seen.answers]
    records = [record for record in parsed if record is not None and record.usable]
    data: dict[str, Any] = {"tlsa": list(seen.answers)}
    if not records:
        return finding(Status.FAIL, f"{host}: no usable TLSA record among those published", data)
    if not results:
        return finding(
            Status.UNKNOWN, f"{host}: TLSA published but no certificate could be read", data
        )
    verdicts = [_verdict(records, result, next_hop) for result in results]
    status = worst([verdict[0] for verdict in verdicts])
    summary = next(verdict[1] for verdict in verdicts if verdict[0] is status)
    data["addresses"] = [verdict[2] for verdict in verdicts]
    return finding(status, summary, data)


async def dane_findings(
    region: Region,
    asker: Asker,
    smtp_results: Mapping[str, Sequence[SmtpResult]],
    tlsa: Mapping[str, Observation] | None = None,
    incomplete: Mapping[str, str] | None = None,
    next_hop: str | None = None,
) -> list[Finding]:
    """One dane finding per MX host of `region`, from the smtp-tls conversations' chains.

    `smtp_results` has every MX host of the region, in order (see smtp_check.smtp_tls_findings);
    `tlsa` the TLSA answers already asked (`tlsa_lookups`); a host missing there is asked now.
    `incomplete`: for a host whose conversations do not cover every address (a family whose
    lookup could not tell, addresses over the cap), what was not seen; its finding is then at
    best `unknown`. `next_hop`: the mail domain, which a DANE-TA leaf may name instead of
    the MX host.
    """
    tlsa = tlsa or {}
    incomplete = incomplete or {}
    found = await asyncio.gather(
        *(
            _host_finding(region, asker, host, results, tlsa.get(host), next_hop)
            for host, results in smtp_results.items()
        )
    )
    return [_with_gaps(finding, incomplete.get(finding.subject)) for finding in found]


def _with_gaps(finding: Finding, gaps: str | None) -> Finding:
    """`finding` made at best unknown when some of its host's addresses were not seen; a host
    without TLSA records (or a lookup that failed) does not depend on the addresses."""
    if gaps is None or not finding.data.get("addresses"):
        return finding
    data = {**finding.data, "addresses_incomplete": gaps}
    status, summary = with_gaps(finding.status, finding.summary, gaps)
    return replace(finding, status=status, summary=summary[:200], data=data)
