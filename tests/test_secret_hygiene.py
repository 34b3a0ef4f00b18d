"""Secrets stay secret, and TLS stays verified unless a registry is named.

One run of `pullgate check` writes every report format (the CLI's own list) while it handles
credentials of every kind: Docker config passwords (right and wrong), a refresh token
(`identitytoken`), bearer tokens the token server issues, and pull secrets from the input and
from a cluster state file, tried against the registry with --verify-credentials. Python logging
is on at DEBUG for the whole run (pullgate has no --verbose; if one appears, the test uses it),
so the libraries' logs are searched too. No secret, token, or base64 of either may appear in
stdout, stderr, a report file or a log line.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from kube_fake import namespace, node, pull_secret, service_account
from registry_server import TokenServer

from gate.cli import FORMAT_NAMES, main

ROOT = Path(__file__).resolve().parent.parent
DEBUG_FLAGS = ("--verbose", "-v", "--debug", "--log-level")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class RecordingTokenServer(TokenServer):
    """The tests' JWT issuer, remembering every token it hands out."""

    def __init__(self, directory: Path, **kwargs) -> None:
        super().__init__(directory, **kwargs)
        self.issued: list[str] = []

    def issue(self, query, authorization):  # noqa: ANN001, ANN201 - the parent's signature
        status, body = super().issue(query, authorization)
        if "token" in body:
            self.issued.append(body["token"])
        return status, body


@dataclass
class Secrets:
    """Every secret value of the run, and the texts that must never show it."""

    values: set[str] = field(default_factory=set)

    def add(self, value: str, user: str | None = None) -> str:
        self.values |= {value, b64(value)}
        if user is not None:
            self.values |= {f"{user}:{value}", b64(f"{user}:{value}")}
        return value

    def add_token(self, token: str) -> None:
        # a JWT: the whole token, its signature, and its base64 (as a Basic auth would carry it)
        self.values |= {token, token.rsplit(".", 1)[-1], b64(token)}

    def leaked(self, text: str) -> list[str]:
        return sorted(v for v in self.values if v and v in text)


def fresh(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


def check_options() -> list[str]:
    ctx = click.Context(main)
    return main.get_command(ctx, "check").get_help(ctx).split()


def debug_flags() -> list[str]:
    """Whatever verbose/debug switch `check` has grown (none so far)."""
    help_words = set(check_options())
    flags = [flag for flag in DEBUG_FLAGS if flag in help_words]
    return [*flags[:1], "debug"] if "--log-level" in flags[:1] else flags[:1]


def test_every_format_the_cli_lists_is_run_here():
    help_text = " ".join(check_options())
    for name in FORMAT_NAMES:
        assert name in help_text


def test_no_output_log_or_report_shows_a_credential_or_token(tmp_path, make_registry):
    found = Secrets()
    issuer = RecordingTokenServer(tmp_path / "issuer")
    issuer.start()
    try:
        run_everything(tmp_path, make_registry, issuer, found)
    finally:
        issuer.stop()


def run_everything(tmp_path: Path, make_registry, issuer: RecordingTokenServer, found: Secrets):
    # Registries: Basic (right and wrong password), token (user), token (refresh token).
    carol = found.add(fresh("carol-pw"), "carol")
    erin = found.add(fresh("erin-pw"), "erin")
    wrong = found.add(fresh("wrong-pw"), "erin")
    dave = found.add(fresh("dave-pw"), "dave")
    refresh = found.add(fresh("refresh-token"))
    basic_ok = make_registry(auth="htpasswd", users={"carol": carol})
    basic_bad = make_registry(auth="htpasswd", users={"erin": erin})
    issuer.add_user("dave", dave)
    tokens = make_registry(auth="token", token_server=issuer)
    refreshing = make_registry(auth="token")  # its own issuer, which takes no refresh token
    basic_ok.push_image("shop/web", "1.0")
    basic_bad.push_image("shop/api", "1.0")
    tokens.push_image("private/app", "1.0")
    refreshing.push_image("private/tool", "1.0")
    issuer.issued.clear()  # the fixtures' own push tokens are not pullgate's

    config = tmp_path / "docker-config.json"
    auths = {
        basic_ok.host: {"auth": b64(f"carol:{carol}")},
        basic_bad.host: {"username": "erin", "password": wrong},
        tokens.host: {"auth": b64(f"dave:{dave}")},
        refreshing.host: {"identitytoken": refresh},
    }
    config.write_text(json.dumps({"auths": auths}))

    # Pull secrets: one in the input, two in the cluster state (one stale).
    inline_pw = found.add(fresh("inline-pw"), "erin")
    stale_pw = found.add(fresh("stale-pw"), "carol")
    inline = pull_secret("shop", "inline", {basic_bad.host: ("erin", inline_pw)})
    stale = pull_secret("shop", "stale", {basic_ok.host: ("carol", stale_pw)})
    good = pull_secret("shop", "good", {basic_ok.host: ("carol", carol)})
    for secret in (inline, stale, good):
        found.values |= set(secret["data"].values())
    state = tmp_path / "cluster.yaml"
    items = [
        node("node-1", "pool"),
        namespace("shop"),
        service_account("shop", "default", ["good"]),
        stale,
        good,
    ]
    state.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))

    def pod(name: str, image: str, secret_names: list[str] = ()) -> dict:
        spec: dict = {"containers": [{"name": name, "image": image}]}
        if secret_names:
            spec["imagePullSecrets"] = [{"name": s} for s in secret_names]
        meta = {"name": name, "namespace": "shop"}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

    objects = [
        inline,
        pod("ok", f"{basic_ok.host}/shop/web:1.0"),
        pod("missing", f"{basic_ok.host}/shop/web:2.0"),
        pod("stale", f"{basic_ok.host}/shop/web:1.0", ["stale"]),
        pod("wrong", f"{basic_bad.host}/shop/api:1.0", ["inline"]),
        pod("token", f"{tokens.host}/private/app:1.0"),
        pod("token-missing", f"{tokens.host}/private/app:9.9"),
        pod("refresh", f"{refreshing.host}/private/tool:1.0"),
    ]
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(yaml.safe_dump_all(objects))

    hosts = [basic_ok.host, basic_bad.host, tokens.host, refreshing.host]
    # Their issuers speak plain HTTP on other ports: credentials go there only when named.
    hosts += [issuer.host, refreshing.token_server.host]
    reports = {name: tmp_path / f"report.{name}" for name in FORMAT_NAMES if name != "text"}
    args = ["check", str(manifests), "--docker-config", str(config), "--timeout", "5"]
    args += ["--cluster-state", str(state), "--verify-credentials", "--format", "text"]
    for name, path in reports.items():
        args += ["--format", f"{name}={path}"]
    for host in hosts:
        args += ["--insecure-registry", host]
    args += debug_flags()

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception

    # The run did meet every kind of secret ...
    assert issuer.issued, "the token server issued no token to pullgate"
    for token in issuer.issued:
        found.add_token(token)
    report = json.loads(reports["json"].read_text())
    causes = {f["cause"] for f in report["findings"]}
    # a stale and a wrong pull secret refused, a tag missing, the refresh token refused
    assert {"pull-secret-rejected", "tag-not-found", "registry-error"} <= causes, causes
    assert "HTTP Request" in log.getvalue()  # the transport logged at DEBUG: the logs were on
    # ... and showed none of them.
    texts = {"stdout": result.stdout, "stderr": result.stderr, "log": log.getvalue()}
    texts |= {f"report.{name}": path.read_text() for name, path in reports.items()}
    for where, text in texts.items():
        assert not found.leaked(text), f"{where} shows {found.leaked(text)}"


# --- TLS ------------------------------------------------------------------------------------

TLS_SWITCH_WORDS = ("insecure", "tls", "ssl", "verify", "skip")


def test_no_option_turns_tls_verification_off_for_every_registry():
    ctx = click.Context(main)
    for command_name in main.list_commands(ctx):
        command = main.get_command(ctx, command_name)
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            names = " ".join(param.opts + param.secondary_opts).lower()
            if not any(word in names for word in TLS_SWITCH_WORDS):
                continue
            if param.name == "verify_credentials":
                continue  # tries pull secrets; nothing to do with TLS
            # Only per-registry exemptions: the option takes a host, it is not an on/off switch.
            assert not param.is_flag, f"{command_name} {names} is a switch"
            assert "HOST" in (param.metavar or ""), f"{command_name} {names}"


def pod_manifest(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "pod.yaml"
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def check_json(path: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main, ["check", str(path), "--format", "json", "--timeout", "5", *args]
    )
    return result.exit_code, json.loads(result.stdout)


def test_untrusted_certificate_of_an_unnamed_registry_fails_tls(tmp_path, tls_registry):
    tls_registry.push_image("shop/web", "1.0")
    path = pod_manifest(tmp_path, f"{tls_registry.host}/shop/web:1.0")
    code, report = check_json(path, "--insecure-registry", "127.0.0.1:1")  # another registry
    assert code == 1
    [finding] = report["findings"]
    assert finding["cause"] == "tls"
    assert "certificate" in finding["evidence"].lower()


def test_other_tools_switches_do_not_turn_verification_off(tmp_path, tls_registry):
    """PYTHONHTTPSVERIFY=0 (urllib), empty or foreign CA bundles (requests, curl) are not
    pullgate's: it still verifies, in a fresh process that read them at start."""
    tls_registry.push_image("shop/web", "1.0")
    path = pod_manifest(tmp_path, f"{tls_registry.host}/shop/web:1.0")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONHTTPSVERIFY": "0",
        "REQUESTS_CA_BUNDLE": str(tls_registry.ca_file),
        "CURL_CA_BUNDLE": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(path), "--format", "json", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert [f["cause"] for f in json.loads(done.stdout)["findings"]] == ["tls"]


@pytest.mark.parametrize("trust", ["insecure", "ca-file"])
def test_a_named_registry_or_its_ca_is_what_makes_it_pass(tmp_path, tls_registry, trust):
    tls_registry.push_image("shop/web", "1.0")
    path = pod_manifest(tmp_path, f"{tls_registry.host}/shop/web:1.0")
    extra = (
        ["--insecure-registry", tls_registry.host]
        if trust == "insecure"
        else ["--ca-file", str(tls_registry.ca_file)]
    )
    code, report = check_json(path, *extra)
    assert code == 0, report["findings"]


def test_credentials_do_not_go_to_a_token_realm_on_another_host_over_http(tmp_path, make_registry):
    """The registry names a plain-http realm on another host name (localhost, not 127.0.0.1):
    pullgate asks it anonymously rather than send the password in the clear."""
    password = fresh("dave-pw")

    class LocalhostRealm(TokenServer):
        @property
        def realm(self) -> str:
            return f"http://localhost:{self.port}/token"

    issuer = LocalhostRealm(tmp_path / "issuer", users={"dave": password}).start()
    try:
        registry = make_registry(auth="token", token_server=issuer)
        registry.push_image("private/app", "1.0")
        config = tmp_path / "docker-config.json"
        config.write_text(json.dumps({"auths": {registry.host: {"auth": b64(f"dave:{password}")}}}))
        path = pod_manifest(tmp_path, f"{registry.host}/private/app:1.0")
        code, report = check_json(
            path, "--insecure-registry", registry.host, "--docker-config", str(config)
        )
        asked = issuer.requests_for("repository:private/app:pull")
        assert asked, "pullgate never asked the token server"
        assert all(r["user"] is None for r in asked)  # no credential reached it
        assert code == 1
        assert [f["cause"] for f in report["findings"]] == ["unauthorized"]
    finally:
        issuer.stop()
