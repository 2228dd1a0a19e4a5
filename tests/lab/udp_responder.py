"""A small DNS server on loopback for tests that need replies no real server gives on demand:
a UDP socket and a thread that answers until `stop()` (bounded by a socket timeout). A subclass
says what to answer in `_reply` (None: no reply at all).

    class Mine(UdpResponder):
        def _reply(self, wire: bytes) -> bytes | None: ...

    with Mine(("127.0.0.1", 0)) as server:   # port 0: one the OS picks (server.address)
        ...
"""

from __future__ import annotations

import socket
import threading

from tests.lab import Address


class UdpResponder:
    """UDP on `address` (port 0: the OS picks one); `start()` (or `with`) answers until `stop()`."""

    def __init__(self, address: Address) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(address)
        self._socket.settimeout(0.05)
        self.address: Address = self._socket.getsockname()[:2]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _reply(self, wire: bytes) -> bytes | None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def __enter__(self) -> UdpResponder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._reply(wire)
            if reply is not None:
                self._socket.sendto(reply, peer)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._socket.close()
