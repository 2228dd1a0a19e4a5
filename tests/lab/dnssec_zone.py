"""DNSSEC-signed lab zones, valid or broken on purpose, for validating lab resolvers.

    keys = zone_keys("example.test")                       # a KSK and a ZSK (ECDSA P-256)
    text = sign_zone_text(zone_text(...), "example.test", keys)
    anchors = {"example.test": trust_anchor(keys)}         # DnsLab(trust_anchors=anchors)
    broken = tamper(text, "example.test", "webmail A 127.0.10.9")

Signing is dnspython's (`dns.dnssec.sign_zone`, NSEC chain included). The broken variants are
the shapes a mail team meets when a signer or a provider migration goes wrong: signatures that
expired (a signer that stopped re-signing), a record changed after signing (an edit that skipped
the signer), RRSIGs stripped (a provider that does not serve them) and the DNSKEY set missing
(keys not carried over). Each is a whole zone text that nsd serves as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec
from dns.dnssectypes import Algorithm, DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from cockpit.compat import UTC

SIGNATURE_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class ZoneKeys:
    """The KSK and ZSK of one zone: (private key, DNSKEY record) each."""

    origin: str
    ksk: tuple[ec.EllipticCurvePrivateKey, DNSKEY]
    zsk: tuple[ec.EllipticCurvePrivateKey, DNSKEY]


def zone_keys(origin: str) -> ZoneKeys:
    """A fresh KSK (SEP flag) and ZSK, ECDSA P-256 (algorithm 13, what most zones use now)."""

    def key(flags: int) -> tuple[ec.EllipticCurvePrivateKey, DNSKEY]:
        private = ec.generate_private_key(ec.SECP256R1())
        return private, dns.dnssec.make_dnskey(
            private.public_key(), Algorithm.ECDSAP256SHA256, flags=flags
        )

    return ZoneKeys(origin.rstrip(".").lower(), key(257), key(256))


def trust_anchor(keys: ZoneKeys) -> list[str]:
    """The KSK's DS as a trust-anchor line ("example.test. IN DS ..."), as a parent holds it."""
    owner = keys.origin + "."
    ds = dns.dnssec.make_ds(owner, keys.ksk[1], DSDigest.SHA256)
    return [f"{owner} IN DS {ds.to_text()}"]


def _zone(text: str, origin: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin.rstrip(".") + ".", relativize=False)


def _text(zone: dns.zone.Zone) -> str:
    return zone.to_text(relativize=False, want_origin=True)


def sign_zone_text(
    text: str,
    origin: str,
    keys: ZoneKeys,
    *,
    inception: datetime | None = None,
    expiration: datetime | None = None,
) -> str:
    """`text` signed with `keys`; signatures valid from an hour ago for SIGNATURE_LIFETIME
    unless `inception`/`expiration` say otherwise (both in the past: expired signatures)."""
    zone = _zone(text, origin)
    inception = inception or datetime.now(UTC) - timedelta(hours=1)
    expiration = expiration or inception + SIGNATURE_LIFETIME
    dns.dnssec.sign_zone(
        zone,
        keys=[keys.ksk, keys.zsk],
        inception=inception,
        expiration=expiration,
    )
    return _text(zone)


def expired_signatures(text: str, origin: str, keys: ZoneKeys) -> str:
    """Signed with signatures that expired three days ago (inception seventeen days ago).

    Validators forgive clock skew: unbound up to 10 % of the validity period, at most a day
    (val-sig-skew-max), so a signature only just expired still validates."""
    now = datetime.now(UTC)
    return sign_zone_text(
        text, origin, keys, inception=now - timedelta(days=17), expiration=now - timedelta(days=3)
    )


def tamper(signed: str, origin: str, record: str) -> str:
    """`record` ("webmail A 127.0.10.9", relative owner) replaces that owner's RRset of that
    type after signing: the old RRSIG stays, so the RRset no longer matches its signature."""
    zone = _zone(signed, origin)
    owner, rdtype, value = record.split(maxsplit=2)
    name = dns.name.from_text(owner, zone.origin)
    kind = dns.rdatatype.from_text(rdtype)
    rdataset = zone.find_rdataset(name, kind)
    ttl = rdataset.ttl
    rdataset.clear()
    rdataset.add(dns.rdata.from_text(dns.rdataclass.IN, kind, value, zone.origin), ttl)
    return _text(zone)


def without_rrsigs(signed: str, origin: str, owner: str, covers: str | None = None) -> str:
    """The RRSIGs of `owner` (relative name; "@" for the apex) removed, only the one over
    `covers` ("MX") when given; everything else stays signed."""
    zone = _zone(signed, origin)
    node = zone.get_node(dns.name.from_text(owner, zone.origin))
    assert node is not None, f"{owner} is not in the zone"
    covered = None if covers is None else dns.rdatatype.from_text(covers)
    node.rdatasets = [
        rdataset
        for rdataset in node.rdatasets
        if rdataset.rdtype != dns.rdatatype.RRSIG
        or (covered is not None and rdataset.covers != covered)
    ]
    return _text(zone)


def without_dnskey(signed: str, origin: str) -> str:
    """The apex DNSKEY RRset (and its RRSIG, which covers it) removed: nothing to validate with."""
    zone = _zone(signed, origin)
    apex = zone.origin
    assert apex is not None
    zone.delete_rdataset(apex, dns.rdatatype.DNSKEY)
    node = zone.get_node(apex)
    assert node is not None
    node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)
    return _text(zone)
