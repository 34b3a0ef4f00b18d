"""A latency-injecting HTTP/1.1 reverse proxy for the benchmark, loopback only, bounded.

Every request waits `--latency` seconds (the round trip a remote registry costs) and is then
forwarded over a keep-alive connection to the registry, or to the token server for `/token`.
Requests are counted by type (token, manifest, blob, ping, tags, other) so the benchmark reports
what each tool asked for. Control endpoints, answered at once and not counted:

  GET /__bench/stats                       -> {"by_type": {...}, "total": N, "peak_in_flight": N}
  GET /__bench/reset                       -> counters to zero
  GET /__bench/config?registry=H:P&latency=S&token=H:P

Bounded: at most MAX_CLIENTS connections, header and body size limits, an idle timeout per
connection and an overall upstream timeout per request. Prints `listening on 127.0.0.1:PORT`;
with `--tls CERT KEY` it also serves HTTPS on a second port and prints
`listening on 127.0.0.1:PORT tls 127.0.0.1:TLSPORT` (clients use the TLS port, control stays on
the plain one), so handshakes cost what they cost against a real registry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from urllib.parse import parse_qs, urlsplit

MAX_CLIENTS = 512
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 30.0
UPSTREAM_TIMEOUT = 30.0


def request_type(path: str) -> str:
    bare = path.split("?", 1)[0]
    if bare.startswith("/token"):
        return "token"
    if "/manifests/" in bare:
        return "manifest"
    if "/blobs/" in bare:
        return "blob"
    if bare.endswith("/tags/list"):
        return "tags"
    if bare in ("/v2", "/v2/"):
        return "ping"
    return "other"


class Stats:
    def __init__(self) -> None:
        self.by_type: dict[str, int] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def reset(self) -> None:
        self.by_type = {}
        self.peak_in_flight = self.in_flight

    def as_dict(self) -> dict:
        return {
            "by_type": dict(self.by_type),
            "total": sum(self.by_type.values()),
            "peak_in_flight": self.peak_in_flight,
        }


class Proxy:
    def __init__(self, latency: float, registry: str | None, token: str | None) -> None:
        self.latency = latency
        self.registry = registry
        self.token = token
        self.stats = Stats()
        self.slots = asyncio.Semaphore(MAX_CLIENTS)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.slots.locked():
            writer.close()
            return
        async with self.slots:
            upstreams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
            try:
                while await self._one(reader, writer, upstreams):
                    pass
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass
            except asyncio.TimeoutError:
                pass
            finally:
                for _, up_writer in upstreams.values():
                    up_writer.close()
                writer.close()

    async def _one(self, reader, writer, upstreams) -> bool:  # noqa: ANN001
        first = await asyncio.wait_for(reader.read(1), IDLE_TIMEOUT)
        if first == b"\x16":
            # A TLS ClientHello (skopeo tries https first even with --tls-verify=false): costs a
            # round trip, then the connection closes, as a plain-HTTP registry's would.
            self._count("https-probe")
            await asyncio.sleep(self.latency)
            return False
        if not first:
            return False
        head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        if len(head) > MAX_HEAD:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        lower = {k.strip().lower(): v.strip() for k, v in headers}
        body = await _read_body(reader, lower, request=True)
        if target.startswith("/__bench/"):
            await self._control(target, writer)
            return lower.get("connection", "").lower() != "close"
        kind = request_type(target)
        self._count(kind)
        self.stats.in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            upstream = self.token if kind == "token" else self.registry
            if upstream is None:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return False
            keep = await asyncio.wait_for(
                self._forward(upstream, head + body, method, writer, upstreams), UPSTREAM_TIMEOUT
            )
        finally:
            self.stats.in_flight -= 1
        return keep and lower.get("connection", "").lower() != "close"

    def _count(self, kind: str) -> None:
        self.stats.by_type[kind] = self.stats.by_type.get(kind, 0) + 1

    async def _forward(self, upstream, raw, method, writer, upstreams) -> bool:  # noqa: ANN001
        for attempt in (0, 1):  # a pooled connection the upstream closed is reopened once
            if upstream not in upstreams:
                host, port = upstream.rsplit(":", 1)
                upstreams[upstream] = await asyncio.open_connection(host, int(port), limit=MAX_HEAD)
            up_reader, up_writer = upstreams[upstream]
            try:
                up_writer.write(raw)
                await up_writer.drain()
                head = await up_reader.readuntil(b"\r\n\r\n")
                break
            except (OSError, asyncio.IncompleteReadError):
                up_writer.close()
                del upstreams[upstream]
                if attempt:
                    raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        lower = {
            k.strip().lower(): v.strip()
            for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
        }
        writer.write(head)
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        keep = lower.get("connection", "").lower() != "close"
        if not no_body:
            if "content-length" in lower or "chunked" in lower.get("transfer-encoding", ""):
                writer.write(await _read_body(up_reader, lower, request=False))
            else:  # body until close
                writer.write(await up_reader.read(MAX_BODY))
                keep = False
        await writer.drain()
        if not keep:
            up_writer.close()
            upstreams.pop(upstream, None)
        return keep

    async def _control(self, target: str, writer: asyncio.StreamWriter) -> None:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/__bench/reset":
            self.stats.reset()
        elif parts.path == "/__bench/config":
            self.registry = query.get("registry", self.registry)
            self.token = query.get("token", self.token)
            if "latency" in query:
                self.latency = float(query["latency"])
        data = json.dumps({**self.stats.as_dict(), "latency": self.latency}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(data)).encode()
            + b"\r\n\r\n"
            + data
        )
        await writer.drain()


async def _read_body(reader: asyncio.StreamReader, lower: dict[str, str], request: bool) -> bytes:
    if "chunked" in lower.get("transfer-encoding", ""):
        out = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            out += size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await reader.readuntil(b"\r\n")
                    out += trailer
                    if trailer == b"\r\n":
                        return bytes(out)
            if len(out) + size > MAX_BODY:
                raise ValueError("body too large")
            out += await reader.readexactly(size + 2)
    length = int(lower.get("content-length", "0") or 0)
    if length > MAX_BODY:
        raise ValueError("body too large")
    return await reader.readexactly(length) if length else b""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--registry", help="upstream registry HOST:PORT (or set later)")
    parser.add_argument("--token", help="upstream token server HOST:PORT")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="also serve HTTPS")
    args = parser.parse_args()
    proxy = Proxy(args.latency, args.registry, args.token)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0, limit=MAX_HEAD, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    line = f"listening on 127.0.0.1:{port}"
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        tls_server = await asyncio.start_server(
            proxy.serve, "127.0.0.1", 0, limit=MAX_HEAD, backlog=1024, ssl=context
        )
        line += f" tls 127.0.0.1:{tls_server.sockets[0].getsockname()[1]}"
    print(line, flush=True)
    async with server:
        # The parent closes our stdin to stop us (or kills us): either ends the process.
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        await stdin_closed


if __name__ == "__main__":
    asyncio.run(main())
