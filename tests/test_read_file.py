"""Files the config names (DKIM keys, the CA bundle) are read without ever waiting on them: a
FIFO at that path is refused at once, never opened for a writer that does not come (a thread
cannot be cancelled: the probe's timeout could not end it, and the process could not exit)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trustme

from cockpit.auth.dkim_check import KeyFileError, load_private_key
from cockpit.auth.tlsinfo import trust_context
from cockpit.read_file import kind_of, read_regular
from tests.conftest import run_cockpit


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "key.pem"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_at_once(fifo: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(OSError, match="is a FIFO, not a regular file"):
        read_regular(fifo, 100)
    with pytest.raises(KeyFileError, match="is a FIFO, not a regular file"):
        load_private_key(fifo)
    with pytest.raises(OSError, match="is a FIFO, not a regular file"):
        trust_context(fifo)
    assert time.monotonic() - started < 1.0
    assert kind_of(fifo) == "a FIFO" and kind_of(tmp_path) == "a directory"
    assert kind_of(tmp_path / "missing") == "no such file"


def test_regular_files_read_as_before(tmp_path: Path) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert kind_of(bundle) is None
    context = trust_context(bundle)
    assert any(cert.get("subject") for cert in context.get_ca_certs())
    assert read_regular(bundle, 10) == bundle.read_bytes()[:11]  # the caller says "too large"


def test_config_check_names_what_the_path_is(tmp_path: Path, fifo: Path) -> None:
    config = tmp_path / "cockpit.toml"
    config.write_text(
        f"""
[domain]
name = "example.com"

[tls]
ca_file = "{fifo}"

[[region]]
name = "primary"
mx = ["mx1.example.com"]
dkim_selectors = ["s1"]
dkim_private_keys = {{ s1 = "{tmp_path}" }}

[[region]]
name = "secondary"
mx = ["mx2.example.com"]
"""
    )
    done = run_cockpit("config", "check", "--config", str(config), timeout=20)
    assert "Traceback" not in done.stderr
    assert f"tls.ca_file: {fifo} is a FIFO, not a regular file" in done.stderr, done.stderr
    assert f"dkim_private_keys.s1: {tmp_path} is a directory, not a regular file" in done.stderr
