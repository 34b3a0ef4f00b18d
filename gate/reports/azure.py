"""`--format azure`: Azure Pipelines logging commands.

One `##vso[task.logissue]` per finding with the manifest file and line (errors and warnings show
in the run summary and on the file), grouped per cause with `##[group]`; expired ignore rules as
warnings on the config file. A failing gate ends with `##vso[task.complete result=Failed;]`, a
run with warnings only with `result=SucceededWithIssues;`.
"""

from __future__ import annotations

from gate.reports.parts import cause_groups, counts, message, report_path, summary_line
from gate.runner import Outcome


def escape_data(text: str) -> str:
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace("]", "%5D").replace(";", "%3B")


def logissue(kind: str, text: str, **properties: object) -> str:
    props = "".join(
        f"{key}={escape_property(str(value))};"
        for key, value in {"type": kind, **properties}.items()
        if value
    )
    return f"##vso[task.logissue {props}]{escape_data(text)}"


def render(outcome: Outcome, strict: bool = False) -> str:
    lines: list[str] = []
    for group in cause_groups(outcome.findings):
        lines.append(f"##[group]{group.heading}")
        for f in group.findings:
            path = report_path(f.use.file)
            lines.append(
                logissue(
                    "error" if f.is_error or strict else "warning",
                    message(f),
                    sourcepath=path,
                    linenumber=f.use.line if path else None,
                    code=f.cause,
                )
            )
        lines.append("##[endgroup]")
    for note in outcome.notes:
        lines.append(
            logissue(
                "warning",
                f"pullgate policy: {note.message}",
                sourcepath=report_path(note.file),
                linenumber=note.line,
            )
        )
    for item in outcome.suppressed:
        f = item.finding
        lines.append(
            f"pullgate: ignored {f.cause} for {f.use.image} ({f.use.file}:{f.use.line}):"
            f" {item.reason}"
        )
    lines.append(summary_line(outcome, strict))
    tail = f"pullgate: {escape_data(counts(outcome))}"
    if outcome.failed(strict):
        lines.append(f"##vso[task.complete result=Failed;]{tail}")
    elif outcome.warnings:
        lines.append(f"##vso[task.complete result=SucceededWithIssues;]{tail}")
    return "\n".join(lines) + "\n"
