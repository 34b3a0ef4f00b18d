"""How cluster mode sees one image use: its namespace, and findings with cluster facts filled in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gate.checks import UseContext, finding_for
from gate.findings import Finding


def namespace_of(ctx: UseContext, default_namespace: str) -> str:
    """`metadata.namespace`, else `--namespace`, else the kube context's, else `default`."""
    return ctx.use.namespace or default_namespace


def service_account_of(pod_spec: Mapping) -> str:
    """Admission turns an empty `serviceAccountName` into `default` (`serviceAccount` is its
    deprecated alias)."""
    name = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount")
    return name if isinstance(name, str) and name else "default"


def first_of_each_template(contexts: Iterable[UseContext]) -> set[int]:
    """ids of the first use of every pod template: findings about the pod, not one image, go
    there once."""
    seen: set[int] = set()
    first: set[int] = set()
    for ctx in contexts:
        if id(ctx.pod_spec) not in seen:
            seen.add(id(ctx.pod_spec))
            first.add(id(ctx))
    return first


def cluster_finding(cause_id: str, ctx: UseContext, namespace: str, **kwargs: object) -> Finding:
    """A finding whose namespace and ServiceAccount are the ones cluster mode worked out."""
    more = {"service_account": service_account_of(ctx.pod_spec), **kwargs}
    return finding_for(cause_id, ctx, namespace=namespace, **more)  # type: ignore[arg-type]


def daemonset_placement(ctx: UseContext) -> str:
    """What a DaemonSet no node takes shows: no FailedScheduling, a status of zero."""
    return f"DaemonSet {ctx.use.name}: desiredNumberScheduled 0, currentNumberScheduled 0"


def unschedulable_values(ctx: UseContext, rejected: Mapping[str, str], placement: str) -> dict:
    """The `unschedulable` finding's fields, in cluster and in AKS mode: each pool's reason,
    and for a DaemonSet its zero status in place of `placement`."""
    pools = "; ".join(f"pool {p}: {r}" for p, r in sorted(rejected.items()))
    daemonset = ctx.use.kind == "DaemonSet"
    return {
        "evidence": pools,
        "extra": {"pools": dict(rejected)},
        "placement": daemonset_placement(ctx) if daemonset else placement,
        "pools": pools,
        "fix_flavor": "daemonset" if daemonset else "default",
    }
