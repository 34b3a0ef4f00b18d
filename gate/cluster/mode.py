"""Cluster mode wired for `run_check`: the target source (node pools), the extra checks, the
access sources and the hook that indexes the input and fetches cluster objects once per run.

Without a cluster source none of this runs. Node identity sources (AKS) go between the pull
secrets and the verdict: `access_sources(node_identity=...)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TextIO

from gate.checks import (
    DEFAULT_CHECKS,
    Check,
    UseContext,
    check_rate_limit_risk,
    check_registry,
)
from gate.cluster.checks import ClusterChecks, check_registry_except_unauthorized
from gate.cluster.inputs import InputIndex
from gate.cluster.options import ClusterOptions
from gate.cluster.probe import RegistryProbe
from gate.cluster.pullsecrets import (
    KubeletVerdict,
    PullSecretAccess,
    matching,
    pod_secret_names,
)
from gate.cluster.scheduling import ClusterTargets
from gate.cluster.state import ClusterUnknown, ClusterView, load_state
from gate.cluster.uses import namespace_of, service_account_of
from gate.findings import Finding
from gate.kubelet import AccessSource
from gate.manifests import Bundle
from gate.platforms import FixedTargets, Platform, TargetSource
from gate.registry.client import ClientOptions
from gate.runner import CheckOptions, Outcome, Progress, run_check


def open_view(options: ClusterOptions) -> ClusterView:
    """The state files when given, else the live cluster (kubeconfig, context)."""
    if options.state_files:
        return load_state(options.state_files, keep_credentials=options.verify_credentials)
    from gate.cluster.api import LiveCluster

    return LiveCluster(
        options.kubeconfig,
        options.context,
        timeout=options.timeout,
        keep_credentials=options.verify_credentials,
        ends_at=options.ends_at,
    )


class ClusterMode:
    def __init__(
        self,
        view: ClusterView,
        options: ClusterOptions,
        client_options: ClientOptions | None,
        concurrency: int = 16,
    ) -> None:
        self.view = view
        self.options = options
        self.default_namespace = options.namespace or view.context_namespace or "default"
        try:
            nodes = view.nodes()
        except ClusterUnknown:
            nodes = []  # a state file without nodes: no scheduling, no node platforms
        self.scheduler = ClusterTargets(nodes) if nodes else None
        self.probe = RegistryProbe(client_options, concurrency) if client_options else None
        self.pull_secrets = PullSecretAccess(
            view, self.default_namespace, self.probe, options.verify_credentials
        )
        self.verdict = KubeletVerdict(self.pull_secrets)
        self.cluster_checks = ClusterChecks(view, self.default_namespace, self.scheduler)

    def close(self) -> None:
        if self.probe is not None:
            self.probe.close()
        close = getattr(self.view, "close", None)
        if close is not None:
            close()

    def targets(self, platforms: Sequence[Platform] = ()) -> TargetSource | None:
        """`--platform` overrides the nodes' platforms."""
        return FixedTargets(tuple(platforms)) if platforms else self.scheduler

    @property
    def targets_from(self) -> str:
        """Whose nodes give the platforms, for the report."""
        if self.options.state_files:
            return f"nodes in {', '.join(self.options.state_files)}"
        host = getattr(self.view, "host", "") or "the kube API"
        context = f", context {self.options.context}" if self.options.context else ""
        return f"nodes of {host}{context}"

    def checks(self, base: Sequence[Check] = DEFAULT_CHECKS) -> tuple[Check, ...]:
        swapped = {
            check_registry: check_registry_except_unauthorized,
            check_rate_limit_risk: self._rate_limit_risk,
        }
        return tuple(swapped.get(c, c) for c in base) + self.cluster_checks.all

    def _rate_limit_risk(self, ctx: UseContext) -> Iterable[Finding]:
        """The kubelet pulls Docker Hub images with a matching pull secret of the pod or, when
        the pod lists none, of its ServiceAccount."""
        effective = self.pull_secrets.effective_for(ctx)
        if ctx.ref is not None and effective is not None and matching(effective, ctx.ref):
            return []
        return check_rate_limit_risk(ctx)

    def access_sources(
        self, node_identity: Sequence[AccessSource] = ()
    ) -> tuple[AccessSource, ...]:
        return (self.pull_secrets, *node_identity, self.verdict)

    def prepare(self, bundle: Bundle, contexts: Sequence[UseContext]) -> None:
        index = InputIndex.from_bundle(bundle, self.default_namespace)
        namespaces: set[str] = set()
        accounts: set[tuple[str, str]] = set()
        secrets: set[tuple[str, str]] = set()
        for ctx in contexts:
            namespace = namespace_of(ctx, self.default_namespace)
            namespaces.add(namespace)
            accounts.add((namespace, service_account_of(ctx.pod_spec)))
            secrets |= {(namespace, name) for name in pod_secret_names(ctx.pod_spec)}
        namespaces -= index.namespaces
        accounts -= set(index.service_accounts)
        self.view.prefetch(namespaces, accounts, secrets)
        # Second round: the secrets the ServiceAccounts name.
        more: set[tuple[str, str]] = set()
        for key in accounts:
            try:
                sa = self.view.service_account(*key)
            except ClusterUnknown:
                continue
            if sa is not None:
                more |= {(sa.namespace, name) for name in sa.image_pull_secrets}
        for sa in index.service_accounts.values():
            more |= {(sa.namespace, name) for name in sa.image_pull_secrets}
        self.view.prefetch((), (), more - secrets)
        self.cluster_checks.prepare(index, contexts)
        self.pull_secrets.prepare(index, contexts)


def open_cluster_mode(
    options: ClusterOptions, client_options: ClientOptions | None, concurrency: int = 16
) -> ClusterMode:
    view = open_view(options)
    try:
        return ClusterMode(view, options, client_options, concurrency)
    except BaseException:
        close = getattr(view, "close", None)
        if close is not None:
            close()
        raise


def run_cluster_check(
    options: CheckOptions,
    cluster: ClusterOptions,
    stdin: TextIO | None = None,
    progress: Progress | None = None,
    node_identity: Sequence[AccessSource] = (),
) -> Outcome:
    """`run_check` with the cluster's view of the nodes and the kubelet's credentials.
    `node_identity` sources (AKS) run after the pull secrets and before the verdict."""
    client_options = None
    if not options.offline:
        client_options = ClientOptions(
            timeout=options.timeout,
            deadline=options.deadline,
            ends_at=options.ends_at,
            insecure=options.insecure,
            ca_file=options.ca_file,
        )
    cluster = replace(cluster, ends_at=options.ends_at)
    mode = open_cluster_mode(cluster, client_options, options.concurrency)
    try:
        return run_check(
            options,
            stdin=stdin,
            targets=mode.targets(options.platforms),
            checks=mode.checks(),
            access_sources=mode.access_sources(node_identity),
            progress=progress,
            prepare=(mode.prepare,),
            targets_from=mode.targets_from,
        )
    finally:
        mode.close()
