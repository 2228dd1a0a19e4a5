"""A lossy path to a real resolver: a UDP relay on loopback that loses or delays questions.

A retry exists for the question (or its reply) lost on the way. This relay puts that loss
between the cockpit and a real unbound of the DNS lab: every question it receives is noted
(arrival time, DNS ID, the asker's port), then, by its number (0 = the first), dropped or
passed on and its real reply sent back, after `delays[number]` seconds when given.

    with LossyRelay("127.0.53.91", lab.resolver_address(0), drop={0}) as relay:
        query(ServerSpec("lossy", *relay.address), "example.test", "MX", timeout=1.0)
        relay.arrivals      # [(monotonic time, id, source port), ...]

`drop=None` drops everything: a resolver that reads every question and never answers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Collection, Mapping

from tests.lab import Address, free_port


class LossyRelay:
    """UDP on `ip`:<free port>, relaying to `upstream`; a thread serves until `stop()`."""

    def __init__(
        self,
        ip: str,
        upstream: Address,
        *,
        drop: Collection[int] | None = None,
        delays: Mapping[int, float] | None = None,
    ):
        self.address: Address = (ip, free_port(ip))
        self.upstream = upstream
        self.drop = drop
        self.delays = dict(delays or {})
        self.arrivals: list[tuple[float, int, int]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(self.address)
        self._socket.settimeout(0.05)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]

    def __enter__(self) -> LossyRelay:
        self._threads[0].start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, asker = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(wire) < 2:
                continue
            with self._lock:
                number = len(self.arrivals)
                self.arrivals.append((time.monotonic(), struct.unpack("!H", wire[:2])[0], asker[1]))
            if self.drop is None or number in self.drop:
                continue
            worker = threading.Thread(
                target=self._relay, args=(wire, asker, self.delays.get(number, 0.0)), daemon=True
            )
            self._threads.append(worker)
            worker.start()

    def _relay(self, wire: bytes, asker: Address, delay: float) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(2.0)
            upstream.connect(self.upstream)
            upstream.send(wire)
            try:
                reply = upstream.recv(65535)
            except OSError:
                return
        if self._stopping.wait(delay):
            return
        try:
            self._socket.sendto(reply, asker)
        except OSError:
            pass

    def stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=3)
        self._socket.close()
