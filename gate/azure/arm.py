"""Azure Resource Manager access: cloud endpoints, the credential, the management clients (built
lazily, one per subscription) and ARM errors turned into pullgate's own.

The credential is azure-identity's DefaultAzureCredential (environment / workload identity,
managed identity, Azure CLI: what azure/login and AzureCLI@2 leave behind) unless one is
injected. Every client gets the run's timeouts and at most two retries; tests pass `base_url`,
`verify` (a CA file) and `retries=0`.
"""

from __future__ import annotations

import importlib
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from gate.deadline import run_within

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")
AZ_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Cloud:
    name: str
    arm: str  # Resource Manager endpoint
    arm_scope: str
    authority: str  # Entra ID host
    graph: str
    acr_suffix: str
    # Entra scope of tokens for the ACR token exchange. Sovereign clouds get ARM-audience
    # tokens, which ACR accepts unless the registry disabled them.
    acr_scope: str


CLOUDS: dict[str, Cloud] = {
    c.name: c
    for c in (
        Cloud(
            "AzureCloud",
            "https://management.azure.com",
            "https://management.azure.com/.default",
            "login.microsoftonline.com",
            "https://graph.microsoft.com",
            ".azurecr.io",
            "https://containerregistry.azure.net/.default",
        ),
        Cloud(
            "AzureChinaCloud",
            "https://management.chinacloudapi.cn",
            "https://management.chinacloudapi.cn/.default",
            "login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            ".azurecr.cn",
            "https://management.chinacloudapi.cn/.default",
        ),
        Cloud(
            "AzureUSGovernment",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/.default",
            "login.microsoftonline.us",
            "https://graph.microsoft.us",
            ".azurecr.us",
            "https://management.core.usgovcloudapi.net/.default",
        ),
    )
}


class AzureError(Exception):
    """The Azure source cannot be used at all (no credential, ARM unreachable, cluster missing or
    unreadable): a one-line usage error, exit 2."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


NO_LOGIN = (
    "nobody is logged in to Azure: log in first (az login on a workstation; the azure/login"
    " action in GitHub Actions; an AzureCLI@2 task in Azure Pipelines; or workload identity:"
    " AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE)"
)


def quiet_azure_logging() -> None:
    """azure-identity logs every credential it tried as WARNING; with no handler configured,
    Python's last-resort handler prints them all to stderr. pullgate says it in one line."""
    import logging

    azure = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in azure.handlers):
        azure.addHandler(logging.NullHandler())


def nobody_logged_in(credential: object, scope: str) -> bool:
    """True when every credential of a chain (DefaultAzureCredential) is unavailable: no login
    at all, as opposed to a login Azure refused."""
    from azure.identity import CredentialUnavailableError

    chain = getattr(credential, "credentials", None)
    if not chain:
        return False
    for member in chain:
        try:
            member.get_token(scope)
        except CredentialUnavailableError:
            continue
        except Exception:  # noqa: BLE001 - a credential that tried and failed: someone is there
            return False
        return False
    return True


class ArmDenied(Exception):
    """ARM answered 403 for a read pullgate needs; the checks that need it report it."""

    def __init__(self, operation: str, scope: str, message: str) -> None:
        super().__init__(f"{operation} on {scope}: 403 {message}")
        self.operation = operation
        self.scope = scope
        self.message = message


class ArmNotFound(Exception):
    pass


def plain(value: object) -> str:
    """A model's enum or string value as its plain text ("Linux", not "OSType.LINUX")."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _arm_message(exc: Any) -> str:
    """`Code: message` from an ARM error, without the SDK's multi-line decoration."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code or message:
        return f"{code}: {_first_line(message)}" if code else _first_line(message)
    return _first_line(getattr(exc, "message", None) or exc)


class ArmSession:
    """One per run: the credential and every management client pullgate uses."""

    def __init__(
        self,
        cloud: Cloud,
        credential: TokenCredential | None = None,
        base_url: str | None = None,
        graph_url: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        retries: int = 2,
        ends_at: float | None = None,
    ) -> None:
        self.cloud = cloud
        self.ends_at = ends_at  # the run's deadline (time.monotonic())
        self.base_url = (base_url or cloud.arm).rstrip("/")
        self.graph_url = (graph_url or cloud.graph).rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.retries = retries
        self._credential = credential
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = None
        self._claims_read: dict | None = None
        self._lock = threading.RLock()  # a client's construction reads the credential

    @property
    def credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                quiet_azure_logging()
                self._credential = DefaultAzureCredential(authority=self.cloud.authority)
            return self._credential

    def _timeout(self) -> float:
        """The per-request timeout, cut to what is left of the run's deadline."""
        if self.ends_at is None:
            return self.timeout
        return max(0.1, min(self.timeout, self.ends_at - time.monotonic()))

    def _kwargs(self) -> dict[str, Any]:
        timeout = self._timeout()
        kwargs: dict[str, Any] = {
            "base_url": self.base_url,
            "credential_scopes": [self.cloud.arm_scope],
            "connection_verify": self.verify is not False,
            "connection_timeout": timeout,
            "read_timeout": timeout,
            # azure-core's RetryPolicy: the operation's whole time, its retries included
            "timeout": max(0.1, self.ends_at - time.monotonic()) if self.ends_at else 604800,
            "retry_total": self.retries,
            "retry_backoff_max": 4,
        }
        if self.verify is not False:
            kwargs["transport"] = self._transport()
        return kwargs

    def _transport(self) -> Any:
        """azure-core's requests transport with pullgate's trust (the system store, certifi
        and --ca-file: the registry client's), over one session shared by the run's clients.
        The proxy comes from the environment (HTTPS_PROXY, NO_PROXY), as for every client."""
        from azure.core.pipeline.transport import RequestsTransport

        with self._lock:
            if self._session is None:
                self._session = trusted_session(ssl_context(self.verify))
        return RequestsTransport(
            session=self._session,
            session_owner=False,
            connection_timeout=self.timeout,
            read_timeout=self.timeout,
        )

    def _client(self, module: str, cls: str, subscription: str) -> Any:
        """The run's one `cls` client (imported from `module` on first use) per subscription."""
        key = (cls, subscription.lower())
        with self._lock:
            if key not in self._clients:
                make = getattr(importlib.import_module(module), cls)
                self._clients[key] = make(self.credential, subscription, **self._kwargs())
            return self._clients[key]

    def containerservice(self, subscription: str) -> Any:
        return self._client("azure.mgmt.containerservice", "ContainerServiceClient", subscription)

    def authorization(self, subscription: str) -> Any:
        return self._client(
            "azure.mgmt.authorization", "AuthorizationManagementClient", subscription
        )

    def containerregistry(self, subscription: str) -> Any:
        return self._client(
            "azure.mgmt.containerregistry", "ContainerRegistryManagementClient", subscription
        )

    def network(self, subscription: str) -> Any:
        return self._client("azure.mgmt.network", "NetworkManagementClient", subscription)

    def privatedns(self, subscription: str) -> Any:
        return self._client("azure.mgmt.privatedns", "PrivateDnsManagementClient", subscription)

    def call(self, operation: str, scope: str, fn: Callable[[], T]) -> T:
        """Run one ARM read. 403 -> ArmDenied, 404 -> ArmNotFound; no credential, a refused
        token or an unreachable endpoint -> AzureError."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            return self.within(f"Azure Resource Manager ({operation})", fn)
        except ClientAuthenticationError as exc:
            self.require_login()
            raise AzureError(
                f"could not get an Azure token to {operation}:"
                f" {_arm_message(exc).rstrip('. ')}. Log in first"
                " (az login; azure/login in GitHub Actions; AzureCLI@2 in Azure Pipelines; or"
                " AZURE_CLIENT_ID / AZURE_TENANT_ID with a federated token or secret)"
            ) from None
        except ResourceNotFoundError as exc:
            raise ArmNotFound(_arm_message(exc)) from None
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise ArmDenied(operation, scope, _arm_message(exc)) from None
            if exc.status_code == 404:
                raise ArmNotFound(_arm_message(exc)) from None
            raise AzureError(
                f"Azure Resource Manager answered {exc.status_code} to {operation} on {scope}:"
                f" {_arm_message(exc)}",
                exc.status_code,
            ) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise AzureError(
                f"cannot reach Azure Resource Manager at {self.base_url} for {operation}:"
                f" {_first_line(exc)}"
            ) from None

    def within(self, who: str, fn: Callable[[], T]) -> T:
        """`fn()` ended by the run's deadline: the SDK's timeouts apply per socket operation
        and per client (fixed when the client was made), so a slow endpoint could outlast it."""
        if self.ends_at is None:
            return fn()
        left = self.ends_at - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return run_within(fn, left, name="pullgate-azure")
        except TimeoutError:
            raise AzureError(f"the run's deadline passed before {who} answered") from None

    def _claims(self) -> dict:
        """The claims of pullgate's own ARM token ({} when it is not a JWT, or no login), read
        once per run: asked per use, and a CLI credential runs `az` for each token."""
        if self._claims_read is None:
            self._claims_read = self._read_claims()
        return self._claims_read

    def _read_claims(self) -> dict:
        import base64
        import json

        try:
            token = self.within(
                "Microsoft Entra ID", lambda: self.credential.get_token(self.cloud.arm_scope)
            )
            payload = token.token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except Exception:  # noqa: BLE001 - not a JWT, or no login: nothing to name
            return {}
        return claims if isinstance(claims, dict) else {}

    def principal(self) -> str | None:
        """The object id pullgate's own Azure login runs as (the `oid` claim of its ARM token),
        or None when the token does not say."""
        oid = self._claims().get("oid")
        return oid if isinstance(oid, str) and oid else None

    def principal_type(self) -> str:
        """`User` for a delegated token (an `az login` as a person: `scp` claim, or `idtyp`
        user), else `ServicePrincipal` (app registrations, managed and workload identities):
        what `az role assignment create --assignee-principal-type` wants."""
        claims = self._claims()
        return "User" if claims.get("idtyp") == "user" or "scp" in claims else "ServicePrincipal"

    def require_login(self) -> None:
        """AzureError(NO_LOGIN) when no credential of the chain is available at all."""
        if nobody_logged_in(self.credential, self.cloud.arm_scope):
            raise AzureError(NO_LOGIN)

    def token(self, scope: str) -> str:
        """An Entra access token for `scope` (never printed)."""
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self.within("Microsoft Entra ID", lambda: self.credential.get_token(scope)).token
        except ClientAuthenticationError as exc:
            self.require_login()
            raise AzureError(
                f"no Azure credential for {scope}: {_first_line(exc)}. Log in first (az login,"
                " azure/login, AzureCLI@2, or workload identity)"
            ) from None

    def graph_get(self, path: str) -> tuple[int, dict]:
        """GET on Microsoft Graph with the run's credential: (status, JSON body), all of it
        within the request timeout and the run's deadline, the answer capped."""
        from gate.registry.protocol import MAX_MANIFEST_BYTES, RegistryProblem, load_json
        from gate.registry.transport import (
            BodyTooLarge,
            Pool,
            TransportError,
            unverified_context,
        )

        token = self.token(f"{self.graph_url}/.default")
        context = ssl_context(self.verify)
        verified = context if isinstance(context, ssl.SSLContext) else unverified_context()
        pool = Pool(verified, unverified_context(), size=1)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            ends_at = time.monotonic() + self._timeout()
            url = f"{self.graph_url}{path}"
            with pool.request(
                "GET", url, headers, None, ends_at, verify=context is not False
            ) as resp:
                status, raw = resp.status, resp.read(MAX_MANIFEST_BYTES)
        except (TransportError, RegistryProblem, BodyTooLarge) as exc:
            message = _first_line(exc) or type(exc).__name__
            return 0, {"error": {"message": message.replace(token, "***")}}
        finally:
            pool.close()
        try:
            body = load_json(raw)
        except ValueError:
            body = {}
        return status, body if isinstance(body, dict) else {}


SDK_MODULES = (
    "azure.identity",
    "azure.mgmt.containerservice",
    "azure.mgmt.authorization",
    "azure.mgmt.containerregistry",
    "azure.mgmt.network",
    "azure.mgmt.privatedns",
)


def require_sdk() -> None:
    """A clear error, not an ImportError, when the `azure` extra is not installed."""
    import importlib.util

    missing = []
    for name in SDK_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise AzureError(
            f"--aks needs the Azure SDK ({', '.join(missing)} missing): pip install"
            " 'pullgate[azure]'"
        )


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """`verify` for True, False, or an extra CA file: the registry client's trust (system store,
    certifi, the CA file), so every path of a run trusts the same roots."""
    from gate.registry.client import _ssl_context

    if verify is False:
        return False
    return _ssl_context(verify if isinstance(verify, str) else None)


def trusted_session(context: ssl.SSLContext | bool) -> Any:
    """A requests session whose HTTPS connections verify with `context` (requests would
    otherwise trust only certifi, or REQUESTS_CA_BUNDLE)."""
    import requests
    from requests.adapters import HTTPAdapter

    class Adapter(HTTPAdapter):
        def build_connection_pool_key_attributes(  # type: ignore[override]
            self, request: Any, verify: Any, cert: Any = None
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
            if verify is not False and isinstance(context, ssl.SSLContext):
                pool.pop("ca_certs", None)
                pool.pop("ca_cert_dir", None)
                pool["ssl_context"] = context
            return host, pool

    session = requests.Session()
    session.mount("https://", Adapter())
    return session


def default_subscription(timeout: float = AZ_TIMEOUT_S) -> str | None:
    """The Azure CLI's current subscription (what azure/login and AzureCLI@2 set), or None."""
    import os

    env = os.environ.get("AZURE_SUBSCRIPTION_ID")
    if env:
        return env.strip()
    az = shutil.which("az")
    if not az:
        return None
    try:
        done = subprocess.run(
            [az, "account", "show", "--query", "id", "-o", "tsv"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None
