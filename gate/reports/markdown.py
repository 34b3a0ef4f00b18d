"""`--format markdown`: the cause table as Markdown, for `$GITHUB_STEP_SUMMARY` or a PR comment.

One table row per cause and image (its uses listed in the row), then per cause what the kubelet
would show and why, then the policy's notes and ignored findings. Rows are capped so a huge run
stays within the step summary's size limit; the JSON report always has everything.
"""

from __future__ import annotations

from gate import __version__
from gate.causes import CATALOG
from gate.findings import Finding
from gate.reports.parts import (
    _plural,
    by_cause,
    container_of,
    counts,
    owner,
    report_path,
    severity_of,
)
from gate.runner import Outcome

MAX_ROWS = 200
ICONS = {"error": "❌", "warning": "⚠️"}


def cell(text: object) -> str:
    """Text safe inside a table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def code(text: object) -> str:
    """A code span inside a table cell."""
    quoted = cell(text).replace("`", "'")
    return f"`{quoted}`"


def span(text: object) -> str:
    """A code span outside tables."""
    quoted = " ".join(str(text).split()).replace("`", "'")
    return f"`{quoted}`"


def prose(text: object) -> str:
    return " ".join(str(text).split())


def _where(finding: Finding, source_url: str | None) -> str:
    use = finding.use
    path = report_path(use.file)
    label = f"{path}:{use.line}" if path else "stdin"
    if path and source_url and not path.startswith("/"):
        label = f"[{cell(label)}]({source_url.rstrip('/')}/{path}#L{use.line})"
    else:
        label = code(label)
    return f"{label} {cell(owner(finding.use))}, {cell(container_of(finding.use))}"


def render(outcome: Outcome, strict: bool = False, source_url: str | None = None) -> str:
    failed = outcome.failed(strict)
    icon = "❌" if failed else ("⚠️" if outcome.warnings else "✅")
    lines = [f"## {icon} pullgate: {'FAIL' if failed else 'PASS'}", ""]
    files = len(outcome.bundle.files)
    lines.append(
        f"{counts(outcome)} · {_plural(files, 'file')} ·"
        f" {outcome.requests} registry requests · {outcome.seconds:.1f} s · pullgate {__version__}"
    )
    lines += ["", f"Platforms: {cell(outcome.platforms.describe())}", ""]
    groups = by_cause(outcome.findings)
    if not groups:
        lines.append("Every image will pull.")
    else:
        lines += ["| | Cause | Image | Where | Fix |", "| --- | --- | --- | --- | --- |"]
        rows = [(c, image, fs) for c, images in groups.items() for image, fs in images.items()]
        for cause_id, image, findings in rows[:MAX_ROWS]:
            level = severity_of(findings).value
            first = findings[0]
            where = "<br>".join(_where(f, source_url) for f in findings)
            lines.append(
                f"| {ICONS[level]} {level} | **{cause_id}**<br>{cell(CATALOG[cause_id].title)}"
                f" | {code(image)} | {where} | {cell(first.fix)} |"
            )
        if len(rows) > MAX_ROWS:
            lines.append("")
            lines.append(
                f"…and {len(rows) - MAX_ROWS} more; the job log and the JSON report have them all."
            )
        lines += ["", "<details><summary>What the kubelet would show, and why</summary>", ""]
        for cause_id, images in groups.items():
            row = CATALOG[cause_id]
            status = f" (pod status {span(row.status)})" if row.status else ""
            lines += [f"#### {cause_id}: {prose(row.title)}{status}", "", prose(row.meaning), ""]
            for image, findings in images.items():
                f = findings[0]
                detail = (
                    f"- {span(image)}: Events: {span(f.signature)}. Cause: {prose(f.explanation)}"
                )
                if f.evidence:
                    detail += f" Registry said: {span(f.evidence)}"
                lines.append(detail)
            lines.append("")
        lines.append("</details>")
    if outcome.notes:
        lines += ["", "**Policy notes**", ""]
        for note in outcome.notes:
            where = f"{span(f'{note.file}:{note.line}')} " if note.file else ""
            lines.append(f"- ⚠️ {where}{prose(note.message)}")
    if outcome.suppressed:
        lines += ["", f"**Ignored by policy** ({len(outcome.suppressed)})", ""]
        for item in outcome.suppressed:
            f = item.finding
            rule = f"{item.file or '.pullgate.yaml'}:{item.line}"
            lines.append(
                f"- {span(f.cause)} {span(f.use.image)} ({prose(owner(f.use))}):"
                f" {prose(item.reason)} (rule {span(rule)})"
            )
    return "\n".join(lines) + "\n"
