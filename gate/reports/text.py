"""`--format text`: the cause table for people, grouped by cause, one block per failing image."""

from __future__ import annotations

from collections import defaultdict

import click

from gate import __version__
from gate.causes import CATALOG, Severity
from gate.findings import Finding
from gate.manifests import input_name
from gate.reports.parts import _plural, place, use_place
from gate.reports.safe import clean
from gate.runner import Outcome

_LABEL = 10


def _style(text: str, color: bool, **kw: object) -> str:
    return click.style(text, **kw) if color else text


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
    uses = sorted({use_place(f.use) for f in findings})
    lines.append(_field("Used by", uses[0]))
    lines.extend(f"    {'':<{_LABEL}} {u}" for u in uses[1:])
    return lines


def cause_block(findings: list[Finding]) -> str:
    """The cause table block of one image, as `render` prints it, without colour."""
    return "\n".join(_block(findings, color=False))


def _common(values: list[str]) -> str | None:
    return values[0] if len(set(values)) == 1 else None


def _found(finding: Finding, common_cause: str | None) -> str:
    """What was found for this use, beyond the cause row printed once."""
    parts = [] if common_cause is not None else [finding.explanation]
    if finding.evidence:
        parts.append(f"registry said: {finding.evidence}" if not common_cause else finding.evidence)
    return " ".join(parts)


def _cause_section(cause_id: str, findings: list[Finding], color: bool) -> list[str]:
    """One cause: its row once (Events, Means, Cause), then one line per use, the fix once for
    the uses it is the same for."""
    entry = CATALOG[cause_id]
    error = any(f.is_error for f in findings)
    images = len({f.resolved or f.use.image for f in findings})
    severity = (Severity.ERROR if error else Severity.WARNING).value.upper()
    head = f"{severity} {cause_id}: {entry.title} ({_plural(images, 'image')}"
    head += f", {_plural(len(findings), 'use')})" if len(findings) != images else ")"
    lines = [_style(head, color, bold=True, fg="red" if error else "yellow")]
    if entry.status:
        lines.append(f"  pod status: {entry.status}")
    signature = _common([f.signature for f in findings]) or f"e.g. {findings[0].signature}"
    common_cause = _common([f.explanation for f in findings])
    lines.append(_field("Events", signature))
    lines.append(_field("Means", entry.meaning))
    lines.append(_field("Cause", common_cause or f"e.g. {findings[0].explanation}"))
    by_fix: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted(findings, key=lambda f: (f.use.file, f.use.line, f.use.image)):
        by_fix[_fix_key(f)].append(f)
    for key, group in by_fix.items():
        for f in group:
            mark = _style("x" if f.is_error else "!", color, fg="red" if f.is_error else "yellow")
            found = _found(f, common_cause)
            image = _style(f.use.image or "(no image)", color, bold=True)
            lines.append(f"  {mark} {use_place(f.use)}  {image}" + (f": {found}" if found else ""))
        fix = group[0].fix if len(group) == 1 else key.replace(_HERE, "each file:line above")
        lines.append(_field("Fix", _style(fix, color, fg="green")))
    return lines


_HERE = "\x00"


def _fix_key(finding: Finding) -> str:
    """The fix with the use's own file:line taken out, so uses whose fix differs only there
    share one Fix line."""
    use = finding.use
    return finding.fix.replace(f"{input_name(use.file)}:{use.line}", _HERE)


def _passed(outcome: Outcome) -> list[str]:
    failing = {f.use for f in outcome.findings} | {s.finding.use for s in outcome.suppressed}
    passed = [u for u in outcome.bundle.uses if u not in failing]
    if not passed:
        return []
    lines = [f"PASSED ({_plural(len(passed), 'image use')})"]
    lines.extend(f"  ok {clean(use_place(u))}  {clean(u.image)}" for u in passed)
    return [*lines, ""]


def render(
    outcome: Outcome, color: bool = False, strict: bool = False, verbose: bool = False
) -> str:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in outcome.findings:
        groups[f.cause].append(f)
    order = sorted(groups, key=lambda c: (not any(f.is_error for f in groups[c]), c))
    files = len(outcome.bundle.files)
    lines = [
        f"pullgate {__version__}: {_plural(outcome.images, 'image use')} ({outcome.unique} unique)"
        f" in {_plural(files, 'file')}",
        f"platforms: {outcome.platforms.describe()}",
        "",
    ]
    for cause_id in order:
        lines.extend(_cause_section(cause_id, groups[cause_id], color))
        lines.append("")
    if verbose:
        lines.extend(_passed(outcome))
    for item in outcome.suppressed:
        f = item.finding
        lines.append(
            f"ignored {f.cause}: {f.use.image} ({place(f.use.file, f.use.line)}) by"
            f" {item.file or '.pullgate.yaml'}:{item.line}: {item.reason}"
        )
    for note in outcome.notes:
        where = f"{place(note.file, note.line)}: " if note.file else ""
        lines.append(_style(f"note: {where}{note.message}", color, fg="yellow"))
    if outcome.suppressed or outcome.notes:
        lines.append("")
    verdict = "FAIL" if outcome.failed(strict) else "PASS"
    summary = (
        f"{verdict}: {_plural(outcome.errors, 'error')}, {_plural(outcome.warnings, 'warning')}"
        f" in {_plural(outcome.images, 'image use')} ({outcome.unique} unique),"
        f" {_plural(outcome.requests, 'registry request')}, {outcome.seconds:.1f}s"
    )
    lines.append(_style(summary, color, bold=True, fg="red" if verdict == "FAIL" else "green"))
    return "\n".join(lines) + "\n"
