"""`pullgate pin`: rewrite image tags to `name:tag@sha256:...` for the images that resolve.

Each `image:` value is replaced in the file's own text at the exact span the YAML parser reports
for it, keeping its quoting, so comments, key order, indentation, anchors and line endings stay as
they were. Nothing is re-dumped. An image that does not resolve (or cannot be located, or sits in
a block scalar) is refused and left alone; the edited text is parsed again to prove each new value
reads back as the pinned reference before anything is written.
"""

from __future__ import annotations

import codecs
import difflib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from gate.manifests import (
    ImageUse,
    InputError,
    decode_bytes,
    read_bundle,
    read_capped,
    read_stdin,
    read_text,
)
from gate.reference import ImageRef
from gate.registry.protocol import is_digest
from gate.reports.parts import report_path
from gate.runner import CheckOptions, parse_uses, resolve


class PinError(Exception):
    """A file that cannot be edited (unreadable, unwritable)."""


@dataclass(frozen=True)
class Edit:
    use: ImageUse
    start: int  # character offsets of the scalar (with its quotes) in the file's text
    end: int
    new_text: str  # what replaces text[start:end]
    pinned: str  # the new image reference


@dataclass
class PinPlan:
    texts: dict[str, str] = field(default_factory=dict)  # file -> original text
    # file -> (byte order mark, codec) it was read with, to write it back alike
    encodings: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # file -> (where it pointed, device, inode) when its text was read: checked again before
    # writing, so a file swapped for a link (or edited) during the run is not written.
    origins: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    edits: dict[str, list[Edit]] = field(default_factory=dict)
    refused: list[tuple[ImageUse, str]] = field(default_factory=list)
    pinned_already: list[ImageUse] = field(default_factory=list)

    def new_text(self, file: str) -> str:
        text = self.texts[file]
        for edit in sorted(self.edits.get(file, []), key=lambda e: e.start, reverse=True):
            text = text[: edit.start] + edit.new_text + text[edit.end :]
        return text

    def diff(self) -> str:
        chunks = []
        for file in sorted(self.edits):
            old, new = self.texts[file], self.new_text(file)
            chunks.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=_label("a", file),
                    tofile=_label("b", file),
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)

    @property
    def count(self) -> int:
        return sum(len(edits) for edits in self.edits.values())


def _label(side: str, file: str) -> str:
    """git-style diff labels for paths below the working directory, else the path itself."""
    path = report_path(file) or file
    return path if path.startswith("/") else f"{side}/{path}"


def pinned_reference(image: str, digest: str) -> str:
    """`image` as written, with `:latest` made explicit when it has no tag, then `@digest`."""
    last = image.rsplit("/", 1)[-1]
    return f"{image}{'' if ':' in last else ':latest'}@{digest}"


_BOMS = (
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8"),
)


def _read(file: str) -> tuple[str, tuple[bytes, str]]:
    """The text as `check` reads it (UTF-8, or UTF-16 with a byte order mark), and the byte
    order mark and codec to write it back with, so a pin changes nothing but the pins."""
    try:
        data = read_capped(file)
        text = decode_bytes(data, file)
    except InputError as exc:
        raise PinError(str(exc)) from None
    encoding = next(((bom, codec) for bom, codec in _BOMS if data.startswith(bom)), (b"", "utf-8"))
    return text, encoding


def _identity(file: str) -> tuple[str, int, int]:
    path = os.path.realpath(file)
    st = os.stat(path)
    return path, st.st_dev, st.st_ino


def _remember(plan: PinPlan, file: str) -> None:
    """Read `file` and where it points now, before the (possibly long) registry phase."""
    try:
        before = _identity(file)
    except OSError as exc:
        raise PinError(f"{file}: cannot read: {exc.strerror}") from None
    plan.texts[file], plan.encodings[file] = _read(file)
    plan.origins[file] = before


def _unchanged(plan: PinPlan, file: str) -> str | None:
    """Why `file` may no longer be written (it points elsewhere, or its text changed), or None."""
    origin = plan.origins.get(file)
    if origin is None:
        return None
    try:
        now = _identity(file)
        text = _read(file)[0]
    except (OSError, PinError):
        return "it can no longer be read"
    if now != origin:
        return f"it now points to {now[0]}" if now[0] != origin[0] else "it was replaced"
    if text != plan.texts[file]:
        return "its text changed"
    return None


def _scalars(text: str) -> dict[tuple[int, str], list[yaml.ScalarNode]]:
    """Every string scalar of every document, by (line, value)."""
    found: dict[tuple[int, str], list[yaml.ScalarNode]] = {}
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return found
    stack: list[yaml.Node] = [r for r in roots if r is not None]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            found.setdefault((node.start_mark.line + 1, node.value), []).append(node)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for _, v in node.value)
    return found


def _replacement(node: yaml.ScalarNode, pinned: str) -> str | None:
    if node.start_mark.line != node.end_mark.line:
        return None  # a value folded over several lines: leave it to a person
    if node.style is None:
        return pinned
    if node.style == "'":
        return "'" + pinned.replace("'", "''") + "'"
    if node.style == '"':
        return '"' + pinned + '"'
    return None  # block scalars (| and >)


def _reads_back(text: str, start: int, pinned: str) -> bool:
    return any(
        node.start_mark.index == start and node.value == pinned
        for nodes in _scalars(text).values()
        for node in nodes
    )


def plan_pins(paths: Sequence[str], options: CheckOptions, stdin: TextIO | None = None) -> PinPlan:
    """What to pin in `paths`; `-` (alone) pins the manifests read from `stdin`."""
    plan = PinPlan()
    if "-" in paths:
        if len(paths) > 1:
            raise PinError("pin - reads manifests from stdin alone: give - or paths, not both")
        plan.texts["-"] = read_stdin(stdin or sys.stdin)
        bundle = read_text(plan.texts["-"], "-")
    else:
        bundle = read_bundle(paths)
    parsed = parse_uses(bundle.uses)
    for use in bundle.uses:
        if use.file not in plan.texts:
            _remember(plan, use.file)
    refs: dict[ImageRef, bool] = {}
    for use in bundle.uses:
        ref = parsed.get(use.image)
        if isinstance(ref, ImageRef) and not ref.digest:
            refs[ref] = False
    resolutions = (
        resolve(refs, options, None, read_bytes=True) if refs and not options.offline else {}
    )

    scalars: dict[str, dict[tuple[int, str], list[yaml.ScalarNode]]] = {}
    for use in bundle.uses:
        ref = parsed.get(use.image) if not use.problem else None
        if not isinstance(ref, ImageRef):
            plan.refused.append((use, f"the reference does not parse: {use.problem or ref}"))
            continue
        if ref.digest:
            plan.pinned_already.append(use)
            continue
        res = resolutions.get(ref)
        if res is None or not res.ok or not res.digest:
            why = f"{res.problem.cause}: {res.problem.detail}" if res and res.problem else "offline"
            plan.refused.append((use, f"does not resolve ({why})"))
            continue
        if not res.digest_from_bytes or not is_digest(res.digest):
            plan.refused.append((use, "its digest was not computed from the manifest read"))
            continue
        if use.file not in scalars:
            scalars[use.file] = _scalars(plan.texts[use.file])
        nodes = scalars[use.file].get((use.line, use.image), [])
        pinned = pinned_reference(use.image, res.digest)
        new_text = _replacement(nodes[0], pinned) if len(nodes) == 1 else None
        if new_text is None:
            plan.refused.append((use, "its value cannot be located on one line of the file"))
            continue
        node = nodes[0]
        edit = Edit(use, node.start_mark.index, node.end_mark.index, new_text, pinned)
        if all(e.start != edit.start for e in plan.edits.get(use.file, [])):
            plan.edits.setdefault(use.file, []).append(edit)

    for file in list(plan.edits):
        text = plan.new_text(file)
        shift = 0
        for edit in sorted(plan.edits[file], key=lambda e: e.start):
            if not _reads_back(text, edit.start + shift, edit.pinned):
                plan.refused.extend(
                    (e.use, "the edited file would not read back") for e in plan.edits[file]
                )
                del plan.edits[file]
                break
            shift += len(edit.new_text) - (edit.end - edit.start)
    return plan


def write_pins(plan: PinPlan) -> list[str]:
    """Replace each edited file atomically, keeping its mode; returns the files written. A file
    reached through a symbolic link is edited where the link points, and the link is kept."""
    for file in sorted(plan.edits):  # all refused before any is written: no half-pinned tree
        _check_writable(file)
    written = []
    for file in sorted(plan.edits):  # all checked before any is written
        changed = _unchanged(plan, file)
        if changed:
            raise PinError(f"{file}: changed while pullgate ran ({changed}); nothing written")
    for file in sorted(plan.edits):
        path = Path(os.path.realpath(file))
        text = plan.new_text(file)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
            try:
                bom, codec = plan.encodings.get(file, (b"", "utf-8"))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(bom + text.encode(codec))
                os.chmod(tmp, path.stat().st_mode & 0o7777)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise PinError(f"{file}: cannot write: {exc.strerror}") from None
        written.append(file)
    return written


def _check_writable(file: str) -> None:
    """A read-only file is not edited: the rename that replaces it atomically would succeed in
    a writable directory, and override the owner's intent."""
    path = os.path.realpath(file)
    if not os.access(path, os.W_OK):
        raise PinError(f"{file}: cannot write: read-only file")
    if not os.access(os.path.dirname(path) or ".", os.W_OK | os.X_OK):
        raise PinError(f"{file}: cannot write: its directory is read-only")
