"""Manifests -> Kubernetes objects -> pod templates -> image uses, each with its file and line.

Reading is built for input nobody vetted:

* Documents are built straight from the YAML parser's events (libyaml when available) with an
  explicit stack, recording only the lines image uses need. Nesting deeper than MAX_DEPTH stops
  with an InputError instead of a RecursionError, a crash in a recursive composer, or the time
  libyaml spends per token on very deep nesting.
* Every node is counted and every alias is charged the size of what it repeats, so an alias bomb
  ("billion laughs") stops with an InputError as soon as it would exceed the limit.
* Decoding, syntax and structure problems are InputErrors naming the file and, when known, the
  line. Wrong types inside an object (`containers: null`, `image: 123`) never raise: an image use
  that cannot be right carries a `problem` instead.

YAML details: of duplicate mapping keys the last one wins, and `<<` merge keys are expanded, as
in PyYAML; an alias shares the anchored object (as in PyYAML); timestamps and values with unknown
tags stay strings; a collection used as a key (an unquoted `{{ template }}`) becomes its source
text.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Every file pullgate reads (manifests, stdin, state files, the config and Docker config, CA
# files) stops here: 64 MiB is over ten times the largest rendered bundle measured (4.8 MB for
# 10,000 documents), and /dev/zero or an endless pipe ends at it.
MAX_FILE_BYTES = 64 * 1024 * 1024
CONTAINER_TYPES = ("initContainers", "containers", "ephemeralContainers")
# Real manifests nest about 40 levels at most (large CRD schemas). libyaml's time per token grows
# with the depth, so this bounds the time; it also keeps bodies safe for recursive consumers.
MAX_DEPTH = 200
# Nodes allowed per file, each alias counted at the size of what it repeats: this or one per
# character of the file, whichever is larger (without aliases, nodes are fewer than characters).
MAX_NODES = 2_000_000
_SHOWN_CHARS = 200  # longest source text used for a non-scalar key or a non-string image

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_CONSTRUCTORS = {
    _INT: SafeConstructor.construct_yaml_int,
    _FLOAT: SafeConstructor.construct_yaml_float,
    _BOOL: SafeConstructor.construct_yaml_bool,
}


def input_name(file: str) -> str:
    """A path as messages and fixes name it: "stdin" for "-"."""
    return "stdin" if file == "-" else file


class InputError(Exception):
    """Input that cannot be read. Attributes file: str, line: int | None, message: str.
    str(e) is one line: 'FILE:LINE: message' (or 'FILE: message')."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(file, line, message)
        self.file = file
        self.line = line
        self.message = " ".join(message.split())

    def __str__(self) -> str:
        if self.file == "-":  # as the reports show it (gate.reports.parts.place)
            return (
                f"stdin line {self.line}: {self.message}" if self.line else f"stdin: {self.message}"
            )
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class ImageUse:
    image: str  # as written in the manifest (its source text when not a string)
    kind: str  # owning object's kind, e.g. "Deployment"
    namespace: str | None  # owning object's metadata.namespace; None when absent
    name: str  # owning object's metadata.name ("" when absent)
    container: str  # container name ("" when absent)
    container_type: str  # "initContainers" | "containers" | "ephemeralContainers"
    pull_policy: str | None  # imagePullPolicy as written, None when absent
    file: str  # path as given by the caller; "-" for stdin
    line: int  # 1-based line of the image VALUE (of the container when image is absent)
    problem: str | None = None  # set when the manifest itself is wrong here


@dataclass
class ManifestObject:
    """Every top-level object (after expanding kind: List / *List items)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict  # the plain Python object (dicts/lists/scalars)
    file: str
    line: int  # line of the document/item start


# What the DaemonSet controller adds to every pod it creates (Kubernetes docs, DaemonSet "Taints
# and tolerations"), so node agents run on nodes that are not ready, under pressure or cordoned.
DAEMONSET_TOLERATIONS = tuple(
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}
    for key, effect in (
        ("not-ready", "NoExecute"),
        ("unreachable", "NoExecute"),
        ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"),
        ("pid-pressure", "NoSchedule"),
        ("unschedulable", "NoSchedule"),
    )
)
HOST_NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def pod_spec_as_created(kind: str, spec: dict) -> dict:
    """The pod spec the scheduler sees for a template of `kind`: as written, plus the
    tolerations its controller adds (only the DaemonSet controller adds any)."""
    if kind != "DaemonSet":
        return spec
    written = spec.get("tolerations")
    added = list(DAEMONSET_TOLERATIONS)
    if spec.get("hostNetwork") is True:
        added.append(HOST_NETWORK_TOLERATION)
    return {**spec, "tolerations": [*(written if isinstance(written, list) else ()), *added]}


@dataclass
class PodTemplate:
    owner: ManifestObject
    # "spec", "template.spec", "spec.template.spec" or "spec.jobTemplate.spec.template.spec"
    path: str
    spec: dict  # the pod spec (nodeSelector, affinity, tolerations, imagePullSecrets, ...)
    uses: list[ImageUse]

    @property
    def scheduled_spec(self) -> dict:
        """`spec` with what the owner's controller adds before the scheduler sees it."""
        return pod_spec_as_created(self.owner.kind, self.spec)


@dataclass
class Bundle:
    objects: list[ManifestObject]
    templates: list[PodTemplate]
    files: list[str]  # files read

    @property
    def uses(self) -> list[ImageUse]:
        return [use for template in self.templates for use in template.uses]


# --- files ---------------------------------------------------------------------------------


def collect_files(paths: Sequence[str]) -> list[str]:
    """The files to read: files as given, directories searched recursively for *.yaml, *.yml
    and *.json (sorted; each directory entered once), "-" kept. Inside a directory, symbolic
    links are followed only to files and directories within it: a link out of the tree (to /usr,
    to a secret) is not read."""
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif _check_path(path):
            found = _walk_directory(path)
            if not found:
                raise InputError(path, None, "no manifests found (*.yaml, *.yml, *.json)")
            files.extend(found)
        else:
            files.append(path)
    return _once_each(files)


def _once_each(files: list[str]) -> list[str]:
    """Each file once, however it was named (a.yaml, ./a.yaml, a link to it, or inside a
    directory also given), so no image use is counted twice; stdin once."""
    seen: set[str] = set()
    kept = []
    for file in files:
        key = file if file == "-" else os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            kept.append(file)
    return kept


def _check_path(path: str) -> bool:
    """Whether `path` is a directory; an InputError when it is missing or unreadable."""
    try:
        os.stat(path)
    except FileNotFoundError:
        broken = " (broken symbolic link)" if os.path.islink(path) else ""
        raise InputError(path, None, f"no such file or directory{broken}") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    is_dir = os.path.isdir(path)
    if not os.access(path, os.R_OK | (os.X_OK if is_dir else 0)):
        raise InputError(path, None, "permission denied")
    return is_dir


def _inside(path: str, top: str) -> bool:
    real = os.path.realpath(path)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _walk_directory(root: str) -> list[str]:
    def fail(exc: OSError) -> None:
        raise InputError(exc.filename or root, None, exc.strerror or str(exc))

    top = os.path.realpath(root)
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=fail):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # a symbolic link back into the tree
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if _inside(os.path.join(dirpath, d), top))
        for name in filenames:
            if name.lower().endswith(MANIFEST_SUFFIXES):
                path = os.path.join(dirpath, name)
                if not _inside(path, top):
                    continue
                _check_path(path)
                if not os.path.isfile(path):  # reading a named pipe would wait forever
                    raise InputError(path, None, "not a regular file (a pipe, socket or device)")
                found.append(path)
    return sorted(found)


def read_bundle(paths: Sequence[str], stdin: TextIO | None = None) -> Bundle:
    """Every object, pod template and image use in `paths` ("-" reads `stdin`)."""
    bundle = Bundle(objects=[], templates=[], files=[])
    for file in collect_files(paths):
        text = (
            read_stdin(stdin or sys.stdin) if file == "-" else decode_bytes(read_capped(file), file)
        )
        part = read_text(text, file)
        bundle.objects.extend(part.objects)
        bundle.templates.extend(part.templates)
        bundle.files.append(file)
    return bundle


def read_capped(path: str, cap: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the file at `path`, at most `cap` of them (an InputError past it). A device
    (/dev/zero, a terminal, or a link to one) is refused; a named pipe with no writer reads as
    empty instead of waiting."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(path, None, "no such file or directory") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    mode = os.fstat(fd).st_mode
    problem = (
        "a device, not a file"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a directory, not a file"
        if stat.S_ISDIR(mode)  # checked before fdopen, which refuses a directory with an OSError
        else None
    )
    if problem:
        os.close(fd)
        raise InputError(path, None, problem)
    with os.fdopen(fd, "rb") as fh:
        os.set_blocking(fd, True)
        return _capped(fh, path, cap)


def _capped(fh: BinaryIO, name: str, cap: int) -> bytes:
    try:
        data = fh.read(cap + 1)
    except OSError as exc:
        raise InputError(name, None, exc.strerror or str(exc)) from None
    if len(data) > cap:
        raise _too_large(name, cap)
    return data


def _too_large(name: str, cap: int) -> InputError:
    return InputError(name, None, f"larger than {cap // (1024 * 1024)} MiB: not read")


def read_stdin(stdin: TextIO) -> str:
    """The text on `stdin`, capped and decoded like a file's."""
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        return decode_bytes(_capped(buffer, "-", MAX_FILE_BYTES), "-")
    try:
        text = stdin.read(MAX_FILE_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise InputError("-", None, f"not UTF-8 text ({exc.reason})") from None
    if len(text) > MAX_FILE_BYTES:
        raise _too_large("-", MAX_FILE_BYTES)
    return text


def decode_bytes(data: bytes, file: str) -> str:
    """The text of a file pullgate reads: UTF-8 (with or without a byte order mark) or UTF-16
    with a byte order mark, as YAML allows; anything else is not a manifest."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(file, None, "not valid UTF-16 text") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(file, line, "binary data (NUL byte): not a YAML or JSON manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise InputError(
            file, line, f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})"
        ) from None


# --- text -> objects ------------------------------------------------------------------------


def read_text(text: str, file: str) -> Bundle:
    """Every object, pod template and image use in one file's text."""
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputError(file, line, "binary data (NUL byte): not a YAML or JSON manifest")
    # Everything built here survives, and builds no reference cycles: the cyclic collector would
    # only traverse it again and again (over half the time of a 10,000-document file).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read_text(_untab_json(text), file)
    finally:
        if collecting:
            gc.enable()


def _read_text(text: str, file: str) -> Bundle:
    builder = _Builder(file, text, max(MAX_NODES, len(text)))
    objects: list[ManifestObject] = []
    templates: list[PodTemplate] = []
    for root, line in builder.documents():
        for body, body_line in _top_level_objects(root, line, builder.lines):
            obj = _manifest_object(body, file, body_line)
            objects.append(obj)
            templates.extend(_pod_templates(obj, builder.lines))
    return Bundle(objects=objects, templates=templates, files=[file])


def _untab_json(text: str) -> str:
    """JSON may be indented with tabs, which YAML forbids. In valid JSON a tab can only be
    whitespace (inside strings it must be escaped), so spaces in their place change nothing."""
    if "\t" not in text or text.lstrip()[:1] not in ("{", "["):
        return text
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # too deep for the parser: the YAML reader says so
        return text
    return text.replace("\t", " ")


@dataclass
class _Lines:
    """Where things are in one document, by id() of the mapping or list they belong to. Each entry
    holds its object too, so no id is reused while the table lives."""

    mappings: dict[int, tuple[dict, int]] = field(default_factory=dict)  # in lists: id -> line
    # id of a mapping with an `image` key -> (its line, its text as written when not a string)
    images: dict[int, tuple[dict, int, str]] = field(default_factory=dict)
    # id of a container list -> the lines of its items
    items: dict[int, tuple[list, list[int]]] = field(default_factory=dict)

    def line_of(self, mapping: dict, default: int) -> int:
        found = self.mappings.get(id(mapping))
        return found[1] if found is not None else default


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("value", "key", "anchor", "first", "start", "line", "role", "merges", "lines")

    def __init__(
        self, value: dict | list, anchor: str | None, first: int, start: int, line: int, role: str
    ) -> None:
        self.value = value
        self.key: Any = _KEY_NEXT  # mappings: the key waiting for its value
        self.anchor = anchor
        self.first = first  # node count when it opened: its size, for aliases, is counted from here
        self.start = start  # character index in the text
        self.line = line
        self.role = role  # _VALUE, or _KEY (becomes its parent's key) or _IMAGE (an image value)
        self.merges: list[Any] | None = None  # values of `<<` keys
        self.lines: list[int] | None = None  # item lines, for container lists


_KEY_NEXT = object()  # a mapping expects a key
_MERGE_KEY = object()  # a `<<` merge key
_MISSING = object()
_VALUE, _KEY, _IMAGE = "value", "key", "image"


class _Builder:
    """The documents of one text as plain Python objects, built straight from the YAML parser's
    events (no node tree), recording the lines image uses need (`lines`).

    Bounded by design: nesting deeper than MAX_DEPTH stops the parse (libyaml spends time
    proportional to the depth on every token), and every alias is charged the size of what it
    repeats, so an alias bomb stops with an InputError after a few thousand events. Aliases share
    the anchored object, as PyYAML does."""

    def __init__(self, file: str, text: str, limit: int) -> None:
        self.file = file
        self.text = text
        self.limit = limit
        self.count = 0  # nodes so far, aliases counted at their full size
        self.resolver = Resolver()
        self.plain: dict[str, Any] = {}  # plain scalar text -> its value, memoized
        self.anchors: dict[str, tuple[Any, int, int, int, int]] = {}  # value, size, span, line
        self.frames: list[_Frame] = []
        self.lines = _Lines()
        self.root: Any = None
        self.root_line = 1

    def documents(self) -> Iterator[tuple[Any, int]]:
        """(root value, line) of each document; `lines` describes the latest one."""
        parser = _LOADER(self.text)
        next_event = parser.get_event
        try:
            while True:
                event = next_event()
                cls = type(event)
                if cls is ScalarEvent:
                    self._scalar(event)
                elif cls is MappingStartEvent or cls is SequenceStartEvent:
                    self._start(event)
                elif cls is MappingEndEvent or cls is SequenceEndEvent:
                    self._end(event)
                elif cls is AliasEvent:
                    self._alias(event)
                elif cls is DocumentStartEvent:
                    self._document_start(event)
                elif cls is DocumentEndEvent:
                    yield self.root, self.root_line
                elif cls is StreamEndEvent or event is None:
                    return
        except yaml.YAMLError as exc:
            raise _syntax_error(exc, self.file, self.text) from None
        except RecursionError:  # only the pure-Python parser could, when libyaml is missing
            raise InputError(self.file, None, "nesting too deep") from None
        finally:
            parser.dispose()

    def _document_start(self, event: DocumentStartEvent) -> None:
        self.anchors = {}
        self.lines = _Lines()
        self.root, self.root_line = None, event.start_mark.line + 1

    def _charge(self, nodes: int, line: int) -> None:
        self.count += nodes
        if self.count > self.limit:
            raise InputError(
                self.file, line, f"document too large or too many aliases (over {self.limit} nodes)"
            )

    def _scalar(self, event: ScalarEvent) -> None:
        self.count += 1  # _charge, inlined: this runs for most events
        if self.count > self.limit:
            self._charge(0, event.start_mark.line + 1)
        text, tag = event.value, event.tag
        if tag is None and event.implicit[0]:  # plain
            value = self.plain.get(text, _MISSING)
            if value is _MISSING:
                tag = self.resolver.resolve(ScalarNode, text, (True, False))
                value = _MERGE_KEY if tag == _MERGE else _construct(tag, text)
                self.plain[text] = value
        elif tag is None or tag == "!":  # quoted, or the non-specific tag
            value = text
        else:
            value = _construct(tag, text)
        if event.anchor is None and self.frames:  # the common cases of _attach, inlined
            frame = self.frames[-1]
            mapping = frame.value
            if type(mapping) is dict:
                key = frame.key
                if key is _KEY_NEXT:
                    frame.key = value
                    return
                if key is not _MERGE_KEY and value is not _MERGE_KEY:
                    frame.key = _KEY_NEXT
                    mapping[key] = value
                    if key == "image":
                        line = event.start_mark.line + 1
                        self.lines.images[id(mapping)] = (mapping, line, text)
                    return
        line = event.start_mark.line + 1
        if event.anchor is not None:
            start, end = event.start_mark.index, event.end_mark.index
            self.anchors[event.anchor] = (value, 1, start, end, line)
        self._attach(value, line, text)

    def _alias(self, event: AliasEvent) -> None:
        line = event.start_mark.line + 1
        found = self.anchors.get(event.anchor)
        if found is None:
            if any(frame.anchor == event.anchor for frame in self.frames):
                raise InputError(self.file, line, f"alias *{event.anchor} is inside its own anchor")
            raise InputError(self.file, line, f"undefined alias *{event.anchor}")
        value, size, start, end, anchor_line = found
        self._charge(size, line)
        written = self._source(start, end)
        frame = self.frames[-1] if self.frames else None
        as_key = frame is not None and type(frame.value) is dict and frame.key is _KEY_NEXT
        if as_key and isinstance(value, (dict, list)):
            value = written  # a collection as a key: its text
        self._attach(value, anchor_line, written)

    def _attach(self, value: Any, line: int, written: str) -> None:
        """A complete value (scalar or alias) into the collection being built."""
        if not self.frames:
            self.root, self.root_line = value, line
            return
        frame = self.frames[-1]
        if type(frame.value) is list:
            frame.value.append(value if value is not _MERGE_KEY else "<<")
            if frame.lines is not None:
                frame.lines.append(line)
        elif frame.key is _KEY_NEXT:
            frame.key = value
        else:
            self._set(frame, value, line, written)

    def _set(self, frame: _Frame, value: Any, line: int, written: str) -> None:
        key, frame.key = frame.key, _KEY_NEXT
        if key is _MERGE_KEY:
            frame.merges = frame.merges if frame.merges is not None else []
            frame.merges.append(value)
            return
        mapping = frame.value
        mapping[key] = value if value is not _MERGE_KEY else "<<"
        if key == "image":
            self.lines.images[id(mapping)] = (mapping, line, written)

    def _start(self, event: MappingStartEvent | SequenceStartEvent) -> None:
        line = event.start_mark.line + 1
        frames = self.frames
        if len(frames) >= MAX_DEPTH:
            raise InputError(self.file, line, f"nesting deeper than {MAX_DEPTH} levels")
        self.count += 1
        if self.count > self.limit:
            self._charge(0, line)
        value: dict | list = {} if type(event) is MappingStartEvent else []
        parent = frames[-1] if frames else None
        role, key = _VALUE, None
        if parent is None:
            self.root, self.root_line = value, line
        elif type(parent.value) is list:
            parent.value.append(value)
            if parent.lines is not None:
                parent.lines.append(line)
            if type(value) is dict:  # objects in lists, and containers, need their lines
                self.lines.mappings[id(value)] = (value, line)
        elif parent.key is _KEY_NEXT:
            role = _KEY
        else:
            key = parent.key
            role = _IMAGE if key == "image" else _VALUE
            self._set(parent, value, line, "")
        frame = _Frame(value, event.anchor, self.count, event.start_mark.index, line, role)
        if role is _VALUE and type(value) is list and key in CONTAINER_TYPES:
            frame.lines = []
            self.lines.items[id(value)] = (value, frame.lines)
        frames.append(frame)

    def _end(self, event: MappingEndEvent | SequenceEndEvent) -> None:
        frame = self.frames.pop()
        if frame.merges is not None:
            self._merge(frame)
        end = event.end_mark.index
        if frame.anchor is not None:
            size = self.count - frame.first + 1
            self.anchors[frame.anchor] = (frame.value, size, frame.start, end, frame.line)
        if frame.role is _KEY:
            self.frames[-1].key = self._source(frame.start, end)
        elif frame.role is _IMAGE:
            parent = self.frames[-1].value
            self.lines.images[id(parent)] = (parent, frame.line, self._source(frame.start, end))

    def _merge(self, frame: _Frame) -> None:
        """Expands `<<` keys as PyYAML's flatten_mapping does: merged keys first (of a list of
        mappings the first wins), the mapping's own keys last (they win)."""
        mapping = frame.value
        sources: list[dict] = []
        for merged in frame.merges or ():
            group = merged if type(merged) is list else [merged]
            if not all(type(source) is dict for source in group):
                raise InputError(self.file, frame.line, "a << merge needs a mapping or mappings")
            sources.extend(reversed(group))
        own = dict(mapping)
        image = self.lines.images.get(id(mapping)) if "image" in own else None
        mapping.clear()
        for source in sources:
            self._charge(len(source), frame.line)
            mapping.update(source)
            if "image" in source and "image" not in own:
                image = self.lines.images.get(id(source))
        mapping.update(own)
        if image is not None:
            self.lines.images[id(mapping)] = (mapping, image[1], image[2])

    def _source(self, start: int, end: int) -> str:
        text = self.text[start : min(end, start + _SHOWN_CHARS)]
        return text + "..." if end - start > _SHOWN_CHARS else text


def _construct(tag: str, text: str) -> Any:
    """A scalar's value from its resolved tag; timestamps, binary and unknown tags stay text."""
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    construct = _CONSTRUCTORS.get(tag)
    if construct is None:
        return text
    try:
        return construct(SafeConstructor(), ScalarNode(tag, text))
    except (ValueError, KeyError, yaml.YAMLError):  # e.g. `!!int abc`
        return text


def _syntax_error(exc: yaml.YAMLError, file: str, text: str) -> InputError:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if exc.position is not None else None
        return InputError(file, line, f"unacceptable character #x{exc.character:04x}: {exc.reason}")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if "maximum nesting depth" in message:  # libyaml >= 0.2.5 stops flow nesting at 1000
            message = f"nesting deeper than {MAX_DEPTH} levels"
        elif exc.problem and exc.context:
            where = exc.context_mark
            elsewhere = where is not None and mark is not None and where.line != mark.line
            at = f" at line {where.line + 1}" if elsewhere else ""
            message = f"{exc.problem} ({exc.context}{at})"
        return InputError(file, mark.line + 1 if mark is not None else None, message)
    return InputError(file, None, str(exc))


def _top_level_objects(root: Any, line: int, lines: _Lines) -> Iterator[tuple[dict, int]]:
    """The document's Kubernetes objects: the document itself, the items of a `kind: List` (or
    any *List), or the elements of a top-level sequence (e.g. a JSON array of objects)."""
    if isinstance(root, list):
        items = root
    elif isinstance(root, dict) and _is_list(root):
        items = root["items"]
    else:
        items = [root]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("kind"), str) and item["kind"]:
            yield item, lines.line_of(item, line)


def _is_list(body: dict) -> bool:
    kind = body.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(body.get("items"), list)


def _manifest_object(body: dict, file: str, line: int) -> ManifestObject:
    metadata = body.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return ManifestObject(
        api_version=_text(body.get("apiVersion")),
        kind=body["kind"],
        name=_text(metadata.get("name")),
        namespace=_text(metadata.get("namespace")) or None,
        body=body,
        file=file,
        line=line,
    )


def _text(value: Any) -> str:
    """A scalar as text ("" for null or a collection)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


# --- objects -> pod templates -> image uses -------------------------------------------------

_POD_PATHS = {"Pod": ("spec",), "PodTemplate": ("template", "spec")}
_WORKLOAD_PATHS = (
    ("spec", "template", "spec"),
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
)


def _pod_templates(obj: ManifestObject, lines: _Lines) -> list[PodTemplate]:
    own_path = _POD_PATHS.get(obj.kind)
    if own_path is not None:
        candidates = [(own_path, False)]
    else:
        candidates = [(path, True) for path in _WORKLOAD_PATHS]
    templates = []
    for path, needs_containers in candidates:
        spec = _follow(obj.body, path)
        if spec is None or (needs_containers and not _has_container_list(spec)):
            continue
        uses = list(_image_uses(obj, spec, lines))
        templates.append(PodTemplate(owner=obj, path=".".join(path), spec=spec, uses=uses))
    return templates


def _follow(body: dict, path: Sequence[str]) -> dict | None:
    value: Any = body
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, dict) else None


def _has_container_list(spec: dict) -> bool:
    return isinstance(spec.get("containers"), list) or isinstance(spec.get("initContainers"), list)


def _image_uses(obj: ManifestObject, spec: dict, lines: _Lines) -> Iterator[ImageUse]:
    for container_type in CONTAINER_TYPES:
        containers = spec.get(container_type)
        if not isinstance(containers, list):
            continue
        found = lines.items.get(id(containers))
        item_lines = found[1] if found is not None else []
        for index, container in enumerate(containers):
            line = item_lines[index] if index < len(item_lines) else obj.line
            yield _image_use(obj, container_type, container, line, lines)


def _image_use(
    obj: ManifestObject, container_type: str, container: Any, line: int, lines: _Lines
) -> ImageUse:
    def use(image: str, line: int, problem: str | None, name: str = "", policy: Any = None):
        return ImageUse(
            image=image,
            kind=obj.kind,
            namespace=obj.namespace,
            name=obj.name,
            container=name,
            container_type=container_type,
            pull_policy=None if policy is None else _text(policy),
            file=obj.file,
            line=line,
            problem=problem,
        )

    if not isinstance(container, dict):
        return use("", line, f"container is not a mapping ({_type_name(container)})")
    name = _text(container.get("name"))
    policy = container.get("imagePullPolicy")
    image = container.get("image")
    line = lines.line_of(container, line)
    written = ""
    found = lines.images.get(id(container))
    if found is not None:
        line, written = found[1], found[2]
    if image is None:
        return use("", line, "container has no image", name, policy)
    if isinstance(image, str):
        return use(image, line, "image is empty" if image == "" else None, name, policy)
    problem = f"image is not a string ({_type_name(image)})"
    if written.startswith("{{"):
        problem += "; an unrendered template?"
    return use(written or _text(image), line, problem, name, policy)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
