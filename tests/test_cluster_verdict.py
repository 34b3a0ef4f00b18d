"""The kubelet verdict for a private image: which credential the nodes could present."""

import pytest

from gate.causes import Severity
from gate.checks import UseContext
from gate.cluster.inputs import InputIndex
from gate.cluster.pullsecrets import KubeletVerdict, PullSecretAccess, node_credential_provider
from gate.cluster.state import ClusterState
from gate.kubelet import PullAccess
from gate.manifests import ImageUse
from gate.reference import parse_reference
from gate.registry.resolve import Problem, Resolution


def private_image_context(image: str) -> UseContext:
    """A use pullgate itself could not read anonymously (401), in a namespace whose default
    ServiceAccount lists no pull secrets."""
    ref = parse_reference(image)
    use = ImageUse(
        image=image,
        kind="Deployment",
        namespace="shop",
        name="web",
        container="web",
        container_type="containers",
        pull_policy=None,
        file="app.yaml",
        line=7,
        problem=None,
    )
    refused = Problem("unauthorized", "401 Unauthorized", "UNAUTHORIZED: authentication required")
    return UseContext(
        use=use, pod_spec={}, ref=ref, ref_error=None, resolution=Resolution(ref, problem=refused)
    )


def verdict(image: str, node_identity: bool | None):
    state = ClusterState(captured={"ServiceAccount", "Secret", "Namespace"}, namespaces={"shop"})
    pull_secrets = PullSecretAccess(state, "default")
    ctx = private_image_context(image)
    pull_secrets.prepare(InputIndex(), [ctx])
    access = PullAccess()
    findings = list(pull_secrets.assess(ctx, access))
    access.node_identity = node_identity  # what an AKS-like source after the pull secrets says
    return findings + list(KubeletVerdict(pull_secrets).assess(ctx, access))


def test_no_secret_and_no_node_identity_is_an_error():
    [finding] = verdict("registry.example.com/shop/web:1.0", None)
    assert (finding.cause, finding.severity) == ("unauthorized", Severity.ERROR)
    assert "no node identity applies" in finding.explanation


def test_a_node_identity_that_pulls_settles_it():
    assert verdict("myacr.azurecr.io/shop/web:1.0", True) == []


def test_a_node_identity_that_cannot_pull_is_named():
    [finding] = verdict("myacr.azurecr.io/shop/web:1.0", False)
    assert finding.severity is Severity.ERROR
    assert "the node identity cannot pull it" in finding.explanation
    assert "--attach-acr myacr" in finding.fix


def test_an_unchecked_cloud_node_identity_makes_it_a_warning():
    [finding] = verdict("myacr.azurecr.io/shop/web:1.0", None)
    assert finding.severity is Severity.WARNING
    assert "unless the nodes' kubelet identity (AKS" in finding.explanation


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("myacr.azurecr.io", "AKS"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "EKS"),
        ("europe-docker.pkg.dev", "GKE"),
        ("gcr.io", "GKE"),
        ("ghcr.io", None),
        ("registry.example.com:5000", None),
    ],
)
def test_registries_nodes_usually_pull_with_their_own_identity(domain, provider):
    found = node_credential_provider(domain)
    assert (provider in found) if provider else found is None
