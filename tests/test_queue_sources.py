"""Queue sources against real processes and a real HTTP server on 127.0.0.x.

Commands are real programs (python -c scripts, cat, ssh when present); nothing runs through a
shell. The HTTP server is the stdlib ThreadingHTTPServer on a loopback address and a free port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cockpit import compat
from cockpit.compat import UTC
from cockpit.config.model import QueueSource
from cockpit.queue.runner import STDERR_TAIL_BYTES, run_command
from cockpit.queue.sample import Reading
from cockpit.queue.sources import read_source

NOW = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)
PY = sys.executable


def _read(source: QueueSource) -> Reading:
    return asyncio.run(read_source(source, now=lambda: NOW))


def _command(*argv: str, kind: str = "command", timeout: float = 5.0, **extra: object) -> Reading:
    source = QueueSource(name="q", kind=kind, command=tuple(argv), timeout=timeout, **extra)  # type: ignore[arg-type]
    return _read(source)


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


# ---- commands -------------------------------------------------------------------------------

HANGING_WRAPPER = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
with open(sys.argv[1], "w") as f:
    f.write(f"{child.pid}\\n")
print("1", flush=True)
time.sleep(60)
"""


def test_hanging_command_and_its_child_are_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    reading = _command(PY, "-c", HANGING_WRAPPER, str(pid_file), timeout=1.0)
    elapsed = time.monotonic() - started
    assert reading.sample is None
    assert reading.error == "timed out after 1 s (killed)"
    assert elapsed < 1.5
    child = int(pid_file.read_text())
    assert _wait_gone(child, within=0.5), "the wrapper's child survived the timeout"


def test_cancelled_run_kills_the_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            await compat.wait_for(
                run_command([PY, "-c", HANGING_WRAPPER, str(pid_file)], timeout=30), 1.0
            )

    asyncio.run(cancelled())
    assert _wait_gone(int(pid_file.read_text()), within=0.5)


LEAVES_A_CHILD = """
import subprocess, sys
child = subprocess.Popen(["sleep", "60"])  # inherits stdout: the pipe stays open
with open(sys.argv[1], "w") as f:
    f.write(f"{child.pid}\\n")
print(17, flush=True)
"""


def test_child_left_holding_the_pipe_is_killed_and_the_output_kept(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    reading = _command(PY, "-c", LEAVES_A_CHILD, str(pid_file), timeout=10)
    assert time.monotonic() - started < 2
    assert reading.error is None and reading.sample is not None and reading.sample.total == 17
    assert _wait_gone(int(pid_file.read_text()), within=0.5)


def test_command_printing_garbage() -> None:
    reading = _command(PY, "-c", "print('queue is \\x1b[31mbig\\x1b[0m today')")
    assert reading.sample is None
    assert reading.error is not None
    assert reading.error.startswith("expected one whole number, printed 'queue is ")
    assert "\x1b" not in reading.error


def test_command_printing_ten_megabytes_is_capped_and_killed() -> None:
    script = "import sys\nfor _ in range(10):\n    sys.stdout.write('7' * 1048576)\n"
    started = time.monotonic()
    reading = _command(PY, "-c", script)
    assert reading.sample is None
    assert reading.error == "output larger than 1 MiB (killed)"
    assert time.monotonic() - started < 3


def test_run_command_caps_output_and_reports() -> None:
    script = (
        "import sys, time\nsys.stdout.write('x' * 5_000_000)\nsys.stdout.flush()\ntime.sleep(30)"
    )
    result = asyncio.run(run_command([PY, "-c", script], timeout=10, max_output=100_000))
    assert result.too_large and not result.timed_out
    assert len(result.stdout) == 100_000
    assert result.returncode is not None and result.returncode < 0
    assert result.elapsed_s < 5


def test_missing_program() -> None:
    reading = _command("/nonexistent/bin/queue-depth", "--region", "eu")
    assert reading.sample is None
    assert reading.error == "no such program: /nonexistent/bin/queue-depth"
    result = asyncio.run(run_command(["no-such-queue-program-xyz"], timeout=1))
    assert (
        result.returncode is None and result.error == "no such program: no-such-queue-program-xyz"
    )


def test_ssh_style_failure_reports_exit_255_and_ssh_message() -> None:
    if shutil.which("ssh"):
        argv: tuple[str, ...] = (
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=1",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-p",
            "1",
            "127.0.0.1",
            "postqueue",
            "-j",
        )
    else:
        argv = (
            PY,
            "-c",
            "import sys\nsys.stderr.write('ssh: connect to host 127.0.0.1 port 1: "
            "Connection refused\\r\\n')\nsys.exit(255)",
        )
    reading = _command(*argv, kind="postqueue", timeout=10)
    assert reading.sample is None
    assert reading.error == "exit 255: ssh: connect to host 127.0.0.1 port 1: Connection refused"


def test_nonzero_exit_uses_the_last_stderr_line_and_keeps_2_kib() -> None:
    script = (
        "import sys\nsys.stderr.write('noise\\n' * 5000)\n"
        "sys.stderr.write('postqueue: fatal: Queue report unavailable - mail system is down\\n')\n"
        "sys.exit(75)"
    )
    result = asyncio.run(run_command([PY, "-c", script], timeout=5))
    assert result.returncode == 75
    assert (
        result.error == "exit 75: postqueue: fatal: Queue report unavailable - mail system is down"
    )
    assert len(result.stderr_tail.encode()) <= STDERR_TAIL_BYTES


def test_command_printing_one_integer() -> None:
    reading = _command(PY, "-c", "print('  1234  ')")
    assert reading.error is None and reading.sample is not None
    assert reading.sample.total == 1234
    assert reading.sample.source == "q" and reading.at == NOW
    assert reading.elapsed_s > 0


def test_postqueue_mailq_exim_kinds_through_real_programs(tmp_path: Path) -> None:
    jsonl = tmp_path / "postqueue.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "queue_name": "deferred",
                "queue_id": "4Qx7Zh0001",
                "arrival_time": int(NOW.timestamp()) - 600,
                "message_size": 900,
                "sender": "a@example.com",
                "forced_expire": False,
                "recipients": [
                    {
                        "address": "b@example.net",
                        "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused",
                    }
                ],
            }
        )
        + "\n"
    )
    reading = _command("cat", str(jsonl), kind="postqueue")
    assert reading.error is None and reading.sample is not None
    assert reading.sample.by_queue["deferred"] == 1
    assert reading.sample.oldest_age_s == 600

    listing = tmp_path / "mailq.txt"
    listing.write_text("Mail queue is empty\n")
    reading = _command("cat", str(listing), kind="mailq")
    assert reading.error is None and reading.sample is not None and reading.sample.total == 0

    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not json\nnor this\n")
    reading = _command("cat", str(garbage), kind="postqueue")
    assert reading.sample is None
    assert reading.error == "output is not postqueue -j JSON (line 1: 'not json')"

    count = tmp_path / "bpc.txt"
    count.write_text("3\n")
    bp = tmp_path / "bp.txt"
    bp.write_text(
        " 2h  1.5K 1qvJ3k-000123-AB <a@example.com> *** frozen ***\n          b@example.net\n\n"
    )
    reading = _command("cat", str(count), kind="exim", detail_command=("cat", str(bp)))
    assert reading.error is None and reading.sample is not None
    assert (reading.sample.total, reading.sample.frozen, reading.sample.oldest_age_s) == (
        3,
        1,
        7200,
    )
    # The count alone when the listing fails: age and frozen unknown, not 0.
    reading = _command("cat", str(count), kind="exim", detail_command=("false",))
    assert reading.sample is not None and reading.sample.total == 3
    assert reading.sample.frozen is None and reading.sample.oldest_age_s is None
    # ... and why, for the age threshold's "unknown".
    assert reading.sample.age_error == "detail_command: exit 1"
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is not exim -bp output\n")
    reading = _command("cat", str(count), kind="exim", detail_command=("cat", str(garbage)))
    assert reading.sample is not None and reading.sample.oldest_age_s is None
    assert (reading.sample.age_error or "").startswith("detail_command: "), reading.sample


# ---- HTTP sources ---------------------------------------------------------------------------

EXPOSITION = b"""\
# HELP postfix_up Whether scraping Postfix's metrics was successful.
# TYPE postfix_up gauge
postfix_up{path="/var/spool/postfix/public/showq"} 1
# HELP postfix_showq_message_size_bytes Size of messages in Postfix's message queue, in bytes
# TYPE postfix_showq_message_size_bytes histogram
postfix_showq_message_size_bytes_bucket{queue="deferred",le="+Inf"} 37
postfix_showq_message_size_bytes_sum{queue="deferred"} 123456
postfix_showq_message_size_bytes_count{queue="deferred"} 37
"""
HUGE_BODY_BYTES = 9 << 20


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/metrics":
            self._send(200, EXPOSITION, "text/plain; version=0.0.4")
        elif self.path == "/status.json":
            self._send(200, json.dumps({"queues": [{"depth": 41}]}).encode(), "application/json")
        elif self.path == "/error":
            self._send(500, b"internal error")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/metrics")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(HUGE_BODY_BYTES))
            self.end_headers()
            chunk = b"#" * 65536 + b"\n"
            try:
                for _ in range(HUGE_BODY_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/slow":
            time.sleep(3)
            try:
                self._send(200, EXPOSITION)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self._send(404, b"no")


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.71", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _prometheus(url: str, timeout: float = 5.0, **labels: str) -> Reading:
    return _read(
        QueueSource(
            name="p",
            kind="prometheus",
            url=url,
            metric="postfix_showq_message_size_bytes_count",
            labels=labels,
            timeout=timeout,
        )
    )


def test_prometheus_ok(http_base: str) -> None:
    reading = _prometheus(f"{http_base}/metrics", queue="deferred")
    assert reading.error is None and reading.sample is not None
    assert reading.sample.total == 37
    assert dict(reading.sample.by_queue) == {"deferred": 37}


def test_prometheus_missing_series_is_an_error(http_base: str) -> None:
    reading = _prometheus(f"{http_base}/metrics", queue="hold")
    assert reading.sample is None
    assert reading.error == (
        'no series postfix_showq_message_size_bytes_count{queue="hold"} in the exposition'
    )


def test_http_500(http_base: str) -> None:
    reading = _prometheus(f"{http_base}/error")
    assert reading.sample is None and reading.error == "HTTP 500 Internal Server Error"


def test_http_redirect_is_refused(http_base: str) -> None:
    reading = _prometheus(f"{http_base}/redirect")
    assert reading.sample is None
    assert reading.error == "HTTP 302 redirect to http://127.0.0.1:1/metrics (not followed)"


def test_http_huge_body_is_capped(http_base: str) -> None:
    started = time.monotonic()
    reading = _prometheus(f"{http_base}/huge")
    assert reading.sample is None and reading.error == "answer larger than 8 MiB"
    assert time.monotonic() - started < 4


def test_http_slow_times_out(http_base: str) -> None:
    started = time.monotonic()
    reading = _prometheus(f"{http_base}/slow", timeout=0.5)
    elapsed = time.monotonic() - started
    assert reading.sample is None and reading.error == "timed out after 0.5 s"
    assert elapsed < 1.0


def test_http_nothing_listening() -> None:
    reading = _prometheus("http://127.0.0.72:1/metrics", timeout=2)
    assert reading.sample is None
    assert reading.error is not None and reading.error.startswith("ConnectError:")


def test_json_source(http_base: str) -> None:
    source = QueueSource(
        name="j", kind="json", url=f"{http_base}/status.json", path="queues.0.depth", timeout=5
    )
    reading = _read(source)
    assert reading.error is None and reading.sample is not None and reading.sample.total == 41
    missing = QueueSource(
        name="j", kind="json", url=f"{http_base}/status.json", path="queues.0.size", timeout=5
    )
    reading = _read(missing)
    assert reading.sample is None and reading.error == "no key 'size' at queues.0 in the JSON"
    not_json = QueueSource(name="j", kind="json", url=f"{http_base}/metrics", path="a", timeout=5)
    reading = _read(not_json)
    assert reading.sample is None and reading.error is not None
    assert reading.error.startswith("not JSON")


def test_no_process_left_behind() -> None:
    # Every command above ran in its own session; none of them may still run.
    mine = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == mine and fields[0] != "Z":
            cmdline = (entry / "cmdline").read_bytes()
            assert b"sleep" not in cmdline, cmdline
