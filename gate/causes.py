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
    # flavor -> command that shows the cause for yourself (used by `explain`)
    confirm: Mapping[str, str] = field(default_factory=dict)

    def fix_template(self, flavor: str) -> str:
        return self.fixes.get(flavor) or self.fixes.get("default", "")

    def render_confirm(self, flavor: str, context: Mapping[str, object]) -> str:
        return fill(self.confirm.get(flavor) or self.confirm.get("default", ""), context)

    def render_fix(self, flavor: str, context: Mapping[str, object]) -> str:
        return fill(self.fix_template(flavor), context)

    def render_signature(self, context: Mapping[str, object]) -> str:
        return fill(self.signature, context)


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def fill(template: str, context: Mapping[str, object]) -> str:
    values = _Placeholders({k: v for k, v in context.items() if v is not None})
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
                r"repository name must be lowercase",
            ),
            confirm={
                "default": "kubectl get pod {pod} -n {namespace} -o yaml | pullgate check"
                " --offline -",
            },
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
            confirm={
                "acr": "az acr repository show-tags --name {acr} --repository {repository}"
                " --orderby time_desc -o table",
                "default": "docker manifest inspect {resolved}",
            },
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
                r"no image found in (?:manifest list|image index) for architecture",
                r"does not match the specified platform",
            ),
            confirm={
                "default": "docker buildx imagetools inspect {resolved}; kubectl get nodes -L"
                " kubernetes.io/os,kubernetes.io/arch",
            },
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
                r"no basic auth credentials",
                r"not authorized",
                r"denied: denied",
                r"permission_denied",
                r"authorization token has expired",
            ),
            confirm={
                "acr": "az aks check-acr -g {resource_group} -n {cluster} --acr {registry}",
                "default": "kubectl get pod {pod} -n {namespace} -o"
                " jsonpath='{{.spec.imagePullSecrets}}'; kubectl get serviceaccount"
                " {service_account} -n {namespace} -o jsonpath='{{.imagePullSecrets}}'",
            },
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
                "default": "Wait out the window (Retry-After: {retry_after}); smooth bursts of"
                " pulls, or authenticate the pull.",
            },
            patterns=(
                r"toomanyrequests",
                r"429 Too Many Requests",
                r"rate limit",
                r"TOOMANYREQUESTS",
                r"rate exceeded",
            ),
            confirm={
                "dockerhub": "From a node (same egress IP): TOKEN=$(curl -s"
                ' "https://auth.docker.io/token?service=registry.docker.io&scope=repository:'
                'ratelimitpreview/test:pull" | jq -r .token); curl -sI -H "Authorization: Bearer'
                ' $TOKEN" https://registry-1.docker.io/v2/ratelimitpreview/test/manifests/latest'
                " | grep -i ratelimit",
                "default": "curl -sI https://{registry_host}/v2/ | grep -i -e retry-after"
                " -e ratelimit",
            },
        ),
        Cause(
            id="dns",
            severity=Severity.ERROR,
            title="Registry name does not resolve",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": dial tcp: lookup {registry_hostname}: no such host',
            meaning="The registry's host name does not resolve.",
            cause="A typo in the host, or a private endpoint without a linked private DNS zone.",
            fixes={
                "acr": "Check the name: nslookup {registry_hostname}. For a private endpoint"
                " link the privatelink.azurecr.io zone to the cluster VNet.",
                "default": "Check the host name in {file}:{line}: nslookup {registry_hostname}.",
            },
            patterns=(
                r"no such host",
                r"server misbehaving",
                r"Name or service not known",
                r"Temporary failure in name resolution",
                r"lookup .* on .*:53",
                r"dial tcp: lookup \S+",
            ),
            confirm={
                "acr": "kubectl debug node/{node} -it --image=busybox:1.36 -- nslookup"
                " {registry_hostname}; az network private-dns link vnet list -g <dns-zone-rg>"
                " -z privatelink.azurecr.io -o table",
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- nslookup"
                " {registry_hostname}",
            },
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
                r"no route to host",
                r"TLS handshake timeout",
                r"proxyconnect tcp",
                r"connection timed out",
                r"Client\.Timeout exceeded",
            ),
            confirm={
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- wget -T 5 -O"
                " /dev/null https://{registry_host_port}/v2/ (an HTTP answer, even 401, means"
                " the path is open)",
            },
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
            confirm={
                "default": "openssl s_client -connect {registry_host_port} -servername"
                " {registry_hostname} -showcerts </dev/null | openssl x509 -noout -subject -issuer"
                " -dates",
            },
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
                r"Internal Server Error",
                r"Service Unavailable",
                r"Bad Gateway",
                r"unexpected http code: 5\d\d",
            ),
            confirm={
                "default": "curl -sS -o /dev/null -w '%{{http_code}}\\n' https://{registry_host}/v2/",
            },
        ),
        Cause(
            id="digest-mismatch",
            severity=Severity.ERROR,
            title="Content does not match its digest",
            status="ErrImagePull",
            signature=_PULL + "failed commit on ref: {detail}: failed precondition",
            meaning="The registry served bytes whose digest is not the one asked for (or the one"
            " it announced); the node verifies the bytes and refuses the pull.",
            cause="A corrupted or tampered registry, a caching proxy serving stale or altered"
            " content, or a registry announcing a wrong Docker-Content-Digest.",
            fixes={
                "default": "Do not deploy this image until the registry serves the content of"
                " {reference}: re-push it from a trusted build, or bypass the proxy; compare"
                " with: crane digest {resolved}.",
            },
            patterns=(
                r"unexpected commit digest",
                r"digest mismatch",
                r"failed commit on ref",
            ),
            confirm={
                "default": "curl -sS -H 'Accept: application/vnd.oci.image.index.v1+json,"
                " application/vnd.oci.image.manifest.v1+json' https://{registry_host}/v2/"
                "{repository}/manifests/{reference} | sha256sum",
            },
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
            confirm={"default": "pullgate pin {file}"},
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
            confirm={
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- chroot /host"
                " crictl images | grep {repository}",
            },
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
        Cause(
            id="pull-secret-missing",
            severity=Severity.ERROR,
            title="Pull secret not in the pod's namespace",
            status="ErrImagePull",
            signature="Unable to retrieve some image pull secrets ({secret}); attempting to pull"
            " the image may not succeed.",
            meaning="The pod (or its ServiceAccount) names a pull secret that exists neither in"
            " the pod's namespace in the cluster nor in the input; the kubelet pulls without it.",
            cause="Secret {secret}, named by the {origin}, is not in namespace {namespace}"
            "{elsewhere}.{public}",
            fixes={
                "default": "Create it in the pod's namespace: kubectl create secret docker-registry"
                " {secret} -n {namespace} --docker-server={registry} --docker-username=<user>"
                " --docker-password=<token> (or copy the one in {source_namespace}: kubectl get"
                " secret {secret} -n {source_namespace} -o json | jq 'del(.metadata.namespace,"
                ".metadata.uid,.metadata.resourceVersion,.metadata.creationTimestamp)' | kubectl"
                " apply -n {namespace} -f -); or point imagePullSecrets of the {origin} at a"
                " secret that exists in {namespace}.",
            },
            patterns=(
                r"Unable to retrieve (?:some )?image pull secrets?",
                r"FailedToRetrieveImagePullSecret",
            ),
            confirm={
                "default": "kubectl get secret {secret} -n {namespace}; kubectl get secrets -A"
                " --field-selector metadata.name={secret}",
            },
        ),
        Cause(
            id="pull-secret-malformed",
            severity=Severity.ERROR,
            title="Pull secret the kubelet cannot use",
            status="ErrImagePull",
            signature=_PULL + "{detail}",
            meaning="A pull secret the kubelet would present is not a docker-registry secret it"
            " can read: wrong type, missing key, or a config that does not decode.",
            cause="Secret {secret} in {namespace} (named by the {origin}): {problem}.",
            fixes={
                "default": "Recreate it as a docker-registry secret (type"
                " kubernetes.io/dockerconfigjson, key .dockerconfigjson holding"
                ' {{"auths": {{...}}}}): kubectl create secret docker-registry {secret} -n'
                " {namespace} --docker-server={registry} --docker-username=<user>"
                " --docker-password=<token> --dry-run=client -o yaml | kubectl apply -f -",
            },
        ),
        Cause(
            id="pull-secret-no-match",
            severity=Severity.ERROR,
            title="No pull secret for this registry",
            status="ErrImagePull",
            signature=_PULL + "failed to authorize: failed to fetch anonymous token: unexpected"
            " status from GET request to {realm}: 401 Unauthorized",
            meaning="The image needs a credential, and none of the pull secrets the kubelet would"
            " present has a key for its registry, so the kubelet pulls anonymously.",
            cause="The {origin} gives the kubelet {keys}; no key matches {registry} by the"
            " kubelet's rules (each host label as a glob, same port, path prefix; Docker Hub"
            " via index.docker.io){node_identity}.",
            fixes={
                "acr": "Attach the registry to the cluster: az aks update -g {resource_group} -n"
                " {cluster} --attach-acr {acr}; or add a pull secret for it: kubectl create secret"
                " docker-registry {secret_name} -n {namespace} --docker-server={registry}"
                " --docker-username=<user> --docker-password=<token> and list it in"
                " imagePullSecrets (pod or ServiceAccount {service_account}).",
                "default": "Add a pull secret for {registry}: kubectl create secret docker-registry"
                " {secret_name} -n {namespace} --docker-server={registry}"
                " --docker-username=<user> --docker-password=<token>; then list it: kubectl"
                " patch serviceaccount {service_account} -n {namespace} -p"
                ' \'{{"imagePullSecrets":[{{"name":"{secret_name}"}}]}}\' (a pod that lists'
                " its own imagePullSecrets ignores the ServiceAccount's: add it there). Or correct"
                " the server key of an existing secret to {registry}.",
            },
        ),
        Cause(
            id="pull-secret-rejected",
            severity=Severity.ERROR,
            title="Registry refused the pull secret",
            status="ErrImagePull",
            signature=_PULL + "failed to authorize: failed to fetch oauth token: unexpected"
            " status from GET request to {realm}: 401 Unauthorized",
            meaning="The registry refused every credential the kubelet would present for this"
            " image (the kubelet does not fall back to an anonymous pull).",
            cause="Tried with --verify-credentials: {rejected}. An expired or revoked token, a"
            " changed password, or a user without pull access to {repository}.",
            fixes={
                "acr": "Renew the credential (az acr token credential generate, or a new service"
                " principal secret) and update the secret: kubectl create secret docker-registry"
                " {secret} -n {namespace} --docker-server={registry} --docker-username=<user>"
                " --docker-password=<new token> --dry-run=client -o yaml | kubectl apply -f -;"
                " or attach the registry: az aks update -g {resource_group} -n {cluster}"
                " --attach-acr {acr}.",
                "default": "Renew the credential and update the secret: kubectl create secret"
                " docker-registry {secret} -n {namespace} --docker-server={registry}"
                " --docker-username=<user> --docker-password=<new token> --dry-run=client -o"
                " yaml | kubectl apply -f -",
            },
        ),
        Cause(
            id="pull-secret-external",
            severity=Severity.WARNING,
            title="Pull secret made by a controller",
            status="",
            signature="imagePullSecrets: {secret} (created by {maker})",
            meaning="The pull secret does not exist yet: a controller creates it from the input,"
            " so pullgate cannot see its registries or credentials and assumes it matches.",
            cause="{secret}, named by the {origin}, is made by {maker}.",
            fixes={
                "default": "Make sure {maker} renders type kubernetes.io/dockerconfigjson with a"
                " key for {registry}; once it has synced (kubectl get secret {secret} -n"
                " {namespace}), run pullgate against the cluster again to check it.",
            },
        ),
        Cause(
            id="unschedulable",
            severity=Severity.WARNING,
            title="No node pool takes the pod",
            status="Pending",
            signature="{placement}.",
            meaning="No node passes the pod's nodeSelector, required node affinity and taint"
            " tolerations; the pod stays Pending (FailedScheduling), it never pulls.",
            cause="{pools}.",
            fixes={
                "default": "Make nodeSelector / affinity / tolerations in {file} match a pool"
                " (kubectl get nodes --show-labels; kubectl describe node <node> | grep Taints),"
                " or add a node pool that matches.",
            },
            patterns=(
                r"\d+/\d+ nodes are available",
                r"FailedScheduling",
                r"didn't match Pod's node affinity",
                r"had untolerated taint",
            ),
        ),
        Cause(
            id="namespace-missing",
            severity=Severity.ERROR,
            title="Namespace does not exist",
            status="",
            signature='Error from server (NotFound): error when creating "{file}": namespaces'
            ' "{namespace}" not found',
            meaning="The namespace exists neither in the cluster nor in the input: the apply"
            " fails and nothing of the object runs.",
            cause="{kind} {name} goes to namespace {namespace}, which does not exist.",
            fixes={
                "default": "kubectl create namespace {namespace}, or add a Namespace object to the"
                " input, or correct metadata.namespace (or --namespace) for {file}.",
            },
            patterns=(r'namespaces? "[^"]+" not found',),
        ),
        Cause(
            id="service-account-missing",
            severity=Severity.ERROR,
            title="ServiceAccount does not exist",
            status="",
            signature='Error creating: pods "{name}-" is forbidden: error looking up service'
            ' account {namespace}/{service_account}: serviceaccount "{service_account}" not found',
            meaning="The pod's ServiceAccount exists neither in the cluster nor in the input: no"
            " pod is created, and its imagePullSecrets are not there to use.",
            cause="serviceAccountName {service_account} in namespace {namespace}.",
            fixes={
                "default": "kubectl create serviceaccount {service_account} -n {namespace} (with"
                " the imagePullSecrets the pods need), add it to the input, or correct"
                " serviceAccountName in {file}.",
            },
            patterns=(r"error looking up service account",),
        ),
        Cause(
            id="cluster-forbidden",
            severity=Severity.WARNING,
            title="Cluster object not readable",
            status="",
            signature="{verb} {resource} in namespace {namespace}: 403 Forbidden",
            meaning="pullgate could not read an object it needs from the kube API, so the checks"
            " that need it did not run.",
            cause="{detail}",
            fixes={
                "default": "Bind the read-only ClusterRole in"
                " examples/cluster/pullgate-reader-rbac.yaml to the identity pullgate uses"
                " (kubectl apply -f examples/cluster/pullgate-reader-rbac.yaml, subject edited);"
                " check: kubectl auth can-i {verb} {resource} -n {namespace}.",
            },
        ),
        Cause(
            id="registry-not-allowed",
            severity=Severity.ERROR,
            title="Registry not allowed by policy",
            status="",
            signature='Policy {policy}: image "{image}" comes from {registry}, {rule}',
            meaning="The repository's policy (registries.allow / registries.deny) does not let"
            " workloads pull from this registry.",
            cause="The image points at a registry outside the approved list, e.g. a public image"
            " that was never imported, or a typo in the registry host.",
            fixes={
                "acr": "Use an approved registry, e.g. import the image: az acr import --name"
                " <approved-acr> --source {resolved} --image {repo_tag}; then reference"
                " <approved-acr>.azurecr.io/{repo_tag} in {file}:{line}.",
                "default": "Use an approved registry: az acr import --name <approved-acr> --source"
                " {resolved} --image {repo_tag} (or docker pull/tag/push); then reference it in"
                " {file}:{line}. To allow {registry}, add it to registries.allow in {policy}.",
            },
        ),
        Cause(
            id="digest-required",
            severity=Severity.ERROR,
            title="Digest required by policy",
            status="",
            signature='Policy {policy}: image "{image}" has no digest (require-digest)',
            meaning="The repository's policy requires every image (of this registry) to be pinned"
            " by digest, so each node runs exactly the build that was checked.",
            cause="The reference names a tag only; the tag can move after the check.",
            fixes={
                "default": "Pin it: {pinned} in {file}:{line}; or run pullgate pin {file} --write.",
            },
            confirm={"default": "pullgate pin {file}"},
        ),
        Cause(
            id="acr-not-attached",
            severity=Severity.ERROR,
            title="Kubelet identity cannot pull from the registry",
            status="ErrImagePull",
            signature=_PULL + 'failed to resolve reference "{resolved}": failed to authorize:'
            " failed to fetch anonymous token: unexpected status from GET request to"
            " https://{registry}/oauth2/token?scope=repository%3A{repository}%3Apull"
            "&service={registry}: 401 Unauthorized",
            meaning="AKS nodes pull from ACR as the cluster's kubelet identity, and it holds no"
            " role assignment that grants pull on this registry (in ABAC mode: on this"
            " repository), so the kubelet gets no token.",
            cause="The {identity} of cluster {cluster} {held}.{mode_note}{secrets_note}",
            fixes={
                "acr": "Attach the registry to the cluster: az aks update -g {resource_group} -n"
                " {cluster} --attach-acr {acr_ref} (assigns AcrPull to the kubelet identity at"
                " the registry).",
                "acr-abac": "The registry is in ABAC mode, where --attach-acr's AcrPull is not"
                " honoured; grant repository read: az role assignment create"
                " --assignee-object-id {object_id} --assignee-principal-type ServicePrincipal"
                ' --role "Container Registry Repository Reader" --scope {registry_id}'
                " --condition \"((!(ActionMatches{{'Microsoft.ContainerRegistry/registries/"
                "repositories/content/read'}}) AND !(ActionMatches{{'Microsoft.ContainerRegistry/"
                "registries/repositories/metadata/read'}})) OR (@Request[Microsoft."
                "ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase"
                " '{repository}'))\" --condition-version 2.0",
                "default": "Attach the registry to the cluster: az aks update -g {resource_group}"
                " -n {cluster} --attach-acr {acr_ref}.",
            },
            confirm={
                "acr": "az aks check-acr -g {resource_group} -n {cluster} --acr {registry}",
                "acr-abac": "az role assignment list --assignee {object_id} --scope"
                " {registry_id} --include-inherited --include-groups -o table",
                "default": "az role assignment list --assignee {object_id} --scope"
                " {registry_id} --include-inherited --include-groups -o table",
            },
        ),
        Cause(
            id="acr-condition-unevaluated",
            severity=Severity.WARNING,
            title="Repository condition not evaluated",
            status="",
            signature="Role assignment condition for {repository} on {registry}: not evaluated",
            meaning="The registry is in ABAC mode and the kubelet identity's repository role"
            " carries a condition pullgate cannot evaluate before the deploy, so whether the"
            " kubelet can pull this repository is not known.",
            cause="{unevaluated}",
            fixes={
                "default": "Read the condition: az role assignment list --assignee {object_id}"
                " --scope {registry_id} --include-inherited --include-groups --query"
                ' "[].condition" -o tsv. Conditions on'
                " @Request[Microsoft.ContainerRegistry/registries/repositories:name] with"
                " StringEqualsIgnoreCase / StringStartsWithIgnoreCase (and, or, not) can be"
                " checked; or grant Container Registry Repository Reader for {repository}"
                " without that condition.",
            },
        ),
        Cause(
            id="azure-forbidden",
            severity=Severity.WARNING,
            title="Azure read denied",
            status="",
            signature="{operation} on {scope}: 403 {detail}",
            meaning="Azure Resource Manager refused a read pullgate needs, so the kubelet"
            " identity's pull rights on this registry were not checked.",
            cause="The identity pullgate runs as may not read {scope}.",
            fixes={
                "default": "Give the pipeline identity read there: az role assignment create"
                " --assignee <pipeline identity> --role Reader --scope {scope} (Reader covers"
                " the registry, its role assignments and role definitions). To skip the"
                " subscription-wide registry search, name the registry: --acr-resource-id"
                " <registry resource id>.",
            },
            confirm={
                "default": "az role assignment list --assignee <pipeline identity> --all -o table"
            },
        ),
        Cause(
            id="acr-registry-not-found",
            severity=Severity.WARNING,
            title="ACR registry not found in Azure",
            status="",
            signature="No registry with login server {registry} in subscription {subscription}",
            meaning="pullgate did not find the registry resource, so the kubelet identity's pull"
            " rights on it were not checked.",
            cause="The registry is in another subscription or tenant, in another cloud than"
            " {cloud}, or it does not exist.",
            fixes={
                "default": "Name it: --acr-resource-id $(az acr show --name {acr} --query id -o"
                " tsv), or give the pipeline identity Reader on the registry's subscription.",
            },
            confirm={"default": "az acr show --name {acr} --query id -o tsv"},
        ),
        Cause(
            id="kubelet-identity-unknown",
            severity=Severity.WARNING,
            title="Kubelet identity's object id unknown",
            status="",
            signature="Cluster {cluster} pulls as {identity}: object id unknown",
            meaning="Role assignments name object ids and pullgate could not learn the one of"
            " the identity the nodes pull with, so pull rights were not checked.",
            cause="{detail}",
            fixes={
                "default": "Pass it: --kubelet-object-id $(az ad sp show --id {client_id} --query"
                " id -o tsv); or move the cluster to managed identity: az aks update -g"
                " {resource_group} -n {cluster} --enable-managed-identity.",
            },
        ),
        Cause(
            id="registry-network-restricted",
            severity=Severity.WARNING,
            title="Registry closed to the public path",
            status="ErrImagePull",
            signature=_PULL + 'failed to resolve reference "{resolved}": unexpected status from'
            " HEAD request to https://{registry_host}/v2/{repository}/manifests/{reference}:"
            " 403 Forbidden (denied: client with IP is not allowed access)",
            meaning="The registry refuses access over its public endpoint while the runner"
            " reaches it over the public path: what pullgate saw is not what nodes outside the"
            " allowed networks get.",
            cause="{restriction}; {registry_hostname} resolves to {addresses} from the runner."
            "{private_endpoints}",
            fixes={
                "default": "Give the nodes the private path: a private endpoint of {acr} in (or"
                " peered with) the cluster VNet, and the privatelink.azurecr.io private DNS zone"
                " linked to that VNet: az network private-dns link vnet create -g"
                " <dns-zone-rg> -z privatelink.azurecr.io -n {acr}-aks -v <cluster-vnet-id> -e"
                " false. A node should resolve {registry_hostname} to a private address.",
            },
            confirm={
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- nslookup"
                " {registry_hostname}",
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
    "pull-secret-missing",
    "namespace-missing",
    "service-account-missing",
    "unschedulable",
    "platform-mismatch",
    "rate-limited",
    "digest-mismatch",
    "tls",
    "dns",
    "unauthorized",
    "tag-not-found",
    "registry-error",
    "unreachable",
)
