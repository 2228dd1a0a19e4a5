"""Fixtures for a real Postfix on loopback port 25 (the lab itself is in postfix.py).

    pytest_plugins = ["tests.lab.postfix_lab"]

    def test_x(postfix_lab_module):
        lab = postfix_lab_module({"127.0.25.1": Listener(cert_pem=..., key_pem=...)})

Each factory call starts one Postfix instance (about 2 s the first time, for its queue
directories) and stops it after the test (`postfix_lab`) or module (`postfix_lab_module`).
Where Postfix is missing the fixture skips, except under CI=true where it fails.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.lab.postfix import Listener, PostfixFactory, PostfixLab, require_postfix


def _factory() -> Iterator[PostfixFactory]:
    labs: list[PostfixLab] = []
    # Not under pytest's base temp: every pytest session (including other people's, running at
    # the same time) resets /tmp/pytest-of-USER to 0700, which locks the postfix user out.
    workdir = Path(tempfile.mkdtemp(prefix="postfixlab-"))
    workdir.chmod(0o711)

    def make(listeners: Mapping[str, Listener], hostname: str = "mx.example.test") -> PostfixLab:
        require_postfix()
        lab = PostfixLab(workdir / f"postfix{len(labs)}", listeners, hostname)
        labs.append(lab)
        lab.start()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postfix_lab() -> Iterator[PostfixFactory]:
    """Factory for Postfix instances that live for one test."""
    yield from _factory()


@pytest.fixture(scope="module")
def postfix_lab_module() -> Iterator[PostfixFactory]:
    """Factory for Postfix instances shared by a module's tests."""
    yield from _factory()
