"""[[region.endpoint]], [[region.replication]], [[region.role]], [service] and [authority]."""

from __future__ import annotations

from cockpit.config import load_config_text

REGIONS = """
[domain]
name = "example.com"
[[region]]
name = "primary"
mx = ["mx1.example.com"]
{extra}
[[region]]
name = "secondary"
mx = ["mx2.example.com"]
"""


def endpoints(*tables: str) -> list:
    extra = "\n".join(f"[[region.endpoint]]\n{table}" for table in tables)
    return list(load_config_text(REGIONS.format(extra=extra)).regions[0].endpoints)


def test_ports_and_tls_default_by_kind_and_port() -> None:
    found = endpoints(
        'kind = "imap"\naddress = "imap.example.com"',
        'kind = "imap"\naddress = "imap.example.com:993"',
        'kind = "submission"\naddress = "smtp.example.com:465"',
        'kind = "submission"\naddress = "smtp.example.com"',
        'kind = "pop3"\naddress = "[2001:db8::5]:995"',
        'kind = "tcp"\naddress = "10.0.0.5:3306"',
        'kind = "https"\nurl = "https://mail.example.com:8443/health?x=1"',
        'kind = "smtp"\naddress = "MX3.Example.com"\ntls = "none"\nwarn_ms = 250',
    )
    assert [(e.kind, e.host, e.port, e.tls) for e in found] == [
        ("imap", "imap.example.com", 143, "starttls"),
        ("imap", "imap.example.com", 993, "implicit"),
        ("submission", "smtp.example.com", 465, "implicit"),
        ("submission", "smtp.example.com", 587, "starttls"),
        ("pop3", "2001:db8::5", 995, "implicit"),
        ("tcp", "10.0.0.5", 3306, "none"),
        ("https", "mail.example.com", 8443, "implicit"),
        ("smtp", "mx3.example.com", 25, "none"),
    ]
    assert found[4].subject == "[2001:db8::5]:995"
    assert found[6].path == "/health?x=1"
    assert found[7].warn_ms == 250


def test_service_and_authority_defaults() -> None:
    config = load_config_text(REGIONS.format(extra=""))
    assert (config.service.interval, config.service.timeout, config.service.mx_port) == (
        30.0,
        5.0,
        25,
    )
    assert config.service.helo is None
    assert config.authority.grace == 120.0
    assert config.regions[0].replication == () and config.regions[0].roles == ()


def test_replication_and_role_sources() -> None:
    extra = """
[[region.replication]]
name = "store"
kind = "prometheus"
url = "http://127.0.0.1:9100/metrics"
metric = "replication_lag_seconds"
labels = { instance = "a" }
warn = 30.5
crit = 300
[[region.role]]
name = "ctl"
kind = "command"
command = ["role-of", "primary"]
"""
    region = load_config_text(REGIONS.format(extra=extra)).regions[0]
    (lag,) = region.replication
    assert (lag.kind, lag.metric, dict(lag.labels), lag.warn, lag.crit) == (
        "prometheus",
        "replication_lag_seconds",
        {"instance": "a"},
        30.5,
        300,
    )
    (role,) = region.roles
    assert role.command == ("role-of", "primary") and role.timeout == 10.0
