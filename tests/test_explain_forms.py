"""`pullgate explain` reads every output form and every runtime's wording of a pull failure.

The runtime messages below are built from the runtimes' own format strings (containerd
core/remotes and core/unpack, containers/image docker and copy, moby distribution, the kubelet's
image manager), not from single pastes: each names one cause in the wording that runtime uses.
"""

import json

import pytest

from gate.explain import explain, normalise

IMG = "registry.example.com/team/app:1.4.2"
REF = f'"{IMG}"'
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
URL = "https://registry.example.com/v2/team/app/manifests/1.4.2"
BLOB = f"https://registry.example.com/v2/team/app/blobs/{DIGEST}"
CTRD = f"failed to pull and unpack image {REF}: failed to resolve reference {REF}: "

RUNTIME_WORDINGS = [
    # containerd
    (CTRD + f"unexpected status from HEAD request to {URL}: 403 Forbidden", "unauthorized"),
    (CTRD + f"unexpected status from GET request to {URL}: 502 Bad Gateway", "registry-error"),
    (CTRD + f"unexpected status from HEAD request to {URL}: 404 Not Found", "tag-not-found"),
    (CTRD + f"{IMG}: not found", "tag-not-found"),
    (
        CTRD + "pull access denied, repository does not exist or may require authorization:"
        " server message: insufficient_scope: authorization failed",
        "unauthorized",
    ),
    (
        CTRD + "failed to authorize: failed to fetch oauth token: unexpected status from POST"
        " request to https://auth.example.com/token: 401 Unauthorized",
        "unauthorized",
    ),
    (
        CTRD + f'failed to do request: Head "{URL}": http: server gave HTTP response to HTTPS'
        " client",
        "plain-http",
    ),
    (
        CTRD + f'failed to do request: Head "{URL}": tls: failed to verify certificate: x509:'
        " certificate signed by unknown authority",
        "tls",
    ),
    (
        CTRD + f'failed to do request: Head "{URL}": dial tcp: lookup registry.example.com on'
        " 10.96.0.10:53: no such host",
        "dns",
    ),
    (
        CTRD + f'failed to do request: Head "{URL}": dial tcp 10.1.2.3:443: connect: connection'
        " refused",
        "unreachable",
    ),
    (
        f"failed to pull and unpack image {REF}: failed to copy: httpReadSeeker: failed open:"
        f" unexpected status code {BLOB}: 429 Too Many Requests - Server message: toomanyrequests:"
        " You have reached your pull rate limit",
        "rate-limited",
    ),
    (
        f'failed to pull and unpack image {REF}: failed commit on ref "layer-{DIGEST}":'
        f" unexpected commit digest {OTHER}, expected {DIGEST}: failed precondition",
        "corrupt-layer",
    ),
    (
        f'failed to pull and unpack image {REF}: failed commit on ref "layer-{DIGEST}": commit'
        " failed: unexpected commit size 1200, expected 2400: failed precondition",
        "corrupt-layer",
    ),
    (
        f"failed to pull and unpack image {REF}: failed to copy: short read: expected 1048576"
        " bytes but got 65536: unexpected EOF",
        "corrupt-layer",
    ),
    (
        f"failed to pull and unpack image {REF}: failed to extract layer {DIGEST}: write"
        " /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs/usr/lib/x:"
        " no space left on device: unknown",
        "disk",
    ),
    (
        f"failed to pull and unpack image {REF}: no match for platform in manifest: not found",
        "platform-mismatch",
    ),
    (
        f"failed to pull and unpack image {REF}: failed to copy: httpReadSeeker: failed open:"
        f' failed to do request: Get "{BLOB}": context deadline exceeded',
        "pull-timeout",
    ),
    (
        f"rpc error: code = Canceled desc = failed to pull and unpack image {REF}: failed to copy:"
        f" read tcp 10.0.0.5:51234->10.1.2.3:443: read: context canceled",
        "pull-timeout",
    ),
    # CRI-O / containers/image
    (
        f"initializing source docker://{IMG}: reading manifest 1.4.2 in"
        " registry.example.com/team/app: manifest unknown",
        "tag-not-found",
    ),
    (
        f"initializing source docker://{IMG}: reading manifest 1.4.2 in"
        " registry.example.com/team/app: unauthorized: authentication required",
        "unauthorized",
    ),
    (
        f"initializing source docker://{IMG}: pinging container registry registry.example.com:"
        ' Get "https://registry.example.com/v2/": dial tcp: lookup registry.example.com: no such'
        " host",
        "dns",
    ),
    (
        f"initializing source docker://{IMG}: pinging container registry registry.example.com:"
        ' Get "https://registry.example.com/v2/": http: server gave HTTP response to HTTPS client',
        "plain-http",
    ),
    (
        "choosing an image from manifest list docker://registry.example.com/team/app:1.4.2: no"
        ' image found in image index for architecture "arm64", variant "v8", OS "linux"',
        "platform-mismatch",
    ),
    (
        'writing blob: storing blob to file "/var/tmp/storage123/1": happened during read:'
        " unexpected EOF",
        "corrupt-layer",
    ),
    (
        f"reading blob {DIGEST}: fetching blob: received unexpected HTTP status: 503 Service"
        " Unavailable",
        "registry-error",
    ),
    (f"Digest did not match, expected {DIGEST}, got {OTHER}", "corrupt-layer"),
    (
        f'writing blob: adding layer with blob "{DIGEST}": processing tar file(write'
        " /usr/lib/libx.so: no space left on device): exit status 1",
        "disk",
    ),
    # moby (dockershim, cri-dockerd)
    (
        "Error response from daemon: manifest for registry.example.com/team/app:1.4.2 not found:"
        " manifest unknown: manifest unknown",
        "tag-not-found",
    ),
    (
        'Error response from daemon: {"message":"Get https://registry.example.com/v2/: x509:'
        ' certificate has expired or is not yet valid"}',
        "tls",
    ),
    (
        "error pulling image configuration: download failed after attempts=6: dial tcp"
        " 10.1.2.3:443: i/o timeout",
        "unreachable",
    ),
    (f"filesystem layer verification failed for digest {DIGEST}", "corrupt-layer"),
    (
        "failed to register layer: Error processing tar file(exit status 1): write"
        " /opt/app/lib.so: no space left on device",
        "disk",
    ),
    (
        "no matching manifest for windows/amd64 10.0.17763 in the manifest list entries",
        "platform-mismatch",
    ),
    (
        'Error response from daemon: image operating system "linux" cannot be used on this'
        " platform",
        "platform-mismatch",
    ),
    (
        f"failed to pull and unpack image {REF}: failed to prepare extraction snapshot"
        f' "extract-1 {DIGEST}": parent snapshot {OTHER} does not exist: not found',
        "corrupt-layer",
    ),
    # registries' own answers passed through (Nexus and nginx error pages)
    (
        f'Error response from daemon: Head "{URL}": error parsing HTTP 401 response body: invalid'
        " character '<' looking for beginning of value: \"<html><head><title>Nexus Repository"
        ' Manager</title>"',
        "unauthorized",
    ),
    (
        f'Error response from daemon: Head "{URL}": error parsing HTTP 502 response body: invalid'
        " character '<' looking for beginning of value: \"<html><body><h1>502 Bad Gateway</h1>\"",
        "registry-error",
    ),
    # kubelet
    (
        f'Cancel pulling image {REF} because of no progress for 1m0s, latest progress: "12ab:'
        ' Downloading 40MB/900MB"',
        "pull-timeout",
    ),
    (f"Container image {REF} is not present with pull policy of Never", "never-pull"),
    (
        'Failed to apply default image tag "Registry.example.com/Team/App:1": couldn\'t parse'
        ' image reference "Registry.example.com/Team/App:1": invalid reference format: repository'
        " name must be lowercase",
        "invalid-reference",
    ),
    # containerd, when the registry or a proxy served a web page for a manifest: the NotFound
    # class containerd appends is its own, the answer was the registry's
    (
        f"failed to unpack image on snapshotter overlayfs: unexpected media type text/html for"
        f" {DIGEST}: not found",
        "registry-error",
    ),
    (
        CTRD.replace("failed to resolve reference", "rpc error: code = NotFound desc = x")
        + f"unexpected media type text/html for {DIGEST}: not found",
        "registry-error",
    ),
    # Nexus, whose proxy repository stopped asking its remote
    (
        "Error response from daemon: unknown: Remote Auto Blocked until 2024-08-13T07:45:05.681Z",
        "registry-error",
    ),
    # containerd, when the partial download it meant to resume is gone from the node's ingest
    (
        "failed reading status of resume write: stat /var/lib/containerd/io.containerd.content.v1"
        ".content/ingest/0/data: no such file or directory: not found",
        "corrupt-layer",
    ),
    # Windows (older builds): an image for another Windows build than the host's
    (
        "Error response from daemon: container 0 encountered an error during CreateContainer:"
        " failure in a Windows system call: The operating system of the container does not match"
        " the operating system of the host. (0xc0370101)",
        "platform-mismatch",
    ),
    # Go's net/http: the registry had begun to answer when the client's deadline ended the body
    (
        f"error pulling image configuration: Get {BLOB}: net/http: request canceled"
        " (Client.Timeout exceeded while reading body)",
        "pull-timeout",
    ),
    # the registry's blob storage (S3) refusing the URL the registry signed: not the puller's
    (
        "error pulling image configuration: download failed after attempts=1: error parsing HTTP"
        " 403 response body: invalid character '<' looking for beginning of value: \"<?xml"
        ' version=\\"1.0\\"?><Error><Code>SignatureDoesNotMatch</Code></Error>"',
        "registry-error",
    ),
    # an HTML error page keeps its status: its closing tags are not paths to scrub away
    (
        "Error response from daemon: <html><head><title>Error 403 (Forbidden)!!1</title></head>"
        "</html>",
        "unauthorized",
    ),
    # the Docker daemon's old wording for a name the registry does not hold
    ("Error: image team/app:1.4.2 not found", "tag-not-found"),
    # podman 1.x (containers/image) refusing the single image it got
    (
        f'Error: error pulling image "{IMG}": unable to pull {IMG}: unable to pull image: Image'
        ' architecture mismatch: image uses "amd64", expecting "arm64"',
        "platform-mismatch",
    ),
]


@pytest.mark.parametrize(("message", "cause"), RUNTIME_WORDINGS)
def test_each_runtime_wording_names_its_cause(message, cause):
    event = f"Failed to pull image {REF}: rpc error: code = Unknown desc = {message}"
    for text in (message, event):
        named = {f.cause.id for f in explain(text).failures if f.cause is not None}
        assert named == {cause}, text


def test_k9s_box_borders_go_and_words_split_by_the_box_are_joined():
    text = (
        "┌──────────────────── Describe(shop/web-1) ────────────────────┐\n"
        '│   Warning  Failed  3s  kubelet  Failed to pull image "regis │\n'
        '│ try.example.com/app:1": failed to do request: dial tcp: look │\n'
        "│ up registry.example.com: no such h                            │\n"
        "│ ost                                                            │\n"
        "└───────────────────────────────────────────────────────────────┘\n"
    )
    [failure] = explain(text).failures
    assert failure.image == "registry.example.com/app:1"
    assert failure.cause.id == "dns"


def test_journal_lines_lose_their_escaped_quotes():
    line = (
        r'E0101 10:00:00.1 1 pod_workers.go:1300] "Error syncing pod, skipping" err="failed to'
        r" \"StartContainer\" for \"app\" with ErrImagePull: \"rpc error: code = Unknown desc ="
        r" failed to pull and unpack image \\\"registry.example.com/app:1\\\": failed to resolve"
        r' reference \\\"registry.example.com/app:1\\\": registry.example.com/app:1: not found\""'
        r' pod="shop/app-1"'
    )
    assert '\\"' not in normalise(line)
    [failure] = explain(line).failures
    assert (failure.image, failure.cause.id) == ("registry.example.com/app:1", "tag-not-found")


# One pull failure each; `image` None where the form's point is the cause alone.
ONE_FAILURE = [
    pytest.param(
        (
            "Failed to pull image “ghcr.io/acme/app:2”: failed to resolve reference"
            " “ghcr.io/acme/app:2”: ghcr.io/acme/app:2: not found"
        ),
        "ghcr.io/acme/app:2",
        "tag-not-found",
        id="curly quotes are folded",
    ),
    pytest.param(
        (
            'Failed to pull image "10.0.0.9:5000/app": Error response from daemon:'
            ' {"message":"Get https://10.0.0.9:5000/v1/_ping: x509: certificate signed by unknown'
            ' authority"}'
        ),
        None,
        "tls",
        id="an x509 line inside a JSON-escaped daemon message is tls",
    ),
    pytest.param(
        (
            "Warning  FailedCreatePodSandBox  3s  kubelet  Failed to create pod sandbox: rpc error:"
            ' code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.9": failed'
            ' to pull image "registry.k8s.io/pause:3.9": failed to pull and unpack image'
            ' "registry.k8s.io/pause:3.9": failed to resolve reference "registry.k8s.io/pause:3.9":'
            ' failed to do request: Head "https://registry.k8s.io/v2/pause/manifests/3.9": dial tcp'
            " 34.96.108.209:443: i/o timeout"
        ),
        "registry.k8s.io/pause:3.9",
        "unreachable",
        id="a sandbox image's pull failure is a pull failure of the pause image",
    ),
    pytest.param(
        (
            'Back-off pulling image "registry.example.com/app:1": ErrImagePull: failed to pull and'
            ' unpack image "registry.example.com/app:1": failed to resolve reference'
            ' "registry.example.com/app:1": registry.example.com/app:1: not found'
        ),
        None,
        "tag-not-found",
        id="the back-off message of newer kubelets carries the cause",
    ),
]


@pytest.mark.parametrize(("text", "image", "cause"), ONE_FAILURE)
def test_each_form_gives_its_one_failure(text, image, cause):
    [failure] = explain(text).failures
    assert failure.cause.id == cause
    if image is not None:
        assert failure.image == image


def test_an_architecture_mismatch_logged_at_info_level_is_not_a_pull_failure():
    log = (
        'time="2020-05-27T02:38:44Z" level=info msg="Image architecture mismatch: image uses'
        ' \\"\\", expecting \\"amd64\\""\nGetting image source signatures\nCopying blob'
        f" {DIGEST}\nWriting manifest to image destination"
    )
    assert explain(log).failures == []


def test_a_dashboards_back_off_line_with_the_pull_error_after_it_gives_the_cause():
    text = (
        f"ImagePullBackOff: Back-off pulling image {REF}\nErrImagePull: rpc error: code = Unknown"
        f" desc = Error response from daemon: manifest for {IMG} not found: manifest unknown"
    )
    assert [f.cause.id for f in explain(text).failures if f.cause] == ["tag-not-found"]


def test_a_message_hard_wrapped_mid_word_is_joined():
    message = (
        'Failed to pull image "registry.example.com/app:1": rpc error: code = Unknown desc = '
        "failed to pull and unpack image: failed to resolve reference: unexpected status from "
        "HEAD request: 401 Unauthorized"
    )
    wrapped = "\n".join(message[i : i + 80] for i in range(0, len(message), 80))
    [failure] = explain(wrapped).failures
    assert failure.cause.id == "unauthorized"


def test_event_objects_as_json_are_read():
    event = {
        "kind": "Event",
        "apiVersion": "v1",
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
        "reason": "Failed",
        "message": 'Failed to pull image "registry.example.com/app:1": failed to pull and unpack'
        ' image "registry.example.com/app:1": failed to extract layer sha256:00: write /x: no'
        " space left on device: unknown",
    }
    [failure] = explain(json.dumps(event)).failures
    assert (failure.pod.name, failure.cause.id) == ("web-1", "disk")


@pytest.mark.parametrize(
    "text",
    [
        'Warning  Failed  5s  kubelet  Error: secret "db-credentials" not found',
        'Warning  Failed  5s  kubelet  Error: configmap "app-config" not found',
        "exec /usr/local/bin/app: exec format error",
        "Warning  FailedToRetrieveImagePullSecret  1m  kubelet  Unable to retrieve some image pull"
        " secrets (regcred); attempting to pull the image may not succeed.",
        "Warning  ImageGCFailed  2m  kubelet  failed to garbage collect required amount of"
        " images. Attempted to free 4096 bytes, but only found 0 bytes eligible to free.",
        'kubelet_pods.go:897] "Unable to retrieve pull secret, the image pull may not succeed."'
        ' pod="kube-system/csi-node-r5qq5" secret="" err="secret \\"app-registry\\" not found"',
    ],
)
def test_messages_that_are_not_pull_failures_are_not_explained_as_one(text):
    assert explain(text).failures == []


def test_a_pull_failure_after_the_kubelets_structured_pull_secret_warning_is_still_explained():
    text = (
        'kubelet_pods.go:897] "Unable to retrieve pull secret, the image pull may not succeed."'
        ' pod="apps/api-7d9f" secret="" err="secret \\"regcred\\" not found"\n'
        'remote_image.go:180] "PullImage from image service failed" err="rpc error: code ='
        ' Unknown desc = failed to pull and unpack image \\"registry.corp.io/team/api:v1\\":'
        ' failed to resolve reference \\"registry.corp.io/team/api:v1\\": unexpected status'
        ' from HEAD request to https://registry.corp.io/v2/team/api/manifests/v1: 401 Unauthorized"'
        ' image="registry.corp.io/team/api:v1"'
    )
    [failure] = explain(text).failures
    assert failure.cause.id == "unauthorized"


def test_a_failed_event_with_the_runtime_words_alone_gives_the_pulls_cause():
    text = (
        "Warning  Failed  kubelet  Error: ErrImagePull\n"
        "Warning  Failed  kubelet  rpc error: code = NotFound desc = manifest unknown: v2.1\n"
    )
    [failure] = explain(text).failures
    assert (failure.statuses, failure.cause.id) == (["ErrImagePull"], "tag-not-found")


def test_an_event_message_continued_on_the_next_line_is_joined():
    text = (
        'Normal Pulling 8m kubelet Pulling image "registry.corp.io/team/api:v1.4.2"\n'
        'Warning Failed 8m kubelet Failed to pull image "registry.corp.io/team/api:v1.4.2":\n'
        "rpc error: code = NotFound desc = manifest unknown\n"
        "Warning Failed 8m kubelet Error: ErrImagePull\n"
    )
    [failure] = explain(text).failures
    assert (failure.image, failure.cause.id) == (
        "registry.corp.io/team/api:v1.4.2",
        "tag-not-found",
    )


def test_a_waiting_message_of_a_newer_kubelet_carries_the_cause():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"containers": [{"name": "web", "image": "registry.example.com/app:1"}]},
        "status": {
            "containerStatuses": [
                {
                    "name": "web",
                    "image": "registry.example.com/app:1",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "registry.example.com/app:1":'
                            " ErrImagePull: failed to pull and unpack image"
                            ' "registry.example.com/app:1": failed to resolve reference'
                            ' "registry.example.com/app:1": unexpected status from HEAD request'
                            " to https://registry.example.com/v2/app/manifests/1: 401"
                            " Unauthorized",
                        }
                    },
                }
            ]
        },
    }
    [failure] = explain(json.dumps(pod)).failures
    assert (failure.container, failure.cause.id) == ("web", "unauthorized")


def test_kubectl_logs_on_a_container_waiting_for_its_image_is_a_pull_failure():
    text = (
        'container "upload" in pod "upload" is waiting to start: trying and failing to pull image'
    )
    [failure] = explain(text).failures
    assert (failure.pod.name, failure.container, failure.cause) == ("upload", "upload", None)
