"""The registry client's HTTP/1.1 transport (gate/registry/transport.py), against loopback servers:
keep-alive reuse and its stale connections, the total per-request deadline (plain, TLS, the TLS
handshake), bodies cut short, environment proxies (CONNECT, absolute form, NO_PROXY, unsupported
schemes), header lookups, and certificate verification.

Each test drives the real `Pool` (and, where the cause matters, `RegistryClient`); every server
it starts is stopped by a fixture or a context manager, every wait is bounded.
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from connect_proxy import serve_proxy
from fault_server import Exchange, refused_port
from registry_server import TLSFiles, make_tls_files
from test_hostile_registry import Drip

from gate.registry.client import ClientOptions, RegistryClient, classify_transport_error
from gate.registry.protocol import RegistryProblem
from gate.registry.transport import (
    ConnectionLost,
    Headers,
    Pool,
    ProxyFailed,
    RequestTimeout,
    TransportError,
    unverified_context,
)

DEADLINE = 0.5  # the per-request bound of the timing tests
MARGIN = 0.3  # what a loaded 2-CPU runner may add to it
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# A name the test certificate holds (*.westeurope.data.azurecr.io) that no resolver knows:
# only the test proxy's table maps it to 127.0.0.1.
PROXIED_NAME = "registry.westeurope.data.azurecr.io"


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the runner's environment on loopback traffic; tests set their own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def make_pool(tls_files: TLSFiles) -> Iterator[Callable[[], Pool]]:
    """Pools trusting the test CA (and nothing else), closed at teardown. A pool reads the proxy
    environment when it is made, as a run does once: make it after setting the variables."""
    made: list[Pool] = []

    def make() -> Pool:
        verified = ssl.create_default_context(cafile=str(tls_files.ca_file))
        made.append(Pool(verified, unverified_context(), size=4))
        return made[-1]

    try:
        yield make
    finally:
        for each in made:
            each.close()


@pytest.fixture
def pool(make_pool: Callable[[], Pool]) -> Pool:
    return make_pool()


def get(
    pool: Pool, url: str, seconds: float = 5.0, verify: bool = True
) -> tuple[int, Headers, bytes]:
    """One GET read to its end: status, headers, body."""
    with pool.request("GET", url, {}, None, time.monotonic() + seconds, verify) as response:
        return response.status, response.headers, b"".join(response.iter_raw())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def causes(exc: BaseException) -> list[BaseException]:
    chain, current = [], exc
    while current is not None and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


# --- behaviours and servers ------------------------------------------------------------------


class Counting:
    """200 `{}` to every request, each TCP connection counted (one handler per connection).
    `close_silently`: the server closes the connection after its answer without saying
    `Connection: close`. `idle_close`: it closes a connection idle that long after an answer."""

    def __init__(self, close_silently: bool = False, idle_close: float | None = None) -> None:
        self.close_silently = close_silently
        self.idle_close = idle_close
        self.handlers: list[object] = []  # kept alive, so their ids stay distinct
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return len(self.handlers)

    @property
    def connections(self) -> int:
        return len({id(h) for h in self.handlers})

    def __call__(self, ex: Exchange) -> None:
        with self._lock:
            self.handlers.append(ex.handler)
        ex.send(200, b"{}")
        if self.close_silently:
            ex.handler.close_connection = True
        if self.idle_close is not None:
            ex.handler.connection.settimeout(self.idle_close)

    def wait_closed(self, handler: object, limit: float = 2.0) -> None:
        """Until the server has given up `handler`'s connection (bounded)."""
        ends = time.monotonic() + limit
        while not handler.rfile.closed:  # type: ignore[attr-defined]
            assert time.monotonic() < ends, "the server kept the idle connection"
            time.sleep(0.01)


def truncated_chunked(ex: Exchange) -> None:
    """A chunked body that stops inside its second chunk, then a clean close."""
    ex.send_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b'10\r\n{"schemaVersion"\r\n20\r\n: 2, "layers'
    )
    ex.handler.close_connection = True


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose TCP connections are accepted (by the kernel's backlog) and never answered."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


class DripRelay:
    """A TCP relay to `upstream_port` that passes the client's bytes on at once and the
    server's back one byte every `interval` seconds: a real TLS handshake, never done in time.
    Serves connections one after another until stopped (or LIMIT seconds)."""

    LIMIT = 10.0

    def __init__(self, upstream_port: int, interval: float = 0.05) -> None:
        self.upstream_port = upstream_port
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.relayed = 0  # bytes that went back to the client
        self._stop = threading.Event()
        self._ends = time.monotonic() + self.LIMIT
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def __enter__(self) -> DripRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._ends

    def _serve(self) -> None:
        while self._running():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client, socket.create_connection(("127.0.0.1", self.upstream_port), 5) as up:
                self._relay(client, up)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        pending = b""
        due = time.monotonic()
        try:
            while self._running():
                ready, _, _ = select.select([client, upstream], [], [], self.interval)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                    else:
                        pending += data
                if pending and time.monotonic() >= due:
                    client.sendall(pending[:1])
                    pending = pending[1:]
                    self.relayed += 1
                    due = time.monotonic() + self.interval
        except OSError:
            return  # the client gave up


# --- keep-alive ------------------------------------------------------------------------------


def test_sequential_requests_to_one_host_share_one_tcp_connection(pool, fault_server):
    counting = Counting()
    server = fault_server(counting)
    for _ in range(5):
        assert get(pool, f"{server.url}/v2/")[0] == 200
    assert counting.requests == 5
    assert counting.connections == 1


def test_sequential_https_requests_to_one_host_share_one_tls_connection(
    pool, fault_server, tls_files
):
    counting = Counting()
    server = fault_server(counting, tls=tls_files)
    for _ in range(3):
        assert get(pool, f"{server.url}/v2/")[0] == 200
    assert counting.connections == 1


def test_an_answer_not_read_to_its_end_does_not_leave_its_connection_for_reuse(pool, fault_server):
    counting = Counting()
    server = fault_server(counting)
    with pool.request("GET", f"{server.url}/v2/", {}, None, time.monotonic() + 5) as response:
        assert response.status == 200  # the body left unread
    assert get(pool, f"{server.url}/v2/")[0] == 200
    assert counting.connections == 2


def test_an_answer_saying_connection_close_is_not_reused(pool, fault_server):
    handlers: list[object] = []

    def closing(ex: Exchange) -> None:
        handlers.append(ex.handler)
        ex.send(200, b"{}", headers={"Connection": "close"})

    server = fault_server(closing)
    for _ in range(3):
        assert get(pool, f"{server.url}/v2/")[0] == 200
    assert len({id(h) for h in handlers}) == 3


def test_a_kept_alive_connection_the_server_closed_after_answering_is_replaced_silently(
    pool, fault_server
):
    counting = Counting(close_silently=True)  # no `Connection: close`: the client keeps it
    server = fault_server(counting)
    for _ in range(4):
        assert get(pool, f"{server.url}/v2/")[0] == 200  # no error, no retry by the caller
    assert counting.requests == 4
    assert counting.connections == 4


def test_a_kept_alive_connection_the_server_closed_while_idle_is_replaced_silently(
    pool, fault_server
):
    counting = Counting(idle_close=0.05)
    server = fault_server(counting)
    assert get(pool, f"{server.url}/v2/")[0] == 200
    counting.wait_closed(counting.handlers[0])
    assert get(pool, f"{server.url}/v2/")[0] == 200
    assert counting.connections == 2


def test_every_stale_idle_connection_is_passed_over_not_only_the_first(pool, fault_server):
    """Two idle connections to one host, both closed by the server: the retry after the first
    turned out dead opens a new connection instead of taking the other dead one."""
    counting = Counting(close_silently=True)
    server = fault_server(counting)
    ends = time.monotonic() + 5
    with pool.request("GET", f"{server.url}/v2/", {}, None, ends) as first:
        with pool.request("GET", f"{server.url}/v2/", {}, None, ends) as second:
            assert b"".join(second.iter_raw()) == b"{}"
        assert b"".join(first.iter_raw()) == b"{}"
    assert counting.connections == 2  # both now idle in the pool, both closed by the server
    assert get(pool, f"{server.url}/v2/")[0] == 200
    assert counting.connections == 3


def test_a_reused_connection_is_held_to_the_new_requests_deadline(pool, fault_server, tls_files):
    """The first request on a connection had a long deadline; the second, on the same
    connection, a short one: the second ends by its own."""
    drip = Drip(interval=0.05)
    seen: list[object] = []

    def ok_then_drip(ex: Exchange) -> None:
        seen.append(ex.handler)
        if len(seen) == 1:
            ex.send(200, b"{}")
        else:
            drip(ex)

    for server in (fault_server(ok_then_drip), fault_server(ok_then_drip, tls=tls_files)):
        seen.clear()
        assert get(pool, f"{server.url}/v2/", seconds=30)[0] == 200
        ends_at = time.monotonic() + DEADLINE
        with pytest.raises(RequestTimeout), pool.request("GET", server.url, {}, None, ends_at):
            pass
        assert time.monotonic() - ends_at < MARGIN, server.url
        assert len({id(h) for h in seen}) == 1, server.url  # the same connection


# --- bodies cut short --------------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_connection_lost_incomplete(pool, fault_server):
    server = fault_server("truncated")
    with pytest.raises(ConnectionLost) as caught:
        get(pool, f"{server.url}/v2/app/manifests/1")
    assert caught.value.incomplete


def test_a_chunked_body_cut_inside_a_chunk_is_connection_lost_incomplete(pool, fault_server):
    server = fault_server(truncated_chunked)
    with pytest.raises(ConnectionLost) as caught:
        get(pool, f"{server.url}/v2/app/manifests/1")
    assert caught.value.incomplete


def test_a_cut_chunked_manifest_is_an_unexpected_eof_for_the_registry_client(
    fault_server, tls_files
):
    """(The Content-Length case goes end to end in test_faults.py.)"""
    server = fault_server(truncated_chunked, tls=tls_files)
    client = RegistryClient(ClientOptions(ca_file=str(tls_files.ca_file), timeout=2))
    try:
        with pytest.raises(RegistryProblem) as caught:
            client.send("GET", server.host, "/v2/app/manifests/1", retries=0)
    finally:
        client.close()
    assert caught.value.cause == "unreachable"
    assert caught.value.detail == "unexpected EOF"


# --- the total deadline ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_server_dripping_its_headers_byte_by_byte_times_out_by_the_deadline(
    pool, fault_server, tls_files, scheme
):
    """Every read returns within 0.05 s, so no per-read timeout would ever fire."""
    server = fault_server(Drip(interval=0.05), tls=tls_files if scheme == "https" else None)
    started = time.monotonic()
    ends_at = started + DEADLINE
    with pytest.raises(RequestTimeout):
        get(pool, f"{server.url}/v2/app/manifests/1", seconds=DEADLINE)
    assert time.monotonic() - ends_at < MARGIN
    assert time.monotonic() - started >= DEADLINE * 0.9  # it did wait, reading


def test_a_tls_server_that_never_answers_the_handshake_times_out_by_the_deadline(pool):
    with silent_listener() as port:
        ends_at = time.monotonic() + DEADLINE
        with pytest.raises(RequestTimeout):
            get(pool, f"https://127.0.0.1:{port}/v2/", seconds=DEADLINE)
        assert time.monotonic() - ends_at < MARGIN


def test_a_tls_server_dripping_its_handshake_times_out_by_the_deadline(
    pool, fault_server, tls_files
):
    server = fault_server(Counting(), tls=tls_files)
    with DripRelay(server.port) as relay:
        ends_at = time.monotonic() + DEADLINE
        with pytest.raises(RequestTimeout):
            get(pool, f"https://127.0.0.1:{relay.port}/v2/", seconds=DEADLINE)
        assert time.monotonic() - ends_at < MARGIN
        assert relay.relayed > 1  # the handshake was under way, byte by byte


def test_a_deadline_already_past_fails_as_a_timeout_without_connecting(pool, fault_server):
    counting = Counting()
    server = fault_server(counting)
    with pytest.raises(RequestTimeout):
        get(pool, f"{server.url}/v2/", seconds=-1)
    assert counting.requests == 0


# --- proxies from the environment --------------------------------------------------------------


def test_https_goes_through_the_https_proxy_tunnel_with_its_credentials(
    make_pool, fault_server, tls_files, monkeypatch
):
    counting = Counting()
    server = fault_server(counting, tls=tls_files)
    with serve_proxy({PROXIED_NAME: "127.0.0.1"}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url.replace("://", "://alice:s3cret@"))
        pool = make_pool()
        status, _, body = get(pool, f"https://{PROXIED_NAME}:{server.port}/v2/")
        pool.close()  # ends the tunnel before the proxy stops
    assert (status, body) == (200, b"{}")
    assert proxy.connects == [f"{PROXIED_NAME}:{server.port}"]
    assert proxy.requests[0].headers["proxy-authorization"] == basic("alice", "s3cret")
    # The proxy's credential is for the proxy: the registry never sees it.
    assert all("proxy-authorization" not in r.headers for r in server.requests)


def test_tls_through_a_tunnel_is_verified_against_the_targets_name_not_the_proxys(
    make_pool, fault_server, tls_files, monkeypatch
):
    """The proxy listens on 127.0.0.1, a name the certificate holds; the target's name is not
    in it, so the handshake through the tunnel must fail."""
    server = fault_server(Counting(), tls=tls_files)
    with serve_proxy({"registry.example": "127.0.0.1"}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        pool = make_pool()
        with pytest.raises(TransportError) as caught:
            get(pool, f"https://registry.example:{server.port}/v2/")
    assert proxy.connects == [f"registry.example:{server.port}"]
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(caught.value))
    assert classify_transport_error(caught.value, "registry.example").cause == "tls"


def test_percent_encoded_proxy_credentials_are_decoded_before_use(
    make_pool, fault_server, tls_files, monkeypatch
):
    server = fault_server(Counting(), tls=tls_files)
    with serve_proxy({PROXIED_NAME: "127.0.0.1"}) as (proxy_url, proxy):
        monkeypatch.setenv("https_proxy", proxy_url.replace("://", "://dom%5Cbob:p%40ss%3Aw@"))
        pool = make_pool()
        assert get(pool, f"https://{PROXIED_NAME}:{server.port}/v2/")[0] == 200
        pool.close()
    assert proxy.requests[0].headers["proxy-authorization"] == basic("dom\\bob", "p@ss:w")


def test_no_proxy_naming_the_host_bypasses_the_proxy(
    make_pool, fault_server, tls_files, monkeypatch
):
    server = fault_server(Counting(), tls=tls_files)
    with serve_proxy({}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        pool = make_pool()
        assert get(pool, f"{server.url}/v2/")[0] == 200
    assert proxy.requests == []


@pytest.mark.parametrize(
    "no_proxy, bypassed",
    [
        ("10.0.0.0/8, 127.0.0.0/8", True),
        (".svc,.cluster.local,10.0.0.0/8", False),
        ("127.0.0.1:{port}", True),
        ("127.0.0.1:1", False),
    ],
)
def test_no_proxy_networks_and_host_ports_are_honoured(
    make_pool, fault_server, tls_files, monkeypatch, no_proxy, bypassed
):
    server = fault_server(Counting(), tls=tls_files)
    with serve_proxy({}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=server.port))
        pool = make_pool()
        assert get(pool, f"{server.url}/v2/")[0] == 200
        pool.close()  # ends a tunnel before the proxy stops
    assert (proxy.connects == []) is bypassed


def test_a_proxy_refusing_the_tunnel_is_proxy_failed_with_its_status(make_pool, monkeypatch):
    port = refused_port()
    with serve_proxy({"registry.example": "127.0.0.1"}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        pool = make_pool()
        with pytest.raises(ProxyFailed, match="502 Bad Gateway"):
            get(pool, f"https://registry.example:{port}/v2/")
    assert proxy.connects == [f"registry.example:{port}"]


def test_plain_http_goes_to_the_http_proxy_in_absolute_form_with_its_credentials(
    make_pool, fault_server, monkeypatch
):
    counting = Counting()
    server = fault_server(counting)
    with serve_proxy({"registry.internal": "127.0.0.1"}) as (proxy_url, proxy):
        monkeypatch.setenv("HTTP_PROXY", proxy_url.replace("://", "://alice:s3cret@"))
        pool = make_pool()
        url = f"http://registry.internal:{server.port}/v2/app/manifests/1?ns=docker.io"
        status, _, body = get(pool, url)
    assert (status, body) == (200, b"{}")
    [seen] = proxy.requests
    assert seen.line == f"GET {url} HTTP/1.1"
    assert seen.headers["proxy-authorization"] == basic("alice", "s3cret")
    assert seen.headers["host"] == f"registry.internal:{server.port}"
    assert [r.path for r in server.requests] == ["/v2/app/manifests/1?ns=docker.io"]


@pytest.mark.parametrize(
    "variable, url",
    [
        ("ALL_PROXY", "socks5://bob:hunter2@127.0.0.1:1080"),
        ("all_proxy", "socks5h://bob:hunter2@127.0.0.1:1080"),
        ("HTTPS_PROXY", "https://bob:hunter2@127.0.0.1:3129"),
    ],
)
def test_a_proxy_not_spoken_over_http_is_refused_without_quoting_its_password(
    make_pool, monkeypatch, variable, url
):
    monkeypatch.setenv(variable, url)
    pool = make_pool()
    with pytest.raises(ProxyFailed) as caught:
        get(pool, "https://127.0.0.1:1/v2/")
    message = str(caught.value)
    assert "not supported" in message and "over http://" in message
    assert url.split("://")[0] + "://127.0.0.1" in message  # which proxy it was
    assert "hunter2" not in message and "bob" not in message
    problem = classify_transport_error(caught.value, "127.0.0.1:1")
    assert "hunter2" not in problem.detail + problem.evidence


# --- headers ---------------------------------------------------------------------------------


def test_repeated_header_fields_are_joined_and_looked_up_in_any_case(pool, fault_server):
    def repeated(ex: Exchange) -> None:
        ex.send_raw(
            b"HTTP/1.1 200 OK\r\nX-Repeat: a\r\nx-repeat: b\r\nX-REPEAT: c\r\n"
            b'WWW-Authenticate: Bearer realm="https://auth.example/token"\r\n'
            b"Content-Length: 2\r\n\r\n{}"
        )

    server = fault_server(repeated)
    _, headers, _ = get(pool, f"{server.url}/v2/")
    assert headers["x-repeat"] == headers["X-Repeat"] == "a, b, c"
    assert headers.get("Www-Authenticate") == 'Bearer realm="https://auth.example/token"'
    assert "www-authenticate" in headers and "WWW-AUTHENTICATE" in headers
    assert "X-Absent" not in headers and headers.get("X-Absent") is None
    assert headers.get("X-Absent", "") == ""


# --- certificate verification ------------------------------------------------------------------


def test_a_certificate_from_an_untrusted_ca_fails_as_tls(pool, fault_server, tmp_path):
    stranger = make_tls_files(tmp_path / "other-ca")  # same names, another CA
    server = fault_server(Counting(), tls=stranger)
    with pytest.raises(TransportError) as caught:
        get(pool, f"{server.url}/v2/")
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(caught.value))
    assert classify_transport_error(caught.value, server.host).cause == "tls"


def test_an_unverified_connection_is_never_reused_for_a_verified_request(
    pool, fault_server, tmp_path
):
    stranger = make_tls_files(tmp_path / "other-ca")
    counting = Counting()
    server = fault_server(counting, tls=stranger)
    assert get(pool, f"{server.url}/v2/", verify=False)[0] == 200  # a registry named insecure
    with pytest.raises(TransportError) as caught:
        get(pool, f"{server.url}/v2/", verify=True)
    assert classify_transport_error(caught.value, server.host).cause == "tls"
    assert counting.requests == 1


def test_a_silent_resolver_is_given_up_at_the_deadline_as_glibc_would_report_it(pool, monkeypatch):
    real = socket.getaddrinfo
    release = threading.Event()

    def silent(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if host == "registry.example":
            release.wait(10)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", silent)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as caught:
            get(pool, "https://registry.example/v2/", seconds=0.5)
        assert time.monotonic() - started < 0.5 + MARGIN
    finally:
        release.set()
    problem = classify_transport_error(caught.value, "registry.example")
    assert problem.cause == "dns"
    assert "Temporary failure in name resolution" in problem.evidence
