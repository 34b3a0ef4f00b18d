"""The pipeline's own registry credentials, from Docker's config.json.

`auths` entries (auth, username/password, identitytoken), `credHelpers` per host and `credsStore`
for the rest, through the `docker-credential-<helper> get` protocol. Entries are matched to images
with the kubelet's rules (keyring.py), so what pullgate reads with is what a kubelet holding the
same config would present. Secret values live only in `Credential` fields that never print.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from gate.manifests import InputError, decode_bytes, read_capped
from gate.registry.keyring import Keyring
from gate.registry.protocol import load_json

HELPER_TIMEOUT_S = 10.0
MAX_DOCKER_CONFIG_BYTES = 4 * 1024 * 1024
# A helper is the program `docker-credential-<name>` found on PATH. Docker's own helpers are
# named like `ecr-login`, `desktop`, `osxkeychain`, `gcloud`: a name with a path separator,
# `..` or anything else would run a program of the config's choosing (one in the repository).
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?:\.[A-Za-z0-9_-]+)*")


class CredentialError(Exception):
    pass


@dataclass(frozen=True)
class Credential:
    """A username/password pair or an identity (refresh) token. `source` says where it came from
    and is safe to print; the secret fields are excluded from repr."""

    source: str
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    @property
    def id(self) -> str:
        return self.source


ANONYMOUS_SOURCE = "no credentials (anonymous)"


def decode_auth_entry(entry: dict, source: str) -> Credential | None:
    """One `auths` value: `auth` (base64 user:pass), `username`/`password`, `identitytoken`."""
    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken") or entry.get("registrytoken")
    user = entry.get("username") or ""
    password = entry.get("password") or ""
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CredentialError(f"{source}: 'auth' is not base64 of user:password") from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialError(f"{source}: 'auth' does not decode to user:password")
    if isinstance(token, str) and token:
        return Credential(source=source, username=str(user), identity_token=token)
    if user or password:
        return Credential(source=source, username=str(user), password=str(password))
    return None


def _helper_credential(helper: str, server: str, source: str) -> Credential | None:
    try:
        done = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        data = load_json(done.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    user, secret = data.get("Username", ""), data.get("Secret", "")
    if not secret:
        return None
    if user == "<token>":
        return Credential(source=source, identity_token=secret)
    return Credential(source=source, username=user, password=secret)


def _is_file(path: Path) -> bool:
    """False also when the path cannot be looked at: `docker run -u UID` keeps HOME=/root, which
    that user cannot enter; the default config is then absent, as for the Docker CLI."""
    try:
        return path.is_file()
    except OSError:
        return False


@dataclass
class DockerConfig:
    """Credentials from one config.json; `lookup` returns them for an image, most specific first."""

    path: str = ""
    keyring: Keyring[Credential] = field(default_factory=Keyring)
    helpers: dict[str, str] = field(default_factory=dict)  # host -> helper
    store: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> DockerConfig:
        """The config at `path` (named: it must exist), else the default one when present."""
        file = Path(path) if path else default_config_path()
        if not path and not _is_file(file):
            return cls(path=str(file))
        try:
            text = decode_bytes(read_capped(str(file), MAX_DOCKER_CONFIG_BYTES), str(file))
        except InputError as exc:
            raise CredentialError(f"{exc} (Docker config)") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f"{file}:{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(file)
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise CredentialError(f"{where}: not a Docker config: {reason}") from None
        if not isinstance(data, dict):
            raise CredentialError(f"{file}: not a Docker config (expected a JSON object)")
        config = cls(path=str(file))
        auths = data.get("auths") or {}
        if not isinstance(auths, dict):
            raise CredentialError(f"{file}: auths is not an object of registry: credentials")
        for key, entry in auths.items():
            cred = decode_auth_entry(entry, f"{file} auths[{key}]")
            if cred:
                config.keyring.add(key, cred)
        helpers = data.get("credHelpers") or {}
        if not isinstance(helpers, dict):
            raise CredentialError(f"{file}: credHelpers is not an object of host: helper")
        config.helpers = {k: _helper_name(v, f"{file} credHelpers") for k, v in helpers.items()}
        store = data.get("credsStore")
        config.store = _helper_name(store, f"{file} credsStore") if store else ""
        return config

    def lookup(self, image_name: str, host: str) -> list[Credential]:
        """Credentials for `image_name` (e.g. `ghcr.io/org/app`) whose registry host is `host`
        (the reference's domain, `docker.io` for Docker Hub)."""
        helper = self.helpers.get(host) or (
            self.helpers.get("index.docker.io") if host == "docker.io" else None
        )
        if helper:
            server = "https://index.docker.io/v1/" if host == "docker.io" else host
            cred = _helper_credential(helper, server, f"credential helper '{helper}' for {host}")
            return [cred] if cred else []
        found = [e.value for e in self.keyring.lookup(image_name)]
        if found or not self.store:
            return found
        server = "https://index.docker.io/v1/" if host == "docker.io" else host
        cred = _helper_credential(self.store, server, f"credsStore '{self.store}' for {host}")
        return [cred] if cred else []


def _helper_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _HELPER_NAME.fullmatch(name):
        shown = repr(name)[:80] if isinstance(name, str) else type(name).__name__
        raise CredentialError(
            f"{where}: {shown} is not a credential helper name (docker-credential-NAME, NAME"
            " letters, digits, '-', '_' and '.'): not run"
        )
    return name


def default_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"
