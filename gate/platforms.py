"""Platforms (os/arch/variant), how an image's platform list is matched against the nodes',
and where the target platforms come from.

Matching follows containerd's platform matcher closely enough for pull prediction: os and
architecture must be equal after normalisation; a target without a variant accepts any variant;
arm64 without a variant means v8, arm without a variant means v7; Windows images must match the
node's build (major.minor.build) when both are known. An image with no build of the node's own
architecture but a 32-bit one (386 for amd64, arm for arm64) still pulls on containerd, whose
default matcher falls back to it: that is `fallback`, a warning rather than a mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        if self.os_version:
            text += f":{self.os_version}"
        return text

    @property
    def is_unknown(self) -> bool:
        return self.os == "unknown" or self.architecture == "unknown"

    def normalized(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture.lower(), self.architecture.lower())
        variant = self.variant.lower()
        if arch == "arm64" and variant == "v8":
            variant = ""
        return Platform(self.os.lower(), arch, variant, self.os_version)


class PlatformError(ValueError):
    pass


# What OCI platform fields hold (GOOS, GOARCH, v7, v8): ASCII letters and digits, so `v²` or a
# control character is a typo, not a platform.
_PART = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_OS_VERSION = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10}){0,3}")


def parse_platform(text: str) -> Platform:
    """`os/arch[/variant][:os.version]`, e.g. `linux/arm64`, `linux/arm/v7`,
    `windows/amd64:10.0.20348`."""
    base, _, os_version = text.strip().partition(":")
    parts = base.split("/")
    if len(parts) not in (2, 3) or not all(_PART.fullmatch(p) for p in parts):
        raise PlatformError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT]")
    if os_version and not _OS_VERSION.fullmatch(os_version):
        raise PlatformError(f"invalid platform {text!r}: the OS version is digits and dots")
    variant = parts[2] if len(parts) == 3 else ""
    return Platform(parts[0], parts[1], variant, os_version)


def from_oci(data: object) -> Platform | None:
    """A platform from an index entry's `platform` object or an image config blob."""
    if not isinstance(data, dict):
        return None
    os_ = data.get("os")
    arch = data.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str):
        return None
    variant = data.get("variant")
    os_version = data.get("os.version")
    return Platform(
        os_,
        arch,
        variant if isinstance(variant, str) else "",
        os_version if isinstance(os_version, str) else "",
    )


def _windows_build(version: str) -> str:
    return ".".join(version.split(".")[:3])


def satisfies(image: Platform, target: Platform) -> bool:
    """Whether an image built for `image` runs on a node of platform `target`."""
    i, t = image.normalized(), target.normalized()
    if i.os != t.os or i.architecture != t.architecture:
        return False
    if t.variant and not _variant_runs(i.variant, t.variant, t.architecture):
        return False
    if t.os == "windows" and t.os_version and i.os_version:
        return _windows_build(i.os_version) == _windows_build(t.os_version)
    return True


def _variant_runs(image_variant: str, node_variant: str, arch: str) -> bool:
    image_variant = image_variant or _DEFAULT_VARIANT.get(arch, "")
    if image_variant == node_variant:
        return True
    # An armv7 node runs armv6 and armv5 builds, an amd64 v3 node v2 and v1 builds; the reverse
    # fails with exec format error (containerd's platform vector, platforms/compare.go).
    image_number, node_number = _variant_number(image_variant), _variant_number(node_variant)
    if arch in ("arm", "amd64") and image_number is not None and node_number is not None:
        return image_number <= node_number
    return False


def _fallbacks(target: Platform) -> list[Platform]:
    """The 32-bit builds containerd's default matcher also accepts for a node, after its own:
    386 on amd64, arm v8 down to v5 on arm64 (platforms/compare.go, platformVector)."""
    t = target.normalized()
    if t.architecture == "amd64":
        return [Platform(t.os, "386")]
    if t.architecture == "arm64":
        return [Platform(t.os, "arm", f"v{n}") for n in (8, 7, 6, 5)]
    return []


def fallback(available: Iterable[Platform], target: Platform) -> Platform | None:
    """The 32-bit build a containerd node of `target` pulls when the image has none of its own,
    or None."""
    have = [p.normalized() for p in available if not p.is_unknown]
    for candidate in _fallbacks(target):
        for p in have:
            if (p.os, p.architecture) == (candidate.os, candidate.architecture) and (
                not candidate.variant or _variant_runs(p.variant, candidate.variant, "arm")
            ):
                return p
    return None


def _variant_number(variant: str) -> int | None:
    """7 for `v7`; None for anything else (`v²` passes str.isdigit but not int())."""
    digits = variant[1:]
    if variant[:1] == "v" and digits.isascii() and digits.isdigit() and len(digits) < 6:
        return int(digits)
    return None


def missing(available: Iterable[Platform], targets: Iterable[Platform]) -> list[Platform]:
    """The targets no available platform satisfies."""
    have = [p for p in available if not p.is_unknown]
    return [t for t in targets if not any(satisfies(p, t) for p in have)]


@dataclass(frozen=True)
class TargetGroup:
    """Nodes a pod could land on that share a platform, e.g. an AKS node pool."""

    platform: Platform
    origin: str  # "--platform", "config", "pool arm64pool", ...
    pools: tuple[str, ...] = ()


@dataclass(frozen=True)
class Targets:
    groups: tuple[TargetGroup, ...] = field(default_factory=tuple)

    @property
    def platforms(self) -> list[Platform]:
        seen: dict[Platform, None] = {}
        for g in self.groups:
            seen.setdefault(g.platform, None)
        return list(seen)

    def __bool__(self) -> bool:
        return bool(self.groups)


class TargetSource(Protocol):
    """Where the platforms of a pod's candidate nodes come from: flags and config here; the
    cluster's nodes and AKS node pools plug in with the same shape."""

    def targets_for(self, pod_spec: dict) -> Targets: ...


@dataclass(frozen=True)
class FixedTargets:
    """The same target platforms for every pod (from --platform or the config file)."""

    platforms: Sequence[Platform]
    origin: str = "--platform"

    def targets_for(self, pod_spec: dict) -> Targets:
        return Targets(tuple(TargetGroup(p, self.origin) for p in self.platforms))


# A pod spec every node takes: no selector, tolerates every taint. Its targets are all the
# platforms a target source knows.
_ANY_NODE = {"tolerations": [{"operator": "Exists"}]}


@dataclass(frozen=True)
class PlatformOrigin:
    """Where the target platforms of a run came from, for the report."""

    source: str  # "--platform", "cluster", "config" or "none"
    where: str = ""  # e.g. "nodes of kubeconfig context prod", "/repo/.pullgate.yaml"
    platforms: tuple[str, ...] = ()

    def describe(self) -> str:
        listed = ", ".join(self.platforms) or "none"
        if self.source == "none":
            return "not checked (no --platform, no cluster, no platforms: in the config)"
        where = f" ({self.where})" if self.where else ""
        label = {"cluster": "the cluster", "config": "the config"}.get(self.source, self.source)
        return f"{listed} from {label}{where}"


def choose_targets(
    flag: Sequence[Platform],
    cluster: TargetSource | None,
    cluster_where: str,
    config: Sequence[Platform],
    config_where: str = "",
) -> tuple[TargetSource, PlatformOrigin]:
    """`--platform` first, then what the cluster (nodes, a state file, AKS pools) says, then the
    config file: the config is a default for runs without a cluster, never an override of the
    nodes the pods will land on."""
    if flag:
        names = tuple(str(p) for p in flag)
        return FixedTargets(tuple(flag)), PlatformOrigin("--platform", "", names)
    if cluster is not None:
        found = sorted({str(p) for p in cluster.targets_for(_ANY_NODE).platforms})
        return cluster, PlatformOrigin("cluster", cluster_where, tuple(found))
    if config:
        names = tuple(str(p) for p in config)
        return FixedTargets(tuple(config), "config"), PlatformOrigin("config", config_where, names)
    return FixedTargets(()), PlatformOrigin("none")
