"""The cause catalog: one row per cause id, the single source of truth.

The checks pick a cause id, the reports print its row, `explain` matches the Events signatures
against kubelet messages. Cause ids are a stable contract (JSON, SARIF rule ids, config ignores).

Fix templates use `{placeholders}` filled from a finding's context; a placeholder with no value is
printed as `<placeholder>` so the command still reads as a template rather than silently wrong.
Each cause may have fixes per registry flavor ("acr", "dockerhub", ...) with "default" as fallback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Cause:
    id: str
    severity: Severity
    title: str
    status: str  # the pod status the kubelet shows
    signature: str  # the Events line the kubelet would show, with {image} and {detail}
    meaning: str
    cause: str
    fixes: Mapping[str, str] = field(default_factory=dict)  # flavor -> fix template
    patterns: tuple[str, ...] = ()  # regexes that recognise this cause in kubelet/runtime text

    def fix_template(self, flavor: str) -> str:
        return self.fixes.get(flavor) or self.fixes.get("default", "")

    def render_fix(self, flavor: str, context: Mapping[str, object]) -> str:
        return fill(self.fix_template(flavor), context)

    def render_signature(self, context: Mapping[str, object]) -> str:
        return fill(self.signature, context)


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def fill(template: str, context: Mapping[str, object]) -> str:
    values = _Placeholders({k: v for k, v in context.items() if v not in (None, "")})
    return template.format_map(values)


_PULL = 'Failed to pull image "{image}": '

CATALOG: dict[str, Cause] = {
    c.id: c
    for c in (
        Cause(
            id="invalid-reference",
            severity=Severity.ERROR,
            title="Image reference does not parse",
            status="InvalidImageName",
            signature='Failed to apply default image tag "{image}": couldn\'t parse image name'
            ' "{image}": {detail}',
            meaning="The reference is not valid distribution/reference syntax; the kubelet never"
            " tries to pull it.",
            cause="Bad characters, uppercase in the repository, a stray separator, an unrendered"
            " template value, or a value that is not a string.",
            fixes={"default": "Fix the reference in {file}:{line} (e.g. registry/repository:tag)."},
            patterns=(
                r"InvalidImageName",
                r"couldn't parse image (?:name|reference)",
                r"invalid reference format",
            ),
        ),
        Cause(
            id="tag-not-found",
            severity=Severity.ERROR,
            title="Tag, digest or repository not found",
            status="ErrImagePull",
            signature=_PULL + "rpc error: code = NotFound desc = failed to pull and unpack image"
            ' "{resolved}": failed to resolve reference "{resolved}": {detail}',
            meaning="The registry answered but holds no image at that name and tag or digest.",
            cause="A typo, a tag that was never pushed, or a tag that was overwritten or deleted.",
            fixes={
                "acr": "Existing tags: {nearby_tags}. List them: az acr repository show-tags"
                " --name {acr} --repository {repository} --orderby time_desc -o table;"
                " push the tag, or correct {file}:{line}.",
                "default": "Existing tags: {nearby_tags}. Push {resolved}, or correct the"
                " reference in {file}:{line}; pin a digest once it exists"
                " (skopeo inspect docker://{resolved} --format '{{{{.Digest}}}}').",
            },
            patterns=(
                r"manifest unknown",
                r"\bnot found\b",
                r"NotFound",
                r"MANIFEST_UNKNOWN",
                r"NAME_UNKNOWN",
                r"repository does not exist",
                r"manifest for .* not found",
                r"name unknown",
            ),
        ),
        Cause(
            id="platform-mismatch",
            severity=Severity.ERROR,
            title="No build for the node platform",
            status="ErrImagePull",
            signature=_PULL + "rpc error: code = NotFound desc = failed to pull and unpack image"
            ' "{resolved}": no match for platform in manifest: not found'
            " (no matching manifest for {missing_platforms} in the manifest list entries)",
            meaning="The image exists but has no build for a platform of the nodes the pod can"
            " land on.",
            cause="Image built for {available_platforms} only; nodes are {missing_platforms}.",
            fixes={
                "default": "Build and push a multi-arch image: docker buildx build --platform"
                " {wanted_platforms} -t {resolved} --push .; or keep the pod on matching nodes"
                " with nodeSelector kubernetes.io/arch: {available_arch}.",
            },
            patterns=(
                r"no match for platform",
                r"no matching manifest for",
                r"image operating system .* cannot be used on this platform",
                r"exec format error",
            ),
        ),
        Cause(
            id="unauthorized",
            severity=Severity.ERROR,
            title="Registry refused the credentials",
            status="ErrImagePull",
            signature=_PULL + "failed to authorize: failed to fetch {token_kind} token: unexpected"
            " status from GET request to {realm}: 401 Unauthorized",
            meaning="The registry refused the credentials presented, or none were presented.",
            cause="{who}",
            fixes={
                "acr": "Attach the registry to the cluster: az aks update -g {resource_group} -n"
                " {cluster} --attach-acr {acr}; or create a pull secret in the pod's namespace:"
                " kubectl create secret docker-registry {secret_name} -n {namespace}"
                " --docker-server={registry} --docker-username=<user> --docker-password=<token>"
                " and reference it in imagePullSecrets (pod or ServiceAccount {service_account}).",
                "default": "Create a pull secret in the pod's namespace: kubectl create secret"
                " docker-registry {secret_name} -n {namespace} --docker-server={registry}"
                " --docker-username=<user> --docker-password=<token>; then reference it:"
                " kubectl patch serviceaccount {service_account} -n {namespace} -p"
                ' \'{{"imagePullSecrets":[{{"name":"{secret_name}"}}]}}\'.'
                " To let pullgate read it too: docker login {registry}.",
            },
            patterns=(
                r"401 Unauthorized",
                r"\bunauthorized\b",
                r"failed to authorize",
                r"failed to fetch (?:anonymous|oauth) token",
                r"authentication required",
                r"403 Forbidden",
                r"denied: requested access",
                r"access denied",
                r"UNAUTHORIZED",
                r"insufficient_scope",
                r"pull access denied",
            ),
        ),
        Cause(
            id="rate-limited",
            severity=Severity.ERROR,
            title="Registry is rate limiting",
            status="ErrImagePull",
            signature=_PULL + "429 Too Many Requests - Server message: toomanyrequests: {detail}",
            meaning="The registry throttled the pull.",
            cause="Docker Hub's anonymous limit (100 pulls / 6 h) is shared by every node behind"
            " one egress IP; other registries throttle bursts.",
            fixes={
                "dockerhub": "Import the image into your own registry and pull it from there:"
                " az acr import --name <your-acr> --source {resolved} --image {repo_tag};"
                " or authenticate the pull with a Docker Hub pull secret.",
                "default": "Retry after {retry_after}s; smooth bursts of pulls, or authenticate"
                " the pull.",
            },
            patterns=(
                r"toomanyrequests",
                r"429 Too Many Requests",
                r"rate limit",
                r"TOOMANYREQUESTS",
            ),
        ),
        Cause(
            id="dns",
            severity=Severity.ERROR,
            title="Registry name does not resolve",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": dial tcp: lookup {registry_host}: no such host',
            meaning="The registry's host name does not resolve.",
            cause="A typo in the host, or a private endpoint without a linked private DNS zone.",
            fixes={
                "acr": "Check the name: nslookup {registry_host}. For a private endpoint link the"
                " privatelink.azurecr.io zone to the cluster VNet.",
                "default": "Check the host name in {file}:{line}: nslookup {registry_host}.",
            },
            patterns=(
                r"no such host",
                r"server misbehaving",
                r"Name or service not known",
                r"Temporary failure in name resolution",
                r"lookup .* on .*:53",
            ),
        ),
        Cause(
            id="unreachable",
            severity=Severity.ERROR,
            title="Registry does not answer",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": dial tcp {registry_host}: {detail}',
            meaning="The name resolves but the connection fails: refused, reset or timed out.",
            cause="A firewall, NSG or egress rule blocks the path, or the registry is down.",
            fixes={
                "acr": "Allow egress to {registry_host}:443 and the data endpoints"
                " ({acr}.<region>.data.azurecr.io or *.blob.core.windows.net): curl -v"
                " https://{registry_host}/v2/",
                "default": "Allow egress to {registry_host}; test from a node: curl -v"
                " https://{registry_host}/v2/",
            },
            patterns=(
                r"i/o timeout",
                r"connection refused",
                r"connection reset",
                r"context deadline exceeded",
                r"network is unreachable",
                r"\bEOF\b",
            ),
        ),
        Cause(
            id="tls",
            severity=Severity.ERROR,
            title="Registry certificate not trusted",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": tls: failed to verify certificate: x509: {detail}',
            meaning="The TLS handshake failed: the certificate is not trusted for this host.",
            cause="A self-hosted or proxied registry whose CA the node (and pullgate) does not"
            " trust, or a certificate for another name.",
            fixes={
                "default": "Make the nodes trust the registry's CA (containerd:"
                " /etc/containerd/certs.d/{registry_host}/ca.crt); run pullgate with --ca-file"
                " <ca.pem>. Fetch the chain: openssl s_client -showcerts -connect"
                " {registry_host_port}.",
            },
            patterns=(
                r"x509",
                r"certificate signed by unknown authority",
                r"CERTIFICATE_VERIFY_FAILED",
                r"tls: ",
            ),
        ),
        Cause(
            id="registry-error",
            severity=Severity.ERROR,
            title="Registry failed",
            status="ErrImagePull",
            signature=_PULL + "unexpected status code {detail}",
            meaning="The registry answered with a server error, or with something that is not a"
            " manifest.",
            cause="A registry outage, a proxy in the path, or throttling bursts.",
            fixes={
                "default": "Check the registry's health (curl -sI https://{registry_host}/v2/) and"
                " retry; smooth bursts of pulls.",
            },
            patterns=(
                r"500 Internal Server Error",
                r"503 Service Unavailable",
                r"502 Bad Gateway",
                r"unexpected status code 5\d\d",
                r"received unexpected HTTP status: 5\d\d",
            ),
        ),
        Cause(
            id="mutable-tag",
            severity=Severity.WARNING,
            title="Mutable tag",
            status="",
            signature='Pulling image "{image}" (imagePullPolicy {pull_policy})',
            meaning="`:latest` or no tag: the node pulls whatever the tag points to at that"
            " moment.",
            cause="The reference is not pinned, so nodes may run different builds.",
            fixes={"default": "Pin the digest: {pinned}"},
        ),
        Cause(
            id="never-pull",
            severity=Severity.WARNING,
            title="imagePullPolicy: Never",
            status="ErrImageNeverPull",
            signature='Container image "{image}" is not present with pull policy of Never',
            meaning="The kubelet will not pull; the pod starts only on nodes that already hold"
            " the image.",
            cause="imagePullPolicy: Never on a cluster whose nodes were not pre-loaded.",
            fixes={
                "default": "Pre-load the image on every node, or set imagePullPolicy:"
                " IfNotPresent in {file}:{line}."
            },
            patterns=(r"ErrImageNeverPull", r"is not present with pull policy of Never"),
        ),
        Cause(
            id="rate-limit-risk",
            severity=Severity.WARNING,
            title="Anonymous Docker Hub pull",
            status="",
            signature='Pulling image "{image}" anonymously from Docker Hub{remaining}',
            meaning="Docker Hub allows 100 anonymous pulls per 6 hours per egress IP; nodes behind"
            " one NAT share it.",
            cause="No pull secret for docker.io on the pod; a scale-out or node refresh can hit"
            " toomanyrequests.",
            fixes={
                "default": "az acr import --name <your-acr> --source {resolved} --image"
                " {repo_tag}; then use <your-acr>.azurecr.io/{repo_tag}."
            },
        ),
    )
}


def cause(cause_id: str) -> Cause:
    return CATALOG[cause_id]


def match_text(text: str) -> Cause | None:
    """The first error cause whose Events patterns occur in `text` (most specific first)."""
    for cause_id in _MATCH_ORDER:
        c = CATALOG[cause_id]
        if any(re.search(p, text, re.IGNORECASE) for p in c.patterns):
            return c
    return None


# Specific signatures before generic ones: "no match for platform ... not found" is a platform
# problem, "401 ... not found" in a token URL is an auth problem.
_MATCH_ORDER = (
    "never-pull",
    "invalid-reference",
    "platform-mismatch",
    "rate-limited",
    "tls",
    "dns",
    "unauthorized",
    "tag-not-found",
    "registry-error",
    "unreachable",
)
