"""The ACR registry resource behind a login server, and its posture.

Found by login server among the subscription's registries (one list per run), or read directly
from `--acr-resource-id` (also for registries in other subscriptions). Posture: ABAC mode
(`roleAssignmentMode`), `publicNetworkAccess`, the firewall's `networkRuleSet.defaultAction`,
private endpoints, dedicated data endpoints (`dataEndpointHostNames`) and anonymous pull.

Network posture is checked from the runner: the login server's address (public or private, unless
a proxy carries the runner's HTTPS) and each data endpoint's reachability over HTTPS, through the
proxy and with the CA settings the registry client uses, with a timeout on every step.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gate.azure.arm import ArmDenied, ArmNotFound, ArmSession, AzureError, plain
from gate.azure.ids import RegistryRef, parse_id
from gate.azure.network import RegistryNetwork, as_json, registry_network
from gate.azure.rbac import ABAC_MODE
from gate.deadline import run_within


@dataclass(frozen=True)
class RegistryInfo:
    id: str
    name: str
    subscription: str
    resource_group: str
    login_server: str
    abac: bool
    public_network_access: str = "Enabled"
    default_action: str = "Allow"  # the firewall's networkRuleSet.defaultAction
    private_endpoints: int = 0
    data_endpoints: tuple[str, ...] = ()
    anonymous_pull: bool = False
    network: RegistryNetwork | None = None

    @property
    def restricted(self) -> str:
        """Why the public path is closed ("" when it is open)."""
        if self.public_network_access.lower() == "disabled":
            return "publicNetworkAccess is Disabled"
        if self.default_action.lower() == "deny":
            return "the registry firewall's default action is Deny (networkRuleSet)"
        return ""


def registry_from(model: Any) -> RegistryInfo:
    parts = parse_id(str(model.id or ""))
    rules = getattr(model, "network_rule_set", None)
    return RegistryInfo(
        id=str(model.id or ""),
        name=str(model.name or ""),
        subscription=parts.get("subscriptions", ""),
        resource_group=parts.get("resourcegroups", ""),
        login_server=str(model.login_server or "").lower(),
        abac=plain(getattr(model, "role_assignment_mode", None)).lower() == ABAC_MODE.lower(),
        public_network_access=plain(getattr(model, "public_network_access", None)) or "Enabled",
        default_action=plain(getattr(rules, "default_action", None)) or "Allow",
        private_endpoints=len(getattr(model, "private_endpoint_connections", None) or ()),
        data_endpoints=tuple(
            str(h).lower() for h in getattr(model, "data_endpoint_host_names", None) or ()
        ),
        anonymous_pull=bool(getattr(model, "anonymous_pull_enabled", False)),
        network=registry_network(as_json(model)),
    )


@dataclass(frozen=True)
class RegistryLookup:
    """Outcome of looking a login server up: the registry, or why it is not known."""

    registry: RegistryInfo | None = None
    denied: ArmDenied | None = None
    searched: str = ""  # the subscription searched when not found


class RegistryFinder:
    def __init__(
        self, session: ArmSession, subscription: str, explicit: Sequence[RegistryRef] = ()
    ) -> None:
        self.session = session
        self.subscription = subscription
        self.explicit = tuple(explicit)
        self._by_server: dict[str, RegistryInfo] | None = None
        self._explicit_done = False
        self._explicit_denied: dict[str, ArmDenied] = {}
        self._list_denied: ArmDenied | None = None
        self._listed = False
        self._lock = threading.Lock()

    def _read_explicit(self) -> dict[str, RegistryInfo]:
        found: dict[str, RegistryInfo] = {}
        for ref in self.explicit:
            client = self.session.containerregistry(ref.subscription)
            try:
                model = self.session.call(
                    "read the registry (Microsoft.ContainerRegistry/registries/read)",
                    ref.id,
                    lambda c=client, r=ref: c.registries.get(r.resource_group, r.name),
                )
            except ArmDenied as exc:
                self._explicit_denied[ref.name.lower()] = exc
                continue
            except ArmNotFound:
                raise AzureError(f"--acr-resource-id {ref.id}: no such registry") from None
            info = registry_from(model)
            found[info.login_server] = info
        return found

    def _list(self) -> dict[str, RegistryInfo]:
        scope = f"/subscriptions/{self.subscription}"
        client = self.session.containerregistry(self.subscription)
        try:
            models = self.session.call(
                "list registries (Microsoft.ContainerRegistry/registries/read)",
                scope,
                lambda: list(client.registries.list()),
            )
        except ArmDenied as exc:
            self._list_denied = exc
            return {}
        return {info.login_server: info for info in map(registry_from, models)}

    def find(self, login_server: str) -> RegistryLookup:
        server = login_server.lower()
        with self._lock:
            if not self._explicit_done:
                self._by_server = self._read_explicit()
                self._explicit_done = True
            assert self._by_server is not None
            if server in self._by_server:
                return RegistryLookup(self._by_server[server])
            name = server.split(".")[0]
            if name in self._explicit_denied:
                return RegistryLookup(denied=self._explicit_denied[name])
            if not self._listed:
                self._by_server = {**self._list(), **self._by_server}
                self._listed = True
            if server in self._by_server:
                return RegistryLookup(self._by_server[server])
            if self._list_denied is not None:
                return RegistryLookup(denied=self._list_denied)
            return RegistryLookup(searched=self.subscription)


# ---- reachability from the runner -------------------------------------------------------------

Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Reach:
    addresses: tuple[str, ...] = ()
    cause: str = ""  # "" reachable, else "dns" or "unreachable"
    detail: str = ""

    @property
    def public(self) -> bool:
        return any(_is_public(a) for a in self.addresses)


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global


def resolve_host(host: str, timeout: float, resolve: Resolver = system_resolve) -> Reach:
    try:
        addresses = run_within(lambda: resolve(host, 443), timeout)
    except (socket.gaierror, UnicodeError) as exc:
        return Reach(cause="dns", detail=f"lookup {host}: no such host ({exc})")
    except (TimeoutError, OSError) as exc:
        return Reach(cause="dns", detail=f"lookup {host}: {exc}")
    if not addresses:
        return Reach(cause="dns", detail=f"lookup {host}: no such host")
    return Reach(tuple(addresses))


def endpoint_url(host: str) -> str:
    return f"https://{host}/v2/"


def probe_endpoint(host: str, url: str, timeout: float, ca_file: str | None = None) -> Reach:
    """One HTTPS request to a data endpoint the way the registry client goes: the environment's
    proxy settings (HTTPS_PROXY, NO_PROXY), the system and certifi trust plus `--ca-file`, and a
    timeout. Any HTTP answer means the endpoint is reachable; a data endpoint answers `/v2/`
    without credentials with an error status."""
    from gate.registry.client import _ssl_context, classify_transport_error
    from gate.registry.transport import Pool, ProxyFailed, TransportError, unverified_context

    pool = Pool(_ssl_context(ca_file), unverified_context(), size=1)
    try:
        ends_at = time.monotonic() + timeout
        with pool.request("GET", url, {"User-Agent": "pullgate"}, None, ends_at):
            pass  # any answer will do; its body is not read
    except ProxyFailed as exc:
        return Reach(cause="unreachable", detail=f"proxyconnect tcp: {_first(exc)}")
    except (TransportError, OSError) as exc:
        problem = classify_transport_error(exc, host)
        return Reach(cause=problem.cause, detail=problem.detail)
    finally:
        pool.close()
    return Reach()


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def proxied(host: str) -> bool:
    """Whether the environment sends HTTPS to `host` through a proxy (then the runner's own DNS
    answer is not the address it reaches the host at)."""
    from gate.registry.egress import proxy_for

    return proxy_for(host) is not None
