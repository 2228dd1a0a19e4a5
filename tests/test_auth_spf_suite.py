"""The official RFC 7208 SPF test suite, replayed through our DNS lookup adapter and pyspf.

The suite (`rfc7208-tests.yml`) ships in pyspf's source distribution: it is fetched once with
pip from the package registry and cached outside the repository ($XDG_CACHE_HOME or ~/.cache,
under cockpit-tests/). Each scenario's zone data is served by an in-memory Asker that answers
with the Observations our DNS layer would produce (records built as dnspython rdata and
normalised by cockpit.dns.normalize; TIMEOUT entries as Outcome.TIMEOUT), so the test runs our
adapter's conversion and pyspf end to end. Under CI=true a failed download fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
import spf  # type: ignore[import-untyped]
import yaml

from cockpit.auth.spf_check import DnsLookupAdapter, check_host, routed_through
from cockpit.compat import UTC
from cockpit.dns.normalize import normalize_records
from cockpit.dns.observation import Observation, Outcome
from tests.lab import missing_in_lab

SUITE_FILE = "rfc7208-tests.yml"
PYSPF_VERSION = version("pyspf")


# --- getting the suite -------------------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cockpit-tests" / f"pyspf-{PYSPF_VERSION}"


def _download_suite(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"pyspf=={PYSPF_VERSION}",
                "-d",
                scratch,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (sdist,) = Path(scratch).glob("pyspf-*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith(f"/{SUITE_FILE}"))
            extracted = archive.extractfile(member)
            assert extracted is not None
            data = extracted.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)


@pytest.fixture(scope="module")
def suite_path() -> Path:
    target = _cache_dir() / SUITE_FILE
    if not target.exists():
        try:
            _download_suite(target)
        except (subprocess.SubprocessError, OSError, StopIteration, ValueError) as error:
            detail = getattr(error, "stderr", b"") or b""
            reason = f"could not fetch {SUITE_FILE} from pyspf=={PYSPF_VERSION}: {error} {detail!r}"
            missing_in_lab(reason)
    return target


# --- the suite's zone data as Observations -----------------------------------------------------

Entry = tuple[str, Any] | str
"""(type, value) or the bare string "TIMEOUT"."""


def _zone_entries(name: str, records: list[Any]) -> list[Entry]:
    """As the suite's own driver reads them: SPF records double as TXT unless TXT is given."""
    entries: list[Entry] = []
    generated: list[Entry] = []
    has_txt = False
    for record in records:
        if not isinstance(record, dict):
            entries.append(record)  # "TIMEOUT"
            continue
        for rtype, value in record.items():
            if rtype in ("TXT", "SPF") and isinstance(value, str):
                value = (value,)
            if rtype == "TXT":
                has_txt = True
            elif rtype == "SPF":
                generated.append(("TXT", value))
            if value != ("NONE",):
                entries.append((rtype, value))
    return entries if has_txt else entries + generated


def _rdata(rtype: str, value: Any) -> dns.rdata.Rdata:
    rdclass = dns.rdataclass.IN
    if rtype in ("TXT", "SPF"):
        chunks: list[bytes] = []
        for text in value:
            raw = text.encode("utf-8")
            chunks.extend(raw[i : i + 255] for i in range(0, len(raw), 255))
        cls = dns.rdata.get_rdata_class(rdclass, dns.rdatatype.from_text(rtype))
        return cls(rdclass, dns.rdatatype.from_text(rtype), chunks or [b""])
    if rtype == "MX":
        text = f"{value[0]} {value[1] or '.'}"  # "" in the suite is a null MX (RFC 7505)
    else:
        text = str(value)
    return dns.rdata.from_text(rdclass, rtype, text)


class ZoneAsker:
    """Answers as a resolver over the suite's zone data would, as Observations."""

    def __init__(self, zone: dict[str, list[Entry]]):
        self.zone = zone
        self.asked: list[tuple[str, str]] = []

    def _observation(
        self,
        name: str,
        rdtype: str,
        outcome: Outcome,
        answers: tuple[str, ...] = (),
        chain: tuple[str, ...] = (),
        error: str | None = None,
        rcode: str | None = "NOERROR",
    ) -> Observation:
        return Observation(
            server_name="suite",
            server="127.0.0.1:53",
            qname=name,
            rdtype=rdtype,
            outcome=outcome,
            rcode=rcode,
            answers=answers,
            raw_answers=(),
            ttl=None,
            cname_chain=chain,
            latency_ms=None if rcode is None else 0.1,
            observed_at=datetime.now(UTC),
            error=error,
        )

    def __call__(self, name: str, rdtype: str) -> Observation:
        self.asked.append((name, rdtype))
        try:
            dns.name.from_text(name)
        except dns.exception.DNSException as error:
            return self._observation(
                name, rdtype, Outcome.MALFORMED, error=f"cannot ask: {error}", rcode=None
            )
        chain: list[str] = []
        current = name.lower().rstrip(".")
        while True:
            entries = self.zone.get(current)
            if entries is None:
                if current.startswith("error."):
                    return self._observation(
                        name, rdtype, Outcome.TIMEOUT, error="no reply", rcode=None
                    )
                return self._observation(
                    name,
                    rdtype,
                    Outcome.NXDOMAIN,
                    chain=tuple(chain),
                    rcode="NXDOMAIN",
                    error="does not exist (NXDOMAIN)",
                )
            records: list[dns.rdata.Rdata] = []
            target: str | None = None
            for entry in entries:
                if entry == "TIMEOUT":
                    if not records:
                        return self._observation(
                            name, rdtype, Outcome.TIMEOUT, error="no reply", rcode=None
                        )
                    break
                rtype, value = entry
                if value == "TIMEOUT":
                    if rtype == rdtype:
                        return self._observation(
                            name, rdtype, Outcome.TIMEOUT, error="no reply", rcode=None
                        )
                    continue
                if rtype == "CNAME":
                    target = str(value).lower().rstrip(".")
                elif rtype == rdtype:
                    records.append(_rdata(rtype, value))
            if records:
                answers, _ = normalize_records(rdtype, records)
                return self._observation(name, rdtype, Outcome.ANSWER, answers, tuple(chain))
            if target is None or rdtype == "CNAME":
                return self._observation(
                    name, rdtype, Outcome.NODATA, chain=tuple(chain), error="NODATA"
                )
            if target in chain or target == name.lower() or len(chain) >= 8:
                return self._observation(
                    name,
                    rdtype,
                    Outcome.MALFORMED,
                    chain=tuple(chain),
                    error=f"CNAME loop: {target} points back into its own chain",
                )
            chain.append(target)
            current = target


# --- the cases ---------------------------------------------------------------------------------


def _cases(path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, list[Entry]]]]:
    with path.open("rb") as stream:
        for scenario in yaml.safe_load_all(stream):
            if not scenario:
                continue
            zone = {
                name.lower(): _zone_entries(name, records or [])
                for name, records in scenario["zonedata"].items()
            }
            for test_id, case in scenario["tests"].items():
                yield test_id, case, zone


def test_rfc7208_suite_passes_through_our_adapter(suite_path: Path) -> None:
    mismatches: list[str] = []
    preferred_differs: list[str] = []
    count = 0
    for test_id, case, zone in _cases(suite_path):
        count += 1
        expected = case["result"]
        allowed = [expected] if isinstance(expected, str) else list(expected)
        verdict = check_host(
            ZoneAsker(zone),
            case["host"],
            case["mailfrom"],
            case["helo"],
            strict=case.get("strict", True),
            default_explanation="DEFAULT",
        )
        if verdict.result not in allowed:
            mismatches.append(f"{test_id}: got {verdict.result}, expected {allowed}")
        elif verdict.result != allowed[0]:
            preferred_differs.append(test_id)
        explanation = case.get("explanation")
        if explanation is not None:
            if verdict.explanation != explanation:
                mismatches.append(
                    f"{test_id}: explanation {verdict.explanation!r}, expected {explanation!r}"
                )
    assert count >= 200, f"only {count} cases in {suite_path}"
    assert not mismatches, "\n".join(mismatches)


# --- the adapter itself ------------------------------------------------------------------------


def _obs(outcome: Outcome, answers: tuple[str, ...] = (), error: str | None = None) -> Observation:
    return ZoneAsker({})._observation("x.test", "TXT", outcome, answers, error=error)


@pytest.mark.parametrize(
    "outcome",
    [Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.NETWORK_ERROR, Outcome.REFUSED],
)
def test_failures_to_observe_are_temperror_never_none(outcome: Outcome) -> None:
    verdict = check_host(
        lambda name, rdtype: _obs(outcome, error="no reply from lab"),
        "127.0.20.1",
        "postmaster@x.test",
        "mx.x.test",
    )
    assert verdict.result == "temperror"
    assert "no reply from lab" in verdict.explanation


def test_conversion_shapes_match_pyspf() -> None:
    answers = {
        "A": ("127.0.0.1",),
        "AAAA": ("2001:db8::1",),
        "MX": ("10 mx.x.test",),
        "PTR": ("mx.x.test",),
        "TXT": ("v=spf1 -all",),
    }
    adapter = DnsLookupAdapter(lambda name, rdtype: _obs(Outcome.ANSWER, answers[rdtype]))
    assert adapter("X.test.", "A") == [(("x.test", "A"), "127.0.0.1")]
    assert adapter("x.test", "AAAA") == [(("x.test", "AAAA"), "2001:db8::1")]
    assert adapter("x.test", "MX") == [(("x.test", "MX"), (10, "mx.x.test"))]
    assert adapter("x.test", "PTR") == [(("x.test", "PTR"), "mx.x.test")]
    assert adapter("x.test", "TXT") == [(("x.test", "TXT"), [b"v=spf1 -all"])]
    assert len(adapter.observations) == 5


def test_each_thread_uses_its_own_lookup() -> None:
    """Concurrent evaluations in threads never see each other's DNS (no shared global swap)."""
    records = {
        "pass.test": "v=spf1 ip4:127.0.20.1 -all",
        "fail.test": "v=spf1 -all",
    }
    barrier = threading.Barrier(8)
    results: dict[int, str] = {}

    def run(index: int) -> None:
        domain = "pass.test" if index % 2 else "fail.test"

        def ask(name: str, rdtype: str) -> Observation:
            barrier.wait(timeout=5)  # every thread is inside its evaluation at once
            return _obs(Outcome.ANSWER, (records[domain],))

        results[index] = check_host(ask, "127.0.20.1", f"a@{domain}", domain).result

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {i: "pass" if i % 2 else "fail" for i in range(8)}


def test_threads_without_a_route_keep_pyspf_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    from cockpit.auth import spf_check

    routed: list[str] = []
    with routed_through(lambda name, qtype, *rest: routed.append(name) or []):
        spf.DNSLookup("inside.test", "A")
    assert routed == ["inside.test"]
    assert getattr(spf_check._thread_lookup, "lookup", None) is None

    original: list[str] = []
    monkeypatch.setattr(spf_check, "_original_lookup", lambda name, *rest: original.append(name))
    other = threading.Thread(target=spf.DNSLookup, args=("elsewhere.test", "A"))
    other.start()
    other.join(timeout=5)
    assert original == ["elsewhere.test"] and routed == ["inside.test"]
