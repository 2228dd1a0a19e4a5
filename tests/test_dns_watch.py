"""Which records are watched, derived from the config."""

from __future__ import annotations

from cockpit.config import load_config_text
from cockpit.dns.watch import Judge, answer_targets, watched_names

CONFIG = """
[domain]
name = "example.com"

[[region]]
name = "primary"
mx = ["mx1.example.com", "mx2.example.com"]
sending_ips = ["203.0.113.10", "2001:db8::10"]
dkim_selectors = ["eu1", "shared"]
webmail_url = "https://webmail.example.com/"
webmail_addresses = ["203.0.113.20", "2001:db8::20"]
autodiscover_targets = ["autodiscover.eu.example.com"]

[[region]]
name = "secondary"
mx = ["mx3.example.com"]
sending_ips = ["198.51.100.10"]
dkim_selectors = ["us1", "shared"]
webmail_url = "https://webmail.example.com/"
webmail_addresses = ["198.51.100.20"]
autodiscover_targets = ["autodiscover.us.example.com"]

[[dns.record]]
name = "autoconfig.example.com"
type = "CNAME"

[[dns.record]]
name = "example.com"
type = "MX"
"""


def test_every_mail_record_is_watched_once() -> None:
    names = watched_names(load_config_text(CONFIG))
    keys = [watched.key for watched in names]
    assert keys == [
        "example.com MX",
        "webmail.example.com A",
        "webmail.example.com AAAA",
        "autodiscover.example.com CNAME",
        "_autodiscover._tcp.example.com SRV",
        "example.com TXT",
        "_dmarc.example.com TXT",
        "eu1._domainkey.example.com TXT",
        "shared._domainkey.example.com TXT",
        "us1._domainkey.example.com TXT",
        "_mta-sts.example.com TXT",
        "_smtp._tls.example.com TXT",
        "_25._tcp.mx1.example.com TLSA",
        "_25._tcp.mx2.example.com TLSA",
        "_25._tcp.mx3.example.com TLSA",
        "10.100.51.198.in-addr.arpa PTR",  # sending IPs in address order, IPv4 first
        "10.113.0.203.in-addr.arpa PTR",
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR",
        "autoconfig.example.com CNAME",
    ]
    assert len(set(keys)) == len(keys)  # the extra MX record is the derived one: not asked twice


def test_region_targets_and_judges() -> None:
    names = {w.key: w for w in watched_names(load_config_text(CONFIG))}
    mx = names["example.com MX"]
    assert mx.judge is Judge.BY_REGION and mx.check == "MX"
    assert dict(mx.targets_by_region) == {
        "primary": frozenset({"mx1.example.com", "mx2.example.com"}),
        "secondary": frozenset({"mx3.example.com"}),
    }
    a = names["webmail.example.com A"]
    assert dict(a.targets_by_region) == {
        "primary": frozenset({"203.0.113.20"}),
        "secondary": frozenset({"198.51.100.20"}),
    }
    aaaa = names["webmail.example.com AAAA"]
    assert dict(aaaa.targets_by_region) == {
        "primary": frozenset({"2001:db8::20"}),
        "secondary": frozenset(),
    }
    spf = names["example.com TXT"]
    assert (spf.check, spf.judge, spf.txt_prefix) == ("SPF", Judge.BY_AUTHORITATIVE, "v=spf1")
    assert names["_dmarc.example.com TXT"].check == "DMARC"
    assert names["eu1._domainkey.example.com TXT"].check == "DKIM"
    assert not names["_mta-sts.example.com TXT"].required
    assert names["10.113.0.203.in-addr.arpa PTR"].required


def test_no_aaaa_without_ipv6_webmail_and_no_autodiscover_when_unset() -> None:
    text = (
        CONFIG.replace(', "2001:db8::20"', "")
        .replace('autodiscover_targets = ["autodiscover.eu.example.com"]', "")
        .replace('autodiscover_targets = ["autodiscover.us.example.com"]', "")
    )
    keys = {w.key for w in watched_names(load_config_text(text))}
    assert "webmail.example.com AAAA" not in keys
    assert "autodiscover.example.com CNAME" not in keys
    assert "_autodiscover._tcp.example.com SRV" not in keys


def test_answer_targets() -> None:
    assert answer_targets("MX", "10 mx1.example.com") == "mx1.example.com"
    assert answer_targets("SRV", "0 0 443 autodiscover.eu.example.com") == (
        "autodiscover.eu.example.com"
    )
    assert answer_targets("CNAME", "autodiscover.eu.example.com") == "autodiscover.eu.example.com"
    assert answer_targets("A", "203.0.113.20") == "203.0.113.20"
