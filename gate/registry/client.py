"""A small OCI distribution client: manifests, config blobs and tag lists, with the
token flow, bounded retries, capped bodies and a deadline on everything.

Failures surface as `RegistryProblem` carrying a cause id from the catalog and the registry's own
words as evidence. Thread-safe: one instance serves every worker of a run.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urljoin, urlsplit

from gate.registry.auth import (
    Challenge,
    Token,
    TokenCache,
    TokenKey,
    granted_scopes,
    parse_challenge,
    pull_scope,
    token_lifetime,
)
from gate.registry.credentials import Credential
from gate.registry.hosts import DOCKER_HUB, api_host, split_host_port
from gate.registry.protocol import (
    MAX_ERROR_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_REDIRECTS,
    MAX_TOKEN_BYTES,
    Answer,
    RegistryProblem,
    Secrets,
    load_json,
    retry_after_seconds,
)
from gate.registry.transport import (
    BodyTooLarge,
    ConnectionLost,
    Pool,
    ProtocolViolation,
    RequestTimeout,
    Response,
    TransportError,
    bounded_context,
    unverified_context,
)

USER_AGENT = "pullgate"
_TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
# Causes that, met by a host's first request (after its retries), hold for every later one.
_HOST_DOWN = frozenset({"dns", "tls", "unreachable", "plain-http"})
# What Go's net/http says (and containerd shows) when a registry answers TLS with plain HTTP.
PLAIN_HTTP = "http: server gave HTTP response to HTTPS client"
# Scopes asked in one token request: about 2 KB of query, well under URL limits.
MAX_SCOPES_PER_TOKEN = 50


class Deadline:
    def __init__(self, seconds: float, ends_at: float | None = None) -> None:
        self.end = ends_at if ends_at is not None else time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())


@dataclass(frozen=True)
class ClientOptions:
    timeout: float = 10.0  # per request, in total (connect, every read and write together)
    deadline: float = 120.0  # for the whole run
    retries: int = 2  # extra tries for 5xx, resets and timeouts
    # A host's first request gets more: a blip there would otherwise mark the host dead for
    # every image of the run.
    first_contact_retries: int = 4
    max_retry_after: float = 10.0  # longest Retry-After honoured for a 429
    insecure: frozenset[str] = frozenset()  # host[:port] allowed plain HTTP / unverified TLS
    ca_file: str | None = None
    backoff: float = 0.25
    # Docker Hub counts a GET on a manifest as a pull and a HEAD not: ask HEAD first there.
    head_first: Callable[[str], bool] = field(default=lambda domain: domain == DOCKER_HUB)
    # The run's end (time.monotonic()) when other phases share the run's deadline.
    ends_at: float | None = None
    # Ask one token for several repositories of a registry (and credential) at once.
    multi_scope: bool = True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_transport_error(exc: Exception, host: str) -> RegistryProblem:
    """Map a connection failure to dns / tls / unreachable with a kubelet-like detail."""
    name = split_host_port(host)[0]
    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return RegistryProblem("dns", f"lookup {name}: no such host", str(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return RegistryProblem("tls", e.verify_message or str(e), str(e))
        if isinstance(e, ssl.SSLError):
            return RegistryProblem("tls", e.reason or str(e), str(e))
        if isinstance(e, ConnectionRefusedError):
            return RegistryProblem("unreachable", "connect: connection refused", str(e))
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return RegistryProblem("tls", text, text)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return RegistryProblem("dns", f"lookup {name}: no such host", text)
    if isinstance(exc, RequestTimeout):
        return RegistryProblem("unreachable", "i/o timeout", text or "timed out")
    if isinstance(exc, ConnectionLost) and exc.incomplete:
        return RegistryProblem("unreachable", "unexpected EOF", text)  # as the kubelet puts it
    if isinstance(exc, (ConnectionLost, ProtocolViolation)):
        return RegistryProblem("unreachable", "connection reset by peer", text or "connection lost")
    if "refused" in text.lower():
        return RegistryProblem("unreachable", "connect: connection refused", text)
    return RegistryProblem("unreachable", text or type(exc).__name__, text)


# What may stand unescaped in a redirect target; the rest (spaces, non-ASCII) is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def redirect_target(base: str, location: str) -> str:
    """The absolute URL a Location header points to, or ValueError when it is not one."""
    if not location.isprintable():
        raise ValueError("control characters in Location")
    target = urljoin(base, quote(location.strip(), safe=_URL_SAFE))
    parts = urlsplit(target)
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise ValueError("no host in Location")
    _ = parts.port  # ValueError for a port that is not one
    return target


def _header_safe(value: str) -> bool:
    """A value that can travel in an HTTP header as it is: printable ASCII."""
    return value.isascii() and value.isprintable()


def _token_answer_shape(data: object, answer: Answer) -> str:
    """What was wrong with a token answer, without quoting a token it may hold."""
    if isinstance(data, dict) and ("token" in data or "access_token" in data):
        kind = type(data.get("token") or data.get("access_token")).__name__
        return f"its token is not a printable ASCII string ({kind})"
    return f"answer starts {answer.start()}"


def _not_tls(problem: RegistryProblem) -> bool:
    """A TLS failure because the other side does not speak TLS at all."""
    return problem.cause == "tls" and "WRONG_VERSION_NUMBER" in problem.evidence


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store (what the nodes' runtimes use), or certifi's where the system
    has none (a slim image); loading both cost 28 ms more at every run for the same roots."""
    ctx = bounded_context(ssl.create_default_context())
    if not ctx.cert_store_stats()["x509_ca"]:
        try:
            import certifi

            ctx.load_verify_locations(certifi.where())
        except (ImportError, OSError):
            pass
    if ca_file:
        ctx.load_verify_locations(ca_file)
    return ctx


class RegistryClient:
    """Speaks the distribution API to any number of registries for one run."""

    def __init__(
        self, options: ClientOptions, deadline: Deadline | None = None, pool_size: int = 16
    ) -> None:
        self.options = options
        self.deadline = deadline or Deadline(options.deadline, options.ends_at)
        self.tokens = TokenCache()
        self.secrets = Secrets()  # every credential sent, scrubbed from what is quoted back
        # Multi-scope tokens: the scopes the run will need per (host, credential id), the
        # token keys that must be asked alone (not granted in a batch, or refused with one),
        # and one lock per (host, credential id) for the batch request.
        self._planned: dict[tuple[str, str], dict[str, None]] = {}
        self._alone: set[TokenKey] = set()
        self._batch_locks: dict[tuple[str, str], threading.Lock] = {}
        self.token_requests = 0
        self._challenges: dict[str, Challenge] = {}
        self._schemes: dict[str, str] = {}
        self._contacted: set[str] = set()
        self._contact_locks: dict[str, threading.Lock] = {}
        self._host_failures: dict[str, RegistryProblem] = {}
        self._lock = threading.Lock()
        self._pool_size = pool_size
        # Made on first use: loading the trust store costs ~100 ms here, wasted when every registry
        # of the run is one named insecure.
        self._pool: Pool | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    # ---- transport -------------------------------------------------------------------------

    def is_insecure(self, host: str) -> bool:
        return host in self.options.insecure or split_host_port(host)[0] in self.options.insecure

    def _connections(self) -> Pool:
        with self._lock:
            if self._pool is None:
                verified = _ssl_context(self.options.ca_file)
                self._pool = Pool(verified, unverified_context(), self._pool_size)
            return self._pool

    def _warm(self, host: str) -> None:
        try:
            ends_at = self._request_end()
        except RegistryProblem:
            return
        url = f"{self._scheme(host)}://{host}/v2/"
        self._connections().warm(url, ends_at, verify=not self.is_insecure(host))

    def _claim_first_contact(self, host: str) -> threading.Lock | None:
        """The first request to a host goes alone and the others wait for it, so they use the
        scheme (for an insecure registry: https or http) and the auth challenge it learnt instead
        of each probing with a TLS handshake and an anonymous 401. Returns the held lock to the
        first caller; the wait is bounded by that request's own timeouts and the deadline."""
        if host in self._contacted:
            return None
        with self._lock:
            lock = self._contact_locks.setdefault(host, threading.Lock())
        if not lock.acquire(timeout=max(0.0, self.deadline.remaining())):
            return None
        if host in self._contacted:
            lock.release()
            return None
        return lock

    def _scheme(self, host: str) -> str:
        return self._schemes.get(host, "https")

    def scheme(self, domain: str) -> str:
        """The scheme the registry of `domain` answered on: http only for one named insecure."""
        return self._scheme(api_host(domain))

    def _request_end(self) -> float:
        """When a request starting now must be over: its timeout, or the run's deadline."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise RegistryProblem(
                "unreachable",
                "deadline exceeded",
                "pullgate's run deadline passed before the registry answered",
            )
        return time.monotonic() + min(self.options.timeout, remaining)

    def _once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        cap: int,
        content: bytes | None = None,
    ) -> Answer:
        """One exchange, all of it (connect, headers, body) within the per-request timeout and
        the run's deadline; the body capped as it streams and as it is decompressed."""
        host = urlsplit(url).netloc
        sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", **headers}
        with self._connections().request(
            method, url, sent, content, self._request_end(), verify=not self.is_insecure(host)
        ) as resp:
            return self._read(resp, method, url, cap)

    def _read(self, resp: Response, method: str, url: str, cap: int) -> Answer:
        ok = resp.status < 300
        limit = cap if ok else MAX_ERROR_BYTES
        declared = resp.headers.get("content-length", "").strip()
        if ok and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise RegistryProblem(
                "registry-error",
                f"answer of {declared} bytes exceeds the {limit} byte limit",
                status=resp.status,
            )
        try:
            body = resp.read(limit, truncate=not ok)
        except BodyTooLarge:
            raise RegistryProblem(
                "registry-error", f"answer exceeds the {limit} byte limit", status=resp.status
            ) from None
        if not ok:
            body = self._scrub_bytes(body)
        parts = urlsplit(url)
        quotable = self._may_carry_secrets(parts.scheme, parts.netloc)
        return Answer(resp.status, resp.headers, body, url, quotable)

    def _scrub_bytes(self, body: bytes) -> bytes:
        text = body.decode("utf-8", "surrogateescape")
        return self.secrets.scrub(text).encode("utf-8", "surrogateescape")

    def _send_with_scheme(
        self, method: str, host: str, path: str, headers: dict[str, str], cap: int
    ) -> Answer:
        """For registries named insecure: HTTPS without verification, then plain HTTP, as
        Docker does; the scheme that answered is remembered."""
        scheme = self._scheme(host)
        try:
            return self._once(method, f"{scheme}://{host}{path}", headers, cap)
        except TransportError as exc:
            if not self.is_insecure(host) or scheme == "http":
                raise
            if classify_transport_error(exc, host).cause not in ("tls", "unreachable"):
                raise
        # Outside the handler, so a failure over HTTP is not chained to the HTTPS one.
        answer = self._once(method, f"http://{host}{path}", headers, cap)
        self._schemes[host] = "http"
        return answer

    def send(
        self,
        method: str,
        host: str,
        path: str,
        headers: dict[str, str] | None = None,
        cap: int = MAX_MANIFEST_BYTES,
        retries: int | None = None,
    ) -> Answer:
        """One request with bounded retries for 5xx, resets, timeouts, and 429s whose
        Retry-After fits the deadline (`retries`: for transport failures, when not the usual).
        Same-host redirects keep Authorization, others drop it."""
        headers = dict(headers or {})

        def plain_http(problem: RegistryProblem) -> RegistryProblem:
            if _not_tls(problem) and not self.is_insecure(host):
                return self._plain_http(host, problem)
            return problem

        return self._retrying(
            lambda: self._follow(method, host, path, headers, cap), host, plain_http, retries
        )

    def _retrying(
        self,
        exchange: Callable[[], Answer],
        host: str,
        transport_problem: Callable[[RegistryProblem], RegistryProblem],
        retries: int | None = None,
        retry_after: bool = True,
    ) -> Answer:
        """`exchange()` again after 5xx, resets and timeouts (`retries` for transport failures,
        when not the usual; a timeout already cost a whole request, so it gets no extra
        first-contact tries), and after a 429 whose Retry-After fits (`retry_after`). A transport
        failure that stays is raised as its cause, through `transport_problem`."""
        attempt = 0
        while True:
            try:
                answer = exchange()
            except TransportError as exc:
                problem = classify_transport_error(exc, host)
                tries = None if isinstance(exc, RequestTimeout) else retries
                if problem.cause == "unreachable" and self._may_retry(attempt, None, tries):
                    attempt += 1
                    continue
                raise transport_problem(problem) from None
            wait = None
            if answer.status == 429 and retry_after:
                wait = retry_after_seconds(answer.headers.get("retry-after"))
            if wait is not None and wait <= self.options.max_retry_after:
                if self._may_retry(attempt, wait):
                    attempt += 1
                    continue
                return answer
            if answer.status in _TRANSIENT_STATUS and self._may_retry(attempt, None):
                attempt += 1
                continue
            return answer

    def _plain_http(self, host: str, problem: RegistryProblem) -> RegistryProblem:
        """The TLS handshake got an answer that is not TLS: when the host answers plain HTTP
        (one GET /v2/, no credentials), that is the runtime's `server gave HTTP response to
        HTTPS client`, not a certificate problem."""
        try:
            answer = self._once("GET", f"http://{host}/v2/", {}, MAX_ERROR_BYTES)
        except (TransportError, RegistryProblem):
            problem.detail = "tls: first record does not look like a TLS handshake"
            return problem
        return RegistryProblem(
            "plain-http",
            PLAIN_HTTP,
            f"https://{host}/v2/: {problem.evidence}; http://{host}/v2/ answered"
            f" {answer.status} over plain HTTP",
        )

    def _may_retry(self, attempt: int, wait: float | None, retries: int | None = None) -> bool:
        if attempt >= (self.options.retries if retries is None else retries):
            return False
        # 0.25, 0.5, then +0.25 s a try: five first-contact tries span 2.5 s of pauses.
        backoff = self.options.backoff
        pause = wait if wait is not None else backoff * (2**attempt if attempt < 2 else attempt + 1)
        if pause + 0.5 >= self.deadline.remaining():
            return False
        time.sleep(pause)
        return True

    def _follow(
        self, method: str, host: str, path: str, headers: dict[str, str], cap: int
    ) -> Answer:
        answer = self._send_with_scheme(method, host, path, headers, cap)
        for _ in range(MAX_REDIRECTS):
            if answer.status not in (301, 302, 303, 307, 308) or "location" not in answer.headers:
                return answer
            try:
                target = redirect_target(answer.url, answer.headers["location"])
            except ValueError:
                raise RegistryProblem(
                    "registry-error", f"redirect to an invalid location from {host}"
                ) from None
            scheme, netloc = urlsplit(target)[:2]
            if scheme not in ("http", "https"):
                raise RegistryProblem("registry-error", f"redirect to a {scheme!r} URL from {host}")
            hop_headers = dict(headers)
            if netloc != host or not self._may_carry_secrets(scheme, netloc):
                # Credentials were meant for the registry, not for its storage backend, and
                # never travel in clear to an address not named insecure.
                hop_headers.pop("Authorization", None)
            answer = self._once(method, target, hop_headers, cap)
        return answer

    # ---- auth ------------------------------------------------------------------------------

    def _may_carry_secrets(self, scheme: str, netloc: str) -> bool:
        """Secrets travel over HTTPS, or in clear only to an address (host and port) the user
        named insecure: the same host on another port is another server."""
        return scheme == "https" or self.is_insecure(netloc)

    def plan(self, domain: str, repository: str, credential: Credential | None) -> None:
        """Announce a repository the run will read with `credential`, so the first token asked
        for this registry and credential can cover it too."""
        key = (api_host(domain), credential.id if credential else "")
        with self._lock:
            self._planned.setdefault(key, {})[pull_scope(repository)] = None

    def _fetch_token(
        self,
        challenge: Challenge,
        scopes: list[str],
        credential: Credential | None,
    ) -> Token:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise RegistryProblem("registry-error", f"token realm {realm!r} is not a URL")
        realm_scheme, realm_host = urlsplit(realm)[:2]
        send_secret = credential is not None and self._may_carry_secrets(realm_scheme, realm_host)
        headers: dict[str, str] = {}
        if send_secret:
            self.secrets.add(credential.password, credential.identity_token)
        if send_secret and credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "service": challenge.service,
                "scope": " ".join(scopes),  # OAuth2: one space-delimited parameter
                "refresh_token": credential.identity_token,
                "client_id": USER_AGENT,
            }
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            answer = self._token_request("POST", realm, headers, urlencode(form).encode())
        else:
            if send_secret and credential.username:
                headers["Authorization"] = self._basic(credential)
            # The token protocol: `scope` repeated, once per scope.
            pairs = [("service", challenge.service)] + [("scope", s) for s in scopes]
            query = urlencode([(k, v) for k, v in pairs if v])
            sep = "&" if "?" in realm else "?"
            answer = self._token_request("GET", f"{realm}{sep}{query}", headers, None)
        who = credential.source if credential else "anonymous"
        if answer.status in (401, 403):
            raise RegistryProblem(
                "unauthorized",
                f"token server {realm_host} refused {who}",
                f"{answer.status} from {realm_host}: {answer.error_text()}",
                answer.status,
            )
        if answer.status == 429:
            raise RegistryProblem("rate-limited", answer.error_text(), status=429)
        if answer.status != 200:
            raise RegistryProblem(
                "registry-error",
                f"token server {realm_host} answered {answer.status}",
                f"{answer.status} from {realm_host}: {answer.error_text()}",
                answer.status,
            )
        data = None
        try:
            data = load_json(answer.body)
            value = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value or not _header_safe(value):
            raise RegistryProblem(
                "registry-error",
                f"token server {realm_host} sent no token (malformed answer)",
                f"{answer.status} from {realm_host}: {_token_answer_shape(data, answer)}",
            )
        self.secrets.add(value)
        return Token(value, time.monotonic() + token_lifetime(data.get("expires_in")))

    def _basic(self, credential: Credential) -> str:
        raw = f"{credential.username}:{credential.password}"
        encoded = base64.b64encode(raw.encode()).decode()
        self.secrets.add(raw, encoded, credential.password)
        return "Basic " + encoded

    def _token_request(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> Answer:
        host = urlsplit(url).netloc

        def exchange() -> Answer:
            with self._lock:
                self.token_requests += 1
            return self._once(method, url, headers, MAX_TOKEN_BYTES, content)

        def token_server(problem: RegistryProblem) -> RegistryProblem:
            problem.detail = f"token server {host}: {problem.detail}"
            return problem

        return self._retrying(exchange, host, token_server, retry_after=False)

    def _authorization(
        self, host: str, scope: str, credential: Credential | None, challenge: Challenge | None
    ) -> str | None:
        challenge = challenge or self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if credential and credential.username:
                return self._basic(credential)
            return None
        key = (host, scope, credential.id if credential else "")
        token = self.tokens.cached(key) or self._batched_token(challenge, key, credential)
        if token is None:
            self._alone.add(key)  # asked alone: a refusal of this token is final
            token = self.tokens.get(key, lambda: self._fetch_token(challenge, [scope], credential))
        return f"Bearer {token.value}"

    def _batched_token(
        self, challenge: Challenge, key: TokenKey, credential: Credential | None
    ) -> Token | None:
        """One token request for this scope and the run's other planned scopes of the same
        registry and credential; each scope the token grants (by its `access` claim, or all
        when the token is opaque) is cached, the others are asked alone later. None when
        there is nothing to batch."""
        host, scope, credential_id = key
        group = (host, credential_id)
        if not self.options.multi_scope or key in self._alone:
            return None
        with self._lock:
            lock = self._batch_locks.setdefault(group, threading.Lock())
        if lock.locked():  # another thread asks the token: open this one's connection meanwhile
            self._warm(host)
        with lock:
            token = self.tokens.cached(key)
            if token is not None or key in self._alone:
                return token
            with self._lock:
                planned = list(self._planned.get(group, {}))
            others = [
                s
                for s in planned
                if s != scope
                and (host, s, credential_id) not in self._alone
                and self.tokens.cached((host, s, credential_id)) is None
            ]
            if not others:
                return None
            scopes = [scope, *others[: MAX_SCOPES_PER_TOKEN - 1]]
            try:
                token = self._fetch_token(challenge, scopes, credential)
            except RegistryProblem as problem:
                if problem.cause in _HOST_DOWN:
                    raise
                # A token server that refuses several scopes at once: ask one by one.
                self._alone.update((host, s, credential_id) for s in scopes)
                return None
            granted = granted_scopes(token.value, scopes)
            for each in scopes:
                if granted is None or each in granted:
                    self.tokens.put((host, each, credential_id), token)
                else:
                    self._alone.add((host, each, credential_id))
            return self.tokens.cached(key)

    def request(
        self,
        method: str,
        domain: str,
        repository: str,
        path: str,
        credential: Credential | None,
        accept: str | None = None,
        cap: int = MAX_MANIFEST_BYTES,
    ) -> Answer:
        """A repository-scoped request: tries the cached token (or the host's known challenge)
        first, and on a 401 follows the challenge once."""
        host = api_host(domain)
        scope = pull_scope(repository)
        headers = {"Accept": accept} if accept else {}
        first = self._claim_first_contact(host)
        failed = self._host_failures.get(host) if first is None else None
        if failed is not None:  # the first contact found the host dead: no waiting again
            raise RegistryProblem(failed.cause, failed.detail, failed.evidence, failed.status)
        try:
            auth = self._authorization(host, scope, credential, None)
            if auth:
                headers["Authorization"] = auth
            retries = self.options.first_contact_retries if first is not None else None
            answer = self.send(method, host, path, headers, cap, retries)
            challenge = None
            if answer.status == 401:
                challenge = parse_challenge(answer.headers.get("www-authenticate"))
            if challenge is not None:
                known = Challenge(challenge.scheme, challenge.realm, challenge.service)
                with self._lock:
                    self._challenges[host] = known
        except RegistryProblem as problem:
            if first is not None and problem.cause in _HOST_DOWN:
                self._host_failures[host] = problem
            raise
        finally:
            if first is not None:
                self._contacted.add(host)
                first.release()
        # Follow the challenge: once with a (possibly shared) token, and once more with a token
        # asked for this scope alone when a multi-scope token turned out not to cover it.
        for _ in range(2):
            if answer.status != 401 or challenge is None:
                return answer
            want = challenge.scope or scope
            if auth and challenge.scheme == "bearer":
                key = (host, want, credential.id if credential else "")
                if key in self._alone:
                    return answer  # refused with a token asked for it alone: final
                self.tokens.drop(key)
                self._alone.add(key)
            retry_auth = self._authorization(host, want, credential, challenge)
            if not retry_auth or retry_auth == auth:
                return answer
            headers["Authorization"] = auth = retry_auth
            answer = self.send(method, host, path, headers, cap)
            challenge = None
            if answer.status == 401:
                challenge = parse_challenge(answer.headers.get("www-authenticate"))
        return answer
