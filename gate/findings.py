"""Findings: what the checks hand to the reports. One finding per failing image use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gate.causes import CATALOG, Cause, Severity, fill
from gate.manifests import ImageUse, input_name


@dataclass(frozen=True)
class Finding:
    cause: str
    severity: Severity
    use: ImageUse
    resolved: str | None  # normalized reference, None when it does not parse
    signature: str  # the Events line the kubelet would show
    explanation: str  # the catalog's cause text, filled in
    fix: str
    evidence: str = ""  # the registry's (or manifest's) own words
    extra: Mapping[str, object] = field(default_factory=dict)  # e.g. digest, platforms

    @property
    def catalog(self) -> Cause:
        return CATALOG[self.cause]

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def make_finding(
    cause_id: str,
    use: ImageUse,
    resolved: str | None,
    flavor: str,
    context: Mapping[str, object],
    evidence: str = "",
    extra: Mapping[str, object] | None = None,
    severity: Severity | None = None,
) -> Finding:
    entry = CATALOG[cause_id]
    # Where the use is, so no fix says `<file>:<line>` when the value is known.
    context = {"file": input_name(use.file), "line": use.line, **context}
    return Finding(
        cause=cause_id,
        severity=severity or entry.severity,
        use=use,
        resolved=resolved,
        signature=entry.render_signature(context),
        explanation=fill(entry.explanation_template(flavor), context),
        fix=entry.render_fix(flavor, context),
        evidence=evidence,
        extra=dict(extra or {}),
    )
