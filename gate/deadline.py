"""Calls into libraries whose timeouts apply per socket operation (the kube client, the Azure
SDK, the resolver): run in a daemon thread and given up on when their time is up. The thread is
abandoned, not killed; its own per-operation timeouts end it later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_within(fn: Callable[[], T], seconds: float, name: str = "pullgate-call") -> T:
    """`fn()`'s result or exception, or TimeoutError when it has not ended after `seconds`."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if "error" in box:
        raise box["error"]
    if "value" not in box:
        raise TimeoutError(f"no answer within {seconds:.1f} s")
    return box["value"]
