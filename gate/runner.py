"""The `check` pipeline: manifests -> image uses -> references -> registry -> checks -> findings."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from gate.checks import DEFAULT_CHECKS, Check, UseContext, run_checks
from gate.findings import Finding
from gate.kubelet import AccessSource, PullAccess
from gate.manifests import Bundle, ImageUse, read_bundle
from gate.platforms import Platform, PlatformOrigin, TargetSource, choose_targets
from gate.policy import Note, Policy, Suppressed, apply_policy, policy_checks
from gate.reference import ImageRef, ReferenceError, parse_reference
from gate.registry.credentials import Credential
from gate.registry.resolve import Resolution

Progress = Callable[[int], Callable[[Resolution], None]]  # total -> per-result callback
# Runs once the input is read and resolved, before the checks (cluster mode indexes the input's
# Secrets and ServiceAccounts and fetches the cluster objects it needs).
Prepare = Callable[[Bundle, Sequence[UseContext]], None]


@dataclass
class CheckOptions:
    paths: Sequence[str]
    platforms: Sequence[Platform] = ()  # --platform: overrides every other source
    # .pullgate.yaml's platforms: used only when no cluster source says what the nodes are
    config_platforms: Sequence[Platform] = ()
    config_file: str | None = None
    offline: bool = False
    concurrency: int = 16
    timeout: float = 10.0
    deadline: float = 120.0
    insecure: frozenset[str] = frozenset()
    ca_file: str | None = None
    docker_config: str | None = None
    policy: Policy | None = None  # .pullgate.yaml's registries, require-digest, ignore, severity
    # Asked for an image's credentials when the Docker config has none (e.g. an ACR token
    # exchange with the pipeline's Azure login, gate/azure/exchange.py).
    fallback_credentials: Callable[[ImageRef], list[Credential]] | None = None
    # When the run ends (time.monotonic()): set when the options are made, so every phase
    # (registry, tokens, cluster, ARM) shares one deadline.
    ends_at: float | None = None

    def __post_init__(self) -> None:
        if self.ends_at is None:
            self.ends_at = time.monotonic() + self.deadline


@dataclass
class Outcome:
    findings: list[Finding]
    bundle: Bundle
    unique: int
    resolutions: dict[ImageRef, Resolution] = field(default_factory=dict)
    seconds: float = 0.0
    suppressed: list[Suppressed] = field(default_factory=list)  # moved aside by ignore rules
    notes: list[Note] = field(default_factory=list)  # e.g. expired ignore rules
    platforms: PlatformOrigin = field(default_factory=lambda: PlatformOrigin("none"))

    @property
    def images(self) -> int:
        return len(self.bundle.uses)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if not f.is_error)

    def failed(self, strict: bool = False) -> bool:
        return self.errors > 0 or (strict and self.warnings > 0)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.resolutions.values())


def parse_uses(uses: Sequence[ImageUse]) -> dict[str, ImageRef | ReferenceError]:
    """Each distinct image string parsed once."""
    parsed: dict[str, ImageRef | ReferenceError] = {}
    for use in uses:
        if use.image in parsed or use.problem:
            continue
        try:
            parsed[use.image] = parse_reference(use.image)
        except ReferenceError as exc:
            parsed[use.image] = exc
    return parsed


def _ref_for(
    use: ImageUse, parsed: dict[str, ImageRef | ReferenceError]
) -> tuple[ImageRef | None, str | None]:
    if use.problem:
        return None, use.problem
    value = parsed[use.image]
    if isinstance(value, ReferenceError):
        return None, str(value)
    return value, None


def resolve(
    refs_needing: dict[ImageRef, bool],
    options: CheckOptions,
    progress: Progress | None,
    read_bytes: bool = False,
) -> dict[ImageRef, Resolution]:
    from gate.registry.client import ClientOptions, RegistryClient
    from gate.registry.credentials import DockerConfig
    from gate.registry.egress import judge_runner
    from gate.registry.resolve import Resolver

    docker = DockerConfig.load(options.docker_config)
    client_options = ClientOptions(
        timeout=options.timeout,
        deadline=options.deadline,
        insecure=options.insecure,
        ca_file=options.ca_file,
        ends_at=options.ends_at,
    )
    client = RegistryClient(client_options, pool_size=options.concurrency)
    try:
        fallback = options.fallback_credentials

        def lookup(ref: ImageRef) -> list[Credential]:
            found = docker.lookup(ref.name, ref.domain)
            return found or (fallback(ref) if fallback else [])

        resolver = Resolver(client, lookup, concurrency=options.concurrency, read_bytes=read_bytes)
        callback = progress(len(refs_needing)) if progress else None
        results = resolver.resolve_all(refs_needing, lambda ref: refs_needing[ref], callback)
        judge_runner(results)
        return results
    finally:
        client.close()


def assess_access(contexts: Sequence[UseContext], sources: Sequence[AccessSource]) -> list[Finding]:
    """Run the kubelet access sources (cluster pull secrets, node identity) in order per use."""
    findings: list[Finding] = []
    for ctx in contexts if sources else ():
        if ctx.ref is None or ctx.never_pull:
            continue
        access = PullAccess()
        for source in sources:
            findings.extend(source.assess(ctx, access))
    return findings


def run_check(
    options: CheckOptions,
    stdin: TextIO | None = None,
    targets: TargetSource | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    access_sources: Sequence[AccessSource] = (),
    progress: Progress | None = None,
    prepare: Sequence[Prepare] = (),
    targets_from: str = "",
) -> Outcome:
    """`targets`: the cluster's node platforms (`targets_from` says whose), when there is a
    cluster source; `--platform` overrides them and they override the config's."""
    started = time.monotonic()
    bundle = read_bundle(options.paths, stdin=stdin)
    targets, origin = choose_targets(
        options.platforms,
        targets,
        targets_from,
        options.config_platforms,
        options.config_file or "",
    )
    parsed = parse_uses(bundle.uses)

    items = []  # (use, pod spec, targets, ref, parse error)
    for template in bundle.templates:
        spec = template.scheduled_spec
        template_targets = targets.targets_for(spec)
        for use in template.uses:
            items.append((use, spec, template_targets, *_ref_for(use, parsed)))

    needs: dict[ImageRef, bool] = {}
    for use, _, template_targets, ref, _ in items:
        if ref is not None and use.pull_policy != "Never":
            needs[ref] = needs.get(ref, False) or bool(template_targets)
    resolutions = {} if options.offline or not needs else resolve(needs, options, progress)

    contexts = [
        UseContext(
            use=use,
            pod_spec=spec,
            ref=ref,
            ref_error=error,
            resolution=resolutions.get(ref) if ref else None,
            targets=template_targets,
            offline=options.offline,
        )
        for use, spec, template_targets, ref, error in items
    ]
    for hook in prepare:
        hook(bundle, contexts)
    if options.policy is not None:
        checks = (*checks, *policy_checks(options.policy))
    findings = run_checks(contexts, checks) + assess_access(contexts, access_sources)
    judged = apply_policy(options.policy, findings)
    unique = len({ctx.ref for ctx in contexts if ctx.ref is not None})
    return Outcome(
        judged.findings,
        bundle,
        unique,
        resolutions,
        time.monotonic() - started,
        suppressed=judged.suppressed,
        notes=judged.notes,
        platforms=origin,
    )
