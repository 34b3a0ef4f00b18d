"""Hostile registries and token realms (issue 10): every run stays bounded in time and memory,
whatever bytes arrive become a finding for that image, credentials pullgate sent never come back
in the report, digests come from bytes, and credentials never cross plain HTTP unless named.

Loopback stand-ins from tests/fault_server.py, through `pullgate check` (in-process, or as a
subprocess where the exit time and peak memory of the real command are the point).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fault_server import IMITATED_DIGEST, IMITATED_MANIFEST, MANIFEST_TYPE, Exchange, error_body
from kube_fake import namespace, node, pull_secret, service_account

from gate.cli import main
from gate.registry.protocol import MAX_MANIFEST_BYTES

ROOT = Path(__file__).resolve().parent.parent
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
{containers}"""
NESTED = b"[" * 200_000  # far past the parser's recursion limit, far under the size caps


@dataclass
class Run:
    exit_code: int
    report: dict
    seconds: float
    output: str = ""

    @property
    def errors(self) -> list[dict]:
        return [f for f in self.report["findings"] if f["severity"] == "error"]

    def only(self) -> dict:
        assert len(self.errors) == 1, self.report["findings"]
        return self.errors[0]


def write_pod(tmp_path: Path, images: list[str]) -> Path:
    containers = "".join(f"    - name: c{i}\n      image: {im}\n" for i, im in enumerate(images))
    path = tmp_path / "pod.yaml"
    path.write_text(POD.format(containers=containers))
    return path


def check(tmp_path: Path, images: list[str], *extra: str, fmt: str = "json") -> Run:
    """`pullgate check` in-process; `extra` carries --insecure-registry and the like."""
    args = ["check", str(write_pod(tmp_path, images)), "--format", fmt, "--timeout", "1"]
    args += ["--deadline", "20", *extra] if "--deadline" not in extra else list(extra)
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    seconds = time.monotonic() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout) if fmt == "json" else {}
    return Run(result.exit_code, report, seconds, result.stdout)


# Starts the command and reports its peak RSS: the measured process must be forked from a small
# parent, since Linux counts a child's pre-exec memory (here, the whole pytest process) in its
# ru_maxrss.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(f'maxrss={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def check_process(tmp_path: Path, images: list[str], *extra: str) -> tuple[Run, int]:
    """The real command as a child: wall time to exit, and its own peak RSS in bytes."""
    args = [sys.executable, "-c", RSS_WRAPPER, sys.executable, "-m", "gate", "check"]
    args += [str(write_pod(tmp_path, images)), "--format", "json", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, env=env, timeout=120)
    seconds = time.monotonic() - started
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    assert done.returncode in (0, 1), err
    peak = int(err.rsplit("maxrss=", 1)[1].split()[0]) * 1024
    return Run(done.returncode, json.loads(done.stdout), seconds), peak


def insecure(*hosts: str) -> list[str]:
    return [arg for host in hosts for arg in ("--insecure-registry", host)]


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> list[str]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = tmp_path / "docker-config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return ["--docker-config", str(path)]


# --- behaviours -------------------------------------------------------------------------------


class Drip:
    """Answers every request one byte every `interval` seconds, status line first: each read
    returns in time, the answer never ends in time."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval

    def __call__(self, ex: Exchange) -> None:
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: " + MANIFEST_TYPE.encode() + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % len(IMITATED_MANIFEST) + IMITATED_MANIFEST
        )
        ex.handler.close_connection = True
        try:
            for byte in answer:
                ex.send_raw(bytes([byte]))
                ex.handler.wfile.flush()
                if ex.server.stopping.wait(self.interval):
                    return
        except OSError:
            pass


class Answering:
    """A manifest request answered with `body` (status, headers), `/v2/` healthy."""

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = MANIFEST_TYPE,
    ) -> None:
        self.body, self.status, self.headers = body, status, headers or {}
        self.content_type = content_type

    def __call__(self, ex: Exchange) -> None:
        if ex.is_manifest:
            ex.send(self.status, self.body, self.headers, self.content_type)
        else:
            ex.send_error(404, "NAME_UNKNOWN", "repository name not known to registry")


class DropFirst:
    """The first `drops` connections are reset before any answer; then a healthy registry."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.seen = 0
        self._lock = threading.Lock()

    def __call__(self, ex: Exchange) -> None:
        with self._lock:
            self.seen += 1
            dropping = self.seen <= self.drops
        if dropping:
            ex.reset()
        else:
            ex.serve_ok(None)


class TokenRealm:
    """A registry that is its own token realm: `/token` answers `token_body`; a manifest
    request without the token gets the Bearer challenge, with it `answer` decides."""

    def __init__(self, token_body: bytes, answer=None, realm: str | None = None) -> None:  # noqa: ANN001
        self.token_body = token_body
        self.answer = answer
        self.realm = realm
        self.token_requests: list[dict[str, str]] = []

    def __call__(self, ex: Exchange) -> None:
        if ex.path.startswith("/token"):
            self.token_requests.append(ex.headers)
            ex.send(200, self.token_body)
            return
        if "authorization" not in ex.headers:
            realm = self.realm or f"{ex.server.url}/token"
            challenge = f'Bearer realm="{realm}",service="fault",scope="repository:app/web:pull"'
            ex.send_error(
                401, "UNAUTHORIZED", "authentication required", **{"WWW-Authenticate": challenge}
            )
        elif self.answer is not None:
            self.answer(ex)
        else:
            ex.serve_ok(None)


# --- 1. the deadline bounds the run -------------------------------------------------------------


def test_a_one_byte_per_second_registry_ends_the_run_by_its_deadline(tmp_path, fault_server):
    server = fault_server(Drip())
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(3)]
    run, _ = check_process(
        tmp_path, images, *insecure(server.host), "--timeout", "30", "--deadline", "4"
    )
    assert run.seconds < 4 + 2.5  # interpreter start-up and the report included
    assert len(run.errors) == 3
    assert {f["cause"] for f in run.errors} == {"unreachable"}


def test_the_per_request_timeout_bounds_a_whole_answer_not_each_read(tmp_path, fault_server):
    server = fault_server(Drip(interval=0.2))
    run = check(
        tmp_path,
        [f"{server.host}/app/web:1.0"],
        *insecure(server.host),
        "--timeout",
        "0.5",
        "--deadline",
        "30",
    )
    assert run.only()["cause"] == "unreachable"
    assert "i/o timeout" in run.only()["signature"]
    assert run.seconds < 4.0  # three half-second tries and their pauses, not the 30 s deadline


def test_a_one_byte_per_second_token_realm_ends_the_run_by_its_deadline(tmp_path, fault_server):
    realm = fault_server(Drip())
    server = fault_server(TokenRealm(b"", realm=f"{realm.url}/token"))
    run, _ = check_process(
        tmp_path,
        [f"{server.host}/app/web:1.0"],
        *insecure(server.host, realm.host),
        "--timeout",
        "30",
        "--deadline",
        "4",
    )
    assert run.seconds < 4 + 2.5
    assert run.only()["cause"] == "unreachable"


def test_the_credential_checks_of_cluster_mode_share_the_runs_deadline(tmp_path, fault_server):
    """--verify-credentials asks the registry again after the pipeline's own resolution: both
    together end by the one deadline."""
    server = fault_server(Drip())
    secret = pull_secret("shop", "regcred", {server.host: ("carol", "s3cret-carol")})
    items = [node("node-1", "pool"), namespace("shop"), service_account("shop", "default", [])]
    state = tmp_path / "cluster.yaml"
    state.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [*items, secret]})
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "containers": [{"name": "web", "image": f"{server.host}/app/web:1.0"}],
            "imagePullSecrets": [{"name": "regcred"}],
        },
    }
    manifests = tmp_path / "pod.yaml"
    manifests.write_text(yaml.safe_dump(pod))
    args = [sys.executable, "-m", "gate", "check", str(manifests), "--format", "json"]
    args += ["--cluster-state", str(state), "--verify-credentials", *insecure(server.host)]
    args += ["--timeout", "30", "--deadline", "4"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, env=env, timeout=60)
    assert time.monotonic() - started < 4 + 3.0
    assert b"Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr.decode()


# --- 2. every answer capped while it streams -------------------------------------------------


class EndlessToken:
    """A token realm whose answer never ends: `{"token": "aaaa...` in 64 KiB chunks."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, ex: Exchange) -> None:
        h = ex.handler
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.close_connection = True
        chunk = b'{"token": "' + b"a" * 65525
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        try:
            while self.sent < 1 << 30 and not ex.server.stopping.is_set():
                h.wfile.write(frame)
                self.sent += len(chunk)
        except OSError:
            pass


def test_an_endless_token_answer_is_capped_while_it_streams(tmp_path, fault_server):
    endless = EndlessToken()
    realm = fault_server(endless)
    server = fault_server(TokenRealm(b"", realm=f"{realm.url}/token"))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host, realm.host))
    finding = run.only()
    assert finding["cause"] == "registry-error"
    assert "byte limit" in finding["signature"] + finding["evidence"]
    assert endless.sent < 16 * 1024 * 1024  # the cap, plus what the socket buffers held
    assert run.seconds < 5.0


def gzip_bomb(size: int) -> bytes:
    """A valid gzip stream of a JSON string `size` bytes long (about size/1000 compressed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"schemaVersion": 2, "padding": "')]
    block = b" " * (1 << 20)
    parts += [packer.compress(block) for _ in range(size >> 20)]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(1 << 30)  # 1 GiB of JSON in about 1 MB


def test_a_gzip_bomb_is_capped_by_its_decompressed_size(tmp_path, fault_server, bomb):
    assert len(bomb) < 1_100_000
    server = fault_server(Answering(bomb, headers={"Content-Encoding": "gzip"}))
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(16)]
    run, peak = check_process(tmp_path, images, *insecure(server.host), "--timeout", "10")
    assert {f["cause"] for f in run.errors} == {"registry-error"}
    assert len(run.errors) == 16
    assert f"exceeds the {MAX_MANIFEST_BYTES} byte limit" in run.errors[0]["evidence"]
    assert peak < 200 * 1024 * 1024, peak  # 16 in flight, each held to the 4 MiB cap


def test_a_gzip_answer_within_the_cap_is_read(tmp_path, fault_server):
    body = gzip.compress(IMITATED_MANIFEST)
    server = fault_server(Answering(body, headers={"Content-Encoding": "gzip"}))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.exit_code == 0, run.report["findings"]


def test_an_unknown_content_encoding_is_a_registry_error(tmp_path, fault_server):
    server = fault_server(Answering(b"\x00\x01", headers={"Content-Encoding": "compress"}))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "registry-error"
    assert "content encoding" in run.only()["signature"]


# --- 3. a blip at first contact is retried -----------------------------------------------------


def test_dropped_connections_at_first_contact_are_retried_before_the_host_is_dead(
    tmp_path, fault_server
):
    drops = DropFirst(3)
    server = fault_server(drops)
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(20)]
    run = check(tmp_path, images, *insecure(server.host))
    assert run.exit_code == 0, run.report["findings"][:2]
    assert run.seconds < 5.0


def test_a_host_that_keeps_dropping_is_unreachable_for_every_image_in_bounded_time(
    tmp_path, fault_server
):
    server = fault_server(DropFirst(10_000))
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(20)]
    run = check(tmp_path, images, *insecure(server.host))
    assert len(run.errors) == 20
    assert {f["cause"] for f in run.errors} == {"unreachable"}
    assert len(server.requests) <= 5  # the first contact's tries; the others learnt from them
    assert run.seconds < 5.0


# --- 4. evidence is bounded ----------------------------------------------------------------------


def huge_index(platforms: int) -> bytes:
    entries = [{"platform": {"os": "linux", "architecture": f"a{i}"}} for i in range(platforms)]
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
    return json.dumps(index, separators=(",", ":")).encode()


def test_an_index_with_80000_platforms_gives_bounded_evidence(tmp_path, fault_server):
    body = huge_index(80_000)
    assert len(body) < MAX_MANIFEST_BYTES
    server = fault_server(Answering(body, content_type=INDEX_TYPE))
    images = [f"{server.host}/app/svc{i}:1.0" for i in range(3)]
    run, peak = check_process(
        tmp_path, images, *insecure(server.host), "--platform", "linux/arm64", "--timeout", "10"
    )
    assert {f["cause"] for f in run.errors} == {"platform-mismatch"}
    report_size = len(json.dumps(run.report))
    assert report_size < 40_000, report_size
    evidence = run.errors[0]["evidence"]
    assert "80000 platforms" in evidence and "linux/a0" in evidence
    assert peak < 300 * 1024 * 1024, peak


# --- 6. no crash on any data ---------------------------------------------------------------------


def test_deeply_nested_manifest_is_a_finding(tmp_path, fault_server):
    server = fault_server(Answering(NESTED))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "registry-error"
    assert "not JSON" in run.only()["signature"]


def test_deeply_nested_error_body_is_a_finding(tmp_path, fault_server):
    server = fault_server(Answering(NESTED, status=403))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "unauthorized"


def test_deeply_nested_token_answer_is_a_finding(tmp_path, fault_server):
    server = fault_server(TokenRealm(NESTED))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "registry-error"
    assert "sent no token" in run.only()["signature"]


@pytest.mark.parametrize(
    "token", ['"t\u00f6ken-SECRET"', '"tok\\u0000-SECRET"', '"\u202etok-SECRET"', "123"]
)
def test_a_token_that_cannot_be_sent_is_never_quoted(tmp_path, fault_server, token):
    server = fault_server(TokenRealm(b'{"token": ' + token.encode() + b"}"))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    finding = run.only()
    assert finding["cause"] == "registry-error"
    assert "sent no token" in finding["signature"]
    assert "SECRET" not in run.output
    assert "its token is not a printable ASCII string" in finding["evidence"]


@pytest.mark.parametrize("expires_in", [b"1" + b"0" * 400, b"1e400", b"-1", b"true", b'"60"'])
def test_any_token_lifetime_is_read(tmp_path, fault_server, expires_in):
    server = fault_server(TokenRealm(b'{"token": "tok", "expires_in": ' + expires_in + b"}"))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.exit_code == 0, run.report


def test_deeply_nested_config_blob_is_a_finding(tmp_path, fault_server):
    config_digest = "sha256:" + hashlib.sha256(NESTED).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "x", "digest": config_digest, "size": len(NESTED)},
            "layers": [],
        }
    ).encode()

    def answer(ex: Exchange) -> None:
        if "/blobs/" in ex.path:
            ex.send(200, NESTED, content_type="application/octet-stream")
        else:
            ex.send(200, manifest, content_type=MANIFEST_TYPE)

    server = fault_server(answer)
    run = check(
        tmp_path,
        [f"{server.host}/app/web:1.0"],
        *insecure(server.host),
        "--platform",
        "linux/amd64",
    )
    assert run.only()["cause"] == "registry-error"
    assert "config is not JSON" in run.only()["signature"]


def test_deeply_nested_tag_list_is_still_a_tag_not_found(tmp_path, fault_server):
    def answer(ex: Exchange) -> None:
        if "/tags/list" in ex.path:
            ex.send(200, b'{"tags":' + NESTED)
        else:
            ex.send_error(404, "MANIFEST_UNKNOWN", "manifest unknown")

    server = fault_server(answer)
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "tag-not-found"


def test_an_index_variant_that_is_not_an_ascii_number_is_no_crash(tmp_path, fault_server):
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{"platform": {"os": "linux", "architecture": "arm", "variant": "v²"}}],
    }
    server = fault_server(Answering(json.dumps(index).encode(), content_type=INDEX_TYPE))
    run = check(
        tmp_path,
        [f"{server.host}/app/web:1.0"],
        *insecure(server.host),
        "--platform",
        "linux/arm/v7",
    )
    assert run.only()["cause"] == "platform-mismatch"


GOOD_DIGEST = "sha256:" + "a" * 64


def arm64_index(**entry_fields: object) -> bytes:
    entry = {
        "mediaType": MANIFEST_TYPE,
        "digest": GOOD_DIGEST,
        "size": 100,
        "platform": {"os": "linux", "architecture": "arm64"},
        **entry_fields,
    }
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}).encode()


@pytest.mark.parametrize(
    "digest",
    ["SHA256:" + "A" * 64, "sha256:" + "A" * 64, "sha256:", "md5:abc", "sha256:" + "a" * 63],
)
def test_an_index_entry_with_a_malformed_digest_is_a_registry_error(tmp_path, fault_server, digest):
    server = fault_server(Answering(arm64_index(digest=digest), content_type=INDEX_TYPE))
    image = f"{server.host}/app/web:1.0"
    run = check(tmp_path, [image], *insecure(server.host), "--platform", "linux/arm64")
    assert run.only()["cause"] == "registry-error"
    assert "not a valid digest" in run.only()["evidence"]


@pytest.mark.parametrize(
    "fields",
    [
        {"size": -5},
        {"size": "100"},
        {"mediaType": [MANIFEST_TYPE]},
        {"platform": "linux/arm64"},
        {"platform": {"os": ["linux"], "architecture": "arm64"}},
        {"platform": {"os": "linux", "architecture": "arm64", "variant": 8}},
        {"annotations": {"a": 1}},
    ],
)
def test_an_index_entry_of_the_wrong_shape_is_a_registry_error(tmp_path, fault_server, fields):
    server = fault_server(Answering(arm64_index(**fields), content_type=INDEX_TYPE))
    image = f"{server.host}/app/web:1.0"
    run = check(tmp_path, [image], *insecure(server.host), "--platform", "linux/arm64")
    assert run.only()["cause"] == "registry-error"


def test_a_manifest_whose_media_type_is_not_a_string_is_a_registry_error(tmp_path, fault_server):
    manifest = json.loads(IMITATED_MANIFEST)
    manifest["mediaType"] = [MANIFEST_TYPE]
    server = fault_server(Answering(json.dumps(manifest).encode()))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "registry-error"
    assert "mediaType" in run.only()["evidence"]


def test_a_manifest_with_a_negative_layer_size_is_a_registry_error(tmp_path, fault_server):
    manifest = json.loads(IMITATED_MANIFEST)
    manifest["layers"] = [{"mediaType": "x", "digest": GOOD_DIGEST, "size": -1}]
    server = fault_server(Answering(json.dumps(manifest).encode()))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "registry-error"


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif", "junit", "github", "azure"])
def test_a_lone_surrogate_in_registry_text_reaches_every_report_format(tmp_path, fault_server, fmt):
    body = b'{"errors":[{"code":"DENIED","message":"bad \\ud800 text"}]}'
    server = fault_server(Answering(body, status=403))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host), fmt=fmt)
    assert run.exit_code == 1
    assert "unauthorized" in run.output
    if fmt == "json":
        assert run.only()["evidence"] == "DENIED: bad \ufffd text"


# --- 12. no credential quoted back -------------------------------------------------------------


def echo_authorization(ex: Exchange) -> None:
    """A registry that asks for Basic credentials and quotes them back in its refusal."""
    sent = ex.headers.get("authorization")
    if sent is None:
        ex.send_error(401, "UNAUTHORIZED", "login", **{"WWW-Authenticate": 'Basic realm="r"'})
    else:
        raw = sent.split(" ", 1)[-1]
        decoded = base64.b64decode(raw).decode() if sent.startswith("Basic") else raw
        ex.send_error(403, "DENIED", f"refused {sent} ({decoded})")


def test_a_registry_echoing_basic_credentials_has_them_scrubbed(tmp_path, fault_server):
    server = fault_server(echo_authorization)
    password = "pa55-" + os.urandom(8).hex()
    config = docker_config(tmp_path, server.host, "carol", password)
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host), *config)
    finding = run.only()
    encoded = base64.b64encode(f"carol:{password}".encode()).decode()
    text = json.dumps(run.report)
    assert "refused" in finding["evidence"]
    assert password not in text and encoded not in text


def test_a_registry_echoing_its_bearer_token_has_it_scrubbed(tmp_path, fault_server):
    token = "tok-" + os.urandom(24).hex()

    def refuse(ex: Exchange) -> None:
        echoed = b"denied for " + ex.headers["authorization"].encode()
        ex.send(403, echoed, content_type="text/plain")

    server = fault_server(TokenRealm(json.dumps({"token": token}).encode(), answer=refuse))
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert "denied for" in run.only()["evidence"]
    assert token not in json.dumps(run.report)
    assert token[:12] not in json.dumps(run.report)


# --- 13, 14. digests from bytes -----------------------------------------------------------------


OTHER_DIGEST = "sha256:" + hashlib.sha256(b"another manifest").hexdigest()


@pytest.mark.parametrize("header", [None, "asked", "true"])
def test_bytes_not_matching_the_digest_asked_for_are_a_digest_mismatch(
    tmp_path, fault_server, header
):
    headers = {}
    if header == "asked":
        headers["Docker-Content-Digest"] = OTHER_DIGEST  # lying: repeats what was asked
    elif header == "true":
        headers["Docker-Content-Digest"] = IMITATED_DIGEST  # honest about the wrong bytes
    server = fault_server(Answering(IMITATED_MANIFEST, headers=headers))
    run = check(tmp_path, [f"{server.host}/app/web@{OTHER_DIGEST}"], *insecure(server.host))
    finding = run.only()
    assert finding["cause"] == "digest-mismatch"
    assert IMITATED_DIGEST in finding["signature"] and OTHER_DIGEST in finding["signature"]


def test_bytes_matching_the_digest_asked_for_pass(tmp_path, fault_server):
    server = fault_server(Answering(IMITATED_MANIFEST))
    run = check(tmp_path, [f"{server.host}/app/web@{IMITATED_DIGEST}"], *insecure(server.host))
    assert run.exit_code == 0, run.report["findings"]


def test_a_tag_whose_announced_digest_is_not_its_bytes_is_a_digest_mismatch(tmp_path, fault_server):
    server = fault_server(
        Answering(IMITATED_MANIFEST, headers={"Docker-Content-Digest": OTHER_DIGEST})
    )
    run = check(tmp_path, [f"{server.host}/app/web:1.0"], *insecure(server.host))
    assert run.only()["cause"] == "digest-mismatch"


def pin(tmp_path: Path, server, *args: str):  # noqa: ANN001, ANN201
    path = write_pod(tmp_path, [f"{server.host}/app/web:1.0"])
    result = CliRunner().invoke(
        main, ["pin", str(path), "--insecure-registry", server.host, "--timeout", "2", *args]
    )
    return result, path.read_text()


@pytest.mark.parametrize("header", ["sha256:NOT-A-DIGEST", "md5:" + "a" * 32, OTHER_DIGEST])
def test_pin_never_writes_a_digest_it_did_not_compute(tmp_path, fault_server, header):
    server = fault_server(Answering(IMITATED_MANIFEST, headers={"Docker-Content-Digest": header}))
    result, text = pin(tmp_path, server, "--write")
    assert "@" not in text, text
    assert "1 not pinned" in result.output


def test_pin_writes_the_digest_of_the_bytes_read(tmp_path, fault_server):
    server = fault_server(Answering(IMITATED_MANIFEST))  # no Docker-Content-Digest at all
    result, text = pin(tmp_path, server, "--write")
    assert f"app/web:1.0@{IMITATED_DIGEST}" in text, result.output


class SwapsForLink:
    """Answers the manifest, but first replaces the manifest file with a link to `victim`
    (another process editing the tree while pullgate waits on the registry)."""

    def __init__(self, manifest: Path, victim: Path) -> None:
        self.manifest, self.victim = manifest, victim

    def __call__(self, ex: Exchange) -> None:
        if ex.is_manifest and not self.manifest.is_symlink():
            self.victim.write_text(self.manifest.read_text())
            self.manifest.unlink()
            self.manifest.symlink_to(self.victim)
        Answering(IMITATED_MANIFEST)(ex)


def test_pin_write_refuses_a_file_swapped_for_a_link_during_the_run(tmp_path, fault_server):
    victim = tmp_path / "outside" / "victim.yaml"
    victim.parent.mkdir()
    manifest = tmp_path / "pod.yaml"
    server = fault_server(SwapsForLink(manifest, victim))
    result, _ = pin(tmp_path, server, "--write")
    assert result.exit_code == 2, result.output
    assert "changed while pullgate ran" in result.output
    assert "@" not in victim.read_text()


def test_pin_write_refuses_a_file_edited_during_the_run(tmp_path, fault_server):
    manifest = tmp_path / "pod.yaml"

    def edits(ex: Exchange) -> None:
        if ex.is_manifest:
            manifest.write_text(manifest.read_text() + "# edited\n")
        Answering(IMITATED_MANIFEST)(ex)

    result, text = pin(tmp_path, fault_server(edits), "--write")
    assert result.exit_code == 2, result.output
    assert "@" not in text


# --- 15. no credentials over plain HTTP unless named ---------------------------------------------


def test_a_same_host_https_to_http_redirect_gets_no_credentials(tmp_path, fault_server, tls_files):
    def redirect_down(ex: Exchange) -> None:
        if "authorization" not in ex.headers and ex.is_manifest and ex.path.startswith("/v2/"):
            ex.send_error(401, "UNAUTHORIZED", "login", **{"WWW-Authenticate": 'Basic realm="r"'})
        elif ex.path.startswith("/v2/"):
            ex.send(307, headers={"Location": f"http://{ex.server.host}/plain{ex.path}"})
        else:
            ex.send_error(401, "UNAUTHORIZED", "login", **{"WWW-Authenticate": 'Basic realm="r"'})

    server = fault_server(redirect_down, tls=tls_files)
    config = docker_config(tmp_path, server.host, "carol", "s3cret-carol")
    check(tmp_path, [f"{server.host}/app/web:1.0"], "--ca-file", str(tls_files.ca_file), *config)
    over_https = [r for r in server.requests if r.scheme == "https"]
    over_http = [r for r in server.requests if r.scheme == "http"]
    assert any("authorization" in r.headers for r in over_https)  # the credential was used
    assert over_http, "the redirect was not followed"
    assert not any("authorization" in r.headers for r in over_http)


def test_a_plain_http_realm_on_another_port_of_the_registry_host_gets_no_credentials(
    tmp_path, fault_server, tls_files
):
    realm = fault_server(lambda ex: ex.send(200, b'{"token": "anonymous-token"}'))
    server = fault_server(TokenRealm(b"", realm=f"{realm.url}/token"), tls=tls_files)
    config = docker_config(tmp_path, server.host, "carol", "s3cret-carol")
    check(tmp_path, [f"{server.host}/app/web:1.0"], "--ca-file", str(tls_files.ca_file), *config)
    assert realm.requests, "pullgate never asked the realm"
    assert not any("authorization" in r.headers for r in realm.requests)


INTERNAL_PAGE = error_body("DENIED", "AccessKeyId AKIAINTERNAL SecretAccessKey internal-secret")


def test_a_plain_http_realm_not_named_insecure_has_its_words_withheld(tmp_path, fault_server):
    internal = fault_server(lambda ex: ex.send(500, INTERNAL_PAGE))
    registry = fault_server(TokenRealm(b"", realm=f"{internal.url}/latest/meta-data"))
    run = check(tmp_path, [f"{registry.host}/app/web:1.0"], *insecure(registry.host))
    finding = run.only()
    assert finding["cause"] == "registry-error"
    assert "internal-secret" not in run.output and "AKIAINTERNAL" not in run.output
    assert "not quoted" in finding["evidence"]


def test_a_redirect_to_plain_http_not_named_insecure_has_its_words_withheld(tmp_path, fault_server):
    internal = fault_server(lambda ex: ex.send(403, INTERNAL_PAGE))

    def redirect(ex: Exchange) -> None:
        ex.send(
            307, b"", {"Location": f"{internal.url}/latest"}
        ) if ex.is_manifest else ex.serve_ok(None)

    registry = fault_server(redirect)
    run = check(tmp_path, [f"{registry.host}/app/web:1.0"], *insecure(registry.host))
    assert run.errors, run.report
    assert "internal-secret" not in run.output and "AKIAINTERNAL" not in run.output


def test_a_plain_http_realm_named_insecure_has_its_words_quoted(tmp_path, fault_server):
    internal = fault_server(lambda ex: ex.send(500, error_body("BROKEN", "token store offline")))
    registry = fault_server(TokenRealm(b"", realm=f"{internal.url}/token"))
    image = f"{registry.host}/app/web:1.0"
    run = check(tmp_path, [image], *insecure(registry.host, internal.host))
    assert "token store offline" in run.only()["evidence"]


def test_a_plain_http_realm_named_insecure_with_its_port_gets_credentials(
    tmp_path, fault_server, tls_files
):
    realm = fault_server(lambda ex: ex.send(200, b'{"token": "user-token"}'))
    server = fault_server(TokenRealm(b"", realm=f"{realm.url}/token"), tls=tls_files)
    config = docker_config(tmp_path, server.host, "carol", "s3cret-carol")
    check(
        tmp_path,
        [f"{server.host}/app/web:1.0"],
        "--ca-file",
        str(tls_files.ca_file),
        *config,
        *insecure(realm.host),
    )
    assert any("authorization" in r.headers for r in realm.requests)


# --- the ACR token exchange is a network answer like any other -------------------------------


def exchange_against(fault_server, tls_files, behaviour, ends_at=None):  # noqa: ANN001, ANN201
    from gate.azure.exchange import AcrExchange
    from gate.reference import parse_reference

    server = fault_server(behaviour, tls=tls_files)
    entra = "eyJ-entra-" + os.urandom(16).hex()
    exchange = AcrExchange(
        lambda: entra,
        verify=str(tls_files.ca_file),
        timeout=5,
        is_registry=lambda host: True,
        url_for=lambda host: f"{server.url}/oauth2/exchange",
        ends_at=ends_at,
    )
    found = exchange.lookup(parse_reference(f"{server.host}/app/web:1"))
    return found, " ".join(exchange.problems.values()), entra


def test_an_acr_exchange_echoing_the_entra_token_has_it_scrubbed(fault_server, tls_files):
    def echo(ex: Exchange) -> None:
        length = int(ex.headers.get("content-length", "0"))
        form = ex.handler.rfile.read(length).decode()
        ex.send(401, f"bad request: {form}".encode(), content_type="text/plain")

    found, problems, entra = exchange_against(fault_server, tls_files, echo)
    assert found == []
    assert "answered 401" in problems
    assert entra not in problems and entra[:12] not in problems


def test_an_acr_exchange_that_drips_its_answer_ends_by_the_runs_deadline(fault_server, tls_files):
    """The exchange's own timeout (5 s here) is cut to what is left of the run."""
    started = time.monotonic()
    found, problems, _ = exchange_against(
        fault_server, tls_files, Drip(interval=0.2), ends_at=time.monotonic() + 1.0
    )
    assert found == [] and "failed" in problems
    assert time.monotonic() - started < 1.0 + 1.0


def test_an_acr_exchange_is_not_tried_after_the_runs_deadline(fault_server, tls_files):
    counting = []
    found, problems, _ = exchange_against(
        fault_server, tls_files, lambda ex: counting.append(ex), ends_at=time.monotonic() - 1
    )
    assert found == [] and "deadline passed" in problems
    assert counting == []


def test_an_endless_acr_exchange_answer_is_capped(fault_server, tls_files):
    endless = EndlessToken()
    found, problems, _ = exchange_against(fault_server, tls_files, endless)
    assert found == []
    assert "byte limit" in problems
    assert endless.sent < 16 * 1024 * 1024


def test_a_one_byte_per_second_kube_api_ends_the_run_by_its_deadline(
    tmp_path, fault_server, tls_files
):
    from kube_fake import write_kubeconfig

    api = fault_server(Drip(), tls=tls_files)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, tls_files.ca_file.read_bytes())
    args = [sys.executable, "-m", "gate", "check", str(write_pod(tmp_path, ["nginx:1.27"]))]
    args += ["--kubeconfig", str(kubeconfig), "--timeout", "30", "--deadline", "4"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, env=env, timeout=60)
    assert time.monotonic() - started < 4 + 3.0
    assert b"Traceback" not in done.stderr
    assert done.returncode == 2, done.stderr.decode()  # the cluster could not be read: one line
    assert len(done.stderr.decode().strip().splitlines()) == 1


def kube_check(tmp_path: Path, api_url: str, ca: bytes, *extra: str) -> tuple[int, str, int]:
    """`pullgate check --kubeconfig` as a child: exit code, stderr and peak RSS in bytes."""
    from kube_fake import write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api_url, ca)
    args = [sys.executable, "-c", RSS_WRAPPER, sys.executable, "-m", "gate", "check"]
    args += [str(write_pod(tmp_path, ["nginx:1.27"])), "--kubeconfig", str(kubeconfig), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, capture_output=True, env=env, timeout=60)
    err = done.stderr.decode()
    peak = int(err.rsplit("maxrss=", 1)[1].split()[0]) * 1024
    return done.returncode, err.rsplit("maxrss=", 1)[0], peak


def test_an_endless_kube_api_answer_is_capped_while_it_streams(tmp_path, fault_server, tls_files):
    endless = EndlessToken()
    api = fault_server(endless, tls=tls_files)
    code, err, peak = kube_check(tmp_path, api.url, tls_files.ca_file.read_bytes())
    assert "Traceback" not in err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "MiB" in err
    assert peak < 400 * 1024 * 1024
    assert endless.sent < 256 * 1024 * 1024


def test_a_deeply_nested_kube_api_answer_is_a_one_line_error(tmp_path, fault_server, tls_files):
    api = fault_server(lambda ex: ex.send(200, b'{"items":' + NESTED + b"}"), tls=tls_files)
    code, err, _ = kube_check(tmp_path, api.url, tls_files.ca_file.read_bytes())
    assert "Traceback" not in err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "not JSON" in err


class Paging:
    """A kube API whose every list answer is one node and a continue token (`same`: always the
    same one, else a new one each page), each page after `pause` seconds."""

    def __init__(self, same: bool, pause: float = 0.0) -> None:
        self.same, self.pause, self.pages = same, pause, 0

    def __call__(self, ex: Exchange) -> None:
        self.pages += 1
        if ex.server.stopping.wait(self.pause):
            return
        token = "again" if self.same else f"page-{self.pages}"
        items = [node("n1", "pool1")]
        body = {"kind": "List", "metadata": {"continue": token}, "items": items}
        ex.send(200, json.dumps(body).encode())


def test_a_repeated_continue_token_is_a_one_line_error(tmp_path, fault_server, tls_files):
    api = fault_server(Paging(same=True), tls=tls_files)
    code, err, _ = kube_check(tmp_path, api.url, tls_files.ca_file.read_bytes())
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "repeated its continue token" in err
    assert api.behaviour.pages <= 3


def test_endless_paging_ends_a_snapshot_by_its_deadline(tmp_path, fault_server, tls_files):
    from kube_fake import write_kubeconfig

    api = fault_server(Paging(same=False, pause=0.05), tls=tls_files)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, tls_files.ca_file.read_bytes())
    args = [sys.executable, "-m", "gate", "snapshot", "--kubeconfig", str(kubeconfig)]
    args += ["-o", str(tmp_path / "state.yaml"), "--deadline", "3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, env=env, timeout=60)
    assert time.monotonic() - started < 3 + 3.0
    assert done.returncode == 2, done.stderr.decode()
    assert b"deadline" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_kube_api_echoing_its_bearer_token_has_it_scrubbed(
    tmp_path, fault_server, tls_files, status
):
    def echo(ex: Exchange) -> None:
        message = f"denied for {ex.headers.get('authorization')}"
        ex.send(status, json.dumps({"kind": "Status", "message": message}).encode())

    api = fault_server(echo, tls=tls_files)
    code, err, _ = kube_check(tmp_path, api.url, tls_files.ca_file.read_bytes())
    assert code == 2 and "denied for ***" in err, err
    assert "fake-kube-token" not in err


def test_an_acr_token_exchange_that_drips_its_answer_ends_within_its_timeout(fault_server):
    from gate.azure.exchange import _post_capped
    from gate.registry.transport import RequestTimeout

    server = fault_server(Drip(interval=0.2))
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        _post_capped(f"http://{server.host}/oauth2/exchange", {"grant_type": "x"}, 1.0, True)
    assert time.monotonic() - started < 3
