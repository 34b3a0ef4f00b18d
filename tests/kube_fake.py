"""A small HTTPS Kubernetes API server for tests: real API JSON shapes (Node, Namespace,
ServiceAccount, Secret, Pod, Event, their Lists, discovery, /version, `Status` errors),
bearer-token auth, a self-signed CA, and 403s on chosen reads. Driven in tests through the real
`kubernetes` client (and kubectl, which it also satisfies) with a kubeconfig that carries the CA
and the token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from registry_server import make_tls_files, serve_https

TOKEN = "fake-kube-token-7f3a"
USER = "system:serviceaccount:ci:pullgate"
CREATED = "2024-11-02T09:14:07Z"
_RESOURCES = {  # plural -> (kind, namespaced)
    "nodes": ("Node", False),
    "namespaces": ("Namespace", False),
    "serviceaccounts": ("ServiceAccount", True),
    "secrets": ("Secret", True),
    "pods": ("Pod", True),
    "events": ("Event", True),
}


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _meta(name: str, namespace: str | None = None, **extra: object) -> dict:
    meta: dict = {
        "name": name,
        "uid": f"0b5f3c2e-{abs(hash((namespace, name))) % 10**12:012d}",
        "resourceVersion": "4711",
        "creationTimestamp": CREATED,
    }
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def node(
    name: str,
    pool: str,
    arch: str = "amd64",
    os_: str = "linux",
    taints: list[dict] | None = None,
    extra_labels: dict | None = None,
    unschedulable: bool = False,
) -> dict:
    labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os_,
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": os_,
        "kubernetes.io/hostname": name,
        "kubernetes.azure.com/agentpool": pool,
        "agentpool": pool,
        "node.kubernetes.io/instance-type": "Standard_D4ps_v5"
        if arch == "arm64"
        else "Standard_D4s_v5",
        "topology.kubernetes.io/region": "westeurope",
        "topology.kubernetes.io/zone": "westeurope-1",
    }
    labels.update(extra_labels or {})
    spec: dict = {
        "podCIDR": "10.244.0.0/24",
        "providerID": f"azure:///subscriptions/0000/resourceGroups/mc_rg/providers/vmss/{name}",
    }
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": _meta(name, labels=labels, annotations={"node.alpha.kubernetes.io/ttl": "0"}),
        "spec": spec,
        "status": {
            "capacity": {"cpu": "4", "memory": "16365432Ki", "pods": "110"},
            "allocatable": {"cpu": "3860m", "memory": "12880760Ki", "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": CREATED,
                    "lastTransitionTime": CREATED,
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [{"type": "Hostname", "address": name}],
            "nodeInfo": {
                "machineID": "4e1b4f3f0b2c4e3d9a1c5f0e2d3b4a59",
                "systemUUID": "5c0d3a9e-8f5e-4c2b-9d3e-1f2a3b4c5d6e",
                "bootID": "2b9e0c1d-3e4f-4a5b-8c7d-6e5f4a3b2c1d",
                "kernelVersion": "5.15.0-1074-azure",
                "osImage": "Windows Server 2022 Datacenter"
                if os_ == "windows"
                else "Ubuntu 22.04.5 LTS",
                "containerRuntimeVersion": "containerd://1.7.22-1",
                "kubeletVersion": "v1.31.2",
                "kubeProxyVersion": "v1.31.2",
                "operatingSystem": os_,
                "architecture": arch,
            },
        },
    }


def namespace(name: str) -> dict:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": _meta(name, labels={"kubernetes.io/metadata.name": name}),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def service_account(ns: str, name: str, pull_secrets: list[str] = ()) -> dict:
    obj = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": _meta(name, ns)}
    if pull_secrets:
        obj["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    return obj


def docker_config_json(auths: dict[str, tuple[str, str]]) -> str:
    return json.dumps(
        {
            "auths": {
                host: {"username": u, "password": p, "auth": b64(f"{u}:{p}")}
                for host, (u, p) in auths.items()
            }
        }
    )


def secret(ns: str, name: str, type_: str, data: dict[str, str | bytes]) -> dict:
    return {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": _meta(name, ns),
        "type": type_,
        "data": {k: b64(v) for k, v in data.items()},
    }


def pull_secret(ns: str, name: str, auths: dict[str, tuple[str, str]]) -> dict:
    return secret(
        ns, name, "kubernetes.io/dockerconfigjson", {".dockerconfigjson": docker_config_json(auths)}
    )


def pod(
    ns: str,
    name: str,
    node_name: str | None,
    containers: dict[str, str],
    waiting: dict[str, tuple[str, str]] | None = None,
    init_containers: dict[str, str] | None = None,
    pull_secrets: list[str] = (),
    service_account_name: str = "default",
    started: str = CREATED,
    pull_policy: str = "IfNotPresent",
) -> dict:
    """A Pod with its status: containers named in `waiting` wait with (reason, message), the
    others run (their image pulled, with an imageID)."""
    waiting = waiting or {}

    def status_of(cname: str, image: str) -> dict:
        entry: dict = {"name": cname, "image": image, "ready": False, "restartCount": 0}
        if cname in waiting:
            reason, message = waiting[cname]
            entry["imageID"] = ""
            entry["started"] = False
            entry["state"] = {
                "waiting": {"reason": reason, **({"message": message} if message else {})}
            }
        else:
            entry["imageID"] = f"{image.split(':')[0]}@sha256:{'c' * 64}"
            entry["containerID"] = f"containerd://{'d' * 64}"
            entry["ready"] = entry["started"] = True
            entry["state"] = {"running": {"startedAt": started}}
        return entry

    spec: dict = {
        "containers": [
            {"name": c, "image": i, "imagePullPolicy": pull_policy} for c, i in containers.items()
        ],
        "serviceAccountName": service_account_name,
        "restartPolicy": "Always",
    }
    if init_containers:
        spec["initContainers"] = [{"name": c, "image": i} for c, i in init_containers.items()]
    if node_name:
        spec["nodeName"] = node_name
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    phase = "Pending" if waiting else "Running"
    status: dict = {
        "phase": phase,
        "startTime": started,
        "containerStatuses": [status_of(c, i) for c, i in containers.items()],
    }
    if init_containers:
        status["initContainerStatuses"] = [status_of(c, i) for c, i in init_containers.items()]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": _meta(name, ns),
        "spec": spec,
        "status": status,
    }


def event(
    ns: str,
    pod_name: str,
    reason: str,
    message: str,
    last: str,
    node_name: str = "",
    container: str | None = None,
    count: int = 1,
    type_: str = "Warning",
) -> dict:
    """A kubelet Event about a pod, as `kubectl get events -o json` shows it."""
    involved: dict = {
        "kind": "Pod",
        "namespace": ns,
        "name": pod_name,
        "apiVersion": "v1",
        "uid": _meta(pod_name, ns)["uid"],
        "resourceVersion": "4711",
    }
    if container:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": _meta(f"{pod_name}.{abs(hash((reason, message, last))) % 16**16:016x}", ns),
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": node_name},
        "firstTimestamp": last,
        "lastTimestamp": last,
        "count": count,
        "type": type_,
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": node_name,
    }


def status(code: int, reason: str, message: str, name: str = "", kind: str = "") -> dict:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if name or kind:
        body["details"] = {"name": name, "kind": kind}
    return body


@dataclass
class Cluster:
    """What the fake API serves. `forbidden` holds (verb, resource, namespace or None)."""

    nodes: list[dict] = field(default_factory=list)
    namespaces: list[dict] = field(default_factory=list)
    service_accounts: list[dict] = field(default_factory=list)
    secrets: list[dict] = field(default_factory=list)
    pods: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    forbidden: set[tuple[str, str, str | None]] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def objects(self, resource: str) -> list[dict]:
        return {
            "nodes": self.nodes,
            "namespaces": self.namespaces,
            "serviceaccounts": self.service_accounts,
            "secrets": self.secrets,
            "pods": self.pods,
            "events": self.events,
        }[resource]


def _version() -> dict:
    return {
        "major": "1",
        "minor": "31",
        "emulationMajor": "1",
        "emulationMinor": "31",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "30",
        "gitVersion": "v1.31.2",
        "gitCommit": "5864a4677267e6adeae276ad85882a8714d69d9d",
        "gitTreeState": "clean",
        "buildDate": "2024-10-22T20:28:14Z",
        "goVersion": "go1.22.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _resource_list() -> dict:
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "watch"],
                "shortNames": {
                    "nodes": ["no"],
                    "namespaces": ["ns"],
                    "serviceaccounts": ["sa"],
                    "pods": ["po"],
                    "events": ["ev"],
                }.get(plural, []),
            }
            for plural, (kind, namespaced) in _RESOURCES.items()
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    cluster: Cluster  # set per server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "6f1d6a4c-0d8e-4c1f-9d2b-3a4b5c6d7e8f")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        self.cluster.requests.append(url.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return
        parts = [p for p in url.path.split("/") if p]
        if parts == ["version"]:
            self._send(200, _version())
        elif parts == ["api"]:
            self._send(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server.server_address[0]}
                    ],
                },
            )  # noqa: E501
        elif parts == ["apis"]:
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        elif parts == ["api", "v1"]:
            self._send(200, _resource_list())
        elif len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            self._serve_resource(parts[2:], parse_qs(url.query))
        else:
            self._send(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )

    def _serve_resource(self, rest: list[str], query: dict) -> None:
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
        if resource not in _RESOURCES or len(rest) > 2:
            self._send(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )
            return
        kind, namespaced = _RESOURCES[resource]
        verb = "get" if name else "list"
        if (verb, resource, ns) in self.cluster.forbidden or (
            verb,
            resource,
            "*",
        ) in self.cluster.forbidden:
            scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            subject = f'{resource} "{name}"' if name else resource
            self._send(
                403,
                status(
                    403,
                    "Forbidden",
                    f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{resource}"'
                    f' in API group ""{scope}',
                    name or "",
                    resource,
                ),
            )
            return
        items = [
            o
            for o in self.cluster.objects(resource)
            if not namespaced or ns is None or o["metadata"].get("namespace") == ns
        ]
        if name:
            found = next((o for o in items if o["metadata"]["name"] == name), None)
            if found is None:
                self._send(
                    404, status(404, "NotFound", f'{resource} "{name}" not found', name, resource)
                )
            else:
                self._send(200, found)
            return
        start = int((query.get("continue") or ["0"])[0])
        limit = int((query.get("limit") or ["0"])[0]) or len(items)
        page = items[start : start + limit]
        more = start + limit < len(items)
        self._send(
            200,
            {
                "kind": f"{kind}List",
                "apiVersion": "v1",
                "metadata": {
                    "resourceVersion": "4711",
                    **({"continue": str(start + limit)} if more else {}),
                },
                "items": [
                    {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page
                ],
            },
        )


@dataclass
class KubeAPI:
    url: str
    kubeconfig: Path
    cluster: Cluster
    ca_pem: bytes


def write_kubeconfig(
    path: Path, url: str, ca_pem: bytes, token: str = TOKEN, namespace: str | None = None
) -> Path:
    context: dict = {"cluster": "fake", "user": "pullgate"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "fake",
                "cluster": {"server": url, "certificate-authority-data": b64(ca_pem)},
            }
        ],
        "users": [{"name": "pullgate", "user": {"token": token}}],
        "contexts": [
            {"name": "fake", "context": context},
            {"name": "fake-shop", "context": {**context, "namespace": "shop"}},
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def serve(cluster: Cluster, tmp: Path) -> Iterator[KubeAPI]:
    tls = make_tls_files(tmp / "kube-tls")
    ca_pem = tls.ca_file.read_bytes()
    handler = type("Handler", (_Handler,), {"cluster": cluster})
    with serve_https(handler, tls) as url:
        yield KubeAPI(url, write_kubeconfig(tmp / "kubeconfig", url, ca_pem), cluster, ca_pem)
