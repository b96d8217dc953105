"""Real loopback endpoints for the core tests: open, refused and filtered ports.

"Filtered" without root uses a listener whose accept queue is full: Linux then
drops new SYNs, so a connect times out exactly as against a DROP rule.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from types import TracebackType


class Listener:
    """An open port that accepts in a background thread and counts connections.

    Args:
        greeting: bytes sent to every client right after accept.
        hold: keep connections open, silent, until close() (a tarpit) instead of closing at once.
    """

    def __init__(self, greeting: bytes = b"", hold: bool = False) -> None:
        self.greeting = greeting
        self.hold = hold
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for _ in selector.select(timeout=0.05):
                    try:
                        conn, _ = self._sock.accept()
                    except BlockingIOError:
                        continue
                    self.accepted += 1
                    if self.greeting:
                        try:
                            conn.sendall(self.greeting)
                        except OSError:
                            pass
                    if self.hold:
                        self._held.append(conn)
                    else:
                        conn.close()

    def settled(self, at_least: int, timeout: float = 10.0) -> int:
        """The accept count once it reached ``at_least`` and stopped moving (or ``timeout`` passed).

        A probe's handshake completes in the kernel before this thread accepts it, so a
        count read right after a run can lag behind connections that already happened.
        """
        deadline = time.monotonic() + timeout
        seen, stable_since = self.accepted, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self.accepted != seen:
                seen, stable_since = self.accepted, time.monotonic()
            elif seen >= at_least and time.monotonic() - stable_since >= 0.1:
                break
        return self.accepted

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class RefusedPort:
    """A port that answers SYN with RST: bound (so nobody else takes it) but not listening."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()


class FilteredPort:
    """A port that never answers: a listener with a full accept queue drops new SYNs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self.port: int = self._sock.getsockname()[1]
        self._fill: list[socket.socket] = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fill.append(filler)

    def close(self) -> None:
        for filler in self._fill:
            filler.close()
        self._sock.close()
