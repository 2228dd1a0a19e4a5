"""Whatever the input, loading gives a Config or a ConfigError, and the error is safe to print."""

from __future__ import annotations

import copy
import re
import unicodedata
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.compat import UTC, tomllib
from cockpit.config import Config, load_config, load_config_text
from cockpit.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_DOC: dict[str, Any] = tomllib.loads(EXAMPLE_TEXT)

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KNOWN_NAMES = [
    "incident", "dir", "author", "domain", "name", "region", "mx", "sending_ips", "helo",
    "dkim_selectors", "dkim_private_keys", "webmail_url", "webmail_addresses",
    "autodiscover_targets", "idp_url", "queue", "kind", "command", "url", "metric", "labels",
    "path", "timeout", "warn", "crit", "dns", "interval", "authoritative", "resolver",
    "address", "location", "record", "type", "tls", "ca_file", "eu1",
]  # fmt: skip

PLAUSIBLE_STRINGS = [
    "", "mx1.example.com", "MX1.Example.COM.", "203.0.113.10", "2001:db8::1", "1.1.1.1:53",
    "[2001:db8::53]:5353", "1.1.1.1:0", "dns.google", "https://webmail.example.com/",
    "http://u:p@x.example.com", "https://[::1", "postqueue", "mailq", "exim", "prometheus",
    "json", "command", "TXT", "cname", "primary", "secondary", "mx1", "eu1", "_dmarc.example.com",
    "keys/eu1.pem", "~/x", "\x1b[31m", "\u202eevil", "bücher.example", "a" * 300, "-x-",
]  # fmt: skip

OFFSET_ZONE = timezone(timedelta(hours=-5, minutes=-30))
_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

scalars = st.one_of(
    st.text(max_size=20),
    st.sampled_from(PLAUSIBLE_STRINGS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=6000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.sampled_from([None, UTC, OFFSET_ZONE])),
    st.dates(),
    st.times(),
)
keys = st.one_of(st.sampled_from(KNOWN_NAMES), st.text(max_size=12))
toml_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)
documents = st.dictionaries(keys, toml_values, max_size=6)


def assert_safe_outcome(load: Any) -> Config | ConfigError:
    """Run `load`; it must return a Config or raise a ConfigError whose text is safe to print."""
    try:
        result = load()
    except ConfigError as error:
        assert error.problems
        shown = str(error)
        assert "internal error" not in shown, shown
        for problem in error.problems:
            line = str(problem)
            assert "\n" not in line
            bad = [char for char in line if unicodedata.category(char) in _BAD_CATEGORIES]
            assert not bad, (bad, line)
        assert "\x1b" not in shown
        return error
    assert isinstance(result, Config)
    return result


@SETTINGS
@given(documents)
def test_random_toml_documents(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    assert_safe_outcome(lambda: load_config_text(text, source="random.toml"))


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if isinstance(child, dict | list):
            found.extend(_containers(child, (*path, key)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(EXAMPLE_DOC)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        container = _at(document, draw(st.sampled_from(_containers(document))))
        operation = draw(st.sampled_from(["replace", "insert", "delete"]))
        if isinstance(container, dict):
            if operation == "insert" or not container:
                container[draw(keys)] = draw(toml_values)
                continue
            key = draw(st.sampled_from(sorted(container)))
            if operation == "delete":
                del container[key]
            else:
                container[key] = draw(toml_values)
        else:
            if operation == "insert" or not container:
                index = draw(st.integers(min_value=0, max_value=len(container)))
                container.insert(index, draw(toml_values))
                continue
            index = draw(st.integers(min_value=0, max_value=len(container) - 1))
            if operation == "delete":
                del container[index]
            else:
                container[index] = draw(toml_values)
    return document


@SETTINGS
@given(mutated_examples())
def test_mutated_example(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    outcome = assert_safe_outcome(lambda: load_config_text(text, source="mutated.toml"))
    if isinstance(outcome, ConfigError):
        # A problem under a top-level key that the file has carries the line of (an ancestor
        # of) its key.
        for problem in outcome.problems:
            top = re.match(r"[A-Za-z0-9_-]+", problem.key_path)
            if top and top.group() in document:
                assert problem.line is not None, str(problem)


@SETTINGS
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    assert_safe_outcome(lambda: load_config_text(text, source="text.toml"))


@SETTINGS
@given(
    st.integers(min_value=0, max_value=len(EXAMPLE_TEXT)),
    st.integers(min_value=0, max_value=len(EXAMPLE_TEXT)),
    st.text(max_size=10),
)
def test_damaged_example_text(start: int, end: int, inserted: str) -> None:
    start, end = sorted((start, end))
    text = EXAMPLE_TEXT[:start] + inserted + EXAMPLE_TEXT[end:]
    assert_safe_outcome(lambda: load_config_text(text, source="damaged.toml"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-bytes") / "cockpit.toml"


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400), st.builds(str.encode, st.text(max_size=200))))
def test_random_bytes_in_a_file(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    outcome = assert_safe_outcome(lambda: load_config(scratch))
    if isinstance(outcome, ConfigError):
        assert "cockpit.toml" in str(outcome)
