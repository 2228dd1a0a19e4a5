"""`cockpit check --only auth` end to end against a whole mail world on loopback: real nsd and
unbound, real Postfix with STARTTLS, real HTTPS servers, real DKIM keys."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cockpit
from tests.lab import missing_in_lab
from tests.lab.auth_world import REGIONS, ZONE, AuthWorld, start_auth_world, world_zones
from tests.lab.dnslab import require_dns_servers
from tests.lab.https_lab import can_bind_https
from tests.lab.postfix import require_postfix

CHECKS = (
    "spf",
    "spf-lookups",
    "dkim",
    "dmarc",
    "ptr",
    "tls-rpt",
    "mta-sts",
    "smtp-tls",
    "dane",
    "webmail",
    "idp",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthWorld]:
    require_dns_servers()
    require_postfix()
    problem = can_bind_https()
    if problem is not None:
        missing_in_lab(problem)
    postfix_dir = Path(tempfile.mkdtemp(prefix="authworld-"))
    postfix_dir.chmod(0o711)
    built = start_auth_world(tmp_path_factory.mktemp("world"), postfix_dir / "postfix")
    try:
        yield built
    finally:
        built.stop()
        shutil.rmtree(postfix_dir, ignore_errors=True)


def check(world: AuthWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cockpit(
        "check",
        "--config",
        str(world.config_path),
        "--only",
        "auth",
        *args,
        env={"CI": "true"},
        timeout=60,
    )


def findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode != 3, done.stderr
    return json.loads(done.stdout)["findings"]


def test_every_check_runs_for_every_region_and_passes(world: AuthWorld) -> None:
    done = check(world, "--json", "--target", "primary")
    found = findings(done)
    not_ok = [f for f in found if f["status"] != "ok"]
    assert done.returncode == 0, not_ok
    for region in REGIONS:
        checks = {f["check"] for f in found if f["region"] == region}
        assert checks == set(CHECKS), (region, checks)
    for finding in found:
        assert finding["area"] == "auth"
        assert finding["resolver"] == "lab-r1"  # the first resolver, by default


def test_via_the_authoritative_server(world: AuthWorld) -> None:
    done = check(world, "--json", "--via", "authoritative")
    found = findings(done)
    assert done.returncode == 0, [f for f in found if f["status"] != "ok"]
    assert {f["resolver"] for f in found} == {
        f"{world.dns.authoritative[0]}:{world.dns.authoritative[1]}"
    }


def test_a_broken_spf_record_fails_and_an_unknown_resolver_cannot_run(world: AuthWorld) -> None:
    broken = world_zones({}, spf="v=spf1 ip4:127.0.62.1 -all")[ZONE]
    original = world.zones[ZONE]
    # Keep the DKIM keys: only the SPF line differs.
    keys = [line for line in original.splitlines() if "_domainkey" in line]
    world.dns.set_zone(ZONE, broken.replace("\n@ TXT", "\n" + "\n".join(keys) + "\n@ TXT", 1))
    world.dns.reload(ZONE)
    try:
        done = check(world, "--json", "--via", "authoritative")
        spf = {f["region"]: f for f in findings(done) if f["check"] == "spf"}
        assert done.returncode == 2
        assert spf["primary"]["status"] == "fail"  # 127.0.62.2 is no longer authorised
        assert "127.0.62.2" in spf["primary"]["summary"]
        assert spf["secondary"]["status"] == "fail"
    finally:
        world.dns.set_zone(ZONE, original)
        world.dns.reload(ZONE)
    done = check(world, "--via", "nobody")
    assert done.returncode == 3
    assert "no resolver named 'nobody'" in done.stderr


def test_a_frozen_resolver_costs_one_timeout_and_its_unknowns_name_other_servers(
    world: AuthWorld,
) -> None:
    """The first resolver frozen: every check it answers for is unknown, never ok or fail;
    TLSA questions go out with the MX lookups, so the run costs one DNS timeout (1 s, its
    retry included), not two; and each unknown says which other servers to ask."""
    started = time.monotonic()
    healthy_done = check(world, "--json")
    healthy = time.monotonic() - started
    assert healthy_done.returncode == 0, healthy_done.stderr
    world.dns.freeze(0)
    try:
        started = time.monotonic()
        done = check(world, "--json")
        elapsed = time.monotonic() - started
    finally:
        world.dns.thaw(0)
    found = findings(done)
    assert done.returncode == 1, [f for f in found if f["status"] == "fail"]
    through_frozen = [f for f in found if f["check"] not in ("webmail",)]
    assert through_frozen and all(f["status"] == "unknown" for f in through_frozen), [
        (f["check"], f["status"]) for f in through_frozen if f["status"] != "unknown"
    ]
    for finding in through_frozen:
        assert finding["summary"].endswith("try --via lab-r2 or --via authoritative"), finding
        assert finding["data"]["try_via"] == ["lab-r2", "authoritative"]
        assert finding["data"]["dns_unanswered"]
    dane = [f for f in found if f["check"] == "dane"]
    assert dane and all("TLSA lookup failed" in f["summary"] for f in dane)
    # One timeout is 1 s; two (the TLSA questions after the address lookups, or a retry after
    # a whole timeout) would be 2 s. The rest is the interpreter's start and a noisy machine:
    # the healthy run, measured just before, has the same start-up.
    assert elapsed < 1.0 * 1.1 + 1.5, (elapsed, healthy)
    assert elapsed - healthy < 1.0 * 1.1 + 0.5, (elapsed, healthy)


def test_the_authoritative_asked_directly_suggests_the_resolvers() -> None:
    from cockpit.auth.via_hint import alternatives

    assert alternatives(["lab-r1", "lab-r2"], "lab-r1", False) == ["lab-r2", "authoritative"]
    assert alternatives(["lab-r1", "lab-r2"], "127.0.0.1:53", True) == ["lab-r1", "lab-r2"]
