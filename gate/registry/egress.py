"""Whose network failed: the registry's host, or the runner pullgate runs on.

A `dns` or `unreachable` problem says what this runner saw, and the nodes pull over their own
network. When the runner itself has no way out, the manifests are not to blame and the nodes'
fate is unknown: that is `runner-network`, told as what was seen from where. The runner is
blamed when

- a well-known public registry (Docker Hub, ghcr.io, quay.io, ...) does not resolve or answer:
  their names always resolve and their front doors are open, so the path is what failed;
- nothing answered at all, and either several registry hosts failed or the resolver itself did
  not answer ("temporary failure in name resolution"), or the requests went through a proxy.

A single unknown host that fails NXDOMAIN while others answer stays `dns`: most likely a typo
in the manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from gate.reference import ImageRef
from gate.registry.hosts import api_host, split_host_port
from gate.registry.resolve import Problem, Resolution

NETWORK_CAUSES = frozenset({"dns", "unreachable"})
WELL_KNOWN = frozenset(
    {
        "registry-1.docker.io",
        "ghcr.io",
        "quay.io",
        "gcr.io",
        "mcr.microsoft.com",
        "public.ecr.aws",
        "registry.k8s.io",
        "k8s.gcr.io",
        "nvcr.io",
        "registry.gitlab.com",
        "docker.elastic.co",
        "cgr.dev",
    }
)
_WELL_KNOWN_SUFFIXES = (".gcr.io", "-docker.pkg.dev")
_RESOLVER_SILENT = "Temporary failure in name resolution"


def is_well_known(host: str) -> bool:
    name = split_host_port(host)[0].lower()
    return name in WELL_KNOWN or name.endswith(_WELL_KNOWN_SUFFIXES)


def proxy_for(host: str) -> str | None:
    """The proxy this runner's environment sends HTTPS for `host` through, as the registry
    transport chooses it."""
    from gate.registry.transport import proxy_for as transport_proxy_for

    return transport_proxy_for("https", host)


def _network_failure(res: Resolution) -> bool:
    return (
        res.problem is not None
        and res.problem.cause in NETWORK_CAUSES
        and res.problem.detail != "deadline exceeded"
    )


def judge_runner(resolutions: dict[ImageRef, Resolution]) -> None:
    """Turn the `dns` / `unreachable` problems that are this runner's into `runner-network`."""
    failed: dict[str, list[Resolution]] = {}
    answered: set[str] = set()
    for ref, res in resolutions.items():
        host = api_host(ref.domain)
        if _network_failure(res):
            failed.setdefault(host, []).append(res)
        else:
            answered.add(host)
    failed = {h: r for h, r in failed.items() if h not in answered}
    if not failed:
        return
    nothing_answered = not answered
    silent = any(_RESOLVER_SILENT in r.problem.evidence for rs in failed.values() for r in rs)
    proxied = any(proxy_for(h) for h in failed)
    whole_runner = nothing_answered and (len(failed) > 1 or silent or proxied)
    for host, results in failed.items():
        if whole_runner or is_well_known(host):
            why = _why(host, sorted(failed), whole_runner)
            for res in results:
                res.problem = _runner_problem(host, res.problem, why)


def _why(host: str, hosts: Iterable[str], whole_runner: bool) -> str:
    from gate.checks import listing  # here: gate.checks imports the registry package

    hosts = list(hosts)
    proxy = proxy_for(host)
    via = f" through the proxy {_redact(proxy)}" if proxy else ""
    if whole_runner and len(hosts) > 1:
        return (
            f"No registry of this run resolved or answered from this runner{via}"
            f" ({listing(hosts, 'hosts', '')}): the runner has no DNS or no egress;"
            " the manifests' host names are not what failed."
        )
    if whole_runner:
        return (
            f"This runner could not resolve or reach {host}{via}, and its resolver or proxy"
            " did not answer at all: the runner's network failed, not the manifest."
        )
    return (
        f"This runner could not resolve or reach {host}{via}, a public registry whose name"
        " always resolves: the runner's DNS or egress failed, not the manifest."
    )


def _redact(proxy: str) -> str:
    """A proxy URL without its user and password."""
    scheme, sep, rest = proxy.partition("://")
    host = rest.rpartition("@")[2] if sep else proxy.rpartition("@")[2]
    return f"{scheme}://{host}" if sep else host


def _runner_problem(host: str, problem: Problem | None, why: str) -> Problem:
    assert problem is not None
    seen = f"{problem.detail} ({problem.evidence})" if problem.evidence else problem.detail
    return replace(
        problem,
        cause="runner-network",
        detail=problem.detail,
        evidence=f"from this runner: {host}: {seen}. {why}",
    )
