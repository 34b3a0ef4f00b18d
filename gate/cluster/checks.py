"""Checks about the pod rather than one image, in cluster mode: its namespace exists, its
ServiceAccount exists, some node pool takes it. Each reports once per pod template (on its
first image use). And the registry check without `unauthorized`, which the kubelet verdict
decides in cluster mode (pullgate's own credentials are not the kubelet's)."""

from __future__ import annotations

from collections.abc import Iterable

from gate.checks import UseContext, check_registry
from gate.cluster.inputs import InputIndex
from gate.cluster.scheduling import ClusterTargets
from gate.cluster.state import ClusterForbidden, ClusterUnknown, ClusterView
from gate.cluster.uses import (
    cluster_finding,
    first_of_each_template,
    namespace_of,
    service_account_of,
    unschedulable_values,
)
from gate.findings import Finding


def check_registry_except_unauthorized(ctx: UseContext) -> Iterable[Finding]:
    res = ctx.resolution
    if res is not None and res.problem is not None and res.problem.cause == "unauthorized":
        return []
    return check_registry(ctx)


def forbidden_finding(ctx: UseContext, namespace: str, exc: ClusterForbidden) -> Finding:
    return cluster_finding(
        "cluster-forbidden",
        ctx,
        namespace,
        evidence=exc.message,
        detail=str(exc),
        verb=exc.verb,
        resource=exc.resource,
    )


def namespace_missing(
    namespace: str, index: InputIndex, view: ClusterView
) -> bool | ClusterForbidden | None:
    """Whether the namespace is neither in the input nor in the cluster: the refusal when the
    cluster may not be asked, None when it could not be read."""
    if namespace in index.namespaces:
        return False
    try:
        return not view.namespace_exists(namespace)
    except ClusterForbidden as exc:
        return exc
    except ClusterUnknown:
        return None


class ClusterChecks:
    def __init__(
        self, view: ClusterView, default_namespace: str, scheduler: ClusterTargets | None
    ) -> None:
        self.view = view
        self.default_namespace = default_namespace
        self.scheduler = scheduler
        self.index = InputIndex()
        self._first: set[int] = set()

    def prepare(self, index: InputIndex, contexts: Iterable[UseContext]) -> None:
        self.index = index
        self._first = first_of_each_template(contexts)

    def namespace(self, ctx: UseContext) -> Iterable[Finding]:
        if id(ctx) not in self._first:
            return []
        namespace = namespace_of(ctx, self.default_namespace)
        missing = namespace_missing(namespace, self.index, self.view)
        if isinstance(missing, ClusterForbidden):
            return [forbidden_finding(ctx, namespace, missing)]
        if not missing:
            return []
        return [
            cluster_finding(
                "namespace-missing",
                ctx,
                namespace,
                evidence=f'namespaces "{namespace}" not found',
                kind=ctx.use.kind,
                name=ctx.use.name,
            )
        ]

    def service_account(self, ctx: UseContext) -> Iterable[Finding]:
        if id(ctx) not in self._first:
            return []
        namespace = namespace_of(ctx, self.default_namespace)
        name = service_account_of(ctx.pod_spec)
        # `default` comes with every namespace; a missing namespace is reported on its own.
        if name == "default" or (namespace, name) in self.index.service_accounts:
            return []
        if namespace_missing(namespace, self.index, self.view) is True:
            return []
        try:
            found = self.view.service_account(namespace, name)
        except ClusterForbidden as exc:
            return [forbidden_finding(ctx, namespace, exc)]
        except ClusterUnknown:
            return []
        if found is not None:
            return []
        return [
            cluster_finding(
                "service-account-missing",
                ctx,
                namespace,
                evidence=f'serviceaccount "{name}" not found in namespace {namespace}',
                name=ctx.use.name,
            )
        ]

    def unschedulable(self, ctx: UseContext) -> Iterable[Finding]:
        if id(ctx) not in self._first or self.scheduler is None:
            return []
        placement = self.scheduler.placement(ctx.pod_spec)
        if not placement.unschedulable:
            return []
        return [
            cluster_finding(
                "unschedulable",
                ctx,
                namespace_of(ctx, self.default_namespace),
                **unschedulable_values(ctx, placement.rejected, placement.describe()),
            )
        ]

    @property
    def all(self) -> tuple:
        return (self.namespace, self.service_account, self.unschedulable)
