"""The cluster source options of `pullgate check`, light to import (the CLI reads them before
knowing whether cluster mode runs)."""

from __future__ import annotations

from dataclasses import dataclass


class ClusterError(Exception):
    """The cluster source cannot be used at all (bad kubeconfig, API unreachable, no node list):
    a one-line usage error. Defined here, not in gate.cluster.state, so that the CLI can name it
    without importing the state reader (yaml, credentials) on every run."""


@dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    state_files: tuple[str, ...] = ()
    namespace: str | None = None
    verify_credentials: bool = False
    timeout: float = 10.0
    ends_at: float | None = None  # the run's deadline (time.monotonic()), shared by every phase

    @property
    def enabled(self) -> bool:
        """Cluster mode runs only when a cluster source is named."""
        return bool(self.kubeconfig or self.context or self.state_files)

    def usage_problem(self, offline: bool) -> str | None:
        if not self.enabled:
            if self.namespace or self.verify_credentials:
                return (
                    "--namespace and --verify-credentials need a cluster source: --kubeconfig,"
                    " --context or --cluster-state"
                )
            return None
        if self.state_files and (self.kubeconfig or self.context):
            return "give either --cluster-state or --kubeconfig/--context, not both"
        if offline and not self.state_files:
            return "--offline reads no kube API: use --cluster-state FILE (from pullgate snapshot)"
        if offline and self.verify_credentials:
            return "--verify-credentials asks the registries: it cannot run with --offline"
        return None
