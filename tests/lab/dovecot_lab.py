"""Fixtures for a real Dovecot on loopback (the lab itself is in dovecot.py).

    pytest_plugins = ["tests.lab.dovecot_lab"]

    def test_x(dovecot_lab_module):
        lab = dovecot_lab_module("127.0.92.1", cert=leaf)

Each factory call starts one Dovecot instance (well under a second) and stops it after the test
(`dovecot_lab`) or module (`dovecot_lab_module`). Where Dovecot is missing the fixture skips,
except under CI=true where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
import trustme

from tests.lab.dovecot import DEFAULT_USERS, DovecotFactory, DovecotLab, require_dovecot


def _factory() -> Iterator[DovecotFactory]:
    labs: list[DovecotLab] = []

    def make(
        address: str,
        *,
        cert: trustme.LeafCert | None = None,
        users: Mapping[str, str] = DEFAULT_USERS,
    ) -> DovecotLab:
        require_dovecot()
        lab = DovecotLab(address, cert=cert, users=users)
        labs.append(lab)
        lab.start()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()


@pytest.fixture
def dovecot_lab() -> Iterator[DovecotFactory]:
    """Factory for Dovecot instances that live for one test."""
    yield from _factory()


@pytest.fixture(scope="module")
def dovecot_lab_module() -> Iterator[DovecotFactory]:
    """Factory for Dovecot instances shared by a module's tests."""
    yield from _factory()
