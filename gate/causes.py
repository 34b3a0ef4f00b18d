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
from functools import cache


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
    # Weaker evidence: these name the cause only when no row's `patterns` match the text.
    fallback: tuple[str, ...] = ()
    # flavor -> command that shows the cause for yourself (used by `explain`)
    confirm: Mapping[str, str] = field(default_factory=dict)
    # Causes that follow from this one for the same image use: the checks report this one
    # alone, with the consequence in its evidence (README, "One root cause, one finding").
    subsumes: tuple[str, ...] = ()
    # flavor or case -> cause text where the default `cause` would assume a case, or where the
    # check knows the specific cause (e.g. the private DNS zone not linked)
    explanations: Mapping[str, str] = field(default_factory=dict)

    def fix_template(self, flavor: str) -> str:
        return self.fixes.get(flavor) or self.fixes.get("default", "")

    def explanation_template(self, flavor: str) -> str:
        return self.explanations.get(flavor) or self.cause

    def render_confirm(self, flavor: str, context: Mapping[str, object]) -> str:
        return fill(self.confirm.get(flavor) or self.confirm.get("default", ""), context)

    def render_fix(self, flavor: str, context: Mapping[str, object]) -> str:
        return fill(self.fix_template(flavor), context)

    def render_signature(self, context: Mapping[str, object]) -> str:
        return fill(self.signature, context)


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


# Placeholders whose absence has a right reading (the usual case), rather than a visible
# `<name>`: callers that know better (e.g. a registry that answered over plain HTTP) say so.
_QUIET_DEFAULTS = {
    "scheme": "https",
    "retry_note": "",
    "keep_on": "",
    "auth_status": "401 Unauthorized",
}


def fill(template: str, context: Mapping[str, object]) -> str:
    given = {k: v for k, v in context.items() if v is not None}
    values = _Placeholders(_QUIET_DEFAULTS | given)
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
                r"short-name \S+ did not resolve",
                r"did not resolve to an alias",
                r"no registries configured while trying to pull an unqualified image",
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
                "acr": "{tags_note} List them: az acr repository show-tags"
                " --name {acr} --repository {repository} --orderby time_desc -o table;"
                " push the tag, or correct {file}:{line}.",
                "digest": "{registry} holds no manifest {reference} in {repository}: correct the"
                " digest in {file}:{line} (the digest of a tag: skopeo inspect"
                " docker://{registry}/{repository}:<tag> --format '{{{{.Digest}}}}'), or push"
                " that build again. {tags_note}",
                "default": "{tags_note} Push {resolved}, or correct the reference in"
                " {file}:{line}; pin a digest once it exists (skopeo inspect"
                " docker://{resolved} --format '{{{{.Digest}}}}').",
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
                r"404 Not Found",
                r"HTTP 404\b",
                r"\b(?:status|code)\W+404\b",
                r"no such image",
                r"does not exist",
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
                "default": "Build and push an image for every node platform: docker buildx"
                " build --platform {wanted_platforms} -t {resolved} --push .{keep_on}",
            },
            patterns=(
                r"no match for platform",
                r"no matching manifest for",
                r"image operating system .* cannot be used on this platform",
                r"no image found in (?:manifest list|image index) for architecture",
                r"does not match the specified platform",
                r"no supported platform found",
                r"container operating system does not match the host operating system",
                r"operating system of the container does not match the operating system of the"
                r" host",
                r"choosing (?:an )?image (?:instance|from manifest list)",
                # podman 1.x (containers/image) refusing the one image it got; newer ones only log
                # it (level=info) and go on, so a logged line is not the failure
                r'(?<!msg=")\bImage (?:architecture|operating system) mismatch: image uses\s*,\s*'
                r"expecting",
            ),
            confirm={
                "default": "docker buildx imagetools inspect {resolved}; kubectl get nodes -L"
                " kubernetes.io/os,kubernetes.io/arch",
            },
        ),
        Cause(
            id="platform-fallback",
            severity=Severity.WARNING,
            title="Nodes pull a 32-bit build",
            status="",
            signature='Pulling image "{image}": no {missing_platforms} build; containerd takes'
            " the {fallback_platforms} one",
            meaning="The image has no build of the nodes' own architecture, but a 32-bit one that"
            " containerd's platform matcher accepts for them (386 on amd64, arm on arm64): the"
            " pull works.",
            cause="The image was built for {fallback_platforms} only. It runs where the CPU"
            " executes 32-bit code: arm64 cores without AArch32 (Neoverse N2 and later, such as"
            " Azure Cobalt 100) fail with exec format error.",
            fixes={
                "default": "Build and push the nodes' own architecture too: docker buildx build"
                " --platform {wanted_platforms} -t {resolved} --push .",
            },
            confirm={
                "default": "docker buildx imagetools inspect {resolved}; kubectl get nodes -L"
                " kubernetes.io/arch",
            },
        ),
        Cause(
            id="unauthorized",
            severity=Severity.ERROR,
            title="Pull not authorized",
            status="ErrImagePull",
            signature=_PULL + "failed to authorize: failed to fetch {token_kind} token: unexpected"
            " status from GET request to {realm}: {auth_status}",
            meaning="The registry answered 401 or 403: the pull needs a credential it did not"
            " present, or one the registry accepts.",
            cause="{who}",
            fixes={
                "acr-pipeline": "The nodes get in; give the pipeline's identity pull so pullgate"
                " can check the image: az role assignment create {pipeline_assignee} --role"
                ' "{pull_role}" --scope {registry_id}',
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
                "untried": "Let pullgate try the pull secret the kubelet would present: run"
                " with --verify-credentials (or docker login {registry} so pullgate can read"
                " {repository} itself). If that secret is refused, renew it in namespace"
                " {namespace}.",
                "refused": "Renew the credential pullgate presented ({credential}): docker login"
                " {registry} with a current token, or update the CI secret that writes the"
                " Docker config; check that its user may pull {repository}. The nodes pull with"
                " their own credential: a pull secret in the pod's namespace (kubectl create"
                " secret docker-registry {secret_name} -n {namespace} --docker-server={registry}"
                " ...) or the node identity.",
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
                r"resource is denied",
                r"is not authorized",
                r"authorization failed",
                r"invalid username/password",
                r"unauthorized to access repository",
                r"Permission\s.*?denied on resource",
                r"do not have permission",
                r":\s*denied\b",
                r"\bdenied: ",
                r"requesting bearer token",
                r"failed to find supported auth scheme",
                r"did not include a token",
                r"does not match bearer token",
                r"\b(?:status|code)\W+40[13]\b",
                r"\bHTTP 40[13]\b",
                r"\b40[13]\b.{0,4}(?:Unauthorized|Forbidden)",
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
            cause="{registry} throttled the request (429{retry_note}): registries limit requests"
            " per client address or per account, and every node behind one egress IP counts"
            " as one client.",
            explanations={
                "dockerhub": "Docker Hub limits pulls per 6 hours: 100 per egress IP for"
                " anonymous pulls (shared by every node behind one NAT), 200 per personal"
                " account.",
            },
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
                r"\b(?:status|code|error)\W+429\b",
                r"\bHTTP 429\b",
                r"\b429\W+Too Many Requests",
                r"Too Many Requests",
                r"HAP429",
            ),
            confirm={
                "dockerhub": "From a node (same egress IP): TOKEN=$(curl -s"
                ' "https://auth.docker.io/token?service=registry.docker.io&scope=repository:'
                'ratelimitpreview/test:pull" | jq -r .token); curl -sI -H "Authorization: Bearer'
                ' $TOKEN" https://registry-1.docker.io/v2/ratelimitpreview/test/manifests/latest'
                " | grep -i ratelimit",
                "default": "curl -sI {scheme}://{registry_host}/v2/ | grep -i -e retry-after"
                " -e ratelimit",
            },
        ),
        Cause(
            id="dns",
            severity=Severity.ERROR,
            title="Registry name does not resolve",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "{scheme}://{registry_host}/v2/'
            '{repository}/manifests/{reference}": dial tcp: lookup {registry_hostname}: no such'
            " host",
            meaning="The registry's host name does not resolve.",
            cause="A typo in the host, or a name only a private DNS zone holds.",
            explanations={
                "acr": "A typo in the registry name, or a private endpoint without the"
                " privatelink.azurecr.io zone linked to the network that resolves it.",
                "aks-zone-missing": "{acr} is reached through private endpoint {pe_name}, but no"
                " {zone} zone exists to give the nodes in VNet {vnet_name} its private"
                " address.",
                "aks-zone-unlinked": "{acr} is reached through private endpoint {pe_name}, and"
                " zone {zone} (resource group {zone_rg}) is not linked to the nodes' VNet"
                " {vnet_name}, so the nodes do not get the endpoint's address for"
                " {registry_hostname}.",
                "aks-record-missing": "Zone {zone} (resource group {zone_rg}) is linked to the"
                " nodes' VNet but has no A record {record} for {registry_hostname}: a linked"
                " zone answers NXDOMAIN for a name it lacks.",
            },
            fixes={
                "aks-zone-missing": "Create the zone, link it to the nodes' VNet and let the"
                " private endpoint keep its records: az network private-dns zone create -g"
                " {zone_rg} -n {zone}; az network private-dns link vnet create -g {zone_rg} -z"
                " {zone} -n {vnet_name}-link -v {vnet_id} -e false; az network private-endpoint"
                " dns-zone-group create -g {pe_rg} --endpoint-name {pe_name} -n default"
                " --private-dns-zone {zone} --zone-name registry",
                "aks-zone-unlinked": "Link zone {zone} to the nodes' VNet: az network private-dns"
                " link vnet create -g {zone_rg} -z {zone} -n {vnet_name}-link -v {vnet_id} -e"
                " false",
                "aks-record-missing": "Add the A record for {registry_hostname} to {zone}: az"
                " network private-dns record-set a add-record -g {zone_rg} -z {zone} -n {record}"
                " -a {record_address}; or let the private endpoint keep its records: az network"
                " private-endpoint dns-zone-group create -g {pe_rg} --endpoint-name {pe_name} -n"
                " default --private-dns-zone {zone_id} --zone-name registry",
                "acr": "Check the name: nslookup {registry_hostname}. For a private endpoint"
                " link the privatelink.azurecr.io zone to the cluster VNet.",
                "default": "Check the host name in {file}:{line}: nslookup {registry_hostname}."
                " If only the nodes' DNS knows it, run pullgate where that DNS answers.",
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
            signature=_PULL + 'failed to do request: Head "{scheme}://{registry_host}/v2/'
            '{repository}/manifests/{reference}": dial tcp {registry_host}: {detail}',
            meaning="The name resolves but the connection fails: refused, reset or timed out.",
            cause="A firewall, NSG or egress rule blocks the path, or the registry is down.",
            explanations={
                "deadline": "pullgate's whole-run deadline passed before {registry_host}"
                " answered: slow answers, or more images than the deadline allows.",
                "aks-no-private-path": "{acr} takes no public traffic from the nodes ({closed}),"
                " and {private_path}.",
                "aks-record-stale": "Zone {zone} (resource group {zone_rg}) answers"
                " {registry_hostname} with {stale_addresses}, but private endpoint {pe_name}"
                " holds {record_address} for it: the nodes connect to an address nothing"
                " serves.",
                "aks-firewall-deny": "The registry firewall denies by default (IP rules:"
                " {ip_rules}); the nodes leave through their {egress_via} from {egress_ips}, which"
                " no rule admits, so ACR answers 403.",
                "aks-nsg-deny": "Network security group {nsg} on the nodes' subnet {nsg_subnet}"
                " drops outbound TCP 443 to {nsg_blocked} by its {nsg_rule}, before any rule"
                " allows it: the connection times out.",
            },
            fixes={
                "aks-record-stale": "Point the record at the endpoint: {remove_commands}; az"
                " network private-dns record-set a add-record -g"
                " {zone_rg} -z {zone} -n {record} -a {record_address}; or let the private"
                " endpoint keep its records: az network private-endpoint dns-zone-group create -g"
                " {pe_rg} --endpoint-name {pe_name} -n default --private-dns-zone {zone_id}"
                " --zone-name registry",
                "aks-no-private-path": "Give the nodes a private path to {acr}: a private"
                " endpoint in their VNet: az network private-endpoint create -g {vnet_rg} -n"
                " {acr}-aks-pe --vnet-name {vnet_name} --subnet <subnet> --private-connection-"
                "resource-id {registry_id} --group-id registry --connection-name {acr}-aks (or"
                " peer {vnet_name} with the endpoint's VNet {pe_vnet}); then its"
                " privatelink.azurecr.io zone linked to {vnet_name}.",
                "aks-firewall-deny": "Allow the nodes' egress IPs ({egress_ips}) in the registry"
                " firewall: {ip_rule_commands}",
                "aks-nsg-deny": "Allow the nodes' HTTPS to the registry in {nsg}, ahead of its"
                " {nsg_rule}: az network nsg rule create -g {nsg_rg} --nsg-name {nsg} -n"
                " allow-acr-https --priority {nsg_priority} --direction Outbound --access Allow"
                " --protocol Tcp --destination-address-prefixes {nsg_destinations}"
                " --destination-port-ranges 443",
                "acr": "Allow egress to {registry_host}:443 and the data endpoints"
                " ({acr}.<region>.data.azurecr.io or *.blob.core.windows.net): curl -v"
                " https://{registry_host}/v2/",
                "deadline": "Give the run more time (--deadline, default 300 s) or fewer"
                " requests in flight per registry (--concurrency); then check {registry_host}"
                " again.",
                "default": "Allow egress to {registry_host}; test from a node: curl -v"
                " {scheme}://{registry_host}/v2/. If the nodes reach it and only this runner"
                " does not, run pullgate where the registry is reachable.",
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
                r"request canceled",
                r"handshake timeout",
                r"host is unreachable",
                r"broken pipe",
            ),
            fallback=(
                r"timed? ?out",
                r"dial tcp",
                r"proxyconnect",
                r"failed to do request",
                r"pinging (?:container|docker) registry",
                r"error connecting to proxy",
                r"connectex",
            ),
            confirm={
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- wget -T 5 -O"
                " /dev/null {scheme}://{registry_host_port}/v2/ (an HTTP answer, even 401, means"
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
            " trust.",
            explanations={
                "tls-name": "The registry's certificate does not name {registry_hostname}.",
                "tls-expired": "The registry's certificate is outside its validity dates.",
                "tls-handshake": "The port answers, but not with TLS a client can use.",
            },
            fixes={
                "tls-name": "Reissue the registry's certificate with {registry_hostname} in its"
                " subjectAltName, or use the name it was issued for in {file}:{line}; trusting"
                " another CA does not help. See the names: openssl s_client -connect"
                " {registry_host_port} </dev/null | openssl x509 -noout -ext subjectAltName.",
                "tls-expired": "Renew the registry's certificate; the nodes check its dates"
                " too, and --ca-file does not help. See them: openssl s_client -connect"
                " {registry_host_port} </dev/null | openssl x509 -noout -dates.",
                "tls-handshake": "Check what listens on {registry_host_port} (openssl s_client"
                " -connect {registry_host_port}): a TLS terminator or the registry itself"
                " should answer there.",
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
                r"certificate verify failed",
                r"self[- ]signed certificate",
                r"unable to get local issuer certificate",
                r"SSL routines",
            ),
            confirm={
                "default": "openssl s_client -connect {registry_host_port} -servername"
                " {registry_hostname} -showcerts </dev/null | openssl x509 -noout -subject -issuer"
                " -dates",
            },
        ),
        Cause(
            id="runner-network",
            severity=Severity.ERROR,
            title="This runner cannot reach the registry",
            status="",
            signature='pullgate could not check "{image}" from this runner: {detail}',
            meaning="pullgate's own requests failed on the network of the machine it runs on, so"
            " nothing about the image was checked. The nodes pull over their own network: what"
            " they would get is unknown, and the manifest is not what failed.",
            cause="A CI runner without DNS or egress to the registry, or a proxy it must use"
            " that is not set (HTTPS_PROXY, NO_PROXY) or not answering.",
            fixes={
                "default": "Give this runner a way to {registry_host}:443: egress from the"
                " runner's network, or its proxy in HTTPS_PROXY (and NO_PROXY for internal"
                " registries). Where the runner is meant to have no network, run pullgate check"
                " --offline (manifest checks only; with --cluster-state for the cluster's"
                " facts), and the full check where registries are reachable.",
            },
            confirm={
                "default": "On the runner: getent hosts {registry_hostname}; curl -sSI"
                " {scheme}://{registry_host}/v2/ (an HTTP answer, even 401, means the path is"
                " open); env | grep -i _proxy",
            },
            subsumes=("dns", "unreachable"),
        ),
        Cause(
            id="plain-http",
            severity=Severity.ERROR,
            title="Registry speaks plain HTTP",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": http: server gave HTTP response to HTTPS client',
            meaning="The registry answers plain HTTP, and the container runtime speaks HTTPS to"
            " every registry its own configuration does not name as plain HTTP: the pull fails"
            " before any certificate, credential or manifest is looked at.",
            cause="A registry without TLS (a lab, CI or in-cluster registry) that the nodes'"
            " runtime is not configured to reach over HTTP.",
            fixes={
                "default": "Name it as a plain-HTTP registry in the nodes' runtime: containerd"
                " /etc/containerd/certs.d/{registry_host}/hosts.toml with"
                ' server = "http://{registry_host}" and [host."http://{registry_host}"]'
                ' capabilities = ["pull", "resolve"] (config_path ='
                ' "/etc/containerd/certs.d" in containerd\'s config.toml); CRI-O: [[registry]]'
                ' location = "{registry_host}" insecure = true in'
                " /etc/containers/registries.conf; Docker: insecure-registries in"
                " /etc/docker/daemon.json. Or serve it over TLS. Then run pullgate with"
                " --insecure-registry {registry_host} (for a loopback registry also"
                " insecure-registries: in .pullgate.yaml).",
            },
            patterns=(
                r"server gave HTTP response to HTTPS client",
                r"first record does not look like a TLS handshake",
            ),
            confirm={
                "default": "curl -sS -o /dev/null -w '%{{http_code}}\\n' http://{registry_host}/v2/"
                " (answers) and curl -sSI https://{registry_host}/v2/ (fails)",
            },
            subsumes=("tls",),
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
                "default": "Check the registry's health (curl -sI {scheme}://{registry_host}/v2/)"
                " and retry; smooth bursts of pulls.",
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
                r"Gateway Time-?out",
                r"\b(?:status|code)\W+5\d\d\b",
                r"\bHTTP 5\d\d\b",
                r"invalid character '<' looking for beginning of value",
                r"<html|<!DOCTYPE",
                r"\b50[234]\b",
                # containerd: the registry or a proxy served a page where a manifest was expected
                r"unexpected media type (?!application/vnd\.)",
                r"Remote Auto[- ]?Blocked",  # Nexus: its proxy repository stopped asking upstream
                r"SignatureDoesNotMatch",  # the registry's blob storage refused its own signed URL
            ),
            confirm={
                "default": "curl -sS -o /dev/null -w '%{{http_code}}\\n'"
                " {scheme}://{registry_host}/v2/",
            },
        ),
        Cause(
            id="corrupt-layer",
            severity=Severity.ERROR,
            title="Downloaded layer is corrupt",
            status="ErrImagePull",
            signature=_PULL + "rpc error: code = FailedPrecondition desc = failed to pull and"
            ' unpack image "{resolved}": failed commit on ref "layer-sha256:{digest}":'
            " unexpected commit digest sha256:{got}, expected sha256:{digest}: failed precondition",
            meaning="The bytes the node downloaded do not hash to the digest (or size) the manifest"
            " promised, so the runtime threw the layer away.",
            cause="A broken mirror, pull-through cache or proxy that truncates or rewrites blobs, a"
            " registry whose storage lost part of a blob, or a damaged content store on the node.",
            fixes={
                "default": "Pull it from the origin, past any mirror: crictl pull {resolved} on the"
                " node; if that works, purge the mirror's copy of the blob. If every node fails,"
                " re-push the image. On one node only: crictl rmi {resolved} (containerd: ctr -n"
                " k8s.io content prune references) and let the kubelet pull again.",
            },
            patterns=(
                r"failed commit on ref",
                r"unexpected commit (?:digest|size)",
                r"failed size validation",
                r"filesystem layer verification failed",
                r"short read: expected \d+ bytes",
                r"[Dd]igest did not match",
                r"does not match (?:the )?(?:provided |expected )?(?:manifest )?digest",
                r"digest mismatch",
                r"(?:content|size) mismatch",
                r"does not match config's DiffID",
                r"wrong diff id",
                r"(?:failed to copy|download failed after attempts=\d+|happened during read"
                r"|writing blob|fetching blob|reading blob)\b.*unexpected EOF",
                r"(?:Downloading|Download complete|Extracting|Verifying Checksum)\b"
                r".*unexpected EOF",
                r"failed to verify (?:layer|blob|digest)",
                r"failed to register layer",
                r"failed to extract layer",
                r"failed to prepare extraction",
                r"missing parent bucket",
                r"locking ref|locked: unavailable",
                r"failed reading status of resume write",  # the node's ingest lost its partial
                r"failed to unpack image on snapshotter",
                r"error (?:committing the finished image|adding layer with blob)",
                r"content at\s+<blob>",
                r"blob unknown",
                r"unknown blob",
            ),
            confirm={
                "default": "kubectl debug node/{node} -it --image=busybox:1.36 -- chroot /host"
                " crictl pull {resolved} (compare with a pull that bypasses the mirror)",
            },
        ),
        Cause(
            id="disk",
            severity=Severity.ERROR,
            title="Node out of disk while pulling",
            status="ErrImagePull",
            signature=_PULL + 'failed to pull and unpack image "{resolved}": failed to extract'
            " layer sha256:{digest}: write /var/lib/containerd/...: no space left on device:"
            " unknown",
            meaning="The node ran out of space (or inodes) while it downloaded or unpacked the"
            " image.",
            cause="The image store (/var/lib/containerd, /var/lib/docker, /var/lib/containers)"
            " is full: image garbage collection starts only above the kubelet's"
            " imageGCHighThresholdPercent, large images and container logs share the disk, and"
            " ephemeral storage is not reserved.",
            fixes={
                "default": "Free the node's image store (crictl rmi --prune on {node}), then give"
                " it room: a larger OS disk, imageGCHighThresholdPercent /"
                " imageGCLowThresholdPercent lower in the kubelet config, ephemeral-storage"
                " requests and limits on pods; or"
                " a smaller image.",
            },
            patterns=(
                r"no space left on device",
                r"disk quota exceeded",
                r"not enough space on the disk",
                r"There is not enough space",
                r"insufficient (?:disk )?space",
                r"ENOSPC",
                r"input/output error",
            ),
            confirm={
                "default": "kubectl describe node {node} | grep -A5 -i -e DiskPressure -e"
                " ephemeral-storage; kubectl debug node/{node} -it --image=busybox:1.36 -- df -h"
                " /host/var/lib",
            },
        ),
        Cause(
            id="pull-timeout",
            severity=Severity.ERROR,
            title="Pull timed out mid-download",
            status="ErrImagePull",
            signature=_PULL + "rpc error: code = Canceled desc = failed to pull and unpack image"
            ' "{resolved}": failed to copy: httpReadSeeker: failed open: ...: context canceled',
            meaning="The pull started (the registry answered) but did not finish in time: the"
            " kubelet or the runtime gave up in the middle of the download.",
            cause="A very large image, a slow registry or mirror, or a thin path to it; the"
            " kubelet's runtime-request-timeout (2m) or image-pull-progress-deadline (dockershim,"
            " 1m without progress) ended the pull.",
            fixes={
                "default": "Make the image smaller or move it closer (a registry or pull-through"
                " cache in the cluster's region); pre-pull large images (a DaemonSet that pulls"
                " them); raise the kubelet's runtime-request-timeout (or"
                " image-pull-progress-deadline with dockershim) if the path is just slow.",
            },
            patterns=(
                r"because of no progress",
                r"image pull progress deadline",
                r"code = Canceled desc = (?:.*\bcontext canceled|context canceled)",
                r"code = DeadlineExceeded desc = context deadline exceeded\W*$",
                r"^\W*(?:rpc error: )?(?:code = \w+ desc = )?context deadline exceeded\W*$",
                r"(?:failed to copy|httpReadSeeker|fetching blob|writing blob|reading blob"
                r"|read tcp \S+).*context (?:canceled|deadline exceeded)",
                r"stream error: .*CANCEL",
                r"desc = context canceled\W*$",
                # Go's net/http: the answer had begun (headers read) when the deadline ended it
                r"Client\.Timeout exceeded while reading body",
            ),
            fallback=(r"code = Canceled\b", r"context canceled"),
            confirm={
                "default": "kubectl get events -n {namespace} --field-selector"
                " involvedObject.name={pod} (how long each Pulling lasted); docker buildx"
                " imagetools inspect {resolved} (the image's size)",
            },
        ),
        Cause(
            id="digest-mismatch",
            severity=Severity.ERROR,
            title="Content does not match its digest",
            status="ErrImagePull",
            signature=_PULL + 'failed to pull and unpack image "{image}": failed commit on ref'
            ' "manifest-{reference}": {detail}: failed precondition',
            meaning="The registry served bytes whose digest is not the one asked for (or the one"
            " it announced); the node verifies the bytes and refuses the pull.",
            cause="A corrupted or tampered registry, a caching proxy serving stale or altered"
            " content, or a registry announcing a wrong Docker-Content-Digest.",
            fixes={
                "default": "Do not deploy this image until the registry serves the content of"
                " {reference}: re-push it from a trusted build, or bypass the proxy; compare"
                " with: crane digest {resolved}.",
            },
            # No patterns: on a node this refusal reads "failed commit on ref ... unexpected
            # commit digest", which explain names corrupt-layer (a mirror or store serving other
            # bytes), the node-side name the runtimes' words support.
            confirm={
                "default": "curl -sS -H 'Accept: application/vnd.oci.image.index.v1+json,"
                " application/vnd.oci.image.manifest.v1+json' {scheme}://{registry_host}/v2/"
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
            "{elsewhere}.",
            fixes={
                "default": "Create it in the pod's namespace: kubectl create secret docker-registry"
                " {secret} -n {namespace} --docker-server={registry} --docker-username=<user>"
                " --docker-password=<token>; or point imagePullSecrets of the {origin} at a"
                " secret that exists in {namespace}.",
                "copy": "Copy the one in {source_namespace} to the pod's namespace: kubectl get"
                " secret {secret} -n {source_namespace} -o json | jq 'del(.metadata.namespace,"
                ".metadata.uid,.metadata.resourceVersion,.metadata.creationTimestamp)' | kubectl"
                " apply -n {namespace} -f -; or point imagePullSecrets of the {origin} at a"
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
            subsumes=("pull-secret-no-match", "unauthorized"),
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
            subsumes=("pull-secret-no-match", "unauthorized"),
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
                "pod-list": "Add a pull secret for {registry}: kubectl create secret"
                " docker-registry {secret_name} -n {namespace} --docker-server={registry}"
                " --docker-username=<user> --docker-password=<token>; then add it to the pod's"
                " imagePullSecrets in {file} (the pod lists its own, so its ServiceAccount's are"
                " not used). Or correct the server key of an existing secret to {registry}.",
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
                " {secret} -n {namespace} --docker-server={registry} --docker-username={username}"
                " --docker-password=<new token> --dry-run=client -o yaml | kubectl apply -f -;"
                " or attach the registry: az aks update -g {resource_group} -n {cluster}"
                " --attach-acr {acr}.",
                "default": "Renew the credential and update the secret: kubectl create secret"
                " docker-registry {secret} -n {namespace} --docker-server={registry}"
                " --docker-username={username} --docker-password=<new token> --dry-run=client -o"
                " yaml | kubectl apply -f -",
            },
            subsumes=("pull-secret-no-match", "unauthorized"),
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
            explanations={
                "daemonset": "{pools}. The DaemonSet controller makes a pod only for a node the"
                " pod would fit: no pod is made, nothing is Pending, nothing pulls, and the"
                " DaemonSet runs on no node.",
            },
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
            subsumes=(
                "service-account-missing",
                "pull-secret-missing",
                "pull-secret-malformed",
                "pull-secret-no-match",
                "pull-secret-rejected",
                "unauthorized",
                "acr-not-attached",
            ),
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
            subsumes=(
                "pull-secret-missing",
                "pull-secret-malformed",
                "pull-secret-no-match",
                "pull-secret-rejected",
                "unauthorized",
                "acr-not-attached",
            ),
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
            subsumes=("pull-secret-no-match", "unauthorized"),
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
            id="acr-role-wildcard",
            severity=Severity.WARNING,
            title="Pull granted only through a wildcard in a custom role",
            status="",
            signature="Custom role grants pull on {registry} only through a wildcard action",
            meaning="ACR honours wildcard actions in custom roles (Microsoft.ContainerRegistry/*,"
            " */read, *) only in tenants set up with Azure Resource Manager Private Link;"
            " elsewhere each action must be listed. pullgate cannot tell which kind of tenant"
            " this is, so whether the kubelet can pull is not known.",
            cause="The {identity} of cluster {cluster} pulls only through {wildcard}.",
            fixes={
                "default": "List the action in the custom role: add"
                " Microsoft.ContainerRegistry/registries/pull/read to its actions (in ABAC"
                " mode Microsoft.ContainerRegistry/registries/repositories/content/read and"
                " .../metadata/read to its dataActions): az role definition update"
                " --role-definition <role.json>; or assign AcrPull instead: az aks update -g"
                " {resource_group} -n {cluster} --attach-acr {acr_ref}.",
            },
            confirm={
                "default": "az role assignment list --assignee {object_id} --scope"
                " {registry_id} --include-inherited --include-groups -o table",
            },
        ),
        Cause(
            id="aks-custom-dns",
            severity=Severity.WARNING,
            title="Nodes resolve through custom DNS servers",
            status="",
            signature="{registry}: the nodes' VNet resolves through {dns_servers}",
            meaning="The nodes' VNet uses custom DNS servers, so whether the nodes resolve the"
            " registry to its private endpoint cannot be proven from Azure Resource Manager.",
            cause="The DNS servers must send {zone} queries to Azure DNS (168.63.129.16) from a"
            " VNet linked to the zone, or host the records themselves.",
            fixes={
                "default": "Check it from a node: kubectl debug node/<node> -it"
                " --image=busybox:1.36 -- nslookup {registry_hostname}{expect}; on the DNS"
                " servers ({dns_servers}) forward {zone} to 168.63.129.16.",
            },
            confirm={
                "default": "kubectl debug node/<node> -it --image=busybox:1.36 -- nslookup"
                " {registry_hostname}",
            },
        ),
        Cause(
            id="aks-egress-firewall",
            severity=Severity.WARNING,
            title="Egress firewall rules do not cover the registry",
            status="ErrImagePull",
            signature=_PULL + 'failed to do request: Head "https://{registry_host}/v2/{repository}'
            '/manifests/{reference}": dial tcp {registry_host}:443: i/o timeout',
            meaning="The nodes' egress goes through an Azure Firewall (outboundType"
            " userDefinedRouting) whose Allow rules, read from ARM, do not cover the registry's"
            " endpoints; a pull is dropped unless another rule (read-only view) lets it out.",
            cause="No application rule for {missing_fqdns}, and no network rule with the"
            " AzureContainerRegistry service tag, in firewall {firewall} (policy {policy}).",
            fixes={
                "aks-firewall-classic": "Allow them in firewall {firewall}: az network firewall"
                " application-rule create -g {firewall_rg} -f {firewall} --collection-name"
                " allow-acr --priority {collection_priority} --action Allow -n acr --protocols"
                " Https=443 --source-addresses '*' --target-fqdns {missing_fqdns}",
                "default": "Allow them in policy {policy}: az network firewall policy"
                " rule-collection-group collection add-filter-collection -g {policy_rg}"
                " --policy-name {policy} --rule-collection-group-name {rule_group} --name"
                " allow-acr --collection-priority {collection_priority} --action Allow"
                " --rule-name acr --rule-type ApplicationRule --protocols Https=443"
                " --source-addresses '*' --target-fqdns {missing_fqdns}",
            },
            explanations={
                "aks-firewall-classic": "Read from the {firewall_rules} of firewall {firewall}:"
                " {firewall_said}.",
                "aks-firewall-policy": "Read from {firewall_rules} of firewall {firewall}:"
                " {firewall_said}.",
            },
        ),
        Cause(
            id="aks-nsg-unproven",
            severity=Severity.WARNING,
            title="NSG rules on the nodes' subnet not provable",
            status="",
            signature="{registry}: network security group {nsg} on subnet {nsg_subnet} may"
            " decide the pull",
            meaning="A network security group on the nodes' subnet has an outbound rule whose"
            " match pullgate cannot prove from Azure Resource Manager (an IP prefix where the"
            " registry's public address is unknown, an application security group, a service"
            " tag of another region), and that rule would change the verdict.",
            cause="{nsg_unproven}",
            fixes={
                "default": "Check from a node: kubectl debug node/<node> -it"
                " --image=busybox:1.36 -- wget -T 5 -O /dev/null https://{registry_host}/v2/;"
                " review the outbound rules: az network nsg rule list -g {nsg_rg} --nsg-name"
                " {nsg} --include-default -o table",
            },
        ),
        Cause(
            id="aks-egress-unknown",
            severity=Severity.WARNING,
            title="Nodes' egress IPs unknown",
            status="",
            signature="{registry}: firewall denies by default; the nodes' egress IPs are unknown",
            meaning="The registry firewall admits only listed IP ranges, and pullgate could not"
            " learn from ARM which public IPs the nodes leave from ({via}).",
            cause="Without the egress IPs it is not known whether the nodes are admitted.",
            fixes={
                "default": "Find the nodes' egress IP (kubectl run ip --rm -it"
                " --image=curlimages/curl -- curl -s ifconfig.me) and allow it: az acr"
                " network-rule add -n {acr} --ip-address <egress-ip>",
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
    """The first error cause whose Events patterns occur in `text` (most specific first).

    Only when no row's patterns match do the rows' weaker `fallback` patterns get a say.
    """
    for kind in ("patterns", "fallback"):
        for cause_id in _MATCH_ORDER:
            combined = _combined(cause_id, kind)
            if combined is not None and combined.search(text):
                return CATALOG[cause_id]
    return None


@cache
def _combined(cause_id: str, kind: str) -> re.Pattern | None:
    """One regex per row and kind: a text is scanned once per row, not once per pattern."""
    patterns = getattr(CATALOG[cause_id], kind)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


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
    "disk",
    "corrupt-layer",
    "rate-limited",
    "plain-http",
    "tls",
    "dns",
    "unauthorized",
    "tag-not-found",
    "registry-error",
    "pull-timeout",
    "unreachable",
)
