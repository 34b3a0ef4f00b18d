"""Resolving references against the real registry: existence, digests, platforms, auth."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from registry_server import TokenServer

from gate.platforms import Platform
from gate.reference import parse_reference
from gate.registry.client import ClientOptions, RegistryClient
from gate.registry.credentials import Credential
from gate.registry.resolve import Resolver


def resolver_for(registry, credential=None, insecure=True, **options):
    hosts = frozenset({registry.host}) if insecure else frozenset()
    if insecure and registry.token_server is not None:
        hosts |= {registry.token_server.host}  # a plain-HTTP realm gets credentials only so
    ca = str(registry.ca_file) if registry.ca_file and not insecure else None
    client = RegistryClient(
        ClientOptions(insecure=hosts, ca_file=ca, timeout=5, deadline=30, **options)
    )
    creds = [credential] if credential else []
    return Resolver(client, lambda ref: creds, concurrency=8), client


def resolve(registry, image, need_platforms=False, **kw):
    resolver, client = resolver_for(registry, **kw)
    try:
        return resolver.resolve(parse_reference(f"{registry.host}/{image}"), need_platforms)
    finally:
        client.close()


def test_existing_tag_resolves_to_its_digest(registry):
    digest = registry.push_image("app/web", "1.0")
    result = resolve(registry, "app/web:1.0")
    assert result.ok and result.digest == digest


def test_index_lists_platforms_without_attestations(registry):
    registry.push_index("app/multi", "2.0", ["linux/amd64", "linux/arm64"], attestation=True)
    result = resolve(registry, "app/multi:2.0", need_platforms=True)
    assert set(result.platforms) == {Platform("linux", "amd64"), Platform("linux", "arm64")}


def test_docker_manifest_list_is_read_too(registry):
    registry.push_index("app/list", "1", ["linux/amd64", "linux/arm/v7"], oci=False)
    result = resolve(registry, "app/list:1", need_platforms=True)
    assert Platform("linux", "arm", "v7") in result.platforms


def test_single_manifest_platform_comes_from_config_blob_only_when_needed(registry):
    registry.push_image("app/single", "1", arch="arm64")
    registry.clear_requests()
    without = resolve(registry, "app/single:1", need_platforms=False)
    assert without.platforms is None
    assert not [r for r in registry.requests() if "/blobs/" in r["path"]]
    with_platforms = resolve(registry, "app/single:1", need_platforms=True)
    assert with_platforms.platforms == (Platform("linux", "arm64"),)


def test_missing_tag_is_tag_not_found_with_nearby_tags(registry):
    for tag in ("2.0.1", "1.9", "latest"):
        registry.push_image("app/migrate", tag)
    result = resolve(registry, "app/migrate:2.0")
    assert result.problem.cause == "tag-not-found"
    assert "MANIFEST_UNKNOWN" in result.problem.evidence
    assert "2.0.1" in result.nearby_tags


def test_deleted_tag_is_not_found_while_its_digest_still_resolves(registry):
    digest = registry.push_image("app/gone", "1.0")
    registry.delete_tag("app/gone", "1.0")
    assert resolve(registry, "app/gone:1.0").problem.cause == "tag-not-found"
    assert resolve(registry, f"app/gone@{digest}").ok


def test_missing_repository_is_tag_not_found(registry):
    result = resolve(registry, "nobody/here:1")
    assert result.problem.cause == "tag-not-found"
    assert "NAME_UNKNOWN" in result.problem.evidence
    assert "repository nobody/here not found" in result.problem.detail


def test_htpasswd_registry_refuses_anonymous(htpasswd_registry):
    htpasswd_registry.push_image("team/api", "1")
    result = resolve(htpasswd_registry, "team/api:1")
    assert result.problem.cause == "unauthorized"
    assert result.anonymous


def test_htpasswd_registry_accepts_basic_credentials(htpasswd_registry):
    htpasswd_registry.push_image("team/api", "1")
    cred = Credential("test config", "alice", "s3cret-alice")
    assert resolve(htpasswd_registry, "team/api:1", credential=cred).ok


def test_wrong_password_is_unauthorized_naming_the_credential_source(htpasswd_registry):
    htpasswd_registry.push_image("team/api", "1")
    cred = Credential("test config auths[x]", "alice", "wrong")
    result = resolve(htpasswd_registry, "team/api:1", credential=cred)
    assert result.problem.cause == "unauthorized"
    assert result.credential == "test config auths[x]"


def test_token_registry_with_user_credentials(token_registry):
    token_registry.push_image("private/app", "1")
    cred = Credential("test", "bob", "s3cret-bob")
    assert resolve(token_registry, "private/app:1", credential=cred).ok


def test_token_registry_anonymous_pull_of_public_repository(token_registry):
    token_registry.push_image("public/tool", "1")
    assert resolve(token_registry, "public/tool:1").ok


def test_token_registry_anonymous_on_private_repository_is_unauthorized(token_registry):
    token_registry.push_image("private/app", "1")
    assert resolve(token_registry, "private/app:1").problem.cause == "unauthorized"


def test_token_server_refusing_credentials_is_unauthorized(token_registry):
    token_registry.push_image("private/app", "1")
    cred = Credential("test", "bob", "nope")
    result = resolve(token_registry, "private/app:1", credential=cred)
    assert result.problem.cause == "unauthorized"
    assert "refused" in result.problem.detail


def test_one_token_request_covers_every_repository_and_one_manifest_request_per_reference(
    token_registry,
):
    server = token_registry.token_server
    repos = [f"private/app{i}" for i in range(5)]
    for repo in repos:
        for tag in ("1", "2", "3"):
            token_registry.push_image(repo, tag)
    token_registry.clear_requests()
    before = len(server.requests_for())
    resolver, client = resolver_for(token_registry, Credential("test", "bob", "s3cret-bob"))
    refs = [parse_reference(f"{token_registry.host}/{r}:{t}") for r in repos for t in "123"]
    results = resolver.resolve_all(refs * 10, lambda ref: False)
    client.close()
    assert all(r.ok for r in results.values())
    token_requests = server.requests_for()[before:]
    assert len(token_requests) == 1
    assert sorted(token_requests[0]["scopes"]) == sorted(f"repository:{r}:pull" for r in repos)
    manifest_hits = [r for r in token_registry.manifest_requests() if r["status"] == 200]
    assert len(manifest_hits) == len(refs)


def test_one_token_per_repository_when_multi_scope_requests_are_off(token_registry):
    server = token_registry.token_server
    repos = [f"private/solo{i}" for i in range(3)]
    for repo in repos:
        token_registry.push_image(repo, "1")
    before = len(server.requests_for())
    resolver, client = resolver_for(
        token_registry, Credential("test", "bob", "s3cret-bob"), multi_scope=False
    )
    refs = [parse_reference(f"{token_registry.host}/{r}:1") for r in repos]
    results = resolver.resolve_all(refs, lambda ref: False)
    client.close()
    assert all(r.ok for r in results.values())
    asked = server.requests_for()[before:]
    assert sorted(r["scopes"] for r in asked) == [[f"repository:{r}:pull"] for r in repos]


def test_scopes_a_multi_scope_token_does_not_grant_are_asked_alone(make_registry, tmp_path):
    issuer = TokenServer(tmp_path / "issuer", user_repos={"bob": ["shared/*"]})
    issuer.add_user("bob", "s3cret-bob")
    issuer.start()
    try:
        registry = make_registry(auth="token", token_server=issuer)
        for repo in ("shared/a", "shared/b", "secret/c"):
            registry.push_image(repo, "1")
        before = len(issuer.requests_for())
        resolver, client = resolver_for(registry, Credential("test", "bob", "s3cret-bob"))
        refs = [parse_reference(f"{registry.host}/{r}:1") for r in ("shared/a", "shared/b")]
        refs.append(parse_reference(f"{registry.host}/secret/c:1"))
        results = resolver.resolve_all(refs, lambda ref: False)
        client.close()
    finally:
        issuer.stop()
    assert [results[r].ok for r in refs] == [True, True, False]
    assert results[refs[2]].problem.cause == "unauthorized"
    asked = [r["scopes"] for r in issuer.requests_for()[before:]]
    assert len(asked[0]) == 3  # one request for all three ...
    assert asked[1:] == [["repository:secret/c:pull"]]  # ... then the refused one alone


def test_an_opaque_token_not_valid_for_every_scope_falls_back_to_one_per_repository(
    fault_server,
):
    """A token server whose tokens say nothing about what they grant, and a registry that
    accepts a token only when it names that one repository alone: the batch token's 401
    sends pullgate back to one token per repository."""

    def registry_and_realm(ex):  # noqa: ANN001, ANN202
        if ex.path.startswith("/token"):
            query = ex.path.split("?", 1)[1].split("&")
            scopes = [p.split("=", 1)[1] for p in query if p.startswith("scope=")]
            ex.send(200, json.dumps({"token": "opaque-" + "+".join(scopes)}).encode())
            return
        repo = ex.path.split("/manifests/")[0][len("/v2/") :]
        wanted = f"opaque-repository%3A{repo.replace('/', '%2F')}%3Apull"
        if ex.headers.get("authorization") == f"Bearer {wanted}":
            ex.serve_ok(None)
            return
        challenge = (
            f'Bearer realm="{ex.server.url}/token",service="fault",scope="repository:{repo}:pull"'
        )
        ex.send_error(401, "UNAUTHORIZED", "no", **{"WWW-Authenticate": challenge})

    server = fault_server(registry_and_realm)
    client = RegistryClient(ClientOptions(insecure=frozenset({server.host}), timeout=5))
    resolver = Resolver(client, lambda ref: [], concurrency=4)
    refs = [parse_reference(f"{server.host}/app/svc{i}:1") for i in range(3)]
    results = resolver.resolve_all(refs, lambda ref: False)
    client.close()
    assert all(r.ok for r in results.values()), [r.problem for r in results.values()]
    token_asks = [r for r in server.requests if r.path.startswith("/token")]
    assert len(token_asks) == 1 + len(refs)


def test_tls_registry_is_trusted_with_its_ca(tls_registry):
    tls_registry.push_image("app/web", "1")
    assert resolve(tls_registry, "app/web:1", insecure=False).ok


def test_tls_registry_without_its_ca_is_a_tls_finding(tls_registry):
    tls_registry.push_image("app/web", "1")
    resolver, client = resolver_for(tls_registry, insecure=False)
    client.close()
    client = RegistryClient(ClientOptions(timeout=5, deadline=30))
    result = Resolver(client, lambda ref: []).resolve(
        parse_reference(f"{tls_registry.host}/app/web:1"), False
    )
    client.close()
    assert result.problem.cause == "tls"
    assert "certificate" in result.problem.evidence.lower()


def test_head_first_policy_uses_head_and_skips_body_when_platforms_are_not_needed(registry):
    digest = registry.push_image("app/web", "1")
    registry.clear_requests()
    result = resolve(registry, "app/web:1", head_first=lambda domain: True)
    assert result.digest == digest
    assert [r["method"] for r in registry.manifest_requests()] == ["HEAD"]


def test_concurrent_resolution_shares_one_client_safely(token_registry):
    token_registry.push_index("public/multi", "1", ["linux/amd64", "linux/arm64"])
    resolver, client = resolver_for(token_registry)
    ref = parse_reference(f"{token_registry.host}/public/multi:1")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: resolver.resolve(ref, True), range(40)))
    client.close()
    assert all(r.ok for r in results)


@pytest.mark.parametrize("garbage", [b"not json", b"[]", json.dumps({"schemaVersion": 2}).encode()])
def test_garbage_manifest_is_registry_error(fault_server, garbage):
    from fault_server import Exchange

    def serve(ex: Exchange) -> None:
        ex.send(200, garbage, content_type="application/vnd.oci.image.manifest.v1+json")

    server = fault_server(serve)
    client = RegistryClient(
        ClientOptions(insecure=frozenset({server.host}), timeout=3, deadline=10)
    )
    result = Resolver(client, lambda ref: []).resolve(
        parse_reference(f"{server.host}/app/x:1"), False
    )
    client.close()
    assert result.problem.cause == "registry-error"
