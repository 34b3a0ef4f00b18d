"""`--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One rule per cause id of the catalog (its meaning, usual cause, Events line and fixes as help),
one result per failing image use with the manifest file and line of the `image:` value, findings
an ignore rule moved aside as suppressed results with the rule's reason, and policy notes as tool
configuration notifications. A clean run still has a `results` array (empty).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import quote

from gate import __version__
from gate.causes import CATALOG, Cause, fill
from gate.findings import Finding
from gate.reports.parts import container_of, headline, owner
from gate.runner import Outcome

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "pullgateFinding/v1"
SRCROOT = "%SRCROOT%"


def _rule_name(cause_id: str) -> str:
    return "".join(part.capitalize() for part in cause_id.split("-"))


def _help(row: Cause) -> dict[str, str]:
    fields: list[tuple[str, str]] = []
    cause = fill(row.cause, {})
    if not (cause.startswith("<") and cause.endswith(">")):
        fields.append(("Usual cause", cause))
    if row.status:
        fields.append(("Pod status", row.status))
    fields.append(("Events", fill(row.signature, {})))
    for flavor, template in sorted(row.fixes.items(), key=lambda kv: kv[0] != "default"):
        fields.append(("Fix" if flavor == "default" else f"Fix ({flavor})", fill(template, {})))
    text = "\n".join([row.meaning, "", *(f"{label}: {value}" for label, value in fields)])
    markdown = "\n".join(
        [row.meaning, "", *(f"- **{label}:** `{value}`" for label, value in fields)]
    )
    return {"text": text, "markdown": markdown}


def rule(row: Cause) -> dict:
    return {
        "id": row.id,
        "name": _rule_name(row.id),
        "shortDescription": {"text": row.title},
        "fullDescription": {"text": row.meaning},
        "help": _help(row),
        "defaultConfiguration": {"level": row.severity.value},
        "properties": {"tags": ["kubernetes", "container-image", row.id]},
    }


def source_root() -> Path:
    """The repository root that SARIF URIs are relative to (%SRCROOT%): $GITHUB_WORKSPACE on
    GitHub Actions, $BUILD_SOURCESDIRECTORY on Azure Pipelines, else the git work tree around
    the working directory, else the working directory."""
    for key in ("GITHUB_WORKSPACE", "BUILD_SOURCESDIRECTORY"):
        if os.environ.get(key):
            return Path(os.environ[key]).resolve()
    cwd = Path.cwd().resolve()
    return next((d for d in (cwd, *cwd.parents) if (d / ".git").exists()), cwd)


def _artifact(file: str | None, root: Path) -> dict | None:
    """A file as code scanning wants it: relative to the repository root with uriBaseId
    %SRCROOT%; a file outside the repository as an absolute file: URI."""
    if not file or file == "-":
        return None
    path = Path(os.path.abspath(file))
    try:
        relative = path.relative_to(root)
    except ValueError:
        return {"uri": path.as_uri()}
    return {"uri": quote(relative.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def _fingerprint(finding: Finding) -> str:
    use = finding.use
    key = "|".join(
        str(x) for x in (finding.cause, use.image, use.kind, use.namespace, use.name, use.container)
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _location(finding: Finding, root: Path) -> dict:
    use = finding.use
    location: dict = {
        "logicalLocations": [
            {
                "name": use.container or "",
                "fullyQualifiedName": f"{owner(use)}/{use.container}",
                "kind": "resource",
            }
        ]
    }
    artifact = _artifact(use.file, root)
    if artifact:
        physical: dict = {"artifactLocation": artifact}
        if isinstance(use.line, int) and use.line >= 1:
            physical["region"] = {"startLine": use.line}
        location["physicalLocation"] = physical
    return location


def result(finding: Finding, index: dict[str, int], root: Path) -> dict:
    use = finding.use
    text = f"{headline(finding)} {finding.explanation} Fix: {finding.fix}"
    return {
        "ruleId": finding.cause,
        "ruleIndex": index[finding.cause],
        "level": finding.severity.value,
        "message": {"text": text},
        "locations": [_location(finding, root)],
        "partialFingerprints": {FINGERPRINT: _fingerprint(finding)},
        "properties": {
            "image": use.image,
            "resolved": finding.resolved,
            "workload": owner(use),
            "container": container_of(use),
            "signature": finding.signature,
            "evidence": finding.evidence,
            "fix": finding.fix,
        },
    }


def document(outcome: Outcome, strict: bool = False) -> dict:
    rows = list(CATALOG.values())
    index = {row.id: i for i, row in enumerate(rows)}
    root = source_root()
    results = [result(f, index, root) for f in outcome.findings]
    for item in outcome.suppressed:
        suppressed = result(item.finding, index, root)
        justification = f"{item.reason} ({item.file or '.pullgate.yaml'}:{item.line})"
        suppressed["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": justification}
        ]
        results.append(suppressed)
    notifications = []
    for note in outcome.notes:
        notification: dict = {"level": "warning", "message": {"text": note.message}}
        artifact = _artifact(note.file, root)
        if artifact:
            physical: dict = {"artifactLocation": artifact}
            if note.line:
                physical["region"] = {"startLine": note.line}
            notification["locations"] = [{"physicalLocation": physical}]
        notifications.append(notification)
    invocation: dict = {"executionSuccessful": True}
    if notifications:
        invocation["toolConfigurationNotifications"] = notifications
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "pullgate",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [rule(row) for row in rows],
                    }
                },
                "invocations": [invocation],
                "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": {"result": "fail" if outcome.failed(strict) else "pass"},
            }
        ],
    }


def render(outcome: Outcome, strict: bool = False) -> str:
    return json.dumps(document(outcome, strict), indent=2) + "\n"
