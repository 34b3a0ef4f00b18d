"""The AKS cluster as ARM describes it, through the real azure-mgmt-containerservice client and
the fake ARM: the kubelet identity (managed identity or legacy service principal), and the agent
pools as target platforms and scheduling filter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from arm_fake import (
    SUB,
    Arm,
    StaticCredential,
    agent_pool,
    arm_session,
    cluster_id,
    managed_cluster,
    serve_arm,
)
from registry_server import TLSFiles

from gate.azure.arm import CLOUDS, ArmSession, AzureError
from gate.azure.cluster import read_cluster
from gate.azure.identity import MANAGED_IDENTITY, SERVICE_PRINCIPAL
from gate.azure.options import AksOptions
from gate.azure.pools import CombinedTargets, PoolTargets, parse_taint, vm_architecture
from gate.cluster.scheduling import ClusterTargets
from gate.cluster.state import Node
from gate.platforms import Platform

KUBELET = "6f0c9d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
SP_APP = "2b7c9e1d-3a4f-4b5c-9d8e-7f6a5b4c3d2e"
SP_OBJECT = "8d9e0f1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
CID = cluster_id("rg-aks", "aks-prod")
WINDOWS_TAINT = "os=windows:NoSchedule"
LINUX_AMD64 = Platform("linux", "amd64")
LINUX_ARM64 = Platform("linux", "arm64")
WINDOWS_2022 = Platform("windows", "amd64", "", "10.0.20348")


def pools() -> list[dict]:
    return [
        agent_pool(CID, "system", "Standard_D4s_v5", mode="System", count=3),
        agent_pool(CID, "arm64", "Standard_D4ps_v5", count=2, labels={"workload": "batch"}),
        agent_pool(CID, "win22", "Standard_D4s_v5", os_type="Windows", taints=[WINDOWS_TAINT]),
        agent_pool(CID, "burst", "Standard_E8pds_v5", count=0, autoscale=(0, 10), spot=True),
    ]


@pytest.fixture
def arm() -> Arm:
    found = Arm()
    found.add_cluster(managed_cluster("rg-aks", "aks-prod", pools(), KUBELET), pools())
    found.add_cluster(
        managed_cluster("rg-aks", "aks-legacy", pools()[:1], sp_client_id=SP_APP), pools()[:1]
    )
    found.service_principals[SP_APP] = SP_OBJECT
    return found


@pytest.fixture
def session(arm: Arm, tls_files: TLSFiles) -> Iterator[ArmSession]:
    with serve_arm(arm, tls_files) as server:
        yield arm_session(server)


def read(session: ArmSession, aks: str = "rg-aks/aks-prod", **options: str):
    return read_cluster(session, AksOptions(aks, **options), SUB)


# ---- identity -------------------------------------------------------------------------------


def test_managed_identity_cluster_pulls_as_its_kubelet_identity(session):
    identity = read(session).identity
    assert (identity.kind, identity.object_id) == (MANAGED_IDENTITY, KUBELET)
    assert identity.describe() == f"kubelet identity aks-prod-agentpool (object id {KUBELET})"


def test_service_principal_cluster_is_resolved_through_graph(session, arm):
    identity = read(session, "rg-aks/aks-legacy").identity
    assert (identity.kind, identity.client_id, identity.object_id) == (
        SERVICE_PRINCIPAL,
        SP_APP,
        SP_OBJECT,
    )
    assert f"/v1.0/servicePrincipals(appId='{SP_APP}')" in arm.requests[-2]


def test_service_principal_graph_refusal_says_what_to_pass(session, arm):
    arm.graph_status = 403
    identity = read(session, "rg-aks/aks-legacy").identity
    assert identity.object_id is None
    assert "Microsoft Graph refused" in identity.problem and "403" in identity.problem


def test_kubelet_object_id_option_wins_without_asking_graph(session, arm):
    identity = read(session, "rg-aks/aks-legacy", kubelet_object_id=SP_OBJECT).identity
    assert identity.object_id == SP_OBJECT
    assert not any("servicePrincipals" in r for r in arm.requests)


def test_a_cluster_id_names_the_cluster_too(session):
    assert read(session, CID).name == "aks-prod"


def test_missing_cluster_is_a_one_line_error(session):
    with pytest.raises(AzureError, match="no managed cluster aks-nope in resource group rg-aks"):
        read(session, "rg-aks/aks-nope")


def test_denied_cluster_read_names_the_role_to_grant(session, arm):
    arm.forbidden.add(CID.lower())
    with pytest.raises(AzureError) as caught:
        read(session)
    message = str(caught.value)
    assert "403 AuthorizationFailed" in message and f"--role Reader --scope {CID}" in message
    assert "\n" not in message


def test_refused_token_is_a_login_hint_not_a_traceback(session):
    session._credential = StaticCredential("expired-token")
    with pytest.raises(AzureError, match="Log in first"):
        read(session)


@pytest.mark.parametrize(
    ("cloud", "scope"),
    [
        ("AzureCloud", "https://management.azure.com/.default"),
        ("AzureChinaCloud", "https://management.chinacloudapi.cn/.default"),
        ("AzureUSGovernment", "https://management.core.usgovcloudapi.net/.default"),
    ],
)
def test_each_cloud_asks_for_its_own_resource_manager_token(session, cloud, scope):
    credential = StaticCredential()
    sovereign = ArmSession(
        CLOUDS[cloud],
        credential=credential,
        base_url=session.base_url,
        verify=session.verify,
        timeout=5,
        retries=0,
    )
    read(sovereign)
    assert {s for scopes in credential.scopes for s in scopes} == {scope}


# ---- pools ----------------------------------------------------------------------------------


def test_pools_give_their_platforms(session):
    found = {p.name: p.platforms for p in read(session).pools}
    assert found == {
        "system": (LINUX_AMD64,),
        "arm64": (LINUX_ARM64,),
        "win22": (WINDOWS_2022,),
        "burst": (LINUX_ARM64,),
    }


def test_denied_agent_pool_list_falls_back_to_the_clusters_profiles(session, arm):
    arm.forbidden.add(CID.lower() + "/agentpools")
    assert [p.name for p in read(session).pools] == ["system", "arm64", "win22", "burst"]


@pytest.mark.parametrize(
    ("size", "arch"),
    [
        ("Standard_D4ps_v5", "arm64"),
        ("Standard_D16plds_v5", "arm64"),
        ("Standard_E8pds_v6", "arm64"),
        ("Standard_B2pts_v2", "arm64"),
        ("Standard_D4s_v5", "amd64"),
        ("Standard_D4as_v5", "amd64"),
        ("Standard_NP10s", "amd64"),  # NP: an FPGA family, not the Arm feature letter
        ("Standard_NC24ads_A100_v4", "amd64"),
        ("Standard_M416-208s_v2", "amd64"),
    ],
)
def test_vm_size_feature_letter_p_means_arm64(size, arch):
    assert vm_architecture(size) == arch


def test_taints_parse_as_aks_writes_them():
    assert str(parse_taint("sku=gpu:NoSchedule")) == "{sku: gpu}"
    assert parse_taint("CriticalAddonsOnly=true:NoExecute").effect == "NoExecute"
    assert parse_taint("dedicated:NoSchedule").key == "dedicated"
    assert parse_taint("no-effect") is None


def targets(session, spec: dict) -> set[tuple[str, ...]]:
    found = PoolTargets(read(session).pools, "aks-prod").targets_for(spec)
    return {(str(g.platform), *g.pools) for g in found.groups}


def test_a_plain_pod_lands_on_every_untainted_pool_including_one_at_zero_nodes(session):
    assert targets(session, {}) == {("linux/amd64", "system"), ("linux/arm64", "arm64")}


def test_a_pod_tolerating_spot_also_targets_the_pool_scaled_to_zero(session):
    spec = {"tolerations": [{"key": "kubernetes.azure.com/scalesetpriority", "operator": "Exists"}]}
    assert ("linux/arm64", "arm64", "burst") in targets(session, spec)


def test_node_labels_of_a_pool_select_it(session):
    assert targets(session, {"nodeSelector": {"workload": "batch"}}) == {("linux/arm64", "arm64")}


def test_windows_pool_needs_the_toleration_and_the_os_selector(session):
    spec = {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "value": "windows", "effect": "NoSchedule"}],
    }
    assert targets(session, spec) == {("windows/amd64:10.0.20348", "win22")}


def test_a_pod_no_pool_takes_is_unschedulable(session):
    placement = PoolTargets(read(session).pools, "aks-prod").placement(
        {"nodeSelector": {"kubernetes.io/arch": "s390x"}}
    )
    assert placement.unschedulable


# ---- with the kube view ---------------------------------------------------------------------


def kube_node(pool: str, platform: Platform) -> Node:
    labels = {
        "kubernetes.io/os": platform.os,
        "kubernetes.io/arch": platform.architecture,
        "kubernetes.azure.com/agentpool": pool,
    }
    return Node(f"aks-{pool}-0", labels, (), platform, pool)


def test_node_labels_win_and_the_disagreement_is_reported(session):
    kube = ClusterTargets([kube_node("system", LINUX_AMD64), kube_node("arm64", LINUX_AMD64)])
    combined = CombinedTargets(kube, PoolTargets(read(session).pools, "aks-prod"))
    found = combined.targets_for({})
    assert {(str(g.platform), g.pools) for g in found.groups} == {
        ("linux/amd64", ("arm64", "system"))
    }
    [note] = combined.disagreements
    assert note.startswith("AKS pool arm64 (Linux Standard_D4ps_v5, 2 nodes) is linux/arm64")
    assert note.endswith("its nodes are labelled linux/amd64; the node labels are used")


def test_pool_scaled_to_zero_is_added_to_the_kube_view(session):
    kube = ClusterTargets([kube_node("system", LINUX_AMD64), kube_node("arm64", LINUX_ARM64)])
    combined = CombinedTargets(kube, PoolTargets(read(session).pools, "aks-prod"))
    spec = {"tolerations": [{"operator": "Exists"}]}
    found = {(str(g.platform), g.pools) for g in combined.targets_for(spec).groups}
    assert ("linux/arm64", ("burst",)) in found
    # win22 has nodes in ARM but none in this kube view: that one is reported, burst is not
    assert [n.split(" (")[0] for n in combined.disagreements] == ["AKS pool win22"]
