"""The checks: for each image use, given its parsed reference, the registry's answer and the
platforms of the nodes it may land on, which causes from the catalog apply.

A check is a function `(UseContext) -> Iterable[Finding]`; cluster- and cloud-aware checks plug in
as more functions over the same context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gate.causes import Severity
from gate.findings import Finding, make_finding
from gate.manifests import ImageUse
from gate.platforms import Platform, Targets, fallback, missing
from gate.reference import ImageRef
from gate.registry.hosts import acr_name, api_host, flavor, split_host_port
from gate.registry.resolve import Resolution


@dataclass(frozen=True)
class UseContext:
    use: ImageUse
    pod_spec: dict
    ref: ImageRef | None
    ref_error: str | None
    resolution: Resolution | None  # None when offline or the image is never pulled
    targets: Targets = field(default_factory=Targets)
    offline: bool = False

    @property
    def never_pull(self) -> bool:
        return self.use.pull_policy == "Never"

    @property
    def pull_secret_names(self) -> list[str]:
        secrets = self.pod_spec.get("imagePullSecrets")
        if not isinstance(secrets, list):
            return []
        return [
            s["name"] for s in secrets if isinstance(s, dict) and isinstance(s.get("name"), str)
        ]


Check = Callable[[UseContext], Iterable[Finding]]


def _secret_stem(domain: str) -> str:
    """A readable secret name stem: `ghcr` for ghcr.io, `registry` for an IP address."""
    first = split_host_port(domain)[0].split(".")[0].lower()
    return first if first.isalpha() else "registry"


def _repo_tag(ref: ImageRef) -> str:
    path = ref.path.removeprefix("library/") if ref.is_docker_hub else ref.path
    return f"{path}:{ref.tag or 'latest'}"


def effective_pull_policy(use: ImageUse, ref: ImageRef | None) -> str:
    """The API server's default: Always for `:latest` or no tag (without digest), else
    IfNotPresent."""
    if use.pull_policy:
        return use.pull_policy
    if ref is not None and ref.tag == "latest" and not ref.digest:
        return "Always"
    return "IfNotPresent"


def fix_context(ctx: UseContext) -> dict[str, object]:
    """Every placeholder the catalog's templates may use, filled from what is known."""
    use, ref, res = ctx.use, ctx.ref, ctx.resolution
    service_account = ctx.pod_spec.get("serviceAccountName") or "default"
    values: dict[str, object] = {
        "image": use.image,
        "file": use.file,
        "line": use.line,
        "namespace": use.namespace or "default",
        "service_account": service_account,
        "pull_policy": effective_pull_policy(use, ref),
        "remaining": "",
        "detail": ctx.ref_error or "",
    }
    if ref is None:
        return values
    host = api_host(ref.domain)
    acr = acr_name(ref.domain)
    values.update(
        {
            "resolved": str(ref),
            "registry": ref.domain,
            "registry_host": host,
            "registry_hostname": split_host_port(host)[0],
            "registry_host_port": host if split_host_port(host)[1] else f"{host}:443",
            "repository": ref.path,
            "reference": ref.reference,
            "tag": ref.tag,
            "repo_tag": _repo_tag(ref),
            "acr": acr,
            "secret_name": f"{acr or _secret_stem(ref.domain)}-pull",
            "retry_after": "not sent",
            "retry_note": "",
            "scheme": "https",
            "auth_status": "401 Unauthorized",
        }
    )
    if res is not None:
        values.update(
            {
                "digest": res.digest,
                "pinned": f"{ref.name}:{ref.tag}@{res.digest}" if res.digest and ref.tag else None,
                "who": _who(res, ref),
                "credential": res.credential,
                "token_kind": "anonymous" if res.anonymous else "oauth",
                "nearby_tags": ", ".join(res.nearby_tags) or "none listed",
                "tags_note": _tags_note(res, ref),
                "scheme": res.scheme,
            }
        )
        values["realm"] = host
        if res.problem:
            values["detail"] = res.problem.detail
            if res.problem.status == 403:
                values["auth_status"] = "403 Forbidden"
            if res.problem.retry_after is not None:
                values["retry_after"] = f"{res.problem.retry_after:g}"
                values["retry_note"] = f", Retry-After {res.problem.retry_after:g} s"
            elif res.problem.cause == "rate-limited":
                reset = _RESET.search(res.problem.evidence)
                if reset:
                    values["retry_after"] = f"not sent; RateLimit-Reset {reset.group(1)} s"
                    values["retry_note"] = f", RateLimit-Reset {reset.group(1)} s"
        if res.ratelimit_remaining:
            values["remaining"] = f" ({res.ratelimit_remaining} pulls left in the window)"
    return values


# The window's end as the registry's RateLimit-Reset header said it (quoted in the evidence).
_RESET = re.compile(r"(?<![\w-])RateLimit-Reset: ([0-9]{1,10})\b")


def _who(res: Resolution, ref: ImageRef) -> str:
    if res.anonymous:
        return (
            f"pullgate sent no credential (its Docker config has none for {ref.domain}), and the"
            " registry does not allow anonymous pulls of this repository."
        )
    return f"The registry refused the credential pullgate presented ({res.credential})."


def _tags_note(res: Resolution, ref: ImageRef) -> str:
    """What the tag listing showed, in a sentence."""
    problem = res.problem
    unknown = res.repository_unknown or (
        problem is not None and problem.detail.startswith(("name unknown", "repository "))
    )
    if unknown:
        return f"Repository {ref.path} does not exist in {ref.domain}."
    if res.nearby_tags:
        return f"Existing tags: {', '.join(res.nearby_tags)}."
    if res.tags_listed:
        return f"Repository {ref.path} holds no tags."
    return "The registry did not list the repository's tags."


def registry_case(res: Resolution, ref: ImageRef) -> str | None:
    """The catalog fix and cause text that fit what was seen, where the registry's own flavor
    would assume a case (credentials refused vs none sent, digest vs tag, which TLS failure)."""
    problem = res.problem
    if problem is None:
        return None
    detail = problem.detail.lower()
    if problem.cause == "unauthorized" and not res.anonymous:
        return "refused"
    if problem.cause == "tag-not-found" and ref.digest:
        return "digest"
    if problem.cause == "unreachable" and detail == "deadline exceeded":
        return "deadline"
    if problem.cause == "tls":
        if "hostname mismatch" in detail or "doesn't match" in detail:
            return "tls-name"
        if "expired" in detail or "not yet valid" in detail:
            return "tls-expired"
        if "does not look like a tls handshake" in detail:
            return "tls-handshake"
    return None


def finding_for(
    cause_id: str,
    ctx: UseContext,
    evidence: str = "",
    extra: Mapping[str, object] | None = None,
    severity: Severity | None = None,
    fix_flavor: str | None = None,
    **more: object,
) -> Finding:
    """A finding for one use, its templates filled from `fix_context` plus `more`; every check
    (registry, cluster, Azure, policy) builds its findings here."""
    context = fix_context(ctx) | {k: v for k, v in more.items() if v is not None}
    return make_finding(
        cause_id,
        ctx.use,
        str(ctx.ref) if ctx.ref else None,
        fix_flavor or (flavor(ctx.ref.domain) if ctx.ref else "default"),
        context,
        evidence=evidence,
        extra=extra,
        severity=severity,
    )


def check_reference(ctx: UseContext) -> Iterable[Finding]:
    if ctx.ref is None:
        yield finding_for("invalid-reference", ctx, evidence=ctx.ref_error or "")


def check_never_pull(ctx: UseContext) -> Iterable[Finding]:
    if ctx.ref is not None and ctx.never_pull:
        yield finding_for("never-pull", ctx)


def check_mutable_tag(ctx: UseContext) -> Iterable[Finding]:
    ref = ctx.ref
    if ref is None or ref.digest or ref.tag != "latest":
        return
    digest = ctx.resolution.digest if ctx.resolution else None
    yield finding_for(
        "mutable-tag",
        ctx,
        extra={"digest": digest} if digest else None,
        pinned=None if digest else f"{ref.name}:latest@sha256:<digest>",
    )


def check_rate_limit_risk(ctx: UseContext) -> Iterable[Finding]:
    """The kubelet pulls Docker Hub images anonymously unless the pod carries a pull secret."""
    ref = ctx.ref
    if ref is None or not ref.is_docker_hub or ctx.never_pull or ctx.pull_secret_names:
        return
    res = ctx.resolution
    if res is not None and res.problem is not None:
        return
    remaining = res.ratelimit_remaining if res else None
    yield finding_for(
        "rate-limit-risk",
        ctx,
        evidence=f"ratelimit-remaining: {remaining}" if remaining else "",
        extra={"ratelimit_remaining": remaining} if remaining else None,
    )


def check_registry(ctx: UseContext) -> Iterable[Finding]:
    res = ctx.resolution
    if ctx.ref is None or res is None or res.problem is None or ctx.never_pull:
        return
    yield finding_for(
        res.problem.cause,
        ctx,
        evidence=res.problem.evidence,
        extra={"nearby_tags": list(res.nearby_tags)} if res.nearby_tags else None,
        fix_flavor=registry_case(res, ctx.ref),
    )


MAX_LISTED = 8  # platforms, architectures, tags quoted in one finding; the rest are counted


def listing(items: Sequence[str], what: str, empty: str) -> str:
    """`a, b, c`, or for a long list `N <what>, e.g. a, b, ...`: evidence stays small however
    much a registry lists."""
    if not items:
        return empty
    if len(items) <= MAX_LISTED:
        return ", ".join(items)
    return f"{len(items)} {what}, e.g. {', '.join(items[:MAX_LISTED])}, ..."


def check_platform(ctx: UseContext) -> Iterable[Finding]:
    res = ctx.resolution
    if ctx.ref is None or res is None or not res.ok or res.platforms is None or not ctx.targets:
        return
    absent = missing(res.platforms, ctx.targets.platforms)
    pulled = {t: fallback(res.platforms, t) for t in absent}
    yield from _fallback_findings(ctx, {t: p for t, p in pulled.items() if p is not None})
    absent = [t for t in absent if pulled[t] is None]
    if not absent:
        return
    available = sorted({str(p) for p in res.platforms if not p.is_unknown})
    pools = sorted({pool for g in ctx.targets.groups if g.platform in absent for pool in g.pools})
    wanted = sorted({str(p) for p in ctx.targets.platforms})
    has = listing(available, "platforms", "no platform")
    arches = sorted({p.architecture for p in res.platforms})
    yield finding_for(
        "platform-mismatch",
        ctx,
        evidence=f"image has {has}; nodes need "
        + ", ".join(str(p) for p in absent)
        + (f" (pools {', '.join(pools)})" if pools else ""),
        extra={
            "missing_platforms": [str(p) for p in absent],
            "available_platforms": available[:MAX_LISTED],
            "available_platform_count": len(available),
            "pools": pools,
        },
        missing_platforms=", ".join(str(p) for p in absent),
        available_platforms=has,
        wanted_platforms=",".join(wanted),
        keep_on=_keep_on(res.platforms, absent),
        available_arch=listing(arches, "architectures", "none"),
    )


def _fallback_findings(ctx: UseContext, pulled: dict[Platform, Platform]) -> Iterable[Finding]:
    """Nodes that pull a 32-bit build: the pull works; whether the container runs depends on
    the CPU (and a slower 32-bit build is rarely what was meant)."""
    if not pulled:
        return
    pairs = ", ".join(f"{target} nodes pull {build}" for target, build in sorted(pulled.items()))
    yield finding_for(
        "platform-fallback",
        ctx,
        evidence=f"no build of the nodes' own architecture: {pairs}",
        extra={"fallbacks": {str(t): str(b) for t, b in sorted(pulled.items())}},
        missing_platforms=", ".join(str(t) for t in sorted(pulled)),
        fallback_platforms=", ".join(sorted({str(b) for b in pulled.values()})),
        wanted_platforms=",".join(sorted({str(p) for p in ctx.targets.platforms})),
    )


def _keep_on(available: Sequence[Platform], absent: Sequence[Platform]) -> str:
    """The node label that keeps the pod on nodes the image has a build for, by what differs."""
    have = [p for p in available if not p.is_unknown]
    if not have:
        return ""
    oses = sorted({p.os for p in have})
    arches = sorted({p.architecture for p in have})
    if any(t.os not in oses for t in absent):
        label, values = "kubernetes.io/os", oses
    elif any(t.architecture not in arches for t in absent):
        label, values = "kubernetes.io/arch", arches
    elif any(t.os == "windows" and t.os_version for t in absent):
        builds = sorted({p.os_version for p in have if p.os_version})
        label, values = "node.kubernetes.io/windows-build", builds
    else:
        return (
            "; or keep the pod on nodes of variant"
            f" {listing(sorted({p.variant for p in have}), 'variants', '')}"
            " (Kubernetes has no standard variant label: label those nodes yourself)"
        )
    if not values:
        return ""
    if len(values) > MAX_LISTED:  # a registry's long list stays out of the fix
        return f"; or keep the pod on nodes whose {label} is one of {listing(values, 'values', '')}"
    if len(values) == 1:
        return f"; or keep the pod on matching nodes with nodeSelector {label}: {values[0]}"
    return (
        f"; or keep the pod on matching nodes with required node affinity {label} In"
        f" ({', '.join(values)})"
    )


DEFAULT_CHECKS: tuple[Check, ...] = (
    check_reference,
    check_never_pull,
    check_registry,
    check_platform,
    check_mutable_tag,
    check_rate_limit_risk,
)


def run_checks(
    contexts: Iterable[UseContext], checks: Sequence[Check] = DEFAULT_CHECKS
) -> list[Finding]:
    return [finding for ctx in contexts for check in checks for finding in check(ctx)]
