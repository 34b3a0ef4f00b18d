"""What pullgate knows about a cluster: nodes, namespaces, ServiceAccounts and pull secrets.

The same parsers read the kube API's JSON (api.py), `kubectl get ... -o yaml` output and the
files `pullgate snapshot` writes. Secret values are decoded into `Credential` objects kept in
memory only (and only when `--verify-credentials` needs them); what is kept otherwise is the
secret's type, its keys, and the registry keys and user names in its docker config.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from gate.cluster.options import ClusterError
from gate.manifests import InputError, decode_bytes, read_capped
from gate.platforms import Platform
from gate.registry.credentials import Credential, CredentialError, decode_auth_entry
from gate.registry.keyring import Keyring

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"
SECRET_KEYS = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKERCFG: ".dockercfg"}
OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")
ARCH_LABELS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")
# Kubernetes has no standard label for the CPU variant (arm v6/v7); this one is pullgate's own.
VARIANT_LABEL = "pullgate.dev/arch-variant"
WINDOWS_BUILD_LABEL = "node.kubernetes.io/windows-build"
POOL_LABELS = (
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
)
CORDON_TAINT = "node.kubernetes.io/unschedulable"
# Snapshot files keep what pullgate needs from a pull secret in this annotation, values dropped.
SNAPSHOT_ANNOTATION = "pullgate.dev/pull-secret"
CAPTURED_KINDS = ("Node", "Namespace", "ServiceAccount", "Secret")


def yaml_problem(path: str, what: str, exc: Exception) -> ClusterError:
    """One line for a YAML file that does not parse: the file, the line and the parser's words."""
    if isinstance(exc, RecursionError):
        return ClusterError(f"{path}: invalid {what}: nested too deeply")
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else path
    problem = getattr(exc, "problem", None) or "not YAML"
    return ClusterError(f"{where}: invalid {what}: {problem}")


class ClusterUnknown(Exception):
    """One object could not be looked at; the checks that need it say nothing."""


class ClusterForbidden(ClusterUnknown):
    """The kube API answered 403 for a read pullgate needs."""

    def __init__(self, verb: str, resource: str, namespace: str | None, message: str) -> None:
        where = f" in namespace {namespace}" if namespace else " (cluster scope)"
        super().__init__(
            f"the kube API refused {verb} {resource}{where}: {message}; grant {verb} on"
            f" {resource} (see examples/cluster/pullgate-reader-rbac.yaml)"
        )
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.message = message


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    platform: Platform
    pool: str


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str
    image_pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistryAuth:
    """One key of a pull secret's docker config; the credential only when it is kept."""

    key: str
    username: str = ""
    credential: Credential | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PullSecret:
    namespace: str
    name: str
    type: str
    keys: tuple[str, ...] = ()
    registries: tuple[RegistryAuth, ...] = ()
    problem: str = ""  # why the kubelet cannot use it ("" when it can)
    fatal: bool = False  # the kubelet fails every pull of the pod (undecodable config)
    origin: str = "cluster"  # "cluster", "input", or the kind of the object that makes it
    maker: str = ""  # e.g. "ExternalSecret shop/regcred" when a controller creates it

    def keyring(self) -> Keyring[RegistryAuth]:
        return Keyring((auth.key, auth) for auth in self.registries)


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def _list(value: object) -> list:
    """A list field as given, or none: a state file or API answer may hold any type there."""
    return value if isinstance(value, list) else []


def _meta(obj: Mapping) -> Mapping:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def node_from(obj: Mapping) -> Node:
    meta = _meta(obj)
    labels = _str_map(meta.get("labels"))
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    info = status.get("nodeInfo") if isinstance(status.get("nodeInfo"), dict) else {}
    name = str(meta.get("name") or "")
    os_ = next((labels[k] for k in OS_LABELS if labels.get(k)), info.get("operatingSystem"))
    arch = next((labels[k] for k in ARCH_LABELS if labels.get(k)), info.get("architecture"))
    os_ = os_ if isinstance(os_, str) and os_ else "linux"
    arch = arch if isinstance(arch, str) and arch else "amd64"
    windows_build = labels.get(WINDOWS_BUILD_LABEL, "") if os_ == "windows" else ""
    platform = Platform(os_, arch, labels.get(VARIANT_LABEL, ""), windows_build)
    taints = [
        Taint(str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or ""))
        for t in _list(spec.get("taints"))
        if isinstance(t, dict)
    ]
    if spec.get("unschedulable") and not any(t.key == CORDON_TAINT for t in taints):
        taints.append(Taint(CORDON_TAINT, "", "NoSchedule"))  # cordoned
    pool = next((labels[k] for k in POOL_LABELS if labels.get(k)), name)
    return Node(name, labels, tuple(taints), platform, pool)


def service_account_from(obj: Mapping, default_namespace: str = "default") -> ServiceAccount:
    meta = _meta(obj)
    secrets = _list(obj.get("imagePullSecrets"))
    names = tuple(
        s["name"]
        for s in secrets
        if isinstance(s, dict) and isinstance(s.get("name"), str) and s["name"]
    )
    return ServiceAccount(
        str(meta.get("namespace") or default_namespace), str(meta.get("name") or ""), names
    )


def _decode_value(obj: Mapping, key: str) -> bytes:
    """A Secret value: `stringData` as written, `data` base64 (as the API stores it)."""
    string_data = obj.get("stringData")
    if isinstance(string_data, dict) and isinstance(string_data.get(key), str):
        return string_data[key].encode("utf-8")
    data = obj.get("data")
    raw = data.get(key) if isinstance(data, dict) else None
    if not isinstance(raw, str):
        raise ValueError(f"data[{key}] is not a string")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"data[{key}] is not valid base64") from None


def _auths(document: object, secret_type: str) -> dict:
    if not isinstance(document, dict):
        raise ValueError("the docker config is not a JSON object")
    if secret_type == DOCKER_CONFIG_JSON:
        auths = document.get("auths", {})
        if not isinstance(auths, dict):
            raise ValueError("'auths' is not a JSON object")
        return auths
    return document


def _other_format(document: object, secret_type: str, key: str) -> str:
    """A config written in the other secret type's format: it decodes, and the kubelet finds no
    registry in it ("" when the format fits)."""
    if not isinstance(document, dict):
        return ""
    if secret_type == DOCKERCFG and isinstance(document.get("auths"), dict):
        return (
            f"{key} holds an 'auths' object (the .dockerconfigjson format): the kubelet reads"
            " 'auths' as a registry name and finds a credential for no registry"
        )
    if secret_type == DOCKER_CONFIG_JSON and "auths" not in document and document:
        keys = ", ".join(sorted(str(k) for k in document)[:3])
        flat = any(isinstance(v, dict) and "auth" in v for v in document.values())
        return (
            f"{key} has no 'auths' object (top-level keys: {keys}"
            + ("; the .dockercfg format" if flat else "")
            + "): the kubelet finds a credential for no registry"
        )
    return ""


def _registries(
    obj: Mapping, secret_type: str, key: str, source: str, keep: bool
) -> tuple[tuple[RegistryAuth, ...], str, bool]:
    """The docker config's keys as the kubelet reads them: (registries, problem, fatal)."""
    try:
        raw = _decode_value(obj, key)
    except ValueError as exc:
        return (), f"{exc}: the API server would reject it", True
    if not raw:
        return (), f"{key} is empty: the kubelet ignores the secret", False
    try:
        document = json.loads(raw)
        mixed = _other_format(document, secret_type, key)
        if mixed:
            return (), mixed, False
        auths = _auths(document, secret_type)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return (), f"{key} is not valid JSON: the kubelet fails every pull of the pod", True
    except ValueError as exc:
        return (), f"{key}: {exc}: the kubelet fails every pull of the pod", True
    found = []
    for registry, entry in auths.items():
        if not isinstance(entry, dict):
            return (), f"{key}: the entry for {registry} is not a JSON object", True
        try:
            cred = decode_auth_entry(entry, f"{source} [{registry}]")
        except CredentialError:
            problem = (
                f"{key}: 'auth' for {registry} is not base64 of user:password: the kubelet"
                " fails every pull of the pod"
            )
            return (), problem, True
        username = cred.username if cred else ""
        # The kubelet presents username and password only (no identity token).
        kept = (
            Credential(source=cred.source, username=cred.username, password=cred.password)
            if keep and cred
            else None
        )
        found.append(RegistryAuth(str(registry), username, kept))
    return tuple(found), "", False


def pull_secret_from(
    obj: Mapping, default_namespace: str = "default", keep: bool = False, origin: str = "cluster"
) -> PullSecret:
    meta = _meta(obj)
    namespace = str(meta.get("namespace") or default_namespace)
    name = str(meta.get("name") or "")
    secret_type = str(obj.get("type") or "Opaque")
    keys = tuple(sorted(set(_str_keys(obj.get("data"))) | set(_str_keys(obj.get("stringData")))))
    base = dict(namespace=namespace, name=name, type=secret_type, keys=keys, origin=origin)
    recorded = _str_map(meta.get("annotations")).get(SNAPSHOT_ANNOTATION)
    if recorded is not None:
        return _from_snapshot(base, recorded)
    key = SECRET_KEYS.get(secret_type)
    if key is None:
        return PullSecret(
            **base,
            problem=f"type {secret_type} is neither {DOCKER_CONFIG_JSON} nor {DOCKERCFG}:"
            " the kubelet ignores it",
        )
    if key not in keys:
        present = ", ".join(keys) or "none"
        return PullSecret(
            **base, problem=f"no {key} key (keys: {present}): the kubelet ignores the secret"
        )
    registries, problem, fatal = _registries(
        obj, secret_type, key, f"secret {namespace}/{name}", keep
    )
    return PullSecret(**base, registries=registries, problem=problem, fatal=fatal)


def _str_keys(value: object) -> list[str]:
    return [str(k) for k in value] if isinstance(value, dict) else []


def _from_snapshot(base: dict, recorded: str) -> PullSecret:
    try:
        data = json.loads(recorded)
        registries = tuple(
            RegistryAuth(str(k), str(v or "")) for k, v in (data.get("registries") or {}).items()
        )
        return PullSecret(
            **base,
            registries=registries,
            problem=str(data.get("problem") or ""),
            fatal=bool(data.get("fatal")),
        )
    except (ValueError, AttributeError, RecursionError):
        return PullSecret(**base, problem=f"annotation {SNAPSHOT_ANNOTATION} is not valid JSON")


def snapshot_annotation(secret: PullSecret) -> str:
    return json.dumps(
        {
            "registries": {r.key: r.username for r in secret.registries},
            "problem": secret.problem,
            "fatal": secret.fatal,
        },
        sort_keys=True,
    )


class ClusterView(Protocol):
    """Read access to one cluster; `ClusterState` (files) and `LiveCluster` (kube API)."""

    @property
    def context_namespace(self) -> str | None: ...

    def nodes(self) -> list[Node]: ...

    def namespace_exists(self, name: str) -> bool: ...

    def service_account(self, namespace: str, name: str) -> ServiceAccount | None: ...

    def secret(self, namespace: str, name: str) -> PullSecret | None: ...

    def secret_elsewhere(self, name: str, candidates: Iterable[str]) -> list[str]: ...

    def prefetch(
        self,
        namespaces: Iterable[str],
        service_accounts: Iterable[tuple[str, str]],
        secrets: Iterable[tuple[str, str]],
    ) -> None: ...


@dataclass
class ClusterState:
    """A cluster held in memory: from a state file, or a snapshot of a live cluster."""

    node_list: list[Node] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)
    service_accounts: dict[tuple[str, str], ServiceAccount] = field(default_factory=dict)
    secrets: dict[tuple[str, str], PullSecret] = field(default_factory=dict)
    captured: set[str] = field(default_factory=set)  # kinds the source held at all
    source: str = ""
    context_namespace: str | None = None

    def _need(self, kind: str) -> None:
        if kind not in self.captured:
            raise ClusterUnknown(f"{self.source or 'the cluster state'} holds no {kind} objects")

    def nodes(self) -> list[Node]:
        self._need("Node")
        return list(self.node_list)

    def namespace_exists(self, name: str) -> bool:
        self._need("Namespace")
        return name in self.namespaces

    def service_account(self, namespace: str, name: str) -> ServiceAccount | None:
        self._need("ServiceAccount")
        return self.service_accounts.get((namespace, name))

    def secret(self, namespace: str, name: str) -> PullSecret | None:
        self._need("Secret")
        return self.secrets.get((namespace, name))

    def secret_elsewhere(self, name: str, candidates: Iterable[str]) -> list[str]:
        return sorted(ns for ns, n in self.secrets if n == name)

    def prefetch(self, *_: object) -> None:
        return None

    def add(self, obj: Mapping, keep_credentials: bool = False) -> None:
        kind = obj.get("kind")
        if kind == "Node":
            self.node_list.append(node_from(obj))
        elif kind == "Namespace":
            self.namespaces.add(str(_meta(obj).get("name") or ""))
        elif kind == "ServiceAccount":
            sa = service_account_from(obj)
            self.service_accounts[(sa.namespace, sa.name)] = sa
        elif kind == "Secret":
            secret = pull_secret_from(obj, keep=keep_credentials)
            self.secrets[(secret.namespace, secret.name)] = secret
        else:
            return
        self.captured.add(kind)


_LIST_ITEM_KIND = {f"{k}List": k for k in CAPTURED_KINDS}


def _objects(document: object) -> Iterator[Mapping]:
    """Objects of a document: a List / NodeList etc. (items), or a single object."""
    if not isinstance(document, dict):
        return
    kind = document.get("kind")
    if isinstance(kind, str) and (kind == "List" or kind.endswith("List")):
        item_kind = _LIST_ITEM_KIND.get(kind)
        for item in _list(document.get("items")):
            if isinstance(item, dict):
                yield item if item.get("kind") or not item_kind else {**item, "kind": item_kind}
        return
    yield document


def load_state(paths: Iterable[str], keep_credentials: bool = False) -> ClusterState:
    """Read `--cluster-state` files (YAML or JSON; Lists or objects, several documents allowed)."""
    state = ClusterState(source=", ".join(paths))
    for path in paths:
        try:
            text = decode_bytes(read_capped(path), path)
        except InputError as exc:
            raise ClusterError(f"{exc} (cluster state)") from None
        try:
            documents = list(yaml.safe_load_all(text))
        except (RecursionError, yaml.YAMLError) as exc:
            raise yaml_problem(path, "cluster state", exc) from None
        for document in documents:
            if document is not None and not isinstance(document, dict):
                raise ClusterError(f"{path}: invalid cluster state: expected Kubernetes objects")
            for obj in _objects(document):
                state.add(obj, keep_credentials)
    if not state.captured:
        raise ClusterError(
            f"{state.source}: no Node, Namespace, ServiceAccount or Secret objects"
            " (expected `kubectl get ... -o yaml` output or a `pullgate snapshot` file)"
        )
    return state
