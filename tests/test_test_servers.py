"""The test servers behave as the rest of the suite relies on: the real registry with each auth
mode and TLS, the token issuer, tag deletion, the request log, and every scripted fault."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import time

import httpx
import pytest
from conftest import require_binary
from fault_server import HUGE_SIZE, IMITATED_DIGEST, FaultServer, refused_port
from registry_server import (
    ALL_MANIFEST_TYPES,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Registry,
    TokenServer,
    libtrust_key_id,
)

ACCEPT = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}
FAULT_DEADLINE = 5.0


def client(verify: ssl.SSLContext | bool = True, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(verify=verify, trust_env=False, timeout=timeout)


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def bearer_challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["Www-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


# --- the real registry ---------------------------------------------------------------------


@pytest.mark.parametrize(("oci", "media_type"), [(True, OCI_INDEX), (False, DOCKER_LIST)])
def test_pushed_index_reads_back_with_its_type_digest_and_platforms(
    registry: Registry, oci: bool, media_type: str
) -> None:
    digest = registry.push_index(
        "lib/app", "v1", ["linux/amd64", "linux/arm/v7", "windows/amd64:10.0.20348.2113"], oci=oci
    )
    with client() as http:
        got = http.get(f"{registry.url}/v2/lib/app/manifests/v1", headers=ACCEPT)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == media_type
    assert got.headers["Docker-Content-Digest"] == digest
    platforms = [m["platform"] for m in got.json()["manifests"]]
    assert platforms == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm", "variant": "v7"},
        {"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.2113"},
    ]


def test_attestation_entries_are_unknown_platform_and_point_at_their_image(
    registry: Registry,
) -> None:
    registry.push_index("lib/app", "v1", ["linux/amd64"], attestation=True)
    with client() as http:
        index = http.get(f"{registry.url}/v2/lib/app/manifests/v1", headers=ACCEPT).json()
    image, attestation = index["manifests"]
    assert attestation["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert attestation["annotations"] == {
        "vnd.docker.reference.digest": image["digest"],
        "vnd.docker.reference.type": "attestation-manifest",
    }


def test_single_image_config_carries_its_platform_and_differs_per_tag(registry: Registry) -> None:
    first = registry.push_image("lib/one", "a", arch="arm64", variant="v8")
    second = registry.push_image("lib/one", "b", arch="arm64", variant="v8")
    assert first != second
    with client() as http:
        got = http.head(f"{registry.url}/v2/lib/one/manifests/a", headers=ACCEPT)
        assert got.headers["Content-Type"] == DOCKER_MANIFEST
        assert got.headers["Docker-Content-Digest"] == first
        manifest = http.get(f"{registry.url}/v2/lib/one/manifests/{first}", headers=ACCEPT).json()
        config = http.get(f"{registry.url}/v2/lib/one/blobs/{manifest['config']['digest']}")
    assert (config.json()["os"], config.json()["architecture"], config.json()["variant"]) == (
        "linux",
        "arm64",
        "v8",
    )


def test_deleted_tag_is_manifest_unknown_while_its_digest_still_resolves(
    registry: Registry,
) -> None:
    digest = registry.push_image("lib/gone", "old")
    registry.delete_tag("lib/gone", "old")
    with client() as http:
        by_tag = http.get(f"{registry.url}/v2/lib/gone/manifests/old", headers=ACCEPT)
        by_digest = http.get(f"{registry.url}/v2/lib/gone/manifests/{digest}", headers=ACCEPT)
    assert by_tag.status_code == 404
    assert error_codes(by_tag) == ["MANIFEST_UNKNOWN"]
    assert by_digest.status_code == 200


def test_request_log_lists_the_tests_requests_but_not_the_pushes(registry: Registry) -> None:
    registry.push_image("lib/app", "v1")
    with client() as http:
        http.head(f"{registry.url}/v2/lib/app/manifests/v1", headers=ACCEPT)
        http.get(f"{registry.url}/v2/lib/app/manifests/v1", headers=ACCEPT)
        http.get(f"{registry.url}/v2/lib/app/manifests/missing", headers=ACCEPT)
    assert [(r["method"], r["path"], r["status"]) for r in registry.requests()] == [
        ("HEAD", "/v2/lib/app/manifests/v1", 200),
        ("GET", "/v2/lib/app/manifests/v1", 200),
        ("GET", "/v2/lib/app/manifests/missing", 404),
    ]
    assert len(registry.requests(include_setup=True)) > 3
    registry.clear_requests()
    assert registry.requests() == []


def test_htpasswd_registry_challenges_without_credentials_and_serves_with_them(
    htpasswd_registry: Registry,
) -> None:
    htpasswd_registry.push_image("team/app", "v1")
    url = f"{htpasswd_registry.url}/v2/team/app/manifests/v1"
    with client() as http:
        anonymous = http.get(url, headers=ACCEPT)
        wrong = http.get(url, headers=ACCEPT, auth=("alice", "wrong"))
        alice = http.get(url, headers=ACCEPT, auth=("alice", "s3cret-alice"))
    assert anonymous.status_code == 401
    assert anonymous.headers["Www-Authenticate"].startswith("Basic realm=")
    assert wrong.status_code == 401
    assert alice.status_code == 200
    assert [r["status"] for r in htpasswd_registry.requests()] == [401, 401, 200]


def test_token_flow_challenge_then_token_then_manifest(
    token_registry: Registry, token_server: TokenServer
) -> None:
    token_registry.push_image("team/app", "v1")
    url = f"{token_registry.url}/v2/team/app/manifests/v1"
    with client() as http:
        challenged = http.get(url, headers=ACCEPT)
        challenge = bearer_challenge(challenged)
        issued = http.get(
            challenge["realm"],
            params={"service": challenge["service"], "scope": challenge["scope"]},
            auth=("bob", "s3cret-bob"),
        )
        token = issued.json()["token"]
        served = http.get(url, headers={**ACCEPT, "Authorization": f"Bearer {token}"})
    assert challenged.status_code == 401
    assert challenge == {
        "realm": token_server.realm,
        "service": token_server.service,
        "scope": "repository:team/app:pull",
    }
    assert issued.json()["access_token"] == token and issued.json()["expires_in"] == 300
    assert served.status_code == 200
    assert [(r["user"], r["granted"]) for r in token_server.requests_for(challenge["scope"])] == [
        ("bob", [{"type": "repository", "name": "team/app", "actions": ["pull"]}])
    ]


def test_token_header_carries_the_libtrust_kid_and_a_string_audience(
    token_server: TokenServer,
) -> None:
    import jwt

    with client() as http:
        token = http.get(
            token_server.realm,
            params={"service": token_server.service, "scope": "repository:x/y:pull"},
            auth=("bob", "s3cret-bob"),
        ).json()["token"]
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid == libtrust_key_id(token_server._key.public_key())
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", kid)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == token_server.service


def test_anonymous_tokens_pull_public_repositories_only(token_registry: Registry) -> None:
    token_registry.push_image("public/tool", "v1")
    token_registry.push_image("private/tool", "v1")
    server = token_registry.token_server
    assert server is not None
    statuses = {}
    with client() as http:
        for repo in ("public/tool", "private/tool"):
            token = http.get(
                server.realm,
                params={"service": server.service, "scope": f"repository:{repo}:pull"},
            ).json()["token"]
            statuses[repo] = http.get(
                f"{token_registry.url}/v2/{repo}/manifests/v1",
                headers={**ACCEPT, "Authorization": f"Bearer {token}"},
            ).status_code
    assert statuses == {"public/tool": 200, "private/tool": 401}


def test_token_server_refuses_a_wrong_password(token_server: TokenServer) -> None:
    with client() as http:
        refused = http.get(
            token_server.realm,
            params={"service": token_server.service, "scope": "repository:x/y:pull"},
            auth=("bob", "not-bobs"),
        )
    assert refused.status_code == 401
    assert token_server.requests_for()[-1]["status"] == 401


def test_tls_registry_verifies_with_its_ca_and_is_refused_without(tls_registry: Registry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.ca_file is not None
    with client(ssl.create_default_context(cafile=str(tls_registry.ca_file))) as http:
        assert http.get(f"{tls_registry.url}/v2/").status_code == 200
    with client(ssl.create_default_context()) as http, pytest.raises(httpx.ConnectError) as err:
        http.get(f"{tls_registry.url}/v2/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


# --- the fault stand-in --------------------------------------------------------------------


def _manifest_url(server: FaultServer, ref: str = "v1") -> str:
    return f"{server.url}/v2/lib/app/manifests/{ref}"


@pytest.mark.parametrize(("behaviour", "retry_after"), [("429", "1"), ("429-no-retry-after", None)])
def test_rate_limit_answers_429_toomanyrequests(
    fault_server, behaviour: str, retry_after: str | None
) -> None:
    server = fault_server(behaviour)
    with client() as http:
        got = http.get(_manifest_url(server), headers=ACCEPT)
    assert got.status_code == 429
    assert got.headers.get("Retry-After") == retry_after
    assert error_codes(got) == ["TOOMANYREQUESTS"]


def test_503_then_ok_proxies_to_the_real_registry(fault_server, registry: Registry) -> None:
    digest = registry.push_image("lib/app", "v1")
    server = fault_server("503-then-ok", upstream=registry, failures=2)
    with client() as http:
        answers = [http.get(_manifest_url(server), headers=ACCEPT) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[2].headers["Docker-Content-Digest"] == digest
    assert [r["path"] for r in registry.requests()] == ["/v2/lib/app/manifests/v1"]


def test_500_answers_every_request(fault_server) -> None:
    server = fault_server("500")
    with client() as http:
        statuses = [http.get(_manifest_url(server), headers=ACCEPT).status_code for _ in range(3)]
    assert statuses == [500, 500, 500]


def test_reset_aborts_the_response(fault_server) -> None:
    server = fault_server("reset")
    with client() as http, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.get(_manifest_url(server), headers=ACCEPT)


def test_hang_times_out_the_client_and_ends_when_the_server_stops(fault_server) -> None:
    server = fault_server("hang")
    with client(timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.get(_manifest_url(server), headers=ACCEPT)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_garbage_is_a_200_manifest_that_is_not_json(fault_server) -> None:
    server = fault_server("garbage")
    with client() as http:
        got = http.get(_manifest_url(server), headers=ACCEPT)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    with pytest.raises(ValueError):
        json.loads(got.content)


def test_truncated_body_is_shorter_than_its_content_length(fault_server) -> None:
    server = fault_server("truncated")
    with client() as http, pytest.raises(httpx.RemoteProtocolError):
        http.get(_manifest_url(server), headers=ACCEPT)


def test_huge_announces_100_mb_and_streams_until_the_client_stops(fault_server) -> None:
    server = fault_server("huge")
    received = 0
    with client() as http, http.stream("GET", _manifest_url(server), headers=ACCEPT) as got:
        assert int(got.headers["Content-Length"]) == HUGE_SIZE
        for chunk in got.iter_bytes():
            received += len(chunk)
            if received >= 256 * 1024:
                break
    assert 256 * 1024 <= received < HUGE_SIZE


def test_redirect_same_host_serves_the_manifest_after_a_307(fault_server) -> None:
    server = fault_server("redirect-same-host")
    with client() as http:
        first = http.get(_manifest_url(server), headers=ACCEPT)
        followed = http.get(
            _manifest_url(server),
            headers={**ACCEPT, "Authorization": "Bearer t"},
            follow_redirects=True,
        )
    assert first.status_code == 307
    assert first.headers["Location"] == f"{server.url}/redirected/v2/lib/app/manifests/v1"
    assert followed.status_code == 200
    assert followed.headers["Docker-Content-Digest"] == IMITATED_DIGEST
    assert "authorization" in server.requests[-1].headers


def test_redirect_other_host_records_credentials_that_reach_it(fault_server) -> None:
    server = fault_server("redirect-other-host")
    with client() as http:
        careful = http.get(
            _manifest_url(server),
            headers={**ACCEPT, "Authorization": "Bearer t"},
            follow_redirects=True,
        )
        assert careful.status_code == 200
        assert [r.server for r in server.requests] == ["main", "other"]
        assert not server.authorization_at_other_host
        location = http.get(_manifest_url(server), headers=ACCEPT).headers["Location"]
        assert not location.startswith(server.url)
        http.get(location, headers={**ACCEPT, "Authorization": "Bearer t"})  # a leaky client
    assert server.authorization_at_other_host


def test_requests_are_recorded_with_their_headers(fault_server) -> None:
    server = fault_server("500")
    with client() as http:
        http.head(_manifest_url(server, "sha256:" + "0" * 64), headers={"Authorization": "Basic x"})
    (recorded,) = server.requests
    assert (recorded.method, recorded.path) == ("HEAD", f"/v2/lib/app/manifests/sha256:{'0' * 64}")
    assert recorded.headers["authorization"] == "Basic x"


def test_custom_behaviour_and_healthy_base_endpoint(fault_server) -> None:
    server = fault_server(lambda ex: ex.send_error(418, "TEAPOT", "short and stout"), base_ok=True)
    with client() as http:
        base = http.get(f"{server.url}/v2/")
        manifest = http.get(_manifest_url(server), headers=ACCEPT)
    assert (base.status_code, base.json()) == (200, {})
    assert (manifest.status_code, error_codes(manifest)) == (418, ["TEAPOT"])


def test_every_fault_answers_within_the_deadline(fault_server) -> None:
    started = time.monotonic()
    for behaviour in ("429", "500", "reset", "garbage", "truncated", "redirect-same-host"):
        server = fault_server(behaviour)
        with client(timeout=FAULT_DEADLINE) as http, contextlib.suppress(httpx.TransportError):
            http.get(_manifest_url(server), headers=ACCEPT)
    assert time.monotonic() - started < FAULT_DEADLINE


def test_refused_port_refuses_connections() -> None:
    with client() as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{refused_port()}/v2/")


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_binary("pullgate-no-such-binary")


def test_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_binary("pullgate-no-such-binary")
