"""Watch every pullgate cause appear, with no internet access.

Stages real registries on 127.0.0.1 (Debian's `docker-registry`, the CNCF distribution registry,
and the loopback stand-ins the tests use for what a real registry cannot be made to show), pushes a
few images, deletes a tag, then runs

    pullgate check examples/manifests --config examples/pullgate.yaml
    pullgate check --offline examples/offline

and stops everything it started. Ports 5959-5964 on 127.0.0.1 must be free.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
sys.path.insert(0, str(REPO / "tests"))  # the registry staging shared with the test suite

SHOP, PRIVATE, TLS, THROTTLED, BROKEN = 5959, 5960, 5961, 5962, 5963  # 5964: nothing listens


def ensure_registry_binary() -> None:
    if shutil.which("docker-registry"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("demo: installing Debian's docker-registry (apt-get) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "docker-registry"],
        ):
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return
    sys.exit("demo: needs Debian's docker-registry: sudo apt-get install -y docker-registry")


def stage(stack: ExitStack, tmp: Path) -> None:
    from fault_server import FaultServer, ServerError
    from registry_server import start_registry

    shop = stack.enter_context(start_registry(tmp / "shop", port=SHOP))
    shop.push_index("shop/web", "1.4.2", ["linux/amd64", "linux/arm64"], attestation=True)
    for tag in ("1.9", "2.0", "2.0.1"):
        shop.push_image("shop/migrate", tag)
    shop.delete_tag("shop/migrate", "2.0")  # a bad release, pulled from the registry
    shop.push_image("shop/cart", "3.1", arch="amd64")  # built on a laptop: amd64 only
    shop.push_index("shop/report", "latest", ["linux/amd64", "linux/arm64"])

    private = stack.enter_context(
        start_registry(
            tmp / "private", auth="htpasswd", users={"deployer": os.urandom(8).hex()}, port=PRIVATE
        )
    )
    private.push_image("finance/ledger", "5.0")

    tls = stack.enter_context(start_registry(tmp / "tls", tls=True, port=TLS))
    tls.push_image("ops/agent", "1.0")

    stack.enter_context(FaultServer("429-no-retry-after", port=THROTTLED).start())
    stack.enter_context(FaultServer(ServerError(503), port=BROKEN).start())


def pullgate() -> list[str]:
    found = shutil.which("pullgate")
    return [found] if found else [sys.executable, "-m", "gate"]


def run(args: list[str]) -> int:
    print(f"\n$ pullgate {' '.join(args)}\n", flush=True)
    env = {**os.environ, "DOCKER_CONFIG": str(EXAMPLES / "no-docker-config")}
    return subprocess.run(pullgate() + args, cwd=REPO, env=env, check=False).returncode


def main() -> int:
    ensure_registry_binary()
    with tempfile.TemporaryDirectory(prefix="pullgate-demo-") as tmp, ExitStack() as stack:
        try:
            stage(stack, Path(tmp))
        except OSError as exc:
            print(f"demo: cannot stage registries on 127.0.0.1:5959-5964: {exc}", file=sys.stderr)
            return 2
        code = run(["check", "examples/manifests", "--config", "examples/pullgate.yaml"])
    offline = run(["check", "--offline", "examples/offline"])
    print(
        f"\ndemo: pullgate exited {code} on examples/manifests and {offline} on "
        "examples/offline (1 = the gate failed, as it should on these manifests)."
    )
    return 0 if code == 1 and offline == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
