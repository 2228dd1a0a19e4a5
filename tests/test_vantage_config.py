"""`[[vantage]]` in the config: what is accepted, and a clear error for everything else."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from cockpit.config import ServerAddress, load_config_text
from cockpit.config.vantage_schema import VANTAGE_KEYS
from cockpit.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

BASE = textwrap.dedent(
    """\
    [domain]
    name = "example.com"

    [[region]]
    name = "primary"
    mx = ["mx1.example.com"]

    [[region]]
    name = "secondary"
    mx = ["mx1.backup.example.com"]
    """
)


def load(vantages: str):  # noqa: ANN201 - a Config
    return load_config_text(BASE + textwrap.dedent(vantages))


def problems(vantages: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load(vantages)
    return str(raised.value)


def test_an_ssh_and_a_prometheus_vantage_load_with_their_defaults() -> None:
    config = load(
        """\
        [[vantage]]
        name = "office"
        location = "Berlin office"
        kind = "ssh"
        host = "ops@jump1.example.com"
        ssh_options = ["-p", "2222", "-o", "ConnectionAttempts=1"]
        resolvers = ["10.1.0.53", "1.1.1.1:5353", "[2606:4700::1111]:53"]

        [[vantage]]
        name = "sites"
        kind = "prometheus"
        url = "http://prom.example.com:9090"
        labels = { env = "prod" }
        """
    )
    office, sites = config.vantages
    assert office.kind == "ssh" and office.host == "ops@jump1.example.com"
    assert office.ssh_options == ("-p", "2222", "-o", "ConnectionAttempts=1")
    assert office.resolvers == (
        ServerAddress("10.1.0.53", 53),
        ServerAddress("1.1.1.1", 5353),
        ServerAddress("2606:4700::1111", 53),
    )
    assert (office.timeout, office.interval, office.location) == (5.0, 30.0, "Berlin office")
    assert sites.kind == "prometheus" and sites.url == "http://prom.example.com:9090"
    assert (sites.job, sites.site_label) == ("blackbox", "site")
    assert dict(sites.labels) == {"env": "prod"}
    assert sites.resolvers is None and sites.host is None and sites.location == "unknown"


def test_no_vantage_is_the_default() -> None:
    assert load("").vantages == ()


def test_without_resolvers_an_ssh_vantage_asks_what_the_host_uses() -> None:
    (office,) = load('[[vantage]]\nname = "o"\nkind = "ssh"\nhost = "jump1"\n').vantages
    assert office.resolvers is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('kind = "ssh"', "vantage[0].host: this vantage needs 'host'"),
        ('kind = "prometheus"', "vantage[0].url: this vantage needs 'url'"),
        ('kind = "sssh"\nhost = "a"', 'not one of ssh, prometheus (did you mean "ssh"?)'),
        ('kind = "ssh"\nhost = "a"\nurl = "http://p"', "'url' is only for kind = \"prometheus\""),
        ('kind = "prometheus"\nurl = "http://p"\nhost = "a"', "'host' is only for kind = \"ssh\""),
        ('kind = "ssh"\nhost = "-oProxyCommand=x"', "cannot start with '-'"),
        ('kind = "ssh"\nhost = "a b"', "an ssh destination has no spaces"),
        ('kind = "ssh"\nhost = "a"\nssh_options = "-p 22"', "never one string"),
        ('kind = "ssh"\nhost = "a"\nssh_options = ["-o", "BatchMode=no"]', "BatchMode is set by"),
        ('kind = "ssh"\nhost = "a"\nssh_options = ["-oControlPath=/tmp/x"]', "ControlPath is set"),
        ('kind = "ssh"\nhost = "a"\nssh_options = ["-M"]', "-M changes what"),
        ('kind = "ssh"\nhost = "a"\nresolvers = []', "at least one entry"),
        ('kind = "ssh"\nhost = "a"\nresolvers = ["dns.google"]', "must be an IP address"),
        ('kind = "ssh"\nhost = "a"\nresolvers = ["1.1.1.1", "1.1.1.1"]', "listed twice"),
        ('kind = "prometheus"\nurl = "ftp://p"', "the scheme must be http or https"),
        ('kind = "prometheus"\nurl = "http://p"\nsite_label = "a-b"', "a label name holds"),
        ('kind = "ssh"\nhost = "a"\ntimeout = 30', "expected a timeout below the interval"),
        ('kind = "ssh"\nhost = "a"\ntimeout = 0', "timeout"),
        ('kind = "ssh"\nhost = "a"\nportt = 22', "portt"),
    ],
)
def test_a_bad_vantage_is_a_clear_error(table: str, message: str) -> None:
    text = problems(f'[[vantage]]\nname = "office"\n{table}\n')
    assert message in text, text
    assert "Traceback" not in text


def test_vantage_names_are_unique() -> None:
    text = problems(
        '[[vantage]]\nname = "office"\nkind = "ssh"\nhost = "a"\n'
        '[[vantage]]\nname = "office"\nkind = "ssh"\nhost = "b"\n'
    )
    assert "duplicate vantage name 'office'" in text, text


def test_the_example_documents_every_vantage_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    section = text[text.index("# [[vantage]]") :]
    for key in VANTAGE_KEYS:
        assert re.search(rf"^#\s*{re.escape(key.name)} =", section, re.M), key.name


def test_the_example_vantage_pair_loads_once_uncommented() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("# [[vantage]]") :]
    block = block[: block.find("\n# ----")] if "\n# ----" in block else block
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else "" for line in block.splitlines()
    )
    config = load_config_text(text + "\n" + uncommented, base_dir=EXAMPLE.parent)
    assert [(v.name, v.kind) for v in config.vantages] == [
        ("office", "ssh"),
        ("sites", "prometheus"),
    ]
    assert load_config_text(text, base_dir=EXAMPLE.parent).vantages == ()  # commented out
