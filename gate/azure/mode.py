"""`pullgate check --aks`: the cluster read from ARM, wired into `run_check` (and into cluster
mode when a kube source is given too).

Reads the managed cluster (kubelet identity, pools) before the run: a cluster that cannot be read
is a one-line error. Everything per registry happens in the prepare hook, once the input names
the registries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from gate.azure.access import AksPullAccess, QuietVerdict
from gate.azure.arm import CLOUDS, ArmSession, require_sdk
from gate.azure.cluster import read_cluster, resolve_subscription
from gate.azure.exchange import AcrExchange
from gate.azure.exchange import exchange_url as acr_exchange_url
from gate.azure.network import NetworkReader, NodeNetwork
from gate.azure.options import AksOptions
from gate.azure.pools import CombinedTargets, PoolTargets
from gate.azure.rbac import RoleReader
from gate.azure.registry import RegistryFinder, Resolver, endpoint_url, system_resolve
from gate.checks import DEFAULT_CHECKS, Check, UseContext, check_registry, finding_for
from gate.cluster.uses import first_of_each_template, unschedulable_values
from gate.findings import Finding
from gate.platforms import FixedTargets, TargetSource
from gate.policy import Note
from gate.registry.hosts import is_acr
from gate.runner import CheckOptions, Outcome, Progress, run_check

if TYPE_CHECKING:
    from gate.cluster.options import ClusterOptions
    from gate.manifests import Bundle


class AksMode:
    def __init__(
        self,
        session: ArmSession,
        options: AksOptions,
        timeout: float = 10.0,
        resolve: Resolver = system_resolve,
        data_url: Callable[[str], str] = endpoint_url,
        is_registry: Callable[[str], bool] = is_acr,
        ca_file: str | None = None,
        exchange_url: Callable[[str], str] = acr_exchange_url,
    ) -> None:
        self.session = session
        subscription = resolve_subscription(options, session)
        self.cluster = read_cluster(session, options, subscription)
        self.pools = (
            PoolTargets(self.cluster.pools, self.cluster.name) if self.cluster.pools else None
        )
        self.network = NetworkReader(session, self.cluster.network)
        self.access = AksPullAccess(
            self.cluster,
            RegistryFinder(session, subscription, options.registries),
            RoleReader(session, subscription),
            timeout=timeout,
            resolve=resolve,
            is_registry=is_registry,
            data_url=data_url,
            ca_file=ca_file,
            network=NodeNetwork(self.network, session.cloud.acr_suffix),
            pipeline=session.principal,
            pipeline_type=session.principal_type,
        )
        self.exchange = AcrExchange(
            lambda: session.token(session.cloud.acr_scope),
            verify=ca_file or True,
            timeout=timeout,
            is_registry=is_registry,
            url_for=exchange_url,
            ends_at=session.ends_at,
        )
        self.combined: CombinedTargets | None = None
        self._first: set[int] = set()

    def targets(
        self, kube: TargetSource | None, platforms: Sequence[Any] = ()
    ) -> TargetSource | None:
        """`--platform` wins, then kube nodes with AKS pools added, then AKS pools alone (None:
        neither, the config's platforms apply)."""
        if platforms:
            return FixedTargets(tuple(platforms))
        if self.pools is None:
            return kube
        if kube is None:
            return self.pools
        self.combined = CombinedTargets(kube, self.pools)
        return self.combined

    def checks(self, base: Sequence[Check]) -> tuple[Check, ...]:
        """`base` with its registry check judged against the nodes' view (AksPullAccess.merge)."""
        from gate.cluster.checks import check_registry_except_unauthorized

        registry_checks = (check_registry, check_registry_except_unauthorized)
        return tuple(self._merged(c) if c in registry_checks else c for c in base)

    def _merged(self, inner: Check) -> Check:
        def check(ctx: UseContext) -> Iterable[Finding]:
            return self.access.merge(ctx, list(inner(ctx)))

        return check

    def prepare(self, bundle: Bundle, contexts: Sequence[UseContext]) -> None:
        self._first = first_of_each_template(contexts)
        self.access.prepare(bundle, contexts)

    def unschedulable(self, ctx: UseContext) -> Iterable[Finding]:
        """Without a kube source: a pod no agent pool takes stays Pending."""
        if id(ctx) not in self._first or self.pools is None:
            return []
        placement = self.pools.placement(ctx.pod_spec)
        if not placement.unschedulable:
            return []
        taken = f"0/{placement.total} agent pools of AKS cluster {self.cluster.name} take the pod"
        return [
            finding_for(
                "unschedulable", ctx, **unschedulable_values(ctx, placement.rejected, taken)
            )
        ]

    def notes(self) -> list[Note]:
        found = dict(self.access.notes)
        if self.combined is not None:
            found |= self.combined.disagreements
        for host, why in sorted(self.exchange.problems.items()):
            found.setdefault(f"pullgate's own reads of {host}: {why}", None)
        return [Note(message) for message in found]


def run_aks_check(
    options: CheckOptions,
    aks: AksOptions,
    cluster: ClusterOptions | None = None,
    stdin: TextIO | None = None,
    progress: Progress | None = None,
    session: ArmSession | None = None,
    **mode_kwargs: Any,
) -> Outcome:
    """`run_check` with the AKS source, alone or on top of cluster mode."""
    if session is None:
        require_sdk()
    session = session or ArmSession(
        CLOUDS[aks.cloud],
        verify=options.ca_file or True,
        timeout=options.timeout,
        ends_at=options.ends_at,
    )
    mode = AksMode(session, aks, timeout=options.timeout, ca_file=options.ca_file, **mode_kwargs)
    options = replace(options, fallback_credentials=mode.exchange.lookup)
    if cluster is not None and cluster.enabled:
        outcome = _with_cluster(options, cluster, mode, stdin, progress)
    else:
        checks: tuple[Check, ...] = mode.checks(DEFAULT_CHECKS)
        if not options.platforms:
            checks += (mode.unschedulable,)
        outcome = run_check(
            options,
            stdin=stdin,
            targets=mode.targets(None, options.platforms),
            checks=checks,
            access_sources=(mode.access,),
            progress=progress,
            prepare=(mode.prepare,),
            targets_from=f"agent pools of AKS cluster {mode.cluster.name}",
        )
    outcome.notes.extend(mode.notes())
    return outcome


def _with_cluster(
    options: CheckOptions,
    cluster: ClusterOptions,
    mode: AksMode,
    stdin: TextIO | None,
    progress: Progress | None,
) -> Outcome:
    from gate.cluster.mode import open_cluster_mode
    from gate.registry.client import ClientOptions

    client_options = ClientOptions(
        timeout=options.timeout,
        deadline=options.deadline,
        ends_at=options.ends_at,
        insecure=options.insecure,
        ca_file=options.ca_file,
    )
    cluster = replace(cluster, ends_at=options.ends_at)
    kube = open_cluster_mode(cluster, client_options, options.concurrency)
    try:
        sources = tuple(
            QuietVerdict(s, mode.access) if s is kube.verdict else s
            for s in kube.access_sources((mode.access,))
        )
        return run_check(
            options,
            stdin=stdin,
            targets=mode.targets(kube.targets(), options.platforms),
            checks=mode.checks(kube.checks()),
            access_sources=sources,
            progress=progress,
            prepare=(kube.prepare, mode.prepare),
            targets_from=kube.targets_from
            + (f", with the agent pools of AKS cluster {mode.cluster.name}" if mode.pools else ""),
        )
    finally:
        kube.close()
