"""The floor: a bare asyncio connect loop, 512 in flight, no pytest, no verdict logic.

Run inside the client namespace as ``python floor.py TARGETS.json OUT.json``.
It is what any Python tool with the same timeout and the same concurrency
must pay at least, so the plugin is judged against it, not against zero.
Writes the observed state counts so the harness can check it was not fast
because it was wrong.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections import Counter
from pathlib import Path

IN_FLIGHT = 512
TIMEOUT = 1.0


async def connect(address: str, port: int, gate: asyncio.Semaphore) -> str:
    loop = asyncio.get_running_loop()
    async with gate:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), TIMEOUT)
        except asyncio.TimeoutError:
            return "dropped"
        except ConnectionRefusedError:
            return "refused"
        except OSError as exc:
            return f"error:{exc.errno}"
        finally:
            sock.close()
        return "open"


async def scan(targets: list[tuple[str, int]]) -> Counter[str]:
    gate = asyncio.Semaphore(IN_FLIGHT)
    return Counter(await asyncio.gather(*(connect(a, p, gate) for a, p in targets)))


def main() -> None:
    targets = [(str(a), int(p)) for a, p in json.loads(Path(sys.argv[1]).read_text())["targets"]]
    counts = asyncio.run(scan(targets))
    Path(sys.argv[2]).write_text(json.dumps(dict(counts)))


if __name__ == "__main__":
    main()
