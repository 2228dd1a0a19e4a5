"""What to try when the DNS server the auth checks asked could not answer.

`cockpit check --only auth` asks one server (the first resolver, or `--via NAME`). When that
server gave no verdict on some question of the run (timeout, SERVFAIL, REFUSED, ...), the checks
that depended on it say `unknown`; the commander's next move is to ask another server. Each
such `unknown` finding gets, at the end of its summary, the other servers worth asking (the
other configured resolvers, and the authoritative servers unless they were the ones asked), and
in its data the questions that went unanswered (`dns_unanswered`, at most MAX_SHOWN).

Only `unknown` findings are touched, and only when the run's server really failed a question:
a check that could not tell for another reason (a bad CA file) gets no advice about DNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cockpit.dns.observation import Observation
from cockpit.model import Finding, Status

AUTHORITATIVE = "authoritative"
MAX_SHOWN = 4
SUMMARY_CHARS = 240


def alternatives(resolver_names: Sequence[str], asked: str, asked_authoritative: bool) -> list[str]:
    """The `--via` values worth trying instead of the server that was asked."""
    others = [name for name in resolver_names if name != asked]
    return others if asked_authoritative else [*others, AUTHORITATIVE]


def hint_text(server: str, unanswered: Sequence[Observation], others: Sequence[str]) -> str:
    """ "; no verdict from SERVER (REASON): try --via A or --via authoritative"."""
    reason = unanswered[0].reason if unanswered else "no answer"
    if not others:
        return f"; no verdict from {server} ({reason})"
    tries = " or ".join(f"--via {name}" for name in others)
    return f"; no verdict from {server} ({reason}): try {tries}"


def with_via_hints(
    findings: Sequence[Finding],
    server: str,
    unanswered: Sequence[Observation],
    others: Sequence[str],
) -> list[Finding]:
    """`findings`, each `unknown` one that `server` answered for carrying the hint."""
    if not unanswered:
        return list(findings)
    hint = hint_text(server, unanswered, others)
    questions = [f"{seen.qname}/{seen.rdtype}: {seen.reason}" for seen in unanswered[:MAX_SHOWN]]
    marked: list[Finding] = []
    for finding in findings:
        if finding.status is not Status.UNKNOWN or finding.resolver != server:
            marked.append(finding)
            continue
        summary = finding.summary
        room = SUMMARY_CHARS - len(hint)
        if len(summary) > room:
            summary = summary[: max(0, room - 1)] + "…"
        data = {**finding.data, "dns_unanswered": questions, "try_via": list(others)}
        marked.append(replace(finding, summary=summary + hint, data=data))
    return marked
