"""`--format json`: the machine-readable report. Schema in README ("JSON report")."""

from __future__ import annotations

import json

from gate import __version__
from gate.findings import Finding
from gate.runner import Outcome


def finding_dict(finding: Finding) -> dict:
    use = finding.use
    return {
        "cause": finding.cause,
        "severity": finding.severity.value,
        "image": use.image,
        "resolved": finding.resolved,
        "kind": use.kind,
        "namespace": use.namespace,
        "name": use.name,
        "container": use.container,
        "file": use.file,
        "line": use.line,
        "signature": finding.signature,
        "evidence": finding.evidence,
        "fix": finding.fix,
    }


def document(outcome: Outcome, strict: bool = False) -> dict:
    return {
        "pullgate": __version__,
        "result": "fail" if outcome.failed(strict) else "pass",
        "summary": {
            "images": outcome.images,
            "unique": outcome.unique,
            "errors": outcome.errors,
            "warnings": outcome.warnings,
        },
        "platforms": {
            "source": outcome.platforms.source,
            "from": outcome.platforms.where or None,
            "values": list(outcome.platforms.platforms),
        },
        "findings": [finding_dict(f) for f in outcome.findings],
        "ignored": [
            finding_dict(item.finding)
            | {"reason": item.reason, "rule": f"{item.file or '.pullgate.yaml'}:{item.line}"}
            for item in outcome.suppressed
        ],
        "notes": [
            {"message": note.message, "file": note.file, "line": note.line}
            for note in outcome.notes
        ],
    }


def render(outcome: Outcome, strict: bool = False) -> str:
    return json.dumps(document(outcome, strict), indent=2) + "\n"
