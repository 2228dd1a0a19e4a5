"""The config loader on good input: the example, defaults, search order, paths, immutability."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cockpit.config import (
    BUILTIN_RESOLVERS,
    Config,
    ServerAddress,
    config_search_places,
    find_config_path,
    load_config,
    load_config_text,
    no_config_found_error,
    schema,
)
from cockpit.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

MINIMAL = textwrap.dedent(
    """\
    [domain]
    name = "Example.COM."

    [[region]]
    name = "primary"
    mx = ["MX1.example.com."]

    [[region]]
    name = "secondary"
    mx = ["mx1.backup.example.com"]
    """
)


def test_the_example_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    assert config.domain.name == "example.com"
    assert config.region_names() == ("primary", "secondary")
    kinds = {queue.kind for region in config.regions for queue in region.queues}
    assert {"postqueue", "prometheus", "json", "exim", "command"} <= kinds
    assert len(config.dns.resolvers) >= 2
    assert not config.dns.resolvers_are_builtin


def test_the_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    tables = {
        "incident": schema.INCIDENT_KEYS,
        "domain": schema.DOMAIN_KEYS,
        "region": schema.REGION_KEYS,
        "region.queue": schema.QUEUE_KEYS,
        "dns": schema.DNS_KEYS,
        "dns.resolver": schema.RESOLVER_KEYS,
        "dns.record": schema.RECORD_KEYS,
        "tls": schema.TLS_KEYS,
    }
    for table, keys in tables.items():
        assert re.search(rf"^\s*\[\[?{re.escape(table)}\]\]?", text, re.M), table
        for key in keys:
            header = re.escape(f"{table}.{key.name}")
            pattern = rf"^\s*({re.escape(key.name)} =|\[\[{header}\]\])"
            assert re.search(pattern, text, re.M), f"{table}.{key.name} is not in the example"


def test_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(path)
    assert config.incident.dir == tmp_path / "incidents"
    assert config.incident.author is None
    assert config.dns.interval == 10.0
    assert config.dns.timeout == 2.0
    assert config.dns.authoritative == ()
    assert config.dns.records == ()
    assert config.dns.resolvers == BUILTIN_RESOLVERS
    assert config.dns.resolvers_are_builtin
    assert config.tls.ca_file is None
    primary = config.regions[0]
    assert primary.sending_ips == ()
    assert primary.helo is None
    assert primary.dkim_selectors == ()
    assert dict(primary.dkim_private_keys) == {}
    assert primary.webmail_url is None
    assert primary.webmail_addresses == ()
    assert primary.autodiscover_targets == ()
    assert primary.idp_url is None
    assert primary.queues == ()


def test_values_are_normalised() -> None:
    config = load_config_text(
        MINIMAL
        + textwrap.dedent(
            """\
            sending_ips = ["2001:DB8:0::0:1", "203.0.113.7"]
            dkim_selectors = ["EU1", "20230601"]
            dkim_private_keys = { eu1 = "/keys/eu1.pem", 20230601 = "/keys/google.pem" }
              [[region.queue]]
              name = "q"
              kind = "json"
              url = "https://q.example.com/status"
              path = "queue.depth"
              timeout = 3
            [dns]
            interval = 30
            authoritative = ["198.51.100.53", "198.51.100.54:5353", "2001:db8::53",
                             "[2001:db8::54]:5353", "[2001:db8::55]"]
            [[dns.record]]
            name = "_DMARC.example.com."
            type = "txt"
            """
        )
    )
    assert config.domain.name == "example.com"
    assert config.regions[0].mx == ("mx1.example.com",)
    secondary = config.regions[1]
    assert secondary.sending_ips == ("2001:db8::1", "203.0.113.7")
    assert secondary.dkim_selectors == ("eu1", "20230601")
    assert secondary.dkim_private_keys["eu1"] == Path("/keys/eu1.pem")
    assert secondary.queues[0].timeout == 3.0
    assert isinstance(secondary.queues[0].timeout, float)
    assert isinstance(config.dns.interval, float)
    assert [str(address) for address in config.dns.authoritative] == [
        "198.51.100.53",
        "198.51.100.54:5353",
        "2001:db8::53",
        "[2001:db8::54]:5353",
        "2001:db8::55",
    ]
    assert config.dns.records[0].name == "_dmarc.example.com"
    assert config.dns.records[0].type == "TXT"


def test_server_address_text() -> None:
    assert str(ServerAddress("192.0.2.1")) == "192.0.2.1"
    assert str(ServerAddress("192.0.2.1", 5353)) == "192.0.2.1:5353"
    assert str(ServerAddress("2001:db8::1")) == "2001:db8::1"
    assert str(ServerAddress("2001:db8::1", 853)) == "[2001:db8::1]:853"


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "cockpit.toml"
    path.write_text(
        '[incident]\ndir = "logs/incidents"\n[tls]\nca_file = "ca/private.pem"\n'
        + MINIMAL.replace(
            'mx = ["MX1.example.com."]',
            'mx = ["mx1.example.com"]\ndkim_selectors = ["s1"]\n'
            'dkim_private_keys = { s1 = "keys/s1.pem" }',
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.incident.dir == folder / "logs" / "incidents"
    assert config.tls.ca_file == folder / "ca" / "private.pem"
    assert config.regions[0].dkim_private_keys["s1"] == folder / "keys" / "s1.pem"


def test_text_without_base_dir_keeps_relative_paths() -> None:
    config = load_config_text('[tls]\nca_file = "ca.pem"\n' + MINIMAL)
    assert config.source is None
    assert config.tls.ca_file == Path("ca.pem")
    assert config.incident.dir == Path("incidents")
    based = load_config_text(MINIMAL, base_dir=Path("/srv/cockpit"))
    assert based.incident.dir == Path("/srv/cockpit/incidents")


def test_config_is_frozen() -> None:
    config = load_config(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.domain = config.domain  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.regions[0].name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.regions[0].dkim_private_keys["x"] = Path("y")  # type: ignore[index]
    with pytest.raises(TypeError):
        config.regions[0].queues[1].labels["x"] = "y"  # type: ignore[index]
    assert isinstance(config.regions, tuple)
    assert isinstance(config.regions[0].mx, tuple)


def test_region_lookup() -> None:
    config = load_config(EXAMPLE)
    assert config.region("secondary") is config.regions[1]
    assert config.region("PRIMARY") is config.regions[0]
    assert config.region("tertiary") is None


def test_builtin_resolvers_are_used_when_none_given() -> None:
    config = load_config_text(MINIMAL + "[dns]\ninterval = 5\n")
    assert config.dns.resolvers == BUILTIN_RESOLVERS
    assert config.dns.resolvers_are_builtin


def test_builtin_resolvers_are_sound() -> None:
    assert 8 <= len(BUILTIN_RESOLVERS) <= 12
    names = [resolver.name for resolver in BUILTIN_RESOLVERS]
    assert len({name.casefold() for name in names}) == len(names)
    addresses = {resolver.address.ip for resolver in BUILTIN_RESOLVERS}
    assert {"1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222", "94.140.14.140"} <= addresses
    for resolver in BUILTIN_RESOLVERS:
        assert ipaddress.ip_address(resolver.address.ip).is_global
        assert resolver.address.port == 53
        assert resolver.location


# ---- finding the file --------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    cwd = tmp_path / "work"
    xdg = tmp_path / "xdg"
    (xdg / "cockpit").mkdir(parents=True)
    cwd.mkdir()
    local = cwd / "cockpit.toml"
    user = xdg / "cockpit" / "config.toml"
    local.write_text(MINIMAL, encoding="utf-8")
    user.write_text(MINIMAL, encoding="utf-8")
    return {"cwd": cwd, "xdg": xdg, "local": local, "user": user, "home": tmp_path / "home"}


def test_search_order(places: dict[str, Path]) -> None:
    cwd = places["cwd"]
    env = {"XDG_CONFIG_HOME": str(places["xdg"]), "COCKPIT_CONFIG": "/from/env.toml"}
    assert find_config_path("given.toml", env=env, cwd=cwd) == Path("given.toml")
    assert find_config_path(None, env=env, cwd=cwd) == Path("/from/env.toml")
    env["COCKPIT_CONFIG"] = ""
    assert find_config_path(None, env=env, cwd=cwd) == places["local"]
    places["local"].unlink()
    assert find_config_path(None, env=env, cwd=cwd) == places["user"]
    places["user"].unlink()
    assert find_config_path(None, env=env, cwd=cwd) is None


def test_explicit_path_is_returned_even_if_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert find_config_path(missing, env={}, cwd=tmp_path) == missing
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(missing)


def test_xdg_falls_back_to_home_config(places: dict[str, Path]) -> None:
    home = places["home"]
    user = home / ".config" / "cockpit" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(MINIMAL, encoding="utf-8")
    places["local"].unlink()
    env = {"HOME": str(home)}
    assert find_config_path(None, env=env, cwd=places["cwd"]) == user
    relative_xdg = {"HOME": str(home), "XDG_CONFIG_HOME": "relative/dir"}
    assert find_config_path(None, env=relative_xdg, cwd=places["cwd"]) == user


def test_search_places_and_the_no_config_message(places: dict[str, Path]) -> None:
    env = {"XDG_CONFIG_HOME": str(places["xdg"])}
    listed = config_search_places(env, places["cwd"])
    assert listed[0].startswith("--config")
    assert "$COCKPIT_CONFIG (not set)" in listed
    assert str(places["local"]) in listed
    assert str(places["user"]) in listed
    message = str(no_config_found_error(env, places["cwd"]))
    assert "no config file found" in message
    assert str(places["user"]) in message


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert isinstance(load_config(path), Config)


def test_loading_does_not_import_textual() -> None:
    code = textwrap.dedent(
        f"""\
        import sys
        from cockpit.config import ConfigError, load_config
        load_config({str(EXAMPLE)!r})
        try:
            load_config("/nonexistent/cockpit.toml")
        except ConfigError:
            pass
        sys.exit(1 if "textual" in sys.modules else 0)
        """
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
