"""`pullgate snapshot`: the cluster state `check --cluster-state` reads, without secret values.

Written as a Kubernetes `List` (like `kubectl get -o yaml`): nodes with their labels, taints
and platform; namespace names; ServiceAccounts with their imagePullSecrets; Secrets with their
type and key names (values emptied) and, in the `pullgate.dev/pull-secret` annotation, the
registry keys and user names of their docker config and why the kubelet could not use them.
"""

from __future__ import annotations

from dataclasses import asdict

import yaml

from gate.cluster.state import SNAPSHOT_ANNOTATION, ClusterState, Node, snapshot_annotation


def _node(node: Node) -> dict:
    spec: dict = {}
    if node.taints:
        spec["taints"] = [{k: v for k, v in asdict(t).items() if v} for t in node.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": dict(node.labels)},
        "spec": spec,
        "status": {
            "nodeInfo": {
                "architecture": node.platform.architecture,
                "operatingSystem": node.platform.os,
            }
        },
    }


def snapshot_document(state: ClusterState) -> dict:
    items: list[dict] = [_node(n) for n in sorted(state.node_list, key=lambda n: n.name)]
    items += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in sorted(state.namespaces)
    ]
    for (namespace, name), sa in sorted(state.service_accounts.items()):
        obj: dict = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
        if sa.image_pull_secrets:
            obj["imagePullSecrets"] = [{"name": s} for s in sa.image_pull_secrets]
        items.append(obj)
    for (namespace, name), secret in sorted(state.secrets.items()):
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": {SNAPSHOT_ANNOTATION: snapshot_annotation(secret)},
                },
                "type": secret.type,
                "data": {key: "" for key in secret.keys},
            }
        )
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}


def render_snapshot(state: ClusterState) -> str:
    header = (
        "# pullgate snapshot: cluster state for `pullgate check --cluster-state FILE`.\n"
        "# Secret values are not included.\n"
    )
    return header + yaml.safe_dump(snapshot_document(state), sort_keys=False)
