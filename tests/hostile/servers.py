"""Hostile loopback servers: every way a peer can stall, flood, lie or hang up on a probe.

Each server is a connection handler (``async (reader, writer)``) served on
127.0.0.1 by :class:`ServerLoop`, an event loop in a background thread, so a
synchronous pytest run in a subprocess can probe it. Handlers are built by
small factories that take the *shape* of a conversation (speak first, stream,
dribble, reset, half-close, hang up) and its bytes (TLS shapes are in
:mod:`.tls_servers`); the same factory
with well-behaved bytes is the must-pass counterpart of each hostile case, so
a hostile test cannot pass because the server never worked at all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import struct
import threading
from typing import Awaitable, Callable, Coroutine, TypeVar

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
T = TypeVar("T")

PEER_GONE = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)
"""How a connection ends from the server's side: the probe hung up, reset, or sent too much."""


class ServerLoop:
    """An event loop in a thread, serving handlers on 127.0.0.1 while a blocking test probes them.

    :meth:`close` cancels every task still on the loop (held connections,
    endless streams) and lets the transports close, so no socket outlives the
    fixture and ``filterwarnings = error`` stays quiet.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        # Strong references: a handler waiting on a peer that went quiet must not be garbage-collected mid-wait.
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hostile-servers", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[object, object, T], timeout: float = 10) -> T:
        """Run ``coroutine`` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def serve(self, handler: Handler, host: str = "127.0.0.1") -> int:
        """Serve ``handler`` on a fresh port of ``host`` (any 127.0.0.0/8 address); returns the port."""

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._handlers.add(task)
            try:
                await handler(reader, writer)
            except PEER_GONE:
                pass  # the probe gave up or hung up: the end of every hostile conversation
            except asyncio.CancelledError:
                pass  # close() ends held connections; Python 3.11 would log a cancelled handler as an error
            finally:
                writer.transport.abort()
                self._handlers.discard(task)

        return self.adopt(asyncio.start_server(connected, host, 0))

    def adopt(self, starting: Awaitable[asyncio.Server]) -> int:
        """Start a server built elsewhere (an emulator) on this loop and close it with the others."""

        async def start() -> asyncio.Server:
            return await starting

        server = self.run(start())
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop every server, cancel every connection still held, and end the thread."""

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for server in self._servers:
                await server.wait_closed()
            await asyncio.sleep(0.01)  # aborted transports finish closing on the next loop turns

        with contextlib.suppress(concurrent.futures.TimeoutError):
            self.run(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def hold(reader: asyncio.StreamReader) -> None:
    """Keep the connection open, reading and discarding, until the probe hangs up."""
    while await reader.read(65536):
        pass


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write and wait for flow control; raise once the probe is gone.

    Over TLS a write after the peer left is only logged, not raised, and
    ``drain`` does not yield unless paused, so without the explicit turn of
    the loop an endless stream would spin, encrypting into a dead socket.
    """
    await asyncio.sleep(0)  # let a pending connection_lost() run first
    if writer.transport.is_closing():
        raise ConnectionResetError("the probe hung up")
    writer.write(data)
    await writer.drain()


def speak(data: bytes) -> Handler:
    """Send ``data`` at once (nothing: a tarpit), then stay connected and silent."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, data)
        await hold(reader)

    return handle


def stream(head: bytes, unit: bytes, total: int, tail: bytes = b"") -> Handler:
    """Send ``head``, then ``unit`` repeated until ``total`` bytes went out, then ``tail``, then hold.

    With a large ``total`` this is an endless banner: flow control makes
    ``drain`` wait for the probe to read, so only what the probe actually
    takes is ever buffered, on either side.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, head)
        sent = len(head)
        while sent < total:
            await send(writer, unit)
            sent += len(unit)
        await send(writer, tail)
        await hold(reader)

    return handle


def dribble(data: bytes, interval: float) -> Handler:
    """Slowloris: send ``data`` one byte every ``interval`` seconds (0: all at once), then hold."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in range(len(data)):
            await send(writer, data[index:index + 1])
            await asyncio.sleep(interval)
        await hold(reader)

    return handle


def after_first_bytes(answer: bytes | None, quiet: float = 0.1) -> Handler:
    """Wait for the probe's first bytes (or ``quiet`` seconds of silence), then answer and close.

    ``answer=None`` resets instead: ``SO_LINGER`` 0 makes the close send RST
    in the middle of the probe's handshake. Server-first protocols (MySQL,
    SMTP, Slurm) send nothing, hence the ``quiet`` limit: they are reset
    while they wait.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1024), quiet)
        if answer is None:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        await send(writer, answer)

    return handle


def half_close(data: bytes = b"") -> Handler:
    """Send ``data``, then ``shutdown(SHUT_WR)`` (FIN) while still reading what the probe sends."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        writer.write_eof()
        await hold(reader)

    return handle


def hang_up(data: bytes = b"") -> Handler:
    """Send ``data`` (nothing: accept, then close at once) and close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, data)

    return handle
