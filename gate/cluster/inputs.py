"""What the deploy itself creates: Namespaces, ServiceAccounts, Secrets, and the custom resources
whose controllers make Secrets (ExternalSecret, SealedSecret, ...), indexed from the input bundle.

An object in the input wins over the cluster's copy: the apply replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gate.cluster.state import (
    PullSecret,
    ServiceAccount,
    pull_secret_from,
    service_account_from,
)
from gate.manifests import Bundle


def _get(obj: object, *path: str) -> object:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _target_name(kind: str, body: Mapping) -> str | None:
    """The name of the Secret a secret-making custom resource creates."""
    name = _get(body, "metadata", "name")
    if kind == "ExternalSecret":
        target = _get(body, "spec", "target", "name")
    elif kind == "SealedSecret":
        target = _get(body, "spec", "template", "metadata", "name")
    elif kind in (
        "VaultStaticSecret",
        "VaultDynamicSecret",
        "VaultPKISecret",
        "HCPVaultSecretsApp",
    ):
        target = _get(body, "spec", "destination", "name")
    elif kind == "OnePasswordItem":
        target = None
    else:
        return None
    value = target or name
    return value if isinstance(value, str) and value else None


SECRET_MAKERS = (
    "ExternalSecret",
    "SealedSecret",
    "VaultStaticSecret",
    "VaultDynamicSecret",
    "VaultPKISecret",
    "HCPVaultSecretsApp",
    "OnePasswordItem",
)


@dataclass
class InputIndex:
    namespaces: set[str] = field(default_factory=set)
    service_accounts: dict[tuple[str, str], ServiceAccount] = field(default_factory=dict)
    secrets: dict[tuple[str, str], PullSecret] = field(default_factory=dict)
    made: dict[tuple[str, str], PullSecret] = field(default_factory=dict)  # by a controller
    used_namespaces: set[str] = field(default_factory=set)

    @classmethod
    def from_bundle(cls, bundle: Bundle, default_namespace: str) -> InputIndex:
        index = cls()
        for obj in bundle.objects:
            body = obj.body if isinstance(obj.body, dict) else {}
            namespace = obj.namespace or default_namespace
            if obj.kind == "Namespace" and obj.name:
                index.namespaces.add(obj.name)
                continue
            index.used_namespaces.add(namespace)
            if obj.kind == "ServiceAccount":
                sa = service_account_from(body, namespace)
                index.service_accounts[(sa.namespace, sa.name)] = sa
            elif obj.kind == "Secret":
                secret = pull_secret_from(body, namespace, keep=True, origin="input")
                index.secrets[(secret.namespace, secret.name)] = secret
            elif obj.kind in SECRET_MAKERS:
                target = _target_name(obj.kind, body)
                if target:
                    index.made[(namespace, target)] = PullSecret(
                        namespace,
                        target,
                        "",
                        origin="input",
                        maker=f"{obj.kind} {namespace}/{obj.name}",
                    )
        return index

    def secret_elsewhere(self, name: str, namespace: str) -> list[str]:
        return sorted(
            ns for ns, n in {**self.secrets, **self.made} if n == name and ns != namespace
        )
