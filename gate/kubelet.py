"""What the kubelet on the nodes could present for an image: pull secrets, node identity.

Access sources (the cluster's pull secrets, AKS's kubelet identity) run in order for each image
use; each reads and fills the shared `PullAccess`, and may emit findings. The pipeline's own
credentials say whether the image exists; these say whether the nodes get in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gate.checks import UseContext
    from gate.findings import Finding


@dataclass
class PullAccess:
    # Pull secrets the kubelet would present whose keys match the image's registry.
    matching_secrets: list[str] = field(default_factory=list)
    # True: a matching secret was accepted by the registry; False: all were refused; None: untried.
    secret_works: bool | None = None
    # True/False: the node identity (e.g. the AKS kubelet identity) can/cannot pull; None: n/a.
    node_identity: bool | None = None
    # Whether the image can be pulled with no credentials at all; None: unknown.
    anonymous_ok: bool | None = None
    # Every pull secret the kubelet would present for the pod (its own, else its
    # ServiceAccount's), matching or not; None: unknown (no cluster source, SA unreadable).
    effective_secrets: list[str] | None = None
    # The cause id of an error finding another source (e.g. AKS's acr-not-attached) already
    # reported for this use's pull; the verdict then adds no second error for the same pull.
    reported_failure: str | None = None
    # The cause id of an error that means no pod is made at all (namespace-missing,
    # service-account-missing): it stands for the pull, so nothing else fails it.
    no_pod: str | None = None


class AccessSource(Protocol):
    def assess(self, ctx: UseContext, access: PullAccess) -> Iterable[Finding]: ...
