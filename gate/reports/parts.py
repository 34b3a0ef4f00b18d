"""What every report format says the same way: paths, workload labels, the verdict, grouping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

from gate.causes import CATALOG, Severity
from gate.findings import Finding
from gate.manifests import ImageUse
from gate.runner import Outcome

CONTAINER_WORDS = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}


def report_path(file: str | None) -> str | None:
    """A manifest path as code hosts want it: '/'-separated, relative to the working directory
    when it lies below it; None for stdin."""
    if not file or file == "-":
        return None
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_posix()
    return PurePath(path).as_posix()


def place(file: str | None, line: int | None) -> str:
    """Where a value was read, as people read it: `FILE:LINE`, `stdin line N`."""
    if file == "-":
        return f"stdin line {line}" if line else "stdin"
    return f"{file}:{line}" if line else str(file)


def owner(use: ImageUse) -> str:
    namespace = f"{use.namespace}/" if use.namespace else ""
    return f"{use.kind} {namespace}{use.name}"


def container_of(use: ImageUse) -> str:
    return f"{CONTAINER_WORDS.get(use.container_type, 'container')} {use.container}"


def use_place(use: ImageUse) -> str:
    """One image use: where, which workload, which container."""
    return f"{place(use.file, use.line)}  {owner(use)}  {container_of(use)}"


def image_label(finding: Finding) -> str:
    return finding.use.image or finding.resolved or "(no image)"


def verdict(outcome: Outcome, strict: bool) -> str:
    return "FAIL" if outcome.failed(strict) else "PASS"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def counts(outcome: Outcome) -> str:
    text = (
        f"{_plural(outcome.errors, 'error')}, {_plural(outcome.warnings, 'warning')} in"
        f" {_plural(outcome.images, 'image use')} ({outcome.unique} unique)"
    )
    if outcome.suppressed:
        text += f", {len(outcome.suppressed)} ignored by policy"
    return text


def summary_line(outcome: Outcome, strict: bool) -> str:
    return f"pullgate: {verdict(outcome, strict)}: {counts(outcome)}"


def by_cause(findings: list[Finding]) -> dict[str, dict[str, list[Finding]]]:
    """cause id -> image -> findings, errors first, then by cause id."""
    groups: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in findings:
        groups[f.cause][f.resolved or image_label(f)].append(f)
    order = sorted(
        groups, key=lambda c: (not any(f.is_error for g in groups[c].values() for f in g), c)
    )
    return {c: dict(groups[c]) for c in order}


def severity_of(findings: list[Finding]) -> Severity:
    return Severity.ERROR if any(f.is_error for f in findings) else Severity.WARNING


@dataclass(frozen=True)
class CauseGroup:
    """The findings of one cause, as the CI log formats fold them."""

    cause: str
    images: int
    findings: list[Finding]

    @property
    def heading(self) -> str:
        level = severity_of(self.findings).value
        title = CATALOG[self.cause].title
        return f"pullgate {level} {self.cause}: {title} ({_plural(self.images, 'image')})"


def cause_groups(findings: list[Finding]) -> Iterator[CauseGroup]:
    for cause, images in by_cause(findings).items():
        yield CauseGroup(cause, len(images), [f for group in images.values() for f in group])


def headline(finding: Finding) -> str:
    """One sentence naming the image, the cause and the status the pod would show."""
    row = CATALOG[finding.cause]
    status = f" (the pod would show {row.status})" if row.status else ""
    return f"{image_label(finding)}: {row.title}{status}."


def message(finding: Finding) -> str:
    """The finding in a few lines: headline, Events line, cause, evidence, fix."""
    lines = [headline(finding), f"Events: {finding.signature}", f"Cause: {finding.explanation}"]
    if finding.evidence:
        lines.append(f"Registry said: {finding.evidence}")
    lines.append(f"Fix: {finding.fix}")
    lines.append(f"Used by: {owner(finding.use)}, {container_of(finding.use)}")
    return "\n".join(lines)
