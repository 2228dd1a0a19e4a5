"""The blackbox_exporter modules: generation, names read back, regexes over the RR text blackbox
matches, the Prometheus scrape config; and the real exporter's and promtool's config checks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cockpit.config import Config, load_config_text
from cockpit.config.model import Region, Vantage
from cockpit.dns.watch import Judge, WatchedName, watched_names
from cockpit.vantage.blackbox import (
    BlackboxSite,
    blackbox_modules,
    go_regex_escape,
    module_for,
    module_table,
    rcode_module_for,
    read_module,
    region_regex,
    scrape_config_example,
    smtp_module_for,
)
from tests.lab import find_program, missing_in_lab
from tests.lab.config_for_tests import hand_config

CONFIG = """
[domain]
name = "drill.example"

[[region]]
name = "eu"
mx = ["mx1.eu.drill.example", "mx2.eu.drill.example"]
webmail_url = "https://webmail.drill.example/"
webmail_addresses = ["127.0.0.80", "2001:db8::20"]
autodiscover_targets = ["ad.eu.drill.example"]

[[region]]
name = "us-east.1"
mx = ["mx1.us.drill.example"]
webmail_url = "https://webmail.drill.example/"
webmail_addresses = ["127.0.0.81"]
autodiscover_targets = ["ad.us.drill.example"]

[[vantage]]
name = "sites"
kind = "prometheus"
url = "http://prometheus.drill.example:9090"
job = "bb"
site_label = "dc"
labels = { env = "prod" }
"""


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config_text(CONFIG)


def _by_key(config: Config) -> dict[str, WatchedName]:
    return {w.key: w for w in watched_names(config)}


def _python(regex: str) -> re.Pattern[str]:
    """An RE2 regex of ours in Python's re (they agree on every construct we write)."""
    return re.compile(regex)


def test_the_file_parses_and_names_every_module_of_the_table(config: Config) -> None:
    text = blackbox_modules(config)
    modules = yaml.safe_load(text)["modules"]
    table = module_table(config)
    assert list(modules) == list(table)
    region_records = [w for w in watched_names(config) if w.judge is Judge.BY_REGION]
    assert [w.key for w in region_records] == [
        "drill.example MX",
        "webmail.drill.example A",
        "webmail.drill.example AAAA",
        "autodiscover.drill.example CNAME",
        "_autodiscover._tcp.drill.example SRV",
    ]
    # two regions + three rcodes per record, one banner module per MX host
    assert len(table) == 5 * 5 + 3
    mx = _by_key(config)["drill.example MX"]
    eu = modules[module_for(mx, "eu")]
    assert eu["prober"] == "dns"
    assert eu["dns"]["query_name"] == "drill.example" and eu["dns"]["query_type"] == "MX"
    assert eu["dns"]["transport_protocol"] == "udp" and eu["dns"]["valid_rcodes"] == ["NOERROR"]
    rrs = eu["dns"]["validate_answer_rrs"]
    assert rrs["fail_if_none_matches_regexp"] == [region_regex(mx, mx.targets_by_region["eu"])]
    smtp = modules[smtp_module_for("mx1.us.drill.example")]
    assert smtp["prober"] == "tcp"
    assert smtp["tcp"]["query_response"] == [{"expect": "^220"}, {"send": "QUIT"}]
    assert blackbox_modules(config) == text  # deterministic


def test_a_region_without_targets_of_a_type_expects_none(config: Config) -> None:
    aaaa = _by_key(config)["webmail.drill.example AAAA"]
    module = yaml.safe_load(blackbox_modules(config))["modules"][module_for(aaaa, "us-east.1")]
    rrs = module["dns"]["validate_answer_rrs"]
    assert list(rrs) == ["fail_if_matches_regexp"]
    (any_aaaa,) = rrs["fail_if_matches_regexp"]
    assert _python(any_aaaa).search("webmail.drill.example.\t5\tIN\tAAAA\t2001:db8::20")
    assert not _python(any_aaaa).search("webmail.drill.example.\t5\tIN\tCNAME\tx.example.")


def test_names_are_short_safe_stable_and_read_back(config: Config) -> None:
    table = module_table(config)
    for name, module in table.items():
        assert re.fullmatch(r"cockpit_(dns|rcode|smtp)_[a-z0-9_]+_[0-9a-f]{8}", name), name
        assert len(name) <= 140
        if module.family == "dns":
            assert module.watched is not None and module.region is not None
            assert read_module(name, config) == (module.watched, module.region)
        else:
            assert read_module(name, config) is None
    mx = _by_key(config)["drill.example MX"]
    assert module_for(mx, "eu").startswith("cockpit_dns_drill_example_mx_eu_")
    assert module_for(mx, "us-east.1").startswith("cockpit_dns_drill_example_mx_us_east_1_")
    assert module_for(mx, "eu") == module_for(mx, "eu")
    assert rcode_module_for(mx, "NXDOMAIN").startswith("cockpit_rcode_drill_example_mx_nxdomain")
    for hostile in ("", "x" * 10_000, "\x1b[31m", "cockpit_dns_drill_example_mx_eu_00000000"):
        assert read_module(hostile, config) is None


def test_lossy_readable_parts_never_collide() -> None:
    one = WatchedName("a-b.example", "MX", "MX", Judge.BY_REGION)
    two = WatchedName("a.b.example", "MX", "MX", Judge.BY_REGION)
    assert module_for(one, "eu") != module_for(two, "eu")
    assert module_for(one, "eu-1") != module_for(one, "eu.1")
    long = WatchedName("x" * 60 + ".example", "MX", "MX", Judge.BY_REGION)
    assert len(module_for(long, "r" * 40)) <= 120


# What blackbox 0.23 matched against, as its debug log printed it (miekg/dns RR.String()).
RR_MX_EU = "drill.example.\t3\tIN\tMX\t10 mx1.eu.drill.example."
RR_MX_US = "drill.example.\t3\tIN\tMX\t20 mx1.us.drill.example."
RR_CHAIN = "webmail.drill.example.\t3\tIN\tCNAME\tweb.eu.drill.example."
RR_A_EU = "web.eu.drill.example.\t3\tIN\tA\t127.0.0.80"
RR_SRV = "_autodiscover._tcp.drill.example.\t3\tIN\tSRV\t0 0 443 ad.eu.drill.example."
RR_CNAME = "autodiscover.drill.example.\t3\tIN\tCNAME\tad.eu.drill.example."


def _checks(config: Config, key: str, region: str) -> dict[str, Any]:
    watched = _by_key(config)[key]
    module = yaml.safe_load(blackbox_modules(config))["modules"][module_for(watched, region)]
    return dict(module["dns"]["validate_answer_rrs"])


def _passes(checks: dict[str, Any], answer: list[str]) -> bool:
    """blackbox's validRRs, for the two checks the region modules use."""
    every = [_python(r) for r in checks.get("fail_if_not_matches_regexp", [])]
    some = [_python(r) for r in checks.get("fail_if_none_matches_regexp", [])]
    if not answer and (every or some):
        return False
    if any(not r.search(rr) for rr in answer for r in every):
        return False
    return not some or any(r.search(rr) for rr in answer for r in some)


@pytest.mark.parametrize(
    ("key", "answer", "eu", "us"),
    [
        ("drill.example MX", [RR_MX_EU], True, False),
        ("drill.example MX", [RR_MX_US], False, True),
        ("drill.example MX", [RR_MX_EU, RR_MX_US], False, False),  # split: no single region
        ("drill.example MX", [], False, False),  # empty answers fail
        ("drill.example MX", [RR_MX_EU.upper()], True, False),  # a resolver may change case
        ("drill.example MX", [RR_MX_EU.replace("mx1.eu", "mx1xeu")], False, False),
        ("drill.example MX", [RR_MX_EU + "evil.example."], False, False),  # anchored
        ("webmail.drill.example A", [RR_CHAIN, RR_A_EU], True, False),  # the chain is allowed
        ("webmail.drill.example A", [RR_CHAIN], False, False),
        ("webmail.drill.example A", [RR_A_EU.replace(".80", ".81")], False, True),
        ("_autodiscover._tcp.drill.example SRV", [RR_SRV], True, False),
        ("autodiscover.drill.example CNAME", [RR_CNAME], True, False),
    ],
)
def test_region_checks_over_the_rr_text_blackbox_sees(
    config: Config, key: str, answer: list[str], eu: bool, us: bool
) -> None:
    assert _passes(_checks(config, key, "eu"), answer) is eu
    assert _passes(_checks(config, key, "us-east.1"), answer) is us


def test_escaping_makes_hostile_names_literal() -> None:
    assert go_regex_escape("a.b|c*") == r"a\.b\|c\*"
    assert go_regex_escape("x\ty\x1b") == r"x\x09y\x1b"
    assert go_regex_escape("é") == r"\x{e9}"
    watched = WatchedName("x.example", "MX", "MX", Judge.BY_REGION)
    regex = region_regex(watched, [".*", "a|b", "(x)"])
    assert _python(regex).search("x.example.\t1\tIN\tMX\t1 .*.")
    assert not _python(regex).search("x.example.\t1\tIN\tMX\t1 anything.")
    assert not _python(regex).search("x.example.\t1\tIN\tMX\t1 a.")


def _hostile_config() -> Config:
    regions = (
        Region(name="eu'\n  evil: [", mx=("mx'1.example\"\\",), webmail_addresses=()),
        Region(name="us\x1b[31m", mx=("mx2.example",)),
    )
    return hand_config("drill.example\n# not a comment", regions)


def test_hostile_config_text_cannot_become_yaml_structure() -> None:
    config = _hostile_config()
    text = blackbox_modules(config)
    assert "\x1b" not in text and text.isascii()
    modules = yaml.safe_load(text)["modules"]
    assert list(modules) == list(module_table(config))
    mx = next(w for w in watched_names(config) if w.rdtype == "MX")
    assert modules[module_for(mx, "eu'\n  evil: [")]["dns"]["query_name"] == mx.name
    for module in modules.values():
        assert set(module) <= {"prober", "timeout", "dns", "tcp"}


def test_scrape_config_keeps_module_site_and_instance(config: Config) -> None:
    vantage = config.vantages[0]
    sites = [
        BlackboxSite("berlin", "10.1.0.5:9115", ("10.1.0.53", "10.1.0.54:5353")),
        BlackboxSite("nyc", "10.2.0.5:9115", ("10.2.0.53",), {"mx1.us.drill.example": "x:2525"}),
    ]
    document = yaml.safe_load(scrape_config_example(config, vantage, sites))
    dns_job, smtp_job = document["scrape_configs"]
    table = module_table(config)
    dns_modules = [name for name, m in table.items() if m.family != "smtp"]
    assert len(dns_job["static_configs"]) == 2 * len(dns_modules)
    first = dns_job["static_configs"][0]
    assert first["targets"] == ["10.1.0.53", "10.1.0.54:5353"]
    assert first["labels"] == {
        "env": "prod",
        "dc": "berlin",
        "__cockpit_exporter": "10.1.0.5:9115",
        "__param_module": dns_modules[0],
    }
    relabel = {
        (tuple(r.get("source_labels", ())), r["target_label"]) for r in dns_job["relabel_configs"]
    }
    assert relabel == {
        (("__param_module",), "module"),
        (("__address__",), "__param_target"),
        (("__param_target",), "instance"),
        (("__cockpit_exporter",), "__address__"),
        ((), "job"),
    }  # fmt: skip
    assert dns_job["relabel_configs"][-1]["replacement"] == "bb"
    smtp_targets = [group["targets"] for group in smtp_job["static_configs"]]
    assert ["mx1.us.drill.example:25"] in smtp_targets and ["x:2525"] in smtp_targets
    default = yaml.safe_load(scrape_config_example(config, vantage))
    assert len(default["scrape_configs"]) == 2
    no_vantage = yaml.safe_load(scrape_config_example(config, None))
    first = no_vantage["scrape_configs"][0]
    assert first["static_configs"][0]["labels"]["site"] == "site-a"
    assert first["relabel_configs"][-1]["replacement"] == "blackbox"


# --- the real programs' own config checks --------------------------------------------------------


def _run_check(program: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    path = find_program(program)
    if path is None:
        missing_in_lab(f"{program} is not installed (tests/debian-packages.txt)")
    assert path is not None
    return subprocess.run([path, *argv], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("which", ["drill", "hostile"])
def test_the_real_blackbox_exporter_accepts_the_file(
    config: Config, tmp_path: Path, which: str
) -> None:
    chosen = config if which == "drill" else _hostile_config()
    path = tmp_path / "blackbox.yml"
    path.write_text(blackbox_modules(chosen))
    done = _run_check("prometheus-blackbox-exporter", ["--config.check", f"--config.file={path}"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Config file is ok" in done.stdout + done.stderr


def test_promtool_accepts_the_scrape_config(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    vantage: Vantage = config.vantages[0]
    path.write_text(scrape_config_example(config, vantage))
    done = _run_check("promtool", ["check", "config", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr
