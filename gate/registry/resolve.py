"""Resolve every unique reference once: existence, digest, platforms, who we were.

One manifest request per unique reference (HEAD first on Docker Hub, where GET counts as a pull),
a config blob only for single-platform images whose platform a check needs (cached by digest),
and a tag listing only for references that were not found.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout  # not the builtin before 3.11
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gate.platforms import Platform, from_oci
from gate.reference import ImageRef
from gate.registry.credentials import ANONYMOUS_SOURCE, Credential
from gate.registry.protocol import (
    ACCEPT,
    MAX_BLOB_BYTES,
    Answer,
    RegistryProblem,
    retry_after_seconds,
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
MAX_TAGS_LISTED = 1000

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


def _media_type(answer: Answer, data: dict | None) -> str:
    header = answer.headers.get("content-type", "").split(";")[0].strip()
    if data and isinstance(data.get("mediaType"), str):
        return data["mediaType"]
    return header


def _is_attestation(entry: dict) -> bool:
    annotations = entry.get("annotations") or {}
    if (
        isinstance(annotations, dict)
        and annotations.get("vnd.docker.reference.type") == ATTESTATION
    ):
        return True
    platform = from_oci(entry.get("platform"))
    return platform is not None and platform.is_unknown


def parse_manifest(answer: Answer) -> _Manifest:
    """Digest, media type and (for an index or schema 1) platforms of a manifest answer."""
    digest = (
        answer.headers.get("docker-content-digest")
        or "sha256:" + hashlib.sha256(answer.body).hexdigest()
    )
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise RegistryProblem(
            "registry-error", "manifest is not JSON", f"answer starts {answer.body[:60]!r}"
        ) from None
    if not isinstance(data, dict):
        raise RegistryProblem("registry-error", "manifest is not a JSON object")
    media_type = _media_type(answer, data)
    if media_type in INDEX_TYPES or isinstance(data.get("manifests"), list):
        entries = data.get("manifests")
        if not isinstance(entries, list):
            raise RegistryProblem("registry-error", "index has no manifests list")
        platforms = [
            from_oci(e.get("platform"))
            for e in entries
            if isinstance(e, dict) and not _is_attestation(e)
        ]
        return _Manifest(digest, media_type, tuple(p for p in platforms if p))
    if media_type in SCHEMA1_TYPES or data.get("schemaVersion") == 1:
        arch = data.get("architecture")
        platform = Platform("linux", arch) if isinstance(arch, str) else None
        return _Manifest(digest, media_type, (platform,) if platform else ())
    config = data.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        raise RegistryProblem("registry-error", "manifest has no config descriptor")
    return _Manifest(digest, media_type, None, config["digest"])


class Resolver:
    def __init__(
        self, client: RegistryClient, credentials: CredentialLookup, concurrency: int = 16
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.concurrency = max(1, concurrency)
        self._config_platforms: dict[str, Platform | None] = {}
        self._lock = threading.Lock()

    def resolve_all(
        self,
        refs: Iterable[ImageRef],
        need_platforms: Callable[[ImageRef], bool],
        progress: Callable[[Resolution], None] | None = None,
    ) -> dict[ImageRef, Resolution]:
        unique = list(dict.fromkeys(refs))
        results: dict[ImageRef, Resolution] = {}
        with ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="pullgate"
        ) as pool:
            futures: dict[Future[Resolution], ImageRef] = {
                pool.submit(self.resolve, ref, need_platforms(ref)): ref for ref in unique
            }
            # as_completed waits on each future once; wait(FIRST_COMPLETED) in a loop re-arms
            # every pending future per completion, quadratic in the number of images.
            try:
                for future in as_completed(futures, timeout=self.client.deadline.remaining() + 1):
                    ref = futures[future]
                    results[ref] = future.result()
                    if progress:
                        progress(results[ref])
            except FuturesTimeout:
                pass
            pending = {future: ref for future, ref in futures.items() if ref not in results}
            for future, ref in pending.items():
                future.cancel()
                results[ref] = Resolution(
                    ref,
                    problem=Problem(
                        "unreachable", "deadline exceeded", "no answer before the run's deadline"
                    ),
                )
        return results

    def resolve(self, ref: ImageRef, need_platforms: bool) -> Resolution:
        candidates: list[Credential | None] = list(self.credentials(ref)) or [None]
        result = Resolution(ref)
        for credential in candidates:
            result = self._resolve_as(ref, credential, need_platforms)
            if result.ok or result.problem.cause != "unauthorized":
                return result
        return result

    def _resolve_as(
        self, ref: ImageRef, credential: Credential | None, need_platforms: bool
    ) -> Resolution:
        result = Resolution(ref, credential=credential.source if credential else ANONYMOUS_SOURCE)
        try:
            manifest = self._manifest(ref, credential, need_platforms, result)
            result.digest = manifest.digest
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
        if self.client.options.head_first(ref.domain):
            answer = self._get(ref, "HEAD", path, credential, result)
            self._raise_for(answer, ref)
            _note_ratelimit(answer, result)
            digest = answer.headers.get("docker-content-digest")
            media = answer.headers.get("content-type", "").split(";")[0].strip()
            if digest and not need_platforms:
                return _Manifest(digest, media)
            path = f"/v2/{ref.path}/manifests/{digest or ref.reference}"
        answer = self._get(ref, "GET", path, credential, result)
        self._raise_for(answer, ref)
        _note_ratelimit(answer, result)
        return parse_manifest(answer)

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
            raise RegistryProblem(
                "rate-limited",
                words,
                words,
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
        try:
            platform = from_oci(json.loads(answer.body))
        except ValueError:
            raise RegistryProblem("registry-error", "image config is not JSON") from None
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
            answer = self._get(ref, "GET", path, credential, result, accept="application/json")
        except RegistryProblem:
            return None, ""
        if answer.status == 404:
            return None, answer.error_text()
        try:
            tags = json.loads(answer.body).get("tags") if answer.status == 200 else None
        except (ValueError, AttributeError):
            return None, ""
        return ([t for t in tags if isinstance(t, str)] if isinstance(tags, list) else None), ""

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


def _note_ratelimit(answer: Answer, result: Resolution) -> None:
    remaining = answer.headers.get("ratelimit-remaining")
    if remaining:
        result.ratelimit_remaining = remaining.split(";")[0]
