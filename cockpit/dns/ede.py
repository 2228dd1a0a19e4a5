"""Extended DNS errors (RFC 8914): which ones say "DNSSEC validation failed", and how to say so.

A validating resolver that rejects an answer replies SERVFAIL, the same rcode as a resolver whose
authoritative is down. The extended error tells them apart. A DNSSEC failure is not a blip: the
resolver refuses the name for everyone behind it, and it keeps refusing until the zone is fixed
(re-signed, DS or keys repaired), so waiting for caches to expire does not help.

DNSSEC_FAILURE_CODES, the codes that make a SERVFAIL a DNSSEC failure (IANA "Extended DNS Error
Codes"):
   1 Unsupported DNSKEY Algorithm     2 Unsupported DS Digest Type    5 DNSSEC Indeterminate
   6 DNSSEC Bogus                     7 Signature Expired             8 Signature Not Yet Valid
   9 DNSKEY Missing                  10 RRSIGs Missing               11 No Zone Key Bit Set
  12 NSEC Missing                    25 Signature Expired before Valid
  27 Unsupported NSEC3 Iterations Value
Of RFC 8914's codes 1-12, 3 (Stale Answer) and 4 (Forged Answer) are left out: neither says
validation failed. 1 and 2 are in: RFC 4035 would call such a zone insecure, but a resolver
that sends them with SERVFAIL has refused the answer on DNSSEC grounds all the same. 25 and 27
came later (RFC 9276 for 27) and are validation failures too. Every other code on a SERVFAIL
(22 No Reachable Authority, 23 Network Error, ...) leaves the SERVFAIL a "could not tell".

STALE_ANSWER_CODES, the codes that say an answer came from an expired cache entry (serve-stale,
RFC 8767): 3 Stale Answer and 19 Stale NXDOMAIN Answer. A resolver sends them when it could not
refresh the entry from the authoritative servers; the TTL it shows (30 s by RFC 8767's advice)
is no promise: it serves the same stale entry again after it, for as long as its stale window
lasts (hours to days), or until it reaches the authoritative servers again.

Measured with unbound 1.17.1 (`ede: yes`, `val-log-level: 2`): the first failing question
carries the precise code and a text ("validation failure <name A IN>: signature expired from
...");  later questions answered from its bogus cache carry code 6 with no text.
"""

from __future__ import annotations

from collections.abc import Sequence

EDE_NAMES: dict[int, str] = {
    0: "Other Error",
    1: "Unsupported DNSKEY Algorithm",
    2: "Unsupported DS Digest Type",
    3: "Stale Answer",
    4: "Forged Answer",
    5: "DNSSEC Indeterminate",
    6: "DNSSEC Bogus",
    7: "Signature Expired",
    8: "Signature Not Yet Valid",
    9: "DNSKEY Missing",
    10: "RRSIGs Missing",
    11: "No Zone Key Bit Set",
    12: "NSEC Missing",
    13: "Cached Error",
    14: "Not Ready",
    15: "Blocked",
    16: "Censored",
    17: "Filtered",
    18: "Prohibited",
    19: "Stale NXDOMAIN Answer",
    20: "Not Authoritative",
    21: "Not Supported",
    22: "No Reachable Authority",
    23: "Network Error",
    24: "Invalid Data",
    25: "Signature Expired before Valid",
    26: "Too Early",
    27: "Unsupported NSEC3 Iterations Value",
    28: "Unable to conform to policy",
    29: "Synthesized",
    30: "Invalid Query Type",
}
"""The IANA names of the info-codes, for reasons."""

DNSSEC_FAILURE_CODES = frozenset({1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 25, 27})
"""Info-codes that make a SERVFAIL a DNSSEC validation failure (see the module docstring)."""

STALE_ANSWER_CODES = frozenset({3, 19})
"""Info-codes that mark an answer served from an expired cache entry (see the module docstring)."""

EDE_TEXT_CHARS = 300
"""Longest EDE extra text kept in an Observation (unbound's run to about 250)."""
MAX_EDE = 4
"""Most extended errors kept from one reply."""

ExtendedError = tuple[int, str]
"""(info-code, extra text)."""


def ede_label(error: ExtendedError) -> str:
    """ "EDE 7 Signature Expired: <text>", or without ": <text>" when the server sent none."""
    code, text = error
    name = EDE_NAMES.get(code, "unassigned code")
    label = f"EDE {code} {name}"
    return f"{label}: {text}" if text else label


def dnssec_failure(errors: Sequence[ExtendedError]) -> ExtendedError | None:
    """The first extended error that says DNSSEC validation failed, if any."""
    for error in errors:
        if error[0] in DNSSEC_FAILURE_CODES:
            return error
    return None


def stale_answer(errors: Sequence[ExtendedError]) -> ExtendedError | None:
    """The first extended error that says the answer was served stale, if any."""
    for error in errors:
        if error[0] in STALE_ANSWER_CODES:
            return error
    return None
