"""`.pullgate.yaml`: defaults for a repository, overridden by flags.

Unknown keys and wrong types are errors naming the file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gate.limits import MAX_CONCURRENCY, MAX_SECONDS
from gate.manifests import InputError, decode_bytes, read_capped
from gate.platforms import PlatformError, parse_platform
from gate.policy import POLICY_KEYS, Policy, PolicyError, parse_policy_entry
from gate.registry.hosts import normalize_insecure

DEFAULT_NAME = ".pullgate.yaml"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_DEPTH = 32  # the deepest real key (ignore -> rule -> field) is 3 levels down


class ConfigError(Exception):
    pass


@dataclass
class Config:
    platforms: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    concurrency: int | None = None
    timeout: float | None = None
    deadline: float | None = None
    source: str | None = None
    policy: Policy = field(default_factory=Policy)


def _str_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _concurrency(value: object) -> int | None:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return value if whole and 0 < value <= MAX_CONCURRENCY else None  # type: ignore[return-value]


def _seconds(value: object) -> float | None:
    """A finite positive number of seconds (no `.inf`, no `.nan`), at most a day."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and 0 < value <= MAX_SECONDS:  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return None


def _platform_list(value: object) -> list[str] | None:
    values = _str_list(value)
    if values is None:
        return None
    for text in values:
        parse_platform(text)  # PlatformError, turned into the item's line by the caller
    return values


_LOOPBACK = re.compile(r"(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]{1,5})?")


def _loopback_list(value: object) -> list[str] | None:
    """Plain HTTP is safe to allow from a file only where nobody sits on the network path."""
    values = _str_list(value)
    if values is None or not all(_is_loopback(v) for v in values):
        return None
    return values


def _is_loopback(value: str) -> bool:
    try:
        return bool(_LOOPBACK.fullmatch(normalize_insecure(value)))
    except ValueError:
        return True  # not HOST[:PORT] at all: _insecure_hosts names the entry and its line


# key -> (attribute, converter returning None when the type is wrong, expected type in words)
_KEYS = {
    "platforms": ("platforms", _platform_list, "a list of OS/ARCH[/VARIANT] strings"),
    "insecure-registries": (
        "insecure_registries",
        _loopback_list,
        "a list of loopback registries (localhost, 127.0.0.1, [::1], with :PORT); name others"
        " with --insecure-registry on the command line",
    ),
    "concurrency": ("concurrency", _concurrency, f"an integer from 1 to {MAX_CONCURRENCY}"),
    "timeout": ("timeout", _seconds, f"a number of seconds, above 0 and at most {MAX_SECONDS}"),
    "deadline": ("deadline", _seconds, f"a number of seconds, above 0 and at most {MAX_SECONDS}"),
}
# Trust and credentials come from the command line and the environment, never from a file a pull
# request can change (README, Security): these keys name the flag to use instead.
COMMAND_LINE_ONLY = {"ca-file": "--ca-file", "docker-config": "--docker-config"}


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


def _read(path: Path) -> str:
    try:
        return decode_bytes(read_capped(str(path), MAX_CONFIG_BYTES), str(path))
    except InputError as exc:
        raise ConfigError(f"{exc} (config)") from None


def _compose(text: str, path: Path) -> yaml.Node | None:
    """The YAML node tree, after a check of every event (iterative, so no recursion limit is
    met): nesting depth and text a value may hold."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_CONFIG_DEPTH:
                    line = event.start_mark.line + 1
                    raise ConfigError(
                        f"{path}:{line}: nesting deeper than {MAX_CONFIG_DEPTH} levels"
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and _UNPRINTABLE.search(event.value):
                line = event.start_mark.line + 1
                raise ConfigError(
                    f"{path}:{line}: a control character or lone surrogate in a value"
                )
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)
        if mark is not None:
            where = f"{path}:{mark.line + 1}"
        elif position is not None:
            where = f"{path}:{text.count(chr(10), 0, position) + 1}"
        else:
            where = str(path)
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    _refuse_duplicate_keys(root, path)
    return root


def _refuse_duplicate_keys(root: yaml.Node | None, path: Path) -> None:
    """A key given twice in one mapping: YAML keeps the last one silently, so a setting read on
    one line would be overridden by another the reader may not see."""
    pending, visited = [root], set()
    while pending:
        node = pending.pop()
        if node is None or id(node) in visited:  # an alias shares its anchor's node
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key_node.value in first:
                    raise ConfigError(
                        f"{path}:{line}: duplicate key {key_node.value!r}"
                        f" (first on line {first[key_node.value]})"
                    )
                if isinstance(key_node, yaml.ScalarNode):
                    first[key_node.value] = line
                pending.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)


# What no setting holds: controls other than tab and newline, lone surrogates (from "\ud800").
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    root = _compose(_read(path), path)
    config = Config(source=str(path))
    if root is None:
        return config
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: config must be a mapping")
    constructor = yaml.SafeLoader("")
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{path}:{line}: a key must be a name, not a list or mapping")
        key = key_node.value
        if key in POLICY_KEYS:
            try:
                config.policy = parse_policy_entry(config.policy, key, value_node, str(path))
            except PolicyError as exc:
                raise ConfigError(str(exc)) from None
            continue
        if key in COMMAND_LINE_ONLY:
            raise ConfigError(
                f"{path}:{line}: {key} is taken only from {COMMAND_LINE_ONLY[key]} on the command"
                " line: a repository's file does not choose credentials or trusted CAs"
            )
        if key not in _KEYS:
            known = ", ".join(sorted([*_KEYS, *POLICY_KEYS]))
            raise ConfigError(f"{path}:{line}: unknown key {key!r} (known: {known})")
        attr, convert, expected = _KEYS[key]
        try:
            value = convert(constructor.construct_object(value_node, deep=True))
        except PlatformError as exc:
            raise ConfigError(f"{path}:{_item_line(value_node, exc)}: {exc}") from None
        except (ValueError, yaml.YAMLError):  # e.g. `!!int abc`
            value = None
        if value is None:
            raise ConfigError(f"{path}:{line}: {key} must be {expected}")
        if key == "insecure-registries":
            value = _insecure_hosts(value, value_node, str(path), line)
        setattr(config, attr, value)
    return config


def _item_line(node: yaml.Node, exc: PlatformError) -> int:
    """The line of the list item a PlatformError is about."""
    for item in getattr(node, "value", []):
        if isinstance(item, yaml.ScalarNode) and repr(item.value) in str(exc):
            return item.start_mark.line + 1
    return node.start_mark.line + 1
