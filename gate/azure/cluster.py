"""The AKS cluster as ARM describes it: its kubelet identity and its agent pools."""

from __future__ import annotations

from dataclasses import dataclass

from gate.azure.arm import ArmDenied, ArmNotFound, ArmSession, AzureError
from gate.azure.identity import KubeletIdentity, graph_resolver, kubelet_identity
from gate.azure.network import ClusterNetwork, as_json, cluster_network
from gate.azure.options import AksOptions
from gate.azure.pools import Pool, pool_from

READ_CLUSTER = "read the cluster (Microsoft.ContainerService/managedClusters/read)"
LIST_POOLS = "list agent pools (Microsoft.ContainerService/managedClusters/agentPools/read)"


@dataclass(frozen=True)
class AksCluster:
    name: str
    resource_group: str
    subscription: str
    identity: KubeletIdentity
    pools: tuple[Pool, ...] = ()
    network: ClusterNetwork = ClusterNetwork()


def resolve_subscription(options: AksOptions, session: ArmSession | None = None) -> str:
    """The cluster's subscription; with none to be found and nobody logged in, the missing
    login is the error (it is the first thing to fix)."""
    from gate.azure.arm import default_subscription

    found = options.cluster.subscription or options.subscription or default_subscription()
    if not found:
        if session is not None:
            session.require_login()
        raise AzureError(
            "--aks: which subscription? Pass --subscription ID, a cluster resource id, or set"
            " the Azure CLI's (az account set -s ID) or AZURE_SUBSCRIPTION_ID"
        )
    return found


def read_cluster(session: ArmSession, options: AksOptions, subscription: str) -> AksCluster:
    ref = options.cluster
    resource_id = ref.resource_id(subscription)
    client = session.containerservice(subscription)
    try:
        model = session.call(
            READ_CLUSTER,
            resource_id,
            lambda: client.managed_clusters.get(ref.resource_group, ref.name),
        )
    except ArmDenied as exc:
        raise AzureError(
            f"--aks {ref}: {exc}. Give the pipeline identity Reader on the cluster: az role"
            f" assignment create --assignee <pipeline identity> --role Reader --scope"
            f" {resource_id}"
        ) from None
    except ArmNotFound:
        raise AzureError(
            f"--aks {ref}: no managed cluster {ref.name} in resource group {ref.resource_group}"
            f" of subscription {subscription}"
        ) from None
    identity = kubelet_identity(model, graph_resolver(session.graph_get), options.kubelet_object_id)
    try:
        pools = session.call(
            LIST_POOLS,
            resource_id,
            lambda: list(client.agent_pools.list(ref.resource_group, ref.name)),
        )
    except ArmDenied:
        pools = list(model.agent_pool_profiles or ())  # the cluster carries them too
    return AksCluster(
        str(model.name or ref.name),
        ref.resource_group,
        subscription,
        identity,
        tuple(pool_from(p) for p in pools),
        cluster_network(as_json(model), [as_json(p) for p in pools], subscription),
    )
