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
    OTHER_SUB,
    REPO_READER,
    SUB,
    TOKEN,
    AcrAuthFront,
    Arm,
    ArmServer,
    StaticCredential,
    agent_pool,
    cluster_id,
    managed_cluster,
    pull_condition,
    registry,
    registry_id,
    rg_id,
    serve_arm,
)
from conftest import require_binary
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
        return ArmSession(
            CLOUDS["AzureCloud"],
            credential=StaticCredential(),
            base_url=self.server.url,
            graph_url=self.server.url,
            verify=str(self.server.ca_file),
            timeout=5,
            retries=0,
        )

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
        data_port: int | None = None,
        cluster: object = None,
        **aks_options: object,
    ) -> Outcome:
        path = self.tmp / "app.yaml"
        path.write_text(manifest)
        options = CheckOptions(
            paths=[str(path)],
            timeout=5,
            deadline=60,
            ca_file=str(self.tls.ca_file),
            docker_config=str(self.tmp / "no-docker-config.json"),
        )
        return run_aks_check(
            options,
            AksOptions(aks, **{"subscription": SUB, **aks_options}),
            cluster,
            session=self.session(),
            is_registry=lambda host: host == self.host,
            resolve=self.resolver(dns if dns is not None else DNS),
            data_port=data_port or self.registry_port,
            exchange_url=self.front.exchange_url,
        )

    @property
    def registry_port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])


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


def test_data_endpoint_that_does_not_resolve_is_a_dns_error_naming_it(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    finding = only(stack.run(deployment(stack.image("team-a/api")), dns={}), "dns")
    assert f"lookup {DATA_ENDPOINT}: no such host" in finding.signature
    assert finding.evidence.startswith(f"data endpoint {DATA_ENDPOINT} of contoso:")
    assert f"nslookup {DATA_ENDPOINT}. For a private endpoint link the privatelink" in finding.fix


def test_data_endpoint_refusing_connections_is_unreachable(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    outcome = stack.run(
        deployment(stack.image("team-a/api")),
        dns={DATA_ENDPOINT: ["127.0.0.1"]},
        data_port=stack.closed_port,
    )
    finding = only(outcome, "unreachable")
    assert f"dial tcp 127.0.0.1:{stack.closed_port}: connect: connection refused" in (
        finding.evidence
    )


def test_reachable_data_endpoint_gives_no_finding(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    outcome = stack.run(deployment(stack.image("team-a/api")), dns={DATA_ENDPOINT: ["127.0.0.1"]})
    assert outcome.findings == []


def test_public_access_disabled_while_the_runner_is_on_the_public_path_warns(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["publicNetworkAccess"] = "Disabled"
    outcome = stack.run(deployment(stack.image("team-a/api")), dns={"127.0.0.1": ["20.50.2.1"]})
    finding = only(outcome, "registry-network-restricted")
    assert finding.explanation.startswith("publicNetworkAccess is Disabled; ")
    assert "20.50.2.1" in finding.explanation and "privatelink.azurecr.io" in finding.fix


def test_firewall_deny_seen_from_a_private_address_is_fine(stack):
    stack.arm.assign(ACR, ACR_PULL, KUBELET)
    stack.arm.registries[0]["properties"]["networkRuleSet"]["defaultAction"] = "Deny"
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
    [note] = [n.message for n in outcome.notes]
    assert note.startswith(f"pullgate's own reads of {stack.host}: ACR token exchange at")
    assert "answered 401" in note


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
