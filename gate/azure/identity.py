"""Who the kubelet is in Azure: the cluster's kubelet managed identity
(`identity_profile["kubeletidentity"]`), or, on legacy clusters, its service principal
(`service_principal_profile.client_id`, "msi" on managed identity clusters).

Role assignments name object ids. A managed identity's is in the cluster resource; a service
principal's is looked up in Microsoft Graph (`servicePrincipals(appId='...')`), which needs
directory read, or given with `--kubelet-object-id`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MANAGED_IDENTITY = "managed identity"
SERVICE_PRINCIPAL = "service principal"


@dataclass(frozen=True)
class KubeletIdentity:
    kind: str  # MANAGED_IDENTITY or SERVICE_PRINCIPAL
    object_id: str | None
    client_id: str | None = None
    resource_id: str | None = None
    problem: str = ""  # why the object id is not known

    def describe(self) -> str:
        if self.kind == MANAGED_IDENTITY:
            name = (self.resource_id or "").rstrip("/").rsplit("/", 1)[-1]
            label = f"kubelet identity {name}" if name else "kubelet identity"
        else:
            label = f"service principal {self.client_id}"
        return f"{label} (object id {self.object_id})" if self.object_id else label


# client id -> (object id or None, why not)
ServicePrincipalResolver = Callable[[str], tuple[str | None, str]]


def kubelet_identity(
    cluster: Any, resolve: ServicePrincipalResolver, object_id: str | None = None
) -> KubeletIdentity:
    """From a ManagedCluster model. `object_id` (from --kubelet-object-id) wins."""
    profile = getattr(cluster, "identity_profile", None) or {}
    kubelet = profile.get("kubeletidentity") if hasattr(profile, "get") else None
    if kubelet is not None:
        return KubeletIdentity(
            MANAGED_IDENTITY,
            object_id or getattr(kubelet, "object_id", None),
            getattr(kubelet, "client_id", None),
            getattr(kubelet, "resource_id", None),
        )
    sp = getattr(cluster, "service_principal_profile", None)
    client_id = getattr(sp, "client_id", None)
    if not client_id or client_id == "msi":
        return KubeletIdentity(
            MANAGED_IDENTITY,
            object_id,
            problem="" if object_id else "the cluster reports no kubelet identity",
        )
    if object_id:
        return KubeletIdentity(SERVICE_PRINCIPAL, object_id, client_id)
    found, why = resolve(client_id)
    return KubeletIdentity(SERVICE_PRINCIPAL, found, client_id, problem="" if found else why)


def graph_resolver(graph_get: Callable[[str], tuple[int, dict]]) -> ServicePrincipalResolver:
    """Resolve a service principal's object id from its client (app) id through Graph."""

    def resolve(client_id: str) -> tuple[str | None, str]:
        status, body = graph_get(f"/v1.0/servicePrincipals(appId='{client_id}')?$select=id")
        found = body.get("id")
        if status == 200 and isinstance(found, str) and found:
            return found, ""
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = str(error.get("message") or "").splitlines()[0:1]
        detail = f": {message[0]}" if message else ""
        if status in (401, 403):
            return None, (
                f"Microsoft Graph refused to look up service principal {client_id}"
                f" ({status}{detail}); the pipeline identity needs directory read"
                " (Application.Read.All), or name the object id"
            )
        if status == 404:
            return None, f"Microsoft Graph knows no service principal with app id {client_id}"
        return (
            None,
            f"Microsoft Graph lookup of {client_id} failed ({status or 'no answer'}{detail})",
        )

    return resolve
