"""The live cluster through the official `kubernetes` client: kubeconfig and context as kubectl
reads them (exec credential plugins such as kubelogin included), read-only.

Every request has a timeout and urllib3's retries are capped, so an unreachable API server costs
seconds, not minutes. Answers are read as raw JSON and parsed by the same functions that read
state files. Lookups are cached; `prefetch` fetches what a run needs concurrently.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import quote

from gate.cluster.state import (
    ClusterError,
    ClusterForbidden,
    ClusterState,
    Node,
    PullSecret,
    ServiceAccount,
    node_from,
    pull_secret_from,
    service_account_from,
)
from gate.deadline import run_within

T = TypeVar("T")
PAGE = 500
# A page of 500 nodes is a few MB; a hostile or broken API server sending an endless answer
# stops here instead of filling memory (as every file pullgate reads stops at 64 MiB).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# All pages of one listing: a server handing out continue tokens without end (each page under
# the cap above) stops here too, as the deadline alone would let it fill memory first.
MAX_LISTING_BYTES = 1024 * 1024 * 1024
READ_CHUNK = 64 * 1024
PREFETCH_WORKERS = 8
_MISSING = object()


def _load_json(body: bytes | str) -> object:
    """JSON from the API server; nesting too deep for the parser is malformed, not a crash."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _read_capped(response: Any, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of urllib3's unread response, decoded as it streams and capped by its decoded
    size (a gzip bomb costs the cap, not its expansion)."""
    from gate.registry.protocol import RegistryProblem
    from gate.registry.transport import BodyTooLarge, CappedDecoder

    try:
        decoder = CappedDecoder(response.headers.get("content-encoding", ""), limit)
        for chunk in response.stream(READ_CHUNK, decode_content=False):
            decoder.feed(chunk)
    except BodyTooLarge:
        raise OSError(f"answer larger than {limit // (1024 * 1024)} MiB, not read") from None
    except RegistryProblem as problem:
        raise OSError(problem.detail) from None
    finally:
        response.release_conn()
    return bytes(decoder.body)


def _status_message(body: object) -> str:
    """The `message` of a Kubernetes `Status` answer."""
    data = _load_json(body) if isinstance(body, (str, bytes)) else None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return ""


class LiveCluster:
    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeout: float = 10.0,
        keep_credentials: bool = False,
        ends_at: float | None = None,
    ) -> None:
        try:
            from kubernetes import config
            from kubernetes.client import ApiClient, Configuration
        except ImportError:  # pragma: no cover - depends on the installation
            raise ClusterError(
                "cluster mode needs the kubernetes client: pip install 'pullgate[cluster]'"
            ) from None
        from gate.cluster.kubeconfig import check_kubeconfig

        check_kubeconfig(kubeconfig, context)
        configuration = Configuration()
        configuration.retries = 1
        where = kubeconfig or "the default kubeconfig"
        try:
            config.load_kube_config(
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, current = config.list_kube_config_contexts(kubeconfig)
        except Exception as exc:  # ConfigException, OSError, YAML errors, exec plugin failures
            raise ClusterError(f"{where}: cannot use kubeconfig: {exc}") from None
        chosen = (
            next((c for c in contexts if c.get("name") == context), None) if context else current
        )
        namespace = ((chosen or {}).get("context") or {}).get("namespace")
        self.context_namespace: str | None = namespace if isinstance(namespace, str) else None
        self.host = configuration.host
        self.timeout = timeout
        self.ends_at = ends_at
        self.keep_credentials = keep_credentials
        # The typed API classes import every model (about a second); raw paths through the
        # same ApiClient keep its auth (tokens, exec plugins, client certs), TLS and proxies.
        self._client = ApiClient(configuration)
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def _timeout(self) -> float:
        """The per-request timeout, cut to what is left of the run's deadline."""
        if self.ends_at is None:
            return self.timeout
        left = self.ends_at - time.monotonic()
        if left <= 0:
            raise ClusterError(
                f"the run's deadline passed before the kube API at {self.host} answered"
            )
        return min(self.timeout, left)

    # ---- transport -------------------------------------------------------------------------

    def _call(self, request: tuple, timeout: float) -> tuple[int, bytes]:
        """One API call that ends within `timeout` in total: urllib3's timeouts apply to each
        read, so a server sending a byte at a time would hold it; the call runs in a daemon
        thread that is abandoned (its socket timeouts end it) when the time is up."""

        def call() -> tuple[int, bytes]:
            response = self._client.call_api(*request, _request_timeout=(timeout, timeout))
            return response.status, _read_capped(response.response)

        try:
            return run_within(call, timeout, name="pullgate-kube")
        except TimeoutError:
            if self.ends_at is not None and time.monotonic() >= self.ends_at - 0.1:
                raise TimeoutError("no complete answer before the run's deadline") from None
            raise TimeoutError(f"no complete answer within {timeout:.1f} s") from None

    def _get(
        self, path: str, what: tuple[str, str, str | None], query: list | None = None
    ) -> dict | None:
        """GET one API path as JSON; None for 404. `what` is (verb, resource, namespace)."""
        return self._fetch(path, what, query)[0]

    def _fetch(
        self, path: str, what: tuple[str, str, str | None], query: list | None = None
    ) -> tuple[dict | None, int]:
        """`_get`'s answer with the size of the body it came in."""
        verb, resource, namespace = what
        with self._lock:
            self.requests += 1
        timeout = self._timeout()  # its own ClusterError, not wrapped as "cannot reach"
        try:
            request = self._client.param_serialize(
                method="GET",
                resource_path=path,
                query_params=query or [],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            status, body = self._call(request, timeout)
        except Exception as exc:  # urllib3 / ssl / socket errors, exec plugin failures
            reason = getattr(exc, "reason", None) or exc
            raise ClusterError(f"cannot reach the kube API at {self.host}: {reason}") from None
        if status == 404:
            return None, len(body)
        if status >= 300:
            message = self._scrub(_status_message(body)) or f"{status}"
            if status == 403:
                raise ClusterForbidden(verb, resource, namespace, message)
            if status == 401:
                raise ClusterError(
                    f"the kube API at {self.host} rejected pullgate's credentials (401): {message}"
                )
            raise ClusterError(
                f"the kube API at {self.host} answered {status} to {verb} {resource}: {message}"
            )
        data = _load_json(body)
        if not isinstance(data, dict):
            raise ClusterError(
                f"the kube API at {self.host} sent an answer that is not JSON to {verb} {resource}"
            )
        return data, len(body)

    def _scrub(self, text: str) -> str:
        """`text` without the credentials pullgate sent the API server (bearer or exec plugin
        token, basic password), which a proxy or server may echo in its message."""
        import base64

        from gate.registry.protocol import Secrets

        if not text:
            return text
        conf = self._client.configuration
        secrets = Secrets()
        for value in (conf.api_key or {}).values():
            if isinstance(value, str):
                secrets.add(value, value.split(" ", 1)[-1])
        user, password = conf.username, conf.password
        if password:
            pair = f"{user or ''}:{password}"
            secrets.add(password, pair, base64.b64encode(pair.encode()).decode())
        return secrets.scrub(text)

    def _cached(self, key: tuple, fetch: Callable[[], T]) -> T:
        with self._lock:
            value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            try:
                value = fetch()
            except ClusterForbidden as exc:
                value = exc
            with self._lock:
                self._cache[key] = value
        if isinstance(value, ClusterForbidden):
            raise value
        return value

    def _list(self, path: str, resource: str, namespace: str | None = None) -> list[dict]:
        items: list[dict] = []
        token: str | None = None
        seen: set[str] = set()
        read = 0
        for _ in range(10_000):  # pages; bounded
            query: list = [("limit", PAGE)] + ([("continue", token)] if token else [])
            page, size = self._fetch(path, ("list", resource, namespace), query)
            if page is None:
                break
            read += size
            if read > MAX_LISTING_BYTES:
                raise ClusterError(
                    f"the kube API at {self.host} listed more than"
                    f" {MAX_LISTING_BYTES // (1024 * 1024)} MiB of {resource}; not read"
                )
            items.extend(i for i in page.get("items") or () if isinstance(i, dict))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            if not isinstance(token, str) or token in seen:
                # An API server never hands out a continue token twice: this one would
                # page for ever.
                raise ClusterError(
                    f"the kube API at {self.host} repeated its continue token listing {resource}"
                )
            seen.add(token)
        return items

    # ---- ClusterView -----------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        def fetch() -> list[Node]:
            return [node_from(o) for o in self._list("/api/v1/nodes", "nodes")]

        try:
            return self._cached(("nodes",), fetch)
        except ClusterForbidden as exc:
            raise ClusterError(str(exc)) from None

    def namespace_exists(self, name: str) -> bool:
        path = f"/api/v1/namespaces/{quote(name, safe='')}"
        return self._cached(
            ("ns", name), lambda: self._get(path, ("get", "namespaces", None)) is not None
        )

    def service_account(self, namespace: str, name: str) -> ServiceAccount | None:
        path = (
            f"/api/v1/namespaces/{quote(namespace, safe='')}/serviceaccounts/{quote(name, safe='')}"
        )

        def fetch() -> ServiceAccount | None:
            obj = self._get(path, ("get", "serviceaccounts", namespace))
            return service_account_from(obj, namespace) if obj else None

        return self._cached(("sa", namespace, name), fetch)

    def secret(self, namespace: str, name: str) -> PullSecret | None:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"

        def fetch() -> PullSecret | None:
            obj = self._get(path, ("get", "secrets", namespace))
            return pull_secret_from(obj, namespace, keep=self.keep_credentials) if obj else None

        return self._cached(("secret", namespace, name), fetch)

    def secret_elsewhere(self, name: str, candidates: Iterable[str]) -> list[str]:
        """Namespaces among `candidates` holding a secret of that name (gets, no list)."""
        found = []
        for namespace in sorted(set(candidates)):
            try:
                if self.secret(namespace, name) is not None:
                    found.append(namespace)
            except ClusterForbidden:
                continue
        return found

    def prefetch(
        self,
        namespaces: Iterable[str],
        service_accounts: Iterable[tuple[str, str]],
        secrets: Iterable[tuple[str, str]],
    ) -> None:
        jobs: list[Callable[[], object]] = []
        jobs += [lambda n=n: self.namespace_exists(n) for n in set(namespaces)]
        jobs += [lambda k=k: self.service_account(*k) for k in set(service_accounts)]
        jobs += [lambda k=k: self.secret(*k) for k in set(secrets)]
        if not jobs:
            return

        def run(job: Callable[[], object]) -> None:
            # A 403 is cached and reported by the check that needs the object.
            with suppress(ClusterForbidden):
                job()

        with ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="pullgate-kube") as pool:
            list(pool.map(run, jobs))

    # ---- pods and their events (`pullgate explain --kubeconfig`) ------------------------------

    def pods(self, namespace: str | None) -> list[dict]:
        """Pods of one namespace, or of all (None), as the API returns them."""
        return self._listing("pods", namespace)

    def events(self, namespace: str | None) -> list[dict]:
        """Events of one namespace, or of all (None)."""
        return self._listing("events", namespace)

    def _listing(self, resource: str, namespace: str | None) -> list[dict]:
        path = (
            f"/api/v1/namespaces/{quote(namespace, safe='')}/{resource}"
            if namespace
            else f"/api/v1/{resource}"
        )
        try:
            return self._list(path, resource, namespace)
        except ClusterForbidden as exc:
            raise ClusterError(str(exc)) from None

    # ---- snapshot --------------------------------------------------------------------------

    def snapshot(self) -> ClusterState:
        """Everything `pullgate check --cluster-state` uses, listed cluster-wide."""
        state = ClusterState(source=self.host, context_namespace=self.context_namespace)
        listings = (
            ("Node", "/api/v1/nodes", "nodes"),
            ("Namespace", "/api/v1/namespaces", "namespaces"),
            ("ServiceAccount", "/api/v1/serviceaccounts", "serviceaccounts"),
            ("Secret", "/api/v1/secrets", "secrets"),
        )
        for kind, path, resource in listings:
            try:
                objects = self._list(path, resource)
            except ClusterForbidden as exc:
                raise ClusterError(str(exc)) from None
            state.captured.add(kind)
            for obj in objects:
                state.add({**obj, "kind": kind}, keep_credentials=False)
        return state
