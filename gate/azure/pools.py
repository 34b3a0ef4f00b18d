"""AKS node pools as the target platforms and scheduling filter of pods.

From `agent_pools.list`: os type, OS SKU, VM size -> architecture (an Azure VM size with `p` among
its feature letters is Arm64: Standard_D4ps_v5, Standard_E8pds_v6, Standard_B2pts_v2; REFERENCE.md
§5), the node labels and taints AKS puts on the nodes, and the count. A pool scaled to zero
still takes pods (the autoscaler adds nodes), so it counts.

Each pool is treated as one node for the scheduler's filters (gate/cluster/scheduling.py): the
same nodeSelector / affinity / toleration rules decide which pools a pod can land on. With a kube
source too, the nodes' own labels win; pools the nodes do not show (scaled to zero) are added,
and where the two disagree pullgate says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gate.azure.arm import plain
from gate.cluster.scheduling import ClusterTargets, Placement
from gate.cluster.state import Node, Taint
from gate.platforms import Platform, TargetGroup, Targets, TargetSource

# Standard_<family><vCPUs>[-<constrained>]<feature letters>[_<accelerator>][_v<n>]
_VM_SIZE = re.compile(r"^(?:standard_|basic_)?([a-z]+)(\d+)(?:-\d+)?([a-z]*)", re.IGNORECASE)
WINDOWS_BUILDS = {"windows2019": "10.0.17763", "windows2022": "10.0.20348"}
SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def vm_architecture(vm_size: str) -> str:
    """`arm64` for Arm VM sizes (feature letter `p`), else `amd64`. The family letters (`NP`, an
    FPGA family) are not features: only the lower-case letters after the vCPU count count."""
    match = _VM_SIZE.match(vm_size.strip())
    if not match:
        return "amd64"
    features = match.group(3)
    return "arm64" if "p" in features else "amd64"


def parse_taint(text: str) -> Taint | None:
    """`key=value:Effect` or `key:Effect`, as AKS nodeTaints are written."""
    body, sep, effect = text.strip().rpartition(":")
    if not sep or not body or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        return None
    key, _, value = body.partition("=")
    return Taint(key, value, effect)


@dataclass(frozen=True)
class Pool:
    name: str
    os_type: str = "Linux"
    os_sku: str = ""
    vm_sizes: tuple[str, ...] = ()
    mode: str = "User"
    count: int | None = None
    min_count: int | None = None
    max_count: int | None = None
    autoscaling: bool = False
    spot: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @property
    def platforms(self) -> tuple[Platform, ...]:
        if self.os_type.lower() == "windows":
            build = WINDOWS_BUILDS.get(self.os_sku.lower(), "")
            return (Platform("windows", "amd64", "", build),)
        arches = sorted({vm_architecture(s) for s in self.vm_sizes}) or ["amd64"]
        return tuple(Platform("linux", arch) for arch in arches)

    def node_labels(self, platform: Platform) -> dict[str, str]:
        """The labels AKS puts on this pool's nodes, then the pool's own nodeLabels."""
        labels = {
            "kubernetes.io/os": platform.os,
            "kubernetes.io/arch": platform.architecture,
            "beta.kubernetes.io/os": platform.os,
            "beta.kubernetes.io/arch": platform.architecture,
            "kubernetes.azure.com/agentpool": self.name,
            "agentpool": self.name,
            "kubernetes.azure.com/mode": self.mode.lower(),
        }
        if self.os_sku:
            labels["kubernetes.azure.com/os-sku"] = self.os_sku
        if len(self.vm_sizes) == 1:
            labels["node.kubernetes.io/instance-type"] = self.vm_sizes[0]
        if platform.os_version:
            labels["node.kubernetes.io/windows-build"] = platform.os_version
        if self.spot:
            labels["kubernetes.azure.com/scalesetpriority"] = "spot"
        labels.update(self.labels)
        return labels

    def nodes(self) -> list[Node]:
        taints = self.taints + (
            (SPOT_TAINT,) if self.spot and SPOT_TAINT not in self.taints else ()
        )
        return [
            Node(f"{self.name} ({p})", self.node_labels(p), taints, p, self.name)
            for p in self.platforms
        ]

    def describe(self) -> str:
        size = ", ".join(self.vm_sizes) or "no VM size"
        if self.autoscaling:
            scale = f"autoscaler {self.min_count}-{self.max_count}"
        else:
            scale = f"{self.count if self.count is not None else '?'} nodes"
        return f"{self.name} ({self.os_type} {size}, {scale})"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _vm_sizes(model: Any) -> tuple[str, ...]:
    if getattr(model, "vm_size", None):
        return (str(model.vm_size),)
    # VirtualMachines pools list their sizes in virtual_machines_profile.scale.manual[].size
    profile = getattr(model, "virtual_machines_profile", None)
    scale = getattr(profile, "scale", None)
    sizes = [getattr(entry, "size", None) for entry in getattr(scale, "manual", None) or ()]
    return tuple(dict.fromkeys(str(s) for s in sizes if s))


def pool_from(model: Any) -> Pool:
    """From an AgentPool (or a cluster's ManagedClusterAgentPoolProfile) model."""
    taints = tuple(t for t in (parse_taint(x) for x in model.node_taints or ()) if t is not None)
    labels = {str(k): str(v) for k, v in (model.node_labels or {}).items()}
    return Pool(
        name=str(model.name or ""),
        os_type=plain(model.os_type) or "Linux",
        os_sku=plain(model.os_sku),
        vm_sizes=_vm_sizes(model),
        mode=plain(model.mode) or "User",
        count=_int(model.count),
        min_count=_int(model.min_count),
        max_count=_int(model.max_count),
        autoscaling=bool(model.enable_auto_scaling),
        spot=plain(getattr(model, "scale_set_priority", None)).lower() == "spot",
        labels=labels,
        taints=taints,
    )


class PoolTargets:
    """A `TargetSource` from the cluster's agent pools."""

    def __init__(self, pools: Sequence[Pool], cluster: str) -> None:
        self.pools = tuple(pools)
        self.cluster = cluster
        self._scheduler = ClusterTargets([n for p in self.pools for n in p.nodes()])

    def targets_for(self, pod_spec: dict) -> Targets:
        groups = self._scheduler.targets_for(pod_spec).groups
        return Targets(tuple(TargetGroup(g.platform, f"AKS {g.origin}", g.pools) for g in groups))

    def placement(self, pod_spec: Mapping) -> Placement:
        return self._scheduler.placement(pod_spec)

    def by_name(self) -> dict[str, Pool]:
        return {p.name: p for p in self.pools}


def _pools_of(targets: Targets) -> dict[str, set[Platform]]:
    found: dict[str, set[Platform]] = {}
    for group in targets.groups:
        for pool in group.pools:
            found.setdefault(pool, set()).add(group.platform)
    return found


class CombinedTargets:
    """Kube nodes and AKS pools together: the nodes' labels win; pools with no nodes in the kube
    view (scaled to zero) come from AKS; disagreements are collected for the report."""

    def __init__(self, kube: TargetSource, pools: PoolTargets) -> None:
        self.kube = kube
        self.pools = pools
        self.disagreements: dict[str, None] = {}  # ordered set of messages

    def targets_for(self, pod_spec: dict) -> Targets:
        kube = self.kube.targets_for(pod_spec)
        aks = self.pools.targets_for(pod_spec)
        kube_pools, aks_pools = _pools_of(kube), _pools_of(aks)
        known = self.pools.by_name()
        added = []
        for name, platforms in sorted(aks_pools.items()):
            seen = kube_pools.get(name)
            pool = known[name]
            if seen is None and not pool.count:
                # Scaled to zero: no node to read labels from, the AKS pool is all there is.
                added += [g for g in aks.groups if name in g.pools]
            elif seen is None:
                self._note(
                    f"AKS pool {pool.describe()} takes the pod by its nodeLabels/nodeTaints, its"
                    " nodes' labels or taints do not; the nodes' view is used"
                )
            elif seen != platforms:
                self._note(
                    f"AKS pool {pool.describe()} is {_names(platforms)} by its VM size and OS,"
                    f" its nodes are labelled {_names(seen)}; the node labels are used"
                )
        for name in sorted(set(kube_pools) - set(known)):
            self._note(f"node pool {name} has nodes in the cluster but is not an AKS agent pool")
        groups = list(kube.groups)
        for group in added:
            names = tuple(p for p in group.pools if p not in kube_pools)
            if names:
                groups.append(TargetGroup(group.platform, f"AKS pool {', '.join(names)}", names))
        return Targets(tuple(groups))

    def _note(self, message: str) -> None:
        self.disagreements.setdefault(message, None)


def _names(platforms: Iterable[Platform]) -> str:
    return ", ".join(sorted(str(p) for p in platforms))
