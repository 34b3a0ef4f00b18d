#!/usr/bin/env python3
"""The cost of hostile registries (issue 10), measured on the real command: time to exit and
peak RSS of `python -m gate check` against the loopback stand-ins of
tests/test_hostile_registry.py. Prints a Markdown table (about 1 minute).

    bench/hostile.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fault_server import FaultServer  # noqa: E402
from test_hostile_registry import (  # noqa: E402
    INDEX_TYPE,
    RSS_WRAPPER,
    Answering,
    Drip,
    EndlessToken,
    TokenRealm,
    gzip_bomb,
    huge_index,
)


def run(images: list[str], *args: str) -> tuple[float, int, int, str]:
    """Wall seconds to exit, peak RSS (MiB) of the command itself, report bytes, causes."""
    with tempfile.TemporaryDirectory() as tmp:
        pod = Path(tmp) / "pod.yaml"
        containers = "".join(f"  - name: c{i}\n    image: {im}\n" for i, im in enumerate(images))
        head = "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n  containers:\n"
        pod.write_text(head + containers)
        cmd = [sys.executable, "-c", RSS_WRAPPER, sys.executable, "-m", "gate", "check"]
        cmd += [str(pod), "--format", "json", *args]
        started = time.monotonic()
        done = subprocess.run(
            cmd, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300
        )
        seconds = time.monotonic() - started
    peak = int(done.stderr.decode().rsplit("maxrss=", 1)[1].split()[0]) // 1024
    out = done.stdout
    causes = sorted({f["cause"] for f in json.loads(out)["findings"]})
    return seconds, peak, len(out), ",".join(causes)


def case(name: str, behaviour: Callable, count: int, *args: str, realm: Callable | None = None):
    with FaultServer(realm) if realm else _null() as realm_server:
        registry = behaviour(realm_server) if realm else behaviour
        with FaultServer(registry) as server:
            hosts = [server.host] + ([realm_server.host] if realm_server else [])
            insecure = [a for h in hosts for a in ("--insecure-registry", h)]
            images = [f"{server.host}/app/svc{i}:1.0" for i in range(count)]
            seconds, peak, size, causes = run(images, *insecure, *args)
    cells = [name, str(count), " ".join(args), f"{seconds:.1f} s", f"{peak} MiB", f"{size} B"]
    print("| " + " | ".join([*cells, causes]) + " |")


class _null:
    def __enter__(self):  # noqa: ANN204
        return None

    def __exit__(self, *exc: object) -> None:
        pass


def main() -> None:
    print("| case | images | flags | time to exit | peak RSS | report | causes |")
    print("|---|---|---|---|---|---|---|")
    case("healthy stand-in (baseline)", Answering(json.dumps({}).encode(), status=404), 3)
    case("1 byte/s registry", Drip(), 8, "--timeout", "3", "--deadline", "15")
    case("1 byte/s registry", Drip(), 8, "--timeout", "30", "--deadline", "15")
    case(
        "1 byte/s token realm",
        lambda realm: TokenRealm(b"", realm=f"{realm.url}/token"),
        8,
        "--timeout",
        "30",
        "--deadline",
        "15",
        realm=Drip(),
    )
    case(
        "endless token answer",
        lambda realm: TokenRealm(b"", realm=f"{realm.url}/token"),
        8,
        realm=EndlessToken(),
    )
    bomb = gzip_bomb(1 << 30)
    case(
        f"gzip bomb ({len(bomb) >> 10} KiB -> 1 GiB)",
        Answering(bomb, headers={"Content-Encoding": "gzip"}),
        128,
        "--concurrency",
        "128",
        "--timeout",
        "30",
    )
    index = huge_index(80_000)
    case(
        f"index of 80,000 platforms ({len(index) >> 10} KiB)",
        Answering(index, content_type=INDEX_TYPE),
        3,
        "--platform",
        "linux/arm64",
        "--timeout",
        "30",
    )


if __name__ == "__main__":
    main()
