"""`pullgate check` end to end against the real registry: each cause with its file and line,
exit codes, offline mode, and request counts."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fault_server import FaultServer, ServerError, refused_port

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def deployment(image_lines: list[str], name: str = "app", namespace: str = "prod") -> str:
    containers = "".join(
        f"        - name: c{i}\n          image: {img}\n" for i, img in enumerate(image_lines)
    )
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          namespace: {namespace}
        spec:
          template:
            spec:
              containers:
        """) + textwrap.indent(containers, "    ")


def image_line(index: int) -> int:
    """Line of the index-th container's `image:` in `deployment()`."""
    return 11 + 2 * index


REPO = Path(__file__).resolve().parents[1]


def pullgate(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def no_credentials(tmp_path: Path) -> Path:
    """A Docker config with no credentials in it (a named config must exist)."""
    path = tmp_path / "empty-docker-config.json"
    path.write_text("{}")
    return path


def check_json(tmp_path: Path, images: list[str], *flags: str) -> tuple[int, dict]:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(images))
    done = pullgate(
        "check",
        str(manifest),
        "--format",
        "json",
        "--timeout",
        "3",
        "--deadline",
        "30",
        "--docker-config",
        str(no_credentials(tmp_path)),
        *flags,
    )
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def check_platforms(tmp_path: Path, registry, image: str, *platforms: str) -> tuple[int, dict]:
    """check_json on one image of the insecure test `registry`, for nodes of `platforms`."""
    flags = [flag for platform in platforms for flag in ("--platform", platform)]
    return check_json(
        tmp_path, [f"{registry.host}/{image}"], "--insecure-registry", registry.host, *flags
    )


def only(report: dict, cause: str) -> dict:
    found = [f for f in report["findings"] if f["cause"] == cause]
    assert len(found) == 1, report["findings"]
    return found[0]


def test_existing_image_passes_with_exit_0(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    code, report = check_json(
        tmp_path, [f"{registry.host}/team/app:1.0"], "--insecure-registry", registry.host
    )
    assert code == 0 and report["result"] == "pass" and report["findings"] == []


def test_deleted_tag_is_tag_not_found_at_its_line(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    registry.push_image("team/app", "1.1")
    registry.delete_tag("team/app", "1.0")
    code, report = check_json(
        tmp_path,
        ["busybox:1.36@sha256:" + "0" * 64, f"{registry.host}/team/app:1.0"],
        "--insecure-registry",
        registry.host,
        "--offline",
    )
    assert code == 0  # offline: nothing proven about the registry
    code, report = check_json(
        tmp_path, [f"{registry.host}/team/app:1.0"], "--insecure-registry", registry.host
    )
    finding = only(report, "tag-not-found")
    assert code == 1
    assert finding["line"] == image_line(0) and finding["file"].endswith("deploy.yaml")
    assert (finding["kind"], finding["namespace"], finding["name"], finding["container"]) == (
        "Deployment",
        "prod",
        "app",
        "c0",
    )
    assert "MANIFEST_UNKNOWN" in finding["evidence"]
    assert "1.1" in finding["fix"]


def test_missing_platform_is_platform_mismatch_naming_both_sides(tmp_path, registry):
    registry.push_image("team/app", "1.0", arch="amd64")
    code, report = check_platforms(tmp_path, registry, "team/app:1.0", "linux/amd64", "linux/arm64")
    finding = only(report, "platform-mismatch")
    assert code == 1 and finding["line"] == image_line(0)
    assert "linux/arm64" in finding["signature"]
    assert "linux/amd64" in finding["evidence"]


def test_a_32_bit_build_the_nodes_fall_back_to_is_a_warning_not_a_mismatch(tmp_path, registry):
    """containerd's default matcher takes a 386 build on amd64 nodes and an arm one on arm64
    nodes: the pull works, so the gate must not fail it as platform-mismatch."""
    registry.push_index("team/app", "1.0", ["linux/386", "linux/arm/v7"])
    code, report = check_platforms(tmp_path, registry, "team/app:1.0", "linux/amd64", "linux/arm64")
    assert code == 0, report
    finding = only(report, "platform-fallback")
    assert finding["severity"] == "warning"
    assert "linux/amd64 nodes pull linux/386" in finding["evidence"]
    assert "linux/arm64 nodes pull linux/arm/v7" in finding["evidence"]


def test_a_32_bit_build_is_no_fallback_for_another_architecture(tmp_path, registry):
    registry.push_image("team/app", "1.0", arch="386")
    code, report = check_platforms(tmp_path, registry, "team/app:1.0", "linux/arm64")
    assert code == 1
    assert only(report, "platform-mismatch")


def test_multi_arch_index_satisfies_every_target_platform(tmp_path, registry):
    registry.push_index("team/app", "1.0", ["linux/amd64", "linux/arm64"], attestation=True)
    code, report = check_platforms(tmp_path, registry, "team/app:1.0", "linux/amd64", "linux/arm64")
    assert code == 0, report


def test_private_registry_without_credentials_is_unauthorized_saying_whose(
    tmp_path, htpasswd_registry
):
    htpasswd_registry.push_image("team/app", "1.0")
    code, report = check_json(
        tmp_path,
        [f"{htpasswd_registry.host}/team/app:1.0"],
        "--insecure-registry",
        htpasswd_registry.host,
    )
    finding = only(report, "unauthorized")
    assert code == 1 and finding["line"] == image_line(0)
    assert "anonymous" in finding["fix"] or "anonymous" in json.dumps(finding)
    assert "kubectl create secret docker-registry" in finding["fix"]


def test_docker_config_credentials_are_used_for_the_pipeline_read(tmp_path, htpasswd_registry):
    import base64

    htpasswd_registry.push_image("team/app", "1.0")
    config = tmp_path / "docker.json"
    auth = base64.b64encode(b"alice:s3cret-alice").decode()
    config.write_text(json.dumps({"auths": {htpasswd_registry.host: {"auth": auth}}}))
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment([f"{htpasswd_registry.host}/team/app:1.0"]))
    done = pullgate(
        "check",
        str(manifest),
        "--insecure-registry",
        htpasswd_registry.host,
        "--docker-config",
        str(config),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_untrusted_certificate_is_tls(tmp_path, tls_registry):
    tls_registry.push_image("team/app", "1.0")
    code, report = check_json(tmp_path, [f"{tls_registry.host}/team/app:1.0"])
    finding = only(report, "tls")
    assert code == 1 and finding["line"] == image_line(0)
    assert "--ca-file" in finding["fix"]


def test_ca_file_makes_the_certificate_trusted(tmp_path, tls_registry):
    tls_registry.push_image("team/app", "1.0")
    code, report = check_json(
        tmp_path, [f"{tls_registry.host}/team/app:1.0"], "--ca-file", str(tls_registry.ca_file)
    )
    assert code == 0, report


def test_unresolvable_name_is_dns(tmp_path):
    code, report = check_json(tmp_path, ["registry.pullgate.invalid/team/app:1.0"])
    finding = only(report, "dns")
    assert code == 1 and "no such host" in finding["signature"]


def test_refused_port_is_unreachable(tmp_path):
    host = f"127.0.0.1:{refused_port()}"
    code, report = check_json(tmp_path, [f"{host}/team/app:1.0"], "--insecure-registry", host)
    finding = only(report, "unreachable")
    assert code == 1 and "refused" in finding["signature"]


def test_429_is_rate_limited_with_the_registry_words(tmp_path):
    with FaultServer("429-no-retry-after").start() as server:
        code, report = check_json(
            tmp_path, [f"{server.host}/team/app:1.0"], "--insecure-registry", server.host
        )
    finding = only(report, "rate-limited")
    assert code == 1 and "pull rate limit" in finding["evidence"]


def test_503_forever_is_registry_error_after_bounded_retries(tmp_path):
    with FaultServer(ServerError(503)).start() as server:
        code, report = check_json(
            tmp_path, [f"{server.host}/team/app:1.0"], "--insecure-registry", server.host
        )
        manifest_tries = [r for r in server.requests if "/manifests/" in r.path]
    finding = only(report, "registry-error")
    assert code == 1 and "503" in finding["signature"]
    assert 1 < len(manifest_tries) <= 6


def test_invalid_reference_is_found_without_network(tmp_path):
    code, report = check_json(tmp_path, ["registry.example.com/Team/App:1.0"], "--offline")
    finding = only(report, "invalid-reference")
    assert code == 1 and finding["resolved"] is None and finding["line"] == image_line(0)


def test_latest_is_mutable_tag_with_the_digest_to_pin(tmp_path, registry):
    digest = registry.push_image("team/app", "latest")
    code, report = check_json(
        tmp_path, [f"{registry.host}/team/app"], "--insecure-registry", registry.host
    )
    finding = only(report, "mutable-tag")
    assert code == 0 and finding["severity"] == "warning"
    assert digest in finding["fix"]


def test_strict_fails_on_warnings(tmp_path, registry):
    registry.push_image("team/app", "latest")
    code, _ = check_json(
        tmp_path,
        [f"{registry.host}/team/app:latest"],
        "--insecure-registry",
        registry.host,
        "--strict",
    )
    assert code == 1


def test_never_pull_is_a_warning_and_is_not_resolved(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - name: c
              image: registry.pullgate.invalid/app:1.0
              imagePullPolicy: Never
        """)
    )
    done = pullgate("check", str(manifest), "--format", "json")
    report = json.loads(done.stdout)
    assert [f["cause"] for f in report["findings"]] == ["never-pull"]
    assert report["findings"][0]["line"] == 7 and done.returncode == 0


def test_docker_hub_without_pull_secret_is_rate_limit_risk_offline(tmp_path):
    code, report = check_json(tmp_path, ["nginx:1.27"], "--offline")
    assert only(report, "rate-limit-risk")["severity"] == "warning"


def test_stdin_is_reported_as_dash(registry):
    registry.push_image("team/app", "1.0")
    done = pullgate(
        "check",
        "-",
        "--format",
        "json",
        "--insecure-registry",
        registry.host,
        stdin=deployment([f"{registry.host}/team/app:2.0"]),
    )
    finding = json.loads(done.stdout)["findings"][0]
    assert (finding["file"], finding["line"]) == ("-", image_line(0))


def test_json_output_is_the_only_thing_on_stdout(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment([f"{registry.host}/team/app:9"]))
    done = pullgate(
        "check", str(manifest), "--format", "json", "--insecure-registry", registry.host
    )
    report = json.loads(done.stdout)
    assert {"pullgate", "result", "summary", "findings"} <= set(report)
    assert set(report["summary"]) == {"images", "unique", "errors", "warnings"}


def test_hundreds_of_references_cost_one_manifest_request_each_and_one_token_request(
    tmp_path, token_registry
):
    server = token_registry.token_server
    repos = [f"public/svc{i}" for i in range(10)]
    for repo in repos:
        for tag in ("1", "2"):
            token_registry.push_image(repo, tag)
    token_registry.clear_requests()
    before = len(server.requests_for())
    refs = [f"{token_registry.host}/{repo}:{tag}" for repo in repos for tag in ("1", "2")]
    docs = [deployment(refs, name=f"app{n}") for n in range(15)]  # 300 uses, 20 unique
    for n, doc in enumerate(docs):
        (tmp_path / f"d{n}.yaml").write_text(doc)
    done = pullgate(
        "check",
        str(tmp_path),
        "--format",
        "json",
        "--insecure-registry",
        token_registry.host,
        "--docker-config",
        str(no_credentials(tmp_path)),
    )
    report = json.loads(done.stdout)
    assert report["summary"]["images"] == 300 and report["summary"]["unique"] == 20
    assert done.returncode == 0, report
    manifests = [r for r in token_registry.manifest_requests() if r["status"] == 200]
    assert len(manifests) == 20
    tokens = server.requests_for()[before:]
    assert len(tokens) == 1  # anonymous, every repository in one multi-scope request
    assert sorted(tokens[0]["scopes"]) == sorted(f"repository:{r}:pull" for r in repos)


def test_no_manifests_is_exit_2_with_one_line(tmp_path):
    done = pullgate("check", str(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_missing_path_is_exit_2(tmp_path):
    done = pullgate("check", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "nope.yaml" in done.stderr


def test_malformed_yaml_is_exit_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
    done = pullgate("check", str(bad), "--offline")
    assert done.returncode == 2
    assert f"{bad}:" in done.stderr and "Traceback" not in done.stderr


def test_bad_flag_is_exit_2(tmp_path):
    assert pullgate("check", "--platform", "linux", str(tmp_path)).returncode == 2


def test_version():
    done = pullgate("--version")
    assert done.returncode == 0 and "pullgate" in done.stdout


def test_config_file_supplies_platforms_and_insecure_registries(tmp_path, registry):
    registry.push_image("team/app", "1.0", arch="amd64")
    (tmp_path / ".pullgate.yaml").write_text(
        f"platforms: [linux/arm64]\ninsecure-registries: ['{registry.host}']\n"
    )
    (tmp_path / "deploy.yaml").write_text(deployment([f"{registry.host}/team/app:1.0"]))
    done = pullgate("check", "deploy.yaml", "--format", "json", cwd=tmp_path)
    assert only(json.loads(done.stdout), "platform-mismatch")


def test_flags_override_the_config_file(tmp_path, registry):
    registry.push_image("team/app", "1.0", arch="amd64")
    (tmp_path / ".pullgate.yaml").write_text(
        f"platforms: [linux/arm64]\ninsecure-registries: ['{registry.host}']\n"
    )
    (tmp_path / "deploy.yaml").write_text(deployment([f"{registry.host}/team/app:1.0"]))
    done = pullgate("check", "deploy.yaml", "--platform", "linux/amd64", cwd=tmp_path)
    assert done.returncode == 0, done.stdout


def test_ca_file_in_der_form_makes_the_certificate_trusted(tmp_path, tls_registry):
    tls_registry.push_image("team/app", "1.0")
    der = tmp_path / "corp-ca.cer"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(tls_registry.ca_file.read_text()))
    code, report = check_json(
        tmp_path, [f"{tls_registry.host}/team/app:1.0"], "--ca-file", str(der)
    )
    assert code == 0, report


@pytest.mark.parametrize("command", ["check", "pin"])
@pytest.mark.parametrize("content", [b"not a certificate\n", b"\x30\x82\x01\x00garbage", b""])
def test_ca_file_that_is_no_certificate_is_one_line_exit_2(tmp_path, command, content):
    bad = tmp_path / "ca.pem"
    bad.write_bytes(content)
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(["127.0.0.1:9/team/app:1.0"]))
    done = pullgate(command, str(manifest), "--ca-file", str(bad))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"pullgate: --ca-file {bad}: not a PEM or DER certificate"]
