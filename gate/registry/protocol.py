"""Distribution protocol vocabulary shared by the client and the resolver: media types, size
limits, the answer type, and `RegistryProblem`. Kept free of the transport, so that offline runs
never load it."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote, quote_plus

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
MAX_TOKEN_BYTES = 1024 * 1024  # a JWT is a few KB; ACR's are under 4 KB
MAX_TAGS_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 3
# Secrets shorter than this are not scrubbed: replacing every "ab" in evidence would hide the
# registry's words and protect nothing a guess would not find.
MIN_SECRET_CHARS = 4
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


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
    headers: Mapping[str, str]  # case-insensitive (transport.Headers)
    body: bytes
    url: str
    # False for a plain-HTTP answer from an address not named insecure: a realm or redirect
    # target the registry chose, such as a cloud metadata service or an internal page, whose
    # words must not reach a CI log.
    quotable: bool = True

    def start(self, size: int = 60) -> str:
        """The body's first bytes, as evidence, when they may be quoted."""
        if not self.quotable:
            return "(not quoted: plain HTTP from an address not named insecure)"
        return repr(self.body[:size])

    def error_text(self) -> str:
        """The registry's own words: the first error's code and message, else the body start."""
        if not self.quotable:
            return f"{_reason(self.status)} {self.start()}"
        try:
            data = load_json(self.body)
            first = data["errors"][0]
            text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
            return clean_text(text[:MAX_QUOTED_CHARS])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            text = self.body[:200].decode("utf-8", "replace").strip()
            return clean_text(text) or _reason(self.status)


MAX_QUOTED_CHARS = 500  # of a registry's error message quoted as evidence


def load_json(data: bytes | str) -> object:
    """`json.loads` for bytes from the network: nesting too deep for the parser is a ValueError
    like any other malformed answer, not a RecursionError that ends the run."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def clean_text(text: str) -> str:
    """Text safe to print and to encode as UTF-8: lone surrogates (which JSON's \\ud800 escapes
    produce) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.match(value) is not None


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    """The digest of `body` in `algorithm` (sha256 or sha512; others hash as sha256)."""
    return f"{algorithm}:" + _ALGORITHMS.get(algorithm, hashlib.sha256)(body).hexdigest()


def verify_digest(expected: str, body: bytes, what: str) -> None:
    """Raise `digest-mismatch` unless `body` hashes to `expected`, as containerd checks it."""
    algorithm = expected.split(":", 1)[0]
    if algorithm not in _ALGORITHMS:
        raise RegistryProblem("registry-error", f"{what} digest {expected!r} is not supported")
    actual = digest_of(body, algorithm)
    if actual != expected:
        raise RegistryProblem(
            "digest-mismatch",
            f"unexpected commit digest {actual}, expected {expected}",
            f"the registry served {len(body)} bytes for {what} {expected} that hash to {actual}",
        )


class Secrets:
    """Every credential pullgate sent in a run, in the forms they travel in (raw, base64 for
    Basic, URL-encoded for forms, JSON-escaped), so evidence quoting a registry's answer can be
    scrubbed of them. Thread-safe."""

    MASK = "***"

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        forms: set[str] = set()
        for value in values:
            if not value or len(value) < MIN_SECRET_CHARS:
                continue
            forms |= {value, quote(value, safe=""), quote_plus(value), value.replace("/", "\\/")}
            forms.add(json.dumps(value)[1:-1])
        with self._lock:
            if forms - self._values:
                self._values |= forms
                self._pattern = None

    def scrub(self, text: str) -> str:
        with self._lock:
            if not self._values:
                return text
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        text = pattern.sub(self.MASK, text)
        return self._cut_partial(text)

    def _cut_partial(self, text: str) -> str:
        """A secret cut by a length limit at the end of `text` leaves its start behind."""
        with self._lock:
            values = list(self._values)
        cut = len(text)
        for value in values:
            start = max(0, len(text) - len(value) + 1)
            for i in range(start, len(text) - MIN_SECRET_CHARS + 1):
                if i < cut and value.startswith(text[i:]):
                    cut = i
                    break
        return text if cut == len(text) else text[:cut] + self.MASK


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
