"""A kubeconfig read before the `kubernetes` client reads it, so that a mistake in it is one
line naming the file and line (the client's own words name neither, or are a Python
TypeError), and so that the client never starts on a context that cannot work.

Only what picks the cluster is checked: the context (--context, else current-context), its
cluster's server and its user's exec command. A $KUBECONFIG of several files is merged by the
client and left to it.
"""

from __future__ import annotations

import os
import shutil

import yaml

from gate.cluster.state import ClusterError, yaml_problem
from gate.manifests import InputError, decode_bytes, read_capped

MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024


def kubeconfig_path(explicit: str | None) -> str | None:
    """The one file the client will read: --kubeconfig, a single $KUBECONFIG entry, else
    ~/.kube/config; None when $KUBECONFIG names several (merged by the client)."""
    if explicit:
        return explicit
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if len(listed) > 1:
        return None
    if listed:
        if not os.path.isfile(listed[0]):
            raise ClusterError(f"$KUBECONFIG names {listed[0]}: no such file")
        return listed[0]
    default = os.path.expanduser("~/.kube/config")
    if not os.path.isfile(default):
        raise ClusterError(
            f"no kubeconfig: {default} does not exist and $KUBECONFIG is not set;"
            " give --kubeconfig FILE"
        )
    return default


def check_kubeconfig(explicit: str | None, context: str | None) -> None:
    """ClusterError, with file and line, for a kubeconfig the client could not use."""
    path = kubeconfig_path(explicit)
    if path is None:
        return
    try:
        text = decode_bytes(read_capped(path, MAX_KUBECONFIG_BYTES), path)
    except InputError as exc:
        raise ClusterError(f"{exc} (kubeconfig)") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (RecursionError, yaml.YAMLError) as exc:
        raise yaml_problem(path, "kubeconfig", exc) from None
    if root is None:
        raise ClusterError(f"{path}: empty kubeconfig")
    if not isinstance(root, yaml.MappingNode):
        raise ClusterError(f"{_at(path, root)}: a kubeconfig is a mapping (clusters, contexts)")
    top = _fields(root)
    lists = {key: _named(path, top, key) for key in ("clusters", "contexts", "users")}
    name = context or _scalar(top.get("current-context"))
    contexts = lists["contexts"]
    known = ", ".join(contexts) or "none"
    if not name:
        raise ClusterError(f"{path}: no current-context; name one with --context ({known})")
    if name not in contexts:
        where = _at(path, top["current-context"]) if not context else path
        raise ClusterError(f"{where}: no context {name!r} in contexts ({known})")
    chosen = _fields(contexts[name]).get("context")
    fields = _fields(chosen) if isinstance(chosen, yaml.MappingNode) else {}
    _check_cluster(path, name, fields, lists["clusters"])
    _check_user(path, name, fields, lists["users"])


def _check_cluster(path: str, context: str, fields: dict, clusters: dict) -> None:
    cluster = _scalar(fields.get("cluster"))
    if cluster not in clusters:
        where = _at(path, fields["cluster"]) if "cluster" in fields else path
        raise ClusterError(
            f"{where}: context {context!r} names cluster {cluster!r}: not in clusters"
        )
    inner = _fields(clusters[cluster]).get("cluster")
    server_node = _fields(inner).get("server") if isinstance(inner, yaml.MappingNode) else None
    server = _scalar(server_node)
    if not server.startswith(("https://", "http://")):
        where = _at(path, server_node or clusters[cluster])
        raise ClusterError(f"{where}: cluster {cluster!r}: server must be an https:// URL")


def _check_user(path: str, context: str, fields: dict, users: dict) -> None:
    if "user" not in fields:
        return
    user = _scalar(fields.get("user"))
    if user not in users:
        where = _at(path, fields["user"])
        raise ClusterError(f"{where}: context {context!r} names user {user!r}: not in users")
    inner = _fields(users[user]).get("user")
    exec_node = _fields(inner).get("exec") if isinstance(inner, yaml.MappingNode) else None
    if not isinstance(exec_node, yaml.MappingNode):
        return
    command_node = _fields(exec_node).get("command")
    command = _scalar(command_node)
    if command and os.sep not in command and shutil.which(command) is None:
        where = _at(path, command_node)
        raise ClusterError(f"{where}: user {user!r}: exec command {command!r} is not on PATH")


def _named(path: str, top: dict, key: str) -> dict[str, yaml.Node]:
    """`clusters`, `contexts` or `users`: a list of mappings each with a name."""
    node = top.get(key)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return {}
    if not isinstance(node, yaml.SequenceNode):
        raise ClusterError(f"{_at(path, node)}: {key} must be a list of named entries")
    named: dict[str, yaml.Node] = {}
    for item in node.value:
        name = _scalar(_fields(item).get("name")) if isinstance(item, yaml.MappingNode) else ""
        if not name:
            raise ClusterError(f"{_at(path, item)}: each entry of {key} needs a name")
        named[name] = item
    return named


def _fields(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _scalar(node: yaml.Node | None) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else ""


def _at(path: str, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"
