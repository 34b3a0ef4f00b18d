"""Registry faults, end to end through `pullgate check --format json`: the loopback fault stand-in
(tests/fault_server.py) alone or in front of the real registry. Every run must end within its
bound with the right cause and the registry's own words as evidence; nothing may hang.

Short timeouts throughout (--timeout 0.5): two retries with 0.25 s + 0.5 s backoff follow a
failed attempt, so a request that never succeeds costs at most about 3 x 0.5 + 0.75 s.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from conftest import HTPASSWD_USERS
from fault_server import MANIFEST_TYPE, Exchange, FaultServer, refused_port
from registry_server import TokenServer

from gate.cli import main
from gate.registry.protocol import MAX_MANIFEST_BYTES

TIMEOUT = "0.5"
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
{containers}"""


@dataclass
class Result:
    exit_code: int
    report: dict
    seconds: float
    stderr: str

    @property
    def findings(self) -> list[dict]:
        return self.report["findings"]

    def only(self) -> dict:
        """The one error finding of the run."""
        errors = [f for f in self.findings if f["severity"] == "error"]
        assert len(errors) == 1, self.findings
        return errors[0]


def check(tmp_path: Path, images: list[str], host: str, *extra: str) -> Result:
    containers = "".join(
        f"    - name: c{i}\n      image: {image}\n" for i, image in enumerate(images)
    )
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.format(containers=containers))
    args = ["check", str(manifest), "--insecure-registry", host, "--format", "json"]
    args += ["--timeout", TIMEOUT, "--deadline", "20", *extra]
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    seconds = time.monotonic() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Result(result.exit_code, json.loads(result.stdout), seconds, result.stderr)


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = tmp_path / "docker-config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(path)


def manifest_requests(server: FaultServer, at: str = "main") -> list:
    return [r for r in server.requests_at(at) if "/manifests/" in r.path]


# --- throttling -----------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_for_then_reported_as_rate_limited(tmp_path, fault_server):
    server = fault_server("429")  # Retry-After: 1
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "rate-limited"
    assert "TOOMANYREQUESTS" in finding["evidence"]
    assert len(manifest_requests(server)) == 3  # the first try and two honoured Retry-Afters
    assert 2.0 <= result.seconds < 5.0


def test_429_without_retry_after_is_reported_at_once(tmp_path, fault_server):
    server = fault_server("429-no-retry-after")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    assert result.only()["cause"] == "rate-limited"
    assert "pull rate limit" in result.only()["evidence"]
    assert len(manifest_requests(server)) == 1
    assert result.seconds < 2.0


def test_429_asking_for_an_hour_is_not_waited_for(tmp_path, fault_server):
    from fault_server import RateLimited

    server = fault_server(RateLimited(retry_after="3600"))
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    assert result.only()["cause"] == "rate-limited"
    assert result.seconds < 2.0


# --- server errors --------------------------------------------------------------------------


def test_503_then_success_passes_after_retries(tmp_path, fault_server, registry):
    registry.push_image("app/web", "1.0")
    server = fault_server("503-then-ok", failures=2, upstream=registry)
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    assert result.exit_code == 0, result.findings
    assert result.report["result"] == "pass"
    assert [r.path for r in manifest_requests(server)] == ["/v2/app/web/manifests/1.0"] * 3
    assert registry.manifest_requests("app/web")[-1]["status"] == 200  # the real registry's
    assert 0.7 <= result.seconds < 4.0


def test_500_forever_is_registry_error_with_the_registrys_words(tmp_path, fault_server):
    server = fault_server("500")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert finding["evidence"] == "UNKNOWN: unknown error"
    assert "500" in finding["signature"]
    assert len(manifest_requests(server)) == 3
    assert result.seconds < 4.0


# --- broken connections and bodies ----------------------------------------------------------


def test_connection_reset_mid_response_is_unreachable(tmp_path, fault_server):
    server = fault_server("reset")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert "connection reset by peer" in finding["signature"]
    assert "reset" in finding["evidence"].lower()
    assert result.seconds < 4.0


def test_server_that_never_answers_times_out_within_the_bound(tmp_path, fault_server):
    server = fault_server("hang")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert "i/o timeout" in finding["signature"]
    assert result.seconds < 6.0


def test_connection_refused_is_unreachable(tmp_path):
    host = f"127.0.0.1:{refused_port()}"
    result = check(tmp_path, [f"{host}/app/web:1.0"], host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert "connection refused" in finding["signature"]
    assert result.seconds < 4.0


def test_non_json_manifest_is_registry_error_quoting_the_answer(tmp_path, fault_server):
    server = fault_server("garbage")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert "not JSON" in finding["signature"]
    assert "Welcome to nginx" in finding["evidence"]
    assert result.seconds < 2.0


def test_truncated_manifest_is_an_unexpected_eof(tmp_path, fault_server):
    server = fault_server("truncated")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert "unexpected EOF" in finding["signature"]
    assert "complete message body" in finding["evidence"]
    assert result.seconds < 4.0


def test_100_mb_manifest_announced_by_content_length_is_refused_unread(tmp_path, fault_server):
    server = fault_server("huge")
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert f"exceeds the {MAX_MANIFEST_BYTES} byte limit" in finding["evidence"]
    assert result.seconds < 2.0  # reading 100 MB at the stand-in's pace takes over 15 s


class EndlessChunks:
    """200, a manifest type and no Content-Length: 64 KiB chunks, as fast as the client reads,
    until it stops reading (or 100 MB). `sent` counts what went out."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()

    def __call__(self, ex: Exchange) -> None:
        handler = ex.handler
        handler.send_response(200)
        handler.send_header("Content-Type", MANIFEST_TYPE)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        chunk = b'{"schemaVersion": 2, "padding": "' + b" " * (65536 - 33)
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        try:
            while self.sent < 100 * 1024 * 1024 and not ex.server.stopping.is_set():
                handler.wfile.write(frame)
                self.sent += len(chunk)
        except OSError:
            pass  # the client stopped reading
        finally:
            self.done.set()


def test_endless_chunked_manifest_is_capped_not_read(tmp_path, fault_server):
    endless = EndlessChunks()
    server = fault_server(endless)
    result = check(tmp_path, [f"{server.host}/app/web:1.0"], server.host)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert f"exceeds the {MAX_MANIFEST_BYTES} byte limit" in finding["evidence"]
    assert endless.done.wait(5)
    assert endless.sent < 32 * 1024 * 1024  # the cap, plus what socket buffers held
    assert result.seconds < 5.0


# --- redirects and where credentials go -----------------------------------------------------


def test_redirect_to_the_same_host_keeps_credentials_and_resolves(
    tmp_path, fault_server, htpasswd_registry
):
    htpasswd_registry.push_image("team/api", "1")
    server = fault_server("redirect-same-host", upstream=htpasswd_registry)
    user, password = next(iter(HTPASSWD_USERS.items()))
    config = docker_config(tmp_path, server.host, user, password)
    result = check(tmp_path, [f"{server.host}/team/api:1"], server.host, "--docker-config", config)
    assert result.exit_code == 0, result.findings
    redirected = [r for r in server.requests_at() if r.path.startswith("/redirected/")]
    assert any("authorization" in r.headers for r in redirected)


def test_redirect_to_another_host_drops_credentials(tmp_path, fault_server, htpasswd_registry):
    htpasswd_registry.push_image("team/api", "1")
    server = fault_server("redirect-other-host", upstream=htpasswd_registry)
    user, password = next(iter(HTPASSWD_USERS.items()))
    config = docker_config(tmp_path, server.host, user, password)
    other = server.behaviour.other.host  # named insecure too, so its plain-HTTP words are quoted
    extra = ["--docker-config", config, "--insecure-registry", other]
    result = check(tmp_path, [f"{server.host}/team/api:1"], server.host, *extra)
    # The credential was used where it belongs ...
    assert any("authorization" in r.headers for r in manifest_requests(server))
    # ... and never reached the other host, which, without it, is refused by the registry.
    assert manifest_requests(server, "other")
    assert not server.authorization_at_other_host
    finding = result.only()
    assert finding["cause"] == "unauthorized"
    assert "UNAUTHORIZED" in finding["evidence"]
    assert result.seconds < 3.0


# --- the token server -----------------------------------------------------------------------


class RealmAt(TokenServer):
    """A token issuer the registry trusts, announced at another address (a fault stand-in)."""

    def __init__(self, directory: Path, realm: str) -> None:
        super().__init__(directory)
        self._realm = realm

    @property
    def realm(self) -> str:
        return self._realm


def registry_with_realm(make_registry, tmp_path: Path, realm: str):
    return make_registry(auth="token", token_server=RealmAt(tmp_path / "issuer", realm))


def test_token_server_down_is_unreachable_naming_the_token_server(tmp_path, make_registry):
    dead = f"127.0.0.1:{refused_port()}"
    registry = registry_with_realm(make_registry, tmp_path, f"http://{dead}/token")
    result = check(tmp_path, [f"{registry.host}/private/app:1"], registry.host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert f"token server {dead}" in finding["signature"] + finding["evidence"]
    assert "refused" in finding["signature"]
    assert result.seconds < 4.0


def test_token_server_answering_garbage_is_registry_error_quoting_it(
    tmp_path, make_registry, fault_server
):
    issuer = fault_server("garbage")
    registry = registry_with_realm(make_registry, tmp_path, f"{issuer.url}/token")
    # A plain-HTTP realm's words are quoted only when its address is named insecure.
    extra = ["--insecure-registry", issuer.host]
    result = check(tmp_path, [f"{registry.host}/private/app:1"], registry.host, *extra)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert "sent no token" in finding["signature"]
    assert "Welcome to nginx" in finding["evidence"]
    assert result.seconds < 2.0


def test_token_server_failing_with_500_is_registry_error(tmp_path, make_registry, fault_server):
    issuer = fault_server("500")
    registry = registry_with_realm(make_registry, tmp_path, f"{issuer.url}/token")
    # A plain-HTTP realm's words are quoted only when its address is named insecure.
    extra = ["--insecure-registry", issuer.host]
    result = check(tmp_path, [f"{registry.host}/private/app:1"], registry.host, *extra)
    finding = result.only()
    assert finding["cause"] == "registry-error"
    assert finding["evidence"] == f"500 from {issuer.host}: UNKNOWN: unknown error"
    assert len(issuer.requests) == 3
    assert result.seconds < 4.0


def test_token_server_that_never_answers_times_out(tmp_path, make_registry, fault_server):
    issuer = fault_server("hang")
    registry = registry_with_realm(make_registry, tmp_path, f"{issuer.url}/token")
    result = check(tmp_path, [f"{registry.host}/private/app:1"], registry.host)
    finding = result.only()
    assert finding["cause"] == "unreachable"
    assert "i/o timeout" in finding["signature"]
    assert result.seconds < 5.0


# --- many images, one host ------------------------------------------------------------------


def test_a_dead_host_costs_one_requests_timeouts_not_one_per_image(tmp_path, fault_server):
    server = fault_server("hang")
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(6)]
    result = check(tmp_path, images, server.host)
    assert {f["cause"] for f in result.findings if f["severity"] == "error"} == {"unreachable"}
    assert len([f for f in result.findings if f["severity"] == "error"]) == 6
    assert len(server.requests) == 3  # the first image's tries; the others learnt from them
    assert result.seconds < 4.0


def test_concurrent_first_requests_to_a_new_host_probe_and_challenge_once(
    tmp_path, htpasswd_registry
):
    images = 8
    for i in range(images):
        htpasswd_registry.push_image(f"team/svc{i % 2}", f"v{i}")
    user, password = next(iter(HTPASSWD_USERS.items()))
    config = docker_config(tmp_path, htpasswd_registry.host, user, password)
    refs = [f"{htpasswd_registry.host}/team/svc{i % 2}:v{i}" for i in range(images)]
    htpasswd_registry.clear_requests()
    result = check(tmp_path, refs, htpasswd_registry.host, "--docker-config", config)
    assert result.exit_code == 0, result.findings
    answered = htpasswd_registry.manifest_requests()
    assert [r["status"] for r in answered].count(401) == 1
    assert [r["status"] for r in answered].count(200) == images
