"""Facts about registry hosts: Docker Hub's API host, ACR login servers, registry flavors."""

from __future__ import annotations

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
ACR_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")


def api_host(domain: str) -> str:
    """The host that serves the /v2/ API for a reference's domain."""
    return DOCKER_HUB_API if domain == DOCKER_HUB else domain


def is_acr(domain: str) -> bool:
    host = domain.split(":")[0].lower()
    return host.endswith(ACR_SUFFIXES)


def acr_name(domain: str) -> str | None:
    """`myacr` for `myacr.azurecr.io`."""
    return domain.split(".")[0] if is_acr(domain) else None


def flavor(domain: str) -> str:
    """Which family of fixes applies: "acr", "dockerhub" or "default"."""
    if domain == DOCKER_HUB:
        return "dockerhub"
    if is_acr(domain):
        return "acr"
    return "default"


def split_host_port(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        addr, _, rest = host[1:].partition("]")
        port = rest[1:]
        numeric = rest.startswith(":") and port.isascii() and port.isdigit()
        return addr, int(port) if numeric else None
    name, sep, port = host.rpartition(":")
    if sep and port.isascii() and port.isdigit():
        return name, int(port)
    return host, None


def normalize_insecure(value: str) -> str:
    """`HOST[:PORT]` for an insecure-registry entry. Like dockerd, an `http://` or `https://`
    prefix (and a trailing slash) is dropped; another scheme, a path, credentials or spaces are
    refused (ValueError), so the entry never silently matches nothing."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise ValueError(
                f"{value!r}: scheme {scheme}:// is not a registry scheme; give HOST[:PORT]"
            )
        text = rest
    text = text.rstrip("/")
    if not text:
        raise ValueError(f"{value!r}: no host; give HOST[:PORT]")
    if "/" in text or "@" in text or any(c.isspace() for c in text):
        raise ValueError(f"{value!r}: not HOST[:PORT] (a registry is named by host and port only)")
    host, port = split_host_port(text)
    if not host or (":" in text and port is None and not text.startswith("[")):
        raise ValueError(f"{value!r}: not HOST[:PORT]")
    return text
