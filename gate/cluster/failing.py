"""`pullgate explain --kubeconfig`: the image pulls failing in the cluster right now.

Reads the pods and events of one namespace (or all), explains each failing pull with the same
parser and cause catalog as pasted text, re-checks each image the way that pod's kubelet would
pull it (the pod's pull secrets or its ServiceAccount's, its node's platform) with `check`'s own
resolution, and groups the failures of many pods by their shared root cause. Read-only.

A registry-side cause shows as the same cause for one registry on every node that pulls from it;
a node- or path-side one as several registries failing, with different causes, on the same nodes
while those registries pull elsewhere.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import yaml

from gate.causes import CATALOG, Cause
from gate.explain import PULL_REASONS, describe_failure, explain_objects
from gate.reference import ReferenceError, parse_reference
from gate.reports.safe import encode_json
from gate.safe_text import clean_lines

PULLING_REASONS = ("ContainerCreating", "PodInitializing")
# Causes a node or its network path can produce for a registry that works elsewhere; the others
# (a missing tag, a refused credential, a missing platform build) are the registry's answer.
PATH_CAUSES = frozenset(
    {"dns", "unreachable", "tls", "plain-http", "pull-timeout", "disk", "corrupt-layer", None}
)
NODE_CAUSES = frozenset({"disk", "never-pull"})  # about the node itself, whatever the registry
_STATUS_KEYS = {
    "initContainerStatuses": "initContainers",
    "containerStatuses": "containers",
    "ephemeralContainerStatuses": "ephemeralContainers",
}
# Spec fields the kubelet's pull depends on (credentials, placement); the rest is left out of
# the re-check so that nothing else of the pod is judged.
_SPEC_FIELDS = (
    "containers",
    "initContainers",
    "ephemeralContainers",
    "imagePullSecrets",
    "serviceAccountName",
    "serviceAccount",
    "nodeName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "hostNetwork",
)


@dataclass
class PodPull:
    """One container's image pull as the cluster shows it."""

    namespace: str
    pod: str
    node: str | None
    container: str
    container_kind: str
    image: str
    statuses: list[str] = field(default_factory=list)
    message: str | None = None
    cause: Cause | None = None
    also: tuple[str, ...] = ()
    since: datetime | None = None  # pulling: when the current attempt began
    details: dict[str, object] = field(default_factory=dict)  # describe_failure's row

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.pod, self.container)

    @property
    def registry(self) -> str:
        return registry_of(self.image)


@dataclass(frozen=True)
class Recheck:
    status: str  # "fails" | "pulls" | "not checked"
    cause: str | None = None
    detail: str = ""


@dataclass
class Group:
    """Failing pulls that share one root cause: one cause from one registry."""

    cause: str | None
    registry: str
    pulls: list[PodPull]
    side: str = "undetermined"  # "registry" | "node or path" | "undetermined"
    evidence: str = ""

    @property
    def nodes(self) -> list[str]:
        return sorted({p.node for p in self.pulls if p.node})

    @property
    def images(self) -> list[str]:
        return sorted({p.image for p in self.pulls})


@dataclass
class FleetReport:
    scope: str  # "namespace shop" | "all namespaces"
    failing: list[PodPull]
    pulling: list[PodPull]
    groups: list[Group]
    suspect_nodes: dict[str, list[str]]  # node -> registries failing there, when node-side
    rechecks: dict[tuple[str, str, str], Recheck] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def registry_of(image: str) -> str:
    try:
        return parse_reference(image).domain
    except ReferenceError:
        return image.split("/")[0] if "/" in image else "docker.io"


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # microseconds (eventTime): keep at most six digits
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def event_time(event: Mapping) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = parse_time(event.get(key))
        if moment is not None:
            return moment
    series = event.get("series") or {}
    return parse_time(series.get("lastObservedTime")) or parse_time(
        (event.get("metadata") or {}).get("creationTimestamp")
    )


# ---- what the cluster shows -------------------------------------------------------------------


def _statuses(pod: Mapping) -> Iterable[tuple[str, Mapping]]:
    status = pod.get("status") or {}
    for key, kind in _STATUS_KEYS.items():
        for entry in status.get(key) or ():
            if isinstance(entry, Mapping) and entry.get("name"):
                yield kind, entry


def _waiting(entry: Mapping) -> str:
    return str(((entry.get("state") or {}).get("waiting") or {}).get("reason") or "")


def _spec_image(pod: Mapping, kind: str, name: str) -> str | None:
    for container in (pod.get("spec") or {}).get(kind) or ():
        if isinstance(container, Mapping) and container.get("name") == name:
            return container.get("image")
    return None


def _pod_events(events: Iterable[Mapping]) -> dict[tuple[str, str], list[Mapping]]:
    by_pod: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Pod" and involved.get("name"):
            by_pod[(str(involved.get("namespace") or ""), str(involved["name"]))].append(event)
    return by_pod


def failing_pulls(pods: Sequence[Mapping], events: Sequence[Mapping]) -> list[PodPull]:
    """Containers waiting on a failed pull now, each explained from its status and events."""
    waiting: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        for kind, entry in _statuses(pod):
            reason = _waiting(entry).removeprefix("Init:")
            if reason in PULL_REASONS:
                image = _spec_image(pod, kind, entry["name"]) or str(entry.get("image") or "")
                key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""), image)
                waiting[key] = (entry["name"], kind, reason)
    if not waiting:
        return []
    wanted = {(ns, name) for ns, name, _ in waiting}
    objects = [
        {**p, "kind": "Pod"}
        for p in pods
        if ((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name"))
        in wanted
    ]
    for (ns, name), found in _pod_events(events).items():
        if (ns, name) in wanted:
            objects.extend({**e, "kind": "Event"} for e in sorted(found, key=_event_order))
    result = explain_objects(objects)
    pulls: list[PodPull] = []
    for failure in result.failures:
        key = (failure.pod.namespace or "", failure.pod.name or "", failure.image or "")
        if key not in waiting:
            continue  # an old failure of a container that has pulled since
        container, kind, _ = waiting.pop(key)
        pulls.append(
            PodPull(
                namespace=key[0],
                pod=key[1],
                node=failure.pod.node,
                container=container,
                container_kind=kind,
                image=key[2],
                statuses=list(failure.statuses),
                message=failure.message,
                cause=failure.cause,
                also=failure.also,
                details=describe_failure(failure),
            )
        )
    return sorted(pulls, key=lambda p: p.key)


def _event_order(event: Mapping) -> datetime:
    return event_time(event) or datetime.min.replace(tzinfo=timezone.utc)


def still_pulling(pods: Sequence[Mapping], events: Sequence[Mapping]) -> list[PodPull]:
    """Containers whose image is being pulled now: a Pulling event with no Failed or Pulled
    event for that image after it, in a container still being created."""
    by_pod = _pod_events(events)
    pulls: list[PodPull] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        creating = {
            entry["name"]: kind
            for kind, entry in _statuses(pod)
            if _waiting(entry) in PULLING_REASONS
        }
        if not creating:
            continue
        last: dict[tuple[str, str], datetime] = {}
        for event in by_pod.get((ns, name), ()):
            moment = event_time(event)
            image, what = _pull_event(event)
            if image is None or moment is None:
                continue
            if (image, what) not in last or moment > last[(image, what)]:
                last[(image, what)] = moment
        for container, kind in sorted(creating.items()):
            image = _spec_image(pod, kind, container)
            started = last.get((image or "", "pulling"))
            if image is None or started is None:
                continue
            ended = [last.get((image, "failed")), last.get((image, "pulled"))]
            if any(e is not None and e >= started for e in ended):
                continue
            pulls.append(
                PodPull(
                    namespace=ns,
                    pod=name,
                    node=(pod.get("spec") or {}).get("nodeName"),
                    container=container,
                    container_kind=kind,
                    image=image,
                    statuses=["Pulling"],
                    since=started,
                )
            )
    return pulls


def _pull_event(event: Mapping) -> tuple[str | None, str]:
    message = str(event.get("message") or "")
    for prefix, what in (
        ("Pulling image ", "pulling"),
        ("Failed to pull image ", "failed"),
        ("Successfully pulled image ", "pulled"),
        ('Container image "', "pulled"),
    ):
        if message.startswith(prefix):
            rest = message[len(prefix) :].lstrip('"')
            return rest.split('"', 1)[0], what
    return None, ""


def pulled_fine(pods: Sequence[Mapping]) -> dict[str, set[str]]:
    """Registry -> nodes where a container of a pod in scope has pulled from it."""
    fine: dict[str, set[str]] = defaultdict(set)
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            continue
        for kind, entry in _statuses(pod):
            if entry.get("imageID") and not _waiting(entry):
                image = _spec_image(pod, kind, entry["name"]) or str(entry.get("image") or "")
                fine[registry_of(image)].add(node)
    return fine


# ---- grouping ---------------------------------------------------------------------------------


def group_failures(
    failing: Sequence[PodPull], fine: Mapping[str, set[str]]
) -> tuple[list[Group], dict[str, list[str]]]:
    """One group per (cause, registry), each told registry-side or node/path-side."""
    groups: dict[tuple[str | None, str], Group] = {}
    for pull in failing:
        key = (pull.cause.id if pull.cause else None, pull.registry)
        groups.setdefault(key, Group(key[0], key[1], [])).pulls.append(pull)
    failing_on: dict[str, set[str]] = defaultdict(set)  # node -> registries failing there
    nodes_of: dict[str, set[str]] = defaultdict(set)  # registry -> nodes failing for it
    for pull in failing:
        if pull.node and (pull.cause.id if pull.cause else None) in PATH_CAUSES:
            failing_on[pull.node].add(pull.registry)
            nodes_of[pull.registry].add(pull.node)
    suspects = {
        node: sorted(registries)
        for node, registries in failing_on.items()
        if len(registries) >= 2
        and any(fine.get(r, set()) - {node} or nodes_of[r] == {node} for r in registries)
    }
    for group in groups.values():
        _judge(group, suspects, fine)
    ordered = sorted(groups.values(), key=lambda g: (-len(g.pulls), g.registry, g.cause or ""))
    return ordered, suspects


def _judge(group: Group, suspects: Mapping[str, list[str]], fine: Mapping[str, set[str]]) -> None:
    nodes = set(group.nodes)
    where = ", ".join(sorted(nodes)) or "-"
    cause = group.cause or "the same failure"
    healthy = sorted(fine.get(group.registry, set()) - nodes)
    if group.cause in NODE_CAUSES:
        group.side = "node or path"
        group.evidence = f"{cause} is about the node itself ({where})"
    elif group.cause not in PATH_CAUSES:
        # The registry's own answer (no such tag, credentials refused, no build): it is the
        # same from every node, whatever the path.
        group.side = "registry"
        group.evidence = f"the registry's own answer, on {len(nodes)} node(s): {where}"
        if group.cause in ("unauthorized", "pull-secret-missing") and healthy:
            group.evidence += (
                f"; other pods pull from {group.registry} on {', '.join(healthy)}: compare"
                " their pull secrets"
            )
    elif nodes and nodes <= set(suspects):
        others = sorted({r for n in nodes for r in suspects[n]} - {group.registry})
        group.side = "node or path"
        group.evidence = f"{where} also fail{'s' if len(nodes) == 1 else ''} for " + ", ".join(
            others
        )
        group.evidence += (
            f"; {group.registry} pulls on {', '.join(healthy)}"
            if healthy
            else f"; {group.registry} fails on no other node"
        )
    elif nodes and healthy:
        group.side = "node or path"
        group.evidence = f"{group.registry} pulls on {', '.join(healthy)}, not on {where}"
    elif len(nodes) >= 2:
        group.side = "registry"
        group.evidence = f"{cause} from {group.registry} on {len(nodes)} nodes, and none pulls it"
    else:
        group.evidence = "one node: not enough to tell the registry from the node or its path"


# ---- re-checking with check's resolution, as the pod's kubelet would --------------------------


def recheck_manifest(pods: Sequence[Mapping], failing: Sequence[PodPull]) -> str:
    """The failing pods as Pod manifests for `check`: what the kubelet's pull depends on."""
    wanted = {(p.namespace, p.pod) for p in failing}
    docs = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        if key not in wanted:
            continue
        spec = {k: v for k, v in (pod.get("spec") or {}).items() if k in _SPEC_FIELDS}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": key[1], "namespace": key[0]},
                "spec": spec,
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False)


def recheck(
    view: object,
    pods: Sequence[Mapping],
    failing: Sequence[PodPull],
    options: object,
) -> dict[tuple[str, str, str], Recheck]:
    """`check` on the failing pods, in cluster mode with their pull secrets tried."""
    from gate.cluster.mode import ClusterMode
    from gate.cluster.options import ClusterOptions
    from gate.registry.client import ClientOptions
    from gate.runner import run_check

    if not failing:
        return {}
    client_options = ClientOptions(
        timeout=options.timeout,
        deadline=options.deadline,
        insecure=options.insecure,
        ca_file=options.ca_file,
    )
    mode = ClusterMode(view, ClusterOptions(verify_credentials=True), client_options)
    try:
        outcome = run_check(
            options,
            stdin=io.StringIO(recheck_manifest(pods, failing)),
            targets=mode.targets(),
            checks=mode.checks(),
            access_sources=mode.access_sources(),
            prepare=(mode.prepare,),
        )
    finally:
        probe = mode.probe
        if probe is not None:
            probe.close()
    errors: dict[tuple[str, str, str], list] = defaultdict(list)
    for finding in outcome.findings:
        use = finding.use
        # imagePullPolicy: Never is a warning before a deploy; on a node that lacks the image it
        # is the failure itself, whatever the registry holds.
        if finding.is_error or finding.cause == "never-pull":
            errors[(use.namespace or "", use.name, use.container)].append(finding)
    results: dict[tuple[str, str, str], Recheck] = {}
    for pull in failing:
        found = errors.get(pull.key)
        if found:
            first = found[0]
            results[pull.key] = Recheck(
                "fails", first.cause, first.evidence or first.explanation or first.signature
            )
        else:
            results[pull.key] = Recheck(
                "pulls",
                None,
                "the image resolves now with this pod's pull credentials, with a build for its"
                " node's platform",
            )
    return results


# ---- putting it together ---------------------------------------------------------------------


def fleet_report(
    pods: Sequence[Mapping],
    events: Sequence[Mapping],
    scope: str,
    now: datetime | None = None,
) -> FleetReport:
    failing = failing_pulls(pods, events)
    pulling = still_pulling(pods, events)
    groups, suspects = group_failures(failing, pulled_fine(pods))
    return FleetReport(
        scope, failing, pulling, groups, suspects, now=now or datetime.now(timezone.utc)
    )


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _now_text(report: FleetReport, pull: PodPull) -> str:
    check = report.rechecks.get(pull.key)
    if check is None:
        return "not checked"
    if check.status == "pulls":
        return "pulls now"
    return f"still fails: {check.cause}"


def _group_now(report: FleetReport, group: Group) -> str:
    states = sorted({_now_text(report, p) for p in group.pulls})
    return "; ".join(states)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _pods_text(pulls: Sequence[PodPull], limit: int = 4) -> str:
    names = [f"{p.namespace}/{p.pod}" for p in pulls]
    unique = list(dict.fromkeys(names))
    shown = ", ".join(unique[:limit])
    return shown + (f" (+{len(unique) - limit} more)" if len(unique) > limit else "")


def to_text(report: FleetReport) -> str:
    lines = []
    n, m = len({(p.namespace, p.pod) for p in report.failing}), len(report.pulling)
    lines.append(
        f"pullgate explain ({report.scope}): {n} pod{'s' if n != 1 else ''} failing to pull,"
        f" {m} still pulling"
    )
    if report.groups:
        rows = [["CAUSE", "REGISTRY", "PODS", "NODES", "SIDE", "NOW", "WHICH PODS"]]
        for g in report.groups:
            rows.append(
                [
                    g.cause or "(not in the events)",
                    g.registry,
                    str(len({(p.namespace, p.pod) for p in g.pulls})),
                    str(len(g.nodes)),
                    g.side,
                    _group_now(report, g),
                    _pods_text(g.pulls),
                ]
            )
        lines.append("")
        lines.extend(_table(rows))
    for g in report.groups:
        first = g.pulls[0]
        row = CATALOG.get(g.cause) if g.cause else None
        lines.append("")
        title = row.title if row else "Pull failed; the events do not say why"
        lines.append(f"{(g.cause or 'unknown').upper()} from {g.registry}: {title}")
        lines.append(f"  Side:      {g.side}: {g.evidence}")
        lines.append(f"  Images:    {', '.join(g.images)}")
        lines.append(f"  Nodes:     {', '.join(g.nodes) or '(not scheduled)'}")
        if first.message:
            lines.append(f"  Runtime:   {first.message}")
        for label, key in (("Means", "meaning"), ("Confirm", "confirm"), ("Fix", "fix")):
            if first.details.get(key):
                lines.append(f"  {label + ':':<10} {first.details[key]}")
        for pull in g.pulls:
            check = report.rechecks.get(pull.key)
            now = _now_text(report, pull)
            failed = check is not None and check.status == "fails" and check.detail
            detail = f" ({check.detail})" if failed else ""
            lines.append(
                f"  - {pull.namespace}/{pull.pod} {pull.container} on {pull.node or '-'}:"
                f" {', '.join(pull.statuses)}; {now}{detail}"
            )
    if report.suspect_nodes:
        lines.append("")
        lines.append("Nodes failing for several registries (look at the node and its path):")
        for node, registries in sorted(report.suspect_nodes.items()):
            lines.append(f"  {node}: {', '.join(registries)}")
    if report.pulling:
        lines.append("")
        lines.append("Still pulling (not failing):")
        for pull in report.pulling:
            took = duration((report.now - pull.since).total_seconds()) if pull.since else "?"
            lines.append(
                f"  {pull.namespace}/{pull.pod} {pull.container} on {pull.node or '-'}:"
                f" {pull.image}, pulling for {took}"
            )
    if not report.groups and not report.pulling:
        lines.append("  No pod is failing to pull or pulling right now.")
    return clean_lines("\n".join(lines)) + "\n"


def to_json(report: FleetReport) -> str:
    from gate import __version__

    def pull_json(pull: PodPull) -> dict:
        check = report.rechecks.get(pull.key)
        return {
            "namespace": pull.namespace,
            "pod": pull.pod,
            "node": pull.node,
            "container": pull.container,
            "container_type": pull.container_kind,
            "image": pull.image,
            "statuses": pull.statuses,
            "cause": pull.cause.id if pull.cause else None,
            "also": list(pull.also),
            "message": pull.message,
            "now": None
            if check is None
            else {"status": check.status, "cause": check.cause, "detail": check.detail},
        }

    document = {
        "pullgate": __version__,
        "scope": report.scope,
        "failing_pods": len({(p.namespace, p.pod) for p in report.failing}),
        "groups": [
            {
                "cause": g.cause,
                "registry": g.registry,
                "side": g.side,
                "evidence": g.evidence,
                "images": g.images,
                "nodes": g.nodes,
                "pods": sorted({f"{p.namespace}/{p.pod}" for p in g.pulls}),
                "meaning": g.pulls[0].details.get("meaning"),
                "confirm": g.pulls[0].details.get("confirm"),
                "fix": g.pulls[0].details.get("fix"),
                "pulls": [pull_json(p) for p in g.pulls],
            }
            for g in report.groups
        ],
        "suspect_nodes": report.suspect_nodes,
        "pulling": [
            {
                "namespace": p.namespace,
                "pod": p.pod,
                "node": p.node,
                "container": p.container,
                "image": p.image,
                "since": p.since.isoformat() if p.since else None,
                "seconds": int((report.now - p.since).total_seconds()) if p.since else None,
            }
            for p in report.pulling
        ],
    }
    return encode_json(json.dumps(document, indent=2)) + "\n"
