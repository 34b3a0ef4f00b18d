#!/usr/bin/env python3
"""CPU per registry request by HTTP client, for the README's design decisions (issue 12): the
real registry over TLS on loopback (no added latency), manifest GETs with keep-alive.

    bench/clients.py [--requests 600]

Rows: pullgate's own RegistryClient (http.client + the socket deadline, capped streaming), plain
httpx over HTTP/1.1, httpx over HTTP/2 (h2, when installed), urllib3, http.client; each
sequentially on one connection and with 16 threads. Reported: process CPU per request (user +
system) and wall time, best of 3.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from registry_server import start_registry  # noqa: E402

from gate.registry.protocol import ACCEPT  # noqa: E402

THREADS = 16


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def measure(get: Callable[[], int], requests: int, threads: int) -> tuple[float, float]:
    """(CPU ms per request, wall ms) for `requests` calls of `get` over `threads` threads."""
    per = requests // threads
    errors: list[int] = []

    def work() -> None:
        for _ in range(per):
            status = get()
            if status != 200:
                errors.append(status)

    started, cpu0 = time.perf_counter(), cpu()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall, used = time.perf_counter() - started, cpu() - cpu0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return used / (per * threads) * 1000, wall * 1000


def clients(registry, path: str) -> dict[str, Callable[[int], Callable[[], int]]]:  # noqa: ANN001
    ca = str(registry.ca_file)
    url = registry.url + path
    headers = {"Accept": ACCEPT}

    def pullgate(threads: int) -> Callable[[], int]:
        from gate.registry.client import ClientOptions, RegistryClient

        client = RegistryClient(ClientOptions(ca_file=ca), pool_size=threads)
        repo = path.split("/manifests/")[0][len("/v2/") :]
        return lambda: client.request("GET", registry.host, repo, path, None, accept=ACCEPT).status

    def httpx_client(http2: bool) -> Callable[[int], Callable[[], int]]:
        def make(threads: int) -> Callable[[], int]:
            import httpx

            limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
            context = ssl.create_default_context(cafile=ca)
            client = httpx.Client(verify=context, http2=http2, limits=limits)
            return lambda: client.get(url, headers=headers).status_code

        return make

    def urllib3_client(threads: int) -> Callable[[], int]:
        import urllib3

        pool = urllib3.PoolManager(maxsize=threads, ca_certs=ca, cert_reqs="CERT_REQUIRED")
        return lambda: pool.request("GET", url, headers=headers).status

    def http_client(threads: int) -> Callable[[], int]:
        import http.client

        context = ssl.create_default_context(cafile=ca)
        local = threading.local()
        host, port = registry.host.split(":")

        def get() -> int:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPSConnection(host, int(port), context=context)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status

        return get

    found = {
        "pullgate RegistryClient (http.client, HTTP/1.1)": pullgate,
        "httpx, HTTP/1.1": httpx_client(False),
        "urllib3": urllib3_client,
        "http.client": http_client,
    }
    try:
        import h2  # noqa: F401

        found["httpx, HTTP/2 (h2)"] = httpx_client(True)
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = start_registry(Path(tmp), tls=True)
        try:
            registry.push_image("bench/app", "1")
            path = "/v2/bench/app/manifests/1"
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(
                "| client | CPU per request, 1 thread | CPU per request, 16 threads |"
                " wall, 16 threads |"
            )
            print("|---|---|---|---|")
            for name, make in clients(registry, path).items():
                results = []
                for threads in (1, THREADS):
                    get = make(threads)
                    get()  # connect, handshake, imports
                    best = min(
                        (measure(get, args.requests, threads) for _ in range(3)),
                        key=lambda r: r[0],
                    )
                    results.append(best)
                (one, _), (many, wall) = results
                print(f"| {name} | {one:.2f} ms | {many:.2f} ms | {wall:.0f} ms |", flush=True)
        finally:
            registry.stop()


if __name__ == "__main__":
    main()
