"""A loopback stand-in for registry failures a real registry cannot be made to show: rate limits,
5xx, resets, hangs, garbage, truncated and endless bodies, redirects (same host and other host).

`FaultServer(behaviour, **options)` answers every request (`/v2/`, `/v2/<name>/manifests/<ref>`,
anything else) with the behaviour, unless `base_ok=True`, which makes `/v2/` a healthy `200 {}`.
A behaviour is a name from `BEHAVIOURS` or any callable taking an `Exchange`; behaviours that
need setup/teardown implement `bind(server)` / `close()`. Every request is recorded in
`server.requests` (method, path, headers with lower-cased names, which server saw it).
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from registry_server import LoopbackHTTPServer, Registry, TLSFiles

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
RATE_LIMIT_BODY = {
    "errors": [
        {
            "code": "TOOMANYREQUESTS",
            "message": "You have reached your pull rate limit. You may increase the limit by "
            "authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        }
    ]
}
HANG_LIMIT = 60.0  # a hanging handler gives up after this even if the server is never stopped
HUGE_SIZE = 100 * 1024 * 1024
HUGE_CHUNK = b" " * 65536
HUGE_INTERVAL = 0.01
HUGE_LIMIT = 30.0

_CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
IMITATED_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + hashlib.sha256(_CONFIG).hexdigest(),
            "size": len(_CONFIG),
        },
        "layers": [],
    },
    separators=(",", ":"),
).encode()
IMITATED_DIGEST = "sha256:" + hashlib.sha256(IMITATED_MANIFEST).hexdigest()


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def refused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class FaultRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    server: str = "main"  # "main" | "other" (the redirect target of redirect-other-host)
    scheme: str = "http"  # "https" when the request came over TLS


class Exchange:
    """One request as a behaviour sees it, with helpers to answer it."""

    def __init__(self, handler: _Handler, server: FaultServer) -> None:
        self.handler = handler
        self.server = server
        self.method = handler.command
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}

    @property
    def is_base(self) -> bool:
        return self.path.split("?", 1)[0] in ("/v2", "/v2/")

    @property
    def is_manifest(self) -> bool:
        return "/manifests/" in self.path

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str | None = "application/json",
    ) -> None:
        h = self.handler
        h.send_response(status)
        h.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if content_type:
            h.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if self.method != "HEAD":
            h.wfile.write(body)

    def send_error(self, status: int, code: str, message: str, **headers: str) -> None:
        self.send(status, error_body(code, message), headers=headers)

    def send_raw(self, data: bytes) -> None:
        self.handler.wfile.write(data)

    def serve_ok(self, upstream: Registry | None, path: str | None = None) -> None:
        """A valid answer: proxied to `upstream` when given, else an imitated registry."""
        path = path or self.path
        if upstream is not None:
            self._proxy(upstream, path)
        elif path.split("?", 1)[0] in ("/v2", "/v2/"):
            self.send(200, b"{}")
        elif "/manifests/" in path:
            self.send(
                200,
                IMITATED_MANIFEST,
                headers={"Docker-Content-Digest": IMITATED_DIGEST},
                content_type=MANIFEST_TYPE,
            )
        else:
            self.send_error(404, "NAME_UNKNOWN", "repository name not known to registry")

    def _proxy(self, upstream: Registry, path: str) -> None:
        forward = {
            k: v for k, v in self.headers.items() if k in ("accept", "authorization", "user-agent")
        }
        with upstream.client() as http:
            response = http.request(self.method, upstream.url + path, headers=forward)
        passed = {
            k: v
            for k, v in response.headers.items()
            if k.lower() in ("docker-content-digest", "www-authenticate", "location", "etag")
        }
        self.send(
            response.status_code,
            response.content,
            headers=passed,
            content_type=response.headers.get("content-type"),
        )

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then a real close)."""
        conn = self.handler.connection
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.handler.rfile.close()  # drop the makefile reference so close() closes the fd
        conn.close()
        self.handler.close_connection = True


Behaviour = Callable[[Exchange], None]


# --- behaviours --------------------------------------------------------------------------------


class RateLimited:
    """429 with a Docker Hub style TOOMANYREQUESTS body, `Retry-After` unless None."""

    def __init__(self, retry_after: str | None = "1") -> None:
        self.retry_after = retry_after

    def __call__(self, ex: Exchange) -> None:
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        ex.send(429, json.dumps(RATE_LIMIT_BODY).encode(), headers=headers)


class FailThenOk:
    """The first `failures` requests get 503 UNAVAILABLE, the rest a valid answer (proxied to
    `upstream` when given, else imitated)."""

    def __init__(self, failures: int = 2, upstream: Registry | None = None) -> None:
        self.failures = failures
        self.upstream = upstream
        self._seen = 0
        self._lock = threading.Lock()

    def __call__(self, ex: Exchange) -> None:
        with self._lock:
            self._seen += 1
            failing = self._seen <= self.failures
        if failing:
            ex.send_error(503, "UNAVAILABLE", "service unavailable")
        else:
            ex.serve_ok(self.upstream)


class ServerError:
    """The same 5xx forever."""

    def __init__(self, status: int = 500) -> None:
        self.status = status

    def __call__(self, ex: Exchange) -> None:
        ex.send_error(self.status, "UNKNOWN", "unknown error")


class Ok:
    """A healthy registry (proxy to `upstream`, or an imitated manifest)."""

    def __init__(self, upstream: Registry | None = None) -> None:
        self.upstream = upstream

    def __call__(self, ex: Exchange) -> None:
        ex.serve_ok(self.upstream)


def reset(ex: Exchange) -> None:
    """Status line and part of the headers, then a TCP reset."""
    ex.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: " + MANIFEST_TYPE.encode() + b"\r\n")
    ex.send_raw(b'Content-Length: 4096\r\n\r\n{"schemaVersion": 2, ')
    ex.reset()


def hang(ex: Exchange) -> None:
    """Accept the request and never answer; returns when the server stops."""
    ex.server.stopping.wait(HANG_LIMIT)
    ex.handler.close_connection = True


def garbage(ex: Exchange) -> None:
    """200 with a manifest content type and a body that is not JSON."""
    body = b"<html><body>Welcome to nginx!</body></html>\x00\xff"
    ex.send(
        200, body, headers={"Docker-Content-Digest": IMITATED_DIGEST}, content_type=MANIFEST_TYPE
    )


def truncated(ex: Exchange) -> None:
    """Content-Length of the whole manifest, half of it sent, then a clean close."""
    h = ex.handler
    h.send_response(200)
    h.send_header("Content-Type", MANIFEST_TYPE)
    h.send_header("Docker-Content-Digest", IMITATED_DIGEST)
    h.send_header("Content-Length", str(len(IMITATED_MANIFEST)))
    h.end_headers()
    if ex.method != "HEAD":
        h.wfile.write(IMITATED_MANIFEST[: len(IMITATED_MANIFEST) // 2])
    h.close_connection = True


def huge(ex: Exchange) -> None:
    """200 announcing 100 MB, streamed slowly from one reused chunk; never fully sent. Stops when
    the client goes away, the server stops, or after HUGE_LIMIT seconds."""
    h = ex.handler
    h.send_response(200)
    h.send_header("Content-Type", MANIFEST_TYPE)
    h.send_header("Content-Length", str(HUGE_SIZE))
    h.end_headers()
    h.close_connection = True
    if ex.method == "HEAD":
        return
    deadline = time.monotonic() + HUGE_LIMIT
    sent = 0
    try:
        h.wfile.write(b'{"schemaVersion": 2, "padding": "')
        while (
            time.monotonic() < deadline
            and not ex.server.stopping.is_set()
            and sent + len(HUGE_CHUNK) < HUGE_SIZE
        ):
            h.wfile.write(HUGE_CHUNK)
            sent += len(HUGE_CHUNK)
            ex.server.stopping.wait(HUGE_INTERVAL)
    except OSError:
        pass  # the client stopped reading: that is what a size cap does


class RedirectSameHost:
    """Manifest requests get a 307 to `/redirected<path>` on this server, which answers them."""

    prefix = "/redirected"

    def __init__(self, upstream: Registry | None = None) -> None:
        self.upstream = upstream

    def __call__(self, ex: Exchange) -> None:
        if ex.path.startswith(self.prefix):
            ex.serve_ok(self.upstream, ex.path[len(self.prefix) :])
        elif ex.is_manifest:
            ex.send(307, headers={"Location": f"{ex.server.url}{self.prefix}{ex.path}"})
        else:
            ex.serve_ok(self.upstream)


class RedirectOtherHost:
    """Manifest requests get a 307 to a second server (another port on loopback) that answers
    them; whether an Authorization header reached it is `server.authorization_at_other_host`."""

    def __init__(self, upstream: Registry | None = None) -> None:
        self.upstream = upstream
        self.other: FaultServer | None = None

    def bind(self, server: FaultServer) -> None:
        self.other = FaultServer(Ok(self.upstream), name="other", record_to=server)
        self.other.start()

    def close(self) -> None:
        if self.other is not None:
            self.other.stop()

    def __call__(self, ex: Exchange) -> None:
        assert self.other is not None
        if ex.is_manifest:
            ex.send(307, headers={"Location": f"{self.other.url}{ex.path}"})
        else:
            ex.serve_ok(self.upstream)


BEHAVIOURS: dict[str, Callable[..., Behaviour]] = {
    "ok": Ok,
    "429": RateLimited,
    "429-no-retry-after": lambda: RateLimited(retry_after=None),
    "503-then-ok": FailThenOk,
    "500": ServerError,
    "reset": lambda: reset,
    "hang": lambda: hang,
    "garbage": lambda: garbage,
    "truncated": lambda: truncated,
    "huge": lambda: huge,
    "redirect-same-host": RedirectSameHost,
    "redirect-other-host": RedirectOtherHost,
}


# --- the server --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    timeout = HANG_LIMIT  # bounds reads from an idle keep-alive client

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _dispatch(self) -> None:
        owner = self.server.owner
        ex = Exchange(self, owner)
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        owner.record(FaultRequest(ex.method, ex.path, ex.headers, owner.name, scheme))
        try:
            if owner.base_ok and ex.is_base:
                ex.serve_ok(None)
            else:
                owner.behaviour(ex)
        except OSError:
            self.close_connection = True  # client went away; nothing to answer

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch  # noqa: N815


class _HTTPServer(LoopbackHTTPServer):
    owner: FaultServer
    tls: ssl.SSLContext | None = None

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """A client that hangs up between requests is what the faults provoke: no stack dump."""

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """With TLS: each connection is TLS when its first byte is a handshake record, plain
        HTTP otherwise (one port, both schemes, as some proxies serve)."""
        if self.tls is not None:
            request.settimeout(HANG_LIMIT)
            try:
                first = request.recv(1, socket.MSG_PEEK)
                if first == b"\x16":
                    request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


class FaultServer:
    """A scripted registry stand-in on 127.0.0.1 (free port). `requests` records every request
    (with `server="other"` for those reaching a redirect-other-host target)."""

    def __init__(
        self,
        behaviour: str | Behaviour,
        *,
        base_ok: bool = False,
        name: str = "main",
        record_to: FaultServer | None = None,
        port: int = 0,
        tls: TLSFiles | None = None,
        **options: Any,
    ) -> None:
        """`behaviour`: a name in BEHAVIOURS (built with `options`, e.g. `upstream=registry`,
        `failures=3`) or a callable taking an Exchange. `base_ok`: `/v2/` answers `200 {}`."""
        if isinstance(behaviour, str):
            if behaviour not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {behaviour!r}; known: {sorted(BEHAVIOURS)}")
            self.behaviour: Behaviour = BEHAVIOURS[behaviour](**options)
        else:
            if options:
                raise TypeError("options only apply to named behaviours")
            self.behaviour = behaviour
        self.base_ok = base_ok
        self.port_wanted = port
        self.tls = tls
        self.name = name
        self.record_to = record_to
        self.requests: list[FaultRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None

    def start(self) -> FaultServer:
        httpd = _HTTPServer(_Handler, self.port_wanted)
        httpd.owner = self
        if self.tls is not None:
            httpd.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            httpd.tls.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        httpd.start()
        self._httpd = httpd
        bind = getattr(self.behaviour, "bind", None)
        if bind is not None:
            bind(self)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping.set()
        close = getattr(self.behaviour, "close", None)
        if close is not None:
            close()
        self._httpd.stop()
        self._httpd = None

    def __enter__(self) -> FaultServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "fault server not started"
        return self._httpd.port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def record(self, request: FaultRequest) -> None:
        target = self.record_to or self
        with target._lock:
            target.requests.append(request)

    def requests_at(self, server: str = "main") -> list[FaultRequest]:
        with self._lock:
            return [r for r in self.requests if r.server == server]

    @property
    def authorization_at_other_host(self) -> bool:
        """Whether any request that reached the redirect target carried an Authorization."""
        return any("authorization" in r.headers for r in self.requests_at("other"))
