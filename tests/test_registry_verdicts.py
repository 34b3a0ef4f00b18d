"""What the node's runtime would say about a registry, told from what pullgate saw: a registry
that speaks plain HTTP, insecure-registry entries written as URLs, and catalog text that follows
the evidence (no refused credentials when none were sent, no Docker Hub for other registries, no
https:// commands for a plain-HTTP registry). The real registry and the fault stand-in, through
the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from fault_server import FaultServer, ServerError, refused_port
from test_check import REPO, check_json, check_platforms, deployment, image_line, only, pullgate

from gate.causes import CATALOG, fill
from gate.cli import main

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
        "concurrency: 4\ninsecure-registries:\n  - localhost:5000\n  - ssh://registry.lab\n"
    )
    (tmp_path / "deploy.yaml").write_text(deployment(["registry.lab:5000/team/app:1.0"]))
    done = pullgate("check", "deploy.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / '.pullgate.yaml'}:4: insecure-registries: 'ssh://registry.lab'" in (
        done.stderr
    )
    assert len(done.stderr.splitlines()) == 1


# ---- the runner's own network --------------------------------------------------------------------


@pytest.fixture
def runner_dns(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """This runner's resolver, in-process: loopback resolves, names added to the returned set do
    not exist (NXDOMAIN), and no other name gets an answer at all (a runner without DNS)."""
    real = socket.getaddrinfo
    nxdomain: set[str] = set()

    def resolve(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - socket's own
        name = host.decode() if isinstance(host, bytes) else host
        if name in (None, "127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        if name in nxdomain:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return nxdomain


def empty_docker_config(tmp_path: Path) -> str:
    """A named Docker config with no credentials (a named file must exist)."""
    path = tmp_path / "none.json"
    path.write_text("{}")
    return str(path)


def check_here(tmp_path: Path, images: list[str], *flags: str) -> tuple[int, dict]:
    """The CLI in this process (so the runner_dns resolver applies)."""
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(images))
    args = ["check", str(manifest), "--format", "json", "--timeout", "3", "--deadline", "30"]
    args += ["--docker-config", empty_docker_config(tmp_path), *flags]
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, json.loads(result.stdout)


def by_cause(report: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in report["findings"]:
        found.setdefault(f["cause"], []).append(f["image"])
    return found


def test_public_registries_this_runner_cannot_resolve_are_its_network_not_the_manifest(
    tmp_path, registry, runner_dns
):
    registry.push_image("team/app", "1.0")
    local = f"{registry.host}/team/app:1.0"
    images = ["nginx:1.27", "ghcr.io/acme/api:2.1", local]
    code, report = check_here(tmp_path, images, "--insecure-registry", registry.host)
    assert code == 1
    assert by_cause(report) == {"runner-network": ["nginx:1.27", "ghcr.io/acme/api:2.1"]}
    hub = report["findings"][0]
    assert hub["evidence"].startswith("from this runner: registry-1.docker.io: lookup")
    assert "a public registry whose name always resolves" in hub["evidence"]
    assert "--offline" in hub["fix"] and "HTTPS_PROXY" in hub["fix"]
    assert "Check the host name" not in json.dumps(report)


def test_a_typo_host_that_does_not_exist_while_others_answer_is_dns_in_the_manifest(
    tmp_path, registry, runner_dns
):
    registry.push_image("team/app", "1.0")
    runner_dns.add("registy.corp.example")
    images = [f"{registry.host}/team/app:1.0", "registy.corp.example/team/app:1.0"]
    code, report = check_here(tmp_path, images, "--insecure-registry", registry.host)
    finding = only(report, "dns")
    assert code == 1 and "no such host" in finding["signature"]
    assert f"Check the host name in {tmp_path / 'deploy.yaml'}:{image_line(1)}" in finding["fix"]


def test_when_no_registry_host_resolves_the_runner_is_blamed(tmp_path, runner_dns):
    runner_dns.update({"registry.a.corp.example", "registry.b.corp.example"})
    images = ["registry.a.corp.example/team/app:1.0", "registry.b.corp.example/team/job:2.0"]
    code, report = check_here(tmp_path, images)
    assert code == 1
    assert sorted(by_cause(report)) == ["runner-network"]
    assert (
        "No registry of this run resolved or answered from this runner"
        in (report["findings"][0]["evidence"])
    )


def test_one_private_host_that_does_not_exist_and_nothing_else_stays_dns(tmp_path, runner_dns):
    runner_dns.add("registry.corp.example")
    code, report = check_here(tmp_path, ["registry.corp.example/team/app:1.0"])
    assert code == 1 and only(report, "dns")


def test_a_proxy_that_does_not_answer_is_the_runners_network(tmp_path):
    proxy = f"http://ci:hunter2@127.0.0.1:{refused_port()}"
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(["quay.io/acme/app:1.0"]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HTTPS_PROXY": proxy, "NO_PROXY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(manifest), "--format", "json"]
        + ["--timeout", "3", "--deadline", "30", "--docker-config", empty_docker_config(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    finding = only(json.loads(done.stdout), "runner-network")
    assert done.returncode == 1
    assert "through the proxy http://127.0.0.1:" in finding["evidence"]
    assert "hunter2" not in done.stdout + done.stderr


# ---- catalog text follows the evidence -----------------------------------------------------------


def check_text(tmp_path: Path, images: list[str], *flags: str) -> str:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(images))
    done = pullgate("check", str(manifest), "--timeout", "3", "--deadline", "30", *flags)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def test_unauthorized_with_no_credential_sent_does_not_say_one_was_refused(
    tmp_path, htpasswd_registry
):
    htpasswd_registry.push_image("team/app", "1.0")
    host = htpasswd_registry.host
    text = check_text(
        tmp_path,
        [f"{host}/team/app:1.0"],
        "--insecure-registry",
        host,
        "--docker-config",
        empty_docker_config(tmp_path),
    )
    assert "refused the credential" not in text
    assert f"pullgate sent no credential (its Docker config has none for {host})" in text


def test_unauthorized_with_a_refused_credential_says_so_and_renews_it(tmp_path, htpasswd_registry):
    import base64

    htpasswd_registry.push_image("team/app", "1.0")
    host = htpasswd_registry.host
    config = tmp_path / "docker.json"
    auth = base64.b64encode(b"alice:wrong-password").decode()
    config.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    code, report = check_json(
        tmp_path,
        [f"{host}/team/app:1.0"],
        "--insecure-registry",
        host,
        "--docker-config",
        str(config),
    )
    finding = only(report, "unauthorized")
    assert finding["fix"].startswith("Renew the credential pullgate presented")
    text = check_text(
        tmp_path,
        [f"{host}/team/app:1.0"],
        "--insecure-registry",
        host,
        "--docker-config",
        str(config),
    )
    assert (
        f"The registry refused the credential pullgate presented ({config} auths[{host}])" in text
    )
    assert "wrong-password" not in text and auth not in text


def test_rate_limited_by_another_registry_does_not_talk_about_docker_hub(tmp_path, fault_server):
    server = fault_server("429-no-retry-after")
    text = check_text(tmp_path, [f"{server.host}/team/app:1.0"], "--insecure-registry", server.host)
    assert "rate-limited" in text
    assert "Docker Hub" not in text
    assert f"{server.host} throttled the request (429)" in text


def test_rate_limit_headers_of_another_registry_are_quoted_and_its_reset_is_the_wait(tmp_path):
    def throttled(ex) -> None:  # noqa: ANN001 - fault_server's Exchange
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
        limits = {
            "RateLimit-Limit": "100;w=60",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "42",
        }
        ex.send(429, body, headers=limits)

    with FaultServer(throttled).start() as server:
        image = f"{server.host}/team/app:1.0"
        code, report = check_json(tmp_path, [image], "--insecure-registry", server.host)
    finding = only(report, "rate-limited")
    assert finding["evidence"] == (
        "TOOMANYREQUESTS: slow down (RateLimit-Limit: 100;w=60, RateLimit-Remaining: 0,"
        " RateLimit-Reset: 42)"
    )
    assert finding["fix"].startswith(
        "Wait out the window (Retry-After: not sent; RateLimit-Reset 42 s)"
    )
    assert "Docker Hub" not in json.dumps(finding)


def test_a_plain_http_registry_gets_http_commands(tmp_path):
    with FaultServer(ServerError(503)).start() as server:
        host = server.host
        code, report = check_json(tmp_path, [f"{host}/team/app:1.0"], "--insecure-registry", host)
    finding = only(report, "registry-error")
    assert f"curl -sI http://{host}/v2/" in finding["fix"]
    assert f"https://{host}" not in finding["fix"]


def test_a_digest_the_registry_does_not_hold_is_corrected_not_pinned(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    image = f"{registry.host}/team/app@sha256:{'ab' * 32}"
    code, report = check_json(tmp_path, [image], "--insecure-registry", registry.host)
    fix = only(report, "tag-not-found")["fix"]
    assert fix.startswith(f"{registry.host} holds no manifest sha256:")
    assert "correct the digest" in fix and "pin a digest once it exists" not in fix
    assert "Existing tags: 1.0." in fix


def test_a_repository_that_does_not_exist_is_said_so(tmp_path, registry):
    registry.push_image("team/app", "1.0")
    code, report = check_json(
        tmp_path, [f"{registry.host}/team/nope:1.0"], "--insecure-registry", registry.host
    )
    fix = only(report, "tag-not-found")["fix"]
    assert fix.startswith(f"Repository team/nope does not exist in {registry.host}.")
    assert "none listed" not in fix


def test_a_linux_image_on_windows_nodes_is_kept_on_linux_by_os_not_arch(tmp_path, registry):
    registry.push_image("team/app", "1.0", arch="amd64")
    code, report = check_platforms(tmp_path, registry, "team/app:1.0", "windows/amd64")
    fix = only(report, "platform-mismatch")["fix"]
    assert "nodeSelector kubernetes.io/os: linux" in fix
    assert "kubernetes.io/arch" not in fix


def test_no_fix_or_command_speaks_https_to_a_plain_http_registry():
    """Every catalog template, filled for a registry that answered over plain HTTP: only the
    causes about TLS itself (and ACR, always HTTPS) may name https://."""
    context = {"registry_host": "lab:5000", "registry_host_port": "lab:5000", "scheme": "http"}
    about_https = {"tls", "plain-http", "registry-network-restricted"}  # the last: ACR only
    about_https |= {c for c in CATALOG if c.startswith(("acr-", "aks-"))}  # ACR is HTTPS
    for row in CATALOG.values():
        if row.id in about_https:
            continue
        for flavor, template in {**row.fixes, **row.confirm}.items():
            if flavor.startswith("acr"):
                continue
            assert "https://lab:5000" not in fill(template, context), (row.id, flavor)
        assert "https://lab:5000" not in row.render_signature(context), row.id


@contextmanager
def banner_server(banner: bytes) -> Iterator[str]:
    """A loopback port that speaks neither TLS nor HTTP (an SSH-like banner, then close)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(banner)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_port_that_speaks_neither_tls_nor_http_stays_tls_without_a_ca_fix(tmp_path):
    with banner_server(b"SSH-2.0-OpenSSH_9.6\r\n") as host:
        code, report = check_json(tmp_path, [f"{host}/team/app:1.0"])
    finding = only(report, "tls")
    assert "first record does not look like a TLS handshake" in finding["signature"]
    assert finding["fix"].startswith(f"Check what listens on {host}")
    assert "--ca-file" not in finding["fix"]
