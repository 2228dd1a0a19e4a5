"""Replication lag sources and findings: real commands, real HTTP on loopback, real exporters.

A lag that could not be read is unknown with the reason, never 0; thresholds give warn/fail.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from cockpit.compat import UTC
from cockpit.config import load_config_text
from cockpit.config.model import ReplicationSource
from cockpit.model import Status
from cockpit.replication.findings import format_lag, lag_finding, replication_findings
from cockpit.replication.sources import LagReading, read_lag

NOW = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)
PY = sys.executable


# ---- a real HTTP server on loopback, serving what each test puts in its pages ---------------


class Pages:
    """A threaded HTTP server on 127.0.0.1 whose answers a test sets: path -> (status, body).

    "/slow" answers after `slow_s` seconds; "/redirect" is a 302 elsewhere."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.slow_s = 3.0
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/slow":
                    time.sleep(pages.slow_s)
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = pages.pages.get(self.path, (404, b"no such page"))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.base = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def put(self, path: str, body: bytes | str, status: int = 200) -> str:
        """Serve `body` at `path`; returns its URL."""
        self.pages[path] = (status, body.encode() if isinstance(body, str) else body)
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages() -> Iterator[Pages]:
    server = Pages()
    try:
        yield server
    finally:
        server.close()


def script(tmp_path: Path, name: str, body: str) -> tuple[str, ...]:
    """argv running a small Python program written to tmp_path (never a shell string)."""
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return (PY, str(path))


def lag_of(source: ReplicationSource) -> LagReading:
    return asyncio.run(read_lag(source, now=lambda: NOW))


def command_source(argv: tuple[str, ...], **extra: object) -> ReplicationSource:
    fields: dict[str, object] = {"timeout": 5.0, **extra}
    return ReplicationSource(name="eu-store", kind="command", command=argv, **fields)  # type: ignore[arg-type]


def printing(tmp_path: Path, text: str) -> ReplicationSource:
    return command_source(script(tmp_path, "lag.py", f"print({text!r})\n"))


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


# ---- command sources ------------------------------------------------------------------------


@pytest.mark.parametrize(("printed", "lag"), [("42", 42.0), (" 0.5\n", 0.5), ("1e3", 1000.0)])
def test_command_printing_seconds(tmp_path: Path, printed: str, lag: float) -> None:
    reading = lag_of(printing(tmp_path, printed))
    assert (reading.lag_s, reading.error, reading.source) == (lag, None, "eu-store")
    assert reading.at == NOW and reading.elapsed_s > 0


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("-3", "(negative)"),
        ("nan", "(not a finite number)"),
        ("inf", "(not a finite number)"),
        ("1e999", "(not a finite number)"),
        ("behind by 12 s", "printed 'behind by 12 s'"),
        ("", "printed nothing"),
    ],
)
def test_command_printing_no_usable_number_is_an_error_never_zero(
    tmp_path: Path, printed: str, reason: str
) -> None:
    reading = lag_of(printing(tmp_path, printed))
    assert reading.lag_s is None
    assert reading.error is not None and reason in reading.error
    assert reading.error.startswith("expected a lag in seconds")


def test_command_printing_garbage_is_bounded_and_safe(tmp_path: Path) -> None:
    argv = script(
        tmp_path,
        "garbage.py",
        "import sys\n"
        "sys.stdout.buffer.write(b'\\x1b[2J\\x1b]0;pwned\\x07' + bytes(range(256)) * 20)\n",
    )
    reading = lag_of(command_source(argv))
    assert reading.lag_s is None and reading.error is not None
    assert "\x1b" not in reading.error and "\x07" not in reading.error
    assert len(reading.error) < 200


def test_command_printing_megabytes_is_killed_at_the_cap(tmp_path: Path) -> None:
    argv = script(
        tmp_path,
        "huge.py",
        "import sys, time\n"
        "sys.stdout.write('7' * 10_000_000)\nsys.stdout.flush()\ntime.sleep(30)\n",
    )
    started = time.monotonic()
    reading = lag_of(command_source(argv))
    assert reading.lag_s is None and reading.error == "output larger than 64 KiB (killed)"
    assert time.monotonic() - started < 5


def test_hanging_command_and_its_child_are_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    argv = script(
        tmp_path,
        "hang.py",
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n",
    )
    started = time.monotonic()
    reading = lag_of(command_source(argv, timeout=1.0))
    elapsed = time.monotonic() - started
    assert reading.lag_s is None
    assert reading.error == "timed out after 1 s (killed)"
    assert elapsed < 1.0 + 1.5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(child), "the command's child outlived the timeout"


def test_failing_and_missing_commands_say_why(tmp_path: Path) -> None:
    argv = script(
        tmp_path,
        "fail.py",
        "import sys\nsys.stderr.write('doveadm(root): Error: replicator not running\\n')\n"
        "sys.exit(75)\n",
    )
    reading = lag_of(command_source(argv))
    assert reading.lag_s is None
    assert reading.error == "exit 75: doveadm(root): Error: replicator not running"
    missing = lag_of(command_source(("/nonexistent/doveadm-lag",)))
    assert missing.lag_s is None and missing.error == "no such program: /nonexistent/doveadm-lag"


# ---- json and prometheus sources over real HTTP ----------------------------------------------


def json_source(url: str, path: str) -> ReplicationSource:
    return ReplicationSource(name="db", kind="json", url=url, path=path, timeout=5.0)


def test_json_lag_at_a_path(pages: Pages) -> None:
    url = pages.put("/status", json.dumps({"replicas": [{"lag_seconds": 12.5}]}))
    assert lag_of(json_source(url, "replicas.0.lag_seconds")).lag_s == 12.5


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"lag": -1}', "lag is -1: expected a finite number of 0 or more"),
        ('{"lag": NaN}', "lag is NaN: expected a finite number of 0 or more"),
        ('{"lag": Infinity}', "lag is Infinity: expected a finite number of 0 or more"),
        ('{"lag": "12"}', "lag is the string '12': expected a number"),
        ('{"lag": null}', "lag is null: expected a number"),
        ('{"lag": true}', "lag is true: expected a number"),
        ('{"other": 1}', "no key 'lag' at the top in the JSON"),
        ("<html>down</html>", "not JSON"),
    ],
)
def test_json_lag_that_is_not_a_number_is_an_error(
    pages: Pages, document: str, reason: str
) -> None:
    reading = lag_of(json_source(pages.put("/status", document), "lag"))
    assert reading.lag_s is None and reading.error is not None
    assert reading.error.startswith(reason), reading.error


def exposition(values: dict[str, float]) -> bytes:
    """A real prometheus_client exposition of a gauge per replica."""
    registry = CollectorRegistry()
    gauge = Gauge("pg_replication_lag_seconds", "seconds behind", ["replica"], registry=registry)
    for replica, value in values.items():
        gauge.labels(replica=replica).set(value)
    return generate_latest(registry)


def prometheus_source(url: str, **labels: str) -> ReplicationSource:
    return ReplicationSource(
        name="pg",
        kind="prometheus",
        url=url,
        metric="pg_replication_lag_seconds",
        labels=labels,
        timeout=5.0,
    )


def test_prometheus_lag_with_labels_and_the_largest_of_several(pages: Pages) -> None:
    url = pages.put("/metrics", exposition({"a": 3.0, "b": 240.0}))
    assert lag_of(prometheus_source(url, replica="a")).lag_s == 3.0
    assert lag_of(prometheus_source(url)).lag_s == 240.0  # the copy furthest behind


@pytest.mark.parametrize("value", [math.nan, math.inf, -5.0])
def test_prometheus_nan_infinite_or_negative_is_an_error(pages: Pages, value: float) -> None:
    url = pages.put("/metrics", exposition({"a": 3.0, "b": value}))
    reading = lag_of(prometheus_source(url))
    assert reading.lag_s is None and reading.error is not None
    assert "expected seconds behind" in reading.error


def test_prometheus_missing_series_is_an_error(pages: Pages) -> None:
    url = pages.put("/metrics", exposition({"a": 3.0}))
    reading = lag_of(prometheus_source(url, replica="zz"))
    assert reading.lag_s is None
    assert reading.error == 'no series pg_replication_lag_seconds{replica="zz"} in the exposition'


def test_http_trouble_is_an_error(pages: Pages) -> None:
    error = lag_of(prometheus_source(pages.put("/metrics", "oops", status=503))).error
    assert error == "HTTP 503 Service Unavailable"
    error = lag_of(prometheus_source(pages.base + "/redirect")).error
    assert error == "HTTP 302 redirect to http://127.0.0.1:1/elsewhere (not followed)"
    started = time.monotonic()
    slow = ReplicationSource(name="s", kind="json", url=pages.base + "/slow", path="a", timeout=0.5)
    reading = lag_of(slow)
    assert (reading.lag_s, reading.error) == (None, "timed out after 0.5 s")
    assert time.monotonic() - started < 0.5 + 1.0


# ---- findings ----------------------------------------------------------------------------------


def reading(lag: float | None, error: str | None = None, *, at: datetime = NOW) -> LagReading:
    return LagReading(source="eu-store", at=at, lag_s=lag, error=error, elapsed_s=0.25)


SOURCE = ReplicationSource(name="eu-store", kind="command", command=("x",), warn=30, crit=300)


@pytest.mark.parametrize(
    ("lag", "status"),
    [(0, Status.OK), (29.9, Status.OK), (30, Status.WARN), (299, Status.WARN), (300, Status.FAIL)],
)
def test_thresholds(lag: float, status: Status) -> None:
    assert lag_finding(SOURCE, "eu", reading(lag)).status is status


def test_only_crit_and_no_thresholds() -> None:
    only_crit = ReplicationSource(name="s", kind="command", command=("x",), crit=60)
    assert lag_finding(only_crit, "eu", reading(59)).status is Status.OK
    assert lag_finding(only_crit, "eu", reading(60)).status is Status.FAIL
    bare = ReplicationSource(name="s", kind="command", command=("x",))
    finding = lag_finding(bare, "eu", reading(86_400 * 3))
    assert (finding.status, finding.summary) == (Status.OK, "3 d behind")


def test_finding_shape() -> None:
    finding = lag_finding(SOURCE, "eu", reading(200))
    assert (finding.area, finding.check, finding.subject, finding.region) == (
        "replication",
        "lag",
        "eu-store",
        "eu",
    )
    assert finding.summary == "3 min 20 s behind (warn 30 s, crit 5 min)"
    assert finding.observed_at == NOW - timedelta(seconds=0.25)
    assert finding.data["lag_s"] == 200 and finding.data["error"] is None
    data = finding.data
    assert (data["warn"], data["crit"], data["kind"]) == (30, 300, "command")
    json.dumps(finding.to_json())


def test_unknown_keeps_the_reason_and_the_last_good_never_zero() -> None:
    earlier = reading(12, at=NOW - timedelta(minutes=3))
    failed = reading(None, "timed out after 5 s (killed)")
    finding = lag_finding(SOURCE, "eu", failed, last_good=earlier)
    assert finding.status is Status.UNKNOWN
    assert finding.data["lag_s"] is None
    assert finding.data["error"] == "timed out after 5 s (killed)"
    assert finding.summary == (
        "unknown: timed out after 5 s (killed); last read 12 s behind, 3 min ago"
    )
    assert finding.data["last_good"]["age_s"] == 180
    plain = lag_finding(SOURCE, "eu", reading(None, "exit 1"))
    assert plain.summary == "unknown: exit 1" and plain.data["last_good"] is None


def test_format_lag() -> None:
    cases = {
        0: "0 s",
        0.4: "0.4 s",
        20: "20 s",
        59.6: "1 min",
        200: "3 min 20 s",
        7500: "2 h 5 min",
    }
    assert {seconds: format_lag(seconds) for seconds in cases} == cases


def test_replication_findings_reads_every_source_at_once(tmp_path: Path) -> None:
    slow = script(tmp_path, "slow.py", "import time\ntime.sleep(1)\nprint(7)\n")
    argv = ", ".join(json.dumps(part) for part in slow)
    config = load_config_text(
        f"""
[domain]
name = "example.test"
[[region]]
name = "eu"
mx = ["mx1.example.test"]
  [[region.replication]]
  name = "eu-a"
  kind = "command"
  command = [{argv}]
  [[region.replication]]
  name = "eu-b"
  kind = "command"
  command = [{argv}]
  warn = 5
[[region]]
name = "us"
mx = ["mx2.example.test"]
  [[region.replication]]
  name = "us-a"
  kind = "command"
  command = ["/nonexistent/lag"]
"""
    )
    started = time.monotonic()
    findings = asyncio.run(replication_findings(config))
    elapsed = time.monotonic() - started
    assert [(f.subject, f.region, f.status) for f in findings] == [
        ("eu-a", "eu", Status.OK),
        ("eu-b", "eu", Status.WARN),
        ("us-a", "us", Status.UNKNOWN),
    ]
    assert elapsed < 2.0 + 1.0  # together, not one after the other (3 s)
    assert all(f.observed_at is not None for f in findings)


def test_no_process_left_behind() -> None:
    mine = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        assert not (int(fields[1]) == mine and fields[0] != "Z"), f"pid {entry.name} still runs"
