"""Azure resource ids: `--aks RG/CLUSTER` or a cluster id, registry ids, and whether a role
assignment's scope covers a resource. Pure string work, light to import."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEGMENT = r"[^/]+"
_CLUSTER_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_SEGMENT})/resourceGroups/(?P<rg>{_SEGMENT})/providers/"
    rf"Microsoft\.ContainerService/managedClusters/(?P<name>{_SEGMENT})/?$",
    re.IGNORECASE,
)
_REGISTRY_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_SEGMENT})/resourceGroups/(?P<rg>{_SEGMENT})/providers/"
    rf"Microsoft\.ContainerRegistry/registries/(?P<name>{_SEGMENT})/?$",
    re.IGNORECASE,
)
_RG_NAME = re.compile(r"^[-\w.()]{1,90}$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$")


class AzureInputError(ValueError):
    """A flag value that does not name an Azure resource: a usage error (exit 2)."""


@dataclass(frozen=True)
class ClusterRef:
    resource_group: str
    name: str
    subscription: str | None = None  # only when given as a resource id

    def resource_id(self, subscription: str) -> str:
        return (
            f"/subscriptions/{subscription}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{self.name}"
        )

    def __str__(self) -> str:
        return f"{self.resource_group}/{self.name}"


@dataclass(frozen=True)
class RegistryRef:
    subscription: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.ContainerRegistry/registries/{self.name}"
        )


def parse_cluster(text: str) -> ClusterRef:
    """`RESOURCE_GROUP/CLUSTER`, or `/subscriptions/.../managedClusters/NAME`."""
    value = text.strip()
    match = _CLUSTER_ID.match(value)
    if match:
        return ClusterRef(match["rg"], match["name"], match["sub"])
    group, sep, name = value.partition("/")
    if not sep or not _RG_NAME.match(group) or not _CLUSTER_NAME.match(name):
        raise AzureInputError(
            f"--aks {text!r}: expected RESOURCE_GROUP/CLUSTER or a managed cluster resource id"
            " (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/"
            "managedClusters/NAME)"
        )
    return ClusterRef(group, name)


def parse_registry_id(text: str) -> RegistryRef:
    match = _REGISTRY_ID.match(text.strip())
    if not match:
        raise AzureInputError(
            f"--acr-resource-id {text!r}: expected /subscriptions/SUB/resourceGroups/RG/providers/"
            "Microsoft.ContainerRegistry/registries/NAME"
        )
    return RegistryRef(match["sub"], match["rg"], match["name"])


def parse_id(resource_id: str) -> dict[str, str]:
    """`{"subscriptions": SUB, "resourcegroups": RG, ...}` from an ARM id (keys lower-cased)."""
    parts = [p for p in resource_id.split("/") if p]
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def scope_covers(scope: str, resource_id: str) -> bool:
    """Whether a role assignment at `scope` applies to `resource_id`: the scope is the resource
    itself or one of its parents (ARM ids compare case-insensitively)."""
    scope = scope.rstrip("/").lower()
    target = resource_id.rstrip("/").lower()
    return scope == "" or target == scope or target.startswith(scope + "/")


def is_management_group(scope: str) -> bool:
    return scope.lower().startswith("/providers/microsoft.management/managementgroups/")
