"""What the node's runtime would say about a registry, told from what pullgate saw: a registry
that speaks plain HTTP, insecure-registry entries written as URLs, and catalog text that follows
the evidence (no refused credentials when none were sent, no Docker Hub for other registries, no
https:// commands for a plain-HTTP registry). The real registry and the fault stand-in, through
the CLI."""

from __future__ import annotations

import json

from test_check import check_json, deployment, only, pullgate

# ---- a registry that speaks plain HTTP -----------------------------------------------------------


def test_plain_http_registry_not_named_insecure_is_plain_http_not_tls(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    code, report = check_json(tmp_path, [f"{registry.host}/team/app:1.0"])
    finding = only(report, "plain-http")
    assert code == 1
    assert finding["signature"].endswith("http: server gave HTTP response to HTTPS client")
    assert "x509" not in json.dumps(finding) and "--ca-file" not in finding["fix"]
    assert f"/etc/containerd/certs.d/{registry.host}/hosts.toml" in finding["fix"]
    assert f"--insecure-registry {registry.host}" in finding["fix"]
    assert f"http://{registry.host}/v2/ answered 200 over plain HTTP" in finding["evidence"]


def test_containerds_plain_http_message_is_explained_as_plain_http(tmp_path):
    message = (
        'Failed to pull image "10.0.0.5:5000/team/app:1.0": failed to do request: Head'
        ' "https://10.0.0.5:5000/v2/team/app/manifests/1.0": http: server gave HTTP response to'
        " HTTPS client"
    )
    done = pullgate("explain", "--format", "json", "-", stdin=message)
    assert done.returncode == 1, done.stderr
    assert "plain-http" in done.stdout and '"tls"' not in done.stdout


# ---- --insecure-registry and insecure-registries: written as URLs --------------------------------


def test_insecure_registry_given_with_http_scheme_is_honoured(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    image = f"{registry.host}/team/app:1.0"
    code, report = check_json(tmp_path, [image], "--insecure-registry", f"http://{registry.host}/")
    assert code == 0, report["findings"]


def test_insecure_registry_with_another_scheme_or_a_path_is_one_line_exit_2(tmp_path, registry):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment([f"{registry.host}/team/app:1.0"]))
    for entry in (f"ftp://{registry.host}", f"http://{registry.host}/v2/"):
        done = pullgate("check", str(manifest), "--insecure-registry", entry)
        assert done.returncode == 2, done.stdout
        assert len(done.stderr.splitlines()) == 1 and entry in done.stderr
        assert "Traceback" not in done.stderr


def test_config_insecure_registries_with_scheme_are_honoured(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    (tmp_path / ".pullgate.yaml").write_text(
        f"insecure-registries:\n  - 'https://{registry.host}'\n"
    )
    (tmp_path / "deploy.yaml").write_text(deployment([f"{registry.host}/team/app:1.0"]))
    done = pullgate("check", "deploy.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_config_insecure_registry_that_is_not_a_host_names_its_line(tmp_path):
    (tmp_path / ".pullgate.yaml").write_text(
        "concurrency: 4\ninsecure-registries:\n  - registry.lab:5000\n  - ssh://registry.lab\n"
    )
    (tmp_path / "deploy.yaml").write_text(deployment(["registry.lab:5000/team/app:1.0"]))
    done = pullgate("check", "deploy.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / '.pullgate.yaml'}:4: insecure-registries: 'ssh://registry.lab'" in (
        done.stderr
    )
    assert len(done.stderr.splitlines()) == 1
