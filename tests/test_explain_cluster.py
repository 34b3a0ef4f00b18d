"""`pullgate explain --kubeconfig`: the pods failing to pull now, read with the real `kubernetes`
client from the fake API (kube_fake.py), explained, re-checked against the real registry as each
pod's kubelet would pull, and grouped by shared root cause."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import HTPASSWD_USERS, require_binary
from kube_fake import Cluster, event, namespace, node, pod, pull_secret, serve, service_account
from registry_server import REGISTRY_BINARY, Registry, start_registry

from gate.cli import main
from gate.cluster.failing import fleet_report

ALICE = ("alice", HTPASSWD_USERS["alice"])
NOW = datetime.now(timezone.utc)


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ctrd(image: str, detail: str, code: str = "Unknown") -> str:
    """A kubelet Failed event message with containerd's words."""
    return (
        f'Failed to pull image "{image}": rpc error: code = {code} desc = failed to pull and'
        f' unpack image "{image}": failed to resolve reference "{image}": {detail}'
    )


@dataclass
class Registries:
    public: Registry  # anonymous pulls
    private: Registry  # htpasswd: alice only

    @property
    def web(self) -> str:  # pushed: exists now
        return f"{self.public.host}/shop/web:1.0"

    @property
    def ghost(self) -> str:  # never pushed
        return f"{self.public.host}/shop/ghost:9.9"

    @property
    def ledger(self) -> str:
        return f"{self.private.host}/finance/ledger:5.0"


@pytest.fixture(scope="module")
def registries(tmp_path_factory) -> Iterator[Registries]:
    binary = require_binary(REGISTRY_BINARY)
    root = tmp_path_factory.mktemp("explain-registries")
    public = start_registry(root / "public", binary=binary)
    try:
        private = start_registry(
            root / "private", auth="htpasswd", users=dict(HTPASSWD_USERS), binary=binary
        )
    except BaseException:
        public.stop()
        raise
    try:
        public.push_image("shop/web", "1.0")
        public.push_index("shop/big", "3.0", ["linux/amd64", "linux/arm64"])
        private.push_index("finance/ledger", "5.0", ["linux/amd64", "linux/arm64"])
        yield Registries(public, private)
    finally:
        public.stop()
        private.stop()


def fleet(regs: Registries) -> Cluster:
    """Namespaces shop and finance: a missing tag (since pushed) on two nodes, a tag that still
    does not exist, a private image with and without its pull secret, a pull still running, and
    healthy pods; namespace edge: one node that fails for two registries that pull elsewhere."""
    web, ghost, ledger = regs.web, regs.ghost, regs.ledger
    not_found = ctrd(web, f"{web}: not found", "NotFound")
    refused = ctrd(
        ledger,
        f"unexpected status from HEAD request to https://{regs.private.host}/v2/finance/ledger"
        "/manifests/5.0: 401 Unauthorized",
    )
    big = f"{regs.public.host}/shop/big:3.0"
    return Cluster(
        nodes=[
            node("amd-0", "amdpool"),
            node("amd-1", "amdpool"),
            node("arm-0", "armpool", arch="arm64"),
            node("edge-0", "edgepool"),
        ],
        namespaces=[namespace(n) for n in ("default", "shop", "finance", "edge", "arm", "odd")],
        service_accounts=[
            service_account(n, "default") for n in ("shop", "finance", "edge", "arm", "odd")
        ],
        secrets=[pull_secret("finance", "regcred", {regs.private.host: ALICE})],
        pods=[
            pod("shop", "web-a", "amd-0", {"web": web}, {"web": ("ErrImagePull", "")}),
            pod("shop", "web-b", "amd-1", {"web": web}, {"web": ("ImagePullBackOff", "")}),
            pod("shop", "web-ok", "arm-0", {"web": f"{regs.public.host}/shop/big:3.0"}),
            pod(
                "shop",
                "ghost",
                "amd-1",
                {"app": ghost},
                {"app": ("ImagePullBackOff", f'Back-off pulling image "{ghost}"')},
            ),
            pod("shop", "big-1", "arm-0", {"big": big}, {"big": ("ContainerCreating", "")}),
            pod(
                "finance",
                "ledger",
                "amd-0",
                {"ledger": ledger},
                {"ledger": ("ImagePullBackOff", "")},
                pull_secrets=["regcred"],
            ),
            pod(
                "finance",
                "ledger-bare",
                "arm-0",
                {"ledger": ledger},
                {"ledger": ("ErrImagePull", "")},
            ),
            pod("finance", "ledger-ok", "amd-1", {"ledger": ledger}, pull_secrets=["regcred"]),
            pod("edge", "cache", "edge-0", {"c": web}, {"c": ("ErrImagePull", "")}),
            pod("arm", "web", "arm-0", {"web": web}, {"web": ("ErrImagePull", "")}),
            pod(
                "odd",
                "upper",
                "amd-1",
                {"app": "Registry.Example/Team/App:1"},
                {
                    "app": (
                        "InvalidImageName",
                        'Failed to apply default image tag "Registry.Example/Team/App:1": couldn\'t'
                        ' parse image reference "Registry.Example/Team/App:1": invalid reference'
                        " format: repository name must be lowercase",
                    )
                },
            ),
            pod(
                "odd",
                "local",
                "amd-1",
                {"app": web},
                {
                    "app": (
                        "ErrImageNeverPull",
                        f'Container image "{web}" is not present with pull policy of Never',
                    )
                },
                pull_policy="Never",
            ),
            pod("edge", "books", "edge-0", {"b": ledger}, {"b": ("ErrImagePull", "")}),
        ],
        events=[
            event(
                "arm",
                "web",
                "Failed",
                ctrd(web, "", "NotFound").replace(
                    f': failed to resolve reference "{web}": ',
                    ": no match for platform in manifest: not found",
                ),
                ago(2),
                "arm-0",
                "web",
            ),
            event(
                "shop",
                "web-a",
                "Pulling",
                f'Pulling image "{web}"',
                ago(9),
                "amd-0",
                "web",
                type_="Normal",
            ),
            event("shop", "web-a", "Failed", not_found, ago(8), "amd-0", "web", 4),
            event("shop", "web-a", "Failed", "Error: ErrImagePull", ago(8), "amd-0", "web", 4),
            event("shop", "web-b", "Failed", not_found, ago(7), "amd-1", "web", 3),
            event(
                "shop",
                "web-b",
                "BackOff",
                f'Back-off pulling image "{web}"',
                ago(6),
                "amd-1",
                "web",
                type_="Normal",
            ),
            event(
                "shop",
                "ghost",
                "Failed",
                ctrd(ghost, f"{ghost}: not found", "NotFound"),
                ago(5),
                "amd-1",
                "app",
            ),
            event(
                "shop",
                "big-1",
                "Pulling",
                f'Pulling image "{big}"',
                ago(5),
                "arm-0",
                "big",
                type_="Normal",
            ),
            event(
                "shop",
                "web-ok",
                "Pulled",
                f'Successfully pulled image "{big}" in 2.1s',
                ago(30),
                "arm-0",
                "web",
                type_="Normal",
            ),
            event("finance", "ledger", "Failed", refused, ago(4), "amd-0", "ledger", 5),
            event("finance", "ledger-bare", "Failed", refused, ago(4), "arm-0", "ledger", 2),
            event(
                "edge",
                "cache",
                "Failed",
                ctrd(
                    web,
                    "failed to do request: Head"
                    f' "https://{regs.public.host}/v2/shop/web/manifests/1.0": dial tcp: lookup'
                    f" {regs.public.host.split(':')[0]}: i/o timeout",
                ),
                ago(3),
                "edge-0",
                "c",
            ),
            event(
                "edge",
                "books",
                "Failed",
                ctrd(
                    ledger,
                    "failed to do request: Head"
                    f' "https://{regs.private.host}/v2/finance/ledger/manifests/5.0": dial tcp'
                    f" {regs.private.host}: connect: connection refused",
                ),
                ago(3),
                "edge-0",
                "b",
            ),
        ],
    )


@pytest.fixture
def kube(tmp_path, registries):
    with serve(fleet(registries), tmp_path) as api:
        yield api


def explain_live(kube, registries, *args: str, fmt: str = "json"):
    insecure = [f"--insecure-registry={r.host}" for r in (registries.public, registries.private)]
    result = CliRunner().invoke(
        main,
        ["explain", "--kubeconfig", str(kube.kubeconfig), "--format", fmt, *insecure, *args],
    )
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def groups(result) -> dict[tuple[str, str], dict]:
    document = json.loads(result.stdout)
    return {(g["cause"], g["registry"]): g for g in document["groups"]}


def now_of(group: dict, pod_name: str) -> dict:
    [pull] = [p for p in group["pulls"] if p["pod"] == pod_name]
    return pull["now"]


def test_one_missing_tag_across_two_pods_and_nodes_is_one_registry_side_row(kube, registries):
    result = explain_live(kube, registries, "-n", "shop")
    assert result.exit_code == 1
    row = groups(result)[("tag-not-found", registries.public.host)]
    assert row["pods"] == ["shop/ghost", "shop/web-a", "shop/web-b"]
    assert row["nodes"] == ["amd-0", "amd-1"]
    assert row["side"] == "registry"


def test_the_recheck_says_which_images_pull_now_and_which_still_fail(kube, registries):
    row = groups(explain_live(kube, registries, "-n", "shop"))[
        ("tag-not-found", registries.public.host)
    ]
    assert now_of(row, "web-a")["status"] == "pulls"  # the tag was pushed since
    assert now_of(row, "ghost") == {
        "status": "fails",
        "cause": "tag-not-found",
        "detail": now_of(row, "ghost")["detail"],
    }


def test_the_recheck_presents_the_pods_own_pull_secret(kube, registries):
    row = groups(explain_live(kube, registries, "-n", "finance"))[
        ("unauthorized", registries.private.host)
    ]
    assert now_of(row, "ledger")["status"] == "pulls"  # regcred holds alice
    assert now_of(row, "ledger-bare")["status"] == "fails"  # no secret: the kubelet is refused
    assert now_of(row, "ledger-bare")["cause"] in ("unauthorized", "pull-secret-no-match")


def test_a_pod_still_pulling_is_reported_as_pulling_with_how_long(kube, registries):
    document = json.loads(explain_live(kube, registries, "-n", "shop").stdout)
    [pulling] = document["pulling"]
    assert (pulling["pod"], pulling["node"]) == ("big-1", "arm-0")
    assert 4 * 60 <= pulling["seconds"] <= 10 * 60
    assert all(p["pod"] != "big-1" for g in document["groups"] for p in g["pulls"])


def test_running_pods_and_old_failures_are_not_reported(kube, registries):
    document = json.loads(explain_live(kube, registries, "-n", "shop").stdout)
    pods = {p["pod"] for g in document["groups"] for p in g["pulls"]}
    assert pods == {"web-a", "web-b", "ghost"}


def test_a_node_failing_for_several_registries_is_node_or_path_side(kube, registries):
    result = explain_live(kube, registries, "--all-namespaces")
    document = json.loads(result.stdout)
    assert document["suspect_nodes"] == {
        "edge-0": sorted([registries.public.host, registries.private.host])
    }
    edge = [g for g in document["groups"] if g["nodes"] == ["edge-0"]]
    assert {g["cause"] for g in edge} == {"dns", "unreachable"}
    assert {g["side"] for g in edge} == {"node or path"}
    assert any("pulls on" in g["evidence"] for g in edge)


def test_all_namespaces_reads_every_namespace_into_one_table(kube, registries):
    result = explain_live(kube, registries, "-A", fmt="text")
    assert result.exit_code == 1
    out = result.stdout
    assert "pullgate explain (all namespaces): 10 pods failing to pull, 1 still pulling" in out
    header = next(line for line in out.splitlines() if line.startswith("CAUSE"))
    assert header.split() == ["CAUSE", "REGISTRY", "PODS", "NODES", "SIDE", "NOW", "WHICH", "PODS"]
    assert "shop/big-1 big on arm-0" in out and "pulling for" in out


def test_the_context_namespace_is_the_default(kube, registries):
    result = explain_live(kube, registries, "--context", "fake-shop")
    assert json.loads(result.stdout)["scope"] == "namespace shop"


def test_a_namespace_without_failures_exits_0(kube, registries):
    result = explain_live(kube, registries, "-n", "default", fmt="text")
    assert result.exit_code == 0
    assert "0 pods failing to pull, 0 still pulling" in result.stdout


def test_no_secret_value_is_printed(kube, registries):
    for fmt in ("text", "json"):
        out = explain_live(kube, registries, "-A", fmt=fmt).stdout
        assert ALICE[1] not in out


def test_forbidden_to_list_pods_is_a_one_line_error(kube, registries):
    kube.cluster.forbidden.add(("list", "pods", "shop"))
    result = explain_live(kube, registries, "-n", "shop")
    assert result.exit_code == 2
    assert "pods" in result.stderr and "forbidden" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_and_a_kubeconfig_together_are_a_usage_error(kube, registries, tmp_path):
    result = explain_live(kube, registries, str(tmp_path / "x.txt"))
    assert result.exit_code == 2


def test_reads_only_pods_events_and_what_the_recheck_needs(kube, registries):
    explain_live(kube, registries, "-n", "finance")
    allowed = re.compile(
        r"/api/v1/(nodes|namespaces/finance(/(pods|events|serviceaccounts/[^/]+|secrets/[^/]+))?)$"
    )
    assert {"/api/v1/namespaces/finance/pods", "/api/v1/namespaces/finance/events"} <= set(
        kube.cluster.requests
    )
    assert all(allowed.match(path) for path in kube.cluster.requests), kube.cluster.requests


# ---- the fleet view on its own ------------------------------------------------------------------


def _failing_pod(ns: str, name: str, node_name: str, image: str, message: str) -> list[dict]:
    return [
        pod(ns, name, node_name, {"c": image}, {"c": ("ErrImagePull", "")}),
        event(ns, name, "Failed", message, ago(1), node_name, "c"),
    ]


def test_twenty_pods_refused_by_one_registry_are_one_row():
    objects = []
    for i in range(20):
        image = "ghcr.io/acme/api:1.2"
        objects += _failing_pod(
            "shop",
            f"api-{i}",
            f"node-{i % 5}",
            image,
            ctrd(image, "failed to authorize: failed to fetch anonymous token: 401 Unauthorized"),
        )
    pods = [o for o in objects if o["kind"] == "Pod"]
    events = [o for o in objects if o["kind"] == "Event"]
    report = fleet_report(pods, events, "namespace shop")
    [group] = report.groups
    assert (group.cause, group.registry, len(group.pulls)) == ("unauthorized", "ghcr.io", 20)
    assert group.side == "registry" and len(group.nodes) == 5


def test_a_full_disk_is_about_the_node_whatever_the_registry():
    objects = _failing_pod(
        "shop",
        "big",
        "node-3",
        "quay.io/acme/big:1",
        ctrd(
            "quay.io/acme/big:1",
            "failed to extract layer sha256:00: write /var/lib/containerd/x: no space left on"
            " device: unknown",
        ),
    )
    pods = [o for o in objects if o["kind"] == "Pod"]
    events = [o for o in objects if o["kind"] == "Event"]
    [group] = fleet_report(pods, events, "namespace shop").groups
    assert (group.cause, group.side) == ("disk", "node or path")


def test_the_recheck_uses_the_platform_of_the_pods_node(kube, registries):
    row = groups(explain_live(kube, registries, "-n", "arm"))[
        ("platform-mismatch", registries.public.host)
    ]
    assert now_of(row, "web")["status"] == "fails"  # amd64 only, the pod sits on arm-0
    assert now_of(row, "web")["cause"] == "platform-mismatch"


def test_the_example_rbac_grants_what_explain_reads():
    path = Path(__file__).parent.parent / "examples" / "cluster" / "pullgate-reader-rbac.yaml"
    roles = {d["metadata"]["name"]: d for d in yaml.safe_load_all(path.read_text()) if d}
    rules = roles["pullgate-explain"]["rules"]
    granted = {(r, v) for rule in rules for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "list"), ("events", "list")} <= granted


def test_an_api_that_does_not_answer_is_a_one_line_error(tmp_path, kube):
    from kube_fake import write_kubeconfig

    config = write_kubeconfig(tmp_path / "dead", "https://127.0.0.1:1", kube.ca_pem)
    result = CliRunner().invoke(main, ["explain", "--kubeconfig", str(config), "-n", "shop"])
    assert result.exit_code == 2
    assert "cannot reach the kube API" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_names_and_never_pull_still_fail_whatever_the_registry_holds(kube, registries):
    found = groups(explain_live(kube, registries, "-n", "odd"))
    invalid = found[("invalid-reference", "Registry.Example")]
    assert now_of(invalid, "upper")["status"] == "fails"
    never = found[("never-pull", registries.public.host)]
    assert now_of(never, "local") == {
        "status": "fails",
        "cause": "never-pull",
        "detail": now_of(never, "local")["detail"],
    }
