"""HTTP/1.1 for the registry client on the standard library's `http.client`: pooled keep-alive
connections, environment proxies, and a total deadline per request enforced at the socket.

A per-operation timeout is not a bound: a server sending one byte per second never trips it.
Here every socket a request uses (the TCP connection, the TLS layer over it, a proxy tunnel)
carries the request's end time, and each connect, handshake, read and write may take only the
time left before it; past it the operation fails as a timeout and the connection is dropped.

Why not httpx: measured by bench/clients.py (README, Design decisions), a request through httpx
cost 0.55 ms of CPU, through this layer 0.38 ms (`http.client` alone 0.22 ms), and on a 2-CPU
runner that CPU is what stands between a check and the request floor.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import SplitResult, unquote, urlsplit

from gate.deadline import run_within
from gate.registry.protocol import RegistryProblem

READ_CHUNK = 64 * 1024
_log = logging.getLogger(__name__)


class TransportError(Exception):
    """A request that got no complete answer; the OS or TLS error, if any, is its cause."""


class RequestTimeout(TransportError):
    pass


class ConnectionLost(TransportError):
    """The peer closed or reset the connection; `incomplete` when it did so inside a body."""

    def __init__(self, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete


class ProtocolViolation(TransportError):
    """The peer's answer is not HTTP/1.x."""


class ProxyFailed(TransportError):
    pass


# ---- sockets under a deadline ----------------------------------------------------------------


_NEVER = float("inf")


def _left(ends_at: float) -> float:
    left = ends_at - time.monotonic()
    if left <= 0:
        raise TimeoutError("request deadline exceeded")
    return left


class _Clipped:
    """Every read and write waits at most until `ends_at` (none set: the socket's own timeout).
    Mixed into the TCP socket and into the TLS socket over it; `sendall` is bounded as a whole
    on TCP, send by send on TLS (where `sendall` loops over `send`)."""

    ends_at = _NEVER

    def _clip(self) -> None:
        if self.ends_at != _NEVER:
            self.settimeout(_left(self.ends_at))  # type: ignore[attr-defined]

    def recv_into(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._clip()
        return super().recv_into(*args, **kwargs)  # type: ignore[misc]

    def recv(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._clip()
        return super().recv(*args, **kwargs)  # type: ignore[misc]

    def send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._clip()
        return super().send(*args, **kwargs)  # type: ignore[misc]

    def sendall(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._clip()
        return super().sendall(*args, **kwargs)  # type: ignore[misc]


class _DeadlineSocket(_Clipped, socket.socket):
    """A TCP socket whose every read and write waits at most until `ends_at`."""


class _DeadlineSSLSocket(_Clipped, ssl.SSLSocket):
    """The TLS layer of a `_DeadlineSocket`: its handshake is bounded by the timeout the raw
    socket carries when it is wrapped (CPython bounds the whole handshake by it); its reads
    and writes by `ends_at`, set once wrapped. Other users of the context (the Azure SDK's
    sessions) set no `ends_at` and keep their own timeouts."""


def bounded_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """Make `context` wrap sockets in the deadline-aware TLS socket (it is the caller's own)."""
    context.sslsocket_class = _DeadlineSSLSocket
    return context


def unverified_context() -> ssl.SSLContext:
    """TLS without verification, for registries the user named insecure."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return bounded_context(context)


def _lookup(host: str, port: int, ends_at: float) -> list:
    """getaddrinfo, which takes no timeout (a silent resolver holds it for 5 s a try and
    server), given up at `ends_at` with the error glibc gives when its resolver is silent."""
    if ends_at == _NEVER:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    left = _left(ends_at)  # past already: the request's own timeout, not the resolver's
    try:
        return run_within(
            lambda: socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM), left, name="pullgate-dns"
        )
    except TimeoutError:
        raise socket.gaierror(
            socket.EAI_AGAIN,
            "Temporary failure in name resolution (no answer before the request's deadline)",
        ) from None


def _connect(address: tuple[str, int], ends_at: float) -> _DeadlineSocket:
    """socket.create_connection, with the lookup and each attempt bounded by `ends_at`."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, target in _lookup(host, port, ends_at):
        sock = _DeadlineSocket(family, kind, proto)
        try:
            sock.ends_at = ends_at
            sock.settimeout(_left(ends_at))
            sock.connect(target)
            sock.settimeout(_left(ends_at))  # what the TLS handshake may take
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"getaddrinfo returned nothing for {host}")


class _Plain(http.client.HTTPConnection):
    ends_at = _NEVER

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._create_connection = lambda address, *_: _connect(address, self.ends_at)


class _TLS(http.client.HTTPSConnection):
    ends_at = _NEVER

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context)
        self._create_connection = lambda address, *_: _connect(address, self.ends_at)

    def connect(self) -> None:
        super().connect()
        self.sock.ends_at = self.ends_at


# ---- proxies from the environment ------------------------------------------------------------


def proxy_for(scheme: str, host: str, proxies: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL this runner's environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY)
    sends `scheme`://`host` through, or None. `proxies`: the environment's, read once by the
    caller (reading it walks the whole environment: 0.1 ms, at every request before)."""
    if proxies is None:
        proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    if urllib.request.proxy_bypass_environment(host, proxies) or _in_no_proxy_network(
        urlsplit(f"//{host}").hostname or host, proxies.get("no", "")
    ):
        return None
    return proxy


def _in_no_proxy_network(name: str, no_proxy: str) -> bool:
    """An address inside a NO_PROXY network (10.0.0.0/8, fd00::/8), as Kubernetes runners set
    it; urllib matches names and suffixes only."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        if "/" not in entry:
            continue
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None

    @classmethod
    def parse(cls, url: str) -> _Proxy:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ProxyFailed(
                f"proxy {parts.scheme}://{parts.hostname or ''} is not supported:"
                " pullgate speaks to proxies over http://"
            )
        auth = None
        if parts.username is not None:
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(raw.encode()).decode()
        try:
            port = parts.port or 80
        except ValueError:
            raise ProxyFailed("the proxy URL in the environment has an invalid port") from None
        return cls(parts.hostname, port, auth)


@dataclass(frozen=True)
class _Route:
    """Where a URL's requests go: connections are pooled per route."""

    scheme: str
    host: str
    port: int
    verify: bool
    proxy: _Proxy | None

    @classmethod
    def of(cls, parts: SplitResult, verify: bool, proxies: Mapping[str, str]) -> _Route:
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        proxy_url = proxy_for(scheme, parts.netloc, proxies)
        proxy = _Proxy.parse(proxy_url) if proxy_url else None
        return cls(scheme, parts.hostname or "", port, verify, proxy)


# ---- the pool --------------------------------------------------------------------------------


class Headers(dict):
    """Header fields by name, any case; a repeated field's values joined with ", "."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default=None):  # type: ignore[no-untyped-def, override]
        return super().get(name.lower(), default)


@dataclass
class Response:
    status: int
    headers: Headers
    _raw: http.client.HTTPResponse

    def iter_raw(self) -> Iterator[bytes]:
        """The body as it arrives (transfer coding undone, content coding not)."""
        raw = self._raw
        try:
            while raw.length != 0:  # 0: the Content-Length read (or none due: HEAD, 204, 304)
                chunk = raw.read1(READ_CHUNK)
                if chunk:
                    yield chunk
                elif raw.length:  # EOF before the Content-Length promised: read1 is silent
                    raise http.client.IncompleteRead(b"", raw.length)
                else:
                    break
            raw.close()  # read to the end: the connection may serve the next request
        except http.client.IncompleteRead:
            raise ConnectionLost(
                "peer closed connection without sending complete message body", incomplete=True
            ) from None

    def read(self, limit: int, truncate: bool = False) -> bytes:
        """The body, content coding undone, of at most `limit` bytes; a longer one raises
        BodyTooLarge, or with `truncate` gives its first `limit` bytes (the rest left unread)."""
        decoder = CappedDecoder(self.headers.get("content-encoding", ""), limit)
        try:
            for chunk in self.iter_raw():
                decoder.feed(chunk)
        except BodyTooLarge:
            if not truncate:
                raise
        return bytes(decoder.body[:limit])


def _headers(message: http.client.HTTPMessage) -> Headers:
    out: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return Headers(out)


_LOST = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class Pool:
    """Keep-alive HTTP/1.1 connections per (scheme, host, port, trust), shared by a run's
    threads: a connection serves one request at a time and goes back to the pool when its
    answer was read to the end."""

    def __init__(self, verified: ssl.SSLContext, unverified: ssl.SSLContext, size: int) -> None:
        self._contexts = {True: bounded_context(verified), False: unverified}
        self._size = size
        self._idle: dict[_Route, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._proxies = urllib.request.getproxies_environment()  # once: the run's environment
        self._routes: dict[tuple[str, str, bool], _Route] = {}

    def _route(self, parts: SplitResult, verify: bool) -> _Route:
        key = (parts.scheme, parts.netloc, verify)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = _Route.of(parts, verify, self._proxies)
        return route

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    @contextmanager
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        ends_at: float,
        verify: bool = True,
    ) -> Iterator[Response]:
        """One exchange, all of it before `ends_at`; the caller reads the body inside."""
        parts = urlsplit(url)
        route = self._route(parts, verify)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for attempt in (0, 1):
            # The retry after a stale connection opens a new one: the other idle connections
            # to the host may have been closed by the same server just the same.
            connection, reused = self._checkout(route, fresh=attempt > 0)
            connection.ends_at = ends_at
            if connection.sock is not None:
                connection.sock.ends_at = ends_at
            try:
                raw = self._exchange(connection, method, url, target, headers, content, route.proxy)
            except BaseException as exc:
                connection.close()
                if reused and attempt == 0 and isinstance(exc, _STALE):
                    continue  # the server closed an idle kept-alive connection: a new one
                _raise_translated(exc)
            break
        if _log.isEnabledFor(logging.DEBUG):  # no query: a presigned URL's is a credential
            _log.debug(
                "HTTP Request: %s %s://%s%s %d",
                method,
                parts.scheme,
                parts.netloc,
                parts.path,
                raw.status,
            )
        try:
            yield Response(raw.status, _headers(raw.msg), raw)
        except BaseException as exc:
            raw.close()
            connection.close()
            if isinstance(exc, (OSError, http.client.HTTPException)):
                _raise_translated(exc)
            raise
        if raw.isclosed() and not raw.will_close:
            self._checkin(route, connection)
        else:
            raw.close()
            connection.close()

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        url: str,
        target: str,
        headers: Mapping[str, str],
        content: bytes | None,
        proxy: _Proxy | None,
    ) -> http.client.HTTPResponse:
        if proxy is not None and url.startswith("http:"):
            target = url  # absolute form: the proxy forwards it
            if proxy.authorization:
                headers = {**headers, "Proxy-Authorization": proxy.authorization}
        connection.request(method, target, body=content, headers=dict(headers))
        return connection.getresponse()

    def warm(self, url: str, ends_at: float, verify: bool = True) -> None:
        """Open a connection for `url`'s host ahead of its request (TCP, proxy tunnel, TLS),
        unless one is idle already; failures are left for the request to meet and report."""
        route = self._route(urlsplit(url), verify)
        connection, reused = self._checkout(route)
        if not reused:
            connection.ends_at = ends_at
            try:
                connection.connect()
            except Exception:  # noqa: BLE001 - the request that follows reports it
                connection.close()
                return
        self._checkin(route, connection)

    def _checkout(
        self, route: _Route, fresh: bool = False
    ) -> tuple[http.client.HTTPConnection, bool]:
        if not fresh:
            with self._lock:
                idle = self._idle.get(route)
                if idle:
                    return idle.pop(), True
        proxy = route.proxy
        if route.scheme == "https":
            context = self._contexts[route.verify]
            if proxy is None:
                return _TLS(route.host, route.port, context), False
            connection = _TLS(proxy.host, proxy.port, context)
            auth = proxy.authorization
            connection.set_tunnel(
                route.host, route.port, {"Proxy-Authorization": auth} if auth else None
            )
            return connection, False
        if proxy is not None:
            return _Plain(proxy.host, proxy.port), False
        return _Plain(route.host, route.port), False

    def _checkin(self, route: _Route, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(route, [])
            if not self._closed and len(idle) < self._size:
                idle.append(connection)
                return
        connection.close()


# A kept-alive connection the server closed while idle fails like this on its next request.
_STALE = (http.client.RemoteDisconnected, *_LOST)


def _raise_translated(exc: BaseException) -> NoReturn:
    translated = _translated(exc)
    if translated is exc:
        raise exc
    raise translated from exc


def _translated(exc: BaseException) -> BaseException:
    """The transport's own error for what http.client, socket or ssl raised."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return RequestTimeout(str(exc) or "timed out")
    if isinstance(exc, http.client.RemoteDisconnected):
        return ConnectionLost("Server disconnected without sending a response.")
    if isinstance(exc, http.client.IncompleteRead):
        return ConnectionLost(
            "peer closed connection without sending complete message body", incomplete=True
        )
    if isinstance(exc, _LOST):
        return ConnectionLost(str(exc) or "connection lost")
    if isinstance(exc, OSError) and str(exc).startswith("Tunnel connection failed"):
        return ProxyFailed(f"proxy refused the tunnel: {str(exc).partition(': ')[2]}")
    if isinstance(exc, http.client.HTTPException):
        return ProtocolViolation(f"{type(exc).__name__}: {str(exc)[:200]}")
    if isinstance(exc, (OSError, ValueError, UnicodeError)):
        return TransportError(str(exc) or type(exc).__name__)
    return exc


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
