"""`pullgate check` in cluster mode, end to end: the real `kubernetes` client against the fake API
server (kube_fake.py) or a state file, the real registry, the CLI's own output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner
from conftest import ANONYMOUS_REPOS, HTPASSWD_USERS, TOKEN_USERS, require_binary
from kube_fake import (
    TOKEN,
    Cluster,
    docker_config_json,
    namespace,
    node,
    pull_secret,
    secret,
    serve,
    service_account,
    write_kubeconfig,
)
from registry_server import REGISTRY_BINARY, Registry, TokenServer, start_registry

from gate.cli import main

WINDOWS_TAINT = {"key": "os", "value": "windows", "effect": "NoSchedule"}
ALICE = ("alice", "s3cret-alice")


# ---- registries --------------------------------------------------------------------------------


@dataclass
class Registries:
    public_registry: Registry  # anonymous pulls
    private_registry: Registry  # htpasswd: alice only
    token_registry: Registry  # bearer tokens: bob pulls everything, anonymous only public/*

    @property
    def public(self) -> str:
        return self.public_registry.host

    @property
    def private(self) -> str:
        return self.private_registry.host

    @property
    def web(self) -> str:  # linux/amd64 only
        return f"{self.public}/shop/web:1.0"

    @property
    def multi(self) -> str:  # linux/amd64 + linux/arm64
        return f"{self.public}/shop/multi:2.0"

    @property
    def ledger(self) -> str:  # private, linux/amd64 + linux/arm64
        return f"{self.private}/finance/ledger:5.0"

    @property
    def hosts(self) -> list[str]:
        return [self.public, self.private]


@pytest.fixture(scope="module")
def registries(tmp_path_factory) -> Iterator[Registries]:
    """The real registry (registry_server.py), started and filled once for this module: the
    tests only read from it, and a push costs about half a second."""
    binary = require_binary(REGISTRY_BINARY)
    root = tmp_path_factory.mktemp("cluster-registries")
    token_server = TokenServer(
        root / "issuer", users=dict(TOKEN_USERS), anonymous_repos=list(ANONYMOUS_REPOS)
    ).start()
    started: list[Registry] = []
    try:
        for name, auth, extra in (
            ("public", "none", {}),
            ("private", "htpasswd", {"users": dict(HTPASSWD_USERS)}),
            ("token", "token", {"token_server": token_server}),
        ):
            started.append(start_registry(root / name, auth=auth, binary=binary, **extra))
        found = Registries(*started)
        found.public_registry.push_image("shop/web", "1.0")
        found.public_registry.push_index("shop/multi", "2.0", ["linux/amd64", "linux/arm64"])
        platforms = ["linux/amd64", "linux/arm64"]
        found.private_registry.push_index("finance/ledger", "5.0", platforms)
        found.token_registry.push_index("finance/vault", "1.0", platforms)
        found.token_registry.push_index("public/tool", "1.0", platforms)
        yield found
    finally:
        for registry in started:
            registry.stop()
        token_server.stop()


# ---- the cluster -------------------------------------------------------------------------------


def standard_cluster(private: str) -> Cluster:
    """Three pools (amd64, arm64, tainted Windows), namespaces default/shop/finance, the SA and
    secret traps the tests walk into. `private` is the host of the registry that needs alice."""
    return Cluster(
        nodes=[
            node("aks-amdpool-12345678-vmss000000", "amdpool"),
            node("aks-amdpool-12345678-vmss000001", "amdpool"),
            node("aks-armpool-87654321-vmss000000", "armpool", arch="arm64"),
            node(
                "akswin000000",
                "winpool",
                os_="windows",
                taints=[WINDOWS_TAINT],
                extra_labels={"node.kubernetes.io/windows-build": "10.0.20348"},
            ),
        ],
        namespaces=[namespace(n) for n in ("default", "kube-system", "shop", "finance")],
        service_accounts=[
            service_account("default", "default"),
            service_account("shop", "default", ["shop-pull"]),
            service_account("shop", "builder", ["ghcr-pull"]),
            service_account("finance", "default"),
        ],
        secrets=[
            pull_secret("default", "regcred", {private: ALICE}),
            pull_secret("shop", "shop-pull", {private: ALICE}),
            pull_secret("shop", "ghcr-pull", {"ghcr.io": ("bot", "ghcr-token-1")}),
            pull_secret("shop", "stale", {private: ("alice", "expired-password")}),
            secret(
                "shop",
                "legacy",
                "kubernetes.io/dockercfg",
                {".dockercfg": json.dumps({private: {"auth": b64(":".join(ALICE))}})},
            ),
            secret("shop", "opaque", "Opaque", {".dockerconfigjson": docker_config_json({})}),
            secret("shop", "garbled", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{"}),
        ],
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def kube(tmp_path, registries):
    cluster = standard_cluster(registries.private)
    with serve(cluster, tmp_path) as api:
        yield api


# ---- running the CLI ---------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def findings(self) -> list[dict]:
        return json.loads(self.stdout)["findings"]

    def causes(self, name: str | None = None) -> list[str]:
        return sorted(f["cause"] for f in self.findings if name is None or f["name"] == name)

    def only(self, cause: str) -> dict:
        [found] = [f for f in self.findings if f["cause"] == cause]
        return found


def pod(name: str, ns: str | None, image: str, **spec: object) -> dict:
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}], **spec},
            },
        },
    }


def run(
    tmp_path: Path, objects: list[dict], *args: str, registries=None, fmt="json", login=True
) -> Run:
    """The CLI on `objects`; the pipeline itself logged in to the private registry unless
    `login` is False (then pullgate can read public images only)."""
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(yaml.safe_dump_all(objects))
    docker_config = tmp_path / "docker-config.json"
    auths = {registries.private: {"auth": b64(":".join(ALICE))}} if login and registries else {}
    docker_config.write_text(json.dumps({"auths": auths}))
    flags = [f"--insecure-registry={h}" for h in (registries.hosts if registries else ())]
    flags.append(f"--docker-config={docker_config}")
    result = CliRunner().invoke(
        main, ["check", str(manifests), "--format", fmt, "--concurrency", "4", *flags, *args]
    )
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def live(kube, tmp_path, registries, objects, *args, fmt="json", login=True) -> Run:
    return run(
        tmp_path,
        objects,
        "--kubeconfig",
        str(kube.kubeconfig),
        *args,
        registries=registries,
        fmt=fmt,
        login=login,
    )


# ---- namespaces and ServiceAccounts ------------------------------------------------------------


def test_a_namespace_neither_in_the_cluster_nor_the_input_fails(kube, tmp_path, registries):
    result = live(kube, tmp_path, registries, [pod("web", "nowhere", registries.web)])
    assert result.code == 1
    found = result.only("namespace-missing")
    assert 'namespaces "nowhere" not found' in found["signature"]


def test_a_namespace_the_input_creates_counts_as_present(kube, tmp_path, registries):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}}
    result = live(kube, tmp_path, registries, [ns, pod("web", "fresh", registries.web)])
    assert "namespace-missing" not in result.causes()


def test_objects_without_namespace_go_to_the_context_namespace(kube, tmp_path, registries):
    write_kubeconfig(kube.kubeconfig, kube.url, kube.ca_pem, namespace="nowhere")
    result = live(kube, tmp_path, registries, [pod("web", None, registries.web)])
    assert "namespace-missing" in result.causes()
    flagged = live(kube, tmp_path, registries, [pod("web", None, registries.web)], "-n", "shop")
    assert "namespace-missing" not in flagged.causes()


def test_a_missing_service_account_fails(kube, tmp_path, registries):
    result = live(
        kube, tmp_path, registries, [pod("web", "shop", registries.web, serviceAccountName="ghost")]
    )
    assert result.only("service-account-missing")["evidence"] == (
        'serviceaccount "ghost" not found in namespace shop'
    )


# ---- pull secrets ------------------------------------------------------------------------------


def test_private_image_with_the_service_account_secret_passes(kube, tmp_path, registries):
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger)])
    assert result.causes() == []
    assert result.code == 0


def test_pod_pull_secrets_replace_the_service_accounts(kube, tmp_path, registries):
    """shop's default SA holds a matching secret; a pod listing its own is not merged with it."""
    spec = {"imagePullSecrets": [{"name": "ghcr-pull"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    found = result.only("pull-secret-no-match")
    assert found["evidence"].startswith(
        f"the pod lists pull secret ghcr-pull (keys for ghcr.io); none matches {registries.private}"
        " (the pod's list replaces ServiceAccount default's shop-pull)"
    )
    assert f"--docker-server={registries.private}" in found["fix"]
    assert "then add it to the pod's imagePullSecrets" in found["fix"]
    assert "<realm>" not in found["signature"]


def test_named_service_account_lends_its_secrets(kube, tmp_path, registries):
    spec = {"serviceAccountName": "builder"}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    assert result.causes() == ["pull-secret-no-match"]


def test_private_image_and_no_pull_secret_at_all_is_unauthorized(kube, tmp_path, registries):
    objects = [pod("ledger", "finance", registries.ledger)]
    text = live(kube, tmp_path, registries, objects, fmt="text").stdout
    assert "No credential the kubelet could present" in text
    result = live(kube, tmp_path, registries, objects)
    found = result.only("unauthorized")
    assert "kubectl create secret docker-registry" in found["fix"]
    assert "kubectl patch serviceaccount default -n finance" in found["fix"]


def test_secret_in_another_namespace_is_the_namespace_trap(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "regcred"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "finance", registries.ledger, **spec)])
    found = result.only("pull-secret-missing")
    assert found["severity"] == "error"
    assert found["evidence"].startswith(
        'secrets "regcred" not found in namespace finance (it exists in default). Without it the'
        f" kubelet pulls {registries.ledger} anonymously, and the registry refuses that:"
    )
    assert "kubectl get secret regcred -n default -o json" in found["fix"]
    assert "apply -n finance" in found["fix"]
    # One root cause, one finding: the anonymous 401 is its consequence, not a second error.
    assert result.causes() == ["pull-secret-missing"]


def test_missing_secret_for_a_public_image_is_only_a_warning(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "nope"}]}
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.multi, **spec)])
    assert result.only("pull-secret-missing")["severity"] == "warning"
    assert result.code == 0


def test_secret_the_input_creates_counts_as_present(kube, tmp_path, registries):
    made = pull_secret("finance", "ledger-pull", {registries.private: ALICE})
    spec = {"imagePullSecrets": [{"name": "ledger-pull"}]}
    result = live(
        kube, tmp_path, registries, [made, pod("ledger", "finance", registries.ledger, **spec)]
    )
    assert result.causes() == []


def test_external_secret_counts_as_present_with_a_note(kube, tmp_path, registries):
    external = {
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "metadata": {"name": "vault-pull", "namespace": "finance"},
        "spec": {"target": {"name": "ledger-pull"}},
    }
    spec = {"imagePullSecrets": [{"name": "ledger-pull"}]}
    result = live(
        kube, tmp_path, registries, [external, pod("ledger", "finance", registries.ledger, **spec)]
    )
    note = result.only("pull-secret-external")
    assert note["severity"] == "warning"
    assert "ExternalSecret finance/vault-pull" in note["signature"]
    assert result.code == 0


def test_dockercfg_secrets_are_read_like_the_kubelet(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "legacy"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    assert result.causes() == []


def test_secret_of_the_wrong_type_is_malformed(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "opaque"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    found = result.only("pull-secret-malformed")
    assert "type Opaque" in found["signature"]
    assert found["severity"] == "error"
    assert "the kubelet pulls" in found["evidence"] and "anonymously" in found["evidence"]
    assert result.causes() == ["pull-secret-malformed"]


def test_undecodable_secret_fails_even_a_public_image(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "garbled"}]}
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.multi, **spec)])
    found = result.only("pull-secret-malformed")
    assert found["severity"] == "error"
    assert "not valid JSON" in found["signature"]


# ---- one root cause, one finding ----------------------------------------------------------------


def errors_of(result: Run) -> list[str]:
    return sorted(f["cause"] for f in result.findings if f["severity"] == "error")


def test_a_service_account_whose_secret_is_missing_gives_one_error(kube, tmp_path, registries):
    kube.cluster.service_accounts.append(service_account("shop", "orphan", ["gone"]))
    spec = {"serviceAccountName": "orphan"}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    found = result.only("pull-secret-missing")
    assert result.causes() == ["pull-secret-missing"]
    assert found["severity"] == "error"
    assert "anonymously, and the registry refuses that" in found["evidence"]
    text = live(
        kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)], fmt="text"
    ).stdout
    assert "Secret gone, named by the ServiceAccount orphan, is not in namespace shop" in text
    assert "none readable" not in text and "no key of" not in text


def test_a_missing_secret_beside_a_matching_one_is_a_warning(kube, tmp_path, registries):
    """The kubelet logs the missing secret and pulls with the one that matches."""
    spec = {"imagePullSecrets": [{"name": "gone"}, {"name": "shop-pull"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    found = result.only("pull-secret-missing")
    assert found["severity"] == "warning"
    assert "pulls with pull secret shop-pull" in found["evidence"]
    assert result.code == 0


def test_a_missing_secret_beside_one_for_another_host_is_the_one_error(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "gone"}, {"name": "ghcr-pull"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    assert result.causes() == ["pull-secret-missing"]
    evidence = result.only("pull-secret-missing")["evidence"]
    assert f"pull secret ghcr-pull (keys for ghcr.io) has no key for {registries.private}" in (
        evidence
    )


def test_two_missing_secrets_give_one_error_and_one_warning(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "gone"}, {"name": "also-gone"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    severities = sorted((f["evidence"].split('"')[1], f["severity"]) for f in result.findings)
    assert severities == [("also-gone", "warning"), ("gone", "error")]


def test_a_secret_of_the_wrong_type_for_a_public_image_is_a_warning(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "opaque"}]}
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.multi, **spec)])
    found = result.only("pull-secret-malformed")
    assert found["severity"] == "warning"
    assert "The image is public" in found["evidence"]
    assert result.code == 0


def test_a_missing_namespace_stands_for_its_missing_pull_secrets(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "regcred"}]}
    objects = [pod("ledger", "nowhere", registries.ledger, **spec)]
    result = live(kube, tmp_path, registries, objects, login=False)
    assert result.causes() == ["namespace-missing"]


def test_a_missing_service_account_stands_for_the_pull(kube, tmp_path, registries):
    spec = {"serviceAccountName": "ghost"}
    objects = [pod("ledger", "shop", registries.ledger, **spec)]
    result = live(kube, tmp_path, registries, objects, login=False)
    assert result.causes() == ["service-account-missing"]


# ---- --verify-credentials ----------------------------------------------------------------------


def test_verify_credentials_reports_a_rejected_secret(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "stale"}]}
    objects = [pod("ledger", "shop", registries.ledger, **spec)]
    assert live(kube, tmp_path, registries, objects).causes() == []  # untried: assumed to work
    result = live(kube, tmp_path, registries, objects, "--verify-credentials")
    found = result.only("pull-secret-rejected")
    assert "secret stale (key" in found["evidence"] and "user alice" in found["evidence"]
    assert "UNAUTHORIZED" in found["evidence"]


def test_a_rejected_secret_beside_an_undecodable_one_is_a_warning(kube, tmp_path, registries):
    """The kubelet cannot build its keyring from an undecodable secret and fails the pull before
    it presents any credential: that secret is the error."""
    spec = {"imagePullSecrets": [{"name": "garbled"}, {"name": "stale"}]}
    objects = [pod("ledger", "shop", registries.ledger, **spec)]
    result = live(kube, tmp_path, registries, objects, "--verify-credentials")
    assert errors_of(result) == ["pull-secret-malformed"]
    rejected = result.only("pull-secret-rejected")
    assert rejected["severity"] == "warning"
    assert rejected["evidence"].endswith(
        "The pull fails for another reason (pull-secret-malformed, secret garbled)."
    )


def test_a_rejected_secrets_fix_names_its_user(kube, tmp_path, registries):
    spec = {"imagePullSecrets": [{"name": "stale"}]}
    objects = [pod("ledger", "shop", registries.ledger, **spec)]
    result = live(kube, tmp_path, registries, objects, "--verify-credentials")
    fix = result.only("pull-secret-rejected")["fix"]
    assert "--docker-username=alice --docker-password=<new token>" in fix


def test_verify_credentials_accepts_a_working_secret(kube, tmp_path, registries):
    result = live(
        kube,
        tmp_path,
        registries,
        [pod("ledger", "shop", registries.ledger)],
        "--verify-credentials",
    )
    assert result.causes() == []


def test_a_working_secret_shows_a_tag_pullgate_could_not_read_is_missing(
    kube, tmp_path, registries
):
    missing = registries.ledger.rsplit(":", 1)[0] + ":9.9"
    objects = [pod("ledger", "shop", missing)]
    unverified = live(kube, tmp_path, registries, objects, login=False)
    assert unverified.causes() == ["unauthorized"]
    text = live(kube, tmp_path, registries, objects, login=False, fmt="text").stdout
    assert "would present pull secret shop-pull, which pullgate did not try" in text
    assert unverified.only("unauthorized")["fix"].startswith(
        "Let pullgate try the pull secret the kubelet would present: run with --verify-credentials"
    )
    verified = live(kube, tmp_path, registries, objects, "--verify-credentials", login=False)
    assert verified.causes() == ["tag-not-found"]


def token_flags(registries: Registries) -> tuple[str, ...]:
    """--verify-credentials, and the token registry and its issuer named insecure (plain http)."""
    issuer = urlsplit(registries.token_registry.token_server.realm).netloc
    return (
        "--verify-credentials",
        f"--insecure-registry={registries.token_registry.host}",
        f"--insecure-registry={issuer}",
    )


def test_verify_credentials_against_a_token_registry(kube, tmp_path, registries):
    host = registries.token_registry.host
    kube.cluster.secrets += [
        pull_secret("shop", "tok-good", {host: ("bob", "s3cret-bob")}),
        pull_secret("shop", "tok-bad", {host: ("bob", "revoked")}),
    ]

    def check(secret_name: str) -> Run:
        spec = {"imagePullSecrets": [{"name": secret_name}]}
        objects = [pod("vault", "shop", f"{host}/finance/vault:1.0", **spec)]
        return live(kube, tmp_path, registries, objects, *token_flags(registries))

    assert check("tok-good").causes() == []
    refused = check("tok-bad")
    assert refused.causes() == ["pull-secret-rejected"]
    assert "secret tok-bad" in refused.only("pull-secret-rejected")["evidence"]


def test_a_rejected_secret_fails_even_a_public_image(kube, tmp_path, registries):
    """The kubelet presents every matching credential and does not fall back to anonymous."""
    host = registries.token_registry.host
    kube.cluster.secrets.append(pull_secret("shop", "tok-bad", {host: ("bob", "revoked")}))
    spec = {"imagePullSecrets": [{"name": "tok-bad"}]}
    objects = [pod("tool", "shop", f"{host}/public/tool:1.0", **spec)]
    result = live(kube, tmp_path, registries, objects, *token_flags(registries))
    assert result.causes() == ["pull-secret-rejected"]


# ---- node platforms and scheduling -------------------------------------------------------------


def test_node_pools_give_the_platforms_without_platform_flags(kube, tmp_path, registries):
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.web)])
    found = result.only("platform-mismatch")
    assert found["evidence"] == "image has linux/amd64; nodes need linux/arm64 (pools armpool)"


def test_a_pod_kept_off_the_arm_pool_passes(kube, tmp_path, registries):
    spec = {"nodeSelector": {"kubernetes.io/arch": "amd64"}}
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.web, **spec)])
    assert result.causes() == []


def test_platform_flag_overrides_the_nodes(kube, tmp_path, registries):
    result = live(
        kube,
        tmp_path,
        registries,
        [pod("web", "shop", registries.web)],
        "--platform",
        "linux/amd64",
    )
    assert "platform-mismatch" not in result.causes()


def platform_config(tmp_path: Path, platforms: list[str]) -> str:
    path = tmp_path / "pullgate.yaml"
    path.write_text(yaml.safe_dump({"platforms": platforms}))
    return str(path)


def test_config_platforms_do_not_override_the_nodes(kube, tmp_path, registries):
    """The config names arm64 only; the pod is kept on the amd64 pool, which is all it needs."""
    config = platform_config(tmp_path, ["linux/arm64"])
    spec = {"nodeSelector": {"kubernetes.io/arch": "amd64"}}
    objects = [pod("web", "shop", registries.web, **spec)]
    result = live(kube, tmp_path, registries, objects, "--config", config)
    assert result.causes() == []
    platforms = json.loads(result.stdout)["platforms"]
    assert platforms["source"] == "cluster"
    assert platforms["from"] == f"nodes of {kube.url}"
    assert platforms["values"] == ["linux/amd64", "linux/arm64", "windows/amd64:10.0.20348"]
    text = live(kube, tmp_path, registries, objects, "--config", config, fmt="text").stdout
    assert "platforms: linux/amd64, linux/arm64, windows/amd64:10.0.20348 from the cluster" in text


def test_a_daemonset_on_a_tainted_amd64_pool_is_not_judged_by_the_config(tmp_path, registries):
    """A DaemonSet tolerating its only amd64 pool's taint runs there; the config's arm64 is not
    where it lands."""
    tainted = {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}
    nodes = [
        node("infra-0", "infrapool", taints=[tainted]),
        node("arm-0", "armpool", arch="arm64", taints=[tainted | {"value": "arm"}]),
    ]
    state = tmp_path / "nodes.yaml"
    state.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": nodes}))
    daemonset = pod(
        "agent",
        "shop",
        registries.web,
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}
        ],
    )
    daemonset["kind"] = "DaemonSet"
    config = platform_config(tmp_path, ["linux/arm64"])
    args = ("--cluster-state", str(state), "--config", config)
    result = run(tmp_path, [daemonset], *args, registries=registries)
    assert result.causes() == []
    assert json.loads(result.stdout)["platforms"] == {
        "source": "cluster",
        "from": f"nodes in {state}",
        "values": ["linux/amd64", "linux/arm64"],
    }


def test_platform_flag_beats_the_nodes_and_the_config(kube, tmp_path, registries):
    config = platform_config(tmp_path, ["linux/amd64"])
    objects = [pod("web", "shop", registries.web)]
    args = ("--config", config, "--platform", "linux/arm64")
    result = live(kube, tmp_path, registries, objects, *args)
    assert result.only("platform-mismatch")
    assert json.loads(result.stdout)["platforms"] == {
        "source": "--platform",
        "from": None,
        "values": ["linux/arm64"],
    }


def test_without_a_cluster_the_config_platforms_apply(tmp_path, registries):
    config = platform_config(tmp_path, ["linux/arm64"])
    result = run(
        tmp_path, [pod("web", "shop", registries.web)], "--config", config, registries=registries
    )
    assert result.only("platform-mismatch")
    assert json.loads(result.stdout)["platforms"] == {
        "source": "config",
        "from": config,
        "values": ["linux/arm64"],
    }


def test_a_pod_no_pool_takes_is_unschedulable_not_a_pull_failure(kube, tmp_path, registries):
    spec = {"nodeSelector": {"kubernetes.io/os": "windows"}}
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.multi, **spec)])
    found = result.only("unschedulable")
    assert found["severity"] == "warning"
    assert found["signature"].startswith("0/4 nodes are available: 3 node(s) didn't match")
    assert "1 node(s) had untolerated taint {os: windows}" in found["signature"]
    assert result.causes() == ["unschedulable"]


def test_a_daemonset_no_node_takes_runs_nowhere_rather_than_pending(tmp_path, registries):
    """The DaemonSet controller makes no pod for a node the pod would not fit: no
    FailedScheduling event, a DaemonSet with zero scheduled pods."""
    state = tmp_path / "nodes.yaml"
    state.write_text(yaml.safe_dump({"kind": "List", "items": [node("amd-0", "amdpool")]}))
    daemonset = pod("agent", "shop", registries.web, nodeSelector={"disk": "ssd"})
    daemonset["kind"] = "DaemonSet"
    result = run(tmp_path, [daemonset], "--cluster-state", str(state), registries=registries)
    found = result.only("unschedulable")
    assert found["severity"] == "warning" and result.code == 0
    assert (
        found["signature"] == "DaemonSet agent: desiredNumberScheduled 0, currentNumberScheduled 0."
    )
    assert "nodes are available" not in found["signature"]


def test_a_daemonset_also_lands_on_cordoned_nodes(tmp_path, registries):
    cluster = standard_cluster(registries.private)
    cluster.nodes[2] = node(
        "aks-armpool-87654321-vmss000000", "armpool", arch="arm64", unschedulable=True
    )
    deployment = pod("agent", "shop", registries.web)
    daemonset = pod("agent", "shop", registries.web) | {"kind": "DaemonSet"}
    with serve(cluster, tmp_path) as api:
        assert live(api, tmp_path, registries, [deployment]).causes() == []
        found = live(api, tmp_path, registries, [daemonset]).only("platform-mismatch")
    assert found["evidence"] == "image has linux/amd64; nodes need linux/arm64 (pools armpool)"


def test_windows_pool_platform_needs_the_nodes_build(kube, tmp_path, registries):
    spec = {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Exists"}],
    }
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.multi, **spec)])
    found = result.only("platform-mismatch")
    assert "windows/amd64:10.0.20348 (pools winpool)" in found["evidence"]


# ---- RBAC and API failures ---------------------------------------------------------------------


def test_forbidden_secret_read_is_a_finding_naming_the_permission(kube, tmp_path, registries):
    kube.cluster.forbidden.add(("get", "secrets", "shop"))
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger)])
    found = result.only("cluster-forbidden")
    assert found["severity"] == "warning"
    assert 'cannot get resource "secrets"' in found["evidence"]
    assert "kubectl auth can-i get secrets -n shop" in found["fix"]


def test_forbidden_node_list_is_a_one_line_error(kube, tmp_path, registries):
    kube.cluster.forbidden.add(("list", "nodes", None))
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.web)])
    assert result.code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "refused list nodes" in line and "grant list on nodes" in line


def test_rejected_api_credentials_are_a_one_line_error(kube, tmp_path, registries):
    write_kubeconfig(kube.kubeconfig, kube.url, kube.ca_pem, token="wrong-token")
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.web)])
    assert result.code == 2
    assert "rejected pullgate's credentials (401)" in result.stderr
    assert "wrong-token" not in result.stderr


def test_unreachable_api_fails_fast(tmp_path, registries):
    config = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:9", b"")
    started = time.monotonic()
    result = run(tmp_path, [pod("web", "shop", registries.web)], "--kubeconfig", str(config))
    assert result.code == 2
    assert "cannot" in result.stderr
    assert time.monotonic() - started < 5


def test_kubeconfig_that_does_not_exist_is_a_usage_error(tmp_path, registries):
    result = run(
        tmp_path, [pod("web", "shop", registries.web)], "--kubeconfig", str(tmp_path / "no")
    )
    assert result.code == 2
    assert result.stderr == f"pullgate: --kubeconfig {tmp_path / 'no'}: no such file\n"


# ---- state files and snapshots -----------------------------------------------------------------


def test_snapshot_then_check_offline_finds_the_same_secret_traps(kube, tmp_path, registries):
    state = tmp_path / "state.yaml"
    snap = CliRunner().invoke(
        main, ["snapshot", "--kubeconfig", str(kube.kubeconfig), "-o", str(state)]
    )
    assert snap.exit_code == 0, snap.output
    objects = [
        pod("a", "finance", registries.ledger, imagePullSecrets=[{"name": "regcred"}]),
        pod("b", "shop", registries.ledger, imagePullSecrets=[{"name": "garbled"}]),
        pod("c", "nowhere", registries.web),
        pod("d", "shop", registries.web, serviceAccountName="ghost"),
    ]
    live_run = live(kube, tmp_path, registries, objects)
    offline = run(tmp_path, objects, "--offline", "--cluster-state", str(state))
    traps = {
        "pull-secret-missing",
        "pull-secret-malformed",
        "namespace-missing",
        "service-account-missing",
    }
    assert {c for c in live_run.causes() if c in traps} == traps
    assert {c for c in offline.causes() if c in traps} == traps


def test_state_file_from_kubectl_output_drives_the_platform_check(tmp_path, registries):
    cluster = standard_cluster(registries.private)
    state = tmp_path / "kubectl.yaml"
    state.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": cluster.nodes}))
    result = run(
        tmp_path,
        [pod("web", "shop", registries.web)],
        "--cluster-state",
        str(state),
        registries=registries,
    )
    assert result.only("platform-mismatch")["evidence"].endswith("(pools armpool)")


def test_no_secret_value_appears_in_any_output(kube, tmp_path, registries):
    secrets_text = {"s3cret-alice", "expired-password", "ghcr-token-1"}
    secrets_text |= {b64(f"alice:{p}") for p in ("s3cret-alice", "expired-password")}
    secrets_text |= {o["data"][k] for o in kube.cluster.secrets for k in o["data"]}
    objects = [
        pod("a", "shop", registries.ledger, imagePullSecrets=[{"name": "stale"}]),
        pod(
            "b",
            "shop",
            registries.ledger,
            imagePullSecrets=[{"name": "garbled"}, {"name": "opaque"}],
        ),
        pod("c", "finance", registries.ledger, imagePullSecrets=[{"name": "regcred"}]),
        pull_secret("finance", "inline", {registries.private: ("alice", "expired-password")}),
        pod("d", "finance", registries.ledger, imagePullSecrets=[{"name": "inline"}]),
    ]
    outputs = []
    for fmt in ("json", "text"):
        result = live(kube, tmp_path, registries, objects, "--verify-credentials", fmt=fmt)
        assert result.code == 1
        outputs += [result.stdout, result.stderr]
    snap = CliRunner().invoke(main, ["snapshot", "--kubeconfig", str(kube.kubeconfig)])
    outputs += [snap.stdout, snap.stderr]
    for text in outputs:
        for value in secrets_text:
            assert value not in text


# ---- cluster mode is opt-in --------------------------------------------------------------------


def test_offline_with_a_live_cluster_is_a_usage_error(kube, tmp_path, registries):
    result = live(kube, tmp_path, registries, [pod("web", "shop", registries.web)], "--offline")
    assert result.code == 2
    assert "--cluster-state" in result.stderr


def test_cluster_flags_without_a_cluster_source_are_usage_errors(tmp_path, registries):
    result = run(tmp_path, [pod("web", "shop", registries.web)], "--verify-credentials")
    assert result.code == 2


def test_without_a_cluster_source_the_kubernetes_client_is_never_imported(tmp_path):
    manifests = tmp_path / "m.yaml"
    manifests.write_text(yaml.safe_dump(pod("web", "shop", "nginx:1.27")))
    code = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        from gate.cli import main
        CliRunner().invoke(main, ["check", "--offline", {str(manifests)!r}])
        print("kubernetes" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert done.stdout.strip() == "False", done.stderr


# ---- the kubelet verdict and the registry questions --------------------------------------------


class NodeIdentity:
    """An access source like AKS's kubelet identity, placed where AKS's goes."""

    def __init__(self, can_pull: bool) -> None:
        self.can_pull = can_pull

    def assess(self, ctx, access):
        access.node_identity = self.can_pull
        return []


def run_with_identity(kube, tmp_path, registries, can_pull: bool):
    from gate.cluster.mode import run_cluster_check
    from gate.cluster.options import ClusterOptions
    from gate.runner import CheckOptions

    manifests = tmp_path / "ledger.yaml"
    manifests.write_text(yaml.safe_dump(pod("ledger", "finance", registries.ledger)))
    docker_config = tmp_path / "pipeline.json"
    docker_config.write_text(
        json.dumps({"auths": {registries.private: {"auth": b64(":".join(ALICE))}}})
    )
    options = CheckOptions(
        paths=[str(manifests)],
        insecure=frozenset(registries.hosts),
        docker_config=str(docker_config),
    )
    cluster = ClusterOptions(kubeconfig=str(kube.kubeconfig))
    return run_cluster_check(options, cluster, node_identity=[NodeIdentity(can_pull)])


def test_a_node_identity_that_can_pull_needs_no_pull_secret(kube, tmp_path, registries):
    outcome = run_with_identity(kube, tmp_path, registries, can_pull=True)
    assert [f.cause for f in outcome.findings] == []


def test_without_secret_or_node_identity_the_verdict_says_both_are_missing(
    kube, tmp_path, registries
):
    outcome = run_with_identity(kube, tmp_path, registries, can_pull=False)
    [finding] = outcome.findings
    assert finding.cause == "unauthorized"
    assert "No credential the kubelet could present" in finding.explanation
    assert "the node identity cannot pull it" in finding.explanation


def test_anonymous_access_is_asked_once_per_repository(registries):
    from gate.cluster.probe import RegistryProbe
    from gate.reference import parse_reference
    from gate.registry.client import ClientOptions

    token_registry = registries.token_registry
    hosts = frozenset([*registries.hosts, token_registry.host])
    ledger = parse_reference(registries.ledger)
    ledger_6 = parse_reference(registries.ledger.rsplit(":", 1)[0] + ":6.0")
    vault = parse_reference(f"{token_registry.host}/finance/vault:1.0")
    web = parse_reference(registries.web)
    asked = (registries.public_registry, registries.private_registry, token_registry)
    for registry in asked:
        registry.clear_requests()
    issued_before = len(token_registry.token_server.requests_for("repository:finance/vault:pull"))
    probe = RegistryProbe(ClientOptions(insecure=hosts))
    try:
        probe.run([ledger, ledger_6, ledger, vault, web], [])
        answers = [probe.anonymous_ok(r) for r in (ledger, ledger_6, vault, web)]
    finally:
        probe.close()
    assert answers == [False, False, False, True]
    assert probe.questions == 3

    def seen(registry):
        return [(q["method"], q["path"], q["status"]) for q in registry.requests()]

    assert seen(registries.private_registry) == [("HEAD", "/v2/finance/ledger/manifests/5.0", 401)]
    assert seen(registries.public_registry) == [("HEAD", "/v2/shop/web/manifests/1.0", 200)]
    # Token flow: the 401, one anonymous token for the scope (granting nothing), the 401 again.
    assert seen(token_registry) == [("HEAD", "/v2/finance/vault/manifests/1.0", 401)] * 2
    issued = token_registry.token_server.requests_for("repository:finance/vault:pull")
    assert len(issued) - issued_before == 1


def test_a_docker_hub_secret_lent_by_the_service_account_avoids_the_anonymous_limit(tmp_path):
    state = tmp_path / "state.yaml"
    hub = pull_secret("shop", "hub", {"https://index.docker.io/v1/": ("me", "hub-token")})
    items = [
        namespace("shop"),
        namespace("finance"),
        service_account("shop", "default", ["hub"]),
        service_account("finance", "default"),
        hub,
    ]
    state.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    objects = [pod("a", "shop", "nginx:1.27"), pod("b", "finance", "nginx:1.27")]
    result = run(tmp_path, objects, "--offline", "--cluster-state", str(state))
    assert [(f["name"], f["cause"]) for f in result.findings] == [("b", "rate-limit-risk")]


def test_exec_credential_plugins_work_like_kubelogin(kube, tmp_path, registries):
    plugin = tmp_path / "kubelogin.py"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": TOKEN},
    }
    plugin.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    kube.kubeconfig.write_text(yaml.safe_dump(config))
    result = live(kube, tmp_path, registries, [pod("web", "nowhere", registries.web)])
    assert "namespace-missing" in result.causes()


def test_node_lists_are_read_page_by_page(kube, monkeypatch):
    from gate.cluster import api

    monkeypatch.setattr(api, "PAGE", 3)
    cluster = api.LiveCluster(str(kube.kubeconfig))
    try:
        assert len(cluster.nodes()) == 4
    finally:
        cluster.close()
    assert kube.cluster.requests.count("/api/v1/nodes") == 2


def test_a_listing_stops_at_its_byte_cap_across_pages(kube, monkeypatch):
    from gate.cluster import api
    from gate.cluster.state import ClusterError

    monkeypatch.setattr(api, "PAGE", 3)
    cluster = api.LiveCluster(str(kube.kubeconfig))
    first = cluster._fetch("/api/v1/nodes", ("list", "nodes", None), [("limit", 3)])[1]
    monkeypatch.setattr(api, "MAX_LISTING_BYTES", first)
    try:
        with pytest.raises(ClusterError, match="listed more than .* of nodes; not read"):
            cluster.nodes()
    finally:
        cluster.close()


def test_concurrent_first_requests_to_a_plain_http_registry_all_fall_back(registries):
    """Cluster mode asks a fresh client several questions at once; none may lose the race to
    learn that an insecure registry speaks plain HTTP."""
    from concurrent.futures import ThreadPoolExecutor

    from gate.registry.client import ClientOptions, RegistryClient

    def first_contact(client: RegistryClient) -> list[int]:
        with ThreadPoolExecutor(4) as pool:
            return list(
                pool.map(lambda _: client.send("GET", registries.public, "/v2/").status, range(4))
            )

    statuses = []
    for _ in range(10):
        client = RegistryClient(ClientOptions(insecure=frozenset(registries.hosts)))
        statuses += first_contact(client)
        client.close()
    assert statuses == [200] * 40


def test_a_dockercfg_secret_holding_an_auths_document_is_malformed(kube, tmp_path, registries):
    """The kubelet reads `auths` as a registry name: no key for any registry, so the pull goes
    out anonymously; the fix is the secret's format, not a new secret."""
    config = docker_config_json({registries.private: ALICE})
    kube.cluster.secrets.append(
        secret("shop", "mixed", "kubernetes.io/dockercfg", {".dockercfg": config})
    )
    spec = {"imagePullSecrets": [{"name": "mixed"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    assert result.causes() == ["pull-secret-malformed"]
    found = result.only("pull-secret-malformed")
    assert "holds an 'auths' object (the .dockerconfigjson format)" in found["evidence"]
    assert "type kubernetes.io/dockerconfigjson" in found["fix"]


def test_a_dockerconfigjson_secret_in_the_flat_dockercfg_format_is_malformed(
    kube, tmp_path, registries
):
    flat = json.dumps({registries.private: {"auth": b64(":".join(ALICE))}})
    kube.cluster.secrets.append(
        secret("shop", "flat", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": flat})
    )
    spec = {"imagePullSecrets": [{"name": "flat"}]}
    result = live(kube, tmp_path, registries, [pod("ledger", "shop", registries.ledger, **spec)])
    assert result.causes() == ["pull-secret-malformed"]
    assert (
        "has no 'auths' object (top-level keys: "
        in result.only("pull-secret-malformed")["evidence"]
    )
    assert "; the .dockercfg format)" in result.only("pull-secret-malformed")["evidence"]
