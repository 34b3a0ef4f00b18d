"""`pullgate explain`: name the cause of a live image-pull failure from what kubectl printed.

Reads `kubectl describe pod` output, `kubectl get events` / `kubectl get pods` tables, a Pod or
Event object as YAML/JSON, or a bare runtime message, and finds every image-pull failure in it.
Each is classified with the cause catalog's Events patterns (gate/causes.py, the same table the
checks and reports use) and printed with the command that confirms it and the one that fixes it.
Text that shows no pull failure (CrashLoopBackOff, Pending, a pull still running) is said so.

Pasted text is messy: terminals and issue trackers wrap long event lines, kubelets aggregate one
error per credential tried (`[err1, err2]`), and runtimes word the same failure differently
(containerd, CRI-O, Docker). Wrapped lines are joined back before matching, and image names and
URLs are taken out of a message before it is matched, so a repository called `x509-tools` is not
a TLS problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from gate.causes import CATALOG, Cause, fill, match_text
from gate.reports.safe import encode_json
from gate.safe_text import clean_lines

PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
# What an explanation says when it knows nothing more specific about who was refused.
UNAUTHORIZED_WHO = (
    "The node presented no credential the registry accepts for this repository. ACR, GHCR and"
    " Quay answer this way also for a repository that does not exist: check the name first."
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_IMG = r'\\?"(?P<image>[^"\\\s]+)\\?"'
_FAILED_PULL = re.compile(r"Failed to pull image " + _IMG + r":?\s*(?P<message>.*)", re.S)
# Kubelets since 1.30 add the last pull error to the back-off message.
_BACKOFF_PULL = re.compile(
    r"Back-?off pulling image " + _IMG + r"(?:(?::\s*(?:(?:ErrImagePull|ImagePullBackOff):\s*)?"
    r"|\s+ErrImagePull:\s*)(?P<message>\S.*))?",
    re.I,
)
# `kubectl logs` (and tools that wrap it) on a container that never started.
_WAITING_PULL = re.compile(
    r'container \\?"?(?P<container>[a-z0-9][-a-z0-9.]*)\\?"?(?: in pod \\?"?(?P<pod>[a-z0-9]'
    r'[-a-z0-9.]*)\\?"?)? is waiting to start: (?:(?P<image>\S+) can\'t be pulled|image can\'t be'
    r" pulled|trying and failing to pull image|(?P<status>ErrImagePull|ImagePullBackOff))"
)
_INSPECT_FAILED = re.compile(r"Failed to inspect image " + _IMG + r":\s*(?P<message>.*)", re.S)
_NEVER_PULL = re.compile(
    r"Container image " + _IMG + r" is not present with pull policy of Never", re.I
)
_DEFAULT_TAG = re.compile(
    r'Failed to apply default image tag \\?"(?P<image>[^"\\]*)\\?":?\s*(?P<message>.*)', re.S
)
_PULLING = re.compile(r"\bPulling image " + _IMG)
_PULLED = re.compile(
    r"(?:Successfully pulled image " + _IMG + r"|Container image "
    r'\\?"(?P<present>[^"\\\s]+)\\?" already present on machine)'
)
_ERROR_STATUS = re.compile(r"\bError: (?P<status>" + "|".join(PULL_REASONS) + r")\b")
_CRASH = re.compile(r"Back-off restarting failed container(?: (?P<container>[a-z0-9][-a-z0-9.]*))?")
_SECRET_MISSING = re.compile(
    r"Unable to retrieve (?:some )?image pull secrets? \((?P<secrets>[^)]*)\)"
)
# Where a runtime's own error begins in an event printed without "Failed to pull image X:".
_RUNTIME_WORDS = re.compile(
    r"rpc error: code|Error response from daemon|initializing source docker://"
    r"|(?:Error )?reading manifest \S+ in |failed to pull and unpack image"
    r"|failed to resolve reference"
)
# The kubelet's structured log appends the lookup's own error (pod="..." secret="..."
# err="secret "x" not found", its quotes already unescaped) after the warning: part of the
# warning, not a pull's words. err is the last key the kubelet writes.
_SECRET_WARNING = re.compile(
    r"Unable to retrieve (?:some )?(?:image )?pull secrets?.*?(?:may not succeed\.?|$)"
    r'(?:"?(?:[ \t]+(?!err=)[a-z]+=(?:"[^"\n]*"|[^\s"]+))*(?:[ \t]+err="[^\n]*)?)',
    re.M,
)
_SCHEDULING = re.compile(
    r"FailedScheduling\s+(?:\S+\s+)*?(?P<message>\d+/\d+ nodes are available.*)"
)
# A new event row in a describe table or a get-events table ends the previous message.
_NEXT_EVENT = re.compile(
    r"\s(?:Normal|Warning)\s+(?:Pulling|Pulled|Failed|BackOff|Scheduled|Created|Started|Killing"
    r"|FailedScheduling|InspectFailed|ErrImageNeverPull|SandboxChanged|FailedMount"
    r"|AddedInterface|FailedCreatePodSandBox)\b"
)
_PULL_CONTEXT = re.compile(
    r"rpc error|failed to pull|pull and unpack|failed to resolve reference|reading manifest"
    r"|/v2/|pulling image|Error response from daemon|pull access denied|ErrImagePull"
    r"|ImagePullBackOff|toomanyrequests|no matching manifest|no match for platform"
    r"|pinging (?:container|docker) registry|InvalidImageName|ErrImageNeverPull"
    r"|failed commit on ref|size validation|layer verification failed|failed to register layer"
    r"|failed to extract layer|download failed after|initializing source|choosing image"
    r"|sandbox image|failed pulling image|manifest unknown|manifest for \S+ not found"
    r"|HTTP response to HTTPS client|error pulling image|Pulling from |Pulling fs layer"
    r"|docker pull|crictl pull|ctr (?:-n \S+ )?(?:image|i) pull|podman pull|no progress for"
    r"|no supported platform|writing blob|fetching blob|copying system image"
    r"|no image found in|manifest digest|digest did not match|failed to authorize"
    r"|failed to fetch (?:anonymous|oauth) token|image pull failed|trying to pull|pull repository"
    r"|httpReadSeeker|failed to copy|unexpected status (?:code|from)|couldn't parse image"
    r"|invalid reference format|short-name|unqualified image|downloadArtifacts|proxyconnect"
    r"|dial tcp|x509|TLS handshake|no basic auth credentials|registry endpoint"
    r"|\bmanifest\b|\bregistry\b|\bblobs?\b|\blayers?\b|Downloading|Download complete"
    r"|Verifying Checksum|Pull complete|requested access to the resource|authentication required"
    r"|status code \d{3}|remote image|bearer token|read tcp \S+->\S+:443|too many requests"
    r"|unpack image|media ?type|images/create\b|unable to pull|architecture mismatch|resume write"
    r"|\bimage \S+ not found|not found in repository",
    re.I,
)
# The registry's own fault, whatever status or class wraps it: containerd's words when the
# registry (or a proxy) served something that is not an image part, an HTML page most often
# ("unexpected media type text/html for sha256:...: not found", the NotFound class being
# containerd's), and the registry's blob storage refusing the signed URL the registry itself
# handed out (S3's SignatureDoesNotMatch inside a 403: no credential of the puller is involved).
_NOT_AN_IMAGE = re.compile(
    r"unexpected media type (?!application/vnd\.)|reference for unknown type: text/"
    r"|<Code>SignatureDoesNotMatch</Code>",
    re.I,
)
# kubelet journal lines (structured logging), after unescaping:
#   "Error syncing pod, skipping" err="failed to "StartContainer" for "x" with ErrImagePull: "..."
#   "Failed to pull image" err="rpc error: ..." image="x"
_SYNC_PULL = re.compile(
    r'with (?P<status>ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull): "?'
    r'(?P<message>.*?)"*\s*(?:pod="|podUID=|$)',
    re.S,
)
_LOGGED_PULL = re.compile(
    r"(?:Failed to pull image|PullImage from image service failed|Failed to pull"
    r' image for container)"?\s+err="(?P<message>.*?)"\s+image="(?P<image>[^"\s]+)"',
    re.S,
)
# The pod sandbox (pause) image: containerd and CRI-O pull it themselves, dockershim asked Docker.
_SANDBOX_PULL = re.compile(
    r"(?:failed to get sandbox image|failed pulling image|failed to pull image)"
    r' \\?"(?P<image>[^"\\\s]+)\\?":\s*(?P<message>.*)',
    re.S,
)
_SANDBOX_CONTEXT = re.compile(r"FailedCreatePodSandBox|create pod sandbox|RunPodSandbox", re.I)
_CURLY = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)
_BOX_SIDE = "\u2502\u2503\u2551\u250a\u250b\u2506\u2507\u254e\u254f|"
_BOX_CHARS = re.compile("[\u2500-\u257f]")
_ESCAPED_QUOTE = re.compile(r'\\+"')
_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")
_AGGREGATE_SPLIT = re.compile(
    r",\s+(?=rpc error:|failed to pull and unpack image|Error response from daemon"
    r"|Error reading manifest|reading manifest|initializing source)"
)
# Only quoted names (no spaces) are taken out: a quoted sentence is the runtime's own words, e.g.
# the JSON-escaped message of a Docker daemon.
# Texts that look like pull trouble and are not: the image is on the node (or no pull was due).
_NOT_PULLS = (
    (
        "config-error",
        re.compile(
            r"CreateContainerConfigError|couldn't find key \S+ in (?:Secret|ConfigMap)"
            r"|Error: (?:secrets?|configmaps?) \\?\"[^\"\\]+\\?\" not found",
            re.I,
        ),
        "CreateContainerConfigError: the image is there; a Secret, ConfigMap or key the container"
        " reads (env, envFrom, volumes) is missing. This is not an image pull problem.",
        "kubectl describe pod <pod> -n <namespace> | grep -A3 -e Environment -e Mounts",
    ),
    (
        "exec-format",
        re.compile(r"exec format error", re.I),
        "exec format error: the image was pulled and started, but its binary is built for another"
        " CPU architecture than the node's. Not a pull failure: build for the node's platform.",
        "docker buildx imagetools inspect <image>; kubectl get nodes -L kubernetes.io/arch",
    ),
    (
        "gc-failed",
        re.compile(r"ImageGCFailed|failed to garbage collect required amount of images", re.I),
        "ImageGCFailed: the kubelet could not free enough disk by removing unused images; pods"
        " pull until the disk fills. Not a pull failure yet.",
        "kubectl describe node <node> | grep -A5 -e DiskPressure -e ephemeral-storage",
    ),
    (
        "pull-secret-warning",
        re.compile(r"FailedToRetrieveImagePullSecret|Unable to retrieve (?:some )?(?:image )?pull"),
        "FailedToRetrieveImagePullSecret alone: a pull secret the pod names is missing, but no"
        " pull failed (the image is present or public). Remove the name or create the secret.",
        "kubectl get pod <pod> -n <namespace> -o jsonpath='{.spec.imagePullSecrets}'",
    ),
)
_QUOTED = re.compile(r'\\?"[^"\s]*\\?"')
_TOKEN = re.compile(r"\S+")
_CLOSING_TAG = re.compile(r"</[a-zA-Z][a-zA-Z0-9]*>")
_KEPT_WORDS = {"i/o", "input/output"}  # words with a slash that are a runtime's words, not a path
_POD_ROW = re.compile(
    r"^(?:(?P<ns>[a-z0-9][-a-z0-9]*)\s+)?(?P<name>[a-z0-9][-a-z0-9.]*)\s+\d+/\d+\s+"
    r"(?P<status>[A-Za-z:]+)\s+\d+"
)
_EVENT_OBJECT = re.compile(r"\bpod/(?P<pod>[a-z0-9][-a-z0-9.]*)")
_SUBOBJECT = re.compile(
    r"spec\.(?P<type>initContainers|containers|ephemeralContainers)\{(?P<name>[^}]+)\}"
)
_FIELD = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Z][A-Za-z ]*?):(?:\s{2,}(?P<value>\S.*)|\s*)$")
_CONTAINER_NAME = re.compile(r"^\s*(?P<name>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?):\s*$")
_EVENT_ROW = re.compile(r"^\s*(?:\S+\s+){0,2}(?:Normal|Warning)\s+[A-Z][A-Za-z]+\b")
_TABLE_HEADER = re.compile(
    r"^\s*(?:Type\s+Reason\s+Age|LAST SEEN|LASTSEEN|NAMESPACE\s+(?:LAST|NAME\s)|NAME\s+READY)"
)
_SECTIONS = {
    "Init Containers": "initContainers",
    "Containers": "containers",
    "Ephemeral Containers": "ephemeralContainers",
}
_CONTAINER_WORD = {
    "initContainers": "init container",
    "containers": "container",
    "ephemeralContainers": "ephemeral container",
}
_HARD_WRAP_WIDTH = 79
MAX_MESSAGE_CHARS = 16384  # runtime messages are a few hundred characters; bound the matching


@dataclass
class Container:
    name: str
    kind: str = "containers"  # initContainers | containers | ephemeralContainers
    image: str | None = None
    reason: str | None = None  # waiting reason of the current state
    message: str | None = None  # waiting message (Pod objects carry it)


@dataclass
class Pod:
    name: str | None = None
    namespace: str | None = None
    node: str | None = None
    service_account: str | None = None
    phase: str | None = None
    containers: dict[str, Container] = field(default_factory=dict)
    statuses: set[str] = field(default_factory=set)  # from get-pods rows and Error: events
    unscheduled: str | None = None
    missing_secrets: list[str] = field(default_factory=list)  # FailedToRetrieveImagePullSecret

    @property
    def key(self) -> str:
        return f"{self.namespace or ''}/{self.name or ''}"


@dataclass
class Record:
    """One logical line: an event (wrapped lines joined back) or a field."""

    text: str
    tight: str  # the same with hard-wrapped lines joined without a space
    pod: Pod
    container: str | None = None
    container_kind: str | None = None


@dataclass
class Failure:
    image: str | None
    pod: Pod
    container: str | None = None
    container_kind: str | None = None
    statuses: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    cause: Cause | None = None
    also: tuple[str, ...] = ()

    @property
    def message(self) -> str | None:
        return self.messages[-1] if self.messages else None

    def add_status(self, status: str) -> None:
        if status not in self.statuses:
            self.statuses.append(status)

    def add_message(self, message: str) -> None:
        message = message.strip()
        if message and message not in self.messages:
            self.messages.append(message)


@dataclass(frozen=True)
class Observation:
    """Something the text shows that is not a pull failure."""

    state: str  # crashloop | unscheduled | pending | pulling | creating | pulled
    subject: str
    summary: str
    next: str = ""


@dataclass
class Explanation:
    failures: list[Failure]
    observations: list[Observation]


# ---- reading the text ------------------------------------------------------------------------


def _clean(text: str) -> str:
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return text


def normalise(text: str) -> str:
    """Undo what terminals, loggers and issue trackers did to the runtime's words.

    Curly quotes are folded, escaped quotes (journal lines, JSON-escaped daemon messages) and
    JSON unicode escapes are undone, and boxed pastes (k9s) lose their borders, with the lines
    the box wrapped mid-word joined back.
    """
    text = text.translate(_CURLY)
    text = _unbox(text)
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text)
    return _ESCAPED_QUOTE.sub('"', text)


def _box_inner(line: str) -> str | None:
    """The text between a boxed line's borders, or None when the line has no left border.

    k9s pads the text with one space on each side; a line whose text reaches the right padding
    was wrapped by the box, so the inner text keeps its last character there.
    """
    stripped = line.strip()
    if not stripped or stripped[0] not in _BOX_SIDE:
        return None
    inner = stripped[1:]
    if inner[-1:] not in _BOX_SIDE:
        return inner + " "
    inner = inner[:-1]
    if inner.startswith(" ") and inner.endswith(" ") and len(inner) > 1:
        inner = inner[1:-1]
    return inner


def _unbox(text: str) -> str:
    lines = text.split("\n")
    boxed = [_box_inner(line) for line in lines]
    if sum(b is not None for b in boxed) < 2:
        return _BOX_CHARS.sub(" ", text) if _BOX_CHARS.search(text) else text
    out: list[str] = []
    wrapped = False  # the previous boxed line filled the box: the next one continues it
    for line, inner in zip(lines, boxed, strict=True):
        if inner is None:
            out.append(_BOX_CHARS.sub(" ", line))
            wrapped = False
            continue
        inner = _BOX_CHARS.sub(" ", inner)
        if wrapped and out and inner[:1].strip():
            out[-1] = out[-1] + inner.rstrip()
        else:
            out.append(inner.rstrip())
        wrapped = bool(inner[-1:].strip())
    return "\n".join(out)


def _starts_record(line: str) -> bool:
    return bool(
        not line.strip()
        or _EVENT_ROW.match(line)
        or _FIELD.match(line)
        or _TABLE_HEADER.match(line)
        or _POD_ROW.match(line)
        or line.strip().startswith(("---", "$ ", "> ", "# "))
        or (_CONTAINER_NAME.match(line) and line.startswith("  ") and not line.startswith("    "))
    )


def _join(lines: list[str]) -> tuple[str, str]:
    """Lines of one wrapped record, joined as prose and as hard-wrapped text."""
    spaced = lines[0].rstrip()
    tight = spaced
    previous = lines[0]
    for line in lines[1:]:
        piece = line.strip()
        spaced += " " + piece
        hard = (
            len(previous) >= _HARD_WRAP_WIDTH
            and not previous[-1:].isspace()
            and not line[:1].isspace()
        )
        tight += piece if hard else " " + piece
        previous = line
    return spaced, tight


def _records(text: str) -> tuple[list[Record], list[Pod]]:
    """Split describe/get output into records, tracking which pod and container they belong to."""
    pods: list[Pod] = []
    current = Pod()
    records: list[Record] = []
    section: str | None = None
    container: Container | None = None
    state_field = "state"
    group: list[str] = []
    namespaced = False  # a table printed with -A: its first column is the namespace

    def flush() -> None:
        if group:
            spaced, tight = _join(group)
            records.append(_record(spaced, tight, current, pods, namespaced))
            group.clear()

    for line in text.split("\n"):
        field_match = _FIELD.match(line)
        if _starts_record(line):
            flush()
        if _TABLE_HEADER.match(line):
            namespaced = line.strip().startswith("NAMESPACE")
        if field_match and not _EVENT_ROW.match(line):
            key, value = field_match["key"].strip(), (field_match["value"] or "").strip()
            top = not field_match["indent"]
            if top and key == "Name" and value:
                if current.name is not None or current.containers:
                    pods.append(current)
                current = Pod(name=value)
                section, container = None, None
                continue
            if top and key in _SECTIONS:
                section, container = _SECTIONS[key], None
                continue
            if top and not value and key not in _SECTIONS:
                section, container = None, None  # Conditions:, Volumes:, Events: ...
            if top or section is None:
                _pod_field(current, key, value)
            elif container is not None:
                if key == "Image" and value:
                    container.image = value
                elif key in ("State", "Last State"):
                    state_field = "state" if key == "State" else "last"
                elif key == "Reason" and value and state_field == "state":
                    container.reason = value
                elif key == "Message" and value and state_field == "state":
                    container.message = value
            continue
        name = _CONTAINER_NAME.match(line)
        if section is not None and name and not _EVENT_ROW.match(line):
            container = Container(name=name["name"], kind=section)
            current.containers[container.name] = container
            state_field = "state"
            continue
        if line.strip():
            group.append(line)
    flush()
    if current.name is not None or current.containers or not pods:
        pods.append(current)
    return records, pods


def _pod_field(pod: Pod, key: str, value: str) -> None:
    if key == "Namespace" and value:
        pod.namespace = value
    elif key == "Node" and value and value != "<none>":
        pod.node = value.split("/")[0]
    elif key == "Service Account" and value:
        pod.service_account = value
    elif key == "Status" and value:
        pod.phase = value


def _record(
    spaced: str, tight: str, current: Pod, pods: list[Pod], namespaced: bool = False
) -> Record:
    """A record from a get-events or get-pods table names its own pod."""
    pod = current
    object_match = _EVENT_OBJECT.search(spaced)
    row = _POD_ROW.match(spaced)
    name = object_match["pod"] if object_match else (row["name"] if row else None)
    if name and name != current.name:
        namespace = row["ns"] if row else None
        if namespace is None and namespaced and object_match:
            namespace = spaced.split(None, 1)[0]
        pod = next((p for p in pods if p.name == name and p.namespace == namespace), None)
        if pod is None:
            pod = Pod(name=name, namespace=namespace)
            pods.append(pod)
    if row:
        pod.statuses.add(row["status"])
    sub = _SUBOBJECT.search(spaced)
    return Record(
        spaced,
        tight,
        pod,
        container=sub["name"] if sub else None,
        container_kind=sub["type"] if sub else None,
    )


def _structured(text: str) -> tuple[list[Record], list[Pod]] | None:
    """Pod / Event objects (or a List of them) as `kubectl get -o yaml|json` prints them."""
    stripped = text.lstrip()
    if not (stripped.startswith("{") or re.search(r"^(apiVersion|kind):", text, re.M)):
        return None
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return None
    objects: list[dict] = []
    for doc in docs:
        items = doc.get("items")
        if isinstance(items, list):
            objects.extend(i for i in items if isinstance(i, dict))
        else:
            objects.append(doc)
    return _from_objects(objects)


def _from_objects(objects: Iterable[dict]) -> tuple[list[Record], list[Pod]] | None:
    """Records and pods from Pod and Event objects (`kind` set on each)."""
    records: list[Record] = []
    pods: dict[str, Pod] = {}
    for obj in objects:
        kind = obj.get("kind")
        if kind == "Pod":
            pod = _pod_object(obj)
            pods[pod.key] = pods.get(pod.key) or pod
            pods[pod.key].containers.update(pod.containers)
        elif kind == "Event":
            involved = obj.get("involvedObject") or {}
            key = f"{involved.get('namespace') or ''}/{involved.get('name') or ''}"
            pod = pods.setdefault(
                key, Pod(name=involved.get("name"), namespace=involved.get("namespace"))
            )
            sub = _SUBOBJECT.search(str(involved.get("fieldPath") or ""))
            message = normalise(str(obj.get("message") or ""))
            line = f"{obj.get('reason') or ''} {message}".strip()
            if obj.get("reason") == "FailedScheduling":
                pod.unscheduled = message
            records.append(
                Record(
                    line,
                    line,
                    pod,
                    container=sub["name"] if sub else None,
                    container_kind=sub["type"] if sub else None,
                )
            )
    if not pods and not records:
        return None
    return records, list(pods.values())


def _pod_object(obj: dict) -> Pod:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod = Pod(
        name=meta.get("name"),
        namespace=meta.get("namespace"),
        node=spec.get("nodeName"),
        service_account=spec.get("serviceAccountName"),
        phase=status.get("phase"),
    )
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(kind) or []:
            if isinstance(c, dict) and c.get("name"):
                pod.containers[c["name"]] = Container(c["name"], kind, image=c.get("image"))
    status_keys = {
        "initContainerStatuses": "initContainers",
        "containerStatuses": "containers",
        "ephemeralContainerStatuses": "ephemeralContainers",
    }
    for key, kind in status_keys.items():
        for s in status.get(key) or []:
            if not isinstance(s, dict) or not s.get("name"):
                continue
            c = pod.containers.setdefault(s["name"], Container(s["name"], kind))
            c.image = c.image or s.get("image")
            waiting = (s.get("state") or {}).get("waiting") or {}
            c.reason = waiting.get("reason") or c.reason
            c.message = normalise(waiting.get("message") or "") or c.message
    for cond in status.get("conditions") or []:
        scheduled = isinstance(cond, dict) and cond.get("type") == "PodScheduled"
        if scheduled and cond.get("status") == "False":
            pod.unscheduled = cond.get("message") or cond.get("reason") or "Unschedulable"
    return pod


# ---- classifying -----------------------------------------------------------------------------


def _trim(message: str) -> str:
    """The runtime's message alone: cut where the next table column or event begins."""
    message = re.split(r"\s{3,}", message.strip(), maxsplit=1)[0]
    cut = _NEXT_EVENT.search(message)
    return (message[: cut.start()] if cut else message).strip()


def _scrub(text: str) -> str:
    """Remove quoted names and paths so that a name cannot look like a cause."""
    text = _CLOSING_TAG.sub(" ", text)  # "403 (Forbidden)</title>" is a status, not a path
    text = _QUOTED.sub(" ", text)
    return _TOKEN.sub(_unpath, text)


def _unpath(token: re.Match) -> str:
    """A path or URL token goes; a word with a slash that is the runtime's own stays, and a
    registry URL leaves what it pointed at (a blob is a layer, a manifest is the tag's)."""
    word = token[0]
    if "/" not in word or word.lower().strip(":,.") in _KEPT_WORDS:
        return word
    if "/v2/" in word and "/blobs/" in word:
        return " <blob> "
    return " "


@lru_cache(maxsize=4096)  # kubelets repeat one message per attempt and per pod
def classify(message: str) -> tuple[Cause | None, tuple[str, ...]]:
    """The catalog row for a runtime message, and the other rows an aggregate also shows.

    A kubelet that tried several credentials reports one error per try. When one try reached the
    registry and found nothing while another was refused, the missing tag is the cause.
    """
    body = message.strip()[:MAX_MESSAGE_CHARS]
    parts = _AGGREGATE_SPLIT.split(body.strip("[]")) if body.startswith("[") else [body]
    found: list[str] = []
    for part in parts:
        row = CATALOG["registry-error"] if _NOT_AN_IMAGE.search(part) else match_text(_scrub(part))
        if row is not None and row.id not in found:
            found.append(row.id)
    if not found:
        return None, ()
    primary = _primary(found)
    return CATALOG[primary], tuple(c for c in found if c != primary)


def _primary(found: list[str]) -> str:
    """The cause of an aggregate: a try that got in and found no such tag (or no build for the
    platform) beats a refused one, and a refusal beats a server error of another try."""
    if "unauthorized" in found:
        answered = [c for c in found if c in ("tag-not-found", "platform-mismatch")]
        return answered[0] if answered else "unauthorized"
    return found[0]


def _tight(text: str) -> str:
    """Lines joined without a space where a line was cut at the terminal's width."""
    lines = [line for line in text.split("\n") if line.strip()]
    return _join(lines)[1] if lines else ""


def _pull_message(rec: Record) -> tuple[str | None, str, str] | None:
    """(image, status, runtime message) of a failed pull in a record, in any of its forms."""
    candidates: list[tuple[str | None, str, str]] = []
    for source in (rec.text, rec.tight):
        m = _FAILED_PULL.search(source)
        if m:
            candidates.append((m["image"], "ErrImagePull", _trim(m["message"])))
            continue
        m = _LOGGED_PULL.search(source)
        if m:
            candidates.append((m["image"], "ErrImagePull", m["message"].strip()))
            continue
        m = _SYNC_PULL.search(source)
        if m and m["status"] != "ImagePullBackOff":
            message = m["message"].strip().strip('"')
            candidates.append((image_in(message), m["status"], message))
            continue
        m = _SANDBOX_PULL.search(source)
        if m and _SANDBOX_CONTEXT.search(source):
            candidates.append((m["image"], "ErrImagePull", _trim(m["message"])))
    if not candidates:
        return None
    for candidate in candidates:
        if classify(candidate[2])[0] is not None:
            return candidate
    return candidates[0]


_NAMED_IMAGE = (
    re.compile(
        r"(?:pull and unpack image|failed to resolve reference|Failed to pull image"
        r'|pulling image|Pulling image)\s+\\?"(?P<image>[^"\\\s]+)\\?"'
    ),
    re.compile(r"manifest for (?P<image>\S+) not found"),
)
_READING_MANIFEST = re.compile(r"reading manifest (?P<ref>\S+) in (?P<repo>\S+?):\s")
_MANIFEST_URL = re.compile(
    r'https?://(?P<host>[^/\s"]+)/v2/(?P<path>\S+?)/manifests/(?P<ref>sha256:[0-9a-f]{64}'
    r"|[\w][\w.-]*)"
)
_ACCESS_DENIED_FOR = re.compile(r"pull access denied for (?P<image>[^\s,]+)")


def image_in(message: str) -> str | None:
    """The image a bare runtime message is about, when it names one."""
    for pattern in _NAMED_IMAGE:
        m = pattern.search(message)
        if m:
            return m["image"]
    m = _READING_MANIFEST.search(message)
    if m:
        sep = "@" if m["ref"].startswith("sha256:") else ":"
        return f"{m['repo']}{sep}{m['ref']}"
    m = _MANIFEST_URL.search(message)
    if m:
        host = (
            "docker.io" if m["host"] in ("registry-1.docker.io", "index.docker.io") else m["host"]
        )
        sep = "@" if m["ref"].startswith("sha256:") else ":"
        return f"{host}/{m['path']}{sep}{m['ref']}"
    m = _ACCESS_DENIED_FOR.search(message)
    return m["image"] if m else None


# ---- putting it together ---------------------------------------------------------------------


def explain(text: str) -> Explanation:
    text = _clean(text)
    parsed = _structured(text)
    if parsed is None:
        text = normalise(text)
    records, pods = parsed if parsed is not None else _records(text)
    return _explain(text, records, pods)


def explain_objects(objects: Iterable[dict]) -> Explanation:
    """The explanation of Pod and Event objects as the kube API returns them."""
    parsed = _from_objects(objects)
    records, pods = parsed if parsed is not None else ([], [])
    return _explain("", records, pods)


def _explain(text: str, records: list[Record], pods: list[Pod]) -> Explanation:
    failures: dict[tuple[str, str | None], Failure] = {}
    pulling: dict[tuple[str, str], Pod] = {}
    pulled: set[tuple[str, str]] = set()
    crashes: dict[tuple[str, str | None], Pod] = {}
    orphans: dict[str, list[str]] = {}  # pod -> runtime errors printed without "Failed to pull"
    matched_any = False

    def failure(pod: Pod, image: str | None, record: Record | None = None) -> Failure:
        item = failures.get((pod.key, image))
        if item is None:
            item = failures[(pod.key, image)] = Failure(image, pod)
        if record is not None and record.container and not item.container:
            item.container, item.container_kind = record.container, record.container_kind
        return item

    for rec in records:
        found = _pull_message(rec)
        if found is not None:
            image, status, message = found
            f = failure(rec.pod, image, rec)
            f.add_status(status)
            f.add_message(message)
            matched_any = True
        else:
            loose = _RUNTIME_WORDS.search(rec.text)
            if loose and not _BACKOFF_PULL.search(rec.text):
                orphans.setdefault(rec.pod.key, []).append(_trim(rec.text[loose.start() :]))
        for m in _BACKOFF_PULL.finditer(rec.text):
            f = failure(rec.pod, m["image"], rec)
            f.add_status("ImagePullBackOff")
            if m["message"]:
                f.add_message(_trim(m["message"]))
            matched_any = True
        m = _WAITING_PULL.search(rec.text)
        if m:
            pod = rec.pod
            if m["pod"] and not pod.name:
                pod.name = m["pod"]
            f = failure(pod, m["image"], rec)
            f.container = f.container or m["container"]
            f.add_status(m["status"] or "ErrImagePull")
            matched_any = True
        m = _INSPECT_FAILED.search(rec.text)
        if m:
            f = failure(rec.pod, m["image"], rec)
            f.add_status("ImageInspectError")
            f.add_message(_trim(m["message"]))
            matched_any = True
        for m in _NEVER_PULL.finditer(rec.text):
            f = failure(rec.pod, m["image"], rec)
            f.add_status("ErrImageNeverPull")
            f.cause = CATALOG["never-pull"]
            f.add_message(m[0])
            matched_any = True
        m = _DEFAULT_TAG.search(rec.text)
        if m:
            f = failure(rec.pod, m["image"], rec)
            f.add_status("InvalidImageName")
            f.cause = CATALOG["invalid-reference"]
            f.add_message(_trim(m["message"]))
            matched_any = True
        for m in _ERROR_STATUS.finditer(rec.text):
            rec.pod.statuses.add(m["status"])
        for m in _PULLING.finditer(rec.text):
            pulling[(rec.pod.key, m["image"])] = rec.pod
        for m in _PULLED.finditer(rec.text):
            pulled.add((rec.pod.key, m["image"] or m["present"]))
        m = _CRASH.search(rec.text)
        if m:
            crashes[(rec.pod.key, m["container"] or rec.container)] = rec.pod
        m = _SCHEDULING.search(rec.text)
        if m:
            rec.pod.unscheduled = _trim(m["message"])
        m = _SECRET_MISSING.search(rec.text)
        if m:
            for name in re.split(r"[,\s]+", m["secrets"]):
                if name and name not in rec.pod.missing_secrets:
                    rec.pod.missing_secrets.append(name)

    for pod in pods:
        for c in pod.containers.values():
            reason = (c.reason or "").removeprefix("Init:")
            if reason in PULL_REASONS:
                f = failure(pod, c.image)
                status = f"Init:{reason}" if c.kind == "initContainers" else reason
                f.add_status(status)
                backoff = _BACKOFF_PULL.match(c.message or "")
                if backoff is not None:  # newer kubelets append the last pull error
                    if backoff["message"]:
                        f.add_message(backoff["message"])
                elif c.message:
                    f.add_message(c.message)
                matched_any = True
            elif reason == "CrashLoopBackOff":
                crashes[(pod.key, c.name)] = pod
        pull_status = sorted(s for s in pod.statuses if s.removeprefix("Init:") in PULL_REASONS)
        if pull_status and not any(k[0] == pod.key for k in failures):
            for status in pull_status:
                failure(pod, None).add_status(status)
            matched_any = True
        for status in pod.statuses:
            if status == "CrashLoopBackOff" and not any(k[0] == pod.key for k in crashes):
                crashes[(pod.key, None)] = pod

    structured_input = any(p.name or p.containers or p.statuses for p in pods)
    not_pulls = _not_a_pull(text)
    # A missing pull secret often comes with the refused pull itself: it does not silence it.
    silencing = [o for o in not_pulls if o.state != "pull-secret-warning"]
    quiet = not (pulling or pulled or crashes or structured_input or silencing)
    # A bare runtime message is a short paste: only its head is read (bounded work on any input).
    head = _SECRET_WARNING.sub(" ", text[:MAX_MESSAGE_CHARS])  # a warning, not the pull's words
    if not matched_any and quiet and _PULL_CONTEXT.search(head):
        spaced = " ".join(head.split())
        tight = _tight(head)
        cause, _ = classify(spaced)
        message = spaced
        if cause is None:
            cause, _ = classify(tight)
            message = tight
        if cause is not None:
            pod = pods[0] if pods else Pod()
            f = failure(pod, image_in(message))
            f.add_message(_trim(message))

    for f in failures.values():
        if not f.messages:  # a Failed event that printed the runtime's words without the prefix
            for message in orphans.get(f.pod.key, ()):
                f.add_message(message)
        _attach_container(f)
        if f.container_kind == "initContainers":
            f.statuses = list(dict.fromkeys(f"Init:{s.removeprefix('Init:')}" for s in f.statuses))
        if f.cause is None and f.messages:
            causes = [classify(m) for m in f.messages]
            known = [c for c in causes if c[0] is not None]
            if known:
                f.cause = known[-1][0]
                others = {c[0].id for c in known[:-1]} | {x for c in known for x in c[1]}
                f.also = tuple(sorted(others - {f.cause.id}))
        missing = CATALOG.get("pull-secret-missing")
        refused = f.cause is None or f.cause.id == "unauthorized"
        if missing is not None and f.pod.missing_secrets and refused and f.messages:
            # The kubelet said the pod's pull secret does not exist: that is why it was refused.
            f.also = tuple(sorted({*f.also, *([f.cause.id] if f.cause else [])}))
            f.cause = missing
        if f.cause is None:
            bare = {s.removeprefix("Init:") for s in f.statuses}
            if "ErrImageNeverPull" in bare:
                f.cause = CATALOG["never-pull"]
            elif "InvalidImageName" in bare:
                f.cause = CATALOG["invalid-reference"]

    observations = _observations(pods, failures, pulling, pulled, crashes)
    if not failures:
        observations.extend(not_pulls)
    return Explanation(list(failures.values()), observations)


def _not_a_pull(text: str) -> list[Observation]:
    """What a text without a pull failure shows instead: states that look like one but are not."""
    found = []
    for state, pattern, summary, next_step in _NOT_PULLS:
        if pattern.search(text):
            found.append(Observation(state, state, summary, next_step))
    return found


def _attach_container(f: Failure) -> None:
    if f.container or not f.pod.containers:
        return
    for c in f.pod.containers.values():
        if f.image is not None and c.image == f.image:
            f.container, f.container_kind = c.name, c.kind
            return
    if f.image is None:
        waiting = [
            c
            for c in f.pod.containers.values()
            if (c.reason or "").removeprefix("Init:") in PULL_REASONS
        ]
        if len(waiting) == 1:
            f.container, f.container_kind, f.image = (
                waiting[0].name,
                waiting[0].kind,
                waiting[0].image,
            )


def _pod_label(pod: Pod) -> str:
    if not pod.name:
        return "the pod"
    return f"pod {pod.namespace + '/' if pod.namespace else ''}{pod.name}"


def _ns(pod: Pod) -> str:
    return f" -n {pod.namespace}" if pod.namespace else ""


def _observations(
    pods: Iterable[Pod],
    failures: Mapping[tuple[str, str | None], Failure],
    pulling: Mapping[tuple[str, str], Pod],
    pulled: set[tuple[str, str]],
    crashes: Mapping[tuple[str, str | None], Pod],
) -> list[Observation]:
    found: list[Observation] = []
    failed_images = {(k[0], k[1]) for k in failures}
    for (_, container), pod in crashes.items():
        who = f"container {container} in {_pod_label(pod)}" if container else _pod_label(pod)
        logs = f"kubectl logs {pod.name or '<pod>'}{_ns(pod)}"
        logs += f" -c {container}" if container else ""
        found.append(
            Observation(
                "crashloop",
                who,
                f"CrashLoopBackOff: the image was pulled and the container started, then exited"
                f" ({who}). This is not an image pull problem.",
                f"{logs} --previous",
            )
        )
    for pod in pods:
        events = f"kubectl get events{_ns(pod)} --field-selector involvedObject.name={pod.name}"
        if pod.unscheduled:
            found.append(
                Observation(
                    "unscheduled",
                    _pod_label(pod),
                    f"Pending, not scheduled: no node was chosen, so no pull was attempted"
                    f" ({pod.unscheduled}).",
                    f"kubectl describe pod {pod.name or '<pod>'}{_ns(pod)}",
                )
            )
        elif (
            pod.phase == "Pending"
            and not any(k[0] == pod.key for k in failed_images)
            and not any(k[0] == pod.key for k in pulling)
        ):
            found.append(
                Observation(
                    "pending",
                    _pod_label(pod),
                    "Pending: the text shows no image pull failure; the pod waits for scheduling,"
                    " volumes or its turn to pull.",
                    events if pod.name else "kubectl get events --sort-by=.lastTimestamp",
                )
            )
        creating = [c for c in pod.containers.values() if c.reason == "ContainerCreating"]
        if "ContainerCreating" in pod.statuses or creating:
            found.append(
                Observation(
                    "creating",
                    _pod_label(pod),
                    "ContainerCreating: the image is being pulled or volumes mounted; no pull"
                    " failure yet.",
                    f"{events} -w" if pod.name else "kubectl get events -w",
                )
            )
    for (key, image), pod in pulling.items():
        if (key, image) in failed_images or (key, image) in pulled:
            continue
        found.append(
            Observation(
                "pulling",
                image,
                f'Pulling image "{image}" with no failure yet: a slow pull (a large image or a'
                " slow registry). Wait; it is not an error until a Failed event appears.",
                f"{events} -w" if pod.name else "kubectl get events -w",
            )
        )
    for key, image in sorted(pulled):
        if (key, image) not in failed_images:
            found.append(Observation("pulled", image, f'Image "{image}" was pulled.'))
    return found


# ---- what to tell the user -------------------------------------------------------------------


def fix_context(f: Failure) -> tuple[str, dict[str, object]]:
    """The registry flavor and the placeholders the catalog's commands use."""
    pod = f.pod
    message = f.message or ""
    values: dict[str, object] = {
        "image": f.image,
        "namespace": pod.namespace or "default",
        "pod": pod.name,
        "container": f.container,
        "node": pod.node,
        "service_account": pod.service_account or ("default" if pod.name else None),
        "detail": message,
        "who": UNAUTHORIZED_WHO,
        "nearby_tags": "(not looked up here; the confirm command lists them)",
    }
    if pod.missing_secrets:
        names = ", ".join(pod.missing_secrets)
        values.update(
            {
                "secret": names,
                "origin": "pod (or its ServiceAccount)",
                "elsewhere": f" (look for it elsewhere: kubectl get secrets -A"
                f" --field-selector metadata.name={pod.missing_secrets[0]})",
                "public": " Without it the kubelet pulled with no credentials, and the registry"
                " refused that.",
            }
        )
    platform = _platform_in(message)
    if platform:
        values["missing_platforms"] = values["wanted_platforms"] = platform
    host = re.search(r"lookup ([A-Za-z0-9.-]+)", message)
    if host:
        values["registry_host"] = values["registry_hostname"] = host[1]
    flavor = "default"
    if f.image:
        from gate import reference
        from gate.registry.hosts import acr_name, api_host, split_host_port
        from gate.registry.hosts import flavor as registry_flavor

        try:
            ref = reference.parse_reference(f.image)
        except reference.ReferenceError:
            return flavor, values

        api = api_host(ref.domain)
        hostname, port = split_host_port(api)
        acr = acr_name(ref.domain)
        path = ref.path.removeprefix("library/") if ref.domain == "docker.io" else ref.path
        values.update(
            {
                "resolved": str(ref),
                "registry": ref.domain,
                "registry_host": api,
                "registry_hostname": hostname,
                "registry_host_port": api if port else f"{api}:443",
                "repository": ref.path,
                "reference": ref.digest or ref.tag,
                "tag": ref.tag,
                "repo_tag": f"{path}:{ref.tag or 'latest'}",
                "acr": acr,
                "secret_name": f"{acr or ref.domain.split('.')[0].split(':')[0]}-pull",
            }
        )
        flavor = registry_flavor(ref.domain)
    return flavor, values


_NO_MATCHING_MANIFEST = re.compile(
    r"no matching manifest for (\S+?/\S+?)(?: [\d.]+)? in the manifest"
)
_NO_BUILD_FOR = re.compile(
    r'for architecture "?(?P<arch>\w+)"?, variant "?(?P<variant>[\w]*)"?, OS "?(?P<os>\w+)'
)


def _platform_in(message: str) -> str | None:
    """The node platform a runtime found no build for, when its message names one."""
    m = _NO_MATCHING_MANIFEST.search(message)
    if m:
        return m[1]
    m = _NO_BUILD_FOR.search(message)
    if m:
        variant = f"/{m['variant']}" if m["variant"] else ""
        return f"{m['os']}/{m['arch']}{variant}"
    return None


def describe_failure(f: Failure) -> dict[str, object]:
    flavor, context = fix_context(f)
    row = f.cause
    entry: dict[str, object] = {
        "image": f.image,
        "pod": f.pod.name,
        "namespace": f.pod.namespace,
        "node": f.pod.node,
        "container": f.container,
        "container_type": f.container_kind,
        "statuses": list(f.statuses),
        "message": f.message,
        "cause": row.id if row else None,
        "also": list(f.also),
    }
    if row is None:
        pod = f.pod.name or "<pod>"
        ns = f" -n {f.pod.namespace}" if f.pod.namespace else ""
        entry.update(
            {
                "title": "Pull failed; the text does not say why",
                "severity": "error",
                "meaning": "The status shows a failed pull, but the runtime's message (the"
                " Failed event) is not in the text.",
                "explanation": "Events expire after an hour; a pod that has been backing off"
                " longer no longer shows the message.",
                "confirm": f"kubectl describe pod {pod}{ns} | pullgate explain -",
                "fix": f"If the events are gone: kubectl delete pod {pod}{ns} (its controller"
                " recreates it and the kubelet pulls again), then explain the new events.",
            }
        )
        return entry
    entry.update(
        {
            "title": row.title,
            "severity": row.severity.value,
            "meaning": row.meaning,
            "explanation": fill(row.explanation_template(flavor), context),
            "confirm": row.render_confirm(flavor, context),
            "fix": row.render_fix(flavor, context),
        }
    )
    return entry


def to_json(result: Explanation) -> str:
    from gate import __version__

    document = {
        "pullgate": __version__,
        "pull_failures": len(result.failures),
        "failures": [describe_failure(f) for f in result.failures],
        "observations": [
            {"state": o.state, "subject": o.subject, "summary": o.summary, "next": o.next or None}
            for o in result.observations
        ],
    }
    return encode_json(json.dumps(document, indent=2)) + "\n"


def _where(f: Failure) -> str:
    parts = []
    if f.container:
        parts.append(f"{_CONTAINER_WORD.get(f.container_kind or '', 'container')} {f.container}")
    if f.pod.name:
        parts.append(f"in {_pod_label(f.pod)}")
    if f.pod.node:
        parts.append(f"on node {f.pod.node}")
    return " ".join(parts)


def to_text(result: Explanation) -> str:
    lines: list[str] = []
    n = len(result.failures)
    if n:
        lines.append(f"pullgate explain: {n} image pull failure{'s' if n != 1 else ''}")
    else:
        lines.append("pullgate explain: no image pull failure in this text.")
    for f in result.failures:
        d = describe_failure(f)
        lines.append("")
        cause = d["cause"] or "(cause not in the text)"
        head = f"{str(d['severity']).upper()} {cause}: {d['title']}"
        lines.append(head)
        fields: list[tuple[str, object]] = [
            ("Image", f.image or "(not named in the text)"),
            ("Where", _where(f)),
            ("Status", ", ".join(f.statuses)),
            ("Runtime", f.message),
            ("Means", d["meaning"]),
            ("Cause", d["explanation"]),
            ("Also seen", ", ".join(f.also)),
            ("Confirm", d["confirm"]),
            ("Fix", d["fix"]),
        ]
        lines.extend(f"  {label + ':':<10} {value}" for label, value in fields if value)
    if result.observations:
        lines.append("")
        if n:
            lines.append("Also in the text:")
        for o in result.observations:
            lines.append(f"  - {o.summary}")
            if o.next:
                lines.append(f"    Next: {o.next}")
    elif not n:
        lines.append(
            "  No Failed-to-pull event, pull status or runtime pull error was found. Paste the"
            " output of `kubectl describe pod NAME -n NAMESPACE` (it ends with the Events)."
        )
    return clean_lines("\n".join(lines)) + "\n"
