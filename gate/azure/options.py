"""The AKS source options of `pullgate check`, light to import: the CLI reads them before
knowing whether any Azure code runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gate.azure.ids import (
    AzureInputError,
    ClusterRef,
    RegistryRef,
    parse_cluster,
    parse_registry_id,
)

# az cloud names -> pullgate's cloud table keys (gate/azure/arm.py)
CLOUD_NAMES = ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

__all__ = ["AksOptions", "AzureInputError", "CLOUD_NAMES"]


@dataclass(frozen=True)
class AksOptions:
    aks: str | None = None  # RG/CLUSTER or a managed cluster resource id
    subscription: str | None = None
    registry_ids: tuple[str, ...] = ()
    kubelet_object_id: str | None = None  # for service principal clusters
    cloud: str = "AzureCloud"
    timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.aks)

    @property
    def cluster(self) -> ClusterRef:
        assert self.aks
        return parse_cluster(self.aks)

    @property
    def registries(self) -> tuple[RegistryRef, ...]:
        return tuple(parse_registry_id(text) for text in self.registry_ids)

    def usage_problem(self, offline: bool) -> str | None:
        """A one-line usage error, or None. Parses every value so bad input fails before any
        Azure call."""
        if not self.enabled:
            if self.subscription or self.registry_ids or self.kubelet_object_id:
                return (
                    "--subscription, --acr-resource-id and --kubelet-object-id need --aks"
                    " RESOURCE_GROUP/CLUSTER"
                )
            return None
        if offline:
            return "--aks reads Azure Resource Manager: it cannot run with --offline"
        try:
            cluster = self.cluster
            self.registries  # noqa: B018 - parses every --acr-resource-id
        except AzureInputError as exc:
            return str(exc)
        for flag, value in (
            ("--subscription", self.subscription),
            ("--kubelet-object-id", self.kubelet_object_id),
        ):
            if value and not _GUID.match(value):
                return f"{flag} {value!r}: expected a GUID"
        sub = self.subscription
        if cluster.subscription and sub and cluster.subscription.lower() != sub.lower():
            return f"--aks names subscription {cluster.subscription} but --subscription is {sub}"
        if self.cloud not in CLOUD_NAMES:
            return f"--azure-cloud {self.cloud!r}: expected one of {', '.join(CLOUD_NAMES)}"
        return None
