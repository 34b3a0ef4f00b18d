"""The real registry for tests: Debian `docker-registry` (CNCF distribution 2.8) on loopback, with
no auth, htpasswd (bcrypt) or token auth (a small JWT issuer, `TokenServer`), optionally TLS signed
by a throw-away CA. Images, indexes and attestation entries are pushed through the registry's own
HTTP API so what tests read back is what a real registry serves.

`Registry.requests()` lists what the registry answered, parsed from its access log (one line per
response, including the 401 challenges and unrouted 404s that the JSON application log leaves out).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fnmatch
import gzip
import hashlib
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import bcrypt
import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"

REGISTRY_BINARY = "docker-registry"
SETUP_USER_AGENT = "pullgate-tests-setup"  # requests made by the fixtures themselves
_SYNC_USER_AGENT = "pullgate-tests-sync"
STARTUP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0
_LISTENING = re.compile(r"listening on (127\.0\.0\.1:\d+)")
# Apache combined format written by the registry's access log (gorilla handlers).
_ACCESS = re.compile(
    r'^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<uri>\S+) '
    r'[^"]*" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


# --- keys and certificates -------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    ca_file: Path  # CA certificate (PEM) that signed `cert_file`
    cert_file: Path  # server certificate for 127.0.0.1 and localhost
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_tls_files(directory: Path) -> TLSFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 (IP SAN) and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("pullgate test CA", ca_key, "pullgate test CA", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
        # ACR data endpoints as the AKS tests name them, reached through a test proxy
        x509.DNSName("*.westeurope.data.azurecr.io"),
    ]
    cert = _certificate("127.0.0.1", key, "pullgate test CA", ca_key, ca=False, sans=sans)
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(_pem_key(key))
    return files


@contextlib.contextmanager
def serve_https(handler: type[BaseHTTPRequestHandler], tls: TLSFiles) -> Iterator[str]:
    """`handler` served over TLS on 127.0.0.1 from a background thread; yields the base URL and
    stops the server on exit."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The `kid` distribution looks up in `rootcertbundle`: base32 of the first 30 bytes of
    sha256(DER SubjectPublicKeyInfo), '=' stripped, in groups of 4 joined by ':'."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def _client(verify: ssl.SSLContext | bool) -> httpx.Client:
    # trust_env=False: no proxy or CA bundle from the environment on loopback test traffic.
    return httpx.Client(verify=verify, trust_env=False, timeout=HTTP_TIMEOUT)


# --- loopback HTTP servers --------------------------------------------------------------------


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 (free port) whose stop() also closes the connections
    still open (idle keep-alive clients, hanging handlers), so nothing outlives it."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        with self._open_lock:
            still_open = list(self._open)
        for conn in still_open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- token issuer ----------------------------------------------------------------------------


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path != "/token":
            self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return
        status, body = self.server.owner.issue(
            parse_qs(parts.query), self.headers.get("Authorization")
        )
        self._reply(status, body)


class _TokenHTTPServer(LoopbackHTTPServer):
    owner: TokenServer
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # The handshake runs in the connection's own thread, not in the accepting one.
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with self._open_lock:
            self._open.add(wrapped)  # so that stop() can close it
        try:
            super().finish_request(wrapped, client_address)
        finally:
            with self._open_lock:
                self._open.discard(wrapped)
            wrapped.close()


class TokenServer:
    """The registry's token issuer (`auth.token.realm`): `GET /token?service=..&scope=..`.

    Anonymous callers get pull on repositories matching `anonymous_repos` globs and nothing else;
    users get pull on every repository (or on their `user_repos` globs); admins also get push.
    Every request is recorded in `token_requests` (dicts: scope, scopes, user, service, status,
    granted).
    """

    service = "pullgate-test-registry"
    issuer = "pullgate-test-issuer"
    expires_in = 300

    def __init__(
        self,
        directory: Path,
        users: dict[str, str] | None = None,
        anonymous_repos: list[str] | tuple[str, ...] = (),
        user_repos: dict[str, list[str]] | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = libtrust_key_id(self._key.public_key())
        cert = _certificate(
            "pullgate token issuer", self._key, "pullgate token issuer", self._key, ca=True
        )
        self.cert_file = directory / "token-issuer.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.anonymous_repos = list(anonymous_repos)
        self.user_repos = dict(user_repos or {})
        self.token_requests: list[dict] = []
        self._users: dict[str, str] = dict(users or {})
        self._admins: set[str] = set()
        self._lock = threading.Lock()
        self._httpd: _TokenHTTPServer | None = None
        self._tls = tls

    # lifecycle
    def start(self) -> TokenServer:
        httpd = _TokenHTTPServer(_TokenHandler)
        httpd.owner = self
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._tls.cert_file, self._tls.key_file)
            httpd.tls_context = context
        httpd.start()
        self._httpd = httpd
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stop()
        self._httpd = None

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "token server not started"
        return self._httpd.port

    @property
    def realm(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/token"

    @property
    def host(self) -> str:
        """host:port of the realm (plain HTTP without `tls`: name it insecure for credentials)."""
        return self.realm.split("/")[2]

    def add_user(self, name: str, password: str, admin: bool = False) -> None:
        with self._lock:
            self._users[name] = password
            if admin:
                self._admins.add(name)

    def requests_for(self, scope: str | None = None, include_admins: bool = False) -> list[dict]:
        """Recorded token requests (optionally for one scope), without the fixtures' own."""
        with self._lock:
            recorded = list(self.token_requests)
        return [
            r
            for r in recorded
            if (include_admins or r["user"] not in self._admins)
            and (scope is None or scope in r["scopes"])
        ]

    # issuing
    def _authenticate(self, authorization: str | None) -> tuple[bool, str | None]:
        if not authorization:
            return True, None
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, None
        with self._lock:
            expected = self._users.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return False, user
        return True, user

    def _allowed(self, user: str | None, repo: str) -> set[str]:
        if user is None:
            if any(fnmatch.fnmatchcase(repo, g) for g in self.anonymous_repos):
                return {"pull"}
            return set()
        if user in self._admins:
            return {"pull", "push"}
        globs = self.user_repos.get(user)
        if globs is None or any(fnmatch.fnmatchcase(repo, g) for g in globs):
            return {"pull"}
        return set()

    def issue(self, query: dict[str, list[str]], authorization: str | None) -> tuple[int, dict]:
        scopes = [s for raw in query.get("scope", []) for s in raw.split(" ") if s]
        service = (query.get("service") or [""])[0]
        ok, user = self._authenticate(authorization)
        granted: list[dict] = []
        if ok:
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind != "repository" or not name:
                    continue
                wanted = [a for a in actions.split(",") if a]
                allowed = self._allowed(user, name)
                given = [a for a in wanted if a in allowed]
                if given:
                    granted.append({"type": "repository", "name": name, "actions": given})
        status = 200 if ok else 401
        record = {
            "scope": scopes[0] if scopes else "",
            "scopes": scopes,
            "user": user,
            "service": service,
            "status": status,
            "granted": granted,
        }
        with self._lock:
            self.token_requests.append(record)
        if not ok:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]}
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service or self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": granted,
        }
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat()
        return 200, {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": issued,
        }


# --- the registry ----------------------------------------------------------------------------


def _parse_platform(text: str) -> dict[str, str]:
    spec, _, os_version = text.partition(":")
    parts = spec.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform {text!r} is not os/arch[/variant][:os.version]")
    platform = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        platform["variant"] = parts[2]
    if os_version:
        platform["os.version"] = os_version
    return platform


def _layer_tar(text: str) -> tuple[bytes, bytes]:
    """(gzip bytes, uncompressed tar bytes) of a one-file layer; deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        payload = text.encode()
        info = tarfile.TarInfo("etc/pullgate-test")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


@dataclass(frozen=True)
class _Built:
    """A manifest made locally: its bytes and the blobs it references."""

    body: bytes
    media_type: str
    blobs: list[bytes]

    @property
    def digest(self) -> str:
        return sha256_digest(self.body)

    def descriptor(self, **extra: object) -> dict:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
            **extra,
        }


def _descriptor(media_type: str, blob: bytes, **extra: object) -> dict:
    return {"mediaType": media_type, "digest": sha256_digest(blob), "size": len(blob), **extra}


def _build_image(repo: str, platform: dict[str, str], oci: bool, label: str) -> _Built:
    """An image manifest with a config (platform, and a label making it unique per repo/tag)
    and one layer (shared by the repository's images of the same platform)."""
    layer_gz, layer_tar = _layer_tar(f"{repo} {json.dumps(platform, sort_keys=True)}\n")
    config = _canonical(
        {
            **platform,
            "config": {"Labels": {"org.pullgate.test": f"{repo}:{label}"}},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer_tar)]},
            "created": "2024-11-02T09:14:07Z",
        }
    )
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": _descriptor(OCI_CONFIG if oci else DOCKER_CONFIG, config),
        "layers": [_descriptor(OCI_LAYER if oci else DOCKER_LAYER, layer_gz)],
    }
    return _Built(_canonical(manifest), media_type, [config, layer_gz])


def _build_attestation(repo: str, subject: str) -> _Built:
    """A buildx-style attestation manifest (in-toto provenance) for the image `subject`."""
    statement = _canonical(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"name": repo, "digest": {"sha256": subject.split(":", 1)[1]}}],
            "predicate": {"builder": {"id": "pullgate-tests"}},
        }
    )
    config = _canonical(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(statement)]},
        }
    )
    predicate = {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [_descriptor(IN_TOTO, statement, annotations=predicate)],
    }
    return _Built(_canonical(manifest), OCI_MANIFEST, [config, statement])


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    scheme: str  # "http" | "https"
    root: Path  # storage root
    ca_file: Path | None  # CA that signed the TLS cert (https only)
    auth: str = "none"
    admin: tuple[str, str] | None = None  # credentials the fixtures push with (auth on)
    token_server: TokenServer | None = None
    config_file: Path | None = None
    access_log: Path | None = None
    app_log: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    _owns_token_server: bool = field(default=False, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)
    _pushed: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _requests_offset: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What httpx should verify this registry with (a context trusting `ca_file`)."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self) -> httpx.Client:
        """A new httpx client that trusts this registry (caller closes it)."""
        return _client(self.ssl_context())

    # --- pushing (the registry's HTTP API, with the admin credentials when auth is on) ---

    def _session(self) -> httpx.Client:
        with self._lock:
            return self._session_locked()

    def _session_locked(self) -> httpx.Client:
        if self._http is None:
            self._http = _client(self.ssl_context())
            self._http.headers["User-Agent"] = SETUP_USER_AGENT
        return self._http

    def _auth_headers(self, repo: str) -> dict[str, str]:
        if self.auth == "none" or self.admin is None:
            return {}
        user, password = self.admin
        if self.auth == "htpasswd":
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        with self._lock:
            token = self._tokens.get(repo)
        if token is None:
            assert self.token_server is not None
            response = self._session().get(
                self.token_server.realm,
                params={
                    "service": self.token_server.service,
                    "scope": f"repository:{repo}:pull,push",
                },
                auth=(user, password),
            )
            response.raise_for_status()
            token = response.json()["token"]
            with self._lock:
                self._tokens[repo] = token
        return {"Authorization": f"Bearer {token}"}

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256_digest(data)
        http = self._session()
        headers = self._auth_headers(repo)
        started = http.post(f"{self.url}/v2/{repo}/blobs/uploads/", headers=headers)
        if started.status_code != 202:
            raise RuntimeError(f"blob upload start: {started.status_code} {started.text}")
        location = httpx.URL(self.url).join(started.headers["Location"])
        done = http.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise RuntimeError(f"blob upload: {done.status_code} {done.text}")
        with self._lock:
            self._pushed.add((repo, digest))
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest (tag or digest reference); returns the digest the registry reports."""
        response = self._session().put(
            f"{self.url}/v2/{repo}/manifests/{reference}",
            content=body,
            headers={**self._auth_headers(repo), "Content-Type": media_type},
        )
        if response.status_code != 201:
            raise RuntimeError(f"manifest push: {response.status_code} {response.text}")
        digest = response.headers["Docker-Content-Digest"]
        if digest != sha256_digest(body):
            raise RuntimeError(f"registry digest {digest} differs from {sha256_digest(body)}")
        return digest

    def _push_blobs(self, repo: str, blobs: list[bytes]) -> None:
        """Upload blobs concurrently, skipping those this repository already got from us."""
        todo = {sha256_digest(b): b for b in blobs}
        with self._lock:
            todo = {d: b for d, b in todo.items() if (repo, d) not in self._pushed}
        if not todo:
            return
        self._auth_headers(repo)  # fetch the push token once, before the threads need it
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            list(pool.map(lambda blob: self.push_blob(repo, blob), todo.values()))

    def _push_manifests(self, repo: str, manifests: list[_Built]) -> None:
        """PUT manifests by digest, concurrently."""
        if not manifests:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(manifests))) as pool:
            list(
                pool.map(
                    lambda m: self.push_manifest(repo, m.digest, m.body, m.media_type), manifests
                )
            )

    def push_image(
        self,
        repo: str,
        tag: str | None,
        os: str = "linux",
        arch: str = "amd64",
        variant: str | None = None,
        oci: bool = False,
        os_version: str | None = None,
    ) -> str:
        """Config blob + one layer + manifest (by digest when `tag` is None): its digest."""
        platform = {"architecture": arch, "os": os}
        if variant:
            platform["variant"] = variant
        if os_version:
            platform["os.version"] = os_version
        image = _build_image(repo, platform, oci, tag or "untagged")
        self._push_blobs(repo, image.blobs)
        return self.push_manifest(repo, tag or image.digest, image.body, image.media_type)

    def push_index(
        self,
        repo: str,
        tag: str,
        platforms: list[str],
        oci: bool = True,
        attestation: bool = False,
    ) -> str:
        """A child manifest per platform ("linux/arm/v7", "windows/amd64:10.0.20348.2113"), plus
        buildx-style attestation entries when asked, under an OCI index or a Docker manifest list
        (`oci=False`). Returns the index digest."""
        children: list[_Built] = []
        entries: list[dict] = []
        attestations: list[dict] = []
        for text in platforms:
            platform = _parse_platform(text)
            image = _build_image(repo, platform, oci, f"{tag}@{text}")
            children.append(image)
            entries.append(image.descriptor(platform=platform))
            if attestation:
                statement = _build_attestation(repo, image.digest)
                children.append(statement)
                attestations.append(
                    statement.descriptor(
                        platform={"architecture": "unknown", "os": "unknown"},
                        annotations={
                            "vnd.docker.reference.digest": image.digest,
                            "vnd.docker.reference.type": "attestation-manifest",
                        },
                    )
                )
        self._push_blobs(repo, [blob for child in children for blob in child.blobs])
        self._push_manifests(repo, children)
        media_type = OCI_INDEX if oci else DOCKER_LIST
        index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries + attestations}
        return self.push_manifest(repo, tag, _canonical(index), media_type)

    def delete_tag(self, repo: str, tag: str) -> None:
        """Remove the tag only: the manifest stays reachable by digest."""
        path = self.root / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag
        if not path.is_dir():
            raise FileNotFoundError(path)
        shutil.rmtree(path)

    # --- what the registry saw ---

    def _sync_log(self) -> None:
        """One marker request, then wait (bounded) until its access-log line is written, so every
        response the caller already received is in the log."""
        if self.process is None or self.process.poll() is not None:
            return  # stopped: its log is complete
        marker = f"{_SYNC_USER_AGENT}/{uuid.uuid4().hex}"
        with _client(self.ssl_context()) as http:
            http.get(f"{self.url}/v2/", headers={"User-Agent": marker})
        assert self.access_log is not None
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if marker in self.access_log.read_text(errors="replace"):
                return
            time.sleep(0.005)

    def _all_requests(self) -> list[dict]:
        assert self.access_log is not None
        found = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            m = _ACCESS.match(line)
            if m is None or m["agent"].startswith(_SYNC_USER_AGENT):
                continue
            found.append(
                {
                    "method": m["method"],
                    "path": m["uri"],
                    "status": int(m["status"]),
                    "user_agent": m["agent"],
                }
            )
        return found

    def requests(self, include_setup: bool = False) -> list[dict]:
        """Requests the registry answered since start (or `clear_requests()`): dicts with method,
        path (the request URI), status, user_agent. The fixtures' own pushes are left out unless
        `include_setup`."""
        self._sync_log()
        found = self._all_requests()[self._requests_offset :]
        if include_setup:
            return found
        return [r for r in found if r["user_agent"] != SETUP_USER_AGENT]

    def clear_requests(self) -> None:
        self._sync_log()
        self._requests_offset = len(self._all_requests())

    def manifest_requests(self, repo: str | None = None) -> list[dict]:
        """`requests()` limited to manifest GET/HEAD (of one repository when given)."""
        prefix = f"/v2/{repo}/manifests/" if repo else None
        return [
            r
            for r in self.requests()
            if "/manifests/" in r["path"] and (prefix is None or r["path"].startswith(prefix))
        ]

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._owns_token_server and self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _htpasswd_line(user: str, password: str) -> str:
    # cost 4 (the minimum Go's bcrypt accepts): the registry checks it on every request
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


def _registry_config(
    root: Path,
    auth_section: dict | None,
    tls: TLSFiles | None,
    port: int = 0,
) -> dict:
    http: dict = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls is not None:
        http["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
    config: dict = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json"},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth_section:
        config["auth"] = auth_section
    return config


def start_registry(
    tmp: Path,
    auth: str = "none",
    tls: bool = False,
    users: dict[str, str] | None = None,
    token_server: TokenServer | None = None,
    tls_files: TLSFiles | None = None,
    binary: str | None = None,
    port: int = 0,
    env: dict[str, str] | None = None,
) -> Registry:
    """Start `docker-registry serve` on 127.0.0.1 (`port`, a free one when 0) with storage under
    `tmp`.

    auth: "none", "htpasswd" (bcrypt entries for `users` plus a generated admin) or "token"
    (`token_server`, started here and owned by the registry when None; `users` and the admin are
    added to it). `tls_files` reuses a CA/cert (made under `tmp` when None and `tls`). `env`: more
    environment for the registry process (the benchmark tunes Go's garbage collector with it).
    """
    if auth not in ("none", "htpasswd", "token"):
        raise ValueError(f"unknown auth {auth!r}")
    executable = binary or shutil.which(REGISTRY_BINARY)
    if executable is None:
        raise FileNotFoundError(f"{REGISTRY_BINARY} not found on PATH")
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "storage"
    root.mkdir(exist_ok=True)
    admin = ("pullgate-admin", secrets.token_urlsafe(16)) if auth != "none" else None
    owns_token_server = False
    auth_section: dict | None = None
    if auth == "htpasswd":
        assert admin is not None
        htpasswd = tmp / "htpasswd"
        entries = {**(users or {}), admin[0]: admin[1]}
        htpasswd.write_text("".join(_htpasswd_line(u, p) for u, p in entries.items()))
        auth_section = {"htpasswd": {"realm": "pullgate-test-registry", "path": str(htpasswd)}}
    elif auth == "token":
        assert admin is not None
        if token_server is None:
            token_server = TokenServer(tmp / "token").start()
            owns_token_server = True
        for user, password in (users or {}).items():
            token_server.add_user(user, password)
        token_server.add_user(*admin, admin=True)
        auth_section = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(token_server.cert_file),
            }
        }
    if tls and tls_files is None:
        tls_files = make_tls_files(tmp / "tls")
    config_file = tmp / "config.yml"
    # JSON is valid YAML: no yaml dependency needed to write the config
    config_file.write_text(
        json.dumps(_registry_config(root, auth_section, tls_files if tls else None, port))
    )
    access_log, app_log = tmp / "access.log", tmp / "registry.log"
    with access_log.open("wb") as out, app_log.open("wb") as err:
        process = subprocess.Popen(
            [executable, "serve", str(config_file)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        )
    registry = Registry(
        host="",
        scheme="https" if tls else "http",
        root=root,
        ca_file=tls_files.ca_file if tls and tls_files else None,
        auth=auth,
        admin=admin,
        token_server=token_server,
        config_file=config_file,
        access_log=access_log,
        app_log=app_log,
        process=process,
        _owns_token_server=owns_token_server,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            m = _LISTENING.search(app_log.read_text(errors="replace"))
            if m:
                registry.host = m.group(1)
                return registry
            if process.poll() is not None:
                raise RuntimeError(
                    f"{REGISTRY_BINARY} exited {process.returncode}: {app_log.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{REGISTRY_BINARY} did not listen within {STARTUP_TIMEOUT}s")
            time.sleep(0.002)
    except BaseException:
        registry.stop()
        raise
