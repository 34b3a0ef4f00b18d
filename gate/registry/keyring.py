"""Which stored credentials apply to an image, by the kubelet's rules
(pkg/credentialprovider/keyring.go; REFERENCE.md §4).

Each key loses its scheme and a leading /v1/ or /v2/; keys are tried in reverse lexical order
(most specific first). A key matches an image when the ports are equal, the hosts have the same
number of dot-separated labels, each label matches as a glob, and the key's path is a prefix of
the image's path. Every matching key's credential is returned. Docker Hub images fall back to
credentials stored under `index.docker.io`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Generic, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
DEFAULT_REGISTRY_KEY = "index.docker.io"


def normalize_key(key: str) -> str:
    """`https://index.docker.io/v1/` -> `index.docker.io`; `ghcr.io/org` stays."""
    value = key if key.startswith(("https://", "http://")) else "https://" + key
    parts = urlsplit(value)
    path = parts.path
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    if path and path != "/":
        return parts.netloc + path
    return parts.netloc


def _split(schemeless: str) -> tuple[list[str], str, str]:
    parts = urlsplit("https://" + schemeless)
    netloc = parts.netloc
    host, port = netloc, ""
    if netloc.startswith("["):
        end = netloc.find("]")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    elif ":" in netloc:
        host, port = netloc.rsplit(":", 1)
    return host.split("."), port, parts.path


def key_matches(key: str, image: str) -> bool:
    """Whether a normalized key matches an image name such as `docker.io/library/nginx`."""
    key_labels, key_port, key_path = _split(key)
    image_labels, image_port, image_path = _split(image)
    if key_port != image_port or len(key_labels) != len(image_labels):
        return False
    if not image_path.startswith(key_path):
        return False
    return all(fnmatchcase(i, k) for k, i in zip(key_labels, image_labels, strict=True))


def _is_default_registry(image: str) -> bool:
    first, sep, _ = image.partition("/")
    if not first:
        return False
    if not sep or first == "docker.io":
        return True
    return not any(c in first for c in ".:")


@dataclass(frozen=True)
class Entry(Generic[T]):
    key: str  # normalized
    value: T


class Keyring(Generic[T]):
    """Credentials (any value type) indexed the kubelet's way."""

    def __init__(self, items: Iterable[tuple[str, T]] = ()) -> None:
        self._entries: list[Entry[T]] = []
        for key, value in items:
            self.add(key, value)

    def add(self, key: str, value: T) -> None:
        self._entries.append(Entry(normalize_key(key), value))
        self._entries.sort(key=lambda e: e.key, reverse=True)

    def lookup(self, image: str) -> list[Entry[T]]:
        """Every entry whose key matches `image` (a normalized name without tag), most specific
        first; Docker Hub images fall back to `index.docker.io`."""
        found = [e for e in self._entries if key_matches(e.key, image)]
        if found:
            return found
        if _is_default_registry(image):
            return [e for e in self._entries if e.key == DEFAULT_REGISTRY_KEY]
        return []

    def __len__(self) -> int:
        return len(self._entries)
