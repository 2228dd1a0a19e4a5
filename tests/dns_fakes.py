"""Hand-built DNS observations and sweeps for the pure DNS tests (no servers)."""

from __future__ import annotations

from datetime import datetime, timedelta

from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.dns.classify import (
    authoritative_view,
)
from cockpit.dns.observation import Observation, Outcome, ServerSpec
from cockpit.dns.sweep_model import SweepResult
from cockpit.dns.watch import WatchedName, watched_names
from cockpit.model import Finding

CONFIG_TEXT = """
[domain]
name = "example.com"

[[region]]
name = "primary"
mx = ["mx1.example.com", "mx2.example.com"]
sending_ips = ["203.0.113.10"]
dkim_selectors = ["eu1"]
webmail_url = "https://webmail.example.com/"
webmail_addresses = ["203.0.113.20", "2001:db8:1::20"]
autodiscover_targets = ["autodiscover.eu.example.com"]

[[region]]
name = "secondary"
mx = ["mx1.backup.example.com"]
dkim_selectors = ["us1"]
webmail_url = "https://webmail.example.com/"
webmail_addresses = ["198.51.100.20"]
autodiscover_targets = ["autodiscover.us.example.com"]

[[region]]
name = "tertiary"
mx = ["mx.tertiary.example.net"]
"""
CONFIG = load_config_text(CONFIG_TEXT)
WATCHED = watched_names(CONFIG)
T0 = datetime(2024, 5, 1, 14, 0, 0, tzinfo=UTC)
RESOLVERS = (
    ServerSpec("Cloudflare", "1.1.1.1"),
    ServerSpec("Quad9", "9.9.9.9"),
    ServerSpec("Office", "198.51.100.2"),
)
AUTHORITATIVE = (ServerSpec("ns1", "127.0.0.53"), ServerSpec("ns2", "127.0.0.54"))
AUTHORITATIVE_NAMES = frozenset(spec.name for spec in AUTHORITATIVE)
MX_PRIMARY = ("10 mx1.example.com", "20 mx2.example.com")
MX_SECONDARY = ("10 mx1.backup.example.com",)
SPF = "v=spf1 ip4:203.0.113.0/24 -all"
SPF_NEW = "v=spf1 ip4:198.51.100.0/24 -all"
ESC = "\x1b"
HOSTILE = f"{ESC}]0;pwned{ESC}\\[bold]x[/bold][@click=quit]"


def watched(key: str) -> WatchedName:
    if " " not in key:  # a check name: the first watched record of that check
        return next(w for w in WATCHED if w.check == key)
    return next(w for w in WATCHED if w.key == key)


def obs(
    w: WatchedName,
    outcome: Outcome = Outcome.ANSWER,
    answers: tuple[str, ...] = (),
    *,
    server: str = "Cloudflare",
    ttl: int | None = 300,
    at: datetime = T0,
    error: str | None = None,
    chain: tuple[str, ...] = (),
    attempts: int = 1,
    rcode: str | None = None,
    serial: int | None = None,
) -> Observation:
    if rcode is None:
        rcode = {Outcome.ANSWER: "NOERROR", Outcome.NODATA: "NOERROR"}.get(
            outcome, outcome.value.upper()
        )
    if outcome in (Outcome.TIMEOUT, Outcome.NETWORK_ERROR, Outcome.MALFORMED):
        rcode, ttl = None, None
    return Observation(
        server_name=server,
        server="127.0.0.1:53",
        qname=w.name,
        rdtype=w.rdtype,
        outcome=outcome,
        rcode=rcode,
        answers=tuple(sorted(answers)),
        raw_answers=(),
        ttl=ttl,
        cname_chain=chain,
        latency_ms=3.0,
        observed_at=at,
        error=error,
        attempts=attempts,
        soa_serial=serial,
        # Answers from the authoritative servers carry AA, as nsd's do.
        authoritative_answer=server in AUTHORITATIVE_NAMES,
    )


def soa(serial: int, server: str) -> Observation:
    w = WatchedName("example.com", "SOA", "SOA", WATCHED[0].judge)
    answer = f"ns1.example.com hostmaster.example.com {serial} 3600 600 86400 300"
    return obs(w, Outcome.ANSWER, (answer,), server=server, serial=serial)


def sweep(
    resolver_answers: dict[tuple[str, str], Observation] | None = None,
    auth_answers: dict[tuple[str, str], Observation] | None = None,
    *,
    records: tuple[WatchedName, ...] | None = None,
    serials: tuple[int | None, ...] = (2024050101, 2024050101),
    authoritative_error: str | None = None,
    resolvers: tuple[ServerSpec, ...] = RESOLVERS,
    started_at: datetime = T0,
) -> SweepResult:
    authoritative = () if authoritative_error else AUTHORITATIVE
    serial_obs = {
        spec.name: (
            soa(serial, spec.name)
            if serial is not None
            else obs(watched("MX"), Outcome.TIMEOUT, server=spec.name, error="no reply")
        )
        for spec, serial in zip(authoritative, serials, strict=False)
    }
    return SweepResult(
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=2),
        watched=records if records is not None else WATCHED,
        resolvers=resolvers,
        authoritative=authoritative,
        authoritative_source="none" if authoritative_error else "configured",
        authoritative_error=authoritative_error,
        observations=resolver_answers or {},
        authoritative_observations={} if authoritative_error else (auth_answers or {}),
        serials=serial_obs,
    )


def everyone(
    w: WatchedName,
    answers: tuple[str, ...],
    outcome: Outcome = Outcome.ANSWER,
    servers: tuple[ServerSpec, ...] = RESOLVERS,
    **kwargs: object,
) -> dict[tuple[str, str], Observation]:
    return {
        (spec.name, w.key): obs(w, outcome, answers, server=spec.name, **kwargs)  # type: ignore[arg-type]
        for spec in servers
    }


def auth(
    w: WatchedName, answers: tuple[str, ...], outcome: Outcome = Outcome.ANSWER, **kwargs: object
) -> dict[tuple[str, str], Observation]:
    return everyone(w, answers, outcome, AUTHORITATIVE, **kwargs)


def view_of(w: WatchedName, answers: tuple[str, ...], outcome: Outcome = Outcome.ANSWER):  # noqa: ANN201
    return authoritative_view(sweep(auth_answers=auth(w, answers, outcome), records=(w,)), w)


def find(findings: list[Finding], check: str, resolver: str | None) -> Finding:
    return next(f for f in findings if f.check == check and f.resolver == resolver)
