"""Distribution protocol vocabulary shared by the client and the resolver: media types, size
limits, the answer type, and `RegistryProblem`. Kept free of httpx so offline runs never load it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own manifest size limit
MAX_BLOB_BYTES = 1024 * 1024  # an image config is a few KB
MAX_ERROR_BYTES = 64 * 1024
MAX_REDIRECTS = 3


class RegistryProblem(Exception):
    """A registry answer that means the pull would fail; `cause` is a catalog id."""

    def __init__(
        self,
        cause: str,
        detail: str,
        evidence: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.evidence = evidence or detail
        self.status = status
        self.retry_after = retry_after


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    body: bytes
    url: str

    def error_text(self) -> str:
        """The registry's own words: the first error's code and message, else the body start."""
        try:
            data = json.loads(self.body)
            first = data["errors"][0]
            return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            text = self.body[:200].decode("utf-8", "replace").strip()
            return text or _reason(self.status)


def _reason(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
