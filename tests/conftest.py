"""Fixtures starting the real registry (Debian `docker-registry`) and the fault stand-in.

Registries are function-scoped (they start in tens of milliseconds), so every test gets empty
storage and its own request log; the TLS material is made once per session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fault_server import FaultServer
from hypothesis import settings
from registry_server import (
    REGISTRY_BINARY,
    Registry,
    TLSFiles,
    TokenServer,
    make_tls_files,
    start_registry,
)

HTPASSWD_USERS = {"alice": "s3cret-alice"}
TOKEN_USERS = {"bob": "s3cret-bob"}
ANONYMOUS_REPOS = ["public/*"]


def require_binary(name: str) -> str:
    """The binary's path; a missing binary fails the test under CI (env CI set), else skips it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install -y {name})"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_registry(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Iterator[Callable[..., Registry]]:
    """Factory: `make_registry(auth=..., tls=..., users=..., token_server=...)`; every registry
    it starts is stopped at teardown."""
    binary = require_binary(REGISTRY_BINARY)
    started: list[Registry] = []

    def start(**kwargs: Any) -> Registry:
        kwargs.setdefault("tls_files", tls_files)
        registry = start_registry(tmp_path_factory.mktemp("registry"), binary=binary, **kwargs)
        started.append(registry)
        return registry

    try:
        yield start
    finally:
        for registry in started:
            registry.stop()


@pytest.fixture
def registry(make_registry: Callable[..., Registry]) -> Registry:
    """Plain http, no auth."""
    return make_registry()


@pytest.fixture
def htpasswd_registry(make_registry: Callable[..., Registry]) -> Registry:
    """Plain http, Basic auth for alice / s3cret-alice (plus the fixtures' admin)."""
    return make_registry(auth="htpasswd", users=dict(HTPASSWD_USERS))


@pytest.fixture
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    """The token issuer of `token_registry`: bob / s3cret-bob pulls everything, anonymous callers
    pull `public/*` only."""
    server = TokenServer(
        tmp_path_factory.mktemp("token"),
        users=dict(TOKEN_USERS),
        anonymous_repos=list(ANONYMOUS_REPOS),
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def token_registry(make_registry: Callable[..., Registry], token_server: TokenServer) -> Registry:
    """Plain http, Bearer token auth by `token_server` (also `token_registry.token_server`)."""
    return make_registry(auth="token", token_server=token_server)


@pytest.fixture
def tls_registry(make_registry: Callable[..., Registry]) -> Registry:
    """https with a certificate signed by a throw-away CA (`tls_registry.ca_file`), no auth."""
    return make_registry(tls=True)


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Factory: `fault_server("429")`, `fault_server("503-then-ok", upstream=registry)`, or
    `fault_server(callable)`; started, and stopped at teardown."""
    started: list[FaultServer] = []

    def start(behaviour: Any, **options: Any) -> FaultServer:
        server = FaultServer(behaviour, **options).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(autouse=True)
def one_verdict_per_root_cause(monkeypatch: pytest.MonkeyPatch):
    """Every in-process run of every suite (registry, cluster, AKS, reports, policy, ...) is held
    to "one root cause, one finding"; the hook costs one attribute swap per test."""
    from one_verdict import watch_runs

    with watch_runs(monkeypatch) as seen:
        yield
    assert not seen, f"two error findings for one root cause: {seen}"


# Property tests run on a shared 2-CPU machine beside real registries: a slow example is load,
# not a defect, so Hypothesis's per-example deadline is off (the examples stay bounded in count).
settings.register_profile("pullgate", deadline=None)
settings.load_profile("pullgate")
