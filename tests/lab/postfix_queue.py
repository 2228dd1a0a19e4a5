"""A real Postfix whose mail defers: a queue to read, hold, and drain into an SMTP sink.

    lab = postfix_queue_lab          # fixture (module scope): started, empty queue
    lab.inject(200)                  # sendmail -C DIR/etc, 200 messages
    lab.wait_for_deferred(200)       # until postqueue -j lists them all as deferred
    lab.hold(queue_id) / lab.release(queue_id)
    with lab.sink(delay_s=0.01):     # aiosmtpd on the relay port, a few ms per message
        lab.flush()                  # postqueue -f: the queue drains

Unlike the SMTP lab (postfix.py, whose helpers this reuses) there is no smtpd at all: mail
enters through sendmail/pickup and leaves only through `relayhost = [127.0.0.1]:RELAYPORT`,
where nothing listens until `sink()` starts, so every message defers with "connect to
127.0.0.1[127.0.0.1]:RELAYPORT: Connection refused". The instance lives in a temp directory
outside pytest's 0700 tmp (see postfix_lab.py for why). Where Postfix is missing the fixture
skips, except under CI=true where it fails.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.lab import LabError, free_port
from tests.lab.postfix import PostfixLab, _make_enterable, _program, _run, require_postfix

SENDER = "sender@queue.example.test"
HOSTNAME = "queue.example.test"


class _SlowSink:
    """aiosmtpd handler that accepts everything, sleeping `delay_s` per message.

    The sleep is blocking on purpose: it holds the sink's one event loop, so deliveries are
    serialised and a drain of a few hundred messages takes long enough to sample.
    """

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.received += 1
        return "250 OK"


class PostfixQueueLab(PostfixLab):
    """One Postfix instance under `workdir` relaying everything to 127.0.0.1:`relay_port`."""

    def __init__(self, workdir: Path, relay_port: int):
        super().__init__(workdir, {}, HOSTNAME)
        self.relay_port = relay_port

    def _write_config(self) -> None:
        d = self.workdir
        for sub in (self.etc, self.spool, d / "data"):
            sub.mkdir(parents=True, exist_ok=True)
        _make_enterable(d)
        shutil.chown(d / "data", user="postfix")
        (self.etc / "main.cf").write_text(
            "compatibility_level = 3.6\n"
            f"config_directory = {self.etc}\n"
            f"queue_directory = {self.spool}\n"
            f"data_directory = {d / 'data'}\n"
            f"myhostname = {HOSTNAME}\n"
            "mydestination =\n"
            f"relayhost = [127.0.0.1]:{self.relay_port}\n"
            "inet_interfaces = loopback-only\n"
            "inet_protocols = ipv4\n"
            "smtp_dns_support_level = disabled\n"
            f"maillog_file = {d / 'maillog'}\n"
            f"maillog_file_prefixes = {d}\n"
            # Deferred mail stays deferred until flush() (no retry during a test).
            "queue_run_delay = 3600s\n"
            "minimal_backoff_time = 3600s\n"
            "maximal_backoff_time = 3600s\n"
            "smtp_connect_timeout = 2s\n"
        )
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        master = (self.etc / "master.cf").read_text()
        # No smtpd: port 25 may belong to another lab; mail enters through sendmail only.
        kept = [line for line in master.splitlines() if not line.startswith("smtp      inet")]
        (self.etc / "master.cf").write_text("\n".join(kept) + "\n")
        _run([_program("postconf"), "-c", str(self.etc), "-F", "*/*/chroot = n"], "postconf -F")

    # --- the queue ------------------------------------------------------------------------

    def postqueue_argv(self, flag: str = "-j") -> list[str]:
        return [_program("postqueue"), "-c", str(self.etc), flag]

    def inject(self, count: int, *, workers: int = 8) -> None:
        """Submit `count` messages with sendmail (a few at a time)."""
        sendmail = _program("sendmail")

        def send(index: int) -> None:
            rcpt = f"user{index}@dest{index % 3}.example.net"
            message = f"From: {SENDER}\nTo: {rcpt}\nSubject: queue lab {index}\n\nmessage {index}\n"
            done = subprocess.run(
                [sendmail, "-C", str(self.etc), "-f", SENDER, rcpt],
                input=message,
                capture_output=True,
                text=True,
                timeout=30,
            )
            if done.returncode != 0:
                raise LabError(f"sendmail failed ({done.returncode}): {done.stderr.strip()}")

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(send, range(count)))

    def messages(self) -> list[dict[str, Any]]:
        """`postqueue -j`, one dict per message."""
        out = _run(self.postqueue_argv("-j"), "postqueue -j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_for(self, what: str, predicate: Any, within: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        messages = self.messages()
        while not predicate(messages):
            if time.monotonic() > deadline:
                queues = sorted({m.get("queue_name") for m in messages})
                raise LabError(
                    f"queue lab: {what} not within {within:g} s "
                    f"({len(messages)} messages in {queues})\n{self.log_tail()}"
                )
            time.sleep(0.1)
            messages = self.messages()
        return messages

    def wait_for_deferred(self, count: int, within: float = 20.0) -> list[dict[str, Any]]:
        """Until exactly `count` messages are listed, every one deferred with a reason."""

        def all_deferred(messages: list[dict[str, Any]]) -> bool:
            return len(messages) == count and all(
                m.get("queue_name") == "deferred"
                and all(r.get("delay_reason") for r in m.get("recipients", []))
                for m in messages
            )

        return self.wait_for(f"{count} deferred messages", all_deferred, within)

    def hold(self, queue_id: str) -> None:
        _run([_program("postsuper"), "-c", str(self.etc), "-h", queue_id], "postsuper -h")

    def release(self, queue_id: str) -> None:
        _run([_program("postsuper"), "-c", str(self.etc), "-H", queue_id], "postsuper -H")

    def flush(self) -> None:
        _run(self.postqueue_argv("-f"), "postqueue -f")

    @contextlib.contextmanager
    def sink(self, delay_s: float = 0.0) -> Iterator[_SlowSink]:
        """An SMTP sink on the relay port for the duration of the block."""
        from aiosmtpd.controller import Controller

        handler = _SlowSink(delay_s)
        controller = Controller(handler, hostname="127.0.0.1", port=self.relay_port)
        controller.start()
        try:
            yield handler
        finally:
            controller.stop()


@pytest.fixture(scope="module")
def postfix_queue_lab() -> Iterator[PostfixQueueLab]:
    """A started Postfix with an empty queue and a relay that refuses, for one test module."""
    require_postfix()
    workdir = Path(tempfile.mkdtemp(prefix="postfixqueue-"))
    workdir.chmod(0o711)
    lab = PostfixQueueLab(workdir / "postfix", free_port())
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
