"""An endpoint check's timeout bounds the whole try, every address of the host included.

A host with two addresses, one of them dead: a real HTTPS server (tests/lab/https_lab.py) on
one, and on the other a frozen endpoint, a socket that listens but never accepts (the kernel
completes the TCP handshake, the TLS ClientHello is never answered). The live address answers
within the budget, however the two are ordered; both dead cost one timeout, not two.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.auth.https_probe import HttpsResult, probe_first_answering
from tests.lab import guard_loopback
from tests.lab.https_lab import HTTPS_PORT, HttpsLab, Route, running_https_lab

LIVE_IP, FROZEN_IP, OTHER_FROZEN_IP = "127.0.82.1", "127.0.82.9", "127.0.82.10"
HOST = "idp.example.test"
URL = f"https://{HOST}/.well-known/openid-configuration"
TIMEOUT = 1.0
SCHEDULING = 0.3
"""What a loaded two-core machine may add (a TLS handshake in a server thread included)."""


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsLab]:
    yield from running_https_lab(tmp_path_factory.mktemp("https"))


@pytest.fixture(scope="module")
def live(https: HttpsLab) -> str:
    https.serve(LIVE_IP, [HOST], {"/.well-known/openid-configuration": Route(200, body=b"{}")})
    return LIVE_IP


@pytest.fixture
def frozen() -> Iterator[tuple[str, str]]:
    """Two endpoints that take connections into their backlog and never answer."""
    sockets = []
    for ip in (FROZEN_IP, OTHER_FROZEN_IP):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((ip, HTTPS_PORT))
        listener.listen(8)
        sockets.append(listener)
    try:
        yield FROZEN_IP, OTHER_FROZEN_IP
    finally:
        for listener in sockets:
            listener.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    guard_loopback(monkeypatch)
    yield


def first_answering(https: HttpsLab, *addresses: str) -> tuple[HttpsResult, float]:
    started = time.monotonic()
    result = asyncio.run(
        probe_first_answering(
            URL,
            addresses,
            ca_file=Path(https.ca_file),
            timeout=TIMEOUT,
            max_body=4096,
            max_addresses=4,
        )
    )
    return result, time.monotonic() - started


def test_a_frozen_first_address_does_not_hold_up_the_live_second(
    https: HttpsLab, live: str, frozen: tuple[str, str]
) -> None:
    result, elapsed = first_answering(https, frozen[0], live)
    assert (result.ip, result.status, result.error_kind) == (live, 200, None), result.error
    # The second address is tried at half the budget, not after the first one's whole timeout.
    assert TIMEOUT / 2 <= elapsed < TIMEOUT / 2 + SCHEDULING, elapsed


def test_the_live_first_address_answers_without_waiting(
    https: HttpsLab, live: str, frozen: tuple[str, str]
) -> None:
    result, elapsed = first_answering(https, live, frozen[0])
    assert (result.ip, result.status) == (live, 200)
    assert elapsed < TIMEOUT / 2


def test_every_address_frozen_costs_one_timeout_not_one_each(
    https: HttpsLab, frozen: tuple[str, str]
) -> None:
    result, elapsed = first_answering(https, *frozen)
    assert result.error_kind == "timeout" and result.ip == frozen[1], result
    assert TIMEOUT <= elapsed < TIMEOUT * 1.1 + SCHEDULING, elapsed


def test_a_refused_address_hands_over_at_once(https: HttpsLab, live: str) -> None:
    """Nothing listens on the first address: the second is tried at once, not at half time."""
    result, elapsed = first_answering(https, "127.0.82.20", live)
    assert (result.ip, result.status) == (live, 200), result.error
    assert elapsed < TIMEOUT / 2
