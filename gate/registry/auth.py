"""Registry authentication: parsing challenges, and a token cache keyed per
(host, repository scope, credential) that fetches each token once even under concurrency."""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gate.registry.protocol import load_json as json_loads

_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
# Tokens are refreshed this long before they expire.
_EXPIRY_MARGIN_S = 10.0
_DEFAULT_EXPIRES_S = 60.0


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str | None) -> Challenge | None:
    """`Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull"` or `Basic
    realm="..."`. Unknown schemes and garbage give None."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(
        scheme, params.get("realm", ""), params.get("service", ""), params.get("scope", "")
    )


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def granted_scopes(token: str, asked: list[str]) -> set[str] | None:
    """Which of the `asked` scopes a token grants, from its JWT `access` claim (distribution's
    token format: [{"type", "name", "actions"}]); None when the token is opaque or has no
    readable claim, so the caller cannot know and must find out from the registry."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 256 * 1024:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json_loads(payload)
    except (ValueError, binascii.Error):
        return None
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return None
    allowed: set[tuple[str, str, str]] = set()
    for entry in access:
        if not isinstance(entry, dict):
            continue
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if isinstance(kind, str) and isinstance(name, str) and isinstance(actions, list):
            allowed |= {(kind, name, a) for a in actions if isinstance(a, str)}
    granted = set()
    for scope in asked:
        kind, _, rest = scope.partition(":")
        name, _, wanted = rest.rpartition(":")
        actions = [a for a in wanted.split(",") if a]
        if actions and all(
            (kind, name, a) in allowed or (kind, name, "*") in allowed for a in actions
        ):
            granted.add(scope)
    return granted


@dataclass
class Token:
    value: str = field(repr=False)
    expires_at: float

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - _EXPIRY_MARGIN_S


# A run never outlives a day; a longer (or infinite, or 400-digit) lifetime means the same.
_MAX_EXPIRES_S = 86400.0


def token_lifetime(expires_in: object) -> float:
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        return _DEFAULT_EXPIRES_S
    if expires_in > 0:  # False for NaN
        return min(expires_in, _MAX_EXPIRES_S) * 1.0
    return _DEFAULT_EXPIRES_S


TokenKey = tuple[str, str, str]  # (host, scope, credential id)


class TokenCache:
    """Thread-safe: concurrent callers for one key wait for a single fetch."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, Token] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, key: TokenKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def cached(self, key: TokenKey) -> Token | None:
        token = self._tokens.get(key)
        return token if token and token.fresh else None

    def get(self, key: TokenKey, fetch: Callable[[], Token]) -> Token:
        token = self.cached(key)
        if token:
            return token
        with self._lock_for(key):
            token = self.cached(key)
            if token is None:
                token = fetch()
                self._tokens[key] = token
            return token

    def put(self, key: TokenKey, token: Token) -> None:
        self._tokens[key] = token

    def drop(self, key: TokenKey) -> None:
        self._tokens.pop(key, None)
