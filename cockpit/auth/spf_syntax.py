"""SPF record syntax (RFC 7208 sections 4.6, 5, 6 and 7.1), read the way check_host reads it.

A record splits into terms at spaces (only spaces: a tab stays inside a term). Each term is a
mechanism (`[qualifier] name [":" domain-spec] [cidr]`) or a modifier (`name=value`). Every
syntax error found here is a permerror for every sender: check_host parses the whole record
(terms after `all` too) before it evaluates any of it, so pyspf rejects them all the same.

A domain-spec (7.1) is a macro-string whose end is "." plus a top label (letters, digits and
inner hyphens, not all digits), optionally a final ".", or a macro. Two TXT strings joined with
no space (`"include:_spf.example.com" "~all"`) give `_spf.example.com~all`, whose last label is
not a top label: a syntax error, and the name is never asked. The c, r and t macros belong to
exp= text only (7.3).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
"""Mechanisms that cause DNS queries (4.6.4); with the redirect modifier, at most 10 of them."""
MECHANISMS = LOOKUP_MECHANISMS | {"all", "ip4", "ip6"}

_MODIFIER = re.compile(r"([a-z][a-z0-9_\-.]*)=(.*)\Z", re.IGNORECASE | re.DOTALL)
_DUAL_CIDR = re.compile(r"//(0|[1-9]\d*)\Z")
_CIDR = re.compile(r"/(0|[1-9]\d*)\Z")
_TOPLABEL = re.compile(r"(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9])\Z", re.IGNORECASE)
_MACRO = re.compile(r"%\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-", re.IGNORECASE)
_DOMAIN_SPEC_MACROS = frozenset("slodiphv")
SHOWN_TERM = 120
"""Terms come from DNS: at most this many characters of one are shown."""


@dataclass(frozen=True, slots=True)
class Term:
    """One term of an SPF record as written, with its syntax error if it has one."""

    text: str
    name: str
    """Mechanism or modifier name, lower-case."""
    qualifier: str
    """"+", "-", "~" or "?" for a mechanism ("+" when none is written); "" for a modifier."""
    spec: str | None
    """The domain-spec (the address for ip4/ip6, the value of a modifier); None if absent."""
    modifier: bool
    problem: str | None = None
    problem_rule: str | None = None
    """"invalid-domain-spec" or "bad-term" when `problem` is set."""

    @property
    def shown(self) -> str:
        return shown(self.text)

    @property
    def has_macro(self) -> bool:
        return self.spec is not None and "%" in self.spec


def shown(text: str) -> str:
    """`text` cut to SHOWN_TERM characters, for summaries (safe_text cleans the whole)."""
    return text if len(text) <= SHOWN_TERM else text[: SHOWN_TERM - 1] + "…"


def is_spf_record(text: str) -> bool:
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse_record(text: str) -> tuple[tuple[Term, ...], list[tuple[str, str]]]:
    """The terms of a `v=spf1` record, and record-level errors as (rule, text)."""
    terms = tuple(parse_term(piece) for piece in text.split(" ")[1:] if piece)
    errors: list[tuple[str, str]] = []
    for name in ("redirect", "exp"):
        count = sum(1 for term in terms if term.modifier and term.name == name)
        if count > 1:
            errors.append(("bad-term", f"{name}= appears {count} times (at most once, 6)"))
    return terms, errors


def parse_term(text: str) -> Term:
    modifier = _MODIFIER.match(text)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        term = Term(text, name, "", value, True)
        if name in ("redirect", "exp"):
            return _with_problem(term, "invalid-domain-spec", domain_spec_problem(value))
        # an unknown modifier is ignored, but its value must still be a macro-string
        return _with_problem(term, "bad-term", _macro_problem(value, allowed="slodiphv"))
    qualifier = text[0] if text[0] in "+-~?" else "+"
    body = text[1:] if text[0] in "+-~?" else text
    cidr6 = cidr4 = None
    if dual := _DUAL_CIDR.search(body):
        body, cidr6 = body[: dual.start()], int(dual.group(1))
    if single := _CIDR.search(body):
        body, cidr4 = body[: single.start()], int(single.group(1))
    raw_name, colon, raw_spec = body.partition(":")
    term = Term(text, raw_name.lower(), qualifier, raw_spec if colon else None, False)
    why = _mechanism_problem(term, cidr4, cidr6)
    if why is None and term.spec is not None and term.name in LOOKUP_MECHANISMS:
        return _with_problem(term, "invalid-domain-spec", domain_spec_problem(term.spec))
    return _with_problem(term, "bad-term", why)


def _with_problem(term: Term, rule: str, why: str | None) -> Term:
    if why is None:
        return term
    if rule == "invalid-domain-spec":
        text = f"invalid domain-spec in {term.shown!r}: {why}"
    else:
        text = f"{why} in {term.shown!r}"
    text += glue_hint(term.text)
    return Term(term.text, term.name, term.qualifier, term.spec, term.modifier, text, rule)


def _mechanism_problem(term: Term, cidr4: int | None, cidr6: int | None) -> str | None:
    """A syntax error of the mechanism other than in its domain-spec."""
    name, spec = term.name, term.spec
    if name not in MECHANISMS:
        return "unknown mechanism"
    if name in ("ip4", "ip6"):
        return _address_problem(name, spec, cidr4, cidr6)
    if name == "all":
        return "'all' takes no domain-spec or CIDR" if spec is not None or cidr4 or cidr6 else None
    if name not in ("a", "mx") and (cidr4 is not None or cidr6 is not None):
        return f"a CIDR length is not allowed on {name}"
    if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
        return "CIDR length out of range"
    if spec is None and name in ("include", "exists"):
        return f"{name} needs a domain-spec"
    return None


def _address_problem(
    name: str, spec: str | None, cidr4: int | None, cidr6: int | None
) -> str | None:
    if cidr6 is not None:
        return "a dual CIDR length is not allowed on " + name
    limit, kind = (32, ipaddress.IPv4Address) if name == "ip4" else (128, ipaddress.IPv6Address)
    if cidr4 is not None and cidr4 > limit:
        return "CIDR length out of range"
    try:
        kind(spec or "")
    except ValueError:
        return f"not an {'IPv4' if name == 'ip4' else 'IPv6'} address"
    return None


def domain_spec_problem(spec: str) -> str | None:
    """Why `spec` is not an RFC 7208 7.1 domain-spec, or None when it is one."""
    if not spec:
        return "it is empty"
    if any(ch.isspace() or not ch.isprintable() for ch in spec):
        return "it holds a space or a control character"
    if "%" in spec:
        why = _macro_problem(spec, allowed="".join(sorted(_DOMAIN_SPEC_MACROS)))
        if why is not None:
            return why
    text = spec[:-1] if spec.endswith(".") and not spec.endswith("%.") else spec
    ends_in_macro = next((m for m in _MACRO.finditer(text) if m.end() == len(text)), None)
    if ends_in_macro is not None:
        return None
    head, dot, last = text.rpartition(".")
    if not dot or not head:
        return f"{shown(text)!r} has no top label (a domain-spec ends in '.' and a top label)"
    if not _TOPLABEL.match(last):
        return f"its last label {shown(last)!r} is not a top label (letters, digits, inner hyphens)"
    return None


def glue_hint(name: str) -> str:
    """A hint when `name` ends in an `all` that belongs to the next term."""
    if len(name) > 4 and name.lower().endswith(("~all", "?all", "-all", "+all")):
        return f"; {name[-4:]!r} glued on: two TXT strings joined with no space?"
    return ""


def _macro_problem(text: str, allowed: str) -> str | None:
    if "%" in _MACRO.sub("", text):
        return "it holds a malformed macro"
    for found in _MACRO.finditer(text):
        letter = (found.group(1) or "").lower()
        if letter and letter not in allowed:
            where = "only in exp= text (7.3)" if letter in "crt" else "nowhere"
            return f"macro %{{{letter}}} is allowed {where}"
    return None


def dns_name_problem(name: str) -> str | None:
    """Why `name` (a domain-spec as asked) cannot be a DNS name, or None."""
    labels = name.rstrip(".").split(".")
    if any(not label for label in labels):
        return "has an empty label"
    if any(len(label) > 63 for label in labels):
        return "has a label longer than 63 characters"
    return None
