"""The AKS kubelet identity as an `AccessSource`: for every ACR image, can the cluster's nodes
pull it with their own identity (what `az aks check-acr` answers from inside the cluster, here
from ARM, ABAC-aware), and the registry's posture as the nodes will meet it.

Runs after the cluster's pull secrets when both sources are given: a pull secret that works
makes the node identity moot for that image, and an unverified matching secret turns the
finding into a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from gate.azure.arm import ArmDenied, ArmNotFound, AzureError
from gate.azure.cluster import AksCluster
from gate.azure.network import NodeNetwork, NodeProblem, NodeView
from gate.azure.rbac import ABAC_READER, PullVerdict, RegistryGrants, RoleReader, decide
from gate.azure.registry import (
    Reach,
    RegistryFinder,
    RegistryInfo,
    RegistryLookup,
    Resolver,
    endpoint_url,
    probe_endpoint,
    proxied,
    resolve_host,
    system_resolve,
)
from gate.causes import Severity
from gate.checks import UseContext, finding_for
from gate.findings import Finding
from gate.kubelet import PullAccess
from gate.manifests import Bundle
from gate.registry.hosts import is_acr

if TYPE_CHECKING:
    from gate.registry.resolve import Problem

LOGIN_BROKEN = ("dns", "unreachable", "tls")
RUNNER = "from the runner"
NODES = "from the nodes (per ARM)"


@dataclass
class RegistryState:
    domain: str
    lookup: RegistryLookup
    grants: RegistryGrants | None = None
    grants_denied: ArmDenied | None = None
    login: Reach | None = None  # the login server as the runner resolves it
    data_endpoints: dict[str, Reach] = field(default_factory=dict)
    verdicts: dict[str, PullVerdict] = field(default_factory=dict)
    nodes: NodeView | None = None  # the nodes' network view, None when it could not be read

    @property
    def registry(self) -> RegistryInfo | None:
        return self.lookup.registry


def _endpoint_placeholders(host: str) -> dict[str, object]:
    """The catalog's host placeholders for a data endpoint instead of the login server."""
    return {"registry_host": host, "registry_hostname": host, "registry_host_port": f"{host}:443"}


class AksPullAccess:
    """An `AccessSource` (gate/kubelet.py) plus the `prepare` hook that reads ARM and probes the
    registries' endpoints once per registry, before any assessment."""

    def __init__(
        self,
        cluster: AksCluster,
        finder: RegistryFinder,
        roles: RoleReader,
        timeout: float = 10.0,
        resolve: Resolver = system_resolve,
        is_registry: Callable[[str], bool] = is_acr,
        data_url: Callable[[str], str] = endpoint_url,
        ca_file: str | None = None,
        network: NodeNetwork | None = None,
        pipeline: Callable[[], str | None] = lambda: None,
        pipeline_type: Callable[[], str] = lambda: "ServicePrincipal",
    ) -> None:
        self.cluster = cluster
        self.network = network
        self.pipeline = pipeline  # the object id pullgate's own Azure login runs as
        self.pipeline_type = pipeline_type  # User or ServicePrincipal
        self.finder = finder
        self.roles = roles
        self.timeout = timeout
        self.resolve = resolve
        self.data_url = data_url
        self.ca_file = ca_file
        self.is_registry = is_registry
        self.states: dict[str, RegistryState] = {}
        self.reported: set[int] = set()  # ids of contexts that got an acr-not-attached finding
        self.notes: dict[str, None] = {}
        self._first: dict[str, int] = {}  # registry domain -> id of its first use
        self._runner_refused: dict[int, str] = {}  # use -> the pipeline's own 401, folded in

    # ---- reading, once per registry ------------------------------------------------------

    def prepare(self, bundle: Bundle, contexts: Sequence[UseContext]) -> None:
        login_ok: dict[str, bool] = {}
        for ctx in contexts:
            if ctx.ref is None or ctx.never_pull or not self.is_registry(ctx.ref.domain):
                continue
            domain = ctx.ref.domain.lower()
            self._first.setdefault(domain, id(ctx))
            res = ctx.resolution
            broken = (
                res is not None and res.problem is not None and res.problem.cause in LOGIN_BROKEN
            )
            login_ok[domain] = login_ok.get(domain, True) and not broken
        for domain in self._first:
            self.states[domain] = self._read(domain)
        self._probe_network(login_ok)

    def _read(self, domain: str) -> RegistryState:
        state = RegistryState(domain, self.finder.find(domain))
        registry = state.registry
        object_id = self.cluster.identity.object_id
        if registry is not None:
            state.nodes = self._node_view(registry)
        if registry is None or object_id is None:
            return state
        try:
            state.grants = self.roles.grants(registry.id, object_id)
        except ArmDenied as exc:
            state.grants_denied = exc
            return state
        if not state.grants.groups_included:
            self._note(
                f"{registry.name}: role assignments listed without group memberships (the API"
                " refused assignedTo()); a role held through a group is not seen"
            )
        if registry.anonymous_pull:
            self._note(
                f"{registry.name} allows anonymous pull (anonymousPullEnabled): any node can"
                " pull its images without a credential"
            )
        return state

    def _probe_network(self, login_ok: Mapping[str, bool]) -> None:
        jobs: list[tuple[RegistryState, str | None]] = []
        for domain, state in self.states.items():
            registry = state.registry
            if registry is None or not login_ok.get(domain, False):
                continue
            if registry.restricted and not proxied(state.domain.split(":")[0]):
                jobs.append((state, None))
            jobs += [(state, host) for host in registry.data_endpoints]
        if not jobs:
            return

        def run(job: tuple[RegistryState, str | None]) -> None:
            state, host = job
            if host is None:
                state.login = resolve_host(state.domain.split(":")[0], self.timeout, self.resolve)
            else:
                state.data_endpoints[host] = probe_endpoint(
                    host, self.data_url(host), self.timeout, self.ca_file
                )

        with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
            list(pool.map(run, jobs))

    def _node_view(self, registry: RegistryInfo) -> NodeView | None:
        if self.network is None or registry.network is None:
            return None
        try:
            return self.network.predict(registry.network)
        except (ArmDenied, ArmNotFound, AzureError) as exc:
            self._note(
                f"{registry.name}: the nodes' network view was not read from ARM ({exc});"
                " network findings are from the runner only"
            )
            return None

    def _note(self, message: str) -> None:
        self.notes.setdefault(message, None)

    # ---- the registry check, merged with the nodes' view ------------------------------------

    def merge(self, ctx: UseContext, found: list[Finding]) -> list[Finding]:
        """The runner's registry findings for one use, judged against the nodes' view: a
        network error the nodes share becomes the nodes' one finding with the runner's words in
        its evidence; one only the runner meets says so; a 401 to pullgate's own login gets the
        advice that fits the kubelet's verdict."""
        state = self._state(ctx)
        if state is None or state.registry is None:
            return found
        runner = [f for f in found if f.cause in LOGIN_BROKEN]
        rest = []
        for finding in found:
            if finding.cause == "unauthorized":
                rest += self._pipeline_refused(ctx, state, finding)
            elif finding.cause not in LOGIN_BROKEN:
                rest.append(finding)
        view = state.nodes
        if view is None:
            return rest + runner
        problem = ctx.resolution.problem if ctx.resolution else None
        seen = [problem.detail if problem else f.evidence for f in runner] + [
            f"data endpoint {host}: {reach.detail}"
            for host, reach in sorted(state.data_endpoints.items())
            if reach.cause
        ]
        if view.errors:
            return rest + [self._node_error(ctx, state, p, seen) for p in view.errors]
        said = f"{NODES}: reachable through {view.path}"
        return rest + [self._runner_only(ctx, f, problem, said, seen) for f in runner]

    @staticmethod
    def _runner_only(
        ctx: UseContext, finding: Finding, problem: Problem | None, said: str, seen: list[str]
    ) -> Finding:
        """ARM found the registry and the nodes' path to it: a name that does not resolve or a
        host that does not answer from here is this runner's network, not the manifest's host
        name (a TLS failure stays: the nodes may meet the same certificate)."""
        evidence = f"{RUNNER}: {finding.evidence or seen[0]}; {said}"
        if finding.cause not in ("dns", "unreachable"):
            return replace(finding, evidence=evidence)
        detail = (problem.detail if problem else "") or finding.evidence
        return finding_for(
            "runner-network",
            ctx,
            evidence=evidence,
            extra={"seen_from": "runner", "nodes": said},
            detail=detail,
        )

    def _state(self, ctx: UseContext) -> RegistryState | None:
        if ctx.ref is None or ctx.never_pull or not self.is_registry(ctx.ref.domain):
            return None
        return self.states.get(ctx.ref.domain.lower())

    def _node_error(
        self, ctx: UseContext, state: RegistryState, problem: NodeProblem, seen: list[str]
    ) -> Finding:
        assert state.registry is not None
        runner = f"; {RUNNER}: {'; '.join(seen)}" if seen else ""
        host = problem.host
        placeholders = _endpoint_placeholders(host) if host != state.domain else {}
        return finding_for(
            problem.cause,
            ctx,
            evidence=f"{NODES}: {problem.evidence}{runner}",
            extra={"seen_from": "nodes (per ARM)", "host": host, "runner": seen},
            fix_flavor=problem.flavor,
            **(self._common(state.registry) | placeholders | problem.values),
            detail=problem.detail,
        )

    def verdict_for(self, ctx: UseContext, state: RegistryState) -> PullVerdict | None:
        registry = state.registry
        if registry is None or state.grants is None or ctx.ref is None:
            return None
        verdict = state.verdicts.get(ctx.ref.path)
        if verdict is None:
            verdict = decide(state.grants.grants, registry.id, registry.abac, ctx.ref.path)
            state.verdicts[ctx.ref.path] = verdict
        return verdict

    def _pipeline_refused(
        self, ctx: UseContext, state: RegistryState, finding: Finding
    ) -> list[Finding]:
        """pullgate's own read got 401. When the kubelet cannot pull either, the node's finding
        (acr-not-attached) carries it; when the kubelet can, the pipeline identity lacks pull."""
        registry = state.registry
        verdict = self.verdict_for(ctx, state)
        assert registry is not None
        if verdict is None or verdict.can_pull is None:
            return [finding]
        if verdict.can_pull is False and not registry.anonymous_pull:
            self._runner_refused[id(ctx)] = finding.evidence or finding.signature
            return []
        oid = self.pipeline()
        role = ABAC_READER if registry.abac else "AcrPull"
        who = (
            f"pullgate read {registry.login_server} with the pipeline's Azure login"
            f" ({'object id ' + oid if oid else 'its identity'}), and the registry refused it;"
            f" the nodes pull as the {self.cluster.identity.describe()}, which holds"
            f" {'; '.join(verdict.granted_by) or 'anonymous pull'} and so gets in"
        )
        assignee = (
            f"--assignee-object-id {oid} --assignee-principal-type {self.pipeline_type()}"
            if oid
            else "--assignee $(az account show --query user.name -o tsv)"
        )
        return [
            finding_for(
                "unauthorized",
                ctx,
                evidence=f"{RUNNER}: {finding.evidence}" if finding.evidence else "",
                extra={"pipeline_object_id": oid, "node_identity_can_pull": True},
                fix_flavor="acr-pipeline",
                who=who,
                pipeline_assignee=assignee,
                pull_role=role,
                **self._common(registry),
            )
        ]

    # ---- assessing each image use --------------------------------------------------------

    def assess(self, ctx: UseContext, access: PullAccess) -> Iterable[Finding]:
        if ctx.ref is None or ctx.never_pull or not self.is_registry(ctx.ref.domain):
            return []
        state = self.states.get(ctx.ref.domain.lower())
        if state is None:
            return []
        findings = self._registry_findings(ctx, state) if self._is_first(ctx, state) else []
        registry = state.registry
        if registry is None or state.grants is None:
            return findings
        if registry.anonymous_pull:
            if access.anonymous_ok is None:
                access.anonymous_ok = True
            return findings
        verdict = self.verdict_for(ctx, state)
        assert verdict is not None
        access.node_identity = verdict.can_pull
        if verdict.can_pull is None and verdict.unevaluated:
            findings.append(self._unevaluated(ctx, registry, verdict))
        elif verdict.can_pull is None:
            findings.append(self._wildcard(ctx, registry, verdict))
        elif verdict.can_pull is False and not access.secret_works:
            findings.append(self._not_attached(ctx, registry, verdict, access))
            self.reported.add(id(ctx))
        return findings

    def _is_first(self, ctx: UseContext, state: RegistryState) -> bool:
        return self._first.get(state.domain) == id(ctx)

    def _common(self, registry: RegistryInfo | None) -> dict[str, object]:
        identity = self.cluster.identity
        values: dict[str, object] = {
            "cluster": self.cluster.name,
            "resource_group": self.cluster.resource_group,
            "subscription": self.cluster.subscription,
            "identity": identity.describe(),
            "object_id": identity.object_id,
            "client_id": identity.client_id,
        }
        if registry is not None:
            same = registry.subscription.lower() == self.cluster.subscription.lower()
            values |= {
                "registry_id": registry.id,
                "acr": registry.name,
                "acr_ref": registry.name if same else registry.id,
            }
        return values

    def _registry_findings(self, ctx: UseContext, state: RegistryState) -> list[Finding]:
        """Findings about the registry or the cluster, once per registry (its first use)."""
        registry = state.registry
        common = self._common(registry)
        identity = self.cluster.identity
        denied = state.lookup.denied or state.grants_denied
        if denied is not None:
            return [
                finding_for(
                    "azure-forbidden",
                    ctx,
                    evidence=str(denied),
                    extra={"scope": denied.scope},
                    operation=denied.operation,
                    scope=denied.scope,
                    detail=denied.message,
                    **common,
                )
            ]
        if registry is None:
            return [
                finding_for(
                    "acr-registry-not-found",
                    ctx,
                    evidence=f"no registry with login server {state.domain} among the"
                    f" registries of subscription {state.lookup.searched}",
                    **(common | {"subscription": state.lookup.searched}),
                    cloud=self.finder.session.cloud.name,
                )
            ]
        findings = []
        if identity.object_id is None:
            findings.append(
                finding_for(
                    "kubelet-identity-unknown",
                    ctx,
                    evidence=identity.problem,
                    detail=identity.problem,
                    **common,
                )
            )
        if state.nodes is not None:
            findings += [self._node_warning(ctx, p, common) for p in state.nodes.warnings]
            self._runner_only_notes(state, registry)
        else:
            findings += self._network_findings(ctx, state, registry, common)
        return findings

    def _node_warning(self, ctx: UseContext, problem: NodeProblem, common: dict) -> Finding:
        domain = ctx.ref.domain.lower() if ctx.ref else ""
        host = _endpoint_placeholders(problem.host) if problem.host != domain else {}
        return finding_for(
            problem.cause,
            ctx,
            evidence=f"{NODES}: {problem.evidence}",
            extra={"seen_from": "nodes (per ARM)", "host": problem.host},
            fix_flavor=problem.flavor or None,
            **(common | host | problem.values),
        )

    def _runner_only_notes(self, state: RegistryState, registry: RegistryInfo) -> None:
        """Data endpoints the runner cannot reach while the nodes can: pullgate downloads no
        layers, so only the nodes' view counts; said once."""
        view = state.nodes
        if view is None or view.errors:
            return
        for host, reach in sorted(state.data_endpoints.items()):
            if reach.cause:
                self._note(
                    f"{RUNNER}: data endpoint {host} of {registry.name}: {reach.detail};"
                    f" {NODES}: reachable through {view.path}"
                )

    def _network_findings(
        self, ctx: UseContext, state: RegistryState, registry: RegistryInfo, common: dict
    ) -> list[Finding]:
        findings = []
        login = state.login
        if registry.restricted and login is not None and login.public:
            endpoints = registry.private_endpoints
            findings.append(
                finding_for(
                    "registry-network-restricted",
                    ctx,
                    evidence=f"{RUNNER}: {registry.restricted}; {state.domain} ->"
                    f" {', '.join(login.addresses)}",
                    extra={"addresses": list(login.addresses)},
                    restriction=registry.restricted,
                    addresses=", ".join(login.addresses),
                    private_endpoints=f" The registry has {endpoints} private endpoint"
                    f"{'s' if endpoints != 1 else ''}.",
                    **common,
                )
            )
            return findings  # its data endpoints are closed to this runner as well
        for host, reach in sorted(state.data_endpoints.items()):
            if not reach.cause:
                continue
            findings.append(
                finding_for(
                    reach.cause,
                    ctx,
                    evidence=f"{RUNNER}: data endpoint {host} of {registry.name}: {reach.detail}"
                    f" (the login server {state.domain} answers: layers would not download)",
                    extra={"data_endpoint": host},
                    fix_flavor="acr",
                    **(common | _endpoint_placeholders(host)),
                    detail=reach.detail,
                )
            )
        return findings

    def _mode_note(self, registry: RegistryInfo, verdict: PullVerdict) -> str:
        note = ""
        if registry.abac:
            note = (
                " The registry is in ABAC mode (roleAssignmentMode AbacRepositoryPermissions):"
                " only Container Registry Repository roles grant pull there."
            )
        if verdict.not_honoured:
            note += " Not counted: " + "; ".join(verdict.not_honoured) + "."
        return note

    @staticmethod
    def _secrets_note(ctx: UseContext, access: PullAccess) -> tuple[str, Severity | None]:
        if access.no_pod is not None:
            return (
                f" No pod is made yet ({access.no_pod}); once it is, this pull fails.",
                Severity.WARNING,
            )
        if access.matching_secrets and access.secret_works is None:
            names = ", ".join(access.matching_secrets)
            return (
                f" Pull secret {names} matches the registry but was not tried"
                " (--verify-credentials): the pull works only if it is valid.",
                Severity.WARNING,
            )
        if access.secret_works is False:
            return f" Its pull secret {', '.join(access.matching_secrets)} was refused too.", None
        if access.effective_secrets == []:
            return " The pod has no pull secret either.", None
        if access.effective_secrets:
            names = ", ".join(access.effective_secrets)
            assert ctx.ref is not None
            return f" Its pull secrets ({names}) have no key for {ctx.ref.domain}.", None
        return "", None

    def _not_attached(
        self, ctx: UseContext, registry: RegistryInfo, verdict: PullVerdict, access: PullAccess
    ) -> Finding:
        secrets_note, severity = self._secrets_note(ctx, access)
        evidence = f"{self.cluster.identity.describe()} {verdict.summary()}"
        refused = self._runner_refused.get(id(ctx))
        if refused:
            evidence += f"; {RUNNER}: pullgate's own read was refused too ({refused})"
        return finding_for(
            "acr-not-attached",
            ctx,
            evidence=evidence,
            extra={
                "principal": self.cluster.identity.object_id,
                "registry_id": registry.id,
                "abac": registry.abac,
                "assignments": list(verdict.held),
            },
            severity=severity,
            fix_flavor="acr-abac" if registry.abac else "acr",
            held=verdict.summary(),
            mode_note=self._mode_note(registry, verdict),
            secrets_note=secrets_note,
            **self._common(registry),
        )

    def _unevaluated(
        self, ctx: UseContext, registry: RegistryInfo, verdict: PullVerdict
    ) -> Finding:
        return finding_for(
            "acr-condition-unevaluated",
            ctx,
            evidence="; ".join(verdict.unevaluated),
            extra={"conditions": list(verdict.unevaluated)},
            unevaluated="; ".join(verdict.unevaluated),
            **self._common(registry),
        )

    def _wildcard(self, ctx: UseContext, registry: RegistryInfo, verdict: PullVerdict) -> Finding:
        roles = "; ".join(verdict.wildcard)
        return finding_for(
            "acr-role-wildcard",
            ctx,
            evidence=f"{self.cluster.identity.describe()} {verdict.summary()}",
            extra={"wildcard_roles": list(verdict.wildcard)},
            wildcard=roles,
            **self._common(registry),
        )


class QuietVerdict:
    """Wraps the cluster mode's kubelet verdict (an `AccessSource`): silent for the image uses
    the AKS source already reported with its own, exact fix, so each failing use gets one
    finding."""

    def __init__(self, verdict: object, aks: AksPullAccess) -> None:
        self.verdict = verdict
        self.aks = aks

    def assess(self, ctx: UseContext, access: PullAccess) -> Iterable[Finding]:
        if id(ctx) in self.aks.reported:
            # The verdict still reports the pod's pull secret problems, as warnings.
            access.reported_failure = "acr-not-attached"
        return self.verdict.assess(ctx, access)  # type: ignore[attr-defined]
