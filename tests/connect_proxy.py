"""A small forward proxy for tests: HTTPS through HTTP CONNECT, plain HTTP in absolute form
(`GET http://host:port/path HTTP/1.1`, forwarded in origin form). It resolves names itself from a
table (the way a corporate proxy resolves what the runner cannot), records every CONNECT and
every request line with its headers, and answers 502 for a name it cannot reach. Loopback only;
stopped by its context manager."""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop fields a proxy consumes instead of forwarding (RFC 9110 7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}
)


@dataclass(frozen=True)
class ProxiedRequest:
    line: str  # the request line as received, e.g. "CONNECT host:443 HTTP/1.0"
    headers: dict[str, str]  # names lower-cased


class ConnectProxy:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names  # host name -> address the proxy connects to
        self.connects: list[str] = []
        self.requests: list[ProxiedRequest] = []  # every request: CONNECTs and forwarded ones

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                proxy.requests.append(ProxiedRequest(self.requestline, headers))

            def do_CONNECT(self) -> None:  # noqa: N802 - http.server's name
                self._record()
                host, _, port = self.path.rpartition(":")
                proxy.connects.append(self.path)
                address = proxy.names.get(host, host)
                try:
                    upstream = socket.create_connection((address, int(port)), timeout=5)
                except OSError:
                    self._bad_gateway()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self._pipe(self.connection, upstream)

            def _forward(self) -> None:
                """An absolute-form request, sent on in origin form; the answer read whole."""
                self._record()
                parts = urlsplit(self.path)
                if parts.scheme != "http" or not parts.hostname:
                    self.send_response(400, "Absolute http:// URL expected")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                address = proxy.names.get(parts.hostname, parts.hostname)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(address, parts.port or 80, timeout=5)
                try:
                    upstream.request(self.command, target, headers=headers)
                    answer = upstream.getresponse()
                    body = answer.read()
                except (OSError, http.client.HTTPException):
                    self._bad_gateway()
                    return
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP | {"content-length", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _forward  # noqa: N815

            def _bad_gateway(self) -> None:
                self.send_response(502, "Bad Gateway")
                self.send_header("Content-Length", "0")
                self.end_headers()

            @staticmethod
            def _pipe(client: socket.socket, upstream: socket.socket) -> None:
                with upstream:
                    sockets = [client, upstream]
                    while True:
                        ready, _, _ = select.select(sockets, [], [], 5)
                        if not ready:
                            return
                        for sock in ready:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is client else client).sendall(data)

        return Handler


@contextmanager
def serve_proxy(names: dict[str, str]) -> Iterator[tuple[str, ConnectProxy]]:
    proxy = ConnectProxy(names)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
