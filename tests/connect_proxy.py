"""A small HTTPS forward proxy (HTTP CONNECT) for tests: resolves names itself from a table (the
way a corporate proxy resolves what the runner cannot), records every CONNECT, and answers 502
for a name it cannot resolve. Loopback only; stopped by its context manager."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ConnectProxy:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names  # host name -> address the proxy connects to
        self.connects: list[str] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:  # noqa: N802 - http.server's name
                host, _, port = self.path.rpartition(":")
                proxy.connects.append(self.path)
                address = proxy.names.get(host, host)
                try:
                    upstream = socket.create_connection((address, int(port)), timeout=5)
                except OSError:
                    self.send_response(502, "Bad Gateway")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self._pipe(self.connection, upstream)

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
