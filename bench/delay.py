"""A TCP relay that adds network latency the way `tc qdisc ... netem delay` would, loopback only.

Every byte a client sends reaches the upstream `--latency` seconds later; answers come back at
once. A request/answer exchange therefore costs the latency as one round trip does, and so does
every flight of a TLS handshake, which passes through untouched: the upstream (the registry, the
token server) terminates TLS itself, so the relay spends no CPU on crypto or on HTTP. It
counts nothing: requests are counted where they are answered (the registry's access log, the
token server's record).

    python bench/delay.py --latency 0.02 --to 127.0.0.1:5000 [--to 127.0.0.1:5001 ...]

prints `listening on 127.0.0.1:PORT ...`, one port per `--to`, in order. Closing stdin stops it.
Bounded: at most MAX_CONNECTIONS open at once, and an idle connection is closed after
IDLE_TIMEOUT.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

MAX_CONNECTIONS = 512
IDLE_TIMEOUT = 60.0


class _Upstream(asyncio.Protocol):
    """The relay's side towards the upstream: what it answers goes to the client at once."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Client(asyncio.Protocol):
    """One client connection: its bytes are held `latency` seconds, then sent upstream in order
    (timers with equal delays fire in the order they were set)."""

    open_count = 0

    def __init__(self, target: tuple[str, int], latency: float) -> None:
        self.target = target
        self.latency = latency
        self.loop = asyncio.get_running_loop()
        self.upstream: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # bytes that came due before the upstream connected
        self.closing = False
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if _Client.open_count >= MAX_CONNECTIONS:
            transport.close()
            return
        _Client.open_count += 1
        self._touch()
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            upstream, _ = await self.loop.create_connection(
                lambda: _Upstream(self.transport), *self.target
            )
        except OSError:
            self.transport.close()
            return
        self.upstream = upstream
        for data in self.pending:
            upstream.write(data)
        self.pending.clear()
        if self.closing:
            upstream.close()

    def data_received(self, data: bytes) -> None:
        self._touch()
        self.loop.call_later(self.latency, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.write(data)

    def eof_received(self) -> bool:
        self.loop.call_later(self.latency, self._close_upstream)
        return True

    def _close_upstream(self) -> None:
        self.closing = True
        if self.upstream is not None:
            self.upstream.close()

    def _touch(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = self.loop.call_later(IDLE_TIMEOUT, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        _Client.open_count -= 1
        if self.idle is not None:
            self.idle.cancel()
        self.loop.call_later(self.latency, self._close_upstream)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--to", action="append", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    servers = []
    for target in args.to:
        host, port = target.rsplit(":", 1)
        server = await loop.create_server(
            lambda t=(host, int(port)): _Client(t, args.latency), "127.0.0.1", 0, backlog=1024
        )
        servers.append(server)
    ports = " ".join(f"127.0.0.1:{s.sockets[0].getsockname()[1]}" for s in servers)
    print(f"listening on {ports}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
