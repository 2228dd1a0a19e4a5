"""Bad configs: each is refused with a problem that names the file, the key path and the fault."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cockpit.config import load_config, load_config_text
from cockpit.errors import ConfigError, ConfigProblem

BASE: dict[str, Any] = {
    "incident": {"dir": "incidents", "author": "alice"},
    "domain": {"name": "example.com"},
    "region": [
        {
            "name": "primary",
            "mx": ["mx1.example.com"],
            "sending_ips": ["203.0.113.10", "2001:db8::10"],
            "helo": "mx1.example.com",
            "dkim_selectors": ["eu1"],
            "dkim_private_keys": {"eu1": "keys/eu1.pem"},
            "webmail_url": "https://webmail.example.com/",
            "webmail_addresses": ["203.0.113.20"],
            "idp_url": "https://sso.example.com/.well-known/openid-configuration",
            "queue": [
                {
                    "name": "mx1",
                    "kind": "postqueue",
                    "command": ["postqueue", "-j"],
                    "warn": 10,
                    "crit": 100,
                },
                {
                    "name": "prom",
                    "kind": "prometheus",
                    "url": "http://prometheus.example.com:9090",
                    "metric": "postfix_queue_length",
                },
            ],
        },
        {
            "name": "secondary",
            "mx": ["mx1.backup.example.com"],
            "webmail_addresses": ["198.51.100.20"],
        },
    ],
    "dns": {
        "interval": 10,
        "timeout": 2.0,
        "authoritative": ["198.51.100.53"],
        "resolver": [{"name": "Cloudflare", "address": "1.1.1.1", "location": "anycast"}],
        "record": [{"name": "_dmarc.example.com", "type": "TXT"}],
    },
    "tls": {"ca_file": ""},
}

_PART = re.compile(r"([A-Za-z0-9_]+)|\[(\d+)\]")


def _parts(key_path: str) -> list[str | int]:
    return [name or int(index) for name, index in _PART.findall(key_path)]


def changed(key_path: str, value: object) -> str:
    """BASE with the value at `key_path` set (created if absent), as TOML."""
    document = copy.deepcopy(BASE)
    *parents, last = _parts(key_path)
    node: Any = document
    for part in parents:
        node = node[part]
    node[last] = value
    return tomli_w.dumps(document)


def with_ages(age_warn: int, age_crit: int) -> str:
    """BASE with both oldest-message age thresholds on the first queue."""
    document = copy.deepcopy(BASE)
    document["region"][0]["queue"][0].update(age_warn=age_warn, age_crit=age_crit)
    return tomli_w.dumps(document)


def dropped(key_path: str) -> str:
    """BASE without the key at `key_path`, as TOML."""
    document = copy.deepcopy(BASE)
    *parents, last = _parts(key_path)
    node: Any = document
    for part in parents:
        node = node[part]
    del node[last]
    return tomli_w.dumps(document)


STEP: dict[str, Any] = {"id": "check-archive", "phase": "after", "title": "Archive receives"}
"""A valid [[checklist.step]] for the checklist cases."""

MISSING = object()
"""Source marker: no file at all."""
DIRECTORY = object()
"""Source marker: a directory where the file should be."""


@dataclass(frozen=True)
class Case:
    id: str
    source: str | bytes | object
    key_path: str
    needle: str
    line: int | None = None


CASES: list[Case] = [
    # unknown keys
    Case("unknown top key", changed("domian", {"name": "x.com"}), "domian",
         "did you mean 'domain'?"),
    Case("unknown region key", changed("region[0].sendng_ips", ["203.0.113.10"]),
         "region[0].sendng_ips", "unknown key 'sendng_ips' (did you mean 'sending_ips'?)"),
    Case("unknown queue key, no close match", changed("region[0].queue[0].zzz", 1),
         "region[0].queue[0].zzz", "the keys allowed here are: name, kind, command"),
    Case("unknown resolver key", changed("dns.resolver[0].adress", "1.1.1.1"),
         "dns.resolver[0].adress", "did you mean 'address'?"),
    Case("unknown record key", changed("dns.record[0].typ", "TXT"), "dns.record[0].typ",
         "did you mean 'type'?"),
    Case("unknown key with control characters", tomli_w.dumps(BASE) + '"\\u001b[2J" = 1\n',
         'tls."\\x1b[2J"', "unknown key '\\x1b[2J'"),
    # types
    Case("bool as int", changed("region[0].queue[0].warn", True), "region[0].queue[0].warn",
         "found a boolean true"),
    Case("float as int", changed("region[0].queue[0].crit", 1.5), "region[0].queue[0].crit",
         "whole number"),
    Case("string as number", changed("dns.interval", "10"), "dns.interval",
         'expected an interval in seconds, found a string "10"'),
    Case("huge integer", changed("dns.interval", 10**30), "dns.interval", "from 1 to 3600"),
    Case("date-time as string", changed("domain.name", datetime(2024, 1, 2, 3, 4, 5)),
         "domain.name", "found a date-time 2024-01-02T03:04:05"),
    Case("NaN timeout", changed("dns.timeout", math.nan), "dns.timeout", "not finite"),
    Case("infinite queue timeout", changed("region[0].queue[0].timeout", math.inf),
         "region[0].queue[0].timeout", "not finite"),
    Case("negative interval", changed("dns.interval", -5), "dns.interval",
         "from 1 to 3600, found -5"),
    Case("zero queue timeout", changed("region[0].queue[0].timeout", 0),
         "region[0].queue[0].timeout", "above 0 and at most 300"),
    Case("negative warn", changed("region[0].queue[0].warn", -1), "region[0].queue[0].warn",
         "expected a queue depth, 0 or more, found -1"),
    Case("string where a list of hostnames is expected", changed("region[0].mx", "mx1.example.com"),
         "region[0].mx", 'expected a list of hostnames, found a string "mx1.example.com"'),
    Case("empty incident dir", changed("incident.dir", ""), "incident.dir", "empty string"),
    Case("table as path", changed("tls.ca_file", {"a": 1}), "tls.ca_file",
         "found a table with keys"),
    Case("control characters are escaped", changed("incident.author", "\x1b[31mmallory"),
         "incident.author", "\\x1b[31mmallory"),
    # addresses and names
    Case("invalid IP", changed("region[0].sending_ips[1]", "203.0.113.300"),
         "region[0].sending_ips[1]", "not an IPv4 or IPv6 address"),
    Case("IP:port out of range", changed("dns.resolver[0].address", "1.1.1.1:70000"),
         "dns.resolver[0].address", "port 70000 is out of range 1-65535"),
    Case("port zero", changed("dns.authoritative", ["[2001:db8::53]:0"]), "dns.authoritative[0]",
         "out of range"),
    Case("hostname as resolver", changed("dns.resolver[0].address", "dns.google"),
         "dns.resolver[0].address", "the system resolver is never used"),
    Case("hostname as authoritative server", changed("dns.authoritative", ["ns1.example.com"]),
         "dns.authoritative[0]", "must be an IP address"),
    Case("invalid hostname (underscore)", changed("region[0].mx[0]", "mx_1.example.com"),
         "region[0].mx[0]", "may hold only letters, digits, hyphens"),
    Case("invalid hostname (hyphen)", changed("region[0].helo", "-mx1.example.com"),
         "region[0].helo", "starts or ends with a hyphen"),
    Case("invalid hostname (long label)", changed("domain.name", "a" * 64 + ".com"),
         "domain.name", "longer than 63 characters"),
    Case("invalid hostname (too long)", changed("domain.name", ("a" * 60 + ".") * 5 + "com"),
         "domain.name", "longer than 253 characters"),
    Case("non-ASCII hostname", changed("domain.name", "bücher.example"), "domain.name",
         "xn--bcher-kva.example"),
    Case("IP as MX", changed("region[0].mx", ["203.0.113.5"]), "region[0].mx[0]",
         "MX targets must be names"),
    Case("record name with space", changed("dns.record[0].name", "a b.example.com"),
         "dns.record[0].name", "may hold only letters, digits, hyphens and underscores"),
    Case("record type unknown", changed("dns.record[0].type", "TXTX"), "dns.record[0].type",
         "not one of A, AAAA"),
    Case("DKIM selector with underscore", changed("region[0].dkim_selectors", ["eu_1"]),
         "region[0].dkim_selectors[0]", "DKIM selector"),
    # URLs
    Case("URL not https", changed("region[0].webmail_url", "http://webmail.example.com/"),
         "region[0].webmail_url", "the scheme must be https"),
    Case("credentials in URL", changed("region[0].idp_url", "https://u:p@sso.example.com/x"),
         "region[0].idp_url", "credentials"),
    Case("queue URL without host", changed("region[0].queue[1].url", "http:///metrics"),
         "region[0].queue[1].url", "no host"),
    # regions
    Case("duplicate region names", changed("region[1].name", "Primary"), "region[1].name",
         "duplicate region name 'Primary' (also region[0])"),
    Case("one region only", changed("region", BASE["region"][:1]), "region",
         "at least two [[region]] tables"),
    Case("no region at all", dropped("region"), "region", "found none"),
    Case("region as a single table", changed("region", BASE["region"][0]), "region",
         "[[region]] (double brackets)"),
    Case("invalid region name", changed("region[0].name", "-primary"), "region[0].name",
         "starting with a letter or digit"),
    Case("region without mx", dropped("region[1].mx"), "region[1].mx",
         "missing required key 'mx'"),
    Case("empty mx list", changed("region[1].mx", []), "region[1].mx", "at least one entry"),
    Case("same MX twice in a region",
         changed("region[0].mx", ["mx1.example.com", "MX1.example.com."]),
         "region[0].mx[1]", "listed twice (also region[0].mx[0])"),
    Case("same MX in two regions", changed("region[1].mx", ["mx1.example.com"]),
         "region[1].mx[0]", 'MX host "mx1.example.com" is also in region[0] ("primary")'),
    Case("same webmail address in two regions",
         changed("region[1].webmail_addresses", ["203.0.113.20"]),
         "region[1].webmail_addresses[0]", "answers could not be classified"),
    Case("dkim key for unknown selector", changed("region[0].dkim_private_keys", {"zz9": "k.pem"}),
         "region[0].dkim_private_keys.zz9", "not in dkim_selectors"),
    Case("missing domain", dropped("domain"), "domain.name", "missing required key 'name'"),
    # queues
    Case("argv given as a string", changed("region[0].queue[0].command", "postqueue -j"),
         "region[0].queue[0].command", 'an argv list such as ["postqueue", "-j"], never a shell'),
    Case("empty argv element", changed("region[0].queue[0].command", ["postqueue", ""]),
         "region[0].queue[0].command[1]", "empty string"),
    Case("queue kind unknown", changed("region[0].queue[0].kind", "postqueu"),
         "region[0].queue[0].kind", 'did you mean "postqueue"?'),
    Case("postqueue without command", dropped("region[0].queue[0].command"),
         "region[0].queue[0].command", "needs 'command'"),
    Case("prometheus without metric", dropped("region[0].queue[1].metric"),
         "region[0].queue[1].metric", "needs 'metric'"),
    Case("json without path", changed("region[0].queue[1].kind", "json"),
         "region[0].queue[1].path", "needs 'path'"),
    Case("key of another kind", changed("region[0].queue[0].url", "https://x.example.com/"),
         "region[0].queue[0].url", "'url' is not used by kind \"postqueue\""),
    Case("warn above crit", changed("region[0].queue[0].warn", 1000), "region[0].queue[0].crit",
         "expected crit to be at least warn (1000), found 100"),
    Case("age_warn above age_crit", with_ages(3600, 60), "region[0].queue[0].age_crit",
         "expected age_crit to be at least age_warn (3600), found 60"),
    Case("an age threshold on a source that gives no ages",
         changed("region[0].queue[1].age_warn", 600), "region[0].queue[1].age_warn",
         "age_warn needs a source that tells message ages (postqueue, mailq, or exim with"
         " detail_command): a prometheus source gives only the count"),
    Case("detail_command on a postqueue source",
         changed("region[0].queue[0].detail_command", ["exim", "-bp"]),
         "region[0].queue[0].detail_command",
         "'detail_command' is not used by kind \"postqueue\" (only by exim)"),
    Case("queue interval of zero", changed("region[0].queue[0].interval", 0),
         "region[0].queue[0].interval", "interval"),
    Case("duplicate queue names", changed("region[1].queue", [BASE["region"][0]["queue"][0]]),
         "region[1].queue[0].name", "duplicate queue name 'mx1' (also region[0].queue[0])"),
    # [[region.endpoint]], [[region.replication]], [[region.role]], [service], [authority]
    Case("endpoint of an unknown kind", changed("region[0].endpoint", [{"kind": "imaps"}]),
         "region[0].endpoint[0].kind", "not one of smtp, submission, imap, pop3, https, tcp"),
    Case("imap endpoint without address", changed("region[0].endpoint", [{"kind": "imap"}]),
         "region[0].endpoint[0].address", "needs `address`"),
    Case("tcp endpoint without a port",
         changed("region[0].endpoint", [{"kind": "tcp", "address": "db.example.com"}]),
         "region[0].endpoint[0].address", "needs a port"),
    Case("https endpoint with address",
         changed("region[0].endpoint", [{"kind": "https", "address": "mail.example.com"}]),
         "region[0].endpoint[0].address", "takes `url`"),
    Case("endpoint address with a bad port",
         changed("region[0].endpoint", [{"kind": "smtp", "address": "mx.example.com:99999"}]),
         "region[0].endpoint[0].address", "out of range"),
    Case("endpoint with an unknown tls mode",
         changed("region[0].endpoint", [{"kind": "imap", "address": "i.example.com",
                                         "tls": "ssl"}]),
         "region[0].endpoint[0].tls", "not one of starttls, implicit, none"),
    Case("replication source without command",
         changed("region[0].replication", [{"name": "lag", "kind": "command"}]),
         "region[0].replication[0].command", "a replication source of kind \"command\" needs"),
    Case("replication warn above crit",
         changed("region[0].replication", [{"name": "lag", "kind": "command",
                                            "command": ["lag"], "warn": 60, "crit": 30}]),
         "region[0].replication[0].crit", "expected crit to be at least warn (60), found 30"),
    Case("role source of a queue kind",
         changed("region[0].role", [{"name": "ctl", "kind": "postqueue"}]),
         "region[0].role[0].kind", "not one of command, json, http, prometheus"),
    Case("role source named like a queue",
         changed("region[1].role", [{"name": "mx1", "kind": "http",
                                     "url": "https://c.example.com/role"}]),
         "region[1].role[0].name", "duplicate role source name 'mx1' (also region[0].queue[0])"),
    Case("service timeout of zero", changed("service", {"timeout": 0}), "service.timeout",
         "timeout"),
    Case("authority grace too long", changed("authority", {"grace": 99999}), "authority.grace",
         "3600"),
    Case("duplicate resolver names",
         changed("dns.resolver", [*BASE["dns"]["resolver"], {"name": "cloudflare",
                                                             "address": "1.0.0.1"}]),
         "dns.resolver[1].name", "duplicate resolver name 'cloudflare' (also dns.resolver[0])"),
    # the file itself
    Case("TOML syntax error", 'x = 1\n[domain]\nname = "example.com\n', "", "not valid TOML",
         line=3),
    Case("TOML duplicate key", '[domain]\nname = "a.com"\nname = "b.com"\n', "",
         "not valid TOML", line=3),
    Case("non-UTF-8 bytes", b'[domain]\nname = "ex\xffample.com"\n', "",
         "not UTF-8: byte 0xff at offset 19 (line 2)", line=2),
    Case("missing file", MISSING, "", "config file not found"),
    Case("directory as file", DIRECTORY, "", "is a directory"),
    Case("too large", b"# " + b"x" * (1024 * 1024) + b"\n", "", "larger than 1024 KiB"),
    # [checklist]
    Case("unknown checklist key", changed("checklist", {"replace_builtn": True}),
         "checklist.replace_builtn", "did you mean 'replace_builtin'?"),
    Case("replace_builtin as a string", changed("checklist", {"replace_builtin": "yes"}),
         "checklist.replace_builtin", 'expected true or false, found a string "yes"'),
    Case("unknown checklist step key",
         changed("checklist", {"step": [{**STEP, "titel": "x"}]}),
         "checklist.step[0].titel", "did you mean 'title'?"),
    Case("checklist step as a single table", changed("checklist", {"step": STEP}),
         "checklist.step", "[[checklist.step]] (double brackets)"),
    Case("duplicate step id",
         changed("checklist", {"step": [STEP, {**STEP, "title": "Again"}]}),
         "checklist.step[1].id", 'duplicate step id "check-archive" (also checklist.step[0])'),
    Case("step id not a slug", changed("checklist", {"step": [{**STEP, "id": "Check Archive"}]}),
         "checklist.step[0].id", "lower-case letters, digits and hyphens"),
    Case("step without title", changed("checklist", {"step": [{"id": "a", "phase": "after"}]}),
         "checklist.step[0].title", "missing required key 'title'"),
    Case("step phase unknown", changed("checklist", {"step": [{**STEP, "phase": "durin"}]}),
         "checklist.step[0].phase", 'did you mean "during"?'),
    Case("sets_phase unknown",
         changed("checklist", {"step": [{**STEP, "sets_phase": "recovered"}]}),
         "checklist.step[0].sets_phase", "not one of impact, detected, declared"),
    Case("auto with a bad operator",
         changed("checklist", {"step": [{**STEP, "auto": "auth.spf = ok"}]}),
         "checklist.step[0].auto", "expected == or <= before the status"),
    Case("auto on unknown status",
         changed("checklist", {"step": [{**STEP, "auto": "auth.spf == unknown"}]}),
         "checklist.step[0].auto", "the status must be one of ok, warn, fail"),
    Case("auto without area", changed("checklist", {"step": [{**STEP, "auto": "spf == ok"}]}),
         "checklist.step[0].auto", "expected AREA.CHECK"),
    Case("control characters in step help",
         changed("checklist", {"step": [{**STEP, "help": "line\n\x1b[2J"}]}),
         "checklist.step[0].help", "control characters other than newlines"),
]


def _load(case: Case, tmp_path: Path) -> ConfigError:
    path = tmp_path / "cockpit.toml"
    if case.source is DIRECTORY:
        path.mkdir()
    elif isinstance(case.source, bytes):
        path.write_bytes(case.source)
    elif isinstance(case.source, str):
        path.write_text(case.source, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_config_is_refused_with_a_clear_problem(case: Case, tmp_path: Path) -> None:
    error = _load(case, tmp_path)
    shown = str(error)
    assert "cockpit.toml" in shown
    assert "\x1b" not in shown
    matching = [p for p in error.problems if p.key_path == case.key_path]
    assert matching, f"no problem at {case.key_path!r} in:\n{shown}"
    assert any(case.needle in p.message for p in matching), shown
    if case.line is not None:
        assert any(p.line == case.line for p in matching), shown
    for problem in error.problems:
        assert isinstance(problem, ConfigProblem)
        assert problem.file.endswith("cockpit.toml")


def test_every_problem_is_reported_at_once() -> None:
    text = changed("dns.interval", True).replace('"203.0.113.10"', '"not-an-ip"')
    text = text.replace('kind = "postqueue"', 'kind = "nope"')
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="many.toml")
    paths = {problem.key_path for problem in caught.value.problems}
    assert {"dns.interval", "region[0].sending_ips[0]", "region[0].queue[0].kind"} <= paths


def test_problems_name_the_line_of_their_key() -> None:
    text = changed("region[1].helo", "bad_name.example.com")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="lines.toml")
    (problem,) = caught.value.problems
    assert text.splitlines()[problem.line - 1].startswith("helo = ")  # type: ignore[operator]
    assert str(problem).startswith(f"lines.toml:{problem.line}: region[1].helo: ")


def test_toml_error_names_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("[domain]\nname = \n", source="syntax.toml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 8)
    assert str(problem).startswith("syntax.toml:2:8: not valid TOML: Invalid value")


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cockpit.toml"
    path.write_text(tomli_w.dumps(BASE), encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError, match="permission denied"):
        load_config(path)


def test_not_found_lists_the_places_searched(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "gone.toml", searched=["$COCKPIT_CONFIG (x)", "/etc/y"])
    assert "config file not found; looked in: $COCKPIT_CONFIG (x); /etc/y" in str(caught.value)


def test_path_with_nul_byte() -> None:
    with pytest.raises(ConfigError, match="cannot use this path"):
        load_config("bad\x00name.toml")


def test_text_that_is_not_a_string() -> None:
    with pytest.raises(ConfigError, match="expected the config as text"):
        load_config_text(b"[domain]")  # type: ignore[arg-type]


def test_the_base_is_valid() -> None:
    config = load_config_text(tomli_w.dumps(BASE))
    assert config.region_names() == ("primary", "secondary")
