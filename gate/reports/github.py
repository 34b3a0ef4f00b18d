"""`--format github`: GitHub Actions workflow commands.

One `::error` / `::warning` annotation per finding with the manifest file and the line of its
`image:` value (so it shows on the changed line of a pull request), grouped per cause with
`::group::`; expired ignore rules as warnings on the config file; a last plain summary line.
GitHub shows at most 10 error and 10 warning annotations per step in the UI; all are in the log.
"""

from __future__ import annotations

from gate.reports.parts import cause_groups, image_label, message, report_path, summary_line
from gate.runner import Outcome


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, text: str, **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(text)}"


def render(outcome: Outcome, strict: bool = False) -> str:
    lines: list[str] = []
    for group in cause_groups(outcome.findings):
        lines.append(f"::group::{group.heading}")
        for f in group.findings:
            name = "error" if f.is_error or strict else "warning"
            path = report_path(f.use.file)
            lines.append(
                command(
                    name,
                    message(f),
                    file=path,
                    line=f.use.line if path else None,
                    title=f"pullgate {f.cause}: {image_label(f)}",
                )
            )
        lines.append("::endgroup::")
    for note in outcome.notes:
        lines.append(
            command(
                "warning",
                note.message,
                file=report_path(note.file),
                line=note.line,
                title="pullgate policy",
            )
        )
    for item in outcome.suppressed:
        f = item.finding
        lines.append(
            command(
                "notice",
                f"ignored by policy: {item.reason}",
                file=report_path(f.use.file),
                line=f.use.line if report_path(f.use.file) else None,
                title=f"pullgate {f.cause} (ignored): {image_label(f)}",
            )
        )
    lines.append(summary_line(outcome, strict))
    return "\n".join(lines) + "\n"
