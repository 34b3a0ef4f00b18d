"""`--format text`: the cause table for people, grouped by cause, one block per failing image."""

from __future__ import annotations

from collections import defaultdict

import click

from gate import __version__
from gate.causes import CATALOG, Severity
from gate.findings import Finding
from gate.runner import Outcome

_LABEL = 10


def _style(text: str, color: bool, **kw: object) -> str:
    return click.style(text, **kw) if color else text


def _use_line(finding: Finding) -> str:
    use = finding.use
    where = f"{use.file}:{use.line}"
    owner = f"{use.kind} {use.namespace + '/' if use.namespace else ''}{use.name}"
    kind = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}
    return f"{where}  {owner}  {kind.get(use.container_type, 'container')} {use.container}"


def _field(label: str, value: str) -> str:
    return f"    {label + ':':<{_LABEL}} {value}"


def _block(findings: list[Finding], color: bool) -> list[str]:
    first = findings[0]
    catalog = first.catalog
    mark = "x" if first.is_error else "!"
    title = first.use.image or "(no image)"
    if first.resolved and first.resolved != first.use.image:
        title += f"  ({first.resolved})"
    lines = [
        f"  {_style(mark, color, fg='red' if first.is_error else 'yellow')} "
        f"{_style(title, color, bold=True)}"
    ]
    lines.append(_field("Events", first.signature))
    lines.append(_field("Means", catalog.meaning))
    lines.append(_field("Cause", first.explanation))
    if first.evidence:
        lines.append(_field("Evidence", first.evidence))
    lines.append(_field("Fix", _style(first.fix, color, fg="green")))
    uses = sorted({_use_line(f) for f in findings})
    lines.append(_field("Used by", uses[0]))
    lines.extend(f"    {'':<{_LABEL}} {u}" for u in uses[1:])
    return lines


def cause_block(findings: list[Finding]) -> str:
    """The cause table block of one image, as `render` prints it, without colour."""
    return "\n".join(_block(findings, color=False))


def render(outcome: Outcome, color: bool = False, strict: bool = False) -> str:
    by_cause: dict[str, dict[tuple[str, str, str], list[Finding]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for f in outcome.findings:
        by_cause[f.cause][(f.resolved or f.use.image, f.signature, f.fix)].append(f)

    def is_error(cause_id: str) -> bool:
        return any(f.is_error for group in by_cause[cause_id].values() for f in group)

    order = sorted(by_cause, key=lambda c: (not is_error(c), c))
    files = len(outcome.bundle.files)
    lines = [
        f"pullgate {__version__}: {outcome.images} image uses ({outcome.unique} unique) "
        f"in {files} file{'s' if files != 1 else ''}",
        f"platforms: {outcome.platforms.describe()}",
        "",
    ]
    for cause_id in order:
        entry = CATALOG[cause_id]
        blocks = by_cause[cause_id]
        error = is_error(cause_id)
        severity = (Severity.ERROR if error else Severity.WARNING).value.upper()
        head = (
            f"{severity} {cause_id}: {entry.title} ({len(blocks)} image"
            f"{'s' if len(blocks) != 1 else ''})"
        )
        lines.append(_style(head, color, bold=True, fg="red" if error else "yellow"))
        if entry.status:
            lines.append(f"  pod status: {entry.status}")
        for group in blocks.values():
            lines.extend(_block(group, color))
            lines.append("")
    for item in outcome.suppressed:
        f = item.finding
        lines.append(
            f"ignored {f.cause}: {f.use.image} ({f.use.file}:{f.use.line}) by"
            f" {item.file or '.pullgate.yaml'}:{item.line}: {item.reason}"
        )
    for note in outcome.notes:
        where = f"{note.file}:{note.line}: " if note.file else ""
        lines.append(_style(f"note: {where}{note.message}", color, fg="yellow"))
    if outcome.suppressed or outcome.notes:
        lines.append("")
    verdict = "FAIL" if outcome.failed(strict) else "PASS"
    summary = (
        f"{verdict}: {outcome.errors} error{'s' if outcome.errors != 1 else ''}, "
        f"{outcome.warnings} warning{'s' if outcome.warnings != 1 else ''} in "
        f"{outcome.images} image uses ({outcome.unique} unique), "
        f"{outcome.requests} registry requests, {outcome.seconds:.1f}s"
    )
    lines.append(_style(summary, color, bold=True, fg="red" if verdict == "FAIL" else "green"))
    return "\n".join(lines) + "\n"
