"""Where a pod can land: the scheduler's hard filters that depend on the pod spec alone.

`spec.nodeName`, `nodeSelector`, required node affinity (matchExpressions with In, NotIn, Exists,
DoesNotExist, Gt, Lt; matchFields on metadata.name) and taints with effect NoSchedule or NoExecute
(a cordoned node counts as tainted `node.kubernetes.io/unschedulable`). Resources, pod affinity
and topology spread are not looked at: they decide which node, not whether the platform fits.
The candidate nodes, grouped by node pool, are the platform targets of the pod.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gate.cluster.state import CORDON_TAINT, Node, Taint
from gate.platforms import Platform, TargetGroup, Targets

HARD_EFFECTS = ("NoSchedule", "NoExecute")
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
NODE_NAME = "node(s) didn't match the requested node name"
CORDONED = "node(s) were unschedulable"


def _items(value: object) -> list:
    """A list field of the pod spec, or none: a manifest may hold any type there."""
    return value if isinstance(value, list) else []


def _requirement_matches(expr: Mapping, labels: Mapping[str, str]) -> bool:
    key = expr.get("key")
    op = expr.get("operator")
    values = [str(v) for v in _items(expr.get("values"))]
    if not isinstance(key, str):
        return False
    present = key in labels
    value = labels.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(value or ""), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _term_matches(term: object, node: Node) -> bool:
    """A node selector term: its expressions ANDed; an empty term matches nothing."""
    if not isinstance(term, dict):
        return False
    exprs = [e for e in _items(term.get("matchExpressions")) if isinstance(e, dict)]
    fields = [e for e in _items(term.get("matchFields")) if isinstance(e, dict)]
    if not exprs and not fields:
        return False
    name_labels = {"metadata.name": node.name}
    return all(_requirement_matches(e, node.labels) for e in exprs) and all(
        _requirement_matches(e, name_labels) for e in fields
    )


def matches_affinity(pod_spec: Mapping, node: Node) -> bool:
    selector = pod_spec.get("nodeSelector")
    if isinstance(selector, dict) and any(
        node.labels.get(k) != str(v) for k, v in selector.items()
    ):
        return False
    affinity = pod_spec.get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, dict) else None
    required = (
        node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(node_affinity, dict)
        else None
    )
    if not isinstance(required, dict):
        return True
    terms = required.get("nodeSelectorTerms")
    return isinstance(terms, list) and any(_term_matches(t, node) for t in terms)


def tolerates(toleration: Mapping, taint: Taint) -> bool:
    """k8s.io/api/core/v1 Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    if key and key != taint.key:
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and str(toleration.get("value") or "") == taint.value


def untolerated(pod_spec: Mapping, node: Node) -> Taint | None:
    tolerations = [t for t in _items(pod_spec.get("tolerations")) if isinstance(t, dict)]
    for taint in node.taints:
        if taint.effect in HARD_EFFECTS and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def rejection(pod_spec: Mapping, node: Node) -> str | None:
    """Why the scheduler filters `node` out for this pod, in its own words; None if it fits."""
    node_name = pod_spec.get("nodeName")
    if isinstance(node_name, str) and node_name and node_name != node.name:
        return NODE_NAME
    if not matches_affinity(pod_spec, node):
        return NODE_AFFINITY
    taint = untolerated(pod_spec, node)
    if taint is None:
        return None
    if taint.key == CORDON_TAINT:
        return CORDONED
    return f"node(s) had untolerated taint {taint}"


@dataclass(frozen=True)
class Placement:
    candidates: tuple[Node, ...]
    rejected: Mapping[str, str]  # pool -> the first reason one of its nodes was filtered out
    reasons: Mapping[str, int]  # scheduler reason -> node count
    total: int

    @property
    def unschedulable(self) -> bool:
        return self.total > 0 and not self.candidates

    def describe(self) -> str:
        """Like the scheduler's FailedScheduling event."""
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.reasons.items()))
        return f"0/{self.total} nodes are available: {parts}"


class ClusterTargets:
    """A `TargetSource` from the cluster's nodes: the platforms of the pools a pod fits."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = tuple(nodes)

    def placement(self, pod_spec: Mapping) -> Placement:
        fits: list[Node] = []
        reasons: Counter[str] = Counter()
        rejected: dict[str, str] = {}
        for node in self.nodes:
            reason = rejection(pod_spec, node)
            if reason is None:
                fits.append(node)
            else:
                reasons[reason] += 1
                rejected.setdefault(node.pool, reason)
        fitting_pools = {n.pool for n in fits}
        rejected = {p: r for p, r in rejected.items() if p not in fitting_pools}
        return Placement(tuple(fits), rejected, dict(reasons), len(self.nodes))

    def targets_for(self, pod_spec: dict) -> Targets:
        pools: dict[Platform, set[str]] = {}
        for node in self.placement(pod_spec).candidates:
            pools.setdefault(node.platform, set()).add(node.pool)
        return Targets(
            tuple(
                TargetGroup(platform, "pool " + ", ".join(sorted(names)), tuple(sorted(names)))
                for platform, names in sorted(pools.items())
            )
        )
