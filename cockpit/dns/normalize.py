"""Records as comparable text: two resolvers agree exactly when their normalised answers match.

    A/AAAA   canonical address ("2001:db8::1", not "2001:DB8:0::1")
    MX       "PREF host"                      SRV   "prio weight port target"
    TXT/SPF  the strings concatenated (RFC 7208 for SPF), decoded as UTF-8; bad bytes as \\xNN
    TLSA     "usage selector mtype hexlower"
    SOA      "mname rname serial refresh retry expire minimum"
    CNAME, DNAME, NS, PTR: the target name
    others   dnspython's presentation text

Names are lower-case without the trailing dot (the root stays "."). Every string is data: escape
characters and markup such as "[bold]" or "[@click=quit]" are kept verbatim, never interpreted;
making them safe to show is the display layer's job (cockpit.safe_text).

Hostile answers are bounded: each string is cut to MAX_TEXT_CHARS (with a visible marker) and at
most MAX_RECORDS records are kept per answer; callers learn that something was cut.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV
from dns.rdtypes.mxbase import MXBase
from dns.rdtypes.nsbase import NSBase
from dns.rdtypes.tlsabase import TLSABase
from dns.rdtypes.txtbase import TXTBase

MAX_TEXT_CHARS = 4096
MAX_RECORDS = 256

RdataType = dns.rdatatype.RdataType


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, marker included; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    marker = f"...[cut {len(text)} chars]"
    return text[: max(0, limit - len(marker))] + marker, True


def normalize_name(name: dns.name.Name | str) -> str:
    """Lower-case, no trailing dot; special characters stay in DNS escaped form ("a\\.b")."""
    if isinstance(name, str):
        name = dns.name.from_text(name)
    text = name.to_text(omit_final_dot=True)
    return text.lower()


def _text_data(strings: Iterable[bytes]) -> str:
    return b"".join(strings).decode("utf-8", errors="backslashreplace")


def _record_text(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, A | AAAA):
        return ipaddress.ip_address(rdata.address).compressed
    if isinstance(rdata, MXBase):
        return f"{rdata.preference} {normalize_name(rdata.exchange)}"
    if isinstance(rdata, SRV):
        return f"{rdata.priority} {rdata.weight} {rdata.port} {normalize_name(rdata.target)}"
    if isinstance(rdata, TLSABase):
        return f"{rdata.usage} {rdata.selector} {rdata.mtype} {rdata.cert.hex()}"
    if isinstance(rdata, SOA):
        return (
            f"{normalize_name(rdata.mname)} {normalize_name(rdata.rname)} "
            f"{rdata.serial} {rdata.refresh} {rdata.retry} {rdata.expire} {rdata.minimum}"
        )
    if isinstance(rdata, TXTBase):
        return _text_data(rdata.strings)
    if isinstance(rdata, NSBase):  # CNAME, DNAME, NS, PTR
        return normalize_name(rdata.target)
    return rdata.to_text()


def normalize_rdata(rdtype: str | int, rdata: dns.rdata.Rdata) -> str:
    """One record as comparable text, uncapped (see `normalize_records` for the bounded form).

    `rdtype` is the type the caller asked for; it must match the record's own type.
    """
    expected = RdataType.make(rdtype.upper() if isinstance(rdtype, str) else rdtype)
    if rdata.rdtype != expected:
        raise ValueError(
            f"record of type {RdataType.to_text(rdata.rdtype)} given as "
            f"{RdataType.to_text(expected)}"
        )
    return _record_text(rdata)


def normalize_records(
    rdtype: str | int, rdatas: Iterable[dns.rdata.Rdata]
) -> tuple[tuple[str, ...], bool]:
    """Normalised, de-duplicated, sorted records, bounded; and whether anything was cut.

    At most MAX_RECORDS are kept (the first in sorted order, so the cut is deterministic), each
    at most MAX_TEXT_CHARS long.
    """
    capped = False
    texts: set[str] = set()
    for rdata in rdatas:
        text, cut = cap_text(normalize_rdata(rdtype, rdata))
        capped = capped or cut
        texts.add(text)
    ordered = sorted(texts)
    if len(ordered) > MAX_RECORDS:
        ordered = ordered[:MAX_RECORDS]
        capped = True
    return tuple(ordered), capped


def raw_lines(rrsets: Iterable[dns.rrset.RRset]) -> tuple[tuple[str, ...], bool]:
    """The RRs as received ("name ttl IN TYPE data"), in order, bounded; and whether cut.

    When records are dropped, a last line says how many ("...[N more records not kept]").
    """
    lines: list[str] = []
    capped = False
    dropped = 0
    for rrset in rrsets:
        for rdata in rrset:
            if len(lines) >= MAX_RECORDS:
                dropped += 1
                continue
            owner = rrset.name.to_text()
            kind = RdataType.to_text(rrset.rdtype)
            text, cut = cap_text(f"{owner} {rrset.ttl} IN {kind} {rdata.to_text()}")
            capped = capped or cut
            lines.append(text)
    if dropped:
        lines.append(f"...[{dropped} more records not kept]")
        capped = True
    return tuple(lines), capped
