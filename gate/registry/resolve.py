"""Resolve every unique reference once: existence, digest, platforms, who we were.

One manifest request per unique reference (HEAD first on Docker Hub, where GET counts as a pull),
a config blob only for single-platform images whose platform a check needs (cached by digest),
and a tag listing only for references that were not found.
"""

from __future__ import annotations

import difflib
import queue
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gate.platforms import Platform, from_oci
from gate.reference import ImageRef
from gate.registry.credentials import ANONYMOUS_SOURCE, Credential
from gate.registry.protocol import (
    ACCEPT,
    MAX_BLOB_BYTES,
    MAX_TAGS_BYTES,
    Answer,
    RegistryProblem,
    clean_text,
    digest_of,
    is_digest,
    load_json,
    retry_after_seconds,
    verify_digest,
)

if TYPE_CHECKING:
    from gate.registry.client import RegistryClient

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    }
)
ATTESTATION = "attestation-manifest"
_REFERENCE_TYPE = "vnd.docker.reference.type"
# JSON can carry a lone surrogate only as an escape (UTF-8 cannot encode one).
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_TAGS_LISTED = 1000
MAX_TAG_CHARS = 128  # distribution's own limit; longer "tags" are not tags
# Grace after the run's deadline for answers already in hand (workers' own requests stop at it).
_DRAIN_S = 0.05

CredentialLookup = Callable[[ImageRef], list[Credential]]


@dataclass(frozen=True)
class Problem:
    cause: str  # catalog id
    detail: str  # kubelet-style detail for the Events line
    evidence: str  # the registry's own words
    status: int | None = None
    retry_after: float | None = None


@dataclass
class Resolution:
    ref: ImageRef
    digest: str | None = None
    media_type: str | None = None
    platforms: tuple[Platform, ...] | None = None  # None: not looked at
    problem: Problem | None = None
    credential: str = ANONYMOUS_SOURCE
    ratelimit_remaining: str | None = None
    nearby_tags: tuple[str, ...] = ()
    requests: int = 0
    scheme: str = "https"  # what the registry answered on (http: named insecure, no TLS)
    tags_listed: bool = False  # the tag listing answered (nearby_tags may still be empty)
    repository_unknown: bool = False  # the registry says the repository does not exist
    digest_from_bytes: bool = False  # `digest` was computed from the manifest pullgate read

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def anonymous(self) -> bool:
        return self.credential == ANONYMOUS_SOURCE


@dataclass
class _Manifest:
    digest: str
    media_type: str
    platforms: tuple[Platform, ...] | None = None
    config_digest: str | None = None
    from_bytes: bool = True


def _media_type(answer: Answer, data: dict | None) -> str:
    header = answer.headers.get("content-type", "").split(";")[0].strip()
    if data and isinstance(data.get("mediaType"), str):
        return clean_text(data["mediaType"][:200])
    return clean_text(header[:200])


def _platform(data: object, clean: bool = True) -> Platform | None:
    """A platform from registry JSON, its strings made printable-safe (`clean`: the answer
    may hold escaped surrogates; over-long values are cut either way)."""
    platform = from_oci(data)
    if platform is None:
        return None
    fields = (platform.os, platform.architecture, platform.variant, platform.os_version)
    if not clean and all(len(v) <= 200 for v in fields):
        return platform
    return Platform(*(clean_text(v[:200]) for v in fields))


# What Go's JSON decoding into the OCI types (containerd's) accepts per field: a value of another
# type fails the whole document, and so the pull.
_DESCRIPTOR_STRINGS = ("mediaType", "digest", "artifactType")
_PLATFORM_STRINGS = ("os", "architecture", "variant", "os.version")


def _wrong_type(value: object, kind: type) -> bool:
    if value is None:
        return False  # Go leaves the zero value
    if kind is int:
        return isinstance(value, bool) or not isinstance(value, int)
    return not isinstance(value, kind)


def _string_map_or_list_problem(value: object, name: str) -> str | None:
    if value is None:
        return None
    if name == "annotations":
        if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
            return "annotations is not a map of strings"
    elif not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        return f"{name} is not a list of strings"
    return None


def descriptor_problem(entry: object) -> str | None:
    """Why a descriptor (an index entry, a config or layer) would fail containerd's decoding or
    fetch, or None: a field of the wrong type, a malformed digest, a negative size."""
    if not isinstance(entry, dict):
        return "is not an object"
    for name in _DESCRIPTOR_STRINGS:
        if _wrong_type(entry.get(name), str):
            return f"{name} is not a string"
    if _wrong_type(entry.get("size"), int):
        return "size is not an integer"
    if isinstance(entry.get("size"), int) and entry["size"] < 0:
        return f"size {entry['size']} is negative"
    digest = entry.get("digest")
    if digest and not is_digest(digest):
        return f"digest {clean_text(digest[:80])!r} is not a valid digest"
    for name in ("annotations", "urls"):
        problem = _string_map_or_list_problem(entry.get(name), name)
        if problem:
            return problem
    platform = entry.get("platform")
    if platform is None:
        return None
    if not isinstance(platform, dict):
        return "platform is not an object"
    for name in _PLATFORM_STRINGS:
        if _wrong_type(platform.get(name), str):
            return f"platform {name} is not a string"
    return _string_map_or_list_problem(platform.get("os.features"), "os.features")


def _check_descriptors(entries: list, what: str) -> None:
    for number, entry in enumerate(entries, 1):
        problem = descriptor_problem(entry)
        if problem:
            where = f"{what} {number}" if len(entries) > 1 or what != "config descriptor" else what
            raise RegistryProblem("registry-error", f"manifest's {where}: {problem}")


def _index_platforms(entries: list, clean: bool) -> tuple[Platform, ...]:
    """The distinct platforms of an index's entries, attestations left out."""
    found: dict[Platform, None] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and annotations.get(_REFERENCE_TYPE) == ATTESTATION:
            continue
        platform = _platform(entry.get("platform"), clean)
        if platform is not None and not platform.is_unknown:
            found[platform] = None
    return tuple(found)


def header_digest(answer: Answer) -> str | None:
    """The Docker-Content-Digest header, refused when it is not a digest (containerd refuses a
    malformed one too)."""
    value = answer.headers.get("docker-content-digest")
    if value is None:
        return None
    if not is_digest(value.strip()):
        raise RegistryProblem(
            "registry-error",
            "Docker-Content-Digest in header not a valid digest",
            f"Docker-Content-Digest: {clean_text(value[:100])!r}",
        )
    return value.strip()


def manifest_digest(answer: Answer, expected: str | None) -> str:
    """The manifest's digest computed from the bytes read: it must equal the digest asked for,
    and the registry's Docker-Content-Digest when it sends one (containerd fetches by the
    header's digest and verifies the bytes against it)."""
    if expected:
        verify_digest(expected, answer.body, "manifest")
        return expected
    announced = header_digest(answer)
    if announced:
        verify_digest(announced, answer.body, "manifest")
        return announced
    return digest_of(answer.body)


def _check_top_level(data: dict) -> None:
    """The document's own fields, as containerd's typed decoding reads them."""
    if _wrong_type(data.get("mediaType"), str):
        raise RegistryProblem("registry-error", "manifest mediaType is not a string")
    if _wrong_type(data.get("schemaVersion"), int):
        raise RegistryProblem("registry-error", "manifest schemaVersion is not an integer")
    problem = _string_map_or_list_problem(data.get("annotations"), "annotations")
    if problem:
        raise RegistryProblem("registry-error", f"manifest {problem}")


def parse_manifest(answer: Answer, expected: str | None = None) -> _Manifest:
    """Digest (from the bytes, checked against `expected` and the header), media type and (for
    an index or schema 1) platforms of a manifest answer."""
    try:
        data = load_json(answer.body)
    except ValueError as exc:
        raise RegistryProblem(
            "registry-error",
            "manifest is not JSON",
            f"{exc}; answer starts {answer.start()}",
        ) from None
    digest = manifest_digest(answer, expected)
    if not isinstance(data, dict):
        raise RegistryProblem("registry-error", "manifest is not a JSON object")
    media_type = _media_type(answer, data)
    if media_type in INDEX_TYPES or isinstance(data.get("manifests"), list):
        entries = data.get("manifests")
        if not isinstance(entries, list):
            raise RegistryProblem("registry-error", "index has no manifests list")
        _check_top_level(data)
        _check_descriptors(entries, "index entry")
        clean = _ESCAPED_SURROGATE.search(answer.body) is not None
        return _Manifest(digest, media_type, _index_platforms(entries, clean))
    if media_type in SCHEMA1_TYPES or data.get("schemaVersion") == 1:
        arch = data.get("architecture")
        platform = _platform({"os": "linux", "architecture": arch})
        return _Manifest(digest, media_type, (platform,) if platform else ())
    config = data.get("config")
    if not isinstance(config, dict) or not is_digest(config.get("digest")):
        raise RegistryProblem("registry-error", "manifest has no valid config descriptor")
    _check_top_level(data)
    _check_descriptors([config], "config descriptor")
    layers = data.get("layers")
    if layers is not None and not isinstance(layers, list):
        raise RegistryProblem("registry-error", "manifest layers is not a list")
    _check_descriptors(layers or [], "layer")
    return _Manifest(digest, media_type, None, config["digest"])


class Resolver:
    def __init__(
        self,
        client: RegistryClient,
        credentials: CredentialLookup,
        concurrency: int = 16,
        read_bytes: bool = False,
    ) -> None:
        """`read_bytes`: every digest comes from manifest bytes (no HEAD-only answers), as
        `pin` needs."""
        self.client = client
        self.credentials = credentials
        self.concurrency = max(1, concurrency)
        self.read_bytes = read_bytes
        self._config_platforms: dict[str, Platform | None] = {}
        self._credentials_of: dict[ImageRef, list[Credential | None]] = {}
        self._lock = threading.Lock()

    def resolve_all(
        self,
        refs: Iterable[ImageRef],
        need_platforms: Callable[[ImageRef], bool],
        progress: Callable[[Resolution], None] | None = None,
    ) -> dict[ImageRef, Resolution]:
        """Every reference resolved by daemon workers; at the run's deadline the images still
        unanswered get a deadline finding and the run goes on without waiting for their
        workers (which stop at their own request deadlines)."""
        unique = list(dict.fromkeys(refs))
        self._plan_tokens(unique)
        todo: queue.SimpleQueue[ImageRef] = queue.SimpleQueue()
        for ref in unique:
            todo.put(ref)
        answers: queue.SimpleQueue[Resolution | BaseException] = queue.SimpleQueue()

        def work() -> None:
            while self.client.deadline.remaining() > 0:
                try:
                    ref = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    answers.put(self.resolve(ref, need_platforms(ref)))
                except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                    answers.put(exc)
                    return

        for i in range(min(self.concurrency, len(unique))):
            threading.Thread(target=work, name=f"pullgate-{i}", daemon=True).start()
        results: dict[ImageRef, Resolution] = {}
        while len(results) < len(unique):
            try:
                result = answers.get(timeout=self.client.deadline.remaining() + _DRAIN_S)
            except queue.Empty:
                break
            if isinstance(result, BaseException):
                raise result  # as the pool's future.result() did: a bug, not a finding
            results[result.ref] = result
            if progress:
                progress(result)
        for ref in unique:
            if ref not in results:
                results[ref] = Resolution(
                    ref,
                    problem=Problem(
                        "unreachable", "deadline exceeded", "no answer before the run's deadline"
                    ),
                )
        return results

    def _plan_tokens(self, refs: list[ImageRef]) -> None:
        """Tell the client every repository the run reads and with which credential first, so
        one token request per registry and credential can cover them."""
        for ref in refs:
            candidates = self._candidates(ref)
            self.client.plan(ref.domain, ref.path, candidates[0])

    def _candidates(self, ref: ImageRef) -> list[Credential | None]:
        with self._lock:
            if ref in self._credentials_of:
                return self._credentials_of[ref]
        found: list[Credential | None] = list(self.credentials(ref)) or [None]
        with self._lock:
            self._credentials_of[ref] = found
        return found

    def resolve(self, ref: ImageRef, need_platforms: bool) -> Resolution:
        candidates = self._candidates(ref)
        result = Resolution(ref)
        for credential in candidates:
            result = self._resolve_as(ref, credential, need_platforms)
            if result.ok or result.problem.cause != "unauthorized":
                break
        if result.problem is not None:
            result.problem = self._scrubbed(result.problem)
        result.nearby_tags = tuple(self.client.secrets.scrub(t) for t in result.nearby_tags)
        return result

    def _scrubbed(self, problem: Problem) -> Problem:
        """The problem as it may be printed: no credential pullgate sent, no lone surrogate."""
        scrub = self.client.secrets.scrub
        return replace(
            problem,
            detail=scrub(clean_text(problem.detail)),
            evidence=scrub(clean_text(problem.evidence)),
        )

    def _resolve_as(
        self, ref: ImageRef, credential: Credential | None, need_platforms: bool
    ) -> Resolution:
        result = Resolution(ref, credential=credential.source if credential else ANONYMOUS_SOURCE)
        try:
            manifest = self._manifest(ref, credential, need_platforms, result)
            result.digest = manifest.digest
            result.digest_from_bytes = manifest.from_bytes
            result.media_type = manifest.media_type
            result.platforms = manifest.platforms
            if need_platforms and manifest.platforms is None and manifest.config_digest:
                platform = self._config_platform(ref, manifest.config_digest, credential, result)
                result.platforms = (platform,) if platform else ()
        except RegistryProblem as problem:
            result.problem = Problem(
                problem.cause, problem.detail, problem.evidence, problem.status, problem.retry_after
            )
            if problem.cause == "tag-not-found":
                self._explain_not_found(ref, credential, result)
        except Exception as exc:  # noqa: BLE001 - whatever a registry sends is a finding
            result.problem = Problem(
                "registry-error",
                "pullgate could not read the registry's answer",
                f"{type(exc).__name__}: {str(exc)[:200]}",
            )
        result.scheme = self.client.scheme(ref.domain)
        return result

    def _get(
        self,
        ref: ImageRef,
        method: str,
        path: str,
        credential: Credential | None,
        result: Resolution,
        accept: str | None = ACCEPT,
        cap: int | None = None,
    ) -> Answer:
        result.requests += 1
        kwargs = {"cap": cap} if cap else {}
        return self.client.request(
            method, ref.domain, ref.path, path, credential, accept=accept, **kwargs
        )

    def _manifest(
        self, ref: ImageRef, credential: Credential | None, need_platforms: bool, result: Resolution
    ) -> _Manifest:
        path = f"/v2/{ref.path}/manifests/{ref.reference}"
        expected = ref.digest
        # A digest reference is always read: only its bytes show the registry holds it.
        if self.client.options.head_first(ref.domain) and not expected:
            answer = self._get(ref, "HEAD", path, credential, result)
            self._raise_for(answer, ref)
            _note_ratelimit(answer, result)
            digest = header_digest(answer)
            media = clean_text(answer.headers.get("content-type", "").split(";")[0].strip())
            if digest and not need_platforms and not self.read_bytes:
                return _Manifest(digest, media, from_bytes=False)
            path = f"/v2/{ref.path}/manifests/{digest or ref.reference}"
            expected = digest
        answer = self._get(ref, "GET", path, credential, result)
        self._raise_for(answer, ref)
        _note_ratelimit(answer, result)
        return parse_manifest(answer, expected)

    def _raise_for(self, answer: Answer, ref: ImageRef) -> None:
        status = answer.status
        if status in (200, 201):
            return
        words = answer.error_text() if answer.body else f"{status}"
        if status == 404:
            code = words.split(":")[0]
            what = "name unknown" if code == "NAME_UNKNOWN" else "manifest unknown"
            raise RegistryProblem("tag-not-found", f"{what}: {ref.familiar}", words, status)
        if status in (401, 403):
            raise RegistryProblem(
                "unauthorized",
                f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}",
                words,
                status,
            )
        if status == 429:
            limits = _rate_limit_headers(answer)
            raise RegistryProblem(
                "rate-limited",
                words,
                f"{words} ({limits})" if limits else words,
                status,
                retry_after_seconds(answer.headers.get("retry-after")),
            )
        raise RegistryProblem("registry-error", f"{status} from {ref.domain}", words, status)

    def _config_platform(
        self, ref: ImageRef, digest: str, credential: Credential | None, result: Resolution
    ) -> Platform | None:
        with self._lock:
            if digest in self._config_platforms:
                return self._config_platforms[digest]
        answer = self._get(
            ref,
            "GET",
            f"/v2/{ref.path}/blobs/{digest}",
            credential,
            result,
            accept=None,
            cap=MAX_BLOB_BYTES,
        )
        self._raise_for(answer, ref)
        verify_digest(digest, answer.body, "image config")
        try:
            platform = _platform(load_json(answer.body))
        except ValueError as exc:
            raise RegistryProblem("registry-error", f"image config is not JSON: {exc}") from None
        with self._lock:
            self._config_platforms[digest] = platform
        return platform

    def _listed_tags(
        self, ref: ImageRef, credential: Credential | None, result: Resolution
    ) -> tuple[list[str] | None, str]:
        """The repository's tags (None when the listing is refused or broken) and, when the
        registry says the repository itself is unknown, its words."""
        path = f"/v2/{ref.path}/tags/list?n={MAX_TAGS_LISTED}"
        try:
            answer = self._get(
                ref, "GET", path, credential, result, accept="application/json", cap=MAX_TAGS_BYTES
            )
        except RegistryProblem:
            return None, ""
        if answer.status == 404:
            return None, answer.error_text()
        try:
            tags = load_json(answer.body).get("tags") if answer.status == 200 else None
        except (ValueError, AttributeError):
            return None, ""
        if not isinstance(tags, list):
            return None, ""
        return [clean_text(t) for t in tags if isinstance(t, str) and len(t) <= MAX_TAG_CHARS], ""

    def _explain_not_found(
        self, ref: ImageRef, credential: Credential | None, result: Resolution
    ) -> None:
        tags, unknown_repo = self._listed_tags(ref, credential, result)
        problem = result.problem
        result.tags_listed = tags is not None
        result.repository_unknown = bool(unknown_repo)
        if unknown_repo and problem is not None:
            result.problem = Problem(
                problem.cause,
                f"repository {ref.path} not found",
                f"{problem.evidence}; tags/list: {unknown_repo}",
                problem.status,
            )
        if tags:
            close = difflib.get_close_matches(ref.tag or "", tags, n=5, cutoff=0.4)
            result.nearby_tags = tuple(close or sorted(tags)[-5:])


# The IETF RateLimit header fields (and the older X- forms many registries send): what the
# registry said about its window, quoted in a 429's evidence.
_RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


def _rate_limit_headers(answer: Answer) -> str:
    sent = [(name, answer.headers.get(name)) for name in _RATE_LIMIT_HEADERS]
    return ", ".join(f"{name}: {value[:100]}" for name, value in sent if value)


def _note_ratelimit(answer: Answer, result: Resolution) -> None:
    remaining = answer.headers.get("ratelimit-remaining")
    if remaining:
        result.ratelimit_remaining = remaining.split(";")[0]
