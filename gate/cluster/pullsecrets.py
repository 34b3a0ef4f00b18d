"""The pull secrets the kubelet would present for a pod (REFERENCE.md §4), and what becomes of them.

Effective secrets: the pod's own `imagePullSecrets`, else its ServiceAccount's (`default` when
unnamed); the lists are not merged. Each is looked up in the pod's namespace: in the input (the
deploy creates it), else in the cluster, else made by a controller from the input (ExternalSecret,
SealedSecret, ...: present, contents unknown). Keys match images by the kubelet's keyring rules
(gate/registry/keyring.py). With `--verify-credentials` each matching credential is tried.

`PullSecretAccess` fills `PullAccess` and reports the secrets' own problems; `KubeletVerdict` runs
last, after node identity sources, and reports an image no credential of the kubelet's gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from gate.causes import Severity
from gate.checks import UseContext, check_registry
from gate.cluster.checks import forbidden_finding, namespace_missing
from gate.cluster.inputs import InputIndex
from gate.cluster.probe import RegistryProbe
from gate.cluster.state import (
    ClusterForbidden,
    ClusterUnknown,
    ClusterView,
    PullSecret,
    RegistryAuth,
    ServiceAccount,
)
from gate.cluster.uses import cluster_finding, namespace_of, service_account_of
from gate.findings import Finding
from gate.kubelet import PullAccess
from gate.reference import ImageRef
from gate.registry.credentials import Credential
from gate.registry.hosts import api_host, is_acr
from gate.registry.resolve import Resolution


def pod_secret_names(pod_spec: Mapping) -> list[str]:
    secrets = pod_spec.get("imagePullSecrets")
    if not isinstance(secrets, list):
        return []
    names = [s.get("name") for s in secrets if isinstance(s, dict)]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


@dataclass(frozen=True)
class SecretRef:
    """One effective pull secret of a pod, as found."""

    name: str
    state: str  # "present", "missing", "made" (by a controller), "unknown"
    secret: PullSecret | None = None
    detail: str = ""  # why unknown
    forbidden: ClusterForbidden | None = None
    elsewhere: tuple[str, ...] = ()  # namespaces that do hold a secret of this name

    @property
    def problem(self) -> bool:
        return self.state == "missing" or (
            self.state == "present" and self.secret is not None and bool(self.secret.problem)
        )

    @property
    def fatal(self) -> bool:
        """An undecodable config: the kubelet fails every pull of the pod, public images too."""
        return self.state == "present" and self.secret is not None and self.secret.fatal


@dataclass(frozen=True)
class Effective:
    namespace: str
    origin: str  # "pod" or "ServiceAccount NAME"
    secrets: tuple[SecretRef, ...] | None  # None: unknown (ServiceAccount missing or unreadable)
    # No pod is created (service-account-missing) or nothing is applied (namespace-missing):
    # those findings stand for the pull too.
    account_missing: bool = False
    namespace_missing: bool = False
    # The ServiceAccount's own imagePullSecrets, which a pod that lists its own does not get.
    replaced: tuple[str, ...] = ()

    @property
    def problems(self) -> list[SecretRef]:
        """Secrets the kubelet cannot use, in its order: missing, or present but unusable."""
        return [s for s in self.secrets or () if s.problem]


def lookup_secret(
    name: str, namespace: str, index: InputIndex, view: ClusterView, candidates: Iterable[str]
) -> SecretRef:
    if (namespace, name) in index.secrets:
        return SecretRef(name, "present", index.secrets[(namespace, name)])
    problem: ClusterUnknown | None = None
    try:
        secret = view.secret(namespace, name)
    except ClusterUnknown as exc:
        secret, problem = None, exc
    if secret is not None:
        return SecretRef(name, "present", secret)
    if (namespace, name) in index.made:
        return SecretRef(name, "made", index.made[(namespace, name)])
    if problem is not None:
        forbidden = problem if isinstance(problem, ClusterForbidden) else None
        return SecretRef(name, "unknown", detail=str(problem), forbidden=forbidden)
    others = set(candidates) - {namespace}
    elsewhere = set(view.secret_elsewhere(name, others)) | set(
        index.secret_elsewhere(name, namespace)
    )
    return SecretRef(name, "missing", elsewhere=tuple(sorted(elsewhere - {namespace})))


def effective_secrets(
    pod_spec: Mapping,
    namespace: str,
    index: InputIndex,
    view: ClusterView,
    candidates: Iterable[str] = (),
) -> Effective:
    candidates = list(candidates)
    names = pod_secret_names(pod_spec)
    if names:
        found = tuple(lookup_secret(n, namespace, index, view, candidates) for n in names)
        replaced = _account_secrets(pod_spec, namespace, index, view)
        return Effective(namespace, "pod", found, replaced=replaced)
    sa_name = service_account_of(pod_spec)
    origin = f"ServiceAccount {sa_name}"
    try:
        sa = _service_account(sa_name, namespace, index, view)
    except ClusterUnknown:
        return Effective(namespace, origin, None)
    if sa is None:
        # The ServiceAccount controller makes `default` in every namespace, with no secrets.
        if sa_name == "default":
            return Effective(namespace, origin, ())
        return Effective(namespace, origin, None, account_missing=True)
    names = list(dict.fromkeys(sa.image_pull_secrets))
    found = tuple(lookup_secret(n, namespace, index, view, candidates) for n in names)
    return Effective(namespace, origin, found)


def _account_secrets(
    pod_spec: Mapping, namespace: str, index: InputIndex, view: ClusterView
) -> tuple[str, ...]:
    try:
        sa = _service_account(service_account_of(pod_spec), namespace, index, view)
    except ClusterUnknown:
        return ()
    return tuple(dict.fromkeys(sa.image_pull_secrets)) if sa is not None else ()


def _service_account(
    name: str, namespace: str, index: InputIndex, view: ClusterView
) -> ServiceAccount | None:
    """The ServiceAccount from the input, else from the cluster (ClusterUnknown: unreadable)."""
    found = index.service_accounts.get((namespace, name))
    return found if found is not None else view.service_account(namespace, name)


def matching(effective: Effective, ref: ImageRef) -> list[tuple[SecretRef, RegistryAuth]]:
    """(secret, key) pairs whose key matches the image, in the kubelet's order."""
    found = []
    for ref_ in effective.secrets or ():
        if ref_.state != "present" or ref_.secret is None or ref_.secret.problem:
            continue
        found += [(ref_, entry.value) for entry in ref_.secret.keyring().lookup(ref.name)]
    return found


def _describe_keys(secrets: Sequence[SecretRef]) -> str:
    """`pull secret a (keys for x, y)` / `pull secrets a (keys for x) and b (no registry key)`."""
    parts = []
    for s in secrets:
        if s.state == "present" and s.secret is not None and not s.secret.problem:
            keys = ", ".join(r.key for r in s.secret.registries)
            parts.append(f"{s.name} ({'keys for ' + keys if keys else 'no registry key'})")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"pull secret{'s' if len(parts) > 1 else ''} {listed}"


_ECR = re.compile(r"^\d+\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(:\d+)?$")


def node_credential_provider(domain: str) -> str | None:
    """The node identity clusters commonly pull this registry with, no pull secret needed."""
    host = domain.lower()
    if is_acr(host):
        return "kubelet identity (AKS, az aks update --attach-acr)"
    if _ECR.match(host):
        return "node IAM role (EKS, ECR credential provider)"
    if host == "gcr.io" or host.endswith((".gcr.io", "-docker.pkg.dev")):
        return "node service account (GKE, Artifact Registry credential provider)"
    return None


def _refused(resolution: Resolution | None) -> bool:
    return (
        resolution is not None
        and resolution.problem is not None
        and resolution.problem.cause == "unauthorized"
    )


@dataclass(frozen=True)
class Rejection:
    """Every matching pull secret of a use, refused by the registry (--verify-credentials)."""

    effective: Effective
    tried: tuple[tuple[SecretRef, RegistryAuth, Resolution], ...]

    def finding(self, ctx: UseContext, consequence: str, severity: Severity | None) -> Finding:
        assert ctx.ref is not None
        rejected = "; ".join(
            f"secret {s.name} (key {auth.key}, user {auth.username or '-'}):"
            f" {res.problem.evidence if res.problem else ''}"
            for s, auth, res in self.tried
        )
        first, auth, _ = self.tried[0]
        return cluster_finding(
            "pull-secret-rejected",
            ctx,
            self.effective.namespace,
            evidence=rejected + (f". {consequence}" if consequence else ""),
            extra={"secrets": list(dict.fromkeys(s.name for s, _, _ in self.tried))},
            severity=severity,
            secret=first.name,
            rejected=rejected,
            origin=self.effective.origin,
            realm=api_host(ctx.ref.domain),
            username=auth.username or "<user>",
        )


class PullSecretAccess:
    """An `AccessSource`: the pod's effective pull secrets, their problems, whether one matches
    the image and (with --verify-credentials) whether the registry accepts it."""

    def __init__(
        self,
        view: ClusterView,
        default_namespace: str,
        probe: RegistryProbe | None = None,
        verify: bool = False,
    ) -> None:
        self.view = view
        self.default_namespace = default_namespace
        self.probe = probe
        self.verify = verify
        self._effective: dict[int, Effective] = {}
        self._rejected: dict[int, Rejection] = {}

    def effective_for(self, ctx: UseContext) -> Effective | None:
        return self._effective.get(id(ctx.pod_spec))

    def prepare(self, index: InputIndex, contexts: Sequence[UseContext]) -> None:
        """Work out every template's effective secrets, then ask the registries, concurrently,
        what the assessments will need."""
        candidates = {"default", self.default_namespace} | index.used_namespaces | index.namespaces
        candidates |= {namespace_of(c, self.default_namespace) for c in contexts}
        for ctx in contexts:
            key = id(ctx.pod_spec)
            if key not in self._effective:
                namespace = namespace_of(ctx, self.default_namespace)
                if namespace_missing(namespace, index, self.view) is True:
                    self._effective[key] = Effective(namespace, "pod", None, namespace_missing=True)
                    continue
                self._effective[key] = effective_secrets(
                    ctx.pod_spec, namespace, index, self.view, candidates
                )
        if self.probe is None:
            return
        anonymous: list[ImageRef] = []
        verify: list[tuple[ImageRef, Credential]] = []
        for ctx in contexts:
            if ctx.ref is None or ctx.never_pull or ctx.resolution is None:
                continue
            res = ctx.resolution
            if not res.anonymous and (res.ok or _refused(res)):
                anonymous.append(ctx.ref)
            effective = self._effective[id(ctx.pod_spec)]
            if self.verify:
                verify += [
                    (ctx.ref, auth.credential)
                    for _, auth in matching(effective, ctx.ref)
                    if auth.credential is not None
                ]
        self.probe.run(anonymous, verify)

    def _anonymous_ok(self, ctx: UseContext) -> bool | None:
        res = ctx.resolution
        if res is None or ctx.ref is None:
            return None
        if res.anonymous and res.ok:
            return True
        if res.anonymous and _refused(res):
            return False
        if self.probe is not None and (res.ok or _refused(res)):
            known = self.probe.anonymous_ok(ctx.ref)
            return False if known is None and _refused(res) else known
        return None

    def assess(self, ctx: UseContext, access: PullAccess) -> Iterable[Finding]:
        effective = self.effective_for(ctx)
        if ctx.ref is None or ctx.never_pull or effective is None:
            return []
        if access.anonymous_ok is None:
            access.anonymous_ok = self._anonymous_ok(ctx)
        if effective.namespace_missing:
            access.no_pod = "namespace-missing"
        elif effective.account_missing:
            access.no_pod = "service-account-missing"
        if effective.secrets is None:
            return []  # the ServiceAccount check reports why
        access.effective_secrets = [s.name for s in effective.secrets]
        # Missing and unusable secrets are judged by the verdict, once every source has said
        # whether the kubelet gets in another way.
        findings = [
            forbidden_finding(ctx, effective.namespace, s.forbidden)
            for s in effective.secrets
            if s.state == "unknown" and s.forbidden is not None
        ]
        matches = matching(effective, ctx.ref)
        access.matching_secrets += list(dict.fromkeys(s.name for s, _ in matches))
        unknown = [s for s in effective.secrets if s.state in ("unknown", "made")]
        if not matches and unknown:
            # Their contents cannot be seen: assume they hold a key, and say so.
            access.matching_secrets += [s.name for s in unknown]
            if access.anonymous_ok is not True:
                findings += [
                    self._made_note(ctx, effective, s) for s in unknown if s.state == "made"
                ]
        if self.verify and self.probe is not None and matches:
            findings += self._verify(ctx, effective, matches, access, unknown)
        return findings

    def _made_note(self, ctx: UseContext, effective: Effective, s: SecretRef) -> Finding:
        return cluster_finding(
            "pull-secret-external",
            ctx,
            effective.namespace,
            extra={"secret": s.name},
            secret=s.name,
            maker=s.secret.maker if s.secret else None,
            origin=effective.origin,
        )

    def _verify(
        self,
        ctx: UseContext,
        effective: Effective,
        matches: list[tuple[SecretRef, RegistryAuth]],
        access: PullAccess,
        unknown: list[SecretRef],
    ) -> list[Finding]:
        assert self.probe is not None and ctx.ref is not None
        tried = [
            (s, auth, self.probe.verify(ctx.ref, auth.credential))
            for s, auth in matches
            if auth.credential is not None
        ]
        if not tried:
            return []
        # The registry let the credential in when it answered with the image or with
        # "not found"; transport failures say nothing about the credential.
        accepted = [t for t in tried if t[2].ok or t[2].problem.cause == "tag-not-found"]
        if accepted:
            access.secret_works = True
            found = accepted[0][2]
            if _refused(ctx.resolution) and found.problem is not None:
                # pullgate could not read the image; the secret could, and the registry's
                # answer (manifest unknown) is what the kubelet will get.
                return list(check_registry(_with_resolution(ctx, found)))
            return []
        refused = [t for t in tried if _refused(t[2])]
        if len(refused) < len(matches) or unknown:
            return []  # a credential that was not refused may still work
        access.secret_works = False
        # The kubelet goes on to the node identity's credential (AKS, EKS, GKE), so whether this
        # fails the pull is the verdict's to say, once every source has spoken.
        self._rejected[id(ctx)] = Rejection(effective, tuple((s, a, r) for s, a, r in refused))
        return []

    def rejection_for(self, ctx: UseContext) -> Rejection | None:
        return self._rejected.get(id(ctx))


def _with_resolution(ctx: UseContext, resolution: Resolution) -> UseContext:
    return replace(ctx, resolution=resolution)


class KubeletVerdict:
    """The last `AccessSource`: for an image that anonymous access cannot pull, is there any
    credential the kubelet could present (a matching pull secret, a node identity)?

    One root cause, one error per use: a missing or unusable pull secret the pod names is the
    finding when the kubelet then has nothing that gets in (the anonymous 401 goes into its
    evidence, not into a second `pull-secret-no-match`); when the pull works another way it is
    a warning, as the kubelet's own is (it logs the secret and pulls without it)."""

    def __init__(self, pull_secrets: PullSecretAccess) -> None:
        self.pull_secrets = pull_secrets

    def assess(self, ctx: UseContext, access: PullAccess) -> Iterable[Finding]:
        if ctx.ref is None or ctx.never_pull:
            return []
        effective = self.pull_secrets.effective_for(ctx)
        if effective is not None and (effective.namespace_missing or effective.account_missing):
            return []  # namespace-missing / service-account-missing: no pod, so no pull
        rejection = self.pull_secrets.rejection_for(ctx)
        if rejection is not None:
            return [self._rejected(ctx, rejection, access)] + self._secret_problems(
                ctx, rejection.effective, access, fails_bare=False
            )
        refused = _refused(ctx.resolution)
        gets_in = bool(access.node_identity or access.secret_works or access.anonymous_ok is True)
        if access.effective_secrets is None or effective is None:
            # Unknown secrets: say what pullgate itself saw, as without a cluster.
            if gets_in or access.reported_failure:
                return []
            return list(check_registry(ctx)) if refused else []
        anonymous_fails = access.anonymous_ok is False or (access.anonymous_ok is None and refused)
        # The kubelet ends up with no credential that gets in: pulls anonymously and fails.
        fails_bare = (
            not gets_in
            and not access.matching_secrets
            and access.reported_failure is None
            and (anonymous_fails or access.anonymous_ok is None)
        )
        findings = self._secret_problems(ctx, effective, access, fails_bare)
        if any(f.is_error for f in findings) or gets_in:
            return findings
        if access.anonymous_ok is None and not refused:
            return findings
        if access.reported_failure is not None:
            return findings
        return findings + self._no_credential(ctx, effective, access, refused)

    def _rejected(self, ctx: UseContext, rejection: Rejection, access: PullAccess) -> Finding:
        """The kubelet presents every matching credential, the pull secrets' and the node
        identity's, and never falls back to anonymous: refused secrets fail the pull unless the
        node identity gets in, or another finding already stands for the pull."""
        assert ctx.ref is not None
        provider = node_credential_provider(ctx.ref.domain)
        if access.node_identity:
            return rejection.finding(
                ctx,
                "The kubelet then presents the node identity's credential, which pulls the image.",
                Severity.WARNING,
            )
        fatal = next((s for s in rejection.effective.problems if s.fatal), None)
        if access.reported_failure is not None or fatal is not None:
            reason = access.reported_failure or f"pull-secret-malformed, secret {fatal.name}"
            return rejection.finding(
                ctx, f"The pull fails for another reason ({reason}).", Severity.WARNING
            )
        if provider is not None and access.node_identity is None:
            return rejection.finding(
                ctx,
                f"The pull fails unless the nodes' {provider} can pull it (pullgate did not"
                " check).",
                Severity.WARNING,
            )
        return rejection.finding(ctx, "", None)

    def _no_credential(
        self, ctx: UseContext, effective: Effective, access: PullAccess, refused: bool
    ) -> list[Finding]:
        assert ctx.ref is not None
        namespace = effective.namespace
        provider = node_credential_provider(ctx.ref.domain)
        # A node identity nobody checked may well pull (AKS with --attach-acr, EKS, GKE):
        # then this is a warning, not a predicted failure.
        unchecked = provider is not None and access.node_identity is None
        if access.node_identity is False:
            identity = " and the node identity cannot pull it"
        elif unchecked:
            identity = f", unless the nodes' {provider} can pull it (pullgate did not check)"
        else:
            identity = " and no node identity applies"
        severity = Severity.WARNING if unchecked else None
        if access.matching_secrets:
            if access.secret_works is False or not refused:
                return []
            who = (
                f"pullgate could not read the image ({ctx.resolution.credential}); the kubelet"
                f" would present pull secret {', '.join(access.matching_secrets)}, which pullgate"
                " did not try (run with --verify-credentials, or docker login so pullgate can"
                " read it)"
            )
            return [self._unauthorized(ctx, namespace, who, fix_flavor="untried")]
        keys = _describe_keys(effective.secrets or ())
        if keys:
            anonymous = _anonymous_refusal(ctx, access)
            return [
                cluster_finding(
                    "pull-secret-no-match",
                    ctx,
                    namespace,
                    evidence=f"the {effective.origin} lists {keys}; none matches"
                    f" {ctx.ref.domain}"
                    + (
                        f" (the pod's list replaces ServiceAccount"
                        f" {service_account_of(ctx.pod_spec)}'s {', '.join(effective.replaced)})"
                        if effective.replaced
                        else ""
                    )
                    + (f"; {anonymous}" if anonymous else ""),
                    extra={"secrets": list(access.effective_secrets or ())},
                    secrets=", ".join(access.effective_secrets or ()),
                    keys=keys,
                    origin=effective.origin,
                    node_identity=identity,
                    token_kind="anonymous",
                    severity=severity,
                    fix_flavor="pod-list"
                    if effective.origin == "pod" and not is_acr(ctx.ref.domain)
                    else None,
                )
            ]
        who = (
            f"No credential the kubelet could present: the image is private, the {effective.origin}"
            f" lists no pull secrets{identity}"
        )
        return [self._unauthorized(ctx, namespace, who, severity)]

    def _secret_problems(
        self, ctx: UseContext, effective: Effective, access: PullAccess, fails_bare: bool
    ) -> list[Finding]:
        """One finding per missing or unusable secret. An undecodable one fails the pull by
        itself (error); otherwise the first problem secret carries the error when the kubelet
        then has no credential, and the rest are warnings."""
        findings: list[Finding] = []
        problems = effective.problems
        fatal = [s for s in problems if s.fatal]
        blamed = fatal[0] if fatal else (problems[0] if problems and fails_bare else None)
        for s in problems:
            if s.fatal:
                consequence = (
                    "The kubelet cannot read its pull secrets and fails every pull of the pod,"
                    " public images too."
                )
                severity = None
            elif s is blamed:
                consequence = self._bare_pull(ctx, effective, access, s)
                severity = None
            else:
                consequence = self._pull_anyway(ctx, access, blamed)
                severity = Severity.WARNING
            findings.append(self._problem_finding(ctx, effective, s, consequence, severity))
        return findings

    def _bare_pull(
        self, ctx: UseContext, effective: Effective, access: PullAccess, blamed: SecretRef
    ) -> str:
        """What follows from the blamed secret: the kubelet pulls with what is left."""
        assert ctx.ref is not None
        others = _describe_keys([s for s in effective.secrets or () if s is not blamed])
        text = f"Without it the kubelet pulls {ctx.ref} anonymously"
        if others:
            text += f" (the {effective.origin}'s other {others} has no key for {ctx.ref.domain})"
        anonymous = _anonymous_refusal(ctx, access)
        if anonymous:
            return f"{text}, and the registry refuses that: {anonymous}."
        return f"{text}; whether {ctx.ref.domain} allows anonymous pulls was not checked."

    def _pull_anyway(self, ctx: UseContext, access: PullAccess, blamed: SecretRef | None) -> str:
        if blamed is not None:
            return f"The pull's failure is reported on secret {blamed.name}."
        if access.reported_failure is not None:
            return f"The pull fails for another reason ({access.reported_failure})."
        if access.secret_works is False:
            return "The pull fails: the registry rejects the matching pull secret."
        if access.anonymous_ok is True:
            return "The image is public: the kubelet logs this and pulls anonymously."
        if access.matching_secrets:
            return (
                "The kubelet logs this and pulls with pull secret"
                f" {', '.join(access.matching_secrets)}."
            )
        if access.node_identity:
            return "The kubelet logs this and pulls with the node identity."
        return "The kubelet logs this and pulls without it."

    def _problem_finding(
        self,
        ctx: UseContext,
        effective: Effective,
        s: SecretRef,
        consequence: str,
        severity: Severity | None,
    ) -> Finding:
        namespace = effective.namespace
        common = dict(secret=s.name, origin=effective.origin, consequence=consequence)
        if s.state == "missing":
            found = (
                f"; a secret of that name exists in namespace {', '.join(s.elsewhere)}, but a"
                " pod sees only its own namespace's secrets"
                if s.elsewhere
                else " (nor in any other namespace pullgate looked at)"
            )
            return cluster_finding(
                "pull-secret-missing",
                ctx,
                namespace,
                evidence=f'secrets "{s.name}" not found in namespace {namespace}'
                + (f" (it exists in {', '.join(s.elsewhere)})" if s.elsewhere else "")
                + f". {consequence}",
                severity=severity,
                extra={"secret": s.name, "found_in": list(s.elsewhere)},
                elsewhere=found,
                source_namespace=s.elsewhere[0] if s.elsewhere else None,
                fix_flavor="copy" if s.elsewhere else "default",
                **common,
            )
        assert s.secret is not None
        return cluster_finding(
            "pull-secret-malformed",
            ctx,
            namespace,
            evidence=f"secret {namespace}/{s.name}: type {s.secret.type}, keys"
            f" {', '.join(s.secret.keys) or 'none'}: {s.secret.problem}. {consequence}",
            severity=severity,
            extra={"secret": s.name},
            problem=s.secret.problem,
            detail=s.secret.problem,
            **common,
        )

    def _unauthorized(
        self,
        ctx: UseContext,
        namespace: str,
        who: str,
        severity: Severity | None = None,
        fix_flavor: str | None = None,
    ) -> Finding:
        res = ctx.resolution
        evidence = res.problem.evidence if res is not None and res.problem else ""
        return cluster_finding(
            "unauthorized",
            ctx,
            namespace,
            evidence=evidence or f"anonymous pull of {ctx.ref} refused",
            who=who,
            token_kind="anonymous",
            severity=severity,
            fix_flavor=fix_flavor,
        )


def _anonymous_refusal(ctx: UseContext, access: PullAccess) -> str:
    """What was seen of an anonymous pull of the image, in words ("" when nothing was)."""
    res = ctx.resolution
    if ctx.ref is None or res is None:
        return ""
    if res.anonymous and _refused(res) and res.problem is not None:
        return f"anonymous pull of {ctx.ref}: {res.problem.evidence or res.problem.detail}"
    if access.anonymous_ok is False:
        return f"an anonymous manifest request for {ctx.ref} was refused"
    return ""
