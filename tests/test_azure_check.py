"""`pullgate check --aks` end to end: the fake ARM (real azure-mgmt clients), the real registry
with token auth behind ACR's token endpoints (AcrAuthFront), the pipeline reading it with its
Azure login through the token exchange, and the findings and reports that come out."""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from arm_fake import (
    ACR_PULL,
    DATA_IMPORTER,
    OTHER_SUB,
    PIPELINE_OID,
    REPO_READER,
    SUB,
    TOKEN,
    AcrAuthFront,
    Arm,
    ArmServer,
    StaticCredential,
    a_record,
    agent_pool,
    arm_session,
    cluster_id,
    endpoint_connection,
    managed_cluster,
    network_id,
    network_security_group,
    private_endpoint,
    private_zone,
    public_ip,
    pull_condition,
    registry,
    registry_id,
    rg_id,
    security_rule,
    serve_arm,
    virtual_network,
    zone_link,
)
from conftest import require_binary
from connect_proxy import serve_proxy
from kube_fake import Cluster, namespace, node, pull_secret, serve, service_account
from registry_server import REGISTRY_BINARY, Registry, TLSFiles, TokenServer, start_registry

from gate.azure.arm import CLOUDS, ArmSession
from gate.azure.mode import run_aks_check
from gate.azure.options import AksOptions
from gate.causes import Severity
from gate.cluster.options import ClusterOptions
from gate.reports import FORMATS, RenderOptions
from gate.runner import CheckOptions, Outcome

KUBELET = "6f0c9d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
SP_APP = "2b7c9e1d-3a4f-4b5c-9d8e-7f6a5b4c3d2e"
CID = cluster_id("rg-aks", "aks-prod")
ACR = registry_id("rg-acr", "contoso")
BOB = ("bob", "s3cret-bob")
DATA_ENDPOINT = "contoso.westeurope.data.azurecr.io"
DNS = {"127.0.0.1": ["127.0.0.1"], DATA_ENDPOINT: ["127.0.0.1"]}  # what the runner resolves


def pools() -> list[dict]:
    return [
        agent_pool(CID, "system", "Standard_D4s_v5", mode="System"),
        agent_pool(CID, "arm64", "Standard_D4ps_v5", count=0, autoscale=(0, 5)),
    ]


def deployment(*images: str, extra: str = "") -> str:
    containers = "".join(
        f"        - name: c{i}\n          image: {image}\n" for i, image in enumerate(images)
    )
    return textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
          namespace: shop
        spec:
          template:
            spec:
        """
    ) + (extra + "      containers:\n" + containers)


@dataclass
class Stack:
    arm: Arm
    server: ArmServer
    registry: Registry
    front: AcrAuthFront
    tls: TLSFiles
    tmp: Path
    closed_port: int

    @property
    def host(self) -> str:
        return self.registry.host

    def image(self, repo: str, tag: str = "1.0") -> str:
        return f"{self.host}/{repo}:{tag}"

    def session(self) -> ArmSession:
        return arm_session(self.server)

    def resolver(self, dns: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
        def resolve(host: str, port: int) -> list[str]:
            if host not in dns:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return dns[host]

        return resolve

    def run(
        self,
        manifest: str,
        aks: str = "rg-aks/aks-prod",
        dns: dict[str, list[str]] | None = None,
        data_url: Callable[[str], str] | None = None,
        cluster: object = None,
        also_acr: tuple[str, ...] = (),
        **aks_options: object,
    ) -> Outcome:
        path = self.tmp / "app.yaml"
        path.write_text(manifest)
        no_credentials = self.tmp / "empty-docker-config.json"
        no_credentials.write_text("{}")  # a named Docker config must exist
        options = CheckOptions(
            paths=[str(path)],
            timeout=5,
            deadline=60,
            ca_file=str(self.tls.ca_file),
            docker_config=str(no_credentials),
        )
        return run_aks_check(
            options,
            AksOptions(aks, **{"subscription": SUB, **aks_options}),
            cluster,
            session=self.session(),
            is_registry=lambda host: host == self.host or host in also_acr,
            resolve=self.resolver(dns if dns is not None else DNS),
            data_url=data_url or self.data_url(),
            exchange_url=self.front.exchange_url,
        )

    @property
    def registry_port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def data_url(self, port: int | None = None) -> Callable[[str], str]:
        """Data endpoints served by the registry itself (it answers /v2/ with 401)."""
        return lambda host: f"https://127.0.0.1:{port or self.registry_port}/v2/"


@pytest.fixture(scope="module")
def acr(tmp_path_factory, tls_files) -> Iterator[tuple[Registry, AcrAuthFront]]:
    """The real registry (TLS, token auth) behind ACR's token endpoints, images pushed once: the
    tests change only what ARM says."""
    binary = require_binary(REGISTRY_BINARY)
    inner = TokenServer(tmp_path_factory.mktemp("token"), users=dict([BOB])).start()
    front = AcrAuthFront(inner, BOB, TOKEN, tls_files).start()
    reg = None
    try:
        reg = start_registry(
            tmp_path_factory.mktemp("registry"),
            auth="token",
            tls=True,
            token_server=front,
            tls_files=tls_files,
            binary=binary,
        )
        for repo in ("team-a/api", "team-a/worker", "team-b/api"):
            reg.push_index(repo, "1.0", ["linux/amd64", "linux/arm64"])
        reg.push_image("legacy/app", "1.0")  # linux/amd64 only
        yield reg, front
    finally:
        if reg is not None:
            reg.stop()
        front.stop()
        inner.stop()


@pytest.fixture
def stack(acr, tls_files, tmp_path) -> Iterator[Stack]:
    reg, front = acr
    front.reset(TOKEN)
    arm = Arm()
    arm.add_cluster(managed_cluster("rg-aks", "aks-prod", pools(), KUBELET), pools())
    arm.add_cluster(
        managed_cluster("rg-aks", "aks-legacy", pools()[:1], sp_client_id=SP_APP), pools()[:1]
    )
    arm.registries.append(
        registry("rg-acr", "contoso", login_server=reg.host, data_endpoints=(DATA_ENDPOINT,))
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    with serve_arm(arm, tls_files) as server:
        yield Stack(arm, server, reg, front, tls_files, tmp_path, closed_port)


def causes(outcome: Outcome) -> list[tuple[str, str]]:
    return [
        (f.cause, f.use.image.rsplit("/", 2)[-2] + "/" + f.use.image.rsplit("/", 1)[-1])
        for f in outcome.findings
    ]


def only(outcome: Outcome, cause: str):
    found = [f for f in outcome.findings if f.cause == cause]
    assert len(found) == 1, [(f.cause, f.evidence) for f in outcome.findings]
    return found[0]


# ---- pull rights ----------------------------------------------------------------------------


def test_attached_registry_passes_and_the_pipeline_reads_it_with_its_azure_login(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    outcome = stack.run(deployment(stack.image("team-a/api"), stack.image("team-a/worker")))
    assert outcome.findings == []
    assert {r.credential for r in outcome.resolutions.values()} == {
        f"Azure login (ACR token exchange at {stack.host})"
    }
    assert [e["ok"] for e in stack.front.exchanges] == [True]  # once per registry
    # One refresh-token grant for both repositories (OAuth2: space-separated scopes).
    assert [g["scope"] for g in stack.front.grants] == [
        "repository:team-a/api:pull repository:team-a/worker:pull"
    ]


def test_not_attached_is_an_error_with_the_attach_command(stack):
    outcome = stack.run(deployment(stack.image("team-a/api")))
    finding = only(outcome, "acr-not-attached")
    assert finding.severity is Severity.ERROR
    assert "az aks update -g rg-aks -n aks-prod --attach-acr contoso" in finding.fix
    assert finding.evidence == (
        f"kubelet identity aks-prod-agentpool (object id {KUBELET}) holds no role assignment on"
        " the registry or above it"
    )
    assert f"https://{stack.host}/oauth2/token?scope=repository%3Ateam-a/api%3Apull" in (
        finding.signature
    )


def test_pull_inherited_from_the_resource_group_passes(stack):
    stack.arm.assign(rg_id("rg-acr"), ACR_PULL, KUBELET)
    assert stack.run(deployment(stack.image("team-a/api"))).findings == []


def test_registry_in_another_subscription_is_attached_by_resource_id(stack):
    other = registry_id("rg-shared", "contoso", OTHER_SUB)
    stack.arm.registries[0] = registry(
        "rg-shared", "contoso", sub=OTHER_SUB, login_server=stack.host
    )
    outcome = stack.run(deployment(stack.image("team-a/api")), registry_ids=(other,))
    assert f"--attach-acr {other}" in only(outcome, "acr-not-attached").fix


def test_abac_registry_grants_by_repository_and_the_fix_is_a_conditioned_assignment(stack):
    stack.arm.registries[0]["properties"]["roleAssignmentMode"] = "AbacRepositoryPermissions"
    stack.arm.assign(ACR, ACR_PULL, KUBELET)  # not honoured in ABAC mode
    stack.arm.assign(
        ACR, REPO_READER, KUBELET, condition=pull_condition("StringStartsWithIgnoreCase 'team-a/'")
    )
    outcome = stack.run(deployment(stack.image("team-a/api"), stack.image("team-b/api")))
    finding = only(outcome, "acr-not-attached")
    assert finding.use.image == stack.image("team-b/api")
    assert (
        f"--assignee-object-id {KUBELET} --assignee-principal-type ServicePrincipal --role"
        f' "Container Registry Repository Reader" --scope {ACR} --condition' in finding.fix
    )
    assert "StringEqualsIgnoreCase 'team-b/api'))\" --condition-version 2.0" in finding.fix
    assert "AcrPull at the registry (not honoured: the registry is in ABAC mode)" in (
        finding.explanation
    )


def test_abac_registry_pulls_with_data_importer_and_data_reader(stack):
    stack.arm.registries[0]["properties"]["roleAssignmentMode"] = "AbacRepositoryPermissions"
    stack.arm.assign(ACR, DATA_IMPORTER, KUBELET)
    assert stack.run(deployment(stack.image("team-a/api"))).findings == []


def test_network_view_arm_cannot_serve_is_a_note_not_a_failed_run(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    stack.arm.fail_network = 500
    outcome = stack.run(deployment(stack.image("team-a/api")), dns={"127.0.0.1": ["10.1.0.4"]})
    assert outcome.findings == []
    assert any("the nodes' network view was not read from ARM" in n.message for n in outcome.notes)


def test_service_principal_cluster_resolved_through_graph_is_checked(stack):
    sp_object = "8d9e0f1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
    stack.arm.service_principals[SP_APP] = sp_object
    stack.arm.assign(ACR, ACR_PULL, sp_object)
    assert stack.run(deployment(stack.image("team-a/api")), aks="rg-aks/aks-legacy").findings == []


def test_service_principal_unknown_to_graph_is_a_warning_asking_for_its_object_id(stack):
    stack.arm.graph_status = 403
    outcome = stack.run(deployment(stack.image("team-a/api")), aks="rg-aks/aks-legacy")
    finding = only(outcome, "kubelet-identity-unknown")
    assert finding.severity is Severity.WARNING
    assert f"--kubelet-object-id $(az ad sp show --id {SP_APP} --query id -o tsv)" in finding.fix


def test_denied_role_assignment_read_is_one_warning_per_registry_not_a_crash(stack):
    stack.arm.forbidden.add(ACR.lower() + "/providers/microsoft.authorization/roleassignments")
    outcome = stack.run(deployment(stack.image("team-a/api"), stack.image("team-b/api")))
    finding = only(outcome, "azure-forbidden")
    assert finding.severity is Severity.WARNING and outcome.errors == 0
    assert f"--role Reader --scope {ACR}" in finding.fix
    assert "403 AuthorizationFailed" in finding.signature


def test_denied_registry_search_says_to_name_the_registry(stack):
    stack.arm.forbidden.add(f"/subscriptions/{SUB}/providers/microsoft.containerregistry")
    finding = only(stack.run(deployment(stack.image("team-a/api"))), "azure-forbidden")
    assert finding.signature.startswith(
        f"list registries (Microsoft.ContainerRegistry/registries/read) on /subscriptions/{SUB}:"
    )
    assert "--acr-resource-id" in finding.fix


def test_abac_condition_pullgate_cannot_evaluate_is_a_warning_quoting_it(stack):
    stack.arm.registries[0]["properties"]["roleAssignmentMode"] = "AbacRepositoryPermissions"
    condition = pull_condition("StringStartsWithIgnoreCase 'team-a/'").replace(
        "@Request[Microsoft.ContainerRegistry/registries/repositories:name]",
        "@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Team]",
    )
    stack.arm.assign(ACR, REPO_READER, KUBELET, condition=condition)
    finding = only(stack.run(deployment(stack.image("team-a/api"))), "acr-condition-unevaluated")
    assert finding.severity is Severity.WARNING
    assert "@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Team]" in finding.explanation


def test_registry_not_in_the_subscription_is_a_warning_naming_the_flag(stack):
    stack.arm.registries.clear()
    finding = only(stack.run(deployment(stack.image("team-a/api"))), "acr-registry-not-found")
    assert f"in subscription {SUB}" in finding.signature
    assert "--acr-resource-id" in finding.fix


def test_anonymous_pull_needs_no_identity_and_is_noted(stack):
    stack.arm.registries[0]["properties"]["anonymousPullEnabled"] = True
    outcome = stack.run(deployment(stack.image("team-a/api")))
    assert outcome.findings == []
    assert [n.message for n in outcome.notes] == [
        "contoso allows anonymous pull (anonymousPullEnabled): any node can pull its images"
        " without a credential"
    ]


# ---- registry posture -----------------------------------------------------------------------


def runner_only(stack: Stack) -> None:
    """The nodes' network view cannot be read: findings come from the runner alone."""
    stack.arm.forbidden.add(f"/subscriptions/{SUB}/resourcegroups/mc_rg-aks_aks-prod_westeurope")


def test_data_endpoint_that_does_not_resolve_is_a_dns_error_naming_it(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    runner_only(stack)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        dns={"127.0.0.1": ["10.1.0.4"]},
        data_url=lambda host: "https://no-such-host.invalid/v2/",
    )
    finding = only(outcome, "dns")
    assert f"lookup {DATA_ENDPOINT}: no such host" in finding.signature
    assert finding.evidence.startswith(
        f"from the runner: data endpoint {DATA_ENDPOINT} of contoso:"
    )
    assert f"nslookup {DATA_ENDPOINT}. For a private endpoint link the privatelink" in finding.fix


def test_data_endpoint_refusing_connections_is_unreachable(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    runner_only(stack)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        dns={"127.0.0.1": ["10.1.0.4"]},
        data_url=stack.data_url(stack.closed_port),
    )
    finding = only(outcome, "unreachable")
    assert "connect: connection refused" in finding.evidence


def test_reachable_data_endpoint_gives_no_finding(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    outcome = stack.run(deployment(stack.image("team-a/api")), dns={DATA_ENDPOINT: ["127.0.0.1"]})
    assert outcome.findings == []


def egress(stack: Stack, ip: str) -> None:
    """The cluster's load balancer leaves from public IP `ip`."""
    pip = public_ip("MC_rg-aks_aks-prod_westeurope", "kubernetes-outbound", ip)
    stack.arm.add(pip)
    stack.arm.clusters[0]["properties"]["networkProfile"]["loadBalancerProfile"] = {
        "managedOutboundIPs": {"count": 1},
        "effectiveOutboundIPs": [{"id": pip["id"]}],
    }


def deny_all_but(stack: Stack, cidr: str, egress_ip: str) -> None:
    """AcrPull granted, a registry firewall that admits only `cidr`, nodes leaving from
    `egress_ip`."""
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    rules = stack.arm.registries[0]["properties"]["networkRuleSet"]
    rules["defaultAction"] = "Deny"
    rules["ipRules"] = [{"action": "Allow", "value": cidr}]
    egress(stack, egress_ip)


def test_public_access_disabled_without_a_private_endpoint_is_unreachable_from_the_nodes(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    outcome = stack.run(deployment(stack.image("team-a/api"), stack.image("team-b/api")))
    assert [f.cause for f in outcome.findings] == ["unreachable", "unreachable"]  # one per use
    finding = outcome.findings[0]
    assert finding.evidence.startswith(
        "from the nodes (per ARM): publicNetworkAccess is Disabled and it has no private endpoint"
    )
    assert f"--private-connection-resource-id {ACR} --group-id registry" in finding.fix
    assert finding.explanation == (
        "contoso takes no public traffic from the nodes (publicNetworkAccess is Disabled),"
        " and it has no private endpoint."
    )


def test_firewall_deny_without_the_nodes_egress_ip_is_unreachable_naming_it(stack):
    deny_all_but(stack, "203.0.113.0/24", egress_ip="20.31.4.7")
    finding = only(stack.run(deployment(stack.image("team-a/api"))), "unreachable")
    assert "client with IP '20.31.4.7' is not allowed access" in finding.signature
    assert "(load balancer: 20.31.4.7) is not among its IP rules (203.0.113.0/24)" in (
        finding.evidence
    )
    assert finding.fix.endswith("az acr network-rule add -n contoso --ip-address 20.31.4.7")
    assert finding.explanation == (
        "The registry firewall denies by default (IP rules: 203.0.113.0/24); the nodes leave"
        " through their load balancer from 20.31.4.7, which no rule admits, so ACR answers 403."
    )


def test_firewall_deny_with_the_nodes_egress_ip_listed_passes(stack):
    deny_all_but(stack, "20.31.4.0/24", egress_ip="20.31.4.7")
    assert stack.run(deployment(stack.image("team-a/api"))).findings == []


def test_public_access_disabled_with_only_the_runners_view_warns(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    runner_only(stack)
    outcome = stack.run(deployment(stack.image("team-a/api")), dns={"127.0.0.1": ["20.50.2.1"]})
    finding = only(outcome, "registry-network-restricted")
    assert finding.evidence.startswith("from the runner: publicNetworkAccess is Disabled; ")
    assert finding.explanation.startswith("publicNetworkAccess is Disabled; ")
    assert "20.50.2.1" in finding.explanation and "privatelink.azurecr.io" in finding.fix


def test_firewall_deny_seen_from_a_private_address_is_fine_when_only_the_runner_sees(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["networkRuleSet"]["defaultAction"] = "Deny"
    runner_only(stack)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        dns={"127.0.0.1": ["10.1.0.4"], DATA_ENDPOINT: ["127.0.0.1"]},
    )
    assert outcome.findings == []


# ---- pools ----------------------------------------------------------------------------------


def test_a_pool_scaled_to_zero_still_needs_its_platform(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    finding = only(stack.run(deployment(stack.image("legacy/app"))), "platform-mismatch")
    assert "nodes need linux/arm64 (pools arm64)" in finding.evidence


def test_a_pod_no_agent_pool_takes_is_unschedulable(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    extra = "      nodeSelector:\n        kubernetes.io/os: windows\n"
    finding = only(stack.run(deployment(stack.image("team-a/api"), extra=extra)), "unschedulable")
    assert finding.signature == "0/2 agent pools of AKS cluster aks-prod take the pod."


# ---- the pipeline's own reads, and secrets ---------------------------------------------------


def test_refused_exchange_leaves_a_note_and_the_registry_says_unauthorized(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.front.entra_token = "some-other-token"
    outcome = stack.run(deployment(stack.image("team-a/api")))
    assert [f.cause for f in outcome.findings] == ["unauthorized"]
    finding = outcome.findings[0]
    assert finding.fix == (
        "The nodes get in; give the pipeline's identity pull so pullgate can check the image:"
        f" az role assignment create --assignee-object-id {PIPELINE_OID}"
        f' --assignee-principal-type ServicePrincipal --role "AcrPull" --scope {ACR}'
    )
    assert "<" not in finding.fix and "--attach-acr" not in finding.fix
    assert "holds AcrPull at the registry" in finding.explanation
    [note] = [n.message for n in outcome.notes]
    assert note.startswith(f"pullgate's own reads of {stack.host}: ACR token exchange at")
    assert "answered 401" in note


def test_pipeline_refused_and_kubelet_without_pull_is_one_finding(stack):
    stack.front.entra_token = "some-other-token"
    outcome = stack.run(deployment(stack.image("team-a/api")))
    finding = only(outcome, "acr-not-attached")
    assert [f.cause for f in outcome.findings] == ["acr-not-attached"]
    assert "from the runner: pullgate's own read was refused too" in finding.evidence


def test_custom_role_with_only_a_wildcard_action_is_a_warning_not_a_silent_pass(stack):
    role = stack.arm.add_custom_role(
        "Registry operator", {"actions": ["Microsoft.ContainerRegistry/*"]}
    )
    stack.arm.assign(ACR, role, KUBELET)
    finding = only(stack.run(deployment(stack.image("team-a/api"))), "acr-role-wildcard")
    assert finding.severity is Severity.WARNING
    assert "ARM Private Link" in finding.catalog.meaning.replace("Azure Resource Manager", "ARM")
    assert "custom role Registry operator at the registry" in finding.explanation


def test_no_token_appears_in_any_report(stack):
    outcome = stack.run(deployment(stack.image("team-a/api")))
    refresh_tokens = stack.front.refresh_tokens
    assert refresh_tokens
    for name in ("text", "json", "sarif", "markdown"):
        report = FORMATS[name](outcome, RenderOptions())
        for secret in [TOKEN, *refresh_tokens]:
            assert secret not in report, name
    parsed = json.loads(FORMATS["json"](outcome, RenderOptions()))
    assert "acr-not-attached" in json.dumps(parsed)


# ---- with cluster mode ----------------------------------------------------------------------


def kube_cluster(secrets: list[dict], service_account_secrets: list[str]) -> Cluster:
    """One system node (the arm64 pool is at zero nodes), namespace shop."""
    return Cluster(
        nodes=[node("aks-system-12345678-vmss000000", "system")],
        namespaces=[namespace("default"), namespace("shop")],
        service_accounts=[service_account("shop", "default", service_account_secrets)],
        secrets=secrets,
    )


def run_with_kube(stack: Stack, kube: Cluster, manifest: str) -> Outcome:
    with serve(kube, stack.tmp) as api:
        options = ClusterOptions(kubeconfig=str(api.kubeconfig), verify_credentials=True)
        return stack.run(manifest, cluster=options)


def test_with_cluster_mode_a_working_pull_secret_makes_the_identity_moot(stack):
    kube = kube_cluster([pull_secret("shop", "acr-pull", {stack.host: BOB})], ["acr-pull"])
    outcome = run_with_kube(stack, kube, deployment(stack.image("team-a/api")))
    assert outcome.findings == [] and outcome.notes == []


def test_with_cluster_mode_an_unattached_registry_is_one_finding_not_two(stack):
    outcome = run_with_kube(stack, kube_cluster([], []), deployment(stack.image("team-a/api")))
    finding = only(outcome, "acr-not-attached")
    assert [f.cause for f in outcome.findings] == ["acr-not-attached"]
    assert finding.explanation.endswith("The pod has no pull secret either.")


def test_with_cluster_mode_an_untried_matching_secret_makes_it_a_warning(stack):
    kube = kube_cluster([pull_secret("shop", "acr-pull", {stack.host: BOB})], ["acr-pull"])
    with serve(kube, stack.tmp) as api:
        options = ClusterOptions(kubeconfig=str(api.kubeconfig))
        outcome = stack.run(deployment(stack.image("team-a/api")), cluster=options)
    finding = only(outcome, "acr-not-attached")
    assert finding.severity is Severity.WARNING
    assert "Pull secret acr-pull matches the registry but was not tried" in finding.explanation


# ---- the nodes' network view, end to end ------------------------------------------------------

VNET_AKS = network_id("rg-net", "virtualNetworks", "vnet-aks")


def private_registry_nodes_cannot_resolve(stack: Stack) -> None:
    """contoso has public access disabled and a private endpoint in the nodes' VNet, but its
    privatelink.azurecr.io zone is linked only to the hub VNet."""
    subnet = f"{VNET_AKS}/subnets/nodes"
    stack.arm.clusters[0]["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = subnet
    for pool in stack.arm.pools[CID.lower()]:
        pool["properties"]["vnetSubnetID"] = subnet
    hub = network_id("rg-hub", "virtualNetworks", "vnet-hub")
    reg = stack.arm.registries[0]
    reg["properties"]["publicNetworkAccess"] = "Disabled"
    pe = private_endpoint(
        "rg-acr", "pe-contoso", f"{VNET_AKS}/subnets/endpoints", ACR,
        {stack.host: "10.224.1.5", DATA_ENDPOINT: "10.224.1.6"},
    )  # fmt: skip
    endpoint_connection(reg, pe)
    zone = private_zone("rg-dns")
    stack.arm.add(
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")]),
        pe, zone, zone_link(zone, "link-hub", hub),
    )  # fmt: skip


def test_private_registry_the_nodes_cannot_resolve_is_one_dns_finding_per_use(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    private_registry_nodes_cannot_resolve(stack)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        data_url=lambda host: "https://no-such-host.invalid/v2/",  # the runner fails too
    )
    finding = only(outcome, "dns")
    assert [f.cause for f in outcome.findings] == ["dns"]
    assert finding.evidence.startswith(
        "from the nodes (per ARM): private DNS zone privatelink.azurecr.io (resource group"
        " rg-dns) is not linked to the nodes' VNet vnet-aks"
    )
    assert f"; from the runner: data endpoint {DATA_ENDPOINT}: lookup {DATA_ENDPOINT}" in (
        finding.evidence
    )
    assert finding.fix == (
        "Link zone privatelink.azurecr.io to the nodes' VNet: az network private-dns link vnet"
        " create -g rg-dns -z privatelink.azurecr.io -n vnet-aks-link -v"
        f" {VNET_AKS} -e false"
    )
    assert finding.explanation == (
        "contoso is reached through private endpoint pe-contoso, and zone"
        " privatelink.azurecr.io (resource group rg-dns) is not linked to the nodes' VNet"
        " vnet-aks, so the nodes do not get the endpoint's address for"
        f" {stack.host.split(':')[0]}."
    )
    text = FORMATS["text"](outcome, RenderOptions())
    assert "from the nodes (per ARM)" in text


def nodes_in_subnet_with_nsg(stack: Stack, rules: list[dict]) -> None:
    subnet = f"{VNET_AKS}/subnets/nodes"
    for pool in stack.arm.pools[CID.lower()]:
        pool["properties"]["vnetSubnetID"] = subnet
    nsg = network_security_group("rg-net", "nsg-aks", rules)
    stack.arm.add(
        nsg,
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")],
                        nsg=nsg["id"]),
    )  # fmt: skip


def test_nsg_dropping_https_to_the_internet_is_the_nodes_unreachable_finding(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    nodes_in_subnet_with_nsg(stack, [security_rule("deny-internet", 1000, "Deny", "Internet")])
    outcome = stack.run(deployment(stack.image("team-a/api")))
    finding = only(outcome, "unreachable")
    assert finding.evidence.startswith(
        "from the nodes (per ARM): network security group nsg-aks on the nodes' subnet nodes"
        " (VNet vnet-aks) drops outbound TCP 443 to"
    )
    assert finding.explanation.startswith(
        "Network security group nsg-aks on the nodes' subnet nodes drops outbound TCP 443 to"
    )
    assert finding.fix == (
        "Allow the nodes' HTTPS to the registry in nsg-aks, ahead of its rule deny-internet"
        " (Deny, priority 1000): az network nsg rule create -g rg-net --nsg-name nsg-aks -n"
        " allow-acr-https --priority 999 --direction Outbound --access Allow --protocol Tcp"
        " --destination-address-prefixes AzureContainerRegistry Storage.westeurope"
        " --destination-port-ranges 443"
    )


def test_nsg_with_the_default_rules_only_costs_two_network_reads(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    nodes_in_subnet_with_nsg(stack, [])
    before = len(stack.arm.requests)
    assert stack.run(deployment(stack.image("team-a/api"))).findings == []
    assert len(stack.arm.network_reads()) == 2, stack.arm.requests[before:]


def test_data_endpoint_only_the_runner_cannot_reach_is_a_note_not_an_error(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        data_url=lambda host: "https://no-such-host.invalid/v2/",
    )
    assert outcome.findings == []
    [note] = [n.message for n in outcome.notes]
    assert note.startswith(f"from the runner: data endpoint {DATA_ENDPOINT} of contoso: lookup")
    assert note.endswith(
        "from the nodes (per ARM): reachable through the registry's public endpoint"
    )


def test_a_cluster_without_private_networking_adds_at_most_three_arm_reads(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    baseline = ["managedclusters/aks-prod", "agentpools", "containerregistry", "roleassignments",
                "roledefinitions"]  # fmt: skip
    outcome = stack.run(deployment(stack.image("team-a/api")))
    assert outcome.findings == []
    added = [r for r in stack.arm.requests if not any(b in r.lower() for b in baseline)]
    assert len(added) <= 3, added


def test_every_path_goes_through_the_https_proxy(stack, monkeypatch):
    """Only the proxy can resolve the data endpoint (as on a CI runner behind a corporate proxy):
    its probe, the ARM reads and the registry reads all go through HTTPS_PROXY."""
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    port = stack.registry_port
    with serve_proxy({DATA_ENDPOINT: "127.0.0.1"}) as (url, proxy):
        monkeypatch.setenv("HTTPS_PROXY", url)
        outcome = stack.run(
            deployment(stack.image("team-a/api")),
            data_url=lambda host: f"https://{host}:{port}/v2/",
        )
    assert outcome.findings == []
    arm_port = stack.server.url.rsplit(":", 1)[1]
    assert {f"{DATA_ENDPOINT}:{port}", f"127.0.0.1:{arm_port}", f"127.0.0.1:{port}"} <= set(
        proxy.connects
    )


def test_when_runner_and_nodes_both_fail_the_use_gets_the_nodes_finding_only(stack):
    """A private registry the runner cannot resolve either: one dns finding, the nodes', with
    the runner's lookup in its evidence."""
    host = "contosopriv.azurecr.invalid"
    stack.arm.registries[0]["properties"]["loginServer"] = host
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    private_registry_nodes_cannot_resolve(stack)
    outcome = stack.run(deployment(f"{host}/team-a/api:1.0"), also_acr=(host,))
    assert [f.cause for f in outcome.findings] == ["dns"]
    [finding] = outcome.findings
    assert finding.evidence.startswith("from the nodes (per ARM): private DNS zone")
    assert f"from the runner: lookup {host}: no such host" in finding.evidence


def test_when_only_the_runner_fails_it_is_the_runners_network_not_the_manifests_host(stack):
    """ARM found the registry by its login server and the nodes' path to it: the name is right,
    so the fix is the runner's network, not "check the host name in file:line"."""
    host = "contosopriv.azurecr.invalid"
    stack.arm.registries[0]["properties"]["loginServer"] = host
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    private_registry_nodes_cannot_resolve(stack)
    zone = private_zone("rg-dns")
    stack.arm.add(zone_link(zone, "link-aks", VNET_AKS), a_record(zone, host, "10.224.1.5"))
    stack.arm.add(a_record(zone, "contoso.westeurope.data", "10.224.1.6"))
    finding = only(
        stack.run(deployment(f"{host}/team-a/api:1.0"), also_acr=(host,)), "runner-network"
    )
    assert finding.severity is Severity.ERROR
    assert "Check the host name" not in finding.fix and "--offline" in finding.fix
    assert finding.signature.startswith(f'pullgate could not check "{host}/team-a/api:1.0" from')


def test_when_only_the_runner_fails_its_finding_says_the_nodes_get_through(stack):
    host = "contosopriv.azurecr.invalid"
    stack.arm.registries[0]["properties"]["loginServer"] = host
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    private_registry_nodes_cannot_resolve(stack)
    zone = private_zone("rg-dns")
    stack.arm.add(
        zone_link(zone, "link-aks", VNET_AKS),
        a_record(zone, host, "10.224.1.5"),
        a_record(zone, "contoso.westeurope.data", "10.224.1.6"),
    )
    outcome = stack.run(deployment(f"{host}/team-a/api:1.0"), also_acr=(host,))
    finding = only(outcome, "runner-network")
    assert finding.evidence.startswith("from the runner: ")
    assert finding.evidence.endswith(
        "from the nodes (per ARM): reachable through private endpoint pe-contoso (in the nodes'"
        " VNet vnet-aks)"
    )


def test_with_cluster_mode_a_missing_secret_beside_an_unattached_registry_is_one_error(stack):
    """Either fix would let the pull through; the kubelet identity's is the error, the secret the
    ServiceAccount names but nobody created is a warning that says the pull fails anyway."""
    kube = kube_cluster([], ["acr-pull"])
    outcome = run_with_kube(stack, kube, deployment(stack.image("team-a/api")))
    by_cause = {f.cause: f for f in outcome.findings}
    assert sorted(by_cause) == ["acr-not-attached", "pull-secret-missing"]
    assert by_cause["acr-not-attached"].severity is Severity.ERROR
    missing = by_cause["pull-secret-missing"]
    assert missing.severity is Severity.WARNING
    assert "The pull fails for another reason (acr-not-attached)." in missing.evidence


def test_with_cluster_mode_a_refused_secret_is_a_warning_when_the_kubelet_identity_pulls(stack):
    """The kubelet presents the pull secrets' and the node identity's credentials in turn: the
    node identity gets in, so the refused secret does not fail the pull."""
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    revoked = pull_secret("shop", "acr-pull", {stack.host: ("bob", "revoked")})
    kube = kube_cluster([revoked], ["acr-pull"])
    outcome = run_with_kube(stack, kube, deployment(stack.image("team-a/api")))
    finding = only(outcome, "pull-secret-rejected")
    assert finding.severity is Severity.WARNING and outcome.errors == 0
    assert finding.evidence.endswith(
        "The kubelet then presents the node identity's credential, which pulls the image."
    )


def test_with_cluster_mode_a_refused_secret_beside_an_unattached_registry_is_one_error(stack):
    revoked = pull_secret("shop", "acr-pull", {stack.host: ("bob", "revoked")})
    kube = kube_cluster([revoked], ["acr-pull"])
    outcome = run_with_kube(stack, kube, deployment(stack.image("team-a/api")))
    by_cause = {f.cause: f for f in outcome.findings}
    assert sorted(by_cause) == ["acr-not-attached", "pull-secret-rejected"]
    assert by_cause["acr-not-attached"].severity is Severity.ERROR
    assert "Its pull secret acr-pull was refused too." in by_cause["acr-not-attached"].explanation
    rejected = by_cause["pull-secret-rejected"]
    assert rejected.severity is Severity.WARNING
    assert rejected.evidence.endswith("The pull fails for another reason (acr-not-attached).")


def test_with_cluster_mode_a_missing_namespace_stands_for_the_unattached_registry(stack):
    """No pod is made, so nothing pulls yet: the kubelet identity's missing pull is a warning
    that says it fails once the pod is made, not a second error."""
    manifest = deployment(stack.image("team-a/api")).replace("namespace: shop", "namespace: gone")
    outcome = run_with_kube(stack, kube_cluster([], []), manifest)
    by_cause = {f.cause: f for f in outcome.findings}
    assert sorted(by_cause) == ["acr-not-attached", "namespace-missing"]
    assert by_cause["namespace-missing"].severity is Severity.ERROR
    unattached = by_cause["acr-not-attached"]
    assert unattached.severity is Severity.WARNING
    assert unattached.explanation.endswith(
        "No pod is made yet (namespace-missing); once it is, this pull fails."
    )


def test_the_pipeline_assignee_type_follows_its_token(stack):
    """`az login` as a person gives a delegated token (`scp`): the role assignment in the
    pipeline fix is for a User; app, managed and workload identities are ServicePrincipals."""
    from arm_fake import _jwt

    assert stack.session().principal_type() == "ServicePrincipal"
    person = _jwt({"aud": "https://management.azure.com", "oid": PIPELINE_OID, "scp": "user"})
    session = ArmSession(CLOUDS["AzureCloud"], credential=StaticCredential(person))
    assert session.principal_type() == "User"


def test_an_arm_endpoint_that_stalls_ends_the_read_by_the_runs_deadline(tls_files):
    """The SDK's timeouts apply per socket operation and are fixed when a client is made: the
    run's deadline is held around each read instead."""
    import time

    from gate.azure.arm import AzureError

    arm = Arm(stall=30)
    with serve_arm(arm, tls_files) as server:
        session = arm_session(server, timeout=30, ends_at=time.monotonic() + 1.5)
        client = session.containerservice(SUB)
        started = time.monotonic()
        try:
            with pytest.raises(AzureError, match="deadline passed before Azure Resource Manager"):
                session.call("read the cluster", SUB, lambda: client.managed_clusters.get("a", "b"))
            assert time.monotonic() - started < 3
        finally:
            arm.released.set()
