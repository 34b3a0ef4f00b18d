"""ACR credentials for the pipeline's own reads, from its Azure login (REFERENCE.md §5).

When the Docker config holds nothing for an ACR login server, the run's Entra token goes to
`POST https://REGISTRY/oauth2/exchange` (grant_type=access_token) for an ACR refresh token, once
per registry. The registry client then presents that refresh token to the registry's token
realm (grant_type=refresh_token) for one access token per repository scope, cached per
repository (gate/registry/auth.py). Tokens live only in `Credential` fields that never print, and
the Entra token goes only to ACR login servers, over HTTPS.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from gate.registry.credentials import Credential
from gate.registry.hosts import is_acr
from gate.registry.protocol import MAX_TOKEN_BYTES, RegistryProblem, load_json

if TYPE_CHECKING:
    from gate.reference import ImageRef

# The user name `docker login` takes with an ACR refresh token as the password.
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"
MAX_ERROR_CHARS = 200


def exchange_url(host: str) -> str:
    return f"https://{host}/oauth2/exchange"


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text[:MAX_ERROR_CHARS]


def _post_capped(
    url: str, form: dict[str, str], timeout: float, context: ssl.SSLContext | bool
) -> tuple[int, bytes]:
    """POST the form, all of it within `timeout` (the registry client's socket-level bound: a
    server that drips its answer cannot hold the run), the answer read under the token-answer cap
    as it streams and decodes."""
    from gate.registry.transport import (
        BodyTooLarge,
        Pool,
        bounded_context,
        unverified_context,
    )

    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "pullgate"}
    unverified = unverified_context()
    if context is True:
        context = bounded_context(ssl.create_default_context())
    verify = isinstance(context, ssl.SSLContext)
    pool = Pool(context if isinstance(context, ssl.SSLContext) else unverified, unverified, size=1)
    try:
        ends_at = time.monotonic() + timeout
        body = urlencode(form).encode()
        with pool.request("POST", url, headers, body, ends_at, verify=verify) as resp:
            try:
                return resp.status, resp.read(MAX_TOKEN_BYTES)
            except BodyTooLarge:
                raise RegistryProblem(
                    "registry-error", f"answer exceeds the {MAX_TOKEN_BYTES} byte limit"
                ) from None
    finally:
        pool.close()


class AcrExchange:
    """A credential lookup (ImageRef -> credentials) for ACR hosts the Docker config lacks."""

    def __init__(
        self,
        entra_token: Callable[[], str],
        verify: bool | str = True,
        timeout: float = 10.0,
        is_registry: Callable[[str], bool] = is_acr,
        url_for: Callable[[str], str] = exchange_url,
        ends_at: float | None = None,
    ) -> None:
        self.entra_token = entra_token
        self.ends_at = ends_at  # the run's deadline (time.monotonic()): no exchange outlasts it
        self.verify = verify
        self.timeout = timeout
        self.is_registry = is_registry
        self.url_for = url_for
        self.problems: dict[str, str] = {}  # host -> why no credential (safe to print)
        self.exchanges = 0
        self._credentials: dict[str, Credential | None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lookup(self, ref: ImageRef) -> list[Credential]:
        host = ref.domain.lower()
        if not self.is_registry(host):
            return []
        with self._guard:
            lock = self._locks.setdefault(host, threading.Lock())
        with lock:
            if host not in self._credentials:
                self._credentials[host] = self._exchange(host)
            found = self._credentials[host]
        return [found] if found else []

    def _exchange(self, host: str) -> Credential | None:
        from gate.azure.arm import AzureError, ssl_context
        from gate.registry.transport import TransportError

        try:
            access_token = self.entra_token()
        except AzureError as exc:
            self.problems[host] = str(exc)
            return None
        url = self.url_for(host)
        form = {"grant_type": "access_token", "service": host, "access_token": access_token}
        timeout = self.timeout
        if self.ends_at is not None:
            timeout = min(timeout, self.ends_at - time.monotonic())
        if timeout <= 0:
            self.problems[host] = (
                f"ACR token exchange at {host} not tried: the run's deadline passed"
            )
            return None
        self.exchanges += 1
        try:
            status, body = _post_capped(url, form, timeout, ssl_context(self.verify))
        except (TransportError, RegistryProblem) as exc:
            self.problems[host] = f"ACR token exchange at {host} failed: {exc}"
            return None
        if status != 200:
            # The registry's words, without the Entra token should it echo the request.
            words = _error_text(body).replace(access_token, "***")
            self.problems[host] = f"ACR token exchange at {host} answered {status}: {words}"
            return None
        try:
            refresh = load_json(body).get("refresh_token")
        except (ValueError, AttributeError):
            refresh = None
        if not isinstance(refresh, str) or not refresh:
            self.problems[host] = f"ACR token exchange at {host} sent no refresh token"
            return None
        return Credential(
            source=f"Azure login (ACR token exchange at {host})",
            username=ACR_TOKEN_USER,
            identity_token=refresh,
        )
