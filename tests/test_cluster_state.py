"""Reading cluster state: pull secrets as the kubelet reads them, state files, snapshots."""

import base64
import json

import pytest
import yaml
from kube_fake import b64, docker_config_json, namespace, node, pull_secret, secret, service_account

from gate.cluster.snapshot import render_snapshot
from gate.cluster.state import (
    ClusterError,
    ClusterState,
    ClusterUnknown,
    load_state,
    pull_secret_from,
)

PASSWORD = "pa55-w0rd-Zq9"


def test_dockerconfigjson_secret_yields_its_registry_keys_and_users():
    s = pull_secret_from(pull_secret("shop", "regcred", {"ghcr.io/acme": ("bot", PASSWORD)}))
    assert s.problem == ""
    assert [(r.key, r.username) for r in s.registries] == [("ghcr.io/acme", "bot")]


def test_credentials_are_kept_only_when_asked_for():
    obj = pull_secret("shop", "regcred", {"ghcr.io": ("bot", PASSWORD)})
    assert pull_secret_from(obj).registries[0].credential is None
    kept = pull_secret_from(obj, keep=True).registries[0].credential
    assert (kept.username, kept.password) == ("bot", PASSWORD)
    assert PASSWORD not in repr(pull_secret_from(obj, keep=True))


def test_dockercfg_secret_is_a_flat_map():
    raw = json.dumps({"https://index.docker.io/v1/": {"auth": b64(f"hub:{PASSWORD}")}})
    s = pull_secret_from(secret("shop", "old", "kubernetes.io/dockercfg", {".dockercfg": raw}))
    assert [(r.key, r.username) for r in s.registries] == [("https://index.docker.io/v1/", "hub")]


@pytest.mark.parametrize(
    ("type_", "data", "problem", "fatal"),
    [
        ("Opaque", {".dockerconfigjson": docker_config_json({})}, "the kubelet ignores it", False),
        (
            "kubernetes.io/dockerconfigjson",
            {"config.json": "{}"},
            "no .dockerconfigjson key",
            False,
        ),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": "{not json"},
            "not valid JSON",
            True,
        ),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": json.dumps({"auths": {"ghcr.io": {"auth": "%%%"}}})},
            "not base64 of user:password",
            True,
        ),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": json.dumps({"auths": ["ghcr.io"]})},
            "'auths' is not a JSON object",
            True,
        ),
    ],
)
def test_malformed_pull_secrets_say_why(type_, data, problem, fatal):
    s = pull_secret_from(secret("shop", "bad", type_, data))
    assert problem in s.problem
    assert s.fatal is fatal


def test_secret_data_that_is_not_base64_is_malformed():
    obj = secret("shop", "bad", "kubernetes.io/dockerconfigjson", {})
    obj["data"] = {".dockerconfigjson": "!!not-base64!!"}
    assert "not valid base64" in pull_secret_from(obj).problem


def test_string_data_is_read_as_written():
    obj = {
        "kind": "Secret",
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": docker_config_json({"quay.io": ("q", PASSWORD)})},
    }
    s = pull_secret_from(obj, default_namespace="shop")
    assert (s.namespace, [r.key for r in s.registries]) == ("shop", ["quay.io"])


def kubectl_list(*items):
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def test_state_file_reads_kubectl_list_output(tmp_path):
    path = tmp_path / "state.yaml"
    path.write_text(
        yaml.safe_dump(
            kubectl_list(
                node("aks-armpool-0", "armpool", arch="arm64"),
                namespace("shop"),
                service_account("shop", "default", ["regcred"]),
                pull_secret("shop", "regcred", {"ghcr.io": ("bot", PASSWORD)}),
            )
        )
    )
    state = load_state([str(path)])
    assert [n.pool for n in state.nodes()] == ["armpool"]
    assert state.namespace_exists("shop") and not state.namespace_exists("finance")
    assert state.service_account("shop", "default").image_pull_secrets == ("regcred",)
    assert state.secret("shop", "regcred").registries[0].key == "ghcr.io"


def test_typed_lists_without_item_kinds_are_read(tmp_path):
    path = tmp_path / "nodes.json"
    listing = {"kind": "NodeList", "apiVersion": "v1", "items": [node("n", "p")]}
    del listing["items"][0]["kind"]
    path.write_text(json.dumps(listing))
    assert [n.name for n in load_state([str(path)]).nodes()] == ["n"]


def test_kinds_missing_from_the_state_are_unknown_not_absent(tmp_path):
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump(kubectl_list(node("n", "p"))))
    state = load_state([str(path)])
    with pytest.raises(ClusterUnknown):
        state.secret("shop", "regcred")


def test_invalid_state_file_is_one_line_with_file_and_line(tmp_path):
    path = tmp_path / "state.yaml"
    path.write_text("items:\n  - kind: Node\n   bad: [\n")
    with pytest.raises(ClusterError, match=r"state\.yaml:\d+: invalid cluster state"):
        load_state([str(path)])


def test_state_file_without_cluster_objects_is_refused(tmp_path):
    path = tmp_path / "state.yaml"
    path.write_text(yaml.safe_dump({"kind": "ConfigMap", "metadata": {"name": "x"}}))
    with pytest.raises(ClusterError, match="no Node, Namespace, ServiceAccount or Secret"):
        load_state([str(path)])


def snapshot_state():
    state = ClusterState(source="test")
    for obj in (
        node(
            "akswin0",
            "winpool",
            os_="windows",
            taints=[{"key": "os", "value": "windows", "effect": "NoSchedule"}],
            extra_labels={"node.kubernetes.io/windows-build": "10.0.20348"},
        ),
        namespace("shop"),
        service_account("shop", "builder", ["regcred"]),
        pull_secret("shop", "regcred", {"ghcr.io": ("bot", PASSWORD)}),
        secret("shop", "broken", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{"}),
    ):
        state.add(obj)
    return state


def test_snapshot_holds_no_secret_value():
    text = render_snapshot(snapshot_state())
    raw = docker_config_json({"ghcr.io": ("bot", PASSWORD)})
    for secret_text in (
        PASSWORD,
        b64(f"bot:{PASSWORD}"),
        b64(raw),
        base64.b64encode(b"{").decode(),
    ):
        assert secret_text not in text


def test_snapshot_reads_back_to_the_same_state(tmp_path):
    original = snapshot_state()
    path = tmp_path / "snapshot.yaml"
    path.write_text(render_snapshot(original))
    loaded = load_state([str(path)])
    assert loaded.nodes() == original.nodes()
    assert loaded.namespaces == original.namespaces
    assert loaded.service_accounts == original.service_accounts
    assert loaded.secrets == original.secrets


def test_objects_of_the_wrong_shape_do_not_crash(tmp_path):
    path = tmp_path / "state.yaml"
    odd = [
        {"kind": "Node", "metadata": {"name": "n", "labels": ["x"]}, "spec": {"taints": "x"}},
        {"kind": "ServiceAccount", "metadata": {"name": "sa"}, "imagePullSecrets": "regcred"},
        {
            "kind": "Secret",
            "metadata": {"name": "s"},
            "type": "kubernetes.io/dockercfg",
            "data": [],
        },
    ]
    path.write_text(yaml.safe_dump({"kind": "List", "items": odd}))
    state = load_state([str(path)])
    assert state.nodes()[0].pool == "n"
    assert state.service_account("default", "sa").image_pull_secrets == ()
    assert "no .dockercfg key" in state.secret("default", "s").problem
