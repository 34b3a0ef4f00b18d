"""Socket-level bounds under httpx: a total deadline per request, and bodies read and decoded
under a byte cap as they stream.

httpx's timeouts apply to each socket operation, so a server sending one byte per second never
trips them. `DeadlineBackend` wraps httpcore's socket backend and gives every connect, read and
write at most the time left before the calling thread's current request deadline; past it the
operation fails as a timeout and the connection is dropped.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

from gate.registry.protocol import RegistryProblem


class _Bound:
    """The calling thread's request deadline (monotonic seconds), if any."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def until(self, ends_at: float) -> Iterator[None]:
        previous = getattr(self._local, "ends_at", None)
        self._local.ends_at = ends_at if previous is None else min(previous, ends_at)
        try:
            yield
        finally:
            self._local.ends_at = previous

    def clip(self, timeout: float | None, error: type[Exception]) -> float | None:
        ends_at = getattr(self._local, "ends_at", None)
        if ends_at is None:
            return timeout
        left = ends_at - time.monotonic()
        if left <= 0:
            raise error("request deadline exceeded")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, bound: _Bound) -> None:
        self._inner = inner
        self._bound = bound

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._bound.clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._bound.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _Stream:
        timeout = self._bound.clip(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._bound)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync socket backend with every operation clipped to the request deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self.bound = _Bound()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self.bound.clip(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream, self.bound)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = self.bound.clip(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options), self.bound)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: Any, backend: DeadlineBackend) -> None:
    """Make every connection pool of an httpx client (its own and the proxy mounts that
    trust_env added) open its sockets through `backend`."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is None:
            continue
        if not hasattr(pool, "_network_backend"):  # an httpcore that moved it: fail loudly
            raise RuntimeError("httpcore connection pool has no _network_backend")
        pool._network_backend = backend


# ---- capped, incremental decoding ------------------------------------------------------------


class BodyTooLarge(Exception):
    pass


class CappedDecoder:
    """Decodes a Content-Encoding (identity, gzip, deflate) as chunks arrive, never producing
    more than `limit + 1` bytes of output: a gzip bomb costs its cap, not its expansion."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise RegistryProblem(
                "registry-error", f"answer uses an unsupported content encoding {encoding!r}"
            )
        self._coding = codings[0] if codings else ""
        self._zlib = None
        if self._coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes) -> None:
        if not self._coding:
            self._append(data)
            return
        if self._zlib is None:  # deflate: zlib-wrapped per the RFC, raw by some servers
            wrapped = bool(data) and (data[0] & 0x0F) == 8
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        try:
            while data:
                room = self.limit + 1 - len(self.body)
                out = self._zlib.decompress(data, max(1, room))
                self._append(out)
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise RegistryProblem(
                "registry-error", f"answer is not valid {self._coding}: {exc}"
            ) from None

    def _append(self, data: bytes) -> None:
        self.body += data
        if len(self.body) > self.limit:
            raise BodyTooLarge()
