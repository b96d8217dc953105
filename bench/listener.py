"""The target side of the lab: one process listening on every open port of every target address.

Run by :mod:`lab` inside the target namespace as ``python listener.py CONFIG``.
One selectors loop serves a few thousand sockets, which keeps the 2-core
benchmark machine's CPU for the tools being measured (one interpreter per
port or per host would not). Connections are accepted and closed at once:
the benchmark measures connect verdicts, not payloads. The number of accepted
connections is published in a file so the harness can tell how many times a
tool really connected to each open port (e.g. whether xdist workers probe
twice).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

BACKLOG = 1024
PUBLISH_EVERY = 0.05


def raise_fd_limit(needed: int) -> None:
    """Listening sockets are descriptors: lift the soft limit to the hard one, or say why we cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if needed > hard:
        raise SystemExit(f"listener needs {needed} descriptors but the hard limit (ulimit -Hn) is {hard}")


def listen(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def publish(path: Path, accepted: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(accepted))
    os.replace(tmp, path)


def serve(endpoints: list[tuple[str, int]], counter: Path) -> None:
    raise_fd_limit(len(endpoints) + 64)
    selector = selectors.DefaultSelector()
    for address, port in endpoints:
        selector.register(listen(address, port), selectors.EVENT_READ)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    accepted, published, last = 0, -1, 0.0
    publish(counter, accepted)
    print("ready", flush=True)
    while not stopping:
        for key, _ in selector.select(PUBLISH_EVERY):
            server = key.fileobj
            assert isinstance(server, socket.socket)
            while True:
                try:
                    conn, _ = server.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.close()
                accepted += 1
        now = time.monotonic()
        if accepted != published and now - last >= PUBLISH_EVERY:
            publish(counter, accepted)
            published, last = accepted, now
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    serve([(a, int(p)) for a, p in config["endpoints"]], Path(config["counter"]))


if __name__ == "__main__":
    main()
