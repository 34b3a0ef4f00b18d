"""`.pullgate.yaml`: defaults for a repository, overridden by flags.

Unknown keys and wrong types are errors naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gate.policy import POLICY_KEYS, Policy, PolicyError, parse_policy_entry
from gate.registry.hosts import normalize_insecure

DEFAULT_NAME = ".pullgate.yaml"


class ConfigError(Exception):
    pass


@dataclass
class Config:
    platforms: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    concurrency: int | None = None
    timeout: float | None = None
    deadline: float | None = None
    ca_file: str | None = None
    docker_config: str | None = None
    source: str | None = None
    policy: Policy = field(default_factory=Policy)


def _str_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _positive_number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# key -> (attribute, converter returning None when the type is wrong, expected type in words)
_KEYS = {
    "platforms": ("platforms", _str_list, "a list of OS/ARCH strings"),
    "insecure-registries": ("insecure_registries", _str_list, "a list of HOST[:PORT] strings"),
    "concurrency": ("concurrency", _positive_int, "a positive integer"),
    "timeout": ("timeout", _positive_number, "a positive number of seconds"),
    "deadline": ("deadline", _positive_number, "a positive number of seconds"),
    "ca-file": ("ca_file", _string, "a file path"),
    "docker-config": ("docker_config", _string, "a file path"),
}


def _insecure_hosts(values: list[str], node: yaml.Node, path: str, line: int) -> list[str]:
    """Each entry as HOST[:PORT] (an http:// or https:// prefix dropped); a bad one is an error
    naming its own line."""
    items = node.value if isinstance(node, yaml.SequenceNode) else []
    hosts = []
    for i, value in enumerate(values):
        try:
            hosts.append(normalize_insecure(value))
        except ValueError as exc:
            at = items[i].start_mark.line + 1 if i < len(items) else line
            raise ConfigError(f"{path}:{at}: insecure-registries: {exc}") from None
    return hosts


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    candidate = (cwd or Path.cwd()) / DEFAULT_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    config = Config(source=str(path))
    if root is None:
        return config
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: config must be a mapping")
    constructor = yaml.SafeLoader("")
    for key_node, value_node in root.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key in POLICY_KEYS:
            try:
                config.policy = parse_policy_entry(config.policy, key, value_node, str(path))
            except PolicyError as exc:
                raise ConfigError(str(exc)) from None
            continue
        if key not in _KEYS:
            known = ", ".join(sorted([*_KEYS, *POLICY_KEYS]))
            raise ConfigError(f"{path}:{line}: unknown key {key!r} (known: {known})")
        attr, convert, expected = _KEYS[key]
        value = convert(constructor.construct_object(value_node, deep=True))
        if value is None:
            raise ConfigError(f"{path}:{line}: {key} must be {expected}")
        if key == "insecure-registries":
            value = _insecure_hosts(value, value_node, str(path), line)
        setattr(config, attr, value)
    return config
